#!/usr/bin/python3
"""haboot side by side with the reference script: prints one table.

`make bench` runs this after `make all static`.  Everything talks to the local
simulator (tests/sim) on 127.0.0.1 only.  The measurements:

1. run: bench/reference.sh (the reference user-data script's AWS part, one
   /usr/bin/aws process per call) against `haboot run -f bench/nfs-bench.yaml`
   (volume + route53 modules), same sim, all delays 0.  Wall time, CPU time
   and peak RSS of the whole process tree (os.wait4), median of --runs.
2. validation: `haboot validate examples/nfs.yaml` against
   `cloud-init schema -c bench/nfs-cloud-config.yaml`.
3. detection: the sim takes --delay seconds to attach; its attach hook
   (bench/devhook.c) makes the volume's block device appear in the instance's
   mount namespace and prints the instant it did; latency runs from there to
   the DescribeVolumes that noticed the attachment.  haboot on a Nitro
   instance (the device's NVMe serial proves the attachment), on a Xen one
   (a device makes it ask EC2 at once), and with device events off (the poll);
   DescribeVolumes per minute before the device appeared; and a --long-wait
   attach (a second sim, concurrently with the haboot latency runs).
4. sizes (static binary, stripped; the awscli package for the reference) and
   the instruction count (callgrind Ir) of a converged re-run of the dynamic
   build.
5. the takeover budget: the failover drill's main scenario (tests/drill/run)
   measured, with AWS's figures where a drill cannot measure (--no-drill
   skips it).

It needs root: it runs itself in a private mount namespace (`unshare -m`) and
runs haboot in EC2 instances' mount namespaces made by
tests/integration/blockns.py, and installs cloud-init, valgrind and the AWS
CLI with apt-get when they are missing.  No test asserts on these figures:
they vary from run to run.
"""
import argparse
import ctypes
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from sim.client import SimClient  # noqa: E402
import blockns  # noqa: E402

PY = "/usr/bin/python3"
AWS_CLI = "/usr/bin/aws"
KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
VOLUME, INSTANCE, ZONE = "vol-073769c7", "i-0aaaaaaaaaaaaaaa1", "Z1G9ZB2OW5990Z"
RECORD, ADDRESS = "nfs.helloawsworld.com.", "10.10.10.10"
REFERENCE = BENCH / "reference.sh"
MANIFEST = BENCH / "nfs-bench.yaml"
CLOUD_CONFIG = BENCH / "nfs-cloud-config.yaml"
NFS_MANIFEST = ROOT / "examples" / "nfs.yaml"
RESULTS = BENCH / "RESULTS.md"
# In the bench's own /dev: a node with a loop device's number, the volume's
# "backing" the hook gives the instance (haboot only stats the device).
BACKING = "/dev/hb-bench-volume"
ZERO_DELAYS = {k: 0 for k in ("attach", "detach", "force_detach", "stop", "stop_force",
                              "terminate", "terminate_detach", "pending", "create_volume",
                              "route53_insync")}
# program -> Debian package that brings it
TOOLS = {AWS_CLI: "awscli", "/usr/bin/curl": "curl", "/usr/bin/cloud-init": "cloud-init",
         "/usr/bin/valgrind": "valgrind", "/usr/bin/unshare": "util-linux",
         "/usr/bin/strip": "binutils"}
NS_MARK = "HABOOT_BENCH_NS"

# The sim's handler writes headers and body separately with Nagle on, so a
# keep-alive client waits for a delayed ACK (~40 ms) on many answers.  That
# is latency the real AWS does not add: turn Nagle off in the sim we start.
# Its clock ticks every 20 ms, so a "zero" delay lasts 10 ms on average: tick
# every millisecond instead.
SIM_LAUNCH = ("import sys; import sim.httpbase as h; import sim.state as st; "
              "h.BaseHandler.disable_nagle_algorithm = True; "
              "st.State.start_ticker.__defaults__ = (0.001,); "
              "from sim.__main__ import main; sys.exit(main(sys.argv[1:]))")

_libc = ctypes.CDLL(None, use_errno=True)


def say(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- setup ---------------------------------------------------------------------

def ensure_tools(install):
    """apt-get installs what is missing; returns the set of programs still missing."""
    missing = {path: pkg for path, pkg in TOOLS.items() if not os.access(path, os.X_OK)}
    if subprocess.run([PY, "-c", "import botocore"], capture_output=True).returncode != 0:
        missing["botocore"] = "python3-botocore"
    if missing and install:
        pkgs = sorted(set(missing.values()))
        say(f"installing {' '.join(pkgs)} with apt-get (the reference side and the "
            f"comparisons need them)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        ok = subprocess.run(["apt-get", "update", "-qq"], env=env).returncode == 0
        ok = ok and subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                                    *pkgs], env=env).returncode == 0
        if not ok:
            say(f"apt-get could not install {' '.join(pkgs)}: the rows that need them "
                f"show n/a; install them by hand and re-run")
    still = {p for p in TOOLS if not os.access(p, os.X_OK)}
    if subprocess.run([PY, "-c", "import botocore"], capture_output=True).returncode != 0:
        sys.exit("bench: the simulator needs Debian's python3-botocore: "
                 "apt-get install python3-botocore")
    return still


def _mount(src, target, fstype=None, flags=0, data=None):
    if _libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None,
                   ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {src} on {target}: {os.strerror(e)}")


def private_dev():
    """In our own mount namespace: /dev with the basics and the volume's backing node."""
    rdev = os.makedev(7, 0)  # a loop device's number; the volume module only stats the node
    for n in range(8):
        try:
            st = os.stat(f"/dev/loop{n}")
        except OSError:
            continue
        if stat.S_ISBLK(st.st_mode):
            rdev = st.st_rdev
            break
    _mount("hb-bench-dev", "/dev", "tmpfs", 2, "mode=0755,size=4m")  # MS_NOSUID
    for name, (ma, mi) in {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                           "urandom": (1, 9), "tty": (5, 0)}.items():
        os.mknod(f"/dev/{name}", stat.S_IFCHR | 0o666, os.makedev(ma, mi))
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{name}")
    os.mkdir("/dev/shm", 0o1777)
    _mount("hb-bench-shm", "/dev/shm", "tmpfs", 2, "mode=1777,size=64m")
    os.mknod(BACKING, stat.S_IFBLK | 0o660, rdev)


