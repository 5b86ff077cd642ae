"""The sim's network hook: EC2's network state, applied to a test network.

The sim (tests/sim/ec2_network.py) runs `nethook.py REGISTRY` after every
change that moves traffic, with SIM_NETWORK saying where each moved address is
delivered now, and when a floating ENI is attached or detached.  This file
makes a test network obey, so a packet really goes to whichever instance EC2
says holds the address:

- SIM_ACTION=network: in the client's network namespace (the VPC fabric as
  the client sees it), each moved address gets a host route to the instance
  EC2 delivers it to: `ip route replace ADDR/32 via HOLDER-PRIMARY-IP`, or a
  blackhole when nothing receives it (detached, source/destination check on,
  holder not running).  Secondary addresses count everywhere; routes only from
  the route table the client's subnet uses.
- SIM_ACTION=interface-attach / interface-detach: a floating ENI appears in
  (leaves) the instance's network namespace as a veth with the ENI's MAC,
  named eth<device index>.

The registry is a folder of JSON files written by the test:
    instances/ID.json   {"pid": PID}    a process in that instance's netns
    client.json         {"pid": PID, "route_table": "rtb-..."}
Each application is appended to REGISTRY/network.jsonl with its time.
"""
import json
import os
import subprocess
import sys
import time


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _ip(pid, *args):
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "--", "ip", *args],
                          capture_output=True, text=True, timeout=30)


def apply_network(reg, doc):
    client = _read(os.path.join(reg, "client.json"))
    if client is None:
        return []
    want = {f"{ip}/32": via for ip, via in doc.get("addresses", {}).items()}
    rtb = client.get("route_table")
    for dest, via in doc.get("routes", {}).get(rtb, {}).items():
        want[dest] = via
    done = []
    for dest, via in sorted(want.items()):
        args = (["route", "replace", dest, "via", via] if via else
                ["route", "replace", "blackhole", dest])
        r = _ip(client["pid"], *args)
        done.append({"dest": dest, "via": via, "rc": r.returncode, "err": r.stderr.strip()})
    return done


def apply_interface(reg, action):
    inst = _read(os.path.join(reg, "instances", os.environ.get("SIM_INSTANCE_ID", "") + ".json"))
    if inst is None:
        return [{"skipped": "instance not in the registry"}]
    mac, idx = os.environ["SIM_MAC"], os.environ.get("SIM_DEVICE_INDEX", "1")
    name = f"eth{idx}"
    if action == "interface-attach":
        r = _ip(inst["pid"], "link", "add", name, "address", mac, "type", "veth", "peer",
                "name", f"eni{idx}p")
        if r.returncode == 0:
            _ip(inst["pid"], "link", "set", f"eni{idx}p", "up")
    else:
        r = _ip(inst["pid"], "link", "del", name)
    return [{"link": name, "mac": mac, "rc": r.returncode, "err": r.stderr.strip()}]


def main(reg):
    action = os.environ.get("SIM_ACTION", "")
    start = time.time()
    if action == "network":
        done = apply_network(reg, json.loads(os.environ.get("SIM_NETWORK", "{}")))
    elif action.startswith("interface-"):
        done = apply_interface(reg, action)
    else:
        done = []
    with open(os.path.join(reg, "network.jsonl"), "a") as f:
        f.write(json.dumps({"action": action, "start": start, "end": time.time(),
                            "network": json.loads(os.environ.get("SIM_NETWORK", "{}")),
                            "done": done}) + "\n")
    return 1 if any(d.get("rc") for d in done) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
