"""The failover drill, database variant: PostgreSQL instead of NFS.

Instance A boots on a blank shared volume: format, mount, the service
module's init (initdb) and start (postgres as a detached daemon, ready when
psql answers "select 1"), DNS.  A client commits rows in a loop through the
name, recording each commit the server acknowledged.  A dies without warning
(its disk frozen mid-journal, its processes killed, its link cut).  B boots
on the same user-data: it takes the volume over (no format, fsck), starts
PostgreSQL, which runs its own crash recovery, and moves the name.  Every
row the client recorded is in B's database.  The timeline shows
PostgreSQL's recovery beside haboot's run.

drill.py builds the world; this file only changes what the instances serve.
Needs what test_drill.py needs, plus PostgreSQL and python3-psycopg2.
"""
import datetime
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import blockns
import drill
import pgfixture
from drill import A, B, PYTHON, SIGNATURE, VOL, ZONE, ZONE_NAME, TOPIC

PG_PORT = 5432           # inside the instances' own network namespaces
MOUNT = "/srv/pg"
DATA = f"{MOUNT}/data"
PG_LOG = "/run/haboot/postgresql.log"
HBA = "/srv/pg_hba.conf"  # the image's: on each instance's own /srv
CLIENT = str(Path(__file__).resolve().parent / "dbclient.py")


def _missing():
    out = drill.missing_tools() + pgfixture.missing()
    try:
        subprocess.run([PYTHON, "-c", "import psycopg2"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        out.append("python3-psycopg2")
    return out


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, loop devices)"),
    pytest.mark.skipif(bool(_missing()), reason=f"needs {', '.join(_missing())}"),
]


class DatabaseLab(drill.Lab):
    """drill.Lab serving PostgreSQL under db.helloawsworld.com."""

    mount = MOUNT
    dns_name = f"db.{ZONE_NAME}"

    def _build(self):
        super()._build()
        # A machine's /dev as services see it: blockns makes its nodes under
        # root's umask; postgres (not root) writes /dev/null and /dev/shm.
        for inst in (self.a, self.b):
            for name in blockns.CHAR_DEVS:
                os.chmod(inst.path(f"/dev/{name}"), 0o666)
            os.chmod(inst.path("/dev/shm"), 0o1777)
        # What the AMI ships beside PostgreSQL: who may connect (the client's net).
        for inst in (self.a, self.b):
            (inst.dir / "srv" / "pg_hba.conf").write_text(
                "local all all trust\n"
                "host all all 127.0.0.1/32 trust\n"
                f"host all all {self.net}.0/24 trust\n")

    def manifest(self):
        b = pgfixture.pg_bin()
        return (
            "#haboot\n"
            "version: 1\n"
            "name: db\n"
            "on_failure: mark-unhealthy\n"
            "deadline: 2m\n"
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
            "  - service:\n"
            f"      command: [{b}/postgres, -D, {DATA}, -c, \"listen_addresses=*\",\n"
            "                \"-c\", \"unix_socket_directories=\", -c, \"log_line_prefix=%m \",\n"
            f"                -c, \"hba_file={HBA}\", -c, log_timezone=UTC]\n"
            "      user: postgres\n"
            f"      log: {PG_LOG}\n"
            f"      init: [{b}/initdb, -D, {DATA}, --auth=trust, -U, postgres]\n"
            f"      data: {{path: {DATA}}}\n"
            f"      stop: {{command: [{b}/pg_ctl, -D, {DATA}, stop, -m, fast], timeout: 60s}}\n"
            f"      ready: {{command: [{b}/psql, -h, 127.0.0.1, -U, postgres, -d, postgres, "
            "-Atc, \"select 1\"], timeout: 90s}\n"
            "  - route53:\n"
            f"      zone: {ZONE_NAME}\n"
            f"      name: {self.dns_name}\n"
            "      ttl: 60\n"
            "      value: local-ipv4\n"
            "      wait: insync\n"
            "  - notify:\n"
            f"      sns: {TOPIC}\n"
            "      metric: {namespace: HA/DB, name: Healthy}\n")


