"""haboot watch when repairs cannot help: the whole instance (watchworld: the
sim as AWS, a loop device attached as the EBS volume, ext4, NFS-Ganesha,
Route53, notify), broken on purpose.

- the NFS server will not start any more: after the restarts allowed, the
  watcher gives up: SetInstanceHealth Unhealthy, an SNS message saying what
  failed and what was tried, and Healthy=0, all in the sim;
- the same inside the group's health check grace period: AWS refuses with
  its ValidationError, the watcher says so and asks again when it ends;
- the volume detached behind haboot's back: detected, never "repaired" by
  attaching, detaching or stopping anything (DESIGN.md 3 and 9); the
  instance asks to be replaced;
- the volume attached to another instance: never taken back, and no
  replacement either (a failure every instance would repeat): halted.

Needs root, util-linux, e2fsprogs, nfs-ganesha and libnfs-utils.
"""
import os
import signal
import time

import pytest

from nfsfixture import missing_tools
from simfixture import shared_sim
from watchworld import ASG, OTHER, SELF, TOPIC, VOL, World, failing_restart, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(bool(missing_tools("ganesha.nfsd", "nfs-cat", "losetup", "unshare",
                                          "nsenter", "mkfs.ext4")),
                       reason="needs nfs-ganesha, libnfs-utils, util-linux, e2fsprogs"),
]


@pytest.fixture
def world(tmp_path, tmp_path_factory, request):
    kw = getattr(request, "param", {})
    w = World(tmp_path, shared_sim(tmp_path_factory), **kw)
    try:
        yield w
    finally:
        w.close()


def health_calls(w):
    return w.calls("autoscaling", "SetInstanceHealth")


def mutating_ec2(w, since=0):
    return [r for r in w.calls("ec2") if r["seq"] > since and
            not r["action"].startswith("Describe")]


def break_the_server(w):
    """ganesha dies and its restart command fails from now on."""
    restart, broken = failing_restart(w.tmp, w.g)
    w.run(restart=restart)          # the same world, the manifest naming the new command
    w.start_watch()
    w.wait_state("healthy", 60)
    open(broken, "w").close()
    os.kill(w.g.pid(), signal.SIGKILL)


def test_a_server_that_never_starts_again_gets_the_instance_replaced(world):
    w = world
    break_the_server(w)
    w.wait_state("gave-up", 90)
    exports = w.module("exports")
    # The restarts allowed (2), each refused by the restart command, then no more.
    assert exports["restarts_total"] == 2, w.output()
    assert exports["health"] == "failed"
    runs = w.restarts()
    time.sleep(3)
    assert w.restarts() == runs, "repairs went on after the watcher gave up"
    # SetInstanceHealth, respecting the group's grace period (none here).
    [h] = health_calls(w)
    assert h["params"]["InstanceId"] == SELF and h["params"]["HealthStatus"] == "Unhealthy"
    assert h["params"]["ShouldRespectGracePeriod"] == "true"
    st = w.c.state()
    assert [(x["instance_id"], x["health_status"]) for x in st["asg_health"]] == \
        [(SELF, "Unhealthy")]
    # The SNS message says what failed and what was tried.
    [msg] = [m for m in st["sns_messages"] if "GAVE UP" in (m["subject"] or "")]
    assert msg["topic_arn"] == TOPIC
    assert msg["subject"].isascii() and len(msg["subject"]) < 100, msg["subject"]
    assert msg["subject"] == f"haboot nfs on {SELF}: GAVE UP at exports, asks to be replaced"
    body = msg["message"]
    assert "what failed: exports: NFS NULL call (v4)" in body, body
    assert "what was tried: repair failed: restart command" in body, body
    assert "exited with status 1" in body and "start request repeated too quickly" in body
    assert f"{SELF} set Unhealthy" in body
    assert msg["attributes"]["outcome"] == "failed"
    # Healthy=0 for the service, after the Healthy=1 heartbeats.
    healthy = w.metrics()
    assert healthy[-1]["value"] == 0, healthy[-4:]
    assert {m["dimensions"].get("Service") for m in healthy} == {"nfs"}
    assert any(m["value"] == 1 for m in healthy)
    st = w.state()
    assert st["healthy"] is False
    assert "the repairs allowed in the window did not help" in st["verdict"]
    assert f"{SELF} set Unhealthy" in st["failure_policy"]


