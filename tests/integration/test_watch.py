"""haboot watch with a real NFS-Ganesha on a real loop-device filesystem: the
reference's second failure case, "the instance is fine but NFS is not
running".  The watcher notices, restarts the server with the manifest's
command, and a real NFS client reads again."""
import json
import os
import signal
import subprocess
import time

import pytest

from nfsfixture import HB_ENV, HABOOT, count_runs, free_port, haboot
from test_exports_ganesha import VOL_SIG, Ganesha, nfs, url, volume  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, mounts)"),
]


def wait_for(cond, timeout, what, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Watcher:
    def __init__(self, ns, man, status):
        self.log = open(os.path.join(os.path.dirname(status), "watch.log"), "w+")
        self.proc = subprocess.Popen(ns.argv([HABOOT, "watch", "-f", man, "--status-file",
                                              status]),
                                     stdout=self.log, stderr=subprocess.STDOUT, env=HB_ENV)
        self.state_path = os.path.join(os.path.dirname(status), "watch.json")

    def state(self):
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.log.close()
        return rc


def test_watch_restarts_a_killed_nfs_server(tmp_path, volume):
    ns, vol = volume
    g = Ganesha(tmp_path, free_port())
    status = str(tmp_path / "status.json")
    man = tmp_path / "nfs.yaml"
    man.write_text(g.manifest(f"        - {{path: {vol}, clients: [127.0.0.1], "
                              "options: [rw, no_root_squash]}\n")
                   .replace("modules:\n", "watch: {interval: 1s, failures: 2, backoff: 0s}\n"
                            "modules:\n"))
    w = None
    try:
        r = haboot(["run", "-f", str(man), "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        assert count_runs(g.runs) == 1
        w = Watcher(ns, str(man), status)
        wait_for(lambda: (w.state() or {}).get("state") == "healthy", 30, "a healthy round")
        r0 = w.state()["rounds"]
        os.kill(g.pid(), signal.SIGKILL)
        # Noticed within two intervals: by the round after the one under way.
        failed = wait_for(lambda: next((m for m in (w.state() or {}).get("modules", [])
                                        if m["name"] == "exports" and m["failed_round"]), None),
                          30, "the failed check", every=0.05)
        assert failed["failed_round"] <= r0 + 2, (failed, r0)
        assert "NFS NULL call" in failed["message"], failed
        wait_for(lambda: count_runs(g.runs) == 2, 30, "the watcher's restart")
        cat = nfs(["nfs-cat", url(g.port, vol + "/" + VOL_SIG)])
        assert cat.returncode == 0, cat.stderr
        wait_for(lambda: (w.state() or {}).get("state") == "healthy", 30, "healthy again")
        exports = next(m for m in w.state()["modules"] if m["name"] == "exports")
        assert exports["restarts_total"] == 1
        assert w.stop() == 0
        assert w.state()["state"] == "stopping"
        st = haboot(["status", "--status-file", status])
        assert st.returncode == 0, st.stderr
        assert "watch     stopping" in st.stdout
        js = json.loads(haboot(["status", "--json", "--status-file", status]).stdout)
        assert js["outcome"] == "ok" and js["watch"]["state"] == "stopping"
    finally:
        if w is not None and w.proc.poll() is None:
            w.stop()
        g.stop()


def test_watch_refuses_a_service_run_did_not_bring_up(tmp_path):
    man = tmp_path / "m.yaml"
    man.write_text("version: 1\nname: nfs\nmodules:\n  - exports:\n"
                   f"      config: {tmp_path}/x.conf\n      signature: .S\n"
                   f"      exports: [{{path: {tmp_path}, clients: \"*\"}}]\n"
                   "      restart: [\"true\"]\n")
    status = tmp_path / "status.json"
    r = haboot(["watch", "-f", str(man), "--status-file", str(status),
                "--metadata", "instance-id=i-1"])
    assert r.returncode == 3
    assert "no report" in r.stderr
    status.write_text(json.dumps({"service": "nfs", "instance": "i-1", "outcome": "failed",
                                  "facts": {}}))
    r = haboot(["watch", "-f", str(man), "--status-file", str(status),
                "--metadata", "instance-id=i-1"])
    assert r.returncode == 3
    assert "its last run failed" in r.stderr
    status.write_text(json.dumps({"service": "other", "instance": "i-1", "outcome": "ok",
                                  "facts": {}}))
    r = haboot(["watch", "-f", str(man), "--status-file", str(status),
                "--metadata", "instance-id=i-1"])
    assert r.returncode == 3
    assert 'reports service "other"' in r.stderr


def test_watch_speaks_sd_notify(tmp_path, volume):
    """Under systemd (Type=notify, WatchdogSec): READY once the first round is
    done, STATUS with the state, WATCHDOG pings, STOPPING on SIGTERM, all as
    datagrams to $NOTIFY_SOCKET, with no libsystemd."""
    import socket
    ns, vol = volume
    g = Ganesha(tmp_path, free_port())
    status = str(tmp_path / "status.json")
    man = tmp_path / "nfs.yaml"
    man.write_text(g.manifest(f"        - {{path: {vol}, clients: [127.0.0.1], "
                              "options: [rw, no_root_squash]}\n")
                   .replace("modules:\n", "watch: {interval: 2s}\nmodules:\n"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(30)
    p = None
    try:
        r = haboot(["run", "-f", str(man), "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        env = dict(HB_ENV, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
        p = subprocess.Popen(ns.argv([HABOOT, "watch", "-f", str(man), "--status-file", status]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        got = []
        while not any(m == "READY=1" for m in got):
            got.append(sock.recv(4096).decode())
        assert any(m.startswith("STATUS=healthy") for m in got) or \
            sock.recv(4096).decode().startswith("STATUS=healthy")
        # The watchdog (1s) is fed between rounds (2s apart): at least twice a round.
        t0, pings = time.monotonic(), 0
        while time.monotonic() - t0 < 4:
            pings += sock.recv(4096).decode() == "WATCHDOG=1"
        assert pings >= 4, pings
        p.send_signal(signal.SIGTERM)
        while sock.recv(4096).decode() != "STOPPING=1":
            pass
        assert p.wait(timeout=30) == 0
    finally:
        if p is not None and p.poll() is None:
            p.kill()
        sock.close()
        g.stop()
