"""The service module with a real PostgreSQL from Debian's package.

The filesystem module formats a blank loop device and mounts it in a private
mount namespace; the service module gives the data directory on it to the
postgres user, runs initdb there once (the volume is blank), starts postgres
as a daemon detached from haboot, and proves it ready with a real query
(psql -c "select 1").  Then the failure cases: a start command that fails, a
readiness timeout, and a service that dies under `haboot watch` (restarted,
then, when it dies again past the budget, the watcher gives up and the sim
records SetInstanceHealth Unhealthy).

Then `haboot release` (releaselab's instance: the sim, the volume attached
and detached for real): PostgreSQL is stopped cleanly before the unmount and
the next run needs no crash recovery; a PostgreSQL that will not stop fails
the release at service and leaves the filesystem mounted and the volume
attached (DESIGN.md 6).

Needs root, util-linux, e2fsprogs, PostgreSQL (postgresql package) and its
postgres user.
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import blockns
import pgfixture
from hbrun import INSTANCE, METADATA, mutating_route53
from nfsfixture import HABOOT, HB_ENV, haboot, module_status
from pgfixture import SIGNATURE, flow, pid_alive, wait_for
from releaselab import A as RA, VOL as RVOL, ReleaseLab, iso
from simfixture import shared_sim

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, mounts)"),
    pytest.mark.skipif(bool(pgfixture.missing()),
                       reason=f"needs {', '.join(pgfixture.missing())}"),
]


@pytest.fixture
def world():
    w = pgfixture.World()
    try:
        yield w
    finally:
        w.close()


def run(w, man, *extra, env=None):
    path = w.write("db.yaml", man)
    argv = w.ns.argv([HABOOT, "run", "-f", path, "--status-file", w.status, *METADATA,
                      *extra])
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env or HB_ENV)


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return None


def test_postgres_starts_on_the_volume_and_outlives_haboot(world):
    w = world
    man = w.manifest()
    p = haboot(["plan", "-f", w.write("db.yaml", man)], ns=w.ns)
    assert p.returncode == 0, p.stderr
    plan = p.stdout
    # plan shows each step: the volume check, the directory and its owner,
    # init only on an empty directory, the detached start, the wait.
    for step in (f"check the volume is still mounted at {w.mnt} with {w.mnt}/{SIGNATURE}",
                 f"file  chown postgres:postgres {w.data}, mode 0700",
                 f"only if {w.data} is empty",
                 "initdb -D " + w.data, "(as postgres:postgres)",
                 "postgres -D " + w.data, "detached (as postgres:postgres",
                 "environment PATH, HOME, USER, LOGNAME, SHELL, LANG, PGTZ",
                 f"output to {w.log}", f"write {w.pidfile}",
                 "wait  until `" + w.bin + "/psql"):
        assert step in plan, f"{step!r} not in the plan:\n{plan}"
    assert not os.path.exists(w.ns.path(w.data)), "plan changed something"

    r = run(w, man)
    assert r.returncode == 0, r.stderr
    svc = module_status(w.status, "service")
    assert svc["state"] == "ok" and svc["changed"] is True
    assert "started " + w.bin + "/postgres" in svc["message"]
    assert "data directory" in r.stderr and "running init" in r.stderr
    with open(w.status) as f:
        facts = json.load(f)["facts"]
    pid = int(facts["service.pid"])
    assert pid == w.service_pid()
    assert "select 1" in facts["service.ready"]

    # haboot has exited; postgres serves on, a real query answers.
    assert pid_alive(pid)
    q = w.psql("create table t (v int); insert into t values (42); select v from t")
    assert q.returncode == 0 and q.stdout.split()[-1] == "42", q.stderr
    # Its data directory is on the loop device, given to postgres, 0700.
    st = os.stat(w.ns.path(w.data))
    pg = pwd.getpwnam("postgres")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (pg.pw_uid, pg.pw_gid, 0o700)
    assert st.st_dev == os.stat(w.ns.path(w.mnt)).st_dev != os.stat(w.base).st_dev
    # Detached: its own session, a clean signal mask, postgres's identity,
    # a clean environment (haboot's holds AWS keys), output in the log file.
    assert os.getsid(pid) == pid
    assert int(proc_status(pid, "SigBlk"), 16) == 0
    assert proc_status(pid, "Uid").split()[0] == str(pg.pw_uid)
    env = environ(pid)
    assert b"AWS_SECRET_ACCESS_KEY" not in env and b"AWS_ACCESS_KEY_ID" not in env
    assert env[b"PGTZ"] == b"UTC" and env[b"USER"] == b"postgres"
    assert os.readlink(f"/proc/{pid}/fd/1") == w.log
    assert not [fd for fd in os.listdir(f"/proc/{pid}/fd") if int(fd) > 2 and
                os.readlink(f"/proc/{pid}/fd/{fd}").startswith(("pipe:", "socket:")) and
                "haboot" in os.readlink(f"/proc/{pid}/fd/{fd}")]
    with open(w.log) as f:
        assert "database system is ready to accept connections" in f.read()

    # A second run changes nothing: no second postgres, no second initdb.
    r = run(w, man)
    assert r.returncode == 0, r.stderr
    svc = module_status(w.status, "service")
    assert svc["changed"] is False and "already serves" in svc["message"], svc
    assert "running init" not in r.stderr
    assert w.service_pid() == pid and pid_alive(pid)
    assert w.psql("select v from t").stdout.strip() == "42"


def test_a_start_command_that_fails_fails_the_run_with_its_words(world):
    w = world
    r = run(w, w.manifest(command_extra=["-c", "no_such_setting=1"]))
    assert r.returncode == 1, r.stderr
    svc = module_status(w.status, "service")
    assert svc["state"] == "failed"
    msg = svc["message"]
    assert "postgres exited with status 1 before it was ready" in msg, msg
    assert w.log in msg and "no_such_setting" in msg, msg
    assert not w.postgres_pids()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


ROUTE53 = ("  - route53:\n      zone: Z1G9ZB2OW5990Z\n      name: db.helloawsworld.com\n"
           "      value: local-ipv4\n")


def test_a_readiness_timeout_fails_and_stops_what_it_started(world, sim):
    w = world
    sim.client.reset()
    # postgres starts for real, but the probe asks a port nothing listens on.
    nobody = pgfixture.free_port()
    r = run(w, w.manifest(ready={"port": nobody, "timeout": "3s"}, extra=ROUTE53),
            env=dict(HB_ENV, **sim.env()))
    assert r.returncode == 1, r.stderr
    # DNS never moves to a service that does not answer (DESIGN.md 8).
    assert module_status(w.status, "route53")["state"] == "skipped"
    assert not mutating_route53(sim)
    svc = module_status(w.status, "service")
    msg = svc["message"]
    assert "did not become ready within 3s" in msg, msg
    assert f"127.0.0.1:{nobody} accepts a TCP connection" in msg, msg
    assert "haboot stopped what it started" in msg, msg
    pid = w.service_pid()
    wait_for(lambda: not pid_alive(pid), 10, "the postgres that never got ready to be stopped")
    assert not w.postgres_pids()
    # The failure policy ran after it: the module's failure is this instance's.
    with open(w.status) as f:
        assert json.load(f)["outcome"] == "failed"


def test_watch_restarts_a_dead_postgres_then_gives_up(world, sim):
    w = world
    sim.client.reset()
    env = dict(HB_ENV, **sim.env())
    head = "on_failure: mark-unhealthy\nwatch: {interval: 1s, failures: 1, restarts: 1, " \
           "backoff: 0s, window: 10m}\n"
    man = w.manifest(head=head)
    r = run(w, man, env=env)
    assert r.returncode == 0, r.stderr
    assert w.psql("create table t (v int); insert into t values (7)").returncode == 0
    path = w.write("db.yaml", man)
    log = open(f"{w.base}/watch.log", "w+")
    watcher = subprocess.Popen(w.ns.argv([HABOOT, "watch", "-f", path, "--status-file", w.status,
                                          *METADATA]),
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    state_path = f"{w.base}/watch.json"

    def state():
        try:
            with open(state_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def service():
        return next((m for m in state().get("modules", []) if m["name"] == "service"), {})
    try:
        wait_for(lambda: state().get("state") == "healthy", 60, "a healthy round")
        first = w.crash_postgres()
        # The watcher notices, restarts it, and it serves the committed row again.
        wait_for(lambda: service().get("restarts_total") == 1 and
                 w.service_pid() not in (None, first) and
                 w.psql("select v from t").stdout.strip() == "7", 90,
                 "the watcher to restart postgres")
        wait_for(lambda: state().get("state") == "healthy", 60, "healthy again")
        assert not sim.client.state()["asg_health"]
        # It dies again: the one restart the window allows is spent, so the
        # watcher gives up and asks the group for a new instance.
        w.crash_postgres()
        wait_for(lambda: state().get("state") == "gave-up", 60, "the watcher to give up")
        [health] = sim.client.state()["asg_health"]
        assert health["instance_id"] == INSTANCE and health["health_status"] == "Unhealthy"
        assert "service" in state()["verdict"] and "did not help" in state()["verdict"]
        assert service()["restarts_total"] == 1
    finally:
        if watcher.poll() is None:
            watcher.send_signal(signal.SIGTERM)
        rc = watcher.wait(timeout=60)
        log.seek(0)
        out = log.read()
        log.close()
    assert rc == 0, out
    assert "repairing after 1 failed check" in out, out
    assert "restarted " + w.bin + "/postgres" in out, out
    assert "giving up: service" in out, out


# ---- release: the service stops cleanly before its volume is handed over ----
#
# releaselab's instance (the sim as AWS, blockns's namespace, the loop device
# as the EBS volume) serving PostgreSQL instead of NFS: volume, filesystem and
# service.  The evidence: the status file's release record, the sim's
# attachments, the namespace's mounts, and the disk itself read with debugfs
# after the release (pg_control's cluster state, PostgreSQL's own words for
# "stopped cleanly").


class PgReleaseLab(ReleaseLab):
    """ReleaseLab serving PostgreSQL.  tmp is a 0755 directory in /tmp (the
    postgres user must reach the mountpoint, socket, log and pid file)."""

    service_pid = pgfixture.World.service_pid
    postgres_pids = pgfixture.World.postgres_pids
    psql = pgfixture.World.psql

    def __init__(self, sim, stop="pg_ctl", unmount_wait="30s"):
        tmp = tempfile.mkdtemp(prefix="haboot-pgrel-", dir="/tmp")
        os.chmod(tmp, 0o755)
        self.base = tmp
        self.bin = pgfixture.pg_bin()
        self.port = pgfixture.free_port()
        self.sock = f"{tmp}/sock"
        self.log = f"{tmp}/postgres.log"
        self.pidfile = f"{tmp}/svc/service.pid"
        os.makedirs(self.sock)
        pg = pwd.getpwnam("postgres")
        os.chown(self.sock, pg.pw_uid, pg.pw_gid)
        self.stop = stop
        super().__init__(tmp, sim, unmount_wait=unmount_wait)
        os.unlink(self.manifest)  # ReleaseLab's NFS manifest: this lab writes its own
        self.manifest = os.path.join(tmp, "db.yaml")
        self.mnt = os.path.join(tmp, "mnt", "pg")
        self.data = f"{self.mnt}/pgdata"
        self.set_stop(stop)
        # A machine's /dev as postgres (not root) needs it: blockns makes the
        # nodes under root's umask.
        for name in blockns.CHAR_DEVS:
            os.chmod(self.a.path(f"/dev/{name}"), 0o666)
        os.chmod(self.a.path("/dev/shm"), 0o1777)

    def set_stop(self, stop):
        """Rewrites the manifest with another service stop: {...}, "pg_ctl"
        (pg_ctl stop -m fast) or None (no stop: SIGTERM, 90 s)."""
        self.stop = stop
        with open(self.manifest, "w") as f:
            f.write(self.manifest_text(None, None, None))

    def manifest_text(self, unmount_wait, release, watch):
        if unmount_wait is not None:
            self.unmount_wait = unmount_wait
        b, data = self.bin, f"{self.mnt}/pgdata"
        cmd = [f"{b}/postgres", "-D", data, "-p", str(self.port), "-k", self.sock,
               "-c", "listen_addresses=127.0.0.1"]
        ready = [f"{b}/psql", "-h", self.sock, "-p", str(self.port), "-U", "postgres",
                 "-d", "postgres", "-Atc", "select 1"]
        stop = self.pg_stop(data) if self.stop == "pg_ctl" else self.stop
        stop = "" if stop is None else \
            "      stop: {" + ", ".join(f"{k}: {flow(v)}" for k, v in stop.items()) + "}\n"
        return ("version: 1\nname: db\non_failure: halt\nmodules:\n"
                f"  - volume: {{id: {RVOL}, device: /dev/sdf, timeout: 20s}}\n"
                f"  - filesystem: {{mountpoint: {self.mnt}, type: ext4, format: if-blank, "
                f"signature: {SIGNATURE}, unmount_wait: {self.unmount_wait}}}\n"
                "  - service:\n"
                f"      command: {flow(cmd)}\n"
                "      user: postgres\n"
                "      environment: {LANG: C.UTF-8, PGTZ: UTC}\n"
                f"      log: {self.log}\n"
                f"      pidfile: {self.pidfile}\n"
                f"      init: {flow([f'{b}/initdb', '-D', data, '--auth=trust', '-U', 'postgres'])}\n"
                f"      data: {{path: {data}}}\n"
                f"{stop}"
                f"      ready: {{command: {flow(ready)}, timeout: 90s}}\n")

    def pg_stop(self, data):
        return {"command": [f"{self.bin}/pg_ctl", "-D", data, "stop", "-m", "fast"],
                "timeout": "60s"}

    def cluster_state(self):
        """pg_control's "Database cluster state", read from the disk itself."""
        ctl = os.path.join(self.base, "ctl")
        os.makedirs(f"{ctl}/global", exist_ok=True)
        out = f"{ctl}/global/pg_control"
        if os.path.exists(out):
            os.unlink(out)
        rel = self.data[len(self.mnt):]
        subprocess.run(["debugfs", "-R", f"dump {rel}/global/pg_control {out}", self.disk],
                       capture_output=True, check=True)
        r = subprocess.run([f"{self.bin}/pg_controldata", "-D", ctl], capture_output=True,
                           text=True, env=dict(os.environ, LANG="C", LC_ALL="C"))
        assert r.returncode == 0, r.stderr
        return next(x.split(":", 1)[1].strip() for x in r.stdout.splitlines()
                    if x.startswith("Database cluster state:"))

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, offset):
        with open(self.log, errors="replace") as f:
            f.seek(offset)
            return f.read()

    def close(self):
        for pid in self.postgres_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 10
        while any(pid_alive(p) for p in self.postgres_pids()) and time.monotonic() < end:
            time.sleep(0.1)
        try:
            super().close()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _release_missing():
    return [t for t in ("debugfs", "dumpe2fs") if shutil.which(t) is None]


