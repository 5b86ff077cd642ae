"""The filesystem module on real block devices (loop devices over image files).

Every haboot run and every mount happens inside a private mount namespace the
test creates (`unshare -m --propagation private`), entered with nsenter; Python
reaches files under the namespace's mounts through /proc/PID/root.  Nothing
mounted here is visible outside, and teardown unmounts, ends the namespace and
detaches the loop devices.

Needs root, losetup, e2fsprogs and xfsprogs.
"""
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import time
import uuid
import zlib

import pytest

import nfsfixture

HABOOT = os.path.abspath(os.environ.get("HABOOT", "build/haboot"))
MiB = 1024 * 1024

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, mount)"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in
            ("losetup", "unshare", "nsenter", "mkfs.ext4", "e2fsck", "debugfs",
             "mkfs.xfs", "xfs_repair", "xfs_io", "mkswap")),
        reason="needs util-linux, e2fsprogs and xfsprogs"),
]

# Never let haboot reach for a real metadata service.
HB_ENV = dict(os.environ, AWS_EC2_METADATA_DISABLED="true",
              AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9",
              AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="test",
              AWS_REGION="us-east-1")


# ---- a private mount namespace ---------------------------------------------

class Namespace(nfsfixture.Namespace):
    """nfsfixture's namespace, plus what these tests read of its mount table."""

    def mounts(self):
        out = []
        with open(f"/proc/{self.proc.pid}/mountinfo") as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-")
                out.append({"dev": fields[2], "target": fields[4], "opts": fields[5],
                            "fstype": fields[sep + 1], "source": fields[sep + 2]})
        return out

    def mounted_at(self, target):
        found = [m for m in self.mounts() if m["target"] == target]
        return found[-1] if found else None

    def close(self, under):
        for m in reversed(self.mounts()):
            if m["target"].startswith(under):
                self.run(["umount", "-l", m["target"]], check=False)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def majmin(dev):
    st = os.stat(dev)
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def all_zeros(path):
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            if chunk.count(0) != len(chunk):
                return False
    return True


