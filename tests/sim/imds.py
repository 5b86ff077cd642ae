"""Instance metadata service (IMDSv2 enforced unless the instance allows v1).

`handle` answers one IMDS request for one instance from the shared state. The
main server calls it for /latest/ (the seed's imds_instance) and for the
control route /_sim/imds/ID/...; the standalone `imds` command is a thin
proxy onto that control route, so tokens, faults and credentials all live in
the main sim.
"""
import hashlib
import http.client
import json
import secrets
import time
import urllib.parse

from . import ec2_network
from .errors import DropConnection
from .httpbase import BaseHandler, Server, serve
from .xmlout import iso_seconds

MAX_TTL = 21600
TOKEN_PATH = "/latest/api/token"


def _html(status, reason):
    return ('<?xml version="1.0" encoding="iso-8859-1"?>\n'
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
            '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
            '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
            f" <head>\n  <title>{status} - {reason}</title>\n </head>\n"
            f" <body>\n  <h1>{status} - {reason}</h1>\n </body>\n</html>\n").encode()


REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


def _err(status):
    return status, {"Content-Type": "text/html"}, _html(status, REASONS.get(status, "Error"))


def _pretty(d):
    """IMDS prints its JSON with ' : ' separators and two-space indent."""
    return "{\n" + ",\n".join(f'  "{k}" : {json.dumps(v)}' for k, v in d.items()) + "\n}"


def _tree(st, inst):
    iid, az = inst["id"], inst["az"]
    region = az[:-1]
    ip = inst["private_ip"]
    dns = inst.get("hostname") or f"ip-{ip.replace('.', '-')}.{region}.compute.internal"
    mac = inst["mac"]
    md = {
        "ami-id": inst["ami"], "ami-launch-index": "0", "ami-manifest-path": "(unknown)",
        "hostname": dns, "instance-action": "none", "instance-id": iid,
        "instance-life-cycle": "on-demand", "instance-type": inst["instance_type"],
        "local-hostname": dns, "local-ipv4": ip, "mac": mac,
        "placement": {"availability-zone": az,
                      "availability-zone-id": f"{region.split('-')[0]}{region.split('-')[1][0]}"
                                              f"{region.split('-')[-1]}-az{ord(az[-1]) - 96}",
                      "region": region},
        "reservation-id": inst["reservation_id"], "security-groups": "default",
        "services": {"domain": "amazonaws.com", "partition": "aws"},
        # Every attached interface, the primary one first made from the instance.
        "network": {"interfaces": {"macs": ec2_network.imds_macs(st, inst)}},
        "autoscaling": {"target-lifecycle-state": inst["target_lifecycle_state"]},
    }
    if inst["public_ip"]:
        md["public-ipv4"] = inst["public_ip"]
        md["public-hostname"] = f"ec2-{inst['public_ip'].replace('.', '-')}.{region}.compute.amazonaws.com"
    role = inst["iam_role"]
    if role:
        md["iam"] = {
            "info": lambda: _pretty({
                "Code": "Success", "LastUpdated": iso_seconds(time.time()),
                "InstanceProfileArn": f"arn:aws:iam::{st.account_id}:instance-profile/{role}",
                "InstanceProfileId": "AIPA" + hashlib.sha1(role.encode()).hexdigest()[:17].upper()}),
            "security-credentials": {role: lambda: _creds(st, iid, role)},
        }
    spot = inst["spot_action"]
    if spot:
        if isinstance(spot, str):
            spot = {"action": spot, "time": iso_seconds(time.time() + 120)}
        md["spot"] = {"instance-action": json.dumps(spot)}
    if inst.get("rebalance_notice"):  # {"noticeTime": ...}: 404 until EC2 recommends one
        md["events"] = {"recommendations": {"rebalance": json.dumps(
            {"noticeTime": inst["rebalance_notice"]})}}
    root = {"meta-data": md, "dynamic": {"instance-identity": {"document": _pretty({
        "accountId": st.account_id, "architecture": "x86_64", "availabilityZone": az,
        "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
        "imageId": inst["ami"], "instanceId": iid, "instanceType": inst["instance_type"],
        "kernelId": None, "pendingTime": iso_seconds(inst["launch_time"]), "privateIp": ip,
        "ramdiskId": None, "region": region, "version": "2017-09-30"})}}}
    if inst["user_data"] is not None:
        root["user-data"] = inst["user_data"]
    for path, value in (inst.get("metadata") or {}).items():  # seeded overrides/extra keys
        node, parts = root, path.strip("/").split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return root


