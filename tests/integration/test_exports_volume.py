"""Invariant 4 with the filesystem module in front: exports serves only what
lies on the volume the filesystem module mounted and proved by its signature.

A blank loop device is formatted and mounted by the filesystem module inside
a private mount namespace; the exports module (ganesha backend, restart script
that only records, a listener for the readiness check) then runs on its facts.
Needs root, losetup, e2fsprogs.
"""
import os
import subprocess
import time

import pytest

from nfsfixture import (Listener, Namespace, count_runs, haboot, missing_tools, module_status,
                        recording_script)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, mounts)"),
    pytest.mark.skipif(bool(missing_tools("losetup", "unshare", "nsenter", "mkfs.ext4")),
                       reason="needs util-linux and e2fsprogs"),
]


@pytest.fixture
def world(tmp_path):
    img = tmp_path / "vol.img"
    with open(img, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    for _ in range(5):
        r = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
        if r.returncode == 0:
            break
        time.sleep(0.2)  # another test took the free device first
    assert r.returncode == 0, r.stderr
    dev = r.stdout.strip()
    ns = Namespace()
    lis = Listener()
    try:
        yield ns, dev, lis
    finally:
        lis.close()
        mnt = str(tmp_path / "mnt")
        for line in reversed(open(f"/proc/{ns.proc.pid}/mountinfo").read().splitlines()):
            target = line.split()[4]
            if target.startswith(mnt):
                ns.run(["umount", "-l", target], check=False)
        ns.close()
        subprocess.run(["losetup", "-d", dev], check=False)


def manifest(tmp_path, dev, port, export):
    mnt = tmp_path / "mnt" / "nfs"
    runs = str(tmp_path / "runs")
    script = recording_script(str(tmp_path / "restart.sh"), runs)
    man = tmp_path / "nfs.yaml"
    man.write_text(
        "version: 1\nname: nfs\nmodules:\n"
        f"  - filesystem:\n      device: {dev}\n      mountpoint: {mnt}\n"
        "      type: ext4\n      format: if-blank\n      signature: .NFSMASTER\n"
        f"  - exports:\n      server: ganesha\n      config: {tmp_path}/haboot.conf\n"
        f"      restart: [{script}]\n"
        f"      check: {{port: {port}, timeout: 2s, log: {tmp_path}/none.log}}\n"
        f"      exports:\n        - {{path: {export}, clients: \"*\", options: [rw]}}\n")
    return str(man), str(mnt), runs


def run(ns, man, tmp_path):
    status = str(tmp_path / "status.json")
    r = haboot(["run", "-f", man, "--metadata", "instance-id=i-first", "--status-file", status],
               ns=ns)
    return r, status


def test_exports_the_volume_the_filesystem_module_proved(tmp_path, world):
    ns, dev, lis = world
    man, mnt, runs = manifest(tmp_path, dev, lis.port, tmp_path / "mnt" / "nfs")
    r, status = run(ns, man, tmp_path)
    assert r.returncode == 0, r.stderr
    assert count_runs(runs) == 1
    with open(tmp_path / "haboot.conf") as f:
        assert f'RecoveryRoot = "{mnt}/.haboot/nfs-recovery";' in f.read()
    assert os.path.isdir(ns.path(f"{mnt}/.haboot/nfs-recovery"))
    assert module_status(status)["state"] == "ok"


def test_path_beside_the_volume_is_refused_by_validate(tmp_path, world):
    """Written outside the mountpoint: refused before anything runs."""
    ns, dev, lis = world
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / ".NFSMASTER").write_text("a signature on the root disk proves nothing\n")
    man, mnt, runs = manifest(tmp_path, dev, lis.port, other)
    r, status = run(ns, man, tmp_path)
    assert r.returncode == 2
    assert f"export path {other} is outside the filesystem module's mountpoint {mnt}" in r.stderr
    assert not os.path.exists(tmp_path / "haboot.conf") and count_runs(runs) == 0
    assert ns.run(["findmnt", mnt], check=False).returncode != 0  # nothing was mounted


def test_path_that_leaves_the_volume_through_a_link_is_refused(tmp_path, world):
    """Written under the mountpoint, but a symlink there points off the volume:
    only the run can see it, and the run refuses it (invariant 4)."""
    ns, dev, lis = world
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / ".NFSMASTER").write_text("a signature on the root disk proves nothing\n")
    man, mnt, runs = manifest(tmp_path, dev, lis.port, tmp_path / "mnt" / "nfs")
    r, _ = run(ns, man, tmp_path)
    assert r.returncode == 0, r.stderr
    ns.run(["ln", "-s", str(other), f"{mnt}/link"])
    os.unlink(tmp_path / "haboot.conf")
    man, mnt, runs = manifest(tmp_path, dev, lis.port, f"{mnt}/link")
    r, status = run(ns, man, tmp_path)
    assert r.returncode == 1
    assert f"export path {mnt}/link (manifest line 16) is not on the volume mounted at {mnt}" \
        in r.stderr
    assert not os.path.exists(tmp_path / "haboot.conf") and count_runs(runs) == 1


def test_other_filesystem_mounted_inside_the_volume_is_refused(tmp_path, world):
    ns, dev, lis = world
    man, mnt, runs = manifest(tmp_path, dev, lis.port, tmp_path / "mnt" / "nfs")
    r, _ = run(ns, man, tmp_path)
    assert r.returncode == 0, r.stderr
    os.makedirs(ns.path(f"{mnt}/sub"))
    ns.run(["mount", "-t", "tmpfs", "tmpfs", f"{mnt}/sub"])
    os.unlink(tmp_path / "haboot.conf")
    man, mnt, runs = manifest(tmp_path, dev, lis.port, f"{mnt}/sub")
    r, _ = run(ns, man, tmp_path)
    assert r.returncode == 1
    assert "is not on the volume mounted at" in r.stderr
    assert not os.path.exists(tmp_path / "haboot.conf") and count_runs(runs) == 1
