"""A healthy soak: two minutes of a healthy instance under the watcher (a
short interval, many rounds): no false alarm (no failed check, no repair,
no report but the heartbeat), and a Healthy=1 metric every heartbeat
period, per instance and per service.

Needs root, util-linux, e2fsprogs, nfs-ganesha and libnfs-utils.
"""
import os
import time

import pytest

from nfsfixture import missing_tools
from simfixture import shared_sim
from watchworld import SELF, World

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(bool(missing_tools("ganesha.nfsd", "nfs-cat", "losetup", "unshare",
                                          "nsenter", "mkfs.ext4")),
                       reason="needs nfs-ganesha, libnfs-utils, util-linux, e2fsprogs"),
]

SOAK = 120       # seconds
HEARTBEAT = 10   # seconds


def test_a_healthy_soak_raises_no_alarm(tmp_path, tmp_path_factory):
    w = World(tmp_path, shared_sim(tmp_path_factory),
              watch=f"interval: 1s, heartbeat: {HEARTBEAT}s, api_interval: 10s")
    try:
        w.run()
        w.c.clear_requests()
        runs = w.restarts()
        t0 = time.time()
        w.start_watch()
        w.wait_state("healthy", 60)
        states = set()
        while time.time() < t0 + SOAK:
            st = w.state() or {}
            states.add(st.get("state"))
            time.sleep(0.5)
        st = w.state()
        assert states == {"healthy"}, states
        assert st["rounds"] >= SOAK / 2, st["rounds"]
        for m in st["modules"]:
            assert m["restarts_total"] == 0 and m["failing_since"] is None, m
        assert "check failed" not in w.output() and "could not" not in w.output()
        assert w.restarts() == runs
        assert w.c.state()["sns_messages"] == [] or \
            all("GAVE UP" not in (m["subject"] or "") for m in w.c.state()["sns_messages"])
        assert w.calls("autoscaling") == []
        # Healthy=1 each heartbeat period, for the instance and for the service.
        mine = sorted(m["time"] for m in w.metrics()
                      if m["dimensions"].get("InstanceId") == SELF and m["time"] >= t0)
        svc = [m for m in w.metrics() if "InstanceId" not in m["dimensions"] and m["time"] >= t0]
        assert all(m["value"] == 1 for m in w.metrics() if m["time"] >= t0)
        assert len(mine) >= SOAK // HEARTBEAT - 1, mine
        assert len(svc) == len(mine)
        gaps = [b - a for a, b in zip(mine, mine[1:])]
        # One period apart, give or take a round (and a loaded machine).
        assert max(gaps) < HEARTBEAT + 5, gaps
        assert min(gaps) > HEARTBEAT - 2, gaps
        # What it asked AWS besides the metric, at api_interval 10s.
        asked = [r for r in w.c.requests() if r.get("service") not in ("imds", "monitoring")
                 and r["time"] >= t0]
        assert len(asked) <= 2 * (SOAK / 10 + 2), [r["action"] for r in asked]
        assert w.stop_watch() == 0
    finally:
        w.close()
