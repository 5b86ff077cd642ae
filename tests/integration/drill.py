"""The failover drill's world: two EC2 instances and a client on one machine.

    root namespace   bridge hbd<PID>br<N> 10.200.X.1/24 (fixed MAC), the sim bound
                     to 10.200.X.1 only, a loop device over a sparse image (the
                     EBS volume)
    instance A       netns + private mount ns, eth0 10.200.X.11, IMDS 169.254.169.254
    instance B       netns + private mount ns, eth0 10.200.X.12, IMDS 169.254.169.254
    client           netns, eth0 10.200.X.20: nfs-cat, and `drill.py nfs-put`

Each machine's namespaces are held by one process (`unshare -n [-m]`), never
named with `ip netns add`.  An instance has its own IMDS (the sim's standalone
`sim imds` proxy for its instance id, on lo) and a private mount namespace built
by blockns's ns-init (its own /dev, /sys/class) with its own /etc/ganesha, /run,
/srv and /var/lib/nfs bound over the host's: the same manifest (the user-data
of both) means the same paths on both machines, and nothing touches the
host's.  haboot (the static binary) runs in both namespaces with only
AWS_ENDPOINT_URL set: the manifest, metadata, region and role credentials come
from its IMDS, and the namespace has no route but the bridge.

The sim's attach hook is blockns's (AttachVolume makes the loop device appear
as /dev/xvdf in the attached instance's mount namespace; detach removes it),
wrapped to log when each run ended: the moment EC2's state flipped, which the
timeline needs.

An instance dies (crash()) the way a machine does: its link is removed
first (clients get silence, not resets), its filesystem is shut down without
flushing the journal (the ext4 shutdown ioctl through xfs_io: a power cut,
nothing not yet on disk gets there), every process in its namespaces is
SIGKILLed.  The loop device stays; the
next instance mounts the same block device, and its fsck replays the journal.

Links and the image carry the pytest PID, so what a killed drill left is
removed by the next one (stale_cleanup); the namespaces die with their
holders, which die with pytest (PR_SET_PDEATHSIG).
"""
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
import blockns  # noqa: E402

TESTS = HERE.parent.parent
sys.path.insert(0, str(TESTS))
from sim.client import SimClient  # noqa: E402

PYTHON = "/usr/bin/python3"
REPO = TESTS.parent
HABOOT = os.path.abspath(os.environ.get("HABOOT_STATIC", str(REPO / "build" / "haboot-static")))
RESTART = str(TESTS / "drill" / "ganesha-restart")
PREFIX = "hbd"
TOOLS = ("ip", "unshare", "nsenter", "losetup", "mkfs.ext4", "e2fsck", "dumpe2fs", "xfs_io",
         "blkid", "ganesha.nfsd", "nfs-cat")

ZONE = "Z1G9ZB2OW5990Z"
ZONE_NAME = "helloawsworld.com"
NAME = "nfs.helloawsworld.com"
VOL = "vol-0d7ee1000000000d1"
A = "i-0a00000000000000a"
B = "i-0b00000000000000b"
AZ = "us-west-2a"
TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"
ASG = "nfs-autoscaling-group"
ROLE = "ec2-nfs-role"
MOUNT = "/srv/nfs"
SIGNATURE = ".NFSMASTER"
NFS_PORT = 2049
# Small EC2 delays keep the drill fast.  DRILL_DETACH_DELAY: seconds from an
# instance's termination until EC2 detaches its volumes.
DELAYS = {"attach": 0.3, "detach": 0.3, "force_detach": 0.2, "stop": 1.0, "stop_force": 0.5,
          "terminate": 0.5, "terminate_detach": float(os.environ.get("DRILL_DETACH_DELAY", "1.0")),
          "pending": 0.2, "route53_insync": 1.0}
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def missing_tools():
    return [t for t in TOOLS if shutil.which(t) is None] + (
        [] if os.access(HABOOT, os.X_OK) else [HABOOT])


def sh(argv, check=True, timeout=60, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: "
                           f"{r.stderr.strip() or r.stdout.strip()}")
    return r


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def iso_time(s):
    """haboot's ISO 8601 UTC times (with or without milliseconds) as epoch seconds."""
    if s is None:
        return None
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in s else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.datetime.strptime(s, fmt).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


def _die_with_parent():
    blockns._libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def kill_pids(pids, wait=5.0):
    """SIGKILL every pid and wait until none is alive (zombies count as dead)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.monotonic() + wait
    while any(_alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.02)


def ns_pids(kind, link):
    """Processes whose namespace of this kind ("net", "mnt") is link (a readlink of
    /proc/PID/ns/KIND)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/ns/{kind}") == link:
                    out.append(int(d))
            except OSError:
                pass
    return out


