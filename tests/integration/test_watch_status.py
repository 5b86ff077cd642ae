"""haboot status with a watcher: its state, each module's last check (time,
result, how long it took), the restarts used; as text and under "watch" in
--json; written atomically (a new file renamed over the old, never a torn
one), while the watcher runs and after it stopped.

Needs root, util-linux, e2fsprogs, nfs-ganesha and libnfs-utils.
"""
import datetime
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from nfsfixture import HABOOT, HB_ENV, missing_tools
from simfixture import shared_sim
from watchworld import SELF, World, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(bool(missing_tools("ganesha.nfsd", "nfs-cat", "losetup", "unshare",
                                          "nsenter", "mkfs.ext4")),
                       reason="needs nfs-ganesha, libnfs-utils, util-linux, e2fsprogs"),
]


def status(w, *args, rc=0):
    """haboot status; its exit is 1 once the watcher gave up (haboot(8))."""
    r = subprocess.run([HABOOT, "status", "--status-file", w.status, *args],
                       capture_output=True, text=True, timeout=30, env=HB_ENV)
    assert r.returncode == rc, (r.returncode, r.stderr)
    return r.stdout


def iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def test_status_shows_the_watcher_and_is_written_atomically(tmp_path, tmp_path_factory):
    w = World(tmp_path, shared_sim(tmp_path_factory),
              watch="interval: 1s, failures: 2, restarts: 0, heartbeat: 5s, api_interval: 5s")
    torn, reads = [], [0]
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                with open(w.state_path) as f:
                    text = f.read()
            except OSError:
                continue
            try:
                json.loads(text)
                reads[0] += 1
            except ValueError:
                torn.append(text)

    try:
        w.run()
        w.start_watch()
        w.wait_state("healthy", 60)
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        # Each round replaces the file (rename): the inode changes, the text is whole.
        inodes = set()
        end = time.monotonic() + 6
        while time.monotonic() < end:
            try:
                inodes.add(os.stat(w.state_path).st_ino)
            except OSError:
                pass
            time.sleep(0.05)
        assert len(inodes) >= 3, inodes

        text = status(w)
        assert "outcome" in text or "ok" in text          # the run's report first
        assert "watch     healthy (Healthy=1), pid " in text, text
        lines = {l.split()[0]: l for l in text.splitlines() if l and l.split()[0] in
                 ("volume", "filesystem", "exports", "route53", "notify")}
        for name in ("volume", "filesystem", "exports", "route53"):
            cols = lines[name].split()
            assert cols[1] == "ok", lines[name]
            assert time.time() - iso(cols[2]) < 30, lines[name]   # when it was checked
            assert cols[4] == "0/0", lines[name]                  # restarts used/allowed
        assert "nothing to check" in [l for l in text.splitlines()
                                      if l.startswith("notify")][-1]
        js = json.loads(status(w, "--json"))
        assert js["outcome"] == "ok" and js["instance"] == SELF
        wj = js["watch"]
        assert wj["state"] == "healthy" and wj["healthy"] is True and wj["pid"] > 0
        mods = {m["name"]: m for m in wj["modules"]}
        assert mods["exports"]["health"] == "ok" and mods["exports"]["at"]
        assert mods["notify"]["checked"] is False and mods["notify"]["health"] is None
        assert wj["restarts_allowed"] == 0 and wj["interval_ms"] == 1000

        # The NFS server dies; no repair is allowed: the watcher gives up at once.
        os.kill(w.g.pid(), signal.SIGKILL)
        w.wait_state("gave-up", 60)
        text = status(w, rc=1)
        assert "watch     gave-up (Healthy=0)" in text, text
        assert "verdict   exports: " in text and "no repair is allowed" in text, text
        assert f"policy    {SELF} set Unhealthy" in text, text
        line = [l for l in text.splitlines() if l.startswith("exports")][-1]
        assert "failed" in line and "failing since" in line, line
        wj = json.loads(status(w, "--json", rc=1))["watch"]
        exp = [m for m in wj["modules"] if m["name"] == "exports"][0]
        assert exp["failures_in_a_row"] >= 2 and exp["failing_since"] and exp["failed_round"]

        stop.set()
        t.join(5)
        assert torn == [] and reads[0] > 50, (len(torn), reads[0])
        assert w.stop_watch() == 0
        assert "watch     stopping" in status(w)
    finally:
        stop.set()
        w.close()
