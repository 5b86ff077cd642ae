"""The failover drill under the instance role's generated policy: the sim
enforces `haboot iam-policy`'s output for the drill's own manifest, and both
the takeover from a dead instance and the fenced takeover from a live but
cut-off one succeed without a single refused call.  (test_drill.py holds the
drill itself; this reuses its world and its checks.)"""
import json
import os
import subprocess
import threading
import time

import pytest

import drill
from drill import A, ASG, B, ROLE
from test_drill import assert_taken_over, boot_a, cut_off, make_lab, read_back, write_files  # noqa: F401

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, loop devices)"),
    pytest.mark.skipif(bool(drill.missing_tools()),
                       reason=f"needs {', '.join(drill.missing_tools())}"),
]

HABOOT = os.environ.get("HABOOT", drill.HABOOT)


def enforce_generated_policy(lab, tmp_path):
    m = tmp_path / "drill.yaml"
    m.write_text(lab.manifest())
    r = subprocess.run([HABOOT, "iam-policy", "-f", str(m), "--group", ASG], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    policy = json.loads(r.stdout)
    lab.sim.set_policy(policy, role=ROLE)
    return policy


def refused(lab):
    return [(q.get("instance"), q.get("action"), q.get("message")) for q in lab.requests()
            if q.get("status") == 403]


def test_takeover_from_a_dead_instance_under_the_generated_policy(make_lab, tmp_path):
    lab = make_lab()
    enforce_generated_policy(lab, tmp_path)
    boot_a(lab)
    sums = write_files(lab, range(10))
    uuid = lab.fs_uuid()
    lab.kill(lab.a)
    rb = lab.b.wait_boot(lab.b.boot())
    assert_taken_over(lab, rb, uuid)
    read_back(lab, sums, lab.b.addr)
    assert not refused(lab), refused(lab)
    signed = [q for q in lab.requests() if q.get("service") not in (None, "imds")]
    assert signed and {q.get("role") for q in signed} == {ROLE}


def test_fenced_takeover_under_the_generated_policy(make_lab, tmp_path):
    lab = make_lab(takeover="fence")
    policy = enforce_generated_policy(lab, tmp_path)
    assert any("ec2:StopInstances" in s["Action"] for s in policy["Statement"])
    sums, _ = cut_off(lab, files=5)
    uuid = lab.fs_uuid()

    def power_off():
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if lab.sim.instance(A)["state"] in ("stopping", "stopped"):
                lab.a.crash(cut_link=False)
                lab.released(lab.a)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=power_off, daemon=True)
    watcher.start()
    rb = lab.b.wait_boot(lab.b.boot())
    watcher.join(10)
    assert_taken_over(lab, rb, uuid)
    assert rb.facts.get("volume.fenced") == A, rb
    acts = [r["action"] for r in lab.calls(B)]
    assert "StopInstances" in acts and "DetachVolume" in acts, acts
    read_back(lab, sums, lab.b.addr)
    assert not refused(lab), refused(lab)
