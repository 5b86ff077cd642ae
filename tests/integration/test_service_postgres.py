"""The service module with a real PostgreSQL from Debian's package.

The filesystem module formats a blank loop device and mounts it in a private
mount namespace; the service module gives the data directory on it to the
postgres user, runs initdb there once (the volume is blank), starts postgres
as a daemon detached from haboot, and proves it ready with a real query
(psql -c "select 1").  Then the failure cases: a start command that fails, a
readiness timeout, and a service that dies under `haboot watch` (restarted,
then, when it dies again past the budget, the watcher gives up and the sim
records SetInstanceHealth Unhealthy).

Needs root, util-linux, e2fsprogs, PostgreSQL (postgresql package) and its
postgres user.
"""
import json
import os
import pwd
import signal
import subprocess
import time

import pytest

import pgfixture
from hbrun import INSTANCE, METADATA, mutating_route53
from nfsfixture import HABOOT, HB_ENV, haboot, module_status
from pgfixture import SIGNATURE, pid_alive, wait_for
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
