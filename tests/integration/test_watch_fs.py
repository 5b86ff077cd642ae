"""haboot watch and the filesystem, on the whole instance (watchworld):

- remounted read-only (no error): detected, remounted read-write;
- ext4 turned itself read-only after an error (errors=remount-ro): detected,
  never remounted read-write (it wants fsck), the instance asks to be
  replaced;
- the device hangs (the filesystem frozen: writers wait in the kernel, as on
  a hung EBS volume): the write probe times out in its child, the watcher
  goes on with its rounds, and sees the filesystem healthy again once it
  thaws;
- unmounted (with the server stopped): mounted again from the same device,
  then the server restarted: clients read again.

Needs root, util-linux (fsfreeze), e2fsprogs, nfs-ganesha and libnfs-utils.
"""
import os
import signal
import subprocess
import time

import pytest

from nfsfixture import missing_tools
from simfixture import shared_sim
from watchworld import SELF, VOL_SIG, World, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(bool(missing_tools("ganesha.nfsd", "nfs-cat", "losetup", "unshare",
                                          "nsenter", "mkfs.ext4", "fsfreeze")),
                       reason="needs nfs-ganesha, libnfs-utils, util-linux, e2fsprogs"),
]


@pytest.fixture
def world(tmp_path, tmp_path_factory, request):
    kw = getattr(request, "param", {})
    w = World(tmp_path, shared_sim(tmp_path_factory), **kw)
    try:
        yield w
    finally:
        w.close()


def mount_of(w):
    found = [m for m in w.inst.mounts() if m["target"] == w.mnt]
    return found[-1] if found else None