HOST_NETNS = os.readlink("/proc/self/ns/net")
HOST_MNTNS = os.readlink("/proc/self/ns/mnt")


def _on_host(pid):
    """True if pid is in both the host's network and mount namespaces, or is gone."""
    try:
        return (os.readlink(f"/proc/{pid}/ns/net") == HOST_NETNS and
                os.readlink(f"/proc/{pid}/ns/mnt") == HOST_MNTNS)
    except OSError:
        return True


def stale_cleanup():
    """Removes what a drill killed mid-way left: the daemons still running in its
    instances (ganesha outlives the namespace holders, which die with pytest),
    its links and its loop devices.  All its files are under a drill-PID folder."""
    mine = str(os.getpid())

    def stale(m):
        return m is not None and m.group(1) != mine and not _alive(int(m.group(1)))
    for d in os.listdir("/proc"):
        if not d.isdigit() or _on_host(int(d)):
            continue
        try:
            with open(f"/proc/{d}/mountinfo") as f:
                m = re.search(r" \S*/drill-(\d+)/[a-z]+/run /run ", f.read())
        except OSError:
            continue
        if stale(m):
            kill_pids([int(d)])
    r = sh(["ip", "-o", "link", "show"], check=False)
    for m in re.finditer(r"^\d+: (" + PREFIX + r"(\d+)[a-z]+\d*)[@:]", r.stdout, re.M):
        if m.group(2) != mine and not _alive(int(m.group(2))):
            sh(["ip", "link", "del", m.group(1)], check=False)
    r = sh(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], check=False)
    for line in r.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and stale(re.search(r"/drill-(\d+)/(volume\.img|snapshots/)",
                                                parts[1])):
            sh(["losetup", "-d", parts[0]], check=False)


def free_subnet():
    """A 10.200.N.0/24 no address or route of this machine is in."""
    used = sh(["ip", "-4", "addr"]).stdout + sh(["ip", "-4", "route"]).stdout
    start = os.getpid() % 200 + 1
    for i in range(250):
        n = (start + i) % 250 + 1
        if f"10.200.{n}." not in used:
            return f"10.200.{n}"
    raise RuntimeError("no free 10.200.N.0/24 for the drill's bridge")


# ---- the timeline ------------------------------------------------------------

class Timeline:
    """Events (epoch seconds, who, what) printed relative to the instant of death."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def mark(self, who, what, t=None):
        t = time.time() if t is None else t
        with self.lock:
            self.events.append((t, who, what))
        return t

    def render(self, t0):
        lines = []
        for t, who, what in sorted(self.events, key=lambda e: e[0]):
            what = what if len(what) <= 110 else what[:109] + "…"
            lines.append(f"  {t - t0:+9.3f}s  {who:<7} {what}")
        return lines


def union_length(intervals, lo, hi):
    """Total length of the union of [a, b] intervals, clipped to [lo, hi]."""
    spans = sorted((max(a, lo), min(b, hi)) for a, b in intervals)
    total, cur_a, cur_b = 0.0, None, None
    for a, b in spans:
        if b <= a:
            continue
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total


# ---- the machines ------------------------------------------------------------

class Machine:
    """A network namespace (and, for an instance, a mount namespace) held by one
    process, with a veth pair from the bridge as its eth0.  No `ip netns add`: a
    named namespace is a bind mount that every `unshare -m` made meanwhile on this
    machine copies, which would keep it (and its veth) alive after the drill."""

    def __init__(self, lab, tag, addr, init=None):
        self.lab, self.tag, self.addr = lab, tag, addr
        self.dir = Path(lab.tmp) / tag
        self.dir.mkdir(parents=True, exist_ok=True)
        ready = self.dir / "ns-ready"
        if init is None:
            init = [PYTHON, "-c", "import sys, os; open(sys.argv[1], 'w').close(); "
                    "os.execvp('sleep', ['sleep', 'infinity'])", str(ready)]
            flags = ["-n"]
        else:
            flags = ["-n", "-m", "--propagation", "private"]
            init = init + [str(ready)]
        self.holder = subprocess.Popen(["unshare"] + flags + ["--"] + init,
                                       preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lab.cleanups.append(self._end)
        end = time.time() + 15
        while not ready.exists():
            if self.holder.poll() is not None or time.time() > end:
                raise RuntimeError(f"{tag}'s namespaces did not come up: "
                                   f"{self.holder.stderr.read().decode(errors='replace')}")
            time.sleep(0.01)
        self.pid = self.holder.pid
        self.netns = os.readlink(f"/proc/{self.pid}/ns/net")
        if self.netns == HOST_NETNS:
            raise RuntimeError(f"{tag}'s holder {self.pid} is in the host's network namespace")
        # Only an instance has a mount namespace of its own; the client shares the host's.
        self.mntns = os.readlink(f"/proc/{self.pid}/ns/mnt") if flags != ["-n"] else None
        if self.mntns == HOST_MNTNS:
            raise RuntimeError(f"{tag}'s holder {self.pid} is in the host's mount namespace")
        self.host_if = f"{PREFIX}{os.getpid()}{tag}{lab.n}"
        sh(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0",
            "netns", str(self.pid)])
        lab.cleanups.append(self.cut)
        sh(["ip", "link", "set", self.host_if, "master", lab.bridge, "up"])
        for argv in (["ip", "addr", "add", f"{addr}/24", "dev", "eth0"],
                     ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"]):
            sh(self.exec_argv(argv))

    def exec_argv(self, argv):
        """argv in this machine's network namespace (the host's filesystem)."""
        return ["nsenter", "-t", str(self.pid), "-n", "--"] + list(argv)

    def cut(self):
        """The machine's network is gone (deleting one end removes the pair)."""
        sh(["ip", "link", "del", self.host_if], check=False)

    def pids(self):
        """Every process of this machine: in its network namespace, or its own mount
        namespace.  Never one in both of the host's (a wrong namespace id must not
        turn "kill this machine" into "kill this host")."""
        pids = set(ns_pids("net", self.netns))
        if self.mntns is not None:
            pids |= set(ns_pids("mnt", self.mntns))
        return sorted(p for p in pids if p != os.getpid() and not _on_host(p))

    def _end(self):
        if self.holder.poll() is None:
            kill_pids(self.pids() + [self.holder.pid])
        self.holder.wait()
        self.holder.stderr.close()


