"""The volume module notices the attachment from the kernel (device events).

The sim's attach hook (attachhold.py) makes the volume's device appear in the
instance's namespace, as blockns's does, then holds EC2's flip to "attached"
until the test lets go.  In that window the kernel shows the device and EC2
still says "attaching", so what haboot does there tells the paths apart:

- Nitro, events on: the device whose NVMe serial is the volume id proves the
  attachment; haboot takes it with one confirming DescribeVolumes, before EC2
  says attached.
- Events off (HABOOT_DEVICE_EVENTS=off): the poll finds the attachment once EC2
  says attached, and never before (the poll alone is the proof).
- Xen, events on: the device makes haboot ask EC2 at once, but a name proves
  nothing: it waits for EC2's "attached".
- Nitro, a device with another volume's serial (INVARIANT 2): not taken; once
  EC2 says attached, the device is refused.

No assertion here is about speed (make bench measures it): each is about what
haboot did before or after an event the test controls.
"""
import os
import subprocess
import time

import pytest

import attachhold
from test_volume_module import HABOOT, SELF, VOL, Lab, attached_to  # noqa: F401
from simfixture import shared_sim

WRONG_SERIAL = "vol0deadbeef0000000f"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
]


@pytest.fixture
def lab(tmp_path, tmp_path_factory):
    sim = shared_sim(tmp_path_factory)
    lab = Lab(tmp_path, sim)
    lab.release = str(tmp_path / "release")
    lab.c.seed({"attach_hook": attachhold.hook_argv(lab.reg, lab.release)})
    try:
        yield lab
    finally:
        open(lab.release, "w").close()  # never leave the sim's clock held
        lab.close()
        lab.c.reset()


def start(lab, events, timeout="20s"):
    """haboot -v run of the volume module alone in SELF's namespace."""
    status = os.path.join(lab.tmp, f"status-{time.monotonic_ns()}.json")
    argv = lab.instances[SELF].argv([HABOOT, "-v", "run", "-f",
                                     lab.manifest({"timeout": timeout}), "--status-file", status])
    env = lab.env(SELF)
    env.pop("HABOOT_DEVICE_EVENTS", None)
    if not events:
        env["HABOOT_DEVICE_EVENTS"] = "off"
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.status_path, p.t0 = status, time.monotonic()
    lab.procs.append(p)
    return p


def wait_until(what, pred, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def device_appeared(lab):
    """(start, end): the hook began making the device, and had made it."""
    rows = wait_until("the device to appear", lambda: attachhold.appeared(lab.reg))
    return rows[0]["start"], rows[0]["time"]


def looks_after(lab, t):
    return [r for r in lab.calls("DescribeVolumes") if r["time"] > t]


def attachment_state(lab):
    return attached_to(lab.vol())


def test_nitro_device_with_the_volume_serial_ends_the_wait_before_ec2_says_attached(lab):
    lab.instance(SELF, "nitro")
    lab.volume()
    p = start(lab, events=True, timeout="60s")
    t, _ = device_appeared(lab)
    # EC2's flip is held: only the kernel's device can end the wait.
    r = lab.finish(p, timeout=30)
    assert r.rc == 0, r
    assert attachment_state(lab) == [(SELF, "attaching")], "EC2's flip was not held"
    assert r.facts["volume.device"] == "/dev/nvme1n1"
    assert "NVMe serial appeared; EC2 confirms the attachment (attaching)" in r.err, r
    # One DescribeVolumes confirmed it (a slow fallback look, every 5 s, may
    # have fallen while the hook was at work).
    assert 1 <= len(looks_after(lab, t)) <= 2, looks_after(lab, t)


def test_with_events_off_the_poll_finds_the_attachment(lab):
    lab.instance(SELF, "nitro")
    lab.volume()
    p = start(lab, events=False)
    _, t = device_appeared(lab)
    # The poll keeps asking while EC2 says attaching, and does not take the device.
    wait_until("two polls after the device appeared", lambda: len(looks_after(lab, t)) >= 2)
    assert p.poll() is None, "haboot ended the wait on the device alone with events off"
    open(lab.release, "w").close()
    flip = wait_until("EC2's flip", lambda: attachment_state(lab) == [(SELF, "attached")])
    assert flip
    r = lab.finish(p, timeout=30)
    assert r.rc == 0, r
    assert r.facts["volume.device"] == "/dev/nvme1n1"
    assert "EC2 confirms" not in r.err and "device event nvme" not in r.err, r
    assert "device events are off" in r.err, r


def test_xen_device_event_asks_ec2_at_once_but_the_name_proves_nothing(lab):
    lab.instance(SELF, "xen")
    lab.volume()
    p = start(lab, events=True, timeout="60s")  # EC2 asked every 5 s without events
    t, _ = device_appeared(lab)
    wait_until("a DescribeVolumes after the device appeared", lambda: looks_after(lab, t))
    assert p.poll() is None, "haboot took a Xen device before EC2 said attached"
    open(lab.release, "w").close()
    r = lab.finish(p, timeout=30)
    assert r.rc == 0, r
    assert r.facts["volume.device"] == "/dev/xvdf"
    assert "device event xvdf: asking EC2 about vol-073769c7 now" in r.err, r
    assert "EC2 confirms" not in r.err, r


def test_nitro_device_with_another_serial_is_not_taken(lab):
    """INVARIANT 2 on the fast path: a device appearing for the attachment whose
    NVMe serial is another volume's does not end the wait; once EC2 says
    attached, /dev/sdf (Amazon Linux's link) leads to it and it is refused."""
    inst = lab.instance(SELF, "nitro", sd_links=True, serials={VOL: WRONG_SERIAL})
    backing = lab.volume()
    p = start(lab, events=True)
    _, t = device_appeared(lab)
    # The event makes haboot ask EC2, which still says attaching; and again.
    wait_until("two looks after the device appeared", lambda: len(looks_after(lab, t)) >= 2)
    assert p.poll() is None, "haboot took a device with another volume's serial"
    open(lab.release, "w").close()
    r = lab.finish(p, timeout=30)
    assert r.rc == 1, r
    assert WRONG_SERIAL in r.message and "refusing" in r.message, r
    assert "volume.device" not in r.facts
    with open(backing, "rb") as f:
        assert f.read(1 << 20) == bytes(1 << 20), "the refused device was written to"
    assert inst.block_nodes().get("/dev/nvme1n1")