def super_options(w):
    """The mount's options and its superblock's, from mountinfo."""
    with open(f"/proc/{w.inst.pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == w.mnt:
                sep = fields.index("-")
                return fields[5], fields[sep + 3]
    return None, None


def read_only(opts):
    """ext4 after an error: "ro" in the superblock's options, or, since Linux
    6.x, "emergency_ro" beside "rw"."""
    return bool({"ro", "emergency_ro"} & set((opts or "").split(",")))


def test_remounted_read_only_is_caught_and_remounted(world):
    w = world
    w.run()
    w.start_watch()
    w.wait_state("healthy", 60)
    subprocess.run(w.inst.argv(["mount", "-o", "remount,ro", w.mnt]), check=True)
    wait_for(lambda: "read-only" in (w.module("filesystem").get("message") or ""), 30,
             "the read-only mount to be seen")
    # Repaired: read-write again, one repair, no replacement asked.
    wait_for(lambda: w.module("filesystem").get("restarts_total") == 1 and
             w.module("filesystem").get("health") == "ok", 30, "the remount")
    assert super_options(w)[0].split(",")[0] == "rw"
    assert "remounted" in w.output() and "read-write" in w.output()
    w.wait_state("healthy", 30)
    assert w.calls("autoscaling") == []
    assert w.restarts() == 1, "the NFS server did not need a restart"


@pytest.mark.parametrize("world", [{"fs_options": ("noatime", "errors=remount-ro")}],
                         indirect=True)
def test_ext4_read_only_after_errors_is_never_remounted(world):
    """ext4 with errors=remount-ro found an error and turned itself read-only:
    remounting it read-write would write on a filesystem that wants fsck.
    The watcher says so and asks for a new instance (whose boot runs fsck)."""
    w = world
    w.run()
    w.start_watch()
    w.wait_state("healthy", 60)
    st = os.stat(w.loop)
    name = os.path.basename(os.path.realpath(f"/sys/dev/block/{os.major(st.st_rdev)}:"
                                             f"{os.minor(st.st_rdev)}"))
    trigger = f"/sys/fs/ext4/{name}/trigger_fs_error"
    if not os.path.exists(trigger):
        pytest.skip(f"{trigger}: this kernel cannot inject an ext4 error")
    with open(trigger, "w") as f:
        f.write("1\n")
    wait_for(lambda: read_only(super_options(w)[1]), 10, "ext4 to go read-only")
    w.wait_state("gave-up", 60)
    fs = w.module("filesystem")
    assert "read-only after 1 filesystem error" in fs["message"], fs
    assert "wants e2fsck" in fs["message"]
    assert "remount,rw" not in w.output(), "a filesystem with errors was remounted read-write"
    assert read_only(super_options(w)[1])
    assert fs["restarts_total"] == 0
    assert "only a new instance can help" in w.state()["verdict"]
    assert [x["health_status"] for x in w.c.state()["asg_health"]] == ["Unhealthy"]


@pytest.mark.parametrize("world", [{"watch": "interval: 1s, failures: 3, restarts: 1, "
                                             "backoff: 0s, heartbeat: 5s, api_interval: 1m"}],
                         indirect=True)
def test_a_hung_device_never_hangs_the_watcher(world):
    """Frozen, the filesystem blocks every writer in the kernel, as a hung
    EBS volume does.  The probe's child blocks, the check fails with
    "hangs" after its deadline, and the watcher's rounds go on (its state
    file keeps moving); once thawed, the check passes again."""
    w = world
    w.run()
    w.start_watch()
    w.wait_state("healthy", 60)
    frozen = False
    try:
        subprocess.run(w.inst.argv(["fsfreeze", "-f", w.mnt]), check=True)
        frozen = True
        wait_for(lambda: "hangs" in (w.module("filesystem").get("message") or ""), 40,
                 "the hung device to be seen")
        rounds = w.state()["rounds"]
        wait_for(lambda: w.state()["rounds"] >= rounds + 3, 30,
                 "more rounds while the device hangs")
        assert w.watcher.poll() is None
        assert "has not come back" in w.output() or "did not finish" in w.output()
    finally:
        if frozen:
            subprocess.run(w.inst.argv(["fsfreeze", "-u", w.mnt]), check=True)
    wait_for(lambda: w.module("filesystem").get("health") == "ok", 40, "healthy after thaw")
    assert w.module("filesystem")["restarts_total"] == 0


def test_an_unmounted_volume_is_mounted_again_and_served(world):
    w = world
    w.run()
    with open(w.in_mnt("kept.txt"), "w") as f:
        f.write("still here\n")
    w.start_watch()
    w.wait_state("healthy", 60)
    # Someone stops the server and unmounts the volume (cleanly).
    w.g.stop()
    subprocess.run(w.inst.argv(["umount", w.mnt]), check=True)
    wait_for(lambda: w.module("filesystem").get("restarts_total") == 1, 60,
             "the filesystem's repair")
    w.wait_state("healthy", 60)
    m = mount_of(w)
    assert m and m["source"] == "/dev/xvdf", w.inst.mounts()
    assert w.module("exports")["restarts_total"] == 1
    assert "e2fsck" in w.output() and "mkfs" not in w.output()
    cat = w.nfs_cat("kept.txt")
    assert cat.returncode == 0 and cat.stdout == "still here\n", cat.stderr
    assert os.path.exists(w.in_mnt(VOL_SIG))
    assert w.calls("autoscaling") == []
    # The repair proved the volume afresh first (INVARIANT 2: same device only).
    assert "not repairing" not in w.output()
    assert SELF in open(w.in_mnt(".haboot/generation")).read()


def test_a_repair_never_formats(world):
    """INVARIANT 1/9: the volume was unmounted and its bytes zeroed (the
    filesystem gone).  The repair may mount it again, never format it: a
    blank device where the filesystem was is a failure every instance would
    repeat, so the watcher halts and alerts, and the bytes stay zero."""
    w = world
    w.run()
    w.start_watch()
    w.wait_state("healthy", 60)
    w.g.stop()
    subprocess.run(w.inst.argv(["umount", w.mnt]), check=True)
    MiB = 1024 * 1024
    with open(w.loop, "r+b") as f:
        f.seek(0, 2)
        end = f.tell()
        f.seek(0)
        f.write(b"\0" * MiB)
        f.seek(end - MiB)
        f.write(b"\0" * MiB)
        f.flush()
        os.fsync(f.fileno())
    w.wait_state("halted", 60)
    fs = w.module("filesystem")
    assert "is blank now" in fs["message"] and "never formats" in fs["message"], fs
    assert "mkfs" not in w.output()
    with open(w.loop, "rb") as f:
        assert f.read(MiB).count(0) == MiB, "the device was written"
    assert w.calls("autoscaling") == []
    assert mount_of(w) is None