@pytest.fixture
def pg_lab(tmp_path_factory):
    if _release_missing():
        pytest.skip(f"needs {', '.join(_release_missing())}")
    sim = shared_sim(tmp_path_factory)
    labs = []

    def make(**kw):
        lab = PgReleaseLab(sim, **kw)
        labs.append(lab)
        return lab
    try:
        yield make
    finally:
        for lab in labs:
            lab.close()
        sim.client.reset()


def rel_step(rel, name):
    return next(s for s in rel["steps"] if s["name"] == name)


def test_release_stops_postgres_cleanly_and_the_next_run_needs_no_recovery(pg_lab):
    lab = pg_lab()
    lab.run()
    assert lab.attachments() == [(RA, "attached")]
    pid = lab.service_pid()
    assert pid and pid_alive(pid)
    q = lab.psql("create table t (v int); insert into t values (1), (2), (3); "
                 "select count(*) from t")
    assert q.returncode == 0 and q.stdout.split()[-1] == "3", q.stderr

    r = lab.haboot("release", "--reason", "maintenance")
    assert r.returncode == 0, r.stderr
    rel = lab.release_report()
    assert rel["state"] == "released" and rel.get("stopped_at") is None, rel
    assert [s["name"] for s in rel["steps"]] == ["service", "filesystem", "volume"]
    assert all(s["state"] == "ok" for s in rel["steps"]), rel
    assert "stopped " + lab.bin + "/postgres with its stop command" in \
        rel_step(rel, "service")["message"], rel
    # The service was stopped before the unmount began.
    svc, fs = rel_step(rel, "service"), rel_step(rel, "filesystem")
    assert iso(svc["start"]) + svc["duration_ms"] / 1000 <= iso(fs["start"]) + 0.01
    # PostgreSQL is gone, and it went cleanly: its control file on the disk
    # says so (a killed server leaves "in production").
    assert not [p for p in lab.postgres_pids() if pid_alive(p)]
    assert lab.cluster_state() == "shut down"
    # The filesystem is unmounted (journal empty), the volume detached normally.
    assert not lab.mounted()
    assert not lab.needs_recovery()
    assert lab.attachments() == [] and lab.c.volume(RVOL)["state"] == "available"
    [detach] = lab.calls("ec2", "DetachVolume")
    assert detach["params"].get("Force") is None
    assert lab.generation()["released"]["instance"] == RA
    st = lab.haboot("status")
    assert st.returncode == 1, st.stdout + st.stderr
    assert re.search(r"release\s+released", st.stdout), st.stdout

    # The next run (the same instance coming back, as the next one would):
    # the volume is attached again, PostgreSQL starts on it without crash
    # recovery, and the rows are there.
    offset = lab.log_size()
    r = lab.haboot("run")
    assert r.returncode == 0, r.stderr
    assert lab.attachments() == [(RA, "attached")] and lab.mounted()
    assert "running init" not in r.stderr
    assert lab.psql("select string_agg(v::text, ',' order by v) from t").stdout.strip() \
        == "1,2,3"
    log = lab.log_since(offset)
    assert "database system was shut down at" in log, log
    assert "not properly shut down" not in log and "automatic recovery" not in log, log
    # Taking back a volume it released is a takeover: a new generation whose
    # record has lost the release mark (a crash now must not look planned).
    gen = lab.generation()
    assert gen["counter"] == 2 and gen["instance"] == RA and "released" not in gen, gen
    assert gen["handoff"] == "planned", gen
    # status now tells the service is up here again, not released.
    st = lab.haboot("status")
    assert st.returncode == 0, st.stdout + st.stderr
    assert not re.search(r"release\s+released", st.stdout), st.stdout