class World:
    """One test's namespace, images, loop devices and haboot runs."""

    def __init__(self, tmp):
        self.tmp = str(tmp)
        self.mnt = os.path.join(self.tmp, "mnt", "nfs")
        self.status = os.path.join(self.tmp, "status.json")
        self.loops = []
        self.ns = Namespace()

    def image(self, name, size):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def attach(self, img):
        for _ in range(5):
            r = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
            if r.returncode == 0:
                dev = r.stdout.strip()
                self.loops.append(dev)
                return dev
            time.sleep(0.2)  # another test took the free device first
        raise RuntimeError(f"losetup failed: {r.stderr}")

    def detach(self, dev):
        for _ in range(50):
            if subprocess.run(["losetup", "-d", dev], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        self.loops.remove(dev)

    def manifest(self, dev, *, fstype="ext4", fmt="if-blank", fsck=True,
                 options=("noatime",), name="fs.yaml"):
        path = os.path.join(self.tmp, name)
        opts = f"      options: [{', '.join(options)}]\n" if options else ""
        with open(path, "w") as f:
            f.write(
                "#haboot\nversion: 1\nname: fstest\nmodules:\n  - filesystem:\n"
                f"      device: {dev}\n      mountpoint: {self.mnt}\n      type: {fstype}\n"
                f"      format: {fmt}\n      fsck: {'true' if fsck else 'false'}\n"
                f"{opts}      signature: .NFSMASTER\n")
        return path

    def haboot(self, manifest, instance="i-first", cmd="run"):
        if os.path.exists(self.status):
            os.unlink(self.status)
        argv = [HABOOT, cmd, "-f", manifest, "--metadata", f"instance-id={instance}"]
        if cmd == "run":
            argv += ["--status-file", self.status]
        r = self.ns.run(argv, check=False, env=HB_ENV)
        r.report = None
        if cmd == "run" and os.path.exists(self.status):
            with open(self.status) as f:
                r.report = json.load(f)
        return r

    def in_mnt(self, rel=""):
        return self.ns.path(os.path.join(self.mnt, rel))

    def close(self):
        self.ns.close(self.tmp)
        for dev in list(self.loops):
            self.detach(dev)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def message(r):
    return r.report["modules"][0]["message"] if r.report else ""


def write_data(w):
    """Files a service would have written; returns name -> sha256."""
    sums = {}
    os.makedirs(w.in_mnt("data/sub"), exist_ok=True)
    for i, size in enumerate((1, 4096, 3 * MiB + 17)):
        rel = f"data/sub/file{i}" if i else "data/file0"
        blob = os.urandom(size)
        with open(w.in_mnt(rel), "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        sums[rel] = hashlib.sha256(blob).hexdigest()
    return sums


def read_sums(w, sums):
    return {rel: sha256_file(w.in_mnt(rel)) for rel in sums}


def generation(w):
    with open(w.in_mnt(".haboot/generation")) as f:
        return json.load(f)


def populated_image(w, name, size=64 * MiB, signature=False, fstype="ext4"):
    """A filesystem holding data (mkfs -d / mkfs.xfs -p), built before attaching."""
    src = os.path.join(w.tmp, name + ".src")
    os.makedirs(os.path.join(src, "db"))
    with open(os.path.join(src, "db", "table"), "wb") as f:
        f.write(os.urandom(256 * 1024))
    if signature:
        open(os.path.join(src, ".NFSMASTER"), "w").close()
    img = w.image(name, size)
    if fstype == "ext4":
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", src, img], check=True)
    else:
        proto = os.path.join(w.tmp, name + ".proto")
        with open(proto, "w") as f:
            f.write(f"/dev/null\n0 0\nd--755 0 0\ndb d--755 0 0\n"
                    f"table ---644 0 0 {os.path.join(src, 'db', 'table')}\n$\n$\n")
        subprocess.run(["mkfs.xfs", "-q", "-f", "-p", proto, img], check=True)
    return img


def write_gpt(img, size):
    """A real GPT (protective MBR, header and entries with CRCs, backup) with one
    Linux partition: what a disk partitioned by hand looks like."""
    n = size // 512
    entry = (uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4").bytes_le + uuid.uuid4().bytes_le
             + struct.pack("<QQQ", 2048, n - 34, 0) + "data".encode("utf-16-le").ljust(72, b"\0"))
    entries = entry.ljust(128 * 128, b"\0")
    ecrc = zlib.crc32(entries)
    disk = uuid.uuid4().bytes_le

    def header(cur, backup, elba):
        h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, cur, backup, 34,
                        n - 34, disk, elba, 128, 128, ecrc)
        return h[:16] + struct.pack("<I", zlib.crc32(h)) + h[20:]

    mbr = bytearray(512)
    mbr[446:462] = struct.pack("<BBBBBBBBII", 0, 0, 2, 0, 0xEE, 0xFF, 0xFF, 0xFF, 1,
                               min(n - 1, 0xFFFFFFFF))
    mbr[510:512] = b"\x55\xaa"
    with open(img, "r+b") as f:
        f.write(mbr)
        f.seek(512)
        f.write(header(1, n - 1, 2))
        f.seek(1024)
        f.write(entries)
        f.seek((n - 33) * 512)
        f.write(entries)
        f.seek((n - 1) * 512)
        f.write(header(n - 1, 1, n - 33))


# ---- first boot, re-run, takeover -----------------------------------------

def test_first_boot_formats_a_blank_volume(world):
    """Invariant 5 at birth: a blank volume becomes ext4 with its signature and
    generation 1, mounted read-write with the manifest's options."""
    img = world.image("vol.img", 64 * MiB)
    dev = world.attach(img)
    r = world.haboot(world.manifest(dev))
    assert r.returncode == 0, r.stderr
    assert "mkfs.ext4 -q -L haboot " + dev in r.stderr
    m = world.ns.mounted_at(world.mnt)
    assert m is not None and m["dev"] == majmin(dev) and m["fstype"] == "ext4"
    assert m["opts"].split(",")[0] == "rw" and "noatime" in m["opts"].split(",")
    assert os.path.isfile(world.in_mnt(".NFSMASTER"))
    gen = generation(world)
    assert gen["counter"] == 1 and gen["instance"] == "i-first"
    assert gen["previous_instance"] is None
    facts = r.report["facts"]
    assert facts["filesystem.generation"] == "1"
    assert facts["filesystem.previous_holder"] == "none"
    assert facts["filesystem.type"] == "ext4"
    assert facts["filesystem.signature"] == os.path.join(world.mnt, ".NFSMASTER")
    assert facts["filesystem.device"] == dev
    blkid = subprocess.run(["blkid", "-p", "-s", "UUID", "-o", "value", dev],
                           capture_output=True, text=True)
    assert facts["filesystem.uuid"] == blkid.stdout.strip()
    assert r.report["modules"][0]["changed"] is True
    assert "generation 1" in message(r)


def test_rerun_and_takeover_keep_the_data(world):
    """Invariants 1 and 5: a volume holding data is never formatted again (data
    checksummed before and after), a converged re-run changes nothing and keeps
    the generation, and a takeover by another instance bumps it to 2 and names
    the previous holder."""
    img = world.image("vol.img", 64 * MiB)
    dev = world.attach(img)
    manifest = world.manifest(dev)
    assert world.haboot(manifest).returncode == 0
    sums = write_data(world)
    uuid_before = subprocess.run(["blkid", "-p", "-s", "UUID", "-o", "value", dev],
                                 capture_output=True, text=True).stdout.strip()
    gen_stat = os.stat(world.in_mnt(".haboot/generation"))

    r = world.haboot(manifest)
    assert r.returncode == 0, r.stderr
    assert "already mounted" in message(r)
    assert r.report["modules"][0]["changed"] is False
    assert "filesystem: running" not in r.stderr  # no mkfs, no fsck, no mount
    assert generation(world)["counter"] == 1
    assert os.stat(world.in_mnt(".haboot/generation")).st_mtime_ns == gen_stat.st_mtime_ns
    assert r.report["facts"]["filesystem.generation"] == "1"
    assert read_sums(world, sums) == sums

    world.ns.run(["umount", world.mnt])
    r = world.haboot(manifest, instance="i-other")
    assert r.returncode == 0, r.stderr
    assert "mkfs" not in r.stderr
    assert "e2fsck -p " + dev in r.stderr
    assert "previous holder i-first" in r.stderr
    gen = generation(world)
    assert gen["counter"] == 2 and gen["instance"] == "i-other"
    assert gen["previous_instance"] == "i-first"
    assert r.report["facts"]["filesystem.generation"] == "2"
    assert r.report["facts"]["filesystem.previous_holder"] == "i-first"
    assert r.report["facts"]["filesystem.uuid"] == uuid_before
    assert read_sums(world, sums) == sums


def test_xfs_takeover_after_a_crash_replays_the_log(world):
    """The usual failover: the last owner died with the xfs volume mounted, so
    its log is dirty and xfs_repair -n cannot judge it.  haboot replays the log
    with one read-only mount, checks again, and takes over with the data intact."""
    img = world.image("vol.img", 320 * MiB)
    dev = world.attach(img)
    manifest = world.manifest(dev, fstype="xfs")
    r = world.haboot(manifest)
    assert r.returncode == 0, r.stderr
    assert "mkfs.xfs -q -L haboot " + dev in r.stderr
    m = world.ns.mounted_at(world.mnt)
    assert m["fstype"] == "xfs" and "noatime" in m["opts"].split(",")
    sums = write_data(world)
    world.ns.run(["xfs_io", "-x", "-c", "shutdown -f", world.mnt])
    world.ns.run(["umount", world.mnt])
    dirty = subprocess.run(["xfs_repair", "-n", dev], capture_output=True, text=True)
    assert dirty.returncode != 0 and "log" in dirty.stdout + dirty.stderr

    r = world.haboot(manifest, instance="i-second")
    assert r.returncode == 0, r.stderr + message(r)
    assert "log" in r.stderr and "dirty" in r.stderr
    assert read_sums(world, sums) == sums
    assert generation(world)["counter"] == 2


# ---- refusals: invariants 1 and 4 -----------------------------------------

def blkid_tags(dev):
    r = subprocess.run(["blkid", "-p", "-o", "export", dev], capture_output=True, text=True)
    return dict(l.split("=", 1) for l in r.stdout.split() if "=" in l)


@pytest.mark.parametrize("fstype,fsck", [("ext4", False), ("xfs", True)])
def test_data_without_signature_is_refused_untouched(world, fstype, fsck):
    """Invariants 4 and 1: a volume with data but no signature file is mounted
    read-only only to look, unmounted, and never formatted or written.
    ext4: the whole image's checksum is unchanged (fsck: false, because e2fsck -p
    bumps the superblock's lifetime-write counter even on a clean filesystem).
    xfs writes its log's unmount record and superblock even on a read-only mount,
    so there the test proves the filesystem (UUID, label) and the data's bytes
    survive, with fsck: true (xfs_repair -n never writes)."""
    img = populated_image(world, "data.img", 320 * MiB if fstype == "xfs" else 64 * MiB,
                          fstype=fstype)
    with open(os.path.join(world.tmp, "data.img.src", "db", "table"), "rb") as f:
        blob = f.read()
    before = sha256_file(img)
    dev = world.attach(img)
    tags = blkid_tags(dev)
    r = world.haboot(world.manifest(dev, fstype=fstype, fsck=fsck))
    assert r.returncode == 1
    assert r.report["modules"][0]["state"] == "failed"
    # What is missing, and how to fix it: not "the wrong volume".
    assert (f"the signature file .NFSMASTER is missing on {dev}, so haboot will not serve it "
            "(the file says the volume holds this service's data); unmounted, nothing "
            f"exported.  To fix: if {dev} holds this service's data, create the file on it "
            f"after checking: mount {dev} {world.mnt}; ls {world.mnt}; touch "
            f"{world.mnt}/.NFSMASTER; umount {world.mnt}; then run haboot again") in message(r)
    assert "not the volume you expect" not in message(r)
    # Mounted read-only to look, then unmounted: nothing changed.
    assert r.report["modules"][0]["changed"] is False
    # Every new instance would find the same volume: no replacement loop.
    assert r.report["modules"][0]["failure_scope"] == "anywhere"
    assert world.ns.mounted_at(world.mnt) is None
    assert "mkfs" not in r.stderr
    assert "remount" not in r.stderr  # never made writable
    assert "filesystem.generation" not in r.report["facts"]
    assert blkid_tags(dev) == tags
    world.detach(dev)
    if fstype == "ext4":
        assert sha256_file(img) == before
    else:
        with open(img, "rb") as f:
            assert blob in f.read()


def test_signature_gone_on_a_mounted_volume_stops(world):
    """Invariant 4 on a converged instance: the signature disappeared while the
    volume was mounted; haboot stops (nothing exported) and, since this run did
    not mount it, leaves it mounted for the operator."""
    dev = world.attach(world.image("vol.img", 64 * MiB))
    manifest = world.manifest(dev)
    assert world.haboot(manifest).returncode == 0
    os.unlink(world.in_mnt(".NFSMASTER"))
    r = world.haboot(manifest)
    assert r.returncode == 1
    assert (f"the signature file .NFSMASTER is missing on {dev}, so haboot will not serve it"
            in message(r))
    # It stays mounted: the fix needs no mount.
    assert (f"To fix: if {dev} holds this service's data, create the file on it after checking: "
            f"ls {world.mnt}; touch {world.mnt}/.NFSMASTER; then run haboot again") in message(r)
    assert world.ns.mounted_at(world.mnt) is not None


def _foreign_xfs(w, img, size):
    subprocess.run(["mkfs.xfs", "-q", "-f", "-L", "other", img], check=True)


def _foreign_swap(w, img, size):
    subprocess.run(["mkswap", "-q", img], check=True, capture_output=True)


def _foreign_gpt(w, img, size):
    write_gpt(img, size)


def _foreign_dos(w, img, size):
    with open(img, "r+b") as f:
        f.seek(446)
        f.write(struct.pack("<BBBBBBBBII", 0x80, 0, 2, 0, 0x83, 0xFF, 0xFF, 0xFF, 2048,
                            size // 512 - 2048))
        f.seek(510)
        f.write(b"\x55\xaa")


def _foreign_luks(w, img, size):
    with open(img, "r+b") as f:
        f.write(b"LUKS\xba\xbe\x00\x01aes".ljust(512, b"\0"))


def _foreign_bytes(w, img, size):
    # A page of someone's data in the middle of the first MiB.
    with open(img, "r+b") as f:
        f.seek(600 * 1024)
        f.write(b"\x01" + os.urandom(4095))


def _foreign_tail(w, img, size):
    # Only the last MiB holds data (a GPT backup, an md superblock...).
    with open(img, "r+b") as f:
        f.seek(size - 300 * 1024)
        f.write(b"\x01")


@pytest.mark.parametrize("make,expect", [
    (_foreign_xfs, "holds an xfs filesystem (label other"),
    (_foreign_swap, "holds a swap area (swap)"),
    (_foreign_gpt, "holds a GPT partition table (gpt)"),
    (_foreign_dos, "holds an MBR (dos) partition table (dos)"),
    (_foreign_luks, "holds a LUKS encrypted volume (crypto_LUKS)"),
    (_foreign_bytes, "is not blank: it holds unrecognised data (first non-zero byte at "
                     "offset 614400)"),
    (_foreign_tail, "is not blank: it holds unrecognised data"),
], ids=["xfs", "swap", "gpt", "dos", "luks", "bytes", "tail"])
def test_foreign_content_is_never_formatted(world, make, expect):
    """Invariant 1: with format: if-blank and type: ext4, a device holding another
    filesystem, a partition table, any signature or any non-zero byte in its first
    or last MiB is refused: not formatted, not mounted, the image unchanged."""
    size = 320 * MiB if make is _foreign_xfs else 64 * MiB
    img = world.image("foreign.img", size)
    make(world, img, size)
    before = sha256_file(img)
    dev = world.attach(img)
    r = world.haboot(world.manifest(dev))
    assert r.returncode == 1
    assert expect in message(r), message(r)
    assert "refusing to mount or format it" in message(r)
    assert "mkfs" not in r.stderr
    assert world.ns.mounted_at(world.mnt) is None
    world.detach(dev)
    assert sha256_file(img) == before


def test_ext4_volume_with_type_xfs_is_refused(world):
    """Invariant 1 the other way round: type: xfs on an ext4 volume is refused,
    never reformatted to xfs."""
    img = populated_image(world, "ext.img", signature=True)
    before = sha256_file(img)
    dev = world.attach(img)
    r = world.haboot(world.manifest(dev, fstype="xfs"))
    assert r.returncode == 1
    assert "holds an ext4 filesystem" in message(r) and ", not xfs" in message(r)
    world.detach(dev)
    assert sha256_file(img) == before


def test_blank_volume_with_format_never_is_refused(world):
    """Invariant 1's twin: format: never on a blank device refuses to mount an
    empty volume (the service would start on nothing); the device stays all zeros."""
    img = world.image("blank.img", 64 * MiB)
    dev = world.attach(img)
    r = world.haboot(world.manifest(dev, fmt="never"))
    assert r.returncode == 1
    assert (f"{dev} is blank and format=never: refusing to mount an empty volume "
            "(set format: if-blank to initialise it)") in message(r)
    assert world.ns.mounted_at(world.mnt) is None
    world.detach(dev)
    assert all_zeros(img)


def test_fsck_with_uncorrectable_errors_stops(world):
    """fsck: true: two files claiming the same blocks (mount would accept it,
    e2fsck -p will not fix it unattended) stop the run before anything is mounted."""
    img = populated_image(world, "bad.img", signature=True)
    src = os.path.join(world.tmp, "bad.img.src", "db", "table")
    # Point a second file's extent at the first file's blocks.
    subprocess.run(["debugfs", "-w", "-R", f"write {src} /twin", img], check=True,
                   capture_output=True)
    st = subprocess.run(["debugfs", "-R", "stat /db/table", img], check=True,
                        capture_output=True, text=True).stdout
    start = int(st.split("EXTENTS:")[1].split(":")[1].split("-")[0])
    for cmd in (f"sif /twin block[5] {start}", "ssv state 0"):
        subprocess.run(["debugfs", "-w", "-R", cmd, img], check=True, capture_output=True)
    dev = world.attach(img)
    r = world.haboot(world.manifest(dev, fmt="never"))
    assert r.returncode == 1
    assert "e2fsck -p found errors on " + dev in message(r)
    assert "nothing mounted" in message(r)
    assert world.ns.mounted_at(world.mnt) is None


# ---- the mount table ------------------------------------------------------

def test_something_else_mounted_at_the_mountpoint(world):
    """Another filesystem on the mountpoint is named and left alone."""
    dev = world.attach(world.image("vol.img", 64 * MiB))
    os.makedirs(world.mnt)
    world.ns.run(["mount", "-t", "tmpfs", "hbtmp", world.mnt])
    r = world.haboot(world.manifest(dev))
    assert r.returncode == 1
    assert f"{world.mnt} already has hbtmp (tmpfs" in message(r)
    assert world.ns.mounted_at(world.mnt)["fstype"] == "tmpfs"


def test_device_mounted_elsewhere(world):
    """The device mounted at another place: refused, not mounted twice."""
    img = populated_image(world, "vol.img", signature=True)
    dev = world.attach(img)
    other = os.path.join(world.tmp, "elsewhere")
    os.makedirs(other)
    world.ns.run(["mount", "-t", "ext4", dev, other])
    r = world.haboot(world.manifest(dev))
    assert r.returncode == 1
    assert f"{dev} is already mounted at {other}" in message(r)
    assert world.ns.mounted_at(world.mnt) is None


def test_left_read_only_by_an_interrupted_run(world):
    """A run that stopped after its read-only look: the next run proves the
    signature and remounts read-write, without a second mount."""
    img = populated_image(world, "vol.img", signature=True)
    dev = world.attach(img)
    os.makedirs(world.mnt)
    world.ns.run(["mount", "-t", "ext4", "-o", "ro", dev, world.mnt])
    r = world.haboot(world.manifest(dev))
    assert r.returncode == 0, r.stderr
    assert f"mount -o remount,rw {world.mnt}" in r.stderr
    assert "e2fsck" not in r.stderr
    assert world.ns.mounted_at(world.mnt)["opts"].split(",")[0] == "rw"
    assert [m["target"] for m in world.ns.mounts()].count(world.mnt) == 1
    assert generation(world)["counter"] == 1


def test_no_device_at_all(world):
    """No volume module and no device: key: a clear error, nothing touched."""
    path = os.path.join(world.tmp, "nodev.yaml")
    with open(path, "w") as f:
        f.write(f"version: 1\nname: fstest\nmodules:\n  - filesystem:\n"
                f"      mountpoint: {world.mnt}\n      signature: .NFSMASTER\n")
    r = world.haboot(path)
    assert r.returncode == 1
    assert "no device to mount" in message(r)


def test_corrupt_generation_record_stops(world):
    """Invariant 5: a generation record that cannot be read is not silently
    restarted at 1."""
    dev = world.attach(world.image("vol.img", 64 * MiB))
    manifest = world.manifest(dev)
    assert world.haboot(manifest).returncode == 0
    with open(world.in_mnt(".haboot/generation"), "w") as f:
        f.write("{not json")
    r = world.haboot(manifest, instance="i-other")
    assert r.returncode == 1
    assert "is not a haboot generation record" in message(r)


# ---- plan ----------------------------------------------------------------

def test_plan_shows_the_steps_and_changes_nothing(world):
    """plan reads the device (a read changes nothing), prints the mkfs and mount
    steps, and performs none of them: the image stays all zeros, nothing mounted."""
    img = world.image("blank.img", 64 * MiB)
    dev = world.attach(img)
    r = world.haboot(world.manifest(dev), cmd="plan")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "holds nothing (blank" in out
    assert f"run   mkfs.ext4 -q -L haboot {dev}" in out
    assert f"run   mount -t ext4 -o noatime,ro {dev} {world.mnt}" in out
    assert f"write {world.mnt}/.NFSMASTER" in out
    assert "nothing was changed" in out
    assert world.ns.mounted_at(world.mnt) is None
    assert not os.path.exists(world.mnt)
    world.detach(dev)
    assert all_zeros(img)


def test_plan_predicts_a_refusal(world):
    """plan on a device run would refuse says so, and exits 1."""
    img = world.image("swap.img", 64 * MiB)
    _foreign_swap(world, img, 64 * MiB)
    dev = world.attach(img)
    r = world.haboot(world.manifest(dev), cmd="plan")
    assert r.returncode == 1
    assert "cannot plan" in r.stdout and "swap area" in r.stdout
    assert "mkfs" not in r.stdout
