"""AWS and IMDS down while the service is fine: the checks that need them
cannot run, which is "unknown", never "unhealthy" (DESIGN.md 9).  Nothing
escalates: no repair, no give-up, no SetInstanceHealth; the heartbeats that
cannot be sent are warnings.  When AWS answers again, the checks pass.

"Down for a minute" is compressed: the fault window spans many rounds
(interval 1s, api_interval 1s), which is what makes a minute matter.

Needs root, util-linux, e2fsprogs, nfs-ganesha and libnfs-utils.
"""
import os
import time

import pytest

from nfsfixture import missing_tools
from simfixture import shared_sim
from watchworld import SELF, World, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(bool(missing_tools("ganesha.nfsd", "nfs-cat", "losetup", "unshare",
                                          "nsenter", "mkfs.ext4")),
                       reason="needs nfs-ganesha, libnfs-utils, util-linux, e2fsprogs"),
]

WINDOW = 10  # seconds of outage: ten rounds


@pytest.fixture
def world(tmp_path, tmp_path_factory):
    w = World(tmp_path, shared_sim(tmp_path_factory),
              watch="interval: 1s, failures: 2, restarts: 2, backoff: 0s, heartbeat: 2s, "
                    "api_interval: 1s")
    try:
        yield w
    finally:
        w.close()


def test_aws_and_imds_down_is_unknown_and_never_escalates(world):
    w = world
    w.run()
    w.start_watch()
    w.wait_state("healthy", 60)
    t0 = time.time()
    for svc in ("ec2", "route53", "sns", "monitoring", "autoscaling"):
        w.c.fault(svc, "drop", seconds=WINDOW)
    w.c.fault("imds", "unreachable", seconds=WINDOW, instance=SELF)
    seen_states, seen_health = set(), {}
    once = None
    while time.time() < t0 + WINDOW:
        st = w.state() or {}
        seen_states.add(st.get("state"))
        for m in st.get("modules", []):
            seen_health.setdefault(m["name"], set()).add(m["health"])
        if once is None and {"unknown"} <= seen_health.get("volume", set()):
            once = w.once()   # a look from outside the watcher, mid-outage
        time.sleep(0.1)
    # The checks that ask AWS could not run: unknown, and said so.
    assert "unknown" in seen_health["volume"], seen_health
    assert "unknown" in seen_health["route53"], seen_health
    # The local ones went on passing.
    assert seen_health["filesystem"] == {"ok"} and seen_health["exports"] == {"ok"}
    # No verdict, no repair, no replacement.
    assert not seen_states & {"suspect", "failing", "gave-up", "halted"}, seen_states
    assert all(m["restarts_total"] == 0 and m["failures_in_a_row"] == 0
               for m in w.state()["modules"])
    assert w.calls("autoscaling") == []
    assert "could not run" in w.output()
    # A failed heartbeat is a warning, nothing more.
    assert "could not report" in w.output()
    assert once is not None and once.returncode == 3, once and (once.stdout + once.stderr)
    assert "unknown" in once.stdout
    # AWS is back: every check passes again, the metric flows again.
    # A call the outage dropped ends at the client's timeout, and a check
    # asks EC2 at most every api_interval: generous, since the machine may
    # be loaded; what was seen instead is said on failure.
    wait_for(lambda: all(m["health"] in (None, "ok") for m in w.state()["modules"]), 90,
             lambda: "every check to pass again; the modules say " + "; ".join(
                 f'{m["name"]}: {m["health"]} ({m.get("message")})'
                 for m in w.state()["modules"]) + "\nWATCHER LOG TAIL:\n" + w.output()[-3000:])
    wait_for(lambda: [m for m in w.metrics() if m["time"] > t0 + WINDOW], 30,
             "a heartbeat after the outage")
    assert all(m["value"] == 1 for m in w.metrics())
    assert w.state()["state"] == "healthy"
    assert w.calls("autoscaling") == []