def _assert_release_held(lab, r, pid):
    """The release failed at service, said so naming it, and left everything
    as it was: postgres running, the filesystem mounted, the volume attached."""
    assert r.returncode != 0, r.stderr
    rel = lab.release_report()
    assert rel["state"] == "failed" and rel["stopped_at"] == "service", rel
    svc = rel_step(rel, "service")
    assert svc["state"] == "failed"
    assert f"{lab.bin}/postgres (pid {pid})" in svc["message"], svc
    assert "the volume stays mounted" in svc["message"], svc
    assert "release stopped at service" in r.stderr, r.stderr
    assert f"{lab.bin}/postgres (pid {pid})" in r.stderr, r.stderr
    assert [rel_step(rel, n)["state"] for n in ("filesystem", "volume")] == \
        ["skipped", "skipped"], rel
    assert pid_alive(pid)
    assert lab.mounted() and lab.attachments() == [(RA, "attached")]
    assert lab.calls("ec2", "DetachVolume") == []
    assert "released" not in (lab.generation() or {})


def test_a_stop_command_that_fails_holds_the_release_and_the_volume(pg_lab):
    # PostgreSQL would not stop within any timeout here: 3s keeps the test short.
    # unmount_wait matters only if the service guard let the release go on.
    lab = pg_lab(stop={"command": ["/bin/false"], "timeout": "3s"}, unmount_wait="2s")
    lab.run()
    pid = lab.service_pid()
    assert lab.psql("create table t (v int); insert into t values (5)").returncode == 0
    r = lab.haboot("release", "--reason", "maintenance")
    _assert_release_held(lab, r, pid)
    # The record says why it did not stop: the stop command's own failure.
    assert "stop command `/bin/false` exited with status 1" in \
        rel_step(lab.release_report(), "service")["message"]
    # PostgreSQL serves on, untouched.
    assert lab.psql("select v from t").stdout.strip() == "5"
    # With a stop that works, the release is run again and finishes.
    lab.set_stop("pg_ctl")
    r = lab.haboot("release")
    assert r.returncode == 0, r.stderr
    rel = lab.release_report()
    assert rel["state"] == "released" and \
        "resuming a release that stopped at service" in rel["reason"], rel
    assert not pid_alive(pid) and not lab.mounted() and lab.attachments() == []
    assert lab.cluster_state() == "shut down"


