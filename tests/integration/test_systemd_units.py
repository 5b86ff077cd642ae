"""The systemd units in contrib/systemd pass `systemd-analyze verify` (which
works without systemd running: it catches unknown keys, bad values and an
ExecStart that is not there), installed as a package installs them: in a
root whose /usr/sbin/haboot is the binary just built, beside the host's
systemd units.  And they say what haboot relies on: the boot job is a
oneshot after network-online.target; the watcher is Type=notify with a
watchdog, restarts on failure and needs the boot job.  A unit with a typo
fails the same verification, so the check is live.
"""
import configparser
import glob
import os
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNITS = os.path.join(REPO, "contrib", "systemd")
HABOOT = os.path.abspath(os.environ.get("HABOOT", os.path.join(REPO, "build", "haboot")))
SYSTEM_UNITS = "/usr/lib/systemd/system"

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or not os.path.isdir(SYSTEM_UNITS),
    reason="needs systemd-analyze and the systemd package's units")


def make_root(tmp_path, units):
    root = tmp_path / "root"
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "usr" / "lib" / "systemd").mkdir(parents=True)
    shutil.copytree(SYSTEM_UNITS, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    shutil.copy(HABOOT, root / "usr" / "sbin" / "haboot")
    for u in units:
        shutil.copy(u, root / "usr" / "lib" / "systemd" / "system" / os.path.basename(u))
    return root


def verify(root, name):
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", name],
                          capture_output=True, text=True, timeout=60)


def unit(name):
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str
    p.read(os.path.join(UNITS, name))
    return p


def test_every_unit_verifies(tmp_path):
    units = sorted(glob.glob(os.path.join(UNITS, "*.service")))
    assert [os.path.basename(u) for u in units] == ["haboot-release.service",
                                                    "haboot-watch.service", "haboot.service"]
    root = make_root(tmp_path, units)
    for u in units:
        r = verify(root, os.path.basename(u))
        assert r.returncode == 0 and r.stdout + r.stderr == "", (u, r.stdout + r.stderr)


def test_a_broken_unit_fails_verification(tmp_path):
    broken = tmp_path / "haboot.service"
    text = open(os.path.join(UNITS, "haboot.service")).read()
    broken.write_text(text.replace("ExecStart=/usr/sbin/haboot run",
                                   "ExecStart=/usr/sbin/haboot-missing run\nTypo=1"))
    root = make_root(tmp_path, [str(broken)])
    r = verify(root, "haboot.service")
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "haboot-missing" in out, out


def test_the_units_say_what_haboot_relies_on():
    boot = unit("haboot.service")
    assert boot["Service"]["Type"] == "oneshot"
    assert boot["Service"]["RemainAfterExit"] == "yes"
    assert boot["Service"]["ExecStart"] == "/usr/sbin/haboot run"
    assert "network-online.target" in boot["Unit"]["After"].split()
    assert "network-online.target" in boot["Unit"]["Wants"].split()
    watch = unit("haboot-watch.service")
    s = watch["Service"]
    assert s["Type"] == "notify" and s["NotifyAccess"] == "main"
    assert s["ExecStart"] == "/usr/sbin/haboot watch"
    assert s["Restart"] == "on-failure" and s["WatchdogSec"]
    assert "haboot.service" in watch["Unit"]["After"].split()
    assert "haboot.service" in watch["Unit"]["Requires"].split()
    # A daemon the service module started lives in the unit's cgroup: stopping
    # or restarting haboot must not kill it (it is stopped by release).
    assert boot["Service"]["KillMode"] == "process" and s["KillMode"] == "process"
    # The NFS servers' units are off at boot: haboot starts them after the mount.
    preset = open(os.path.join(UNITS, "80-haboot.preset")).read().splitlines()
    assert "disable nfs-ganesha.service" in preset and "disable nfs-server.service" in preset
    assert "enable haboot.service" in preset and "enable haboot-watch.service" in preset
    assert "enable haboot-release.service" in preset
    # No unit orders a server after haboot: its restart command, run inside
    # haboot.service, would wait for haboot.service to finish (a deadlock).
    for path in glob.glob(os.path.join(UNITS, "**", "*"), recursive=True):
        if os.path.isfile(path) and not path.endswith("haboot-watch.service"):
            lines = [l.strip() for l in open(path) if not l.lstrip().startswith("#")]
            assert not [l for l in lines if l.startswith("After=") and "haboot" in l], path
