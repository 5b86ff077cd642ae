"""Tiny client for the sim's control API (stdlib only, usable from any test)."""
import json
import time
import urllib.error
import urllib.parse
import urllib.request


class SimClient:
    def __init__(self, base_url):
        self.base_url = base_url.rstrip("/")

    def _call(self, method, path, doc=None):
        data = None if doc is None else json.dumps(doc).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read().decode() or "null")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"sim {method} {path}: {e.code} {e.read().decode()}") from None

    # state
    def state(self):
        return self._call("GET", "/_sim/state")

    def seed(self, doc):
        return self._call("POST", "/_sim/seed", doc)

    def reset(self, empty=False):
        return self._call("POST", "/_sim/reset", {"empty": empty})

    def delays(self, **delays):
        return self._call("POST", "/_sim/delays", delays)

    def options(self, **opts):
        return self._call("POST", "/_sim/options", opts)

    # faults
    def fault(self, service, kind, action=None, count=None, seconds=None, **extra):
        doc = {"service": service, "kind": kind, **extra}
        for k, v in (("action", action), ("count", count), ("seconds", seconds)):
            if v is not None:
                doc[k] = v
        return self._call("POST", "/_sim/faults", doc)

    faults = fault

    def clear_faults(self):
        return self._call("DELETE", "/_sim/faults")

    # resources
    def instance(self, iid):
        return self._call("GET", f"/_sim/instances/{iid}")

    def set_instance(self, iid, **fields):
        return self._call("POST", f"/_sim/instances/{iid}", fields)

    def set_instance_state(self, iid, state):
        return self._call("POST", f"/_sim/instances/{iid}", {"state": state})

    def group_terminates(self, iid):
        """The Auto Scaling group terminates iid: its termination hooks hold it (lifecycle.py)."""
        return self._call("POST", f"/_sim/lifecycle/{iid}", {"terminate": True})

    def lifecycle_actions(self, iid):
        """iid's pending lifecycle actions."""
        return self._call("GET", f"/_sim/lifecycle/{iid}")["actions"]

    def volume(self, vid):
        return self._call("GET", f"/_sim/volumes/{vid}")

    def set_volume(self, vid, **fields):
        return self._call("POST", f"/_sim/volumes/{vid}", fields)

    def set_console(self, iid, output):
        return self._call("POST", f"/_sim/console/{iid}", {"output": output})

    # IAM policies (sim/iam.py): enforced only once installed
    def set_policy(self, policy, role=None, key=None):
        """Install policy (a dict) for a role or an access key; None removes it."""
        path = f"/_sim/policies/role/{role}" if role else f"/_sim/policies/key/{key}"
        if policy is None:
            return self._call("DELETE", path)
        return self._call("POST", path, policy)

    # request log
    def requests(self, service=None, action=None, since=0):
        q = {k: v for k, v in (("service", service), ("action", action), ("since", since)) if v}
        path = "/_sim/requests" + ("?" + urllib.parse.urlencode(q) if q else "")
        return self._call("GET", path)["requests"]

    def clear_requests(self):
        return self._call("DELETE", "/_sim/requests")

    def wait_for(self, pred, timeout=10.0, interval=0.05):
        """Poll state() until pred(state) is truthy; returns that value."""
        end = time.time() + timeout
        while True:
            v = pred(self.state())
            if v or time.time() > end:
                if not v:
                    raise TimeoutError("sim state never satisfied the condition")
                return v
            time.sleep(interval)