def _creds(st, iid, role):
    c = st.role_credentials(iid, role)
    return _pretty({"Code": "Success", "LastUpdated": iso_seconds(c["issued"]), "Type": "AWS-HMAC",
                    "AccessKeyId": c["access_key"], "SecretAccessKey": c["secret_key"],
                    "Token": c["session_token"], "Expiration": iso_seconds(c["expiration"])})


def _lookup(tree, rel):
    node = tree
    for part in [p for p in rel.split("/") if p]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict):  # a directory: list children, sub-directories with '/'
        return "\n".join(k + "/" if isinstance(v, dict) else k for k, v in node.items())
    return node() if callable(node) else node


def handle(st, iid, method, path, headers):
    """(status, headers, body) for one IMDS request; raises DropConnection for outages."""
    path = urllib.parse.urlsplit(path).path
    fault = st.take_fault("imds", path, instance=iid)
    if fault:
        kind = fault["kind"]
        if kind in ("unreachable", "drop"):
            raise DropConnection(hang=float(fault.get("delay") or 0) if fault.get("mode") == "hang" else 0)
        if kind == "5xx":
            return _err(int(fault.get("status") or 500))
        if kind in ("429", "throttle"):
            return _err(429)
        if kind == "error":
            return _err(int(fault.get("status") or 500))
        if kind == "slow":
            time.sleep(float(fault.get("delay") or 1.0))
    with st.lock:
        inst = st.instances.get(iid)
        if inst is None:
            return _err(404)
        if path.rstrip("/") == TOKEN_PATH:
            if method != "PUT":
                return _err(405)
            if headers.get("X-Forwarded-For") is not None:
                return _err(403)  # IMDSv2 refuses token requests that came through a proxy
            ttl = (headers.get("X-aws-ec2-metadata-token-ttl-seconds") or "").strip()
            if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
                return _err(400)
            token = "AQAEA" + secrets.token_urlsafe(42)
            st.imds_tokens[token] = (iid, time.time() + int(ttl))
            return 200, {"Content-Type": "text/plain",
                         "X-aws-ec2-metadata-token-ttl-seconds": ttl}, token.encode()
        if method not in ("GET", "HEAD"):
            return _err(405)
        tok = headers.get("X-aws-ec2-metadata-token")
        if tok is not None:
            rec = st.imds_tokens.get(tok)
            if rec is None or rec[0] != iid or rec[1] < time.time():
                return _err(401)
        elif not inst["imdsv1"]:
            return _err(401)
        if path in ("", "/"):
            return 200, {"Content-Type": "text/plain"}, b"latest"
        if not path.startswith("/latest"):
            return _err(404)
        body = _lookup(_tree(st, inst), path[len("/latest"):])
    if body is None:
        return _err(404)
    if isinstance(body, str):
        body = body.encode()
    return 200, {"Content-Type": "text/plain"}, body


# ------------------------------------------------------------------ standalone proxy
class ProxyHandler(BaseHandler):
    """Forwards every request to the main sim's /_sim/imds/INSTANCE route."""
    server_version = "EC2ws"
    control = None
    instance = None

    def _any(self):
        body = self.read_body()
        u = urllib.parse.urlsplit(self.control)
        fwd = {k: v for k, v in self.headers.items()
               if k.lower() not in ("host", "connection", "keep-alive", "content-length",
                                    "transfer-encoding", "x-sim-proxy")}
        fwd["X-Sim-Proxy"] = "1"   # an outage comes back as a hint to drop, for us alone
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
            conn.request(self.command, f"/_sim/imds/{self.instance}{self.path}", body=body, headers=fwd)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        except OSError:
            return self.send_body(502, _html(502, "Bad Gateway"), "text/html")
        mode = resp.getheader("X-Sim-Imds", "")
        if mode.startswith("drop"):
            return self.drop(float(mode.split("=", 1)[1]) if "=" in mode else 0.0)
        keep = {k: v for k, v in resp.getheaders()
                if k.lower() == "x-aws-ec2-metadata-token-ttl-seconds"}
        self.send_body(resp.status, data, resp.getheader("Content-Type", "text/plain"), keep)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any


def serve_standalone(instance, bind, port, control, ready_file=None):
    handler = type("Proxy", (ProxyHandler,), {"control": control.rstrip("/"), "instance": instance})
    serve(Server((bind, port), handler), ready_file)
