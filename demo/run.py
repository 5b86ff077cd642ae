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
the lines that must differ on a laptop changed (paths, port, restart command).

The terminal gets what happens, the outcome and the proof, in a screenful;
everything else (the manifest changes, the whole plan, haboot's log, the
status file, the console summary, ganesha's configuration, what AWS saw) goes
to the log it names, or to the terminal too with -v.  Needs root; everything
it makes is removed at the end.
"""
import argparse
import json
import os
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
EXAMPLE = os.path.join(ROOT, "examples", "nfs.yaml")
IID = "i-0aaaaaaaaaaaaaaa1"
VOL = "vol-073769c7"
MUTATING = ("AttachVolume", "DetachVolume", "ChangeResourceRecordSets", "Publish",
            "PutMetricData", "SetInstanceHealth")


class Out:
    """The short story on stdout; the details in the log (and on stdout with -v)."""

    def __init__(self, log_path, verbose):
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        self.log = open(log_path, "w")
        self.path = log_path
        self.verbose = verbose
        self.t0 = time.monotonic()

    def say(self, text=""):
        print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def step(self, n, what, result):
        self.say(f"{n}. {what} {'.' * max(2, 40 - len(what))} {result}")

    def detail(self, title, text):
        block = f"\n---- {title}\n{text.rstrip()}\n"
        self.log.write(block)
        self.log.flush()
        if self.verbose:
            print(block, end="", flush=True)

    def fail(self, why):
        self.say(f"\ndemo FAILED: {why}\n(the whole story is in {self.path})")
        raise SystemExit(1)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def demo_manifest(work, port):
    """examples/nfs.yaml with the laptop-only changes; returns (text, changes)."""
    with open(EXAMPLE) as f:
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


def boot(out, inst, env, status, title):
    """One `haboot run` on the instance, as at boot; returns (rc, seconds, report)."""
    t0 = time.monotonic()
    r = subprocess.run(inst.argv([HABOOT, "run", "--status-file", status]), env=env,
                       capture_output=True, text=True, timeout=300)
    took = time.monotonic() - t0
    out.detail(f"{title}: haboot run (exit {r.returncode}, {took:.1f}s): its log", r.stderr)
    report = None
    if os.path.exists(status):
        with open(status) as f:
            report = json.load(f)
        out.detail(f"{title}: the status file", json.dumps(report, indent=2))
    return r.returncode, took, report


def main():
    ap = argparse.ArgumentParser(description="make demo: the reference NFS setup, for real")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print the details on the terminal too")
    ap.add_argument("--log", default=os.path.join(ROOT, "build", "demo", "demo.log"),
                    help="where the details go (default: build/demo/demo.log)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("demo: run as root (loop devices, mount namespaces)")
    for tool in ("ganesha.nfsd", "nfs-ls", "nfs-cp", "nfs-cat", "losetup", "nsenter"):
        if shutil.which(tool) is None:
            raise SystemExit(f"demo: {tool} is missing: run scripts/install-deps.sh demo")
    out = Out(a.log, a.verbose)
    out.say("haboot demo: the reference NFS setup (examples/nfs.yaml), for real, on this machine")
    out.say("  AWS and IMDS: a local simulator; the EBS volume: a blank 64 MiB loop device;")
    out.say("  the instance: a mount namespace with Nitro (NVMe) device names; NFS: ganesha")
    out.say(f"  every detail: {out.path}" + ("" if a.verbose else "  (or make demo V=1)"))
    out.say()
    work = tempfile.mkdtemp(prefix="haboot-demo-")
    sim = inst = loop = pidfile = None
    try:
        port = free_port()
        text, changes = demo_manifest(work, port)
        pidfile = write_ganesha(work, port)
        os.makedirs(f"{work}/mnt/nfs")
        out.detail("the manifest: examples/nfs.yaml with these laptop-only changes",
                   "\n".join(f"  {o}\n    -> {n}" for o, n in changes))

        r = subprocess.run([HABOOT, "validate", EXAMPLE], capture_output=True, text=True)
        out.detail("haboot validate examples/nfs.yaml", r.stdout + r.stderr)
        if r.returncode != 0:
            out.fail(f"validate: {r.stderr.strip()}")
        out.step(1, "validate examples/nfs.yaml", "valid: volume filesystem exports route53 "
                 "notify")

        r = subprocess.run([HABOOT, "plan", EXAMPLE, "--metadata", f"instance-id={IID}",
                            "--metadata", "az=us-west-2a", "--metadata", "local-ipv4=10.10.10.10"],
                           capture_output=True, text=True)
        out.detail("haboot plan examples/nfs.yaml (offline, with this instance's facts)",
                   r.stdout + r.stderr)
        if r.returncode != 0:
            out.fail(f"plan: {r.stderr.strip()}")
        nsteps = sum(1 for line in r.stdout.splitlines() if line[:5].strip().rstrip(".").isdigit())
        out.step(2, "plan (offline, changes nothing)", f"{nsteps} steps, shown in the log")

        img = f"{work}/vol.img"
        with open(img, "wb") as f:
            f.truncate(64 << 20)
        loop = subprocess.run(["losetup", "-f", "--show", img], check=True,
                              capture_output=True, text=True).stdout.strip()
        reg = blockns.make_registry(work)
        with open(os.path.join(ROOT, "tests", "sim", "seeds", "nfs.json")) as f:
            seed = json.load(f)
        seed["instances"][IID]["user_data"] = text
        seed["instances"][IID]["private_ip"] = "127.0.0.1"
        seed["volumes"][VOL]["backing"] = loop
        seed["attach_hook"] = blockns.hook_argv(reg)
        seed["delays"] = {"attach": 1, "route53_insync": 1}
        sim = start_sim(work, seed=seed)
        inst = blockns.Instance(reg, IID, naming="nitro")
        out.detail("the stand-ins", f"{VOL} is {loop}\nsimulator on {sim.url}\n"
                   f"instance {IID}: a mount namespace, Nitro naming")

        env = dict(os.environ)
        env.update(sim.env(AWS_EC2_METADATA_DISABLED="false", HABOOT_CONSOLE=f"{work}/console"))
        env.pop("AWS_ENDPOINT_URL_EC2", None)
        status = f"{work}/status.json"
        rc, took, report = boot(out, inst, env, status, "first boot")
        if os.path.exists(f"{work}/console"):
            with open(f"{work}/console") as f:
                out.detail("what the serial console shows (GetConsoleOutput)", f.read())
        if rc != 0 or report is None:
            out.fail(f"haboot run exited {rc}")
        out.step(3, "first boot: haboot run (user-data)", f"ok in {took:.1f}s, exit 0")
        for m in report["modules"]:
            # The whole message is in the status file, in the log.
            msg = m["message"] or ""
            out.say(f"     {m['name']:<11} {m['state']:<3} "
                    f"{msg if len(msg) <= 78 else msg[:75] + '...'}")

        state = sim.client.state()
        recs = [r for r in state["zones"]["Z1G9ZB2OW5990Z"].get("records") or []
                if r["type"] in ("A", "AAAA")]
        seen = [f"{q['service']}: {q['action']} -> {q['status']}" for q in sim.client.requests()
                if q.get("action") in MUTATING]
        out.detail("what AWS saw (the calls that change something, and the record)",
                   "\n".join(seen + [f"route53 record: {r['name']} {r['type']} {r['values']} "
                                     f"ttl {r['ttl']}" for r in recs]))
        rec = recs[0] if recs else None
        out.step(4, "what AWS saw", ", ".join(q.split(": ")[1].split(" ->")[0] for q in seen))
        if rec:
            out.say(f"     DNS: {rec['name']} {rec['type']} {rec['values'][0]} ttl {rec['ttl']}")

        mnt = f"{work}/mnt/nfs"
        base = f"nfs://127.0.0.1{mnt}"
        q = f"?version=4&nfsport={port}"
        ls = nfs(["nfs-ls", base + q])
        hello = f"{work}/hello.txt"
        with open(hello, "w") as f:
            f.write("served by haboot\n")
        cp = nfs(["nfs-cp", hello, f"{base}/hello.txt{q}"])
        cat = nfs(["nfs-cat", f"{base}/hello.txt{q}"])
        sig = nfs(["nfs-cat", f"{base}/.NFSMASTER{q}"])
        out.detail("the NFS client (libnfs) against ganesha",
                   f"$ nfs-ls {base}{q}\n{ls.stdout}{ls.stderr}"
                   f"$ nfs-cp hello.txt -> exit {cp.returncode} {cp.stderr}\n"
                   f"$ nfs-cat hello.txt\n{cat.stdout}{cat.stderr}"
                   f"$ nfs-cat .NFSMASTER\n{sig.stdout}{sig.stderr}")
        with open(f"{work}/ganesha/haboot.conf") as f:
            out.detail("ganesha's configuration, as haboot wrote it", f.read())
        names = sorted(line.split()[-1] for line in ls.stdout.splitlines() if line.split())
        if ".NFSMASTER" not in names or cp.returncode or cat.stdout.strip() != "served by haboot" \
                or sig.returncode:
            out.fail("the NFS client could not list, write and read the volume")
        out.step(5, "proof: a real NFS client", f"lists {' '.join(names)}")
        out.say(f"     wrote hello.txt, read it back: \"{cat.stdout.strip()}\"; "
                "read the signature file")

        before = len(sim.client.requests())
        rc, took, report = boot(out, inst, env, status, "second boot")
        muts = [q2["action"] for q2 in sim.client.requests()[before:]
                if q2.get("action") in ("AttachVolume", "DetachVolume", "ChangeResourceRecordSets")]
        if rc != 0:
            out.fail(f"the second boot exited {rc}")
        out.step(6, "second boot on the same instance", f"ok in {took:.1f}s; changes to AWS: "
                 f"{', '.join(muts) or 'none'}")
        changed = [m["name"] for m in report["modules"] if m["changed"]]
        out.say(f"     modules that changed something: {', '.join(changed) or 'none'} (converged)")
        out.say()
        out.say(f"demo done in {time.monotonic() - out.t0:.0f}s: the volume attached and proven "
                "by its NVMe serial, formatted once, mounted, exported, named and reported; "
                "a second boot changed nothing.  Everything it made is removed.")
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
