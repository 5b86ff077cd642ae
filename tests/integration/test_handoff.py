"""The next instance during a planned handoff: the owner is still running,
but releasing (its tag haboot:release says until when).

The volume module must wait for the owner's own detach, past its `timeout`
and up to the announced time, and attach the moment the volume is free; it
must never fence (stop) a releasing owner nor detach anything from it: the
tag lengthens the wait and nothing else (DESIGN.md invariant 3).  The
owner's release is played by the test (a DetachVolume in the owner's name),
the next instance by haboot in a namespace (test_volume_module's Lab).

Needs root, losetup, unshare, nsenter and e2fsprogs.
"""
import os
import shutil
import subprocess
import threading
import time

import pytest

from simfixture import shared_sim
from test_volume_module import (HABOOT, OWNER, SELF, VOL, Lab,
                                assert_no_detach_from_live_owner)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("losetup", "unshare", "nsenter", "mkfs.ext4")),
        reason="needs util-linux and e2fsprogs"),
]


@pytest.fixture
def lab(tmp_path, tmp_path_factory):
    sim = shared_sim(tmp_path_factory)
    lab = Lab(tmp_path, sim)
    try:
        yield lab
    finally:
        lab.close()
        lab.c.reset()


def iso_in(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


def releasing_owner(lab, until):
    lab.instance(OWNER, ns=False, tags={"haboot:release": f"releasing nfs until {until}"})
    lab.volume(attachments=[{"instance": OWNER, "device": "/dev/sdf"}])
    lab.c.clear_requests()


@pytest.mark.parametrize("takeover", ["fence", "if-owner-gone"])
def test_a_releasing_owner_is_waited_for_past_the_timeout_and_never_fenced(lab, takeover):
    lab.instance(SELF)
    releasing_owner(lab, iso_in(60))
    detached = {}

    def owner_releases():
        """The owner's release detaches the volume after a while: longer than
        the next instance's own volume timeout."""
        time.sleep(4)
        detached["t"] = time.time()
        lab.sim.boto("ec2").detach_volume(VolumeId=VOL, InstanceId=OWNER)

    t = threading.Thread(target=owner_releases, daemon=True)
    t0 = time.time()
    t.start()
    r = lab.run(SELF, {"takeover": takeover, "timeout": "2s"})
    t.join(30)
    assert r.rc == 0, r
    assert f"{OWNER} (running), which is releasing it (a planned handoff" in r.err, r
    # Nothing was done to the owner: no stop, and the one detach is its own
    # (had haboot detached first, the owner's would be a second, refused one).
    acts = [(m["action"], m["params"].get("InstanceId") or m["params"].get("InstanceId.1"),
             m["status"]) for m in lab.mutations()]
    assert acts == [("DetachVolume", OWNER, 200), ("AttachVolume", SELF, 200)], acts
    assert lab.calls("DetachVolume")[0]["params"].get("Force") is None
    # It waited past its 2 s timeout, and attached once the volume was free.
    assert time.time() - t0 >= 4
    attach = lab.calls("AttachVolume")[0]
    assert attach["time"] >= detached["t"]
    assert attach["instance_states"][OWNER] == "running"
    assert [(a["instance"], a["state"]) for a in lab.vol()["attachments"]] == \
        [(SELF, "attached")]
    assert r.facts["volume.previous_owner"] == OWNER
    assert "volume.fenced" not in r.facts


def test_a_release_that_never_finishes_is_waited_for_until_its_time_only(lab):
    lab.instance(SELF)
    releasing_owner(lab, iso_in(5))
    t0 = time.time()
    r = lab.run(SELF, {"takeover": "if-owner-gone", "timeout": "1s"})
    assert r.rc == 1, r
    assert time.time() - t0 >= 4, "it gave up before the announced time"
    assert f"still attached to {OWNER}" in r.message
    assert [m["action"] for m in lab.mutations()] == []
    assert [(a["instance"], a["state"]) for a in lab.vol()["attachments"]] == \
        [(OWNER, "attached")]


def test_a_past_or_finished_release_tag_does_not_hold_a_fence_back(lab):
    """A tag from an old release (its time passed, or "released ...") says
    nothing about now: fence goes on as for any live owner."""
    lab.instance(SELF)
    lab.instance(OWNER, ns=False, tags={"haboot:release": f"releasing nfs until {iso_in(-60)}"})
    lab.volume(attachments=[{"instance": OWNER, "device": "/dev/sdf"}])
    lab.c.clear_requests()
    r = lab.run(SELF, {"takeover": "fence", "timeout": "6s"})
    assert r.rc == 0, r
    assert [m["action"] for m in lab.mutations()][0] == "StopInstances"
    assert "planned handoff" not in r.err
    assert_no_detach_from_live_owner(lab)


def test_the_volume_step_never_detaches_a_device_still_mounted(lab, tmp_path):
    """INVARIANT 6 at the volume step itself (whatever ran before it): with the
    device mounted on the instance, the release stops at the volume and sends
    no DetachVolume, forced or not."""
    inst = lab.instance(SELF)
    lab.volume(backing=lab.disk("data", files={"payload": b"data\n"}))
    status = str(tmp_path / "status.json")
    man = lab.manifest({})
    r = subprocess.run(inst.argv([HABOOT, "run", "-f", man, "--status-file", status]),
                       env=lab.env(SELF), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    where = str(tmp_path / "by-hand")
    os.makedirs(where)
    subprocess.run(inst.argv(["mount", "/dev/xvdf", where]), check=True)
    try:
        n = len(lab.calls())
        r = subprocess.run(inst.argv([HABOOT, "release", "-f", man, "--status-file", status]),
                           env=lab.env(SELF), capture_output=True, text=True, timeout=120)
        assert r.returncode == 1, r.stderr
        assert "still mounted or held on this instance: not detaching" in r.stderr
        assert [c["action"] for c in lab.calls()[n:] if c["action"] == "DetachVolume"] == []
        assert [(a["instance"], a["state"]) for a in lab.vol()["attachments"]] == \
            [(SELF, "attached")]
    finally:
        subprocess.run(inst.argv(["umount", where]), check=False)
    # Unmounted, it goes.
    r = subprocess.run(inst.argv([HABOOT, "release", "-f", man, "--status-file", status]),
                       env=lab.env(SELF), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert lab.vol()["attachments"] == []
