#!/usr/bin/python3
"""make demo: the whole reference NFS setup, for real, on this machine.

What stands in for what:
  EC2, Route53, SNS, CloudWatch, Auto Scaling, IMDS  the simulator (tests/sim)
  the EBS volume                                    a loop device over an image
  the instance                                      a private mount namespace in
                                                    which the simulator's attach makes
                                                    the volume appear as on Nitro
                                                    (/dev/nvme1n1, serial vol073769c7)
  nfs-server                                        NFS-Ganesha on 127.0.0.1
  an NFS client                                     libnfs-utils (nfs-ls, nfs-cp, nfs-cat)

haboot (the static binary) reads its manifest from the instance's user-data
over IMDSv2, as on first boot.  The manifest is examples/nfs.yaml with only
the lines that must differ on a laptop changed (paths, port, restart command);
the demo prints them.  Needs root; everything it makes is removed at the end.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import blockns  # noqa: E402
from simfixture import start_sim  # noqa: E402

HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot-static"))
IID = "i-0aaaaaaaaaaaaaaa1"
VOL = "vol-073769c7"


def say(msg):
    print(f"\n== {msg}", flush=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def demo_manifest(work, port):
    """examples/nfs.yaml with the laptop-only changes; returns (text, changes)."""
    with open(os.path.join(ROOT, "examples", "nfs.yaml")) as f:
        text = f.read()
    mnt = f"{work}/mnt/nfs"
    restart = f"{work}/ganesha-restart.sh"
    subs = [
        ("mountpoint: /mnt/nfs", f"mountpoint: {mnt}"),
        ("path: /mnt/nfs", f"path: {mnt}"),
        ("clients: 10.10.10.0/24", "clients: [10.10.10.0/24, 127.0.0.1]"),
        ("restart: [systemctl, restart, nfs-ganesha]",
         f"restart: [{restart}]\n      config: {work}/ganesha/haboot.conf\n"
         f"      check: {{host: 127.0.0.1, port: {port}, timeout: 30s, "
         f"log: {work}/ganesha/ganesha.log}}\n      lease: 5s\n      grace: 5s"),
    ]
    changes = []
    for old, new in subs:
        if old not in text:
            raise SystemExit(f"demo: examples/nfs.yaml no longer holds {old!r}: update demo/run.py")
        text = text.replace(old, new)
        changes.append((old, new.replace("\n", " ")))
    return text, changes


def write_ganesha(work, port):
    os.makedirs(f"{work}/ganesha", exist_ok=True)
    main = f"{work}/ganesha/ganesha.conf"
    with open(main, "w") as f:
        f.write("NFS_CORE_PARAM {\n"
                f"\tProtocols = 4; NFS_Port = {port}; Bind_addr = 127.0.0.1;\n"
                "\tEnable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;\n}\n"
                f"%include \"{work}/ganesha/haboot.conf\"\n")
    pidfile = f"{work}/ganesha/ganesha.pid"
    script = f"{work}/ganesha-restart.sh"
    with open(script, "w") as f:
        f.write("#!/bin/sh\n# stands in for `systemctl restart nfs-ganesha`\n"
                f"pf='{pidfile}'\n"
                'if [ -s "$pf" ]; then kill "$(cat "$pf")" 2>/dev/null; sleep 1; rm -f "$pf"; fi\n'
                f"setsid ganesha.nfsd -F -f '{main}' -L '{work}/ganesha/ganesha.log' -p \"$pf\""
                " </dev/null >/dev/null 2>&1 &\necho ganesha started\n")
    os.chmod(script, 0o755)
    return pidfile


def nfs(argv, until=30):
    """An NFS client call, retried while the server is in its grace period."""
    end = time.monotonic() + until
    while True:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or time.monotonic() > end:
            return r
        time.sleep(0.5)


def main():
    if os.geteuid() != 0:
        raise SystemExit("demo: run as root (loop devices, mount namespaces)")
    for tool in ("ganesha.nfsd", "nfs-ls", "nfs-cp", "nfs-cat", "losetup", "nsenter"):
        if shutil.which(tool) is None:
            raise SystemExit(f"demo: {tool} is missing: run scripts/install-deps.sh demo")
    work = tempfile.mkdtemp(prefix="haboot-demo-")
    sim = inst = loop = None
    pidfile = None
    try:
        port = free_port()
        text, changes = demo_manifest(work, port)
        pidfile = write_ganesha(work, port)
        os.makedirs(f"{work}/mnt/nfs")

        say("the EBS volume: a blank 64 MiB loop device")
        img = f"{work}/vol.img"
        with open(img, "wb") as f:
            f.truncate(64 << 20)
        loop = subprocess.run(["losetup", "-f", "--show", img], check=True,
                              capture_output=True, text=True).stdout.strip()
        print(f"{VOL} is {loop}")

        say("the AWS control plane: the simulator, seeded like the reference setup")
        reg = blockns.make_registry(work)
        with open(os.path.join(ROOT, "tests", "sim", "seeds", "nfs.json")) as f:
            seed = json.load(f)
        seed["instances"][IID]["user_data"] = text
        seed["instances"][IID]["private_ip"] = "127.0.0.1"
        seed["volumes"][VOL]["backing"] = loop
        seed["attach_hook"] = blockns.hook_argv(reg)
        seed["delays"] = {"attach": 1, "route53_insync": 1}
        sim = start_sim(work, seed=seed)
        print(f"simulator on {sim.url}")

        say("the instance: a mount namespace with Nitro (NVMe) device naming")
        inst = blockns.Instance(reg, IID, naming="nitro")
        print("manifest: examples/nfs.yaml with these laptop-only changes:")
        for old, new in changes:
            print(f"  {old}\n    -> {new}")

        say("first boot: haboot run (static binary, manifest from IMDSv2 user-data)")
        env = dict(os.environ)
        env.update(sim.env(AWS_EC2_METADATA_DISABLED="false", HABOOT_CONSOLE=f"{work}/console"))
        env.pop("AWS_ENDPOINT_URL_EC2", None)
        status = f"{work}/status.json"
        t0 = time.monotonic()
        r = subprocess.run(inst.argv([HABOOT, "run", "--status-file", status]), env=env,
                           timeout=300)
        took = time.monotonic() - t0
        print(f"haboot run exited {r.returncode} after {took:.1f}s")
        subprocess.run([HABOOT, "status", "--status-file", status])
        if os.path.exists(f"{work}/console"):
            say("what the serial console shows (GetConsoleOutput)")
            print(open(f"{work}/console").read(), end="")
        if r.returncode != 0:
            raise SystemExit("demo: haboot run failed (see above)")

        say("what AWS saw")
        state = sim.client.state() if hasattr(sim.client, "state") else {}
        for rec in (state.get("zones", {}).get("Z1G9ZB2OW5990Z", {}).get("records") or []):
            if rec.get("type") in ("A", "AAAA"):
                print(f"route53 record: {rec['name']} {rec['type']} {rec['values']} ttl {rec['ttl']}")
        for req in sim.client.requests():
            if req.get("action") in ("AttachVolume", "ChangeResourceRecordSets", "Publish",
                                     "PutMetricData", "SetInstanceHealth"):
                print(f"{req.get('service')}: {req.get('action')} -> {req.get('status')}")

        say("an NFS client reads and writes the volume through ganesha")
        mnt = f"{work}/mnt/nfs"
        base = f"nfs://127.0.0.1{mnt}"
        q = f"?version=4&nfsport={port}"
        r = nfs(["nfs-ls", base + q])
        print(r.stdout, end="")
        if ".NFSMASTER" not in r.stdout:
            raise SystemExit(f"demo: the client does not see the signature file: {r.stderr}")
        hello = f"{work}/hello.txt"
        with open(hello, "w") as f:
            f.write("served by haboot\n")
        r = nfs(["nfs-cp", hello, f"{base}/hello.txt{q}"])
        if r.returncode != 0:
            raise SystemExit(f"demo: nfs-cp failed: {r.stderr}")
        r = nfs(["nfs-cat", f"{base}/hello.txt{q}"])
        print(f"nfs-cat hello.txt: {r.stdout.strip()}")
        r = nfs(["nfs-cat", f"{base}/.NFSMASTER{q}"])
        print(f"nfs-cat .NFSMASTER: exit {r.returncode} (the signature file is there)")
        if r.returncode != 0:
            raise SystemExit("demo: the client could not read the signature file")

        say("second boot on the same instance: nothing to change")
        before = len(sim.client.requests())
        r = subprocess.run(inst.argv([HABOOT, "-q", "run", "--status-file", status]), env=env,
                           timeout=300)
        muts = [q2.get("action") for q2 in sim.client.requests()[before:]
                if q2.get("action") in ("AttachVolume", "DetachVolume", "ChangeResourceRecordSets")]
        print(f"haboot run exited {r.returncode}; mutating AWS calls: {muts or 'none'}")
        say("demo done: volume attached and proven, formatted once, mounted, exported, "
            "named, reported")
    finally:
        if pidfile and os.path.exists(pidfile):
            try:
                os.kill(int(open(pidfile).read().strip()), 15)
                time.sleep(0.5)
            except (OSError, ValueError):
                pass
        if inst is not None:
            inst.close(under=work)
        if sim is not None:
            sim.stop()
        if loop:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