def test_a_postgres_that_ignores_sigterm_past_the_timeout_holds_the_volume(pg_lab):
    # No stop command: haboot sends SIGTERM, PostgreSQL's "smart" shutdown,
    # which waits for every session to end.  A client keeps its session open,
    # so PostgreSQL runs on past the stop timeout.
    lab = pg_lab(stop={"timeout": "3s"}, unmount_wait="2s")
    lab.run()
    pid = lab.service_pid()
    env = dict(os.environ, PGCONNECT_TIMEOUT="30")
    client = subprocess.Popen([f"{lab.bin}/psql", "-h", lab.sock, "-p", str(lab.port), "-U",
                               "postgres", "-d", "postgres", "-At"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        client.stdin.write("select 'connected';\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "connected"
        r = lab.haboot("release", "--reason", "maintenance")
        _assert_release_held(lab, r, pid)
        assert "after it was asked to stop" in rel_step(lab.release_report(),
                                                        "service")["message"]
    finally:
        # The session ends: the smart shutdown haboot asked for completes.
        client.stdin.close()
        client.wait(timeout=30)
        client.stdout.close()
    wait_for(lambda: not pid_alive(pid), 60, "postgres to finish its shutdown")
    assert lab.mounted() and lab.attachments() == [(RA, "attached")]
    r = lab.haboot("release")
    assert r.returncode == 0, r.stderr
    rel = lab.release_report()
    assert rel["state"] == "released", rel
    assert not lab.mounted() and lab.attachments() == []
    assert lab.cluster_state() == "shut down"
