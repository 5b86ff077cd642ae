"""EC2 instances' views of their block devices, for the volume module's tests.

An Instance is a private mount namespace (a long-lived `unshare -m
--propagation private` process) standing for one EC2 instance.  In it:

- /dev is a tmpfs holding the basic character devices, /dev/disk/by-id, and
  the block device nodes the "hypervisor" adds on attach;
- /sys/class is a tmpfs with the host's classes bind-mounted back; on a Nitro
  instance its `nvme` is a prepared tree in a host directory, laid out as the
  kernel does it:

      nvme0/serial         vol0f00000000000000   (the root volume)
      nvme1/serial         vol073769c7           (the volume id without its dash)
      nvme1/model          Amazon Elastic Block Store
      nvme1/nvme1n1/dev    7:3                   (the loop device's MAJ:MIN)

The sim runs `blockns.py hook REGISTRY` as its attach hook (env SIM_ACTION,
SIM_VOLUME_ID, SIM_INSTANCE_ID, SIM_DEVICE, SIM_BACKING).  On attach it makes
the volume's loop device (SIM_BACKING) appear in the namespace of the instance
it is attached to, under the names EC2 gives it:

    xen:   /dev/xvdf for /dev/sdf
    nitro: /sys/class/nvme/nvmeN/..., /dev/nvmeNn1, udev's
           /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_volXXXX link and,
           with sd_links, Amazon Linux's /dev/sdf -> nvmeNn1 link

and removes them on detach.  A volume restored from a sim snapshot has an image
file as its backing: the hook puts a loop device over it on its first attach
(recorded in loops/VOL, reused on the next attach; release_loops() detaches
them).  To play a wrong disk, `serials` gives a volume
another serial and `nodes` points its /dev/nvmeNn1 at another device.  Instances the registry does not know (an old owner
the test only seeds in the sim) are left alone.  Nothing is ever created in the
host's /dev or /sys: the hook reaches a namespace's files through /proc/PID/root.
"""
import ctypes
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

PYTHON = "/usr/bin/python3"
HERE = os.path.abspath(__file__)
BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"
CHAR_DEVS = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
             "urandom": (1, 9), "tty": (5, 0)}
ROOT_SERIAL = "vol0f00000000000000"  # the root volume's controller on a Nitro instance
MS_BIND, MS_REC, MS_NOSUID = 4096, 16384, 2
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def serial_of(volume_id):
    """EBS puts the volume id, without its dash, in the NVMe serial."""
    return "vol" + volume_id[len("vol-"):]


def _mount(src, target, fstype=None, flags=0, data=None):
    if _libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None,
                   ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {src} on {target}: {os.strerror(e)}")


def _umount(target):
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"umount {target}: {os.strerror(e)}")


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a killed pytest leaves no namespace


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


# ---- inside the new namespace (run by unshare) ------------------------------

def ns_init(stage, nvme_dir, ready):
    """Builds the namespace's /sys/class and /dev, then becomes `sleep`."""
    # Keep the host's classes reachable through `stage` while /sys/class is covered.
    _mount("/sys/class", stage, flags=MS_BIND | MS_REC)
    _mount("hb-sysclass", "/sys/class", "tmpfs", MS_NOSUID, "mode=0755,size=1m")
    for c in sorted(os.listdir(stage)):
        if c == "nvme":
            continue  # this instance's NVMe controllers are the prepared tree alone
        os.mkdir(f"/sys/class/{c}")
        _mount(f"{stage}/{c}", f"/sys/class/{c}", flags=MS_BIND | MS_REC)
    _umount(stage)
    if nvme_dir:
        os.mkdir("/sys/class/nvme")
        _mount(nvme_dir, "/sys/class/nvme", flags=MS_BIND)
    _mount("hb-dev", "/dev", "tmpfs", MS_NOSUID, "mode=0755,size=4m")
    for name, (ma, mi) in CHAR_DEVS.items():
        os.mknod(f"/dev/{name}", stat.S_IFCHR | 0o666, os.makedev(ma, mi))
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{name}")
    os.makedirs("/dev/disk/by-id")
    os.mkdir("/dev/shm")
    _write(ready, "ok\n")
    os.execvp("sleep", ["sleep", "infinity"])


# ---- the test side ------------------------------------------------------------