class Committer:
    """dbclient.py in the client's network namespace, committing through the name."""

    def __init__(self, lab):
        self.lab = lab
        self.out = Path(lab.tmp) / "commits"
        self.stopfile = Path(lab.tmp) / "commits.stop"
        self.err = open(Path(lab.tmp) / "commits.err", "w+")
        self.proc = subprocess.Popen(
            lab.client.exec_argv([PYTHON, CLIENT, lab.sim_url, ZONE, lab.dns_name,
                                  str(PG_PORT), str(self.out), str(self.stopfile)]),
            stdout=subprocess.DEVNULL, stderr=self.err)
        lab.procs.append(self.proc)

    def commits(self):
        """[(value, address, time)] of every acknowledged commit so far."""
        if not self.out.exists():
            return []
        rows = []
        for line in self.out.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                rows.append((int(parts[0]), parts[1], float(parts[2])))
        return rows

    def on(self, addr):
        return [c for c in self.commits() if c[1] == addr]

    def stop(self):
        self.stopfile.touch()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def wait_until(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


PG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC (.*)$")


def pg_events(path):
    """(epoch, message) of each line of a PostgreSQL log written with
    log_line_prefix '%m ' (PGTZ is not set: the server logs in UTC)."""
    out = []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        m = PG_TIME.match(line)
        if m:
            t = datetime.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S.%f").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            out.append((t, m[2]))
    return out


def first(events, needle, after=0.0):
    return next((t for t, msg in events if needle in msg and t >= after), None)


def rows_on(lab, addr):
    r = subprocess.run(lab.client.exec_argv([f"{pgfixture.pg_bin()}/psql", "-h", addr, "-p",
                                             str(PG_PORT), "-U", "postgres", "-d", "postgres",
                                             "-Atc", "select v from drill"]),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return {int(v) for v in r.stdout.split()}


@pytest.fixture
def lab(tmp_path):
    lab = DatabaseLab(tmp_path / "lab")
    try:
        yield lab
    finally:
        lab.close()


def test_postgres_fails_over_losing_no_committed_row(lab):
    ra = lab.a.wait_boot(lab.a.boot())
    assert ra.rc == 0, ra
    svc = ra.module("service")
    assert svc["state"] == "ok" and "started " in svc["message"], ra
    assert "running init" in ra.log, ra
    assert lab.client.resolve() == lab.a.addr

    client = Committer(lab)
    try:
        wait_until(lambda: len(client.on(lab.a.addr)) >= 30, 60, "30 commits on A")
        t_death = lab.kill(lab.a)   # in the middle of the client's commits
        on_a = client.on(lab.a.addr)
        assert lab.needs_recovery(), "A's death left a cleanly unmounted volume: not a crash"
        rb = lab.b.wait_boot(lab.b.boot())
        assert rb.rc == 0, rb
        wait_until(lambda: len(client.on(lab.b.addr)) >= 10, 60, "10 commits on B")
    finally:
        client.stop()
    commits = client.commits()
    on_a = client.on(lab.a.addr)
    on_b = client.on(lab.b.addr)

    # B took the volume over: no format, fsck, generation 2 after A.
    assert "mkfs" not in rb.log and "e2fsck" in rb.log, rb
    assert rb.facts["filesystem.generation"] == "2" and rb.facts["volume.previous_owner"] == A
    assert "running init" not in rb.log, "B must not initdb over A's cluster"
    assert lab.client.resolve() == lab.b.addr
    # Every commit the client saw acknowledged is in B's database.
    present = rows_on(lab, lab.b.addr)
    lost = sorted(v for v, _, _ in commits if v not in present)
    assert not lost, f"{len(lost)} acknowledged commits lost: {lost[:20]}"
    assert on_a and on_b
    # PostgreSQL on B recovered from A's crash on its own.
    events = pg_events(lab.b.dir / "run" / "haboot" / "postgresql.log")
    msgs = "\n".join(m for _, m in events)
    assert "not properly shut down; automatic recovery in progress" in msgs, msgs

    # The timeline: haboot's run on B and PostgreSQL's own recovery inside it.
    tl = lab.timeline
    last_a = on_a[-1][2]
    tl.mark("client", f"last commit acknowledged by A ({len(on_a)} in all)", last_a)
    tl.mark("client", "first commit acknowledged by B", on_b[0][2])
    pg_start = first(events, "starting PostgreSQL")
    pg_crash = first(events, "database system was interrupted")
    pg_redo0 = first(events, "redo starts")
    pg_redo = first(events, "redo done") or first(events, "redo is not required")
    pg_ready = first(events, "database system is ready to accept connections")
    for t, what in ((pg_start, "postgres starts"),
                    (pg_crash, "postgres: finds A's crash; fsyncs its data directory"),
                    (pg_redo0, "postgres: redo (WAL replay) starts"),
                    (pg_redo, "postgres: redo done"),
                    (pg_ready, "postgres: ready to accept connections")):
        if t is not None:
            tl.mark("pg", what, t)
    lines, t = lab.report("database: A dies while the client commits, B takes over", t_death,
                          f"{A} (A) dies", rb, dns=drill_dns_time(lab))
    svc_b = rb.module("service")
    lines.append(f"   B's service module: {svc_b['duration_ms'] / 1000:.3f}s "
                 f"({svc_b['message']})")
    if pg_start and pg_ready:
        parts = [f"started to ready {pg_ready - pg_start:.3f}s"]
        if pg_crash and pg_redo0:
            parts.append(f"data directory fsync before redo {pg_redo0 - pg_crash:.3f}s")
        if pg_redo0 and pg_redo:
            parts.append(f"redo {pg_redo - pg_redo0:.3f}s")
        lines.append(f"   PostgreSQL's own crash recovery on B: {', '.join(parts)}; haboot's "
                     f"whole run on B {t['total']:.3f}s ({t['own']:.3f}s its own)")
    lines.append(f"   client: {len(commits)} commits acknowledged ({len(on_a)} by A, {len(on_b)} "
                 f"by B), every one present on B; none acknowledged for "
                 f"{on_b[0][2] - last_a:.3f}s (last by A to first by B)")
    print("\n" + "\n".join(lines), flush=True)


def drill_dns_time(lab):
    rows = [r for r in lab.calls(B, "route53")
            if r.get("action") == "ChangeResourceRecordSets" and r["status"] == 200]
    return rows[-1]["time"] if rows else None