def run_drill(haboot_static):
    """The failover drill's main scenario (outside the private /dev: it needs loop
    devices); its measured segments go to a file the namespaced bench reads."""
    out = Path(tempfile.mkdtemp(prefix="haboot-bench-drill-"))
    env = dict(os.environ, HABOOT_STATIC=haboot_static,
               HABOOT_BUDGET_JSON=str(out / "budget.json"))
    say("takeover budget: the failover drill's main scenario (about a minute)")
    with open(out / "drill.log", "w") as log:
        rc = subprocess.run([str(ROOT / "tests/drill/run"), "-k", "instance_dies"], env=env,
                            stdout=log, stderr=subprocess.STDOUT).returncode
    if rc != 0 or not (out / "budget.json").exists():
        say(f"the drill failed (exit {rc}): the budget shows no drill column; "
            f"see {out / 'drill.log'}")
        return None
    return str(out / "budget.json")


def enter_namespace(a):
    """Re-runs this script under `unshare -m` (same process), then makes /dev."""
    if os.environ.get(NS_MARK) != "1":
        if os.geteuid() != 0:
            sys.exit("bench: run as root: it needs a private mount namespace (unshare -m) "
                     "with a block device node for the volume module")
        ensure_tools(install=True)  # here, where apt-get sees the real /dev
        static = os.path.abspath(os.environ.get("HABOOT_STATIC",
                                                ROOT / "build/haboot-static"))
        if not a.no_drill and os.access(static, os.X_OK):
            budget = run_drill(static)
            if budget:
                os.environ["HABOOT_BENCH_BUDGET"] = budget
        os.environ[NS_MARK] = "1"
        env = [f"{k}={shlex.quote(os.environ[k])}" for k in ("HABOOT", "HABOOT_STATIC")
               if k in os.environ]
        os.environ["HABOOT_BENCH_ARGV"] = " ".join([*env, shlex.join([PY, *sys.argv])])
        os.execv("/usr/bin/unshare", ["unshare", "-m", "--propagation", "private", "--",
                                      PY, str(Path(__file__).resolve()), *sys.argv[1:]])
    private_dev()


# ---- simulator -------------------------------------------------------------------