@pytest.mark.parametrize("world", [{"asg_grace": 20}], indirect=True)
def test_inside_the_grace_period_it_asks_again_when_it_ends(world):
    """AWS refuses SetInstanceHealth with a ValidationError while the instance
    is younger than the group's grace period: the watcher says so (status, SNS)
    and asks again when the period ends."""
    w = world
    break_the_server(w)
    # The instance is young when the watcher gives up.
    wait_for(lambda: (w.state() or {}).get("state") in ("failing", "gave-up"), 60, "a verdict")
    w.c.set_instance(SELF, launch_time=time.time())
    w.wait_state("gave-up", 60)
    wait_for(lambda: health_calls(w), 30, "a SetInstanceHealth call")
    first = health_calls(w)[0]
    assert first["status"] == 400 and first["error"] == "ValidationError", first
    assert "is less than the configured grace period of 20 seconds" in first["message"]
    st = w.state()
    assert "refused inside the group's health check grace period" in st["failure_policy"]
    assert st["failure_policy_retry"], st
    [msg] = [m for m in w.c.state()["sns_messages"] if "GAVE UP" in (m["subject"] or "")]
    assert "grace period" in msg["message"] and "sent again when it ends" in msg["message"]
    # When the period ends, the call goes again, and the group has it.
    wait_for(lambda: w.c.state()["asg_health"], 45, "SetInstanceHealth after the grace period")
    [h] = w.c.state()["asg_health"]
    assert h["instance_id"] == SELF and h["health_status"] == "Unhealthy"
    assert h["time"] - w.c.instance(SELF)["launch_time"] >= 20
    wait_for(lambda: "set Unhealthy" in (w.state() or {}).get("failure_policy", ""), 10,
             "the status to say so")


def test_a_volume_detached_behind_its_back_is_never_taken_back_by_force(world):
    """INVARIANT 3/9: an operator detaches the volume.  The watcher sees it
    (the device node is gone; EC2 says available), repairs nothing (no
    attach, no detach, no stop), and asks for a new instance, which will
    attach the volume cleanly at boot."""
    w = world
    w.run()
    w.start_watch()
    w.wait_state("healthy", 60)
    ec2 = w.sim.boto("ec2")
    ec2.detach_volume(VolumeId=VOL, InstanceId=SELF)
    seq = w.calls("ec2", "DetachVolume")[-1]["seq"]
    wait_for(lambda: not os.path.exists(w.inst.path("/dev/xvdf")), 10, "the node to go")
    w.wait_state("gave-up", 60)
    vol = w.module("volume")
    assert vol["health"] == "failed"
    assert "detached behind haboot's back" in vol["message"], vol
    assert mutating_ec2(w, since=seq) == [], "the watcher touched the volume"
    assert [a["state"] for a in w.c.volume(VOL)["attachments"]] == []
    assert [x["health_status"] for x in w.c.state()["asg_health"]] == ["Unhealthy"]
    # The first failing module is the one reported: the volume, not what follows.
    assert "GAVE UP at volume" in w.c.state()["sns_messages"][-1]["subject"]
    time.sleep(3)
    assert mutating_ec2(w, since=seq) == []


def test_a_volume_another_instance_holds_halts_without_replacement(world):
    """The volume now belongs to another (running) instance: taking it back
    would be a steal, replacing this instance would not help (the new one
    would find it held): halt and alert, nothing else."""
    w = world
    w.run()
    w.c.seed({"instances": {OTHER: {"az": "us-west-2a", "state": "running"}},
              "asgs": {ASG: {"instances": [OTHER]}}})
    w.start_watch()
    w.wait_state("healthy", 60)
    ec2 = w.sim.boto("ec2")
    ec2.detach_volume(VolumeId=VOL, InstanceId=SELF)
    wait_for(lambda: w.c.volume(VOL)["state"] == "available", 10, "the detach")
    ec2.attach_volume(VolumeId=VOL, InstanceId=OTHER, Device="/dev/sdf")
    seq = w.calls("ec2", "AttachVolume")[-1]["seq"]
    w.wait_state("halted", 60)
    vol = w.module("volume")
    assert f"attached to {OTHER} now" in vol["message"] or OTHER in vol["message"], vol
    assert "never takes it back by force" in vol["message"]
    assert health_calls(w) == []
    assert mutating_ec2(w, since=seq) == []
    assert [(a["instance"]) for a in w.c.volume(VOL)["attachments"]] == [OTHER]
    [msg] = [m for m in w.c.state()["sns_messages"] if "HALTED" in (m["subject"] or "")]
    assert "an operator must act" in msg["message"]
    assert w.metrics()[-1]["value"] == 0
    assert "every new instance would fail the same way" in w.state()["verdict"]
