"""The failover drill, watcher variant: A is up and serving, its watcher
running; A's NFS server dies and cannot come back (its restart command fails
from now on).  A's watcher notices, tries the restarts allowed, gives up and
marks A unhealthy (SetInstanceHealth).  The group (played by the harness)
replaces A: terminates it and starts B from the same user-data.  B takes the
volume over and serves, and the client, writing all along, loses no write
the server acknowledged.  The timeline shows failure -> detection ->
unhealthy -> B serving, against the reference's 5-minute budget.

Reuses drill.py's world (two instances in namespaces, the sim as AWS, a loop
device as the volume, ganesha, an NFS client) and test_drill.py's helpers.
Needs root and the static binary (HABOOT_STATIC).
"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

import drill
from drill import A, B, NAME, RESTART, iso_time, payload, sha256
from test_drill import Prober, boot_a, dns_change_time, make_lab, read_back, show  # noqa: F401

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, loop devices)"),
    pytest.mark.skipif(bool(drill.missing_tools()),
                       reason=f"needs {', '.join(drill.missing_tools())}"),
]

BUDGET = 5 * 60   # the reference case's failover budget, seconds
WATCH = "interval: 1s, failures: 2, restarts: 2, backoff: 1s, window: 5m, heartbeat: 5s, " \
        "api_interval: 30s"


def start_watch(lab, inst):
    """haboot watch as its unit would start it: no -f, the manifest from user-data."""
    env = {"PATH": drill.HOST_PATH, "HOME": "/root", "LANG": "C.UTF-8",
           "AWS_ENDPOINT_URL": lab.sim_url}
    out = open(inst.dir / "watch.log", "w")
    p = subprocess.Popen(inst.argv([drill.HABOOT, "watch", "--status-file",
                                    "/run/haboot/status.json"]), env=env, stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT, preexec_fn=drill._die_with_parent)
    out.close()
    lab.procs.append(p)
    lab.timeline.mark(inst.tag, "haboot watch starts")
    return p


def watch_state(inst):
    try:
        return json.loads((inst.dir / "run" / "haboot" / "watch.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def test_a_dead_server_gets_its_instance_replaced_losing_nothing(make_lab):  # noqa: F811
    lab = make_lab(watch=WATCH)
    boot_a(lab)
    watcher = start_watch(lab, lab.a)

    def healthy():
        assert watcher.poll() is None, (lab.a.dir / "watch.log").read_text()
        return watch_state(lab.a).get("state") == "healthy"
    wait_for(healthy, 60, "A's watcher healthy")

    acked, lock, stop = {}, threading.Lock(), threading.Event()

    def writer():
        """Writes through the name; a write not acknowledged is tried again."""
        i = 0
        while not stop.is_set():
            name, data = f"w-{i:04d}.bin", payload(2000 + i)
            addr = lab.client.resolve()
            if lab.client.put(name, data, addr=addr, timeout=5):
                with lock:
                    acked[name] = (sha256(data), addr, time.time())
                i += 1
            else:
                time.sleep(0.2)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    try:
        wait_for(lambda: len(acked) >= 5, 120, "writes acknowledged by A")
        # A's server dies and cannot come back: its restart command fails now.
        drill.sh(lab.a.argv(["mount", "--bind", "/bin/false", RESTART]))
        pid = int(open(lab.a.path("/run/ganesha/ganesha.pid")).read())
        t_fail = lab.timeline.mark("a", "NFS server killed; its restart command fails from now on")
        os.kill(pid, signal.SIGKILL)
        # A's watcher: detection, restarts, give-up, SetInstanceHealth.
        exp = wait_for(lambda: next((m for m in watch_state(lab.a).get("modules", [])
                                     if m["name"] == "exports" and m["failing_since"]), None),
                       30, "A's watcher to see it")
        t_detect = lab.timeline.mark("a", f"watcher: exports check failed: {exp['message']}",
                                     iso_time(exp["failing_since"]))
        health = wait_for(lambda: [h for h in lab.sim.state()["asg_health"]
                                   if h["instance_id"] == A], 90, "A marked unhealthy")[0]
        t_unhealthy = lab.timeline.mark("asg", "A marked Unhealthy (SetInstanceHealth, by A's "
                                               "watcher)", health["time"])
        st = wait_for(lambda: (lambda s: s if s.get("state") == "gave-up" else None)(
            watch_state(lab.a)), 30, "A's watcher to say it gave up")
        assert f"{A} set Unhealthy" in st["failure_policy"], st
        assert [m["restarts_total"] for m in st["modules"] if m["name"] == "exports"] == [2]
        # The group replaces A: terminates it, launches B from the same user-data.
        probe = Prober(lab, lab.b.addr, next(iter(acked)))
        probe.start()
        lab.timeline.mark("asg", "replaces A: terminates it, launches B")
        lab.kill(lab.a)
        rb = lab.b.wait_boot(lab.b.boot())
        assert rb.rc == 0, rb
        assert rb.facts["volume.previous_owner"] == A, rb
        probe.wait()
        # A few writes on B, then every acknowledged write reads back.
        n = len(acked)
        wait_for(lambda: len(acked) >= n + 3, 120, "writes acknowledged by B")
    finally:
        stop.set()
        w.join(30)
    assert watcher.poll() is not None  # it died with A
    on_a = [v for v in acked.values() if v[1] == lab.a.addr]
    on_b = [v for v in acked.values() if v[1] == lab.b.addr]
    assert on_a and on_b
    read_back(lab, {k: v[0] for k, v in acked.items()}, lab.b.addr,
              why=lambda k: f" (acknowledged by {acked[k][1]})")
    lab.timeline.mark("client", f"all {len(acked)} acknowledged writes ({len(on_a)} by A, "
                                f"{len(on_b)} by B) read back, checksums equal")
    # SNS said what failed and what was tried; the metric went to 0.
    msgs = [m for m in lab.sim.state()["sns_messages"] if "GAVE UP" in (m["subject"] or "")]
    assert msgs and A in msgs[0]["subject"] and "what was tried: repair failed" in \
        msgs[0]["message"], msgs
    assert any(m["value"] == 0 and m["dimensions"].get("InstanceId") == A
               for m in lab.sim.state()["metrics"] if m["metric_name"] == "Healthy")

    lines, out = lab.report("A's NFS server dies for good; A's watcher gives A up; B takes "
                            "over", t_fail, "A's NFS server is killed", rb,
                            serving=probe.serving, dns=dns_change_time(lab, B))
    lines.append(f"   failure -> detection {t_detect - t_fail:.3f}s -> unhealthy "
                 f"{t_unhealthy - t_fail:.3f}s -> B serving {probe.serving - t_fail:.3f}s "
                 f"(budget {BUDGET}s)")
    show(lines)
    assert t_fail <= t_detect + 1 < t_unhealthy + 1 and t_unhealthy < probe.serving
    assert probe.serving - t_fail < BUDGET
