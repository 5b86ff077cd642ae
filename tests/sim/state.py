"""All simulated state, the seed format, timed transitions, faults and the request log.

One RLock guards everything; a ticker thread applies timed transitions so that
attach hooks fire on time even when nobody polls.
"""
import base64
import copy
import fnmatch
import heapq
import itertools
import json
import os
import secrets
import string
import subprocess
import threading
import time
import uuid

from . import ec2_network, iam

STATIC_CREDS = {"access_key": "AKIDEXAMPLE",
                "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

DEFAULT_DELAYS = {
    "attach": 0.5,            # attaching -> attached
    "detach": 0.5,            # detaching -> detached
    "force_detach": 0.2,      # Force=true detach
    "stop": 1.0,              # stopping -> stopped
    "stop_force": 0.5,        # StopInstances Force=true
    "terminate": 1.0,         # shutting-down -> terminated
    "terminate_detach": 1.0,  # instance killed -> its volumes start detaching
    "pending": 0.5,           # pending -> running
    "create_volume": 0.5,     # creating -> available
    "snapshot": 1.0,          # snapshot pending -> completed (progress on the way)
    "snapshot_rate": 15.0,    # least time between two CreateSnapshot of one volume
    "route53_insync": 1.0,    # change PENDING -> INSYNC
    "credential_ttl": 21600.0,  # IMDS role credentials lifetime
    "credential_rotate": None,  # age at which IMDS hands out new keys (None: ttl-300, or ttl*2/3 if short)
    "network": 0.0,           # a moved address or route reaches the network (ec2_network.py)
}

SEED_KEYS = {"account_id", "region", "imds_instance", "instances", "volumes", "snapshots",
             "zones", "topics", "asgs", "credentials", "roles", "attach_hook", "console",
             "delays", "faults", "options"} | ec2_network.SEED_KEYS
INSTANCE_KEYS = {"az", "state", "private_ip", "public_ip", "mac", "instance_type", "ami", "tags",
                 "iam_role", "user_data", "user_data_b64", "imdsv1", "spot_action",
                 "rebalance_notice", "target_lifecycle_state", "asg", "launch_time", "hostname",
                 "subnet_id", "vpc_id", "stop_hangs", "metadata"}
VOLUME_KEYS = {"az", "size", "type", "iops", "state", "tags", "multi_attach", "encrypted",
               "snapshot_id", "backing", "hook", "attachments", "stuck_detaching", "create_time",
               "kms_key_id", "throughput"}
SNAPSHOT_KEYS = {"volume_id", "state", "size", "start_time", "description", "owner_id", "tags",
                 "backing", "progress", "encrypted", "kms_key_id", "delete_requested"}
ZONE_KEYS = {"name", "comment", "private", "records", "caller_reference"}
FAULT_KEYS = {"service", "action", "kind", "count", "seconds", "delay", "status", "code",
              "message", "instance", "mode"}
OPTION_KEYS = {"max_clock_skew", "route53_error_form", "snapshot_dir"}
FAULT_KINDS = {"throttle", "5xx", "slow", "lag", "drop", "error", "unreachable", "429"}


def _alnum(n, alphabet=string.ascii_uppercase + string.digits):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def fqdn(name):
    """Route53 names: lower case, trailing dot."""
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


def _keyed(items, what):
    """Seeds give resources as {id: {...}} or [{"id": ..., ...}]."""
    if isinstance(items, dict):
        return items
    out = {}
    for it in items:
        it = dict(it)
        if "id" not in it:
            raise ValueError(f"{what} entry without id: {it}")
        out[it.pop("id")] = it
    return out


def _check_keys(d, allowed, what):
    unknown = set(d) - allowed
    if unknown:
        raise ValueError(f"unknown {what} keys: {sorted(unknown)}")


class State:
    def __init__(self, log=None):
        self.lock = threading.RLock()
        self.log = log or (lambda entry: None)
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._ticker = None
        self.initial_seed = None
        self._clear()

    # ---------------------------------------------------------------- seed
    def _clear(self):
        self.account_id = "123456789012"
        self.region = "us-west-2"
        self.imds_instance = None
        self.instances = {}
        self.volumes = {}
        self.snapshots = {}
        self.zones = {}
        self.changes = {}
        self.topics = set()
        self.asgs = {}
        self.credentials = {STATIC_CREDS["access_key"]: dict(STATIC_CREDS, deny=[])}
        self.roles = {}
        self.role_creds = {}          # (instance, role) -> current issued creds
        self.attach_hook = None
        self.console = {}
        self.delays = dict(DEFAULT_DELAYS)
        self.options = {"max_clock_skew": None, "route53_error_form": "errorresponse",
                        "snapshot_dir": None}
        self.snapshot_last = {}       # volume id -> time of its last CreateSnapshot
        self.snapshot_tmp = getattr(self, "snapshot_tmp", None)
        self.faults = []
        self.requests = []
        self.hook_log = []
        self.sns_messages = []
        self.metrics = []
        self.asg_health = []
        self.lifecycle_actions = []
        self.imds_tokens = {}
        self._timers = []
        self._prev_ec2 = None
        self.last_request_id = 0
        ec2_network.clear(self)

    def reset(self, empty=False):
        with self.lock:
            self._clear()
            if self.initial_seed and not empty:
                self.seed(self.initial_seed)

    def seed(self, d):
        """Merge a seed document into the state (see README.md for the format)."""
        with self.lock:
            _check_keys(d, SEED_KEYS, "seed")
            self.mark_ec2()
            for k in ("account_id", "region", "imds_instance", "attach_hook"):
                if k in d:
                    setattr(self, k, d[k])
            if "options" in d:
                _check_keys(d["options"], OPTION_KEYS, "options")
                self.options.update(d["options"])
            if "delays" in d:
                self.set_delays(d["delays"])
            for iid, spec in _keyed(d.get("instances", {}), "instance").items():
                self._seed_instance(iid, spec)
            for sid, spec in _keyed(d.get("snapshots", {}), "snapshot").items():
                self._seed_snapshot(sid, spec)
            for vid, spec in _keyed(d.get("volumes", {}), "volume").items():
                self._seed_volume(vid, spec)
            ec2_network.sync(self)
            ec2_network.seed(self, d)
            for zid, spec in _keyed(d.get("zones", {}), "zone").items():
                self._seed_zone(zid, spec)
            topics = d.get("topics", [])
            self.topics.update(topics if isinstance(topics, list) else topics.keys())
            for name, spec in d.get("asgs", {}).items():
                self._seed_asg(name, spec)
            for c in d.get("credentials", []):
                _check_keys(c, {"access_key", "secret_key", "session_token", "expiration", "deny",
                                "policy"}, "credentials")
                cred = {"deny": [], **c}
                if c.get("policy") is not None:
                    cred["policy"] = iam.check_policy(c["policy"])
                if isinstance(cred.get("expiration"), str):
                    cred["expiration"] = _parse_time(cred["expiration"])
                self.credentials[c["access_key"]] = cred
            for name, spec in d.get("roles", {}).items():
                _check_keys(spec, {"deny", "policy"}, "role")
                spec = dict(spec)
                if spec.get("policy") is not None:
                    spec["policy"] = iam.check_policy(spec["policy"])
                self.roles.setdefault(name, {"deny": []}).update(spec)
            for iid, text in d.get("console", {}).items():
                self.set_console(iid, text)
            for f in d.get("faults", []):
                self.add_fault(f)

    def _seed_instance(self, iid, spec):
        _check_keys(spec, INSTANCE_KEYS, f"instance {iid}")
        inst = self.instances.get(iid)
        if inst is None:
            n = len(self.instances) + 10
            inst = {
                "id": iid, "az": self.region + "a", "state": "running",
                "private_ip": f"10.0.0.{n}", "public_ip": None,
                "mac": "0e:%02x:%02x:%02x:%02x:%02x" % tuple(secrets.randbelow(256) for _ in range(5)),
                "instance_type": "m5.large", "ami": "ami-0abcdef1234567890", "tags": {},
                "iam_role": None, "user_data": None, "imdsv1": False, "spot_action": None,
                "rebalance_notice": None,
                "target_lifecycle_state": "InService", "asg": None,
                "launch_time": time.time(), "hostname": None,
                "subnet_id": "subnet-0123456789abcdef0", "vpc_id": "vpc-0123456789abcdef0",
                "stop_hangs": False, "metadata": {}, "state_reason": None,
                "reservation_id": "r-" + _alnum(17, "0123456789abcdef"),
            }
            self.instances[iid] = inst
        spec = dict(spec)
        if "user_data_b64" in spec:
            spec["user_data"] = base64.b64decode(spec.pop("user_data_b64"))
        elif isinstance(spec.get("user_data"), str):
            spec["user_data"] = spec["user_data"].encode()
        if isinstance(spec.get("launch_time"), str):
            spec["launch_time"] = _parse_time(spec["launch_time"])
        if spec.get("asg"):
            self.asgs.setdefault(spec["asg"], {"instances": [], "hooks": {}, "min": 1, "max": 1})
            if iid not in self.asgs[spec["asg"]]["instances"]:
                self.asgs[spec["asg"]]["instances"].append(iid)
        inst.update(spec)
        if inst["asg"]:  # Auto Scaling tags its instances (aws: keys: nobody else can)
            inst["tags"] = {**inst["tags"], "aws:autoscaling:groupName": inst["asg"]}

    def _seed_volume(self, vid, spec):
        _check_keys(spec, VOLUME_KEYS, f"volume {vid}")
        vol = self.volumes.get(vid)
        if vol is None:
            vol = {"id": vid, "az": self.region + "a", "size": 100, "type": "gp2", "iops": None,
                   "state": "available", "tags": {}, "multi_attach": False, "encrypted": False,
                   "snapshot_id": "", "backing": None, "hook": None, "attachments": [],
                   "stuck_detaching": False, "create_time": time.time()}
            self.volumes[vid] = vol
        spec = dict(spec)
        atts = spec.pop("attachments", None)
        if isinstance(spec.get("create_time"), str):
            spec["create_time"] = _parse_time(spec["create_time"])
        vol.update(spec)
        if atts is not None:
            vol["attachments"] = []
            for a in atts:
                _check_keys(a, {"instance", "device", "state", "delete_on_termination", "attach_time"},
                            f"volume {vid} attachment")
                vol["attachments"].append({
                    "instance": a["instance"], "device": a.get("device", "/dev/sdf"),
                    "state": a.get("state", "attached"), "gen": next(self._seq),
                    "attach_time": _parse_time(a["attach_time"]) if "attach_time" in a else time.time(),
                    "delete_on_termination": a.get("delete_on_termination", False)})
            if vol["attachments"] and vol["state"] == "available":
                vol["state"] = "in-use"

    def _seed_snapshot(self, sid, spec):
        _check_keys(spec, SNAPSHOT_KEYS, f"snapshot {sid}")
        snap = self.snapshots.setdefault(sid, {
            "id": sid, "volume_id": "", "state": "completed", "size": 100,
            "start_time": time.time(), "description": "", "owner_id": self.account_id,
            "tags": {}, "backing": None, "progress": "100%", "encrypted": False,
            "kms_key_id": None, "delete_requested": False})
        spec = dict(spec)
        if isinstance(spec.get("start_time"), str):
            spec["start_time"] = _parse_time(spec["start_time"])
        snap.update(spec)

    def _seed_zone(self, zid, spec):
        _check_keys(spec, ZONE_KEYS, f"zone {zid}")
        zid = zid.split("/")[-1]
        zone = self.zones.get(zid)
        if zone is None:
            name = fqdn(spec["name"])
            zone = {"id": zid, "name": name, "comment": "", "private": False,
                    "caller_reference": str(uuid.uuid4()), "records": []}
            # Route53 creates the apex SOA and NS records with every zone.
            ns = [f"ns-{i}.awsdns-{i:02d}.{tld}." for i, tld in
                  ((1, "com"), (2, "net"), (3, "org"), (4, "co.uk"))]
            zone["records"] = [
                {"name": name, "type": "NS", "ttl": 172800, "values": ns},
                {"name": name, "type": "SOA", "ttl": 900, "values": [
                    f"{ns[0]} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"]},
            ]
            self.zones[zid] = zone
        for k in ("comment", "private", "caller_reference"):
            if k in spec:
                zone[k] = spec[k]
        for r in spec.get("records", []):
            _check_keys(r, {"name", "type", "ttl", "values", "set_identifier", "weight", "alias_target"},
                        f"zone {zid} record")
            rec = {"name": fqdn(r["name"]), "type": r["type"].upper(), "ttl": r.get("ttl", 300),
                   "values": list(r.get("values", []))}
            for k in ("set_identifier", "weight", "alias_target"):
                if k in r:
                    rec[k] = r[k]
            zone["records"] = [x for x in zone["records"] if not (
                x["name"] == rec["name"] and x["type"] == rec["type"]
                and x.get("set_identifier") == rec.get("set_identifier"))]
            zone["records"].append(rec)

    def _seed_asg(self, name, spec):
        _check_keys(spec, {"instances", "hooks", "min", "max", "health_check_grace_period"},
                    f"asg {name}")
        asg = self.asgs.setdefault(name, {"instances": [], "hooks": {}, "min": 1, "max": 1,
                                          "health_check_grace_period": 0})
        for iid in spec.get("instances", []):
            if iid not in asg["instances"]:
                asg["instances"].append(iid)
            if iid in self.instances:
                self.instances[iid]["asg"] = name
                self.instances[iid]["tags"] = {**self.instances[iid]["tags"],
                                               "aws:autoscaling:groupName": name}
        hooks = spec.get("hooks", {})
        if isinstance(hooks, list):
            hooks = {h: {} for h in hooks}
        asg["hooks"].update(hooks)
        for k in ("min", "max", "health_check_grace_period"):
            if k in spec:
                asg[k] = spec[k]

    def set_delays(self, d):
        with self.lock:
            unknown = set(d) - set(DEFAULT_DELAYS)
            if unknown:
                raise ValueError(f"unknown delays: {sorted(unknown)}")
            self.delays.update(d)

    def set_console(self, iid, text=None, b64=None):
        with self.lock:
            if b64 is None:
                b64 = base64.b64encode((text or "").encode()).decode()
            self.console[iid] = {"output": b64, "time": time.time()}

    # -------------------------------------------------------- eventual consistency
    def mark_ec2(self):
        """Remember EC2 resources as they are before a change (for the lag fault)."""
        with self.lock:
            self._prev_ec2 = copy.deepcopy((self.instances, self.volumes, self.snapshots))

    def ec2_view(self, stale):
        """(instances, volumes, snapshots): current, or as before the last change."""
        if stale and self._prev_ec2 is not None:
            return self._prev_ec2
        return self.instances, self.volumes, self.snapshots

    # -------------------------------------------------------- timed transitions
    def schedule(self, delay, check, apply, hook=None):
        """After `delay` s: if check() still holds, run hook (argv, env) then apply()."""
        with self.lock:
            heapq.heappush(self._timers, (time.time() + max(0.0, delay), next(self._seq),
                                          check, apply, hook))

    def tick(self):
        now = time.time()
        due = []
        with self.lock:
            while self._timers and self._timers[0][0] <= now:
                due.append(heapq.heappop(self._timers))
        for _, _, check, apply, hook in due:
            with self.lock:
                if not check():
                    continue
                h = hook() if callable(hook) else hook
            if h:
                self._run_hook(*h)  # outside the lock: a slow hook must not block the API
            with self.lock:
                if check():
                    self.mark_ec2()
                    apply()

    def _run_hook(self, argv, env):
        full = dict(os.environ)
        full.update({k: "" if v is None else str(v) for k, v in env.items()})
        entry = {"time": time.time(), "argv": list(argv), "env": env}
        try:
            p = subprocess.run(list(argv), env=full, capture_output=True, timeout=60)
            entry.update(rc=p.returncode, stdout=p.stdout.decode(errors="replace")[-2000:],
                         stderr=p.stderr.decode(errors="replace")[-2000:])
        except (OSError, subprocess.TimeoutExpired) as e:
            entry.update(rc=None, error=str(e))
        with self.lock:
            self.hook_log.append(entry)
        self.log({"event": "hook", **entry})

    def start_ticker(self, interval=0.02):
        def run():
            while not self._stop.wait(interval):
                try:
                    self.tick()
                except Exception as e:  # keep ticking: one bad transition must not stop time
                    self.log({"event": "tick-error", "error": repr(e)})
        self._ticker = threading.Thread(target=run, name="sim-ticker", daemon=True)
        self._ticker.start()

    def stop(self):
        self._stop.set()
        from . import snapshots
        snapshots.cleanup(self)

    # ------------------------------------------------------------------ faults
    def add_fault(self, f):
        with self.lock:
            _check_keys(f, FAULT_KEYS, "fault")
            if f.get("kind") not in FAULT_KINDS:
                raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}")
            if "service" not in f:
                raise ValueError("fault needs a service")
            fault = dict(f)
            fault["id"] = next(self._seq)
            if fault.get("seconds") is not None:
                fault["until"] = time.time() + float(fault["seconds"])
            if fault.get("count") is None and fault.get("seconds") is None:
                fault["count"] = 1
            self.faults.append(fault)
            return fault["id"]

    def take_fault(self, service, action, instance=None, kinds=None):
        """The first live fault matching this call; consumes one of its count."""
        with self.lock:
            now = time.time()
            self.faults = [f for f in self.faults
                           if (f.get("count") is None or f["count"] > 0)
                           and (f.get("until") is None or f["until"] > now)]
            for f in self.faults:
                if f["service"] != service:
                    continue
                if f.get("action") and action and not fnmatch.fnmatchcase(action, f["action"]):
                    continue
                if f.get("action") and not action:
                    continue
                if f.get("instance") and instance and f["instance"] != instance:
                    continue
                if kinds and f["kind"] not in kinds:
                    continue
                if f.get("count") is not None:
                    f["count"] -= 1
                return dict(f)
            return None

    # ---------------------------------------------------------- request log
    def log_request(self, entry):
        with self.lock:
            self.last_request_id += 1
            entry = {"seq": self.last_request_id, "time": time.time(), **entry}
            self.requests.append(entry)
            if len(self.requests) > 20000:
                del self.requests[:5000]
        self.log(entry)

    # ------------------------------------------------------------ credentials
    def lookup_credentials(self, access_key):
        with self.lock:
            return self.credentials.get(access_key)

    def denied(self, cred, perm):
        """True if the credential (or its role) has `perm` (e.g. ec2:AttachVolume) denied."""
        rules = list(cred.get("deny", []))
        if cred.get("role"):
            rules += self.roles.get(cred["role"], {}).get("deny", [])
        return any(fnmatch.fnmatch(perm.lower(), r.lower()) for r in rules)

    def role_credentials(self, iid, role):
        """What IMDS hands out now; new keys once the current ones reach rotation age."""
        with self.lock:
            now = time.time()
            cur = self.role_creds.get((iid, role))
            if cur is None or now >= cur["rotate_at"]:
                ttl = float(self.delays["credential_ttl"])
                rot = self.delays.get("credential_rotate")
                if rot is None:
                    rot = ttl - 300 if ttl > 900 else ttl * 2 / 3
                cur = {"access_key": "ASIA" + _alnum(16),
                       "secret_key": base64.b64encode(secrets.token_bytes(30)).decode(),
                       "session_token": "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(180),
                       "issued": now, "expiration": now + ttl, "rotate_at": now + float(rot),
                       "role": role, "instance": iid, "deny": []}
                self.role_creds[(iid, role)] = cur
                self.credentials[cur["access_key"]] = cur
            return cur

    # ---------------------------------------------------------------- dump
    def dump(self):
        """JSON-ready copy of the whole state for GET /_sim/state."""
        with self.lock:
            def inst(i):
                d = dict(i)
                ud = d.pop("user_data")
                d["user_data_b64"] = base64.b64encode(ud).decode() if ud is not None else None
                return d

            def cred(c):
                return {k: v for k, v in c.items() if k in (
                    "access_key", "expiration", "role", "instance", "deny", "issued")}
            changes = {cid: dict(c, status=self.change_status(c)) for cid, c in self.changes.items()}
            return json.loads(json.dumps({
                "account_id": self.account_id, "region": self.region,
                "imds_instance": self.imds_instance,
                "instances": {k: inst(v) for k, v in self.instances.items()},
                "volumes": self.volumes, "snapshots": self.snapshots,
                "zones": self.zones, "changes": changes, "topics": sorted(self.topics),
                "asgs": self.asgs, "roles": self.roles,
                "credentials": [cred(c) for c in self.credentials.values()],
                "console": self.console, "delays": self.delays, "options": self.options,
                "faults": self.faults, "hook_log": self.hook_log,
                "sns_messages": self.sns_messages, "metrics": self.metrics,
                "asg_health": self.asg_health, "lifecycle_actions": self.lifecycle_actions,
                "pending_transitions": len(self._timers),
                "network": ec2_network.dump(self),
            }, default=str))

    def change_status(self, change):
        return "INSYNC" if time.time() >= change["insync_at"] else "PENDING"


def _parse_time(text):
    import datetime
    t = text.replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(t).timestamp()