class Instance:
    """One simulated EC2 instance's mount namespace; naming is "xen" or "nitro"."""

    def __init__(self, registry, iid, naming="xen", sd_links=False, serials=None, nodes=None):
        self.iid, self.naming, self.registry = iid, naming, registry
        self.dir = os.path.join(registry, "ns", iid)
        os.makedirs(self.dir)
        stage = os.path.join(self.dir, "stage")
        os.mkdir(stage)
        self.nvme_dir = None
        if naming == "nitro":
            self.nvme_dir = os.path.join(self.dir, "sys-class-nvme")
            os.mkdir(self.nvme_dir)
            # The root volume: on Nitro every EBS volume is an NVMe controller.
            add_controller(self.nvme_dir, 0, ROOT_SERIAL, "259:0")
        elif naming != "xen":
            raise ValueError(f"naming must be xen or nitro, not {naming}")
        ready = os.path.join(self.dir, "ready")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "--", PYTHON, HERE, "ns-init",
             stage, self.nvme_dir or "", ready], preexec_fn=_die_with_parent,
            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.time() + 10
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > end:
                self.proc.kill()
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"namespace for {iid} did not come up: {err}")
            time.sleep(0.01)
        self.pid = self.proc.pid
        _write(os.path.join(registry, "instances", iid + ".json"), json.dumps({
            "pid": self.pid, "naming": naming, "nvme_dir": self.nvme_dir,
            "sd_links": sd_links, "serials": serials or {}, "nodes": nodes or {}}))

    def path(self, p):
        """p as this instance sees it."""
        return f"/proc/{self.pid}/root{p}"

    def argv(self, argv):
        return ["nsenter", "-t", str(self.pid), "-m", "--"] + list(argv)

    def mounts(self):
        out = []
        with open(f"/proc/{self.pid}/mountinfo") as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-")
                out.append({"dev": fields[2], "target": fields[4], "fstype": fields[sep + 1],
                            "source": fields[sep + 2]})
        return out

    def block_nodes(self):
        """{name: "MAJ:MIN"} of the block devices and links in this instance's /dev."""
        out = {}
        for top, dirs, files in os.walk(self.path("/dev")):
            for name in files + dirs:
                p = os.path.join(top, name)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                if stat.S_ISBLK(st.st_mode):
                    rel = p[len(self.path("")):]
                    out[rel] = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        return out

    def close(self, under=None):
        """Unmounts what a run mounted under `under`, then ends the namespace."""
        if self.proc.poll() is None:
            if under:
                for m in reversed(self.mounts()):
                    if m["target"].startswith(under):
                        subprocess.run(self.argv(["umount", "-l", m["target"]]),
                                       capture_output=True)
            self.proc.kill()
        self.proc.wait()
        self.proc.stderr.close()
        try:
            os.unlink(os.path.join(self.registry, "instances", self.iid + ".json"))
        except FileNotFoundError:
            pass


def add_controller(nvme_dir, index, serial, majmin):
    """An NVMe controller with one namespace, as sysfs shows it."""
    ctrl = os.path.join(nvme_dir, f"nvme{index}")
    os.makedirs(os.path.join(ctrl, f"nvme{index}n1"))
    _write(os.path.join(ctrl, "serial"), serial + "\n")
    _write(os.path.join(ctrl, "model"), "Amazon Elastic Block Store\n")
    _write(os.path.join(ctrl, f"nvme{index}n1", "dev"), majmin + "\n")
    return ctrl