class Instance(Machine):
    """One EC2 instance: its own network, IMDS and mount namespace."""

    def __init__(self, lab, tag, iid, addr):
        stage = Path(lab.tmp) / tag / "stage"
        stage.mkdir(parents=True)
        # blockns's ns-init builds the instance's /dev and /sys/class, then sleeps.
        super().__init__(lab, tag, addr, init=[PYTHON, blockns.HERE, "ns-init", str(stage), ""])
        self.iid = iid
        for d in ("etc-ganesha", "run", "srv", "var-lib-nfs"):
            (self.dir / d).mkdir()
        sh(self.exec_argv(["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"]))
        for src, dst in (("etc-ganesha", "/etc/ganesha"), ("run", "/run"), ("srv", "/srv"),
                         ("var-lib-nfs", "/var/lib/nfs")):
            sh(self.argv(["mount", "--bind", str(self.dir / src), dst]))
        self.write_ganesha_conf()
        # Where blockns's hook finds this instance (its format: see blockns.Instance).
        self.spec = Path(lab.reg) / "instances" / f"{iid}.json"
        self.spec.write_text(json.dumps({"pid": self.pid, "naming": "xen", "nvme_dir": None,
                                         "sd_links": False, "serials": {}}))
        lab.cleanups.append(lambda: self.spec.unlink(missing_ok=True))
        self.imds = self._start_imds()

    def write_ganesha_conf(self):
        # What the AMI ships: core parameters, and haboot's file included.
        (self.dir / "etc-ganesha" / "ganesha.conf").write_text(
            "NFS_CORE_PARAM {\n"
            f"\tProtocols = 4; NFS_Port = {NFS_PORT}; Bind_addr = 0.0.0.0;\n"
            "\tEnable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;\n"
            "}\n"
            "%include \"/etc/ganesha/haboot.conf\"\n")

    def _start_imds(self):
        ready = self.dir / "imds.port"
        env = {"PATH": HOST_PATH, "PYTHONPATH": str(TESTS)}
        with open(self.dir / "imds.err", "w") as err:
            p = subprocess.Popen(
                self.exec_argv([PYTHON, "-m", "sim", "imds", "--instance", self.iid, "--bind",
                                "169.254.169.254", "--port", "80", "--control", self.lab.sim_url,
                                "--ready-file", str(ready)]),
                env=env, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_die_with_parent)
        self.lab.procs.append(p)
        end = time.time() + 15
        while not ready.exists():
            if p.poll() is not None or time.time() > end:
                raise RuntimeError(f"{self.tag}'s IMDS did not start: "
                                   f"{(self.dir / 'imds.err').read_text()}")
            time.sleep(0.02)
        return p

    def argv(self, argv):
        """argv run inside this instance (its mount and network namespaces)."""
        return ["nsenter", "-t", str(self.pid), "-m", "-n", "--"] + list(argv)

    def path(self, p):
        """p as this instance sees it."""
        return f"/proc/{self.pid}/root{p}"

    @property
    def status_file(self):
        return self.dir / "run" / "haboot" / "status.json"

    def status(self):
        return json.loads(self.status_file.read_text()) if self.status_file.exists() else None

    def mounted(self, target=None):
        target = target or self.lab.mount
        try:
            with open(f"/proc/{self.pid}/mountinfo") as f:
                return any(line.split()[4] == target for line in f)
        except OSError:
            return False

    def boot(self):
        """Starts `haboot run` as the instance's first-boot job would: no -f, no keys."""
        env = {"PATH": HOST_PATH, "HOME": "/root", "LANG": "C.UTF-8",
               "AWS_ENDPOINT_URL": self.lab.sim_url,
               "HABOOT_CONSOLE": "/run/haboot/console"}
        out = open(self.dir / "haboot.log", "w")
        # The instance's /run is its own, its /var/lib the host's: the report
        # goes to /run only (haboot's standard place is /var/lib/haboot).
        p = subprocess.Popen(self.argv([HABOOT, "run", "--status-file", "/run/haboot/status.json"]),
                             env=env, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        out.close()
        p.t0 = self.lab.timeline.mark(self.tag, "haboot run starts")
        self.lab.procs.append(p)
        return p

    def wait_boot(self, p, timeout=120):
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"haboot run on {self.tag} did not finish in {timeout}s:\n"
                                 + self.log())
        self.lab.timeline.mark(self.tag, f"haboot run exits {p.returncode}")
        return BootResult(self, p.returncode, p.t0)

    def log(self):
        try:
            return (self.dir / "haboot.log").read_text()
        except OSError:
            return ""

    def crash(self, cut_link=True):
        """The machine stops dead: the link goes, disk writes stop, processes die.
        The link goes first: a machine that loses power sends nothing more, not
        even the resets its dying sockets would send, so clients see silence
        and must time out, as they do on EC2."""
        t = time.time()
        if cut_link:
            self.cut()
        if self.mounted():
            # Power cut for the disk: no journal flush, no unmount.
            sh(self.argv(["xfs_io", "-x", "-c", "shutdown", self.lab.mount]))
        kill_pids(self.pids())
        self.holder.wait()
        # The hook must not look for this machine's /dev any more.
        self.spec.unlink(missing_ok=True)
        return t


