"""The sim's termination lifecycle actions, as Auto Scaling answers them
(botocore parses every answer, so the shapes are the SDKs'), and the
instance's IMDS paths a planned stop shows on: target-lifecycle-state and
the rebalance recommendation."""
import json
import time

import botocore.exceptions
import pytest

from simfixture import shared_sim
from test_sim_imds import get, token

I1 = "i-0aaaaaaaaaaaaaaa1"
GROUP = "nfs-autoscaling-group"
HOOK = "nfs-release-hook"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()
    yield
    sim.client.reset()


def hooked(sim, timeout=300):
    sim.client.seed({"asgs": {GROUP: {"hooks": {HOOK: {
        "transition": "autoscaling:EC2_INSTANCE_TERMINATING", "heartbeat_timeout": timeout,
        "default_result": "ABANDON"}}}}})


def refused(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response["Error"]


def test_the_group_terminating_an_instance_goes_through_its_hook(sim):
    hooked(sim)
    asg = sim.boto("autoscaling")
    args = dict(LifecycleHookName=HOOK, AutoScalingGroupName=GROUP, InstanceId=I1)
    # No termination yet: no action to answer, in AWS's words.
    err = refused(asg.complete_lifecycle_action, LifecycleActionResult="CONTINUE", **args)
    assert err["Code"] == "ValidationError"
    assert err["Message"] == f"No active Lifecycle Action found with instance ID {I1}"
    assert refused(asg.record_lifecycle_action_heartbeat, **args)["Code"] == "ValidationError"
    t = token(sim.port)
    path = "/latest/meta-data/autoscaling/target-lifecycle-state"
    assert get(sim.port, path, t)[2] == b"InService"
    [action] = sim.client.group_terminates(I1)["actions"]
    assert get(sim.port, path, t)[2] == b"Terminated"
    [inst] = asg.describe_auto_scaling_instances(InstanceIds=[I1])["AutoScalingInstances"]
    assert inst["LifecycleState"] == "Terminating:Wait"
    asg.record_lifecycle_action_heartbeat(**args)
    other = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"  # a token of the right form, no action's
    err = refused(asg.record_lifecycle_action_heartbeat, LifecycleHookName=HOOK,
                  AutoScalingGroupName=GROUP, LifecycleActionToken=other)
    assert err["Message"] == f"No active Lifecycle Action found with token {other}"
    assert sim.client.instance(I1)["state"] == "running"  # held by the hook
    asg.complete_lifecycle_action(LifecycleHookName=HOOK, AutoScalingGroupName=GROUP,
                                  LifecycleActionToken=action["token"],
                                  LifecycleActionResult="CONTINUE")
    assert sim.client.instance(I1)["state"] in ("shutting-down", "terminated")
    [done] = sim.client.state()["lifecycle_actions"]
    assert (done["hook"], done["result"], done["instance_id"]) == (HOOK, "CONTINUE", I1)
    # Answered once: a second answer finds no action.
    err = refused(asg.complete_lifecycle_action, LifecycleActionResult="CONTINUE", **args)
    assert err["Message"] == f"No active Lifecycle Action found with instance ID {I1}"
    err = refused(asg.complete_lifecycle_action, LifecycleActionResult="MAYBE", **args)
    assert "CONTINUE and ABANDON" in err["Message"]


def test_a_hook_nobody_answers_times_out_and_the_instance_goes(sim):
    hooked(sim, timeout=1)
    asg = sim.boto("autoscaling")
    sim.client.group_terminates(I1)
    args = dict(LifecycleHookName=HOOK, AutoScalingGroupName=GROUP, InstanceId=I1)
    time.sleep(0.6)
    asg.record_lifecycle_action_heartbeat(**args)  # another second from now
    time.sleep(0.6)
    assert sim.client.lifecycle_actions(I1), "the heartbeat did not extend the timeout"
    time.sleep(1.0)
    assert sim.client.lifecycle_actions(I1) == []
    [done] = sim.client.state()["lifecycle_actions"]
    assert done["timed_out"] and done["result"] == "ABANDON"
    assert sim.client.instance(I1)["state"] in ("shutting-down", "terminated")
    assert refused(asg.complete_lifecycle_action, LifecycleActionResult="CONTINUE",
                   **args)["Code"] == "ValidationError"


def test_without_a_termination_hook_the_instance_goes_at_once(sim):
    assert sim.client.group_terminates(I1)["actions"] == []
    assert sim.client.instance(I1)["state"] in ("shutting-down", "terminated")


def test_the_rebalance_recommendation_path(sim):
    t = token(sim.port)
    path = "/latest/meta-data/events/recommendations/rebalance"
    assert get(sim.port, path, t)[0] == 404
    sim.client.set_instance(I1, rebalance_notice="2026-10-27T08:22:00Z")
    assert json.loads(get(sim.port, path, t)[2]) == {"noticeTime": "2026-10-27T08:22:00Z"}