def make_registry(root):
    """A directory the hook and the tests share: instances/ID.json, attached/ID@VOL.json,
    loops/VOL (the loop device over a restored volume's image)."""
    for d in ("instances", "attached", "ns", "loops"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    return root


def hook_argv(registry):
    return [PYTHON, HERE, "hook", registry]


# ---- the sim's attach hook ------------------------------------------------------

def _rdev(path):
    st = os.stat(path)
    if not stat.S_ISBLK(st.st_mode):
        raise RuntimeError(f"{path} is not a block device")
    return st.st_rdev


def loop_for(reg, vol, image):
    """The loop device over a volume's image file: made once, then reused."""
    rec = os.path.join(reg, "loops", vol)
    if os.path.exists(rec):
        with open(rec) as f:
            dev = f.read().strip()
        r = subprocess.run(["losetup", "-n", "-O", "BACK-FILE", dev], capture_output=True,
                           text=True)
        if r.returncode == 0 and os.path.realpath(r.stdout.strip()) == os.path.realpath(image):
            return dev
    for _ in range(20):
        r = subprocess.run(["losetup", "-f", "--show", image], capture_output=True, text=True)
        if r.returncode == 0:
            _write(rec, r.stdout.strip() + "\n")
            return r.stdout.strip()
        time.sleep(0.2)  # another test took the free device first
    raise RuntimeError(f"losetup {image}: {r.stderr}")


def release_loops(reg):
    """Detaches the loop devices the hook made over restored volumes' images."""
    d = os.path.join(reg, "loops")
    for vol in os.listdir(d) if os.path.isdir(d) else []:
        with open(os.path.join(d, vol)) as f:
            dev = f.read().strip()
        for _ in range(50):
            if subprocess.run(["losetup", "-d", dev], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        os.unlink(os.path.join(d, vol))


def _attach(reg, inst, vol, device, backing):
    if os.path.isfile(backing):
        backing = loop_for(reg, vol, backing)
    rdev = _rdev(backing)
    majmin = f"{os.major(rdev)}:{os.minor(rdev)}"
    root = f"/proc/{inst['pid']}/root"
    made = {"nodes": [], "controllers": []}
    if inst["naming"] == "xen":
        # The Xen block front end names sdX as xvdX.
        node = "/dev/xvd" + device[len("/dev/sd"):] if device.startswith("/dev/sd") else device
        os.mknod(root + node, stat.S_IFBLK | 0o660, rdev)
        made["nodes"].append(node)
    else:
        n = 1
        while os.path.exists(os.path.join(inst["nvme_dir"], f"nvme{n}")):
            n += 1
        serial = inst["serials"].get(vol, serial_of(vol))
        made["controllers"].append(add_controller(inst["nvme_dir"], n, serial, majmin))
        node = f"/dev/nvme{n}n1"
        # `nodes` makes the node another device's (a stale node left behind).
        os.mknod(root + node, stat.S_IFBLK | 0o660, _rdev(inst["nodes"].get(vol, backing)))
        made["nodes"].append(node)
        link = BY_ID + serial  # udev names the link by the serial the device reports
        os.symlink(f"../../nvme{n}n1", root + link)
        made["nodes"].append(link)
        if inst["sd_links"] and device.startswith("/dev/sd"):
            os.symlink(f"nvme{n}n1", root + device)  # Amazon Linux's ebsnvme-id rule
            made["nodes"].append(device)
    _write(os.path.join(reg, "attached", f"{inst_id()}@{vol}.json"), json.dumps(made))
    print(f"attach {vol} to {inst_id()}: {made} ({majmin})")


def _detach(reg, inst, vol):
    rec = os.path.join(reg, "attached", f"{inst_id()}@{vol}.json")
    if not os.path.exists(rec):
        print(f"detach {vol} from {inst_id()}: nothing was made")
        return
    with open(rec) as f:
        made = json.load(f)
    root = f"/proc/{inst['pid']}/root"
    for node in made["nodes"]:
        try:
            os.unlink(root + node)
        except FileNotFoundError:
            pass
    for ctrl in made["controllers"]:
        shutil.rmtree(ctrl, ignore_errors=True)
    os.unlink(rec)
    print(f"detach {vol} from {inst_id()}: removed {made}")


def inst_id():
    return os.environ["SIM_INSTANCE_ID"]


def hook(reg):
    action, vol = os.environ["SIM_ACTION"], os.environ["SIM_VOLUME_ID"]
    spec = os.path.join(reg, "instances", inst_id() + ".json")
    if not os.path.exists(spec):
        print(f"{action} {vol}: instance {inst_id()} has no namespace here")
        return 0
    with open(spec) as f:
        inst = json.load(f)
    if action == "attach":
        _attach(reg, inst, vol, os.environ["SIM_DEVICE"], os.environ["SIM_BACKING"])
    else:
        _detach(reg, inst, vol)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "ns-init":
        ns_init(*sys.argv[2:5])
    elif sys.argv[1] == "hook":
        sys.exit(hook(sys.argv[2]))
    else:
        sys.exit(f"usage: {sys.argv[0]} hook REGISTRY | ns-init STAGE NVME_DIR READY")