class BootResult:
    def __init__(self, inst, rc, t0):
        self.inst, self.rc, self.t0 = inst, rc, t0
        self.log = inst.log()
        self.status = inst.status()

    def module(self, name):
        return next(m for m in self.status["modules"] if m["name"] == name)

    @property
    def facts(self):
        return (self.status or {}).get("facts", {})

    def __repr__(self):
        return f"haboot on {self.inst.tag} rc={self.rc}\n" + self.log


class Client(Machine):
    """An NFS client; its "DNS" is the Route53 record in the sim."""

    def __init__(self, lab, addr):
        super().__init__(lab, "c", addr)
        self.src = self.dir / "src"
        self.src.mkdir()
        self.last_error = ""

    def resolve(self):
        zone = self.lab.sim.state()["zones"][ZONE]
        rec = next((r for r in zone["records"]
                    if r["name"] == self.lab.dns_name + "." and r["type"] == "A"), None)
        return rec["values"][0] if rec else None

    def url(self, addr, name):
        return f"nfs://{addr}{MOUNT}/{name}?version=4&nfsport={NFS_PORT}"

    def put(self, name, data, addr=None, timeout=5):
        """Writes data to the export through the name; True only if the server
        acknowledged it as stable (its COMMIT answered NFS4_OK): see nfs_put_main."""
        src = self.src / name
        src.write_bytes(data)
        try:
            r = subprocess.run(self.exec_argv([PYTHON, "-S", str(HERE), "nfs-put",
                                               self.url(addr or self.resolve(), name),
                                               str(src)]),
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.last_error = f"nfs-put timed out after {timeout}s"
            return False
        self.last_error = r.stderr.decode(errors="replace").strip()
        return r.returncode == 0

    def get(self, name, addr=None, timeout=5):
        """The file's bytes read over NFS, or None."""
        try:
            r = subprocess.run(self.exec_argv(["nfs-cat", self.url(addr or self.resolve(),
                                                                   name)]),
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.last_error = f"nfs-cat timed out after {timeout}s"
            return None
        self.last_error = r.stderr.decode(errors="replace").strip()
        return r.stdout if r.returncode == 0 else None

    def get_retrying(self, name, addr=None, until=30):
        """Reads, retrying while the server is in its grace period (NFS4ERR_GRACE)."""
        end = time.monotonic() + until
        while True:
            data = self.get(name, addr)
            if data is not None or time.monotonic() > end:
                return data
            time.sleep(0.2)


def payload(i):
    """File i's content: distinct, reproducible, 512..3900 bytes.  libnfs 4.0's NFSv4
    writes fail above 3967 bytes per call ("Failed to encode COMPOUND4args"), and
    nfs-cp writes a file in one call."""
    size = 512 + (i * 977) % 3389
    seed = hashlib.sha256(f"drill file {i}".encode()).digest()
    out = bytearray()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


# ---- the lab -------------------------------------------------------------------

class Lab:
    """The whole drill world; close() undoes everything, whatever state it is in."""

    count = 0
    # What a variant serves (test_drill_database.py's lab overrides them).
    mount = MOUNT
    dns_name = NAME

    def __init__(self, tmp, takeover="if-owner-gone", volume_timeout="60s", delays=None,
                 watch=None):
        # Everything under a folder naming this process, for stale_cleanup.
        self.tmp = str(Path(tmp) / f"drill-{os.getpid()}")
        os.makedirs(self.tmp)
        Lab.count += 1
        self.n = Lab.count  # names stay unique within one process
        self.cleanups, self.procs = [], []
        self.timeline = Timeline()
        self.takeover, self.volume_timeout = takeover, volume_timeout
        self.watch = watch  # the manifest's watch: settings, for haboot watch
        self.delays = dict(DELAYS, **(delays or {}))
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self):
        stale_cleanup()
        self.reg = blockns.make_registry(os.path.join(self.tmp, "reg"))
        net = free_subnet()
        self.bridge = f"{PREFIX}{os.getpid()}br{self.n}"
        sh(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.cleanups.append(lambda: sh(["ip", "link", "del", self.bridge], check=False))
        # A bridge takes the lowest MAC of its ports unless given one: when a dead
        # instance's port goes, its address would change under the neighbours'
        # caches and stall their traffic for seconds (TCP SYN retries).
        n = int(net.rsplit(".", 1)[1])
        sh(["ip", "link", "set", self.bridge, "address", f"02:00:0a:c8:{n:02x}:01"])
        sh(["ip", "addr", "add", f"{net}.1/24", "dev", self.bridge])
        sh(["ip", "link", "set", self.bridge, "up"])
        self.sim_addr = f"{net}.1"
        self._start_sim()
        self.volume_dev = self._make_volume()
        self.a = Instance(self, "a", A, f"{net}.11")
        self.b = Instance(self, "b", B, f"{net}.12")
        self.client = Client(self, f"{net}.20")
        self.net = net
        self.sim.seed(self.seed())

    def _start_sim(self):
        ready = Path(self.tmp) / "sim.port"
        self.sim_log = Path(self.tmp) / "sim.log"
        env = dict(os.environ, PYTHONPATH=str(TESTS))
        with open(Path(self.tmp) / "sim.err", "w") as err:
            p = subprocess.Popen([PYTHON, "-m", "sim", "serve", "--bind", self.sim_addr,
                                  "--port", "0", "--ready-file", str(ready),
                                  "--log", str(self.sim_log)],
                                 env=env, stdout=subprocess.DEVNULL, stderr=err,
                                 preexec_fn=_die_with_parent)
        self.sim_proc = p
        self.cleanups.append(self._stop_sim)
        end = time.time() + 20
        while not ready.exists():
            if p.poll() is not None or time.time() > end:
                raise RuntimeError(f"sim did not start: {(Path(self.tmp) / 'sim.err').read_text()}")
            time.sleep(0.02)
        self.sim_url = f"http://{self.sim_addr}:{int(ready.read_text())}"
        self.sim = SimClient(self.sim_url)

    def _stop_sim(self):
        if self.sim_proc.poll() is None:
            self.sim_proc.terminate()
            try:
                self.sim_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.sim_proc.kill()
                self.sim_proc.wait()

    def _make_volume(self):
        img = Path(self.tmp) / "volume.img"
        with open(img, "wb") as f:
            f.truncate(64 * 1024 * 1024)  # blank: all zeros
        for _ in range(20):
            r = sh(["losetup", "-f", "--show", str(img)], check=False)
            if r.returncode == 0:
                dev = r.stdout.strip()
                self.cleanups.append(lambda: self._detach_loop(dev))
                return dev
            time.sleep(0.2)  # another test took the free device first
        raise RuntimeError(f"losetup: {r.stderr}")

    def _detach_loop(self, dev):
        for _ in range(50):
            if sh(["losetup", "-d", dev], check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"cannot detach {dev}")

    def manifest(self):
        return (
            "#haboot\n"
            "version: 1\n"
            "name: nfs\n"
            "on_failure: mark-unhealthy\n"
            "deadline: 2m\n"
            + (f"watch: {{{self.watch}}}\n" if self.watch else "") +
            "modules:\n"
            "  - volume:\n"
            f"      id: {VOL}\n"
            "      device: /dev/sdf\n"
            f"      timeout: {self.volume_timeout}\n"
            f"      takeover: {self.takeover}\n"
            "  - filesystem:\n"
            f"      mountpoint: {MOUNT}\n"
            "      type: ext4\n"
            "      format: if-blank\n"
            "      fsck: true\n"
            "      options: [noatime]\n"
            f"      signature: {SIGNATURE}\n"
            "  - exports:\n"
            "      server: ganesha\n"
            "      exports:\n"
            f"        - {{path: {MOUNT}, clients: {self.net}.0/24, "
            "options: [rw, sync, no_root_squash]}\n"
            f"      restart: [{RESTART}]\n"
            "      lease: 5s\n"
            "      grace: 5s\n"
            f"      check: {{host: 127.0.0.1, port: {NFS_PORT}, timeout: 20s, "
            "log: /run/ganesha/ganesha.log}\n"
            "  - route53:\n"
            f"      zone: {ZONE_NAME}\n"
            f"      name: {NAME}\n"
            "      ttl: 60\n"
            "      value: local-ipv4\n"
            "      wait: insync\n"
            "  - notify:\n"
            f"      sns: {TOPIC}\n"
            "      metric: {namespace: HA/NFS, name: Healthy}\n")

    def seed(self):
        manifest = self.manifest()

        def inst(i, addr, mac):
            return {"az": AZ, "state": "running", "private_ip": addr, "mac": mac,
                    "iam_role": ROLE, "user_data": manifest, "asg": ASG}
        return {
            "region": "us-west-2", "account_id": "123456789012",
            "instances": {A: inst(A, self.a.addr, "0e:00:00:00:00:0a"),
                          B: inst(B, self.b.addr, "0e:00:00:00:00:0b")},
            "volumes": {VOL: {"az": AZ, "size": 1, "type": "gp3", "state": "available",
                              "tags": {"Name": "nfs-master-volume"},
                              "backing": self.volume_dev}},
            "zones": {ZONE: {"name": ZONE_NAME, "records": [
                {"name": self.dns_name, "type": "A", "ttl": 60, "values": ["10.10.10.9"]}]}},
            "topics": [TOPIC],
            "asgs": {ASG: {"instances": [A, B]}},
            "roles": {ROLE: {}},
            "attach_hook": [PYTHON, str(HERE), "hook", self.reg],
            "delays": self.delays,
        }

    # ---- evidence
    def requests(self, **kw):
        """The sim's request log; AWS rows get "instance": whose role keys signed them."""
        keys = {c["access_key"]: c.get("instance") for c in self.sim.state()["credentials"]}
        rows = self.sim.requests(**kw)
        for r in rows:
            if r.get("service") != "imds" and r.get("access_key") in keys:
                r["instance"] = keys[r["access_key"]]
        return rows

    def calls(self, iid, service="ec2", mutating=True):
        """iid's calls to an AWS service (None: all of them), oldest first, only the
        mutating ones by default."""
        rows = self.requests(service=service) if service else self.requests()
        return [r for r in rows if r.get("instance") == iid and r.get("service") != "imds" and
                not (mutating and str(r.get("action")).startswith(("Describe", "Get", "List")))]

    def needs_recovery(self):
        """True if the volume's ext4 journal holds transactions not yet applied:
        its last holder did not unmount it."""
        r = sh(["dumpe2fs", "-h", self.volume_dev], check=False)
        feats = next((l for l in r.stdout.splitlines() if l.startswith("Filesystem features:")), "")
        return "needs_recovery" in feats.split()

    def hooks(self):
        p = Path(self.reg) / "hook-times.jsonl"
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]

    def volume(self):
        return self.sim.volume(VOL)

    def attached_to(self):
        atts = self.volume().get("attachments") or []
        return [(a["instance"], a["state"]) for a in atts]

    def fs_uuid(self):
        r = sh(["blkid", "-p", "-s", "UUID", "-o", "value", self.volume_dev], check=False)
        return r.stdout.strip() or None

    def wait_device_free(self, timeout=10):
        """After a crash the dead namespace's mount goes away on its own; wait for it."""
        end = time.monotonic() + timeout
        while True:
            try:
                os.close(os.open(self.volume_dev, os.O_RDONLY | os.O_EXCL))
                return True
            except OSError:
                if time.monotonic() > end:
                    return False
                time.sleep(0.02)

    def released(self, inst):
        """A dead machine's mounts go with its last process; B must find the device free."""
        if not self.wait_device_free(5):
            raise RuntimeError(f"{self.volume_dev} still in use after {inst.tag} died")
        self.timeline.mark(inst.tag, "its mount of the volume is gone with it")

    def kill(self, inst):
        """inst dies without warning; EC2 learns it is gone (terminated) at once."""
        t = inst.crash()
        self.timeline.mark(inst.tag, "dies: link cut, disk frozen, processes killed", t)
        self.released(inst)
        self.sim.set_instance_state(inst.iid, "terminated")
        self.timeline.mark("ec2", f"{inst.iid} terminated; its volumes detach in "
                                  f"{self.delays['terminate_detach']}s")
        return t

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        errors = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep undoing: one failure must not leak the rest
                errors.append(repr(e))
        self.cleanups = []
        if errors:
            raise RuntimeError("drill cleanup: " + "; ".join(errors))

    # ---- the timeline
    def aws_waits(self, inst, status):
        """The intervals in which inst's haboot run waited on AWS state: a state it
        needed and had asked for (or was told to wait for) but AWS had not reached.

        - the volume attached to another instance (volume.previous_owner): from the
          volume module's start until EC2 detached it (the detach hook ended), or
          until the module gave up;
        - StopInstances: until the instance was due to be stopped (the sim's delay);
        - DetachVolume / AttachVolume: until the hook that flips the state ended;
        - ChangeResourceRecordSets: until the change was INSYNC.
        Everything else in the run (HTTP round trips, noticing a flipped state at
        the next poll, fsck, mount, starting ganesha, publishing) is haboot's own."""
        started, finished = iso_time(status["started"]), iso_time(status["finished"])
        vol = next((m for m in status["modules"] if m["name"] == "volume" and m["start"]), None)
        hooks = self.hooks()
        waits = []

        def hook_end(action, iid, after):
            ends = [h["end"] for h in hooks if h["action"] == action and
                    h["instance"] == iid and h["end"] >= after]
            return min(ends) if ends else None

        owner = status["facts"].get("volume.previous_owner")
        if vol and owner:
            v0 = iso_time(vol["start"])
            v1 = v0 + vol["duration_ms"] / 1000
            gone = hook_end("detach", owner, v0)
            waits.append((f"EC2 to free the volume from {owner}", v0,
                          min(gone, v1) if gone else v1))
        for r in self.calls(inst.iid, "ec2") + self.calls(inst.iid, "route53"):
            if not started - 0.5 <= r["time"] <= finished + 0.5 or r["status"] != 200:
                continue
            act, params = r.get("action"), r.get("params") or {}
            if act == "StopInstances":
                d = self.delays["stop_force" if params.get("Force") == "true" else "stop"]
                waits.append(("StopInstances until stopped", r["time"], r["time"] + d))
            elif act == "DetachVolume":
                end = hook_end("detach", params.get("InstanceId"), r["time"])
                if end:
                    waits.append(("DetachVolume until detached", r["time"], end))
            elif act == "AttachVolume":
                end = hook_end("attach", inst.iid, r["time"])
                if end:
                    waits.append(("AttachVolume until attached", r["time"], end))
        for c in self.sim.state()["changes"].values():
            if started <= c["submitted_at"] <= finished:
                waits.append(("Route53 change until INSYNC", c["submitted_at"], c["insync_at"]))
        return waits

    def report(self, title, t0, t0_what, boot, serving=None, dns=None):
        """One takeover's timeline and numbers, as printed lines (and a dict)."""
        st = boot.status
        started, finished = iso_time(st["started"]), iso_time(st["finished"])
        mods = st["modules"]
        waits = self.aws_waits(boot.inst, st)
        total = finished - started
        aws = union_length([(a, b) for _, a, b in waits], started, finished)
        who = boot.inst.tag
        tl = self.timeline
        tl.mark(who, "status: run started (manifest, metadata, credentials read)", started)
        for m in mods:
            if m["start"]:
                d = m["duration_ms"] / 1000
                tl.mark(who, f"{m['name']} {m['state']} ({d:.3f}s): {m['message'] or ''}",
                        iso_time(m["start"]) + d)
        for what, a, b in waits:
            tl.mark("aws", f"{what}: {b - a:.3f}s", b)
        for r in self.calls(boot.inst.iid, None):
            if r.get("service") != "imds":
                tl.mark("api", f"{who}: {r['service']} {r['action']} -> {r['status']}", r["time"])
        lines = [f"== drill: {title}", f"   t=0: {t0_what}"]
        lines += tl.render(t0)
        lines.append(f"   {who}'s modules (status file): " + ", ".join(
            f"{m['name']} {m['state']} {m['duration_ms'] / 1000:.3f}s" for m in mods))
        lines.append(f"   {who}'s haboot run (status file): {total:.3f}s = {aws:.3f}s waiting on "
                     f"AWS state + {total - aws:.3f}s haboot's own")
        for what, a, b in waits:
            lines.append(f"      waiting: {what} {b - a:.3f}s")
        out = {"total": total, "aws": aws, "own": total - aws}
        if dns is not None:
            out["dns"] = dns - t0
            lines.append(f"   DNS at {who}: {dns - t0:.3f}s after t=0")
        if serving is not None:
            out["serving"] = serving - t0
            exp = next((m for m in mods if m["name"] == "exports" and m["start"]), None)
            grace = ""
            if exp:
                ready = iso_time(exp["start"]) + exp["duration_ms"] / 1000
                grace = (f" ({serving - ready:.3f}s after its exports module: ganesha's "
                         "NFSv4 grace period, only reclaims allowed)")
            lines.append(f"   {who} serving (first client read through the name): "
                         f"{serving - t0:.3f}s after t=0{grace}")
            done = max(serving, dns or serving)
            out["takeover"] = done - t0
            lines.append(f"   TAKEOVER: {done - t0:.3f}s from t=0 to DNS at {who} and "
                         f"{who} serving")
        return lines, out


# ---- an NFS client that knows when a write is safe -----------------------------

def nfs_put_main(url, path):
    """Creates url with path's bytes; exit 0 only once the server said they are on
    stable storage.  nfs-cp will not do: libnfs 4.0 writes UNSTABLE4 and sends
    COMMIT with CLOSE, and nfs-cp ignores what nfs_close returns, so it exits 0
    for data a server crash then loses.  Here fsync (COMMIT) and close are
    checked, as an application calling fsync(2) on an NFS mount would."""
    import ctypes
    lib = ctypes.CDLL("libnfs.so.13", use_errno=True)

    class Url(ctypes.Structure):
        _fields_ = [("server", ctypes.c_char_p), ("path", ctypes.c_char_p),
                    ("file", ctypes.c_char_p)]
    lib.nfs_init_context.restype = ctypes.c_void_p
    lib.nfs_get_error.restype = ctypes.c_char_p
    lib.nfs_get_error.argtypes = [ctypes.c_void_p]
    lib.nfs_parse_url_full.restype = ctypes.POINTER(Url)
    lib.nfs_parse_url_full.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nfs_mount.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.nfs_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                               ctypes.POINTER(ctypes.c_void_p)]
    # libnfs 4.0's order: (nfs, fh, offset, count, buf); 6.0 swapped it.
    lib.nfs_pwrite.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64,
                               ctypes.c_uint64, ctypes.c_char_p]
    lib.nfs_fsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.nfs_close.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    with open(path, "rb") as f:
        data = f.read()
    nfs = lib.nfs_init_context()
    if not nfs:
        return "nfs_init_context failed"

    def err(what):
        return f"{what}: {lib.nfs_get_error(nfs).decode(errors='replace')}"
    u = lib.nfs_parse_url_full(nfs, url.encode())
    if not u:
        return err(f"bad url {url}")
    if lib.nfs_mount(nfs, u.contents.server, u.contents.path) != 0:
        return err("mount")
    fh = ctypes.c_void_p()
    # nfs_creat() opens for reading only over NFSv4 in libnfs 4.0 (NFS4ERR_OPENMODE).
    if lib.nfs_create(nfs, u.contents.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o660,
                      ctypes.byref(fh)) != 0:
        return err("create")
    if lib.nfs_pwrite(nfs, fh, 0, len(data), data) != len(data):
        return err("write")
    if lib.nfs_fsync(nfs, fh) != 0:
        return err("fsync (COMMIT)")
    if lib.nfs_close(nfs, fh) != 0:
        return err("close")
    return 0


# ---- the sim's attach hook, timed ----------------------------------------------

def hook_main(reg):
    start = time.time()
    rc = blockns.hook(reg)
    end = time.time()
    with open(os.path.join(reg, "hook-times.jsonl"), "a") as f:
        f.write(json.dumps({"action": os.environ.get("SIM_ACTION"),
                            "volume": os.environ.get("SIM_VOLUME_ID"),
                            "instance": os.environ.get("SIM_INSTANCE_ID"),
                            "start": start, "end": end, "rc": rc}) + "\n")
    return rc


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "hook":
        sys.exit(hook_main(sys.argv[2]))
    if len(sys.argv) == 4 and sys.argv[1] == "nfs-put":
        sys.exit(nfs_put_main(sys.argv[2], sys.argv[3]))
    sys.exit(f"usage: {sys.argv[0]} hook REGISTRY | nfs-put URL FILE")