def _die_with_parent():
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Sim:
    def __init__(self, tmp, name):
        seed = json.loads((ROOT / "tests/sim/seeds/nfs.json").read_text())
        seed["delays"] = dict(ZERO_DELAYS)
        seed["volumes"][VOLUME]["backing"] = BACKING
        self.dir = Path(tmp) / name
        self.dir.mkdir()
        (self.dir / "seed.json").write_text(json.dumps(seed))
        ready = self.dir / "port"
        self.err = open(self.dir / "sim.err", "w")
        self.proc = subprocess.Popen(
            [PY, "-c", SIM_LAUNCH, "serve", "--bind", "127.0.0.1", "--port", "0",
             "--ready-file", str(ready), "--seed", str(self.dir / "seed.json")],
            env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")), stdout=subprocess.DEVNULL,
            stderr=self.err, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        end = time.time() + 20
        while not ready.exists():
            if self.proc.poll() is not None or time.time() > end:
                self.proc.kill()
                sys.exit(f"bench: the simulator did not start: "
                         f"{(self.dir / 'sim.err').read_text()[-2000:]}")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{int(ready.read_text())}"
        self.client = SimClient(self.url)
        self.home = self.dir / "home"
        self.home.mkdir()

    def fresh(self, machine, attach_delay=0.0):
        """Back to the seed: volume available, no record, no device in the
        machine; AttachVolume makes the device appear there (the hook runs
        just before the state flips, and prints the instant)."""
        self.client.reset()
        machine.clear()
        if attach_delay:
            self.client.delays(attach=attach_delay)
        self.client.seed({"attach_hook": machine.hook})

    def env(self, side):
        """This sim only, no ~/.aws.  The script reads IMDS with curl and passes
        --endpoint-url; the CLI must not look for IMDS itself.  haboot reads the
        instance's facts from the sim's IMDS."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.home),
               "LANG": "C.UTF-8", "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
               "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-west-2",
               "AWS_ENDPOINT_URL": self.url, "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.url,
               "AWS_PAGER": "", "AWS_CONFIG_FILE": "/nonexistent",
               "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
        if side == "reference":
            env.update(AWS_EC2_METADATA_DISABLED="true", IMDS=self.url, ENDPOINT=self.url)
        return env

    def converged(self):
        """None if the volume is attached here and the record points here, else why not."""
        st = self.client.state()
        atts = st["volumes"][VOLUME]["attachments"]
        if not any(a["instance"] == INSTANCE and a["state"] == "attached" for a in atts):
            return f"{VOLUME} is not attached to {INSTANCE}: {atts}"
        recs = [r for r in st["zones"][ZONE]["records"]
                if r["name"] == RECORD and r["type"] == "A"]
        if not recs or recs[0]["values"] != [ADDRESS]:
            return f"{RECORD} A is {recs}, not {ADDRESS}"
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Machine:
    """An EC2 instance's mount namespace (blockns: its own /dev and /sys/class),
    where haboot runs, and bench/devhook.c's arguments to make the volume's
    device appear in it: Nitro (an NVMe controller whose serial is the volume
    id, then /dev/nvme1n1) or Xen (/dev/xvdf)."""

    def __init__(self, tmp, name, naming):
        self.naming = naming
        reg = blockns.make_registry(str(Path(tmp) / f"machine-{name}"))
        self.inst = blockns.Instance(reg, INSTANCE, naming)
        self.root = f"/proc/{self.inst.pid}/root"
        self.hook = ([_DEVHOOK, "nitro", self.inst.nvme_dir, self.root] if naming == "nitro"
                     else [_DEVHOOK, "xen", self.root])

    def argv(self, argv):
        """argv inside the instance; the launcher execs without a PATH search."""
        full = self.inst.argv(argv)
        return [shutil.which(full[0]) or full[0], *full[1:]]

    def clear(self):
        """No device: as before the volume was ever attached."""
        for node in ("/dev/nvme1n1", "/dev/xvdf"):
            try:
                os.unlink(self.root + node)
            except FileNotFoundError:
                pass
        if self.inst.nvme_dir:
            shutil.rmtree(os.path.join(self.inst.nvme_dir, "nvme1"), ignore_errors=True)

    def close(self):
        self.inst.close()


# ---- measuring -------------------------------------------------------------------

class Run:
    def __init__(self, rc, wall, cpu, rss_kb, out, err):
        self.rc, self.wall, self.cpu, self.rss_kb, self.out, self.err = \
            rc, wall, cpu, rss_kb, out, err

    def why(self):
        lines = (self.err or self.out).strip().splitlines()
        return f"exit {self.rc}: " + " / ".join(lines[-2:])


_LAUNCHER = None
_DEVHOOK = None


def build_launcher(tmp):
    """bench/rusage.c and bench/devhook.c, static when glibc's static libraries
    are there (smaller floor)."""
    global _LAUNCHER, _DEVHOOK
    for name in ("rusage", "devhook"):
        out = str(Path(tmp) / name)
        for extra in (["-static"], []):
            if subprocess.run(["cc", "-O2", *extra, "-o", out, str(BENCH / f"{name}.c")],
                              capture_output=True).returncode == 0:
                break
        else:
            sys.exit(f"bench: cannot compile bench/{name}.c with cc (make builds haboot "
                     f"with it)")
        if name == "rusage":
            _LAUNCHER = out
        else:
            _DEVHOOK = out


def measure(argv, env, cwd=ROOT):
    """Runs argv; wall time, and CPU time and peak RSS of it and every child it reaped."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as ru:
        subprocess.run([_LAUNCHER, ru.name, *argv], env=env, cwd=cwd,
                       stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        out.seek(0)
        err.seek(0)
        fields = ru.read().split()
        if len(fields) != 5:
            sys.exit(f"bench: {_LAUNCHER} failed for {argv[0]}: "
                     f"{err.read().decode(errors='replace')[-500:]}")
        wall_ns, ut, st, rss, rc = (int(x) for x in fields)
        return Run(rc, wall_ns / 1e9, (ut + st) / 1e6, rss,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def median(xs):
    return statistics.median(xs) if xs else None


class Failures(list):
    def add(self, what, why):
        self.append(f"{what}: {why}")
        say(f"FAILED {what}: {why}")


def run_side(sim, machine, side, argv, failures, label):
    """One converging run from a fresh sim; its Run and the count of AWS+IMDS requests."""
    sim.fresh(machine)
    r = measure(argv, sim.env(side))
    if r.rc != 0:
        failures.add(label, r.why())
        return None
    why = sim.converged()
    if why:
        failures.add(label, f"exit 0 but {why}")
        return None
    r.requests = len(sim.client.requests())
    return r


def haboot_argv(machine, haboot, status):
    """haboot run in the machine; its status file on the machine's tmpfs /dev/shm,
    as /run/haboot is a tmpfs on an instance (on a disk, its fsyncs would be
    most of a run's wall time)."""
    return machine.argv([haboot, "run", "-f", str(MANIFEST), "--status-file",
                         f"/dev/shm/{Path(status).name}"])


def bench_run(sim, machine, haboot, runs, tmp, failures):
    ref_argv = ["/bin/bash", str(REFERENCE)]
    hb_argv = haboot_argv(machine, haboot, Path(tmp) / "status.json")
    ref, hb = [], []
    for i in range(runs):
        # Alternate which goes first, so neither always meets a just-warmed cache.
        order = [("reference", ref_argv, ref), ("haboot", hb_argv, hb)]
        for side, argv, acc in (order if i % 2 == 0 else order[::-1]):
            r = run_side(sim, machine, side, argv, failures, f"run ({side}, #{i + 1})")
            if r is not None:
                acc.append(r)
    return ref, hb


def bench_validate(haboot, runs, have_cloud_init, tmp, failures):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": tmp}
    hb, ci = [], []
    for i in range(runs):
        r = measure([haboot, "validate", str(NFS_MANIFEST)], env)
        if r.rc != 0:
            failures.add("haboot validate", r.why())
        else:
            hb.append(r)
        if have_cloud_init:
            r = measure(["/usr/bin/cloud-init", "schema", "-c", str(CLOUD_CONFIG)], env)
            if r.rc != 0:
                failures.add("cloud-init schema", r.why())
            else:
                ci.append(r)
    return ci, hb


def detection(sim, machine, side, argv, delay, failures, label, env=None):
    """One run with a slow attach: from the device's appearance to the look that
    noticed the attachment, and the looks made before the device appeared.

    Noticed: for haboot, the volume module's last DescribeVolumes (the next
    request is Route53's); for the reference, its first DescribeVolumes after
    the device appeared (it polls until attached)."""
    sim.fresh(machine, attach_delay=delay)
    r = measure(argv, dict(sim.env(side), **(env or {})))
    st = sim.client.state()
    reqs = sim.client.requests()
    ec2 = [q for q in reqs if q.get("service") == "ec2" and q["status"] == 200]
    hooks = [h for h in st["hook_log"] if h["env"].get("SIM_ACTION") == "attach"]
    attach = [q["time"] for q in ec2 if q.get("action") == "AttachVolume"]
    describes = [q["time"] for q in ec2 if q.get("action") == "DescribeVolumes"]
    dns = [q["time"] for q in reqs if q.get("service") == "route53"]
    if not attach:
        failures.add(label, f"no AttachVolume was made ({r.why()})")
        return None
    try:
        appeared = float(hooks[0]["stdout"]) if hooks and hooks[0].get("rc") == 0 else None
    except ValueError:
        appeared = None
    calls = len([t for t in describes if t > attach[0]])
    if appeared is None and side == "reference" and r.rc == 0:
        # It gave up before the attach finished and went on without the volume.
        return {"latency": None, "polls": calls, "waited": r.wall, "rc": r.rc,
                "wall": r.wall, "calls": calls}
    if appeared is None:
        failures.add(label, f"the attach hook did not report the device: {hooks[:1]}")
        return None
    if side == "haboot":
        before_dns = [t for t in describes if not dns or t < dns[0]]
        noticed = before_dns[-1] if before_dns and before_dns[-1] > attach[0] else None
    else:
        after = [t for t in describes if t > appeared]
        noticed = after[0] if after else None
    waited = appeared - attach[0]
    polls = [t for t in describes if attach[0] < t < appeared]
    return {"latency": noticed - appeared if noticed is not None else None,
            "polls": len(polls), "waited": waited, "rc": r.rc, "wall": r.wall,
            "calls": calls}


def bench_detection(sim, long_sim, m, haboot, tmp, delay, hb_runs, ref_runs, long_wait,
                    failures):
    """m: the machines (nitro, xen, long)."""
    ref_argv = ["/bin/bash", str(REFERENCE)]
    out = {"hb": [], "xen": [], "poll": [], "ref": [], "hb_long": None, "ref_long": None}

    def long_haboot():
        argv = haboot_argv(m["long"], haboot, Path(tmp) / "long.json")
        out["hb_long"] = detection(long_sim, m["long"], "haboot", argv, long_wait, failures,
                                   "haboot, long wait")

    t = None
    if long_wait and long_sim is not None:
        # Mostly waiting, like the latency runs: run both at once to save a minute.
        t = threading.Thread(target=long_haboot)
        t.start()
    kinds = [("hb", m["nitro"], {}, hb_runs, "haboot detection (Nitro)"),
             ("xen", m["xen"], {}, max(1, hb_runs // 2), "haboot detection (Xen)"),
             ("poll", m["nitro"], {"HABOOT_DEVICE_EVENTS": "off"}, max(1, hb_runs // 2),
              "haboot detection (events off)")]
    for key, machine, env, n, label in kinds:
        argv = haboot_argv(machine, haboot, Path(tmp) / "lat.json")
        for i in range(n):
            d = detection(sim, machine, "haboot", argv, delay, failures, f"{label} #{i + 1}",
                          env)
            if d is None or d["latency"] is None or d["rc"] != 0:
                if d is not None:
                    failures.add(f"{label} #{i + 1}", f"exit {d['rc']}, latency "
                                 f"{d['latency']}")
                continue
            out[key].append(d)
    if t is not None:
        t.join()
        x = out["hb_long"]
        if x is not None and (x["latency"] is None or x["rc"] != 0):
            failures.add("haboot, long wait", f"exit {x['rc']}, latency {x['latency']}")
            out["hb_long"] = None
    for i in range(ref_runs):
        d = detection(sim, m["nitro"], "reference", ref_argv, delay, failures,
                      f"reference detection #{i + 1}")
        if d is not None and d["latency"] is not None:
            out["ref"].append(d)
        elif d is not None:
            failures.add(f"reference detection #{i + 1}", "never saw the volume attached")
    if long_wait:
        # The reference gives up after 5 polls; it is measured as it is.
        out["ref_long"] = detection(sim, m["nitro"], "reference", ref_argv, long_wait,
                                    failures, "reference, long wait")
    return out


def bench_callgrind(sim, machine, haboot_dyn, tmp, failures):
    """Ir of a converged re-run of the dynamic build (valgrind misreads static glibc)."""
    argv = haboot_argv(machine, haboot_dyn, Path(tmp) / "cg.json")
    sim.fresh(machine)
    r = measure(argv, sim.env("haboot"))
    if r.rc != 0:
        failures.add("callgrind: converging run", r.why())
        return None
    since = max([q["seq"] for q in sim.client.requests()] or [0])
    cg = Path(tmp) / "callgrind.out"
    r = measure(machine.argv(["/usr/bin/valgrind", "--tool=callgrind",
                              f"--callgrind-out-file={cg}", *argv[argv.index(haboot_dyn):]]),
                sim.env("haboot"))
    if r.rc != 0:
        failures.add("callgrind: re-run", r.why())
        return None
    changes = [q["action"] for q in sim.client.requests(since=since)
               if q.get("action") in ("AttachVolume", "ChangeResourceRecordSets")]
    if changes:
        failures.add("callgrind: re-run", f"not converged: it made {changes}")
    total = in_main = None
    for line in cg.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
    if total is None:
        failures.add("callgrind", f"no totals in {cg}")
        return None
    # The dynamic loader's relocations are a large share that the static
    # binary never pays: main()'s inclusive count is the part haboot owns.
    p = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(cg)],
                       capture_output=True, text=True)
    real = os.path.realpath(haboot_dyn)
    for line in p.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) .*:main \[(.+)\]\s*$", line)
        if m and os.path.realpath(m.group(2)) == real:
            in_main = int(m.group(1).replace(",", ""))
            break
    return total, in_main


# ---- watch: the watcher's cost over a healthy instance ---------------------------

WATCH_GOALS = {"cpu_pct": 0.1, "rss_kb": 4096, "calls_per_hour": 100}


def _proc_cpu_ticks(pid):
    """utime + stime + cutime + cstime of pid, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


def _proc_status(pid, keys):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    return out


def _loop_nodes():
    """Our private /dev holds no loop devices: make the nodes losetup needs."""
    if not os.path.exists("/dev/loop-control"):
        os.mknod("/dev/loop-control", stat.S_IFCHR | 0o660, os.makedev(10, 237))
    for n in range(64):
        if not os.path.exists(f"/dev/loop{n}"):
            os.mknod(f"/dev/loop{n}", stat.S_IFBLK | 0o660, os.makedev(7, n))


def bench_watch(haboot, seconds, tmp, failures):
    """`haboot watch` over a whole healthy instance (tests/integration/watchworld: the
    sim, a loop device attached as the volume, ext4, NFS-Ganesha, Route53, notify) for
    `seconds` at a 10 s interval, every other watch setting its default.  Its CPU
    time (with the probe children it reaped), peak RSS, and the AWS calls it made."""
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    os.environ.setdefault("HABOOT", haboot)
    import simfixture  # noqa: E402
    import watchworld  # noqa: E402
    watchworld.HABOOT = haboot
    _loop_nodes()
    sim = simfixture.start_sim(Path(tmp) / "watch-sim")
    w = None
    try:
        w = watchworld.World(Path(tmp) / "watch", sim, watch="interval: 10s")
        w.run()
        sim.client.clear_requests()
        p = w.start_watch()
        w.wait_state("healthy", 120)
        tick = os.sysconf("SC_CLK_TCK")
        t0, c0 = time.monotonic(), _proc_cpu_ticks(p.pid)
        rounds0 = w.state()["rounds"]
        end = t0 + seconds
        while time.monotonic() < end and p.poll() is None:
            time.sleep(min(5, max(0, end - time.monotonic())))
        if p.poll() is not None:
            failures.add("watch", f"the watcher exited {p.returncode}: {w.output()[-500:]}")
            return None
        wall, cpu = time.monotonic() - t0, (_proc_cpu_ticks(p.pid) - c0) / tick
        mem = _proc_status(p.pid, ("VmHWM", "RssAnon", "RssFile"))
        st = w.state()
        reqs = [r for r in sim.client.requests() if r.get("service") != "imds"]
        by = {}
        for r in reqs:
            by[r.get("action")] = by.get(r.get("action"), 0) + 1
        metric = by.pop("PutMetricData", 0)
        if st["state"] != "healthy" or any(m["restarts_total"] for m in st["modules"]):
            failures.add("watch", f"not a healthy watch: {st['state']}, {st['modules']}")
        return {"seconds": wall, "cpu": cpu, "rounds": st["rounds"] - rounds0,
                "hwm_kb": mem.get("VmHWM"), "anon_kb": mem.get("RssAnon"),
                "file_kb": mem.get("RssFile"), "calls": sum(by.values()), "by": by,
                "metric": metric}
    except Exception as e:  # the other sections' results still count
        failures.add("watch", repr(e))
        return None
    finally:
        if w is not None:
            w.close()
        sim.stop()


def watch_rows(res, seconds):
    """The watch section of the table."""
    rows = [(f"watch: a healthy instance, {seconds / 60:g} min at a 10 s interval, "
             "other settings default",)]
    x = res.get("watch")
    if not x:
        rows.append(("(not measured: see FAILED below)", "-", "n/a", "-"))
        return rows
    pct = 100 * x["cpu"] / x["seconds"]
    per_hour = lambda n: n * 3600 / x["seconds"]
    g = WATCH_GOALS
    rows.append((f"CPU time, {x['rounds']} rounds (goal: well under {g['cpu_pct']:g} % of a core)",
                 "-", f"{x['cpu'] * 1000:.0f} ms = {pct:.3f} %", "-"))
    rows.append((f"peak RSS (goal: under {g['rss_kb'] // 1024} MiB)", "-", mib(x["hwm_kb"]), "-"))
    rows.append(("  of which the binary's own pages / anonymous", "-",
                 f"{mib(x['file_kb'])} / {mib(x['anon_kb'])}", "-"))
    detail = ", ".join(f"{k} {per_hour(v):.0f}" for k, v in sorted(x["by"].items()))
    rows.append((f"AWS calls per hour besides the metric (goal: under "
                 f"{g['calls_per_hour']})", "-", f"{per_hour(x['calls']):.0f}", "-"))
    rows.append(("  " + (detail or "none"), "-", "", "-"))
    rows.append(("PutMetricData calls per hour (the Healthy heartbeat)", "-",
                 f"{per_hour(x['metric']):.0f}", "-"))
    return rows


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def stripped_size(path, tmp):
    if path is None or not os.path.exists(path) or not os.access("/usr/bin/strip", os.X_OK):
        return None
    out = Path(tmp) / "stripped"
    if subprocess.run(["/usr/bin/strip", "-o", str(out), str(path)]).returncode != 0:
        return None
    return out.stat().st_size


def awscli_size():
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Installed-Size}", "awscli"],
                       capture_output=True, text=True)
    return int(p.stdout) * 1024 if p.returncode == 0 and p.stdout.strip().isdigit() else None


# ---- formatting ------------------------------------------------------------------

def ms(s):
    if s is None:
        return "n/a"
    return f"{s * 1000:.0f} ms" if s >= 0.1 else f"{s * 1000:.1f} ms"


def secs(s):
    return "n/a" if s is None else f"{s:.2f} s" if s >= 1 else ms(s)


def count(v):
    return "n/a" if v is None else f"{v:.0f}"


def mib(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f} MiB"


def size(b):
    if b is None:
        return "n/a"
    return f"{b / 1048576:.1f} MiB" if b >= 1048576 else f"{b / 1024:.0f} KiB"


def ratio(ref, hb):
    if ref is None or hb is None or hb == 0:
        return "-"
    r = ref / hb
    return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x"


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    distro = ""
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}, Linux {os.uname().release}, {distro}"


def render(rows):
    """rows: ("section",) or (metric, ref, hb, ratio)."""
    head = ("metric", "reference", "haboot", "ref/haboot")
    body = [r for r in rows if len(r) == 4]
    w = [max(len(str(r[i])) for r in [head, *body]) for i in range(4)]
    line = lambda r: (f"{r[0]:<{w[0]}} | {r[1]:>{w[1]}} | {r[2]:>{w[2]}} | {r[3]:>{w[3]}}")
    sep = "-+-".join("-" * n for n in w)
    out = [line(head), sep]
    for r in rows:
        out.append(f"[{r[0]}]" if len(r) == 1 else line(r))
    return "\n".join(out)


def build_rows(a, res):
    rows = []
    ref, hb = res["run"]
    rows.append((f"run: attach + Route53, zero-latency sim, median of {a.runs} "
                 f"({res['run_binary']})",))
    m = lambda xs, f: median([f(x) for x in xs])
    for name, f, fmt in (("wall time", lambda r: r.wall, secs),
                         ("CPU time (user+sys, process tree)", lambda r: r.cpu, secs),
                         ("peak RSS (largest process)", lambda r: r.rss_kb, mib),
                         ("AWS + IMDS requests", lambda r: r.requests, count)):
        rv, hv = m(ref, f), m(hb, f)
        rows.append((name, fmt(rv), fmt(hv), ratio(rv, hv)))
    ci, hv = res["validate"]
    rows.append((f"validation: cloud-init schema -c vs haboot validate, median of {a.runs}",))
    for name, f, fmt in (("wall time", lambda r: r.wall, secs),
                         ("CPU time", lambda r: r.cpu, secs),
                         ("peak RSS", lambda r: r.rss_kb, mib)):
        rv, hv2 = m(ci, f), m(hv, f)
        rows.append((name, fmt(rv) if ci else "n/a", fmt(hv2), ratio(rv, hv2)))
    d = res["detect"]
    rows.append((f"detection: attach takes {a.delay:g} s, the device appears then; runs: "
                 f"reference {len(d['ref'])}, haboot {len(d['hb'])} Nitro, {len(d['xen'])} Xen, "
                 f"{len(d['poll'])} events off",))
    lat = lambda k: [x["latency"] for x in d[k]]
    rl, hl = lat("ref"), lat("hb")
    worst = lambda xs: max(xs) if xs else None
    rows.append(("attach noticed after the device appeared, median", secs(median(rl)),
                 secs(median(hl)), ratio(median(rl), median(hl))))
    rows.append(("attach noticed after the device appeared, worst", secs(worst(rl)),
                 secs(worst(hl)), ratio(worst(rl), worst(hl))))
    rows.append(("  haboot on Xen (a device: ask EC2 now), median", "-",
                 secs(median(lat("xen"))), "-"))
    rows.append(("  haboot with device events off (polling), median", "-",
                 secs(median(lat("poll"))), "-"))
    rate = lambda xs: (60 * sum(x["polls"] for x in xs) / sum(x["waited"] for x in xs)
                       if xs and sum(x["waited"] for x in xs) > 0 else None)
    fmt_rate = lambda v: "n/a" if v is None else f"{v:.0f}/min"
    rr, hr = rate(d["ref"]), rate(d["hb"])
    rows.append(("DescribeVolumes per minute before the device appeared", fmt_rate(rr),
                 fmt_rate(hr), "-"))
    rows.append(("  haboot with device events off", "-", fmt_rate(rate(d["poll"])), "-"))
    if a.long_wait:
        def long(x):
            if x is None:
                return "n/a"
            if x["latency"] is None:
                return f"{x['calls']} calls, gave up"
            return (f"{x['polls']} calls ({60 * x['polls'] / x['waited']:.0f}/min), noticed "
                    f"{secs(x['latency'])} after")
        rows.append((f"attach takes {a.long_wait:g} s: DescribeVolumes before the device",
                     long(d["ref_long"]), long(d["hb_long"]), "-"))
    rows.append(("size and instructions",))
    rows.append(("on disk (reference: awscli package alone)", size(res["awscli"]),
                 size(res["static"]), ratio(res["awscli"], res["static"])))
    rows.append(("haboot-static stripped", "-", size(res["stripped"]), "-"))
    ir, in_main = res["ir"] or (None, None)
    rows.append(("instructions, converged re-run (callgrind Ir)", "-",
                 "n/a" if ir is None else f"{ir:,}", "-"))
    rows.append(("  of which in main() (the rest: ld.so, libc start)", "-",
                 "n/a" if in_main is None else f"{in_main:,}", "-"))
    rows.append(("goals (issue 18): previous results | this run",))
    rows += goal_rows(a, res, hl, d)
    return rows


def verdict(ok, miss):
    return "n/a" if ok is None else "met" if ok else f"missed by {miss}"


def goal_rows(a, res, hl, d):
    """Each goal with this run's figure and whether it is met (or by how much not)."""
    out = []
    med = median(hl)
    out.append(("attach noticed <= 20 ms after the device (median, Nitro)", "-",
                secs(med), verdict(None if med is None else med <= 0.020,
                                   secs(med - 0.020) if med is not None else "")))
    x = d.get("hb_long")
    r = 60 * x["polls"] / x["waited"] if x and x["waited"] > 0 else None
    out.append((f"<= 20 DescribeVolumes/min while waiting ({a.long_wait:g} s attach)", "-",
                "n/a" if r is None else f"{r:.0f}/min",
                verdict(None if r is None else r <= 20, f"{r - 20:.0f}/min" if r else "")))
    ref, hb = res["run"]
    rw = median([x.wall for x in ref])
    hw = median([x.wall for x in hb])
    k = rw / hw if rw and hw else None
    out.append((">= 100x faster wall time than the reference (run)", "-",
                "n/a" if k is None else f"{k:.0f}x",
                verdict(None if k is None else k >= 100, f"{100 - k:.0f}x" if k else "")))
    st = res["stripped"]
    out.append(("haboot-static stripped <= 5 MiB", "-", size(st),
                verdict(None if st is None else st <= 5 * 1048576,
                        size(st - 5 * 1048576) if st else "")))
    ir = (res["ir"] or (None, None))[0]
    prev = res.get("prev_ir")
    out.append(("instructions of a converged re-run do not grow",
                "n/a" if prev is None else f"{prev:,}", "n/a" if ir is None else f"{ir:,}",
                verdict(None if ir is None or prev is None else ir <= prev,
                        f"{ir - prev:,}" if ir and prev else "")))
    return out


METHOD = """\
## What the rows mean

- **run**: `bench/reference.sh` (the reference user-data script's AWS part:
  describe-volumes, attach-volume, describe-volumes until attached, Route53
  change-resource-record-sets; one `/usr/bin/aws` process per call, IMDSv2 by
  curl) against `haboot run -f bench/nfs-bench.yaml` (volume + route53
  modules: the same work), each from a freshly reset simulator with every
  delay 0, in alternating order.  A run counts only if it exited 0 and the
  sim shows the volume attached and the record written.  Wall time is the
  whole run.  CPU time is user+sys of the process and every child it waited
  for; peak RSS is the largest single process of that tree (both from
  `wait4` in `bench/rusage.c`): for the script, an `aws` process.  The
  simulator's own CPU counts for neither side.  haboot runs as
  `build/haboot-static` in a Nitro instance's mount namespace
  (`tests/integration/blockns.py`), where the sim's attach hook
  (`bench/devhook.c`) makes the volume's NVMe device appear when EC2 attaches
  it, and haboot notices it from the kernel.  haboot's status file is on
  that namespace's tmpfs, as `/run/haboot` is on an instance.
- **validation**: `haboot validate examples/nfs.yaml` against
  `cloud-init schema -c bench/nfs-cloud-config.yaml` (Debian's cloud-init),
  the same setup as cloud-config: bootcmd, write_files, mounts, runcmd.
- **detection**: the simulator takes the given time to attach; its attach
  hook makes the device appear (and prints the instant) just before the
  state flips to attached.  The latency runs from the device's appearance to
  the DescribeVolumes that noticed the attachment: haboot's last before its
  Route53 call (on Nitro, the one confirming what the device's NVMe serial
  proved; on Xen, the one EC2 answered "attached"), the reference's first
  after the device.  "Before the device appeared" counts DescribeVolumes
  from AttachVolume to the device, per minute.  The long attach runs on a
  second sim alongside; the reference script gives up after five tries and
  goes on without the volume.
- **size and instructions**: `build/haboot-static` as built and stripped; the
  reference needs the AWS CLI (the awscli package's installed size alone,
  without Python and the packages it depends on).  The instruction count is
  callgrind's Ir for `haboot run` of the same manifest with the dynamic build
  (valgrind misreads static glibc), once a first run has converged (the
  re-run makes no AWS change).  The dynamic loader's relocations are a large
  share the static binary never pays; `main()`'s inclusive count is the part
  haboot's own code decides.
- **goals**: issue 18's, each with this run's figure and whether it is met;
  the instruction count is compared with the RESULTS.md this run replaced.
- **takeover budget**: `tests/integration/budget.py` over the failover
  drill's main scenario (`tests/drill/run -k instance_dies`, run by the bench
  before anything else): measured where the drill can, AWS's documented or
  typical figures where it cannot, each labelled.

- **watch**: `haboot watch` (the static binary) over a whole healthy
  instance built as the integration tests build it
  (`tests/integration/watchworld.py`: the simulator as AWS and IMDS, a loop
  device attached as the EBS volume, ext4, NFS-Ganesha on loopback, Route53,
  notify), at a 10 s interval with every other watch setting its default
  (api_interval 2m, heartbeat 1m).  CPU time is the watcher's user+sys plus
  its reaped children's (the filesystem check's probe), from its first
  healthy round to the end, against wall time; peak RSS is its VmHWM (its
  start-up included: manifest, libcurl and OpenSSL initialisation), split
  into the binary's own clean, file-backed pages and anonymous memory; AWS
  calls are what the simulator answered (IMDS aside) over the watch, scaled
  to an hour.  The simulator speaks plain HTTP: against real AWS (HTTPS) the
  watcher also holds a TLS context and the CA bundle.

Ratios are reference / haboot.  The simulator is started with Nagle's
algorithm off (it writes headers and body in two sends, and with Nagle on a
keep-alive client waits ~40 ms for a delayed ACK on some answers, a cost real
AWS endpoints do not add) and its clock ticking every millisecond instead of
every 20 ms, so that a delay of 0 is 0.

Options: `--runs N` (run, validation and reference detection runs; 5),
`--latency-runs N` (haboot Nitro detection runs; 20, and half as many Xen
and events-off runs), `--delay S` (attach time; 2), `--long-wait S` (the
long attach; 60, 0 skips it), `--watch-seconds S` (the watch; 600, 0 skips
it), `--no-drill` (no drill column in the budget), `--no-results` (leave
this file alone).  `HABOOT` and `HABOOT_STATIC` name
other builds.

## The static binary's size, step by step

Measured once while making it smaller (issue 18), stripped, on the
development machine; each step adds to the ones above it.

| step | stripped | change |
|------|---------:|-------:|
| as it was: OpenSSL 3 under libcurl and for SigV4 | 5,939,624 B (5.66 MiB) | |
| `-Wl,--gc-sections` at the link | 5,918,984 B | -20,640 B |
| libcurl without cookies, auth other than basic, mime, netrc, alt-svc, HSTS, DoH, verbose strings | 5,804,328 B | -114,656 B |
| SigV4's SHA-256 and HMAC our own, not OpenSSL's | 5,808,424 B | +4,096 B |
| libcurl on mbed TLS instead of OpenSSL | 2,442,664 B | -3,365,760 B |
| `-ffunction-sections -fdata-sections` for haboot and libcurl | 2,422,056 B (2.31 MiB) | -20,608 B |

OpenSSL's unused parts cannot be collected: Debian's `libcrypto.a` is not
built with a section per function, and OpenSSL 3's libssl reaches every
algorithm of its default provider through the provider's tables, so 3.9 MB
of it stays whatever haboot calls.  mbed TLS 2.28 (Debian's
`libmbedtls-dev`, static libraries included) speaks TLS 1.2, which every AWS
endpoint speaks, and checks certificate host names (not IP addresses).
"""


def previous_ir():
    """The converged re-run's instruction count in the RESULTS.md this run replaces."""
    try:
        m = re.search(r"instructions, converged re-run \(callgrind Ir\)\s*\|\s*-\s*\|\s*([\d,]+)",
                      RESULTS.read_text())
    except OSError:
        return None
    return int(m.group(1).replace(",", "")) if m else None


def budget_lines():
    """The takeover budget (tests/integration/budget.py), with the drill's figures
    when it ran."""
    import budget
    measured = None
    path = os.environ.get("HABOOT_BENCH_BUDGET")
    if path:
        try:
            measured = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            measured = None
    lines = budget.table(measured)
    if measured is None:
        lines.append("  (no drill ran: --no-drill, or it failed; the drill column is empty)")
    return lines


def write_results(table, footer, command):
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.write_text(
        "# Benchmarks: last results\n\n"
        f"Produced by `{command}` (what `make bench` runs after `make all static`)\n"
        f"on {when}, at commit `{commit}`.  `make bench` rewrites this file.  Figures vary\n"
        "from run to run, and more from machine to machine.\n\n"
        "```\n" + table + "\n" + footer + "\n```\n\n" + METHOD)


# ---- main --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="haboot against the reference script; one table")
    ap.add_argument("--runs", type=int, default=5, help="runs per side for run and validation "
                    "rows, and reference detection runs (default 5)")
    ap.add_argument("--latency-runs", type=int, default=20,
                    help="haboot detection runs (default 20)")
    ap.add_argument("--delay", type=float, default=2.0, help="attach time in detection runs (s)")
    ap.add_argument("--long-wait", type=float, default=60.0,
                    help="attach time of the long-wait row (s); 0 skips it")
    ap.add_argument("--watch-seconds", type=float, default=600.0,
                    help="how long the watch section watches a healthy instance (s); 0 skips it")
    ap.add_argument("--no-results", action="store_true", help="do not rewrite bench/RESULTS.md")
    ap.add_argument("--no-drill", action="store_true",
                    help="leave the drill out of the takeover budget")
    a = ap.parse_args()
    if a.runs < 1 or a.latency_runs < 1:
        ap.error("--runs and --latency-runs must be at least 1")

    enter_namespace(a)
    command = os.environ["HABOOT_BENCH_ARGV"]
    haboot_dyn = os.path.abspath(os.environ.get("HABOOT", ROOT / "build/haboot"))
    haboot_static = os.path.abspath(os.environ.get("HABOOT_STATIC", ROOT / "build/haboot-static"))
    for p in (haboot_dyn,):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench: {p} is missing: run `make all static` first (or `make bench`)")
    if os.access(haboot_static, os.X_OK):
        haboot, run_binary = haboot_static, "haboot-static"
    else:
        say(f"{haboot_static} is missing (make static): timing the dynamic build instead")
        haboot, run_binary = haboot_dyn, "dynamic haboot"
    missing = ensure_tools(install=False)
    if AWS_CLI in missing or "/usr/bin/curl" in missing:
        sys.exit("bench: the reference script needs /usr/bin/aws and curl: "
                 "apt-get install awscli curl")
    # reference run ~7 s, its detection run ~9 s, a long one ~25 s; haboot's ~3 s
    eta = (a.runs * 16 + 10 + max(3 * 2 * a.latency_runs, a.long_wait + 5)
           + (25 if a.long_wait else 0))
    eta += a.watch_seconds + 30
    say(f"about {eta / 60:.0f} min: {a.runs} runs per side, {a.latency_runs} detection runs "
        f"of haboot, a {a.long_wait:g} s attach, a {a.watch_seconds:g} s watch")
    failures = Failures()
    res = {"run_binary": run_binary, "prev_ir": previous_ir()}
    with tempfile.TemporaryDirectory(prefix="haboot-bench-") as tmp:
        build_launcher(tmp)
        sim = Sim(tmp, "sim")
        long_sim = Sim(tmp, "sim-long") if a.long_wait else None
        m = {}
        try:
            m = {"nitro": Machine(tmp, "nitro", "nitro"), "xen": Machine(tmp, "xen", "xen")}
            if a.long_wait:
                m["long"] = Machine(tmp, "long", "nitro")
            say("run: reference script vs haboot run")
            res["run"] = bench_run(sim, m["nitro"], haboot, a.runs, tmp, failures)
            say("validation: cloud-init schema vs haboot validate")
            res["validate"] = bench_validate(haboot, a.runs, "/usr/bin/cloud-init" not in missing,
                                             tmp, failures)
            say("sizes, and callgrind on a converged re-run")
            res["static"] = file_size(haboot_static)
            res["stripped"] = stripped_size(haboot_static, tmp)
            res["awscli"] = awscli_size()
            res["ir"] = (bench_callgrind(sim, m["nitro"], haboot_dyn, tmp, failures)
                         if "/usr/bin/valgrind" not in missing else None)
            say(f"detection: attach takes {a.delay:g} s"
                + (f"; long wait {a.long_wait:g} s alongside" if a.long_wait else ""))
            res["detect"] = bench_detection(sim, long_sim, m, haboot, tmp, a.delay,
                                            a.latency_runs, a.runs, a.long_wait, failures)
        finally:
            sim.stop()
            if long_sim:
                long_sim.stop()
            for x in m.values():
                x.close()
        if a.watch_seconds > 0:
            say(f"watch: the watcher over a healthy instance for {a.watch_seconds:g} s")
            res["watch"] = bench_watch(haboot, a.watch_seconds, tmp, failures)
    rows = build_rows(a, res)
    if a.watch_seconds > 0:
        rows += watch_rows(res, a.watch_seconds)
    table = render(rows)
    footer = (f"machine: {machine()}\n"
              "Figures vary from run to run (and more from machine to machine); "
              "medians unless marked worst.\n\n" + "\n".join(budget_lines()))
    print(table)
    print(footer)
    if failures:
        print(f"\nFAILED ({len(failures)}), the rows above leave these runs out:\n  "
              + "\n  ".join(failures))
    if not a.no_results:
        write_results(table, footer + ("\n\nFAILED:\n  " + "\n  ".join(failures)
                                       if failures else ""), command)
        say(f"wrote {RESULTS.relative_to(ROOT)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
