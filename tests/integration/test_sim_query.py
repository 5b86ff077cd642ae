"""SNS, CloudWatch and Auto Scaling in the sim: what haboot reports is recorded."""
import pytest
from botocore.exceptions import ClientError

from simfixture import shared_sim

TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"
I1 = "i-0aaaaaaaaaaaaaaa1"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()


def err(excinfo):
    r = excinfo.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_sns_publish_and_its_errors(sim):
    sns = sim.boto("sns")
    mid = sns.publish(TopicArn=TOPIC, Subject="nfs: took over vol-073769c7", Message="details")["MessageId"]
    got = sim.client.state()["sns_messages"]
    assert [(m["message_id"], m["subject"], m["message"]) for m in got] == [
        (mid, "nfs: took over vol-073769c7", "details")]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=TOPIC, Subject="x" * 101, Message="m")
    assert err(e) == ("InvalidParameter", 400)
    assert e.value.response["Error"]["Message"] == "Invalid parameter: Subject"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=TOPIC, Subject="two\nlines", Message="m")
    assert err(e) == ("InvalidParameter", 400)
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=TOPIC.replace("nfs-autoscale", "nope"), Message="m")
    assert err(e) == ("NotFound", 404)
    sim.client.fault("sns", "throttle", count=1)
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=TOPIC, Message="m")
    assert err(e) == ("Throttling", 400)


def test_cloudwatch_put_metric_data_is_recorded(sim):
    cw = sim.boto("cloudwatch")
    cw.put_metric_data(Namespace="HA/NFS", MetricData=[
        {"MetricName": "Healthy", "Value": 1.0, "Unit": "Count",
         "Dimensions": [{"Name": "Service", "Value": "nfs"}, {"Name": "InstanceId", "Value": I1}]}])
    (m,) = sim.client.state()["metrics"]
    assert (m["namespace"], m["metric_name"], m["value"], m["unit"]) == ("HA/NFS", "Healthy", 1.0, "Count")
    assert m["dimensions"] == {"Service": "nfs", "InstanceId": I1}
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "x", "Value": 1}])
    assert err(e) == ("InvalidParameterValue", 400)


def test_autoscaling_health_and_lifecycle(sim):
    asg = sim.boto("autoscaling")
    asg.set_instance_health(InstanceId=I1, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    (h,) = sim.client.state()["asg_health"]
    assert (h["instance_id"], h["health_status"], h["group"]) == (I1, "Unhealthy", "nfs-autoscaling-group")
    asg.complete_lifecycle_action(LifecycleHookName="nfs-launch-hook", AutoScalingGroupName="nfs-autoscaling-group",
                                  LifecycleActionResult="CONTINUE", InstanceId=I1)
    (a,) = sim.client.state()["lifecycle_actions"]
    assert (a["hook"], a["result"], a["instance_id"]) == ("nfs-launch-hook", "CONTINUE", I1)
    with pytest.raises(ClientError) as e:
        asg.complete_lifecycle_action(LifecycleHookName="nope", AutoScalingGroupName="nfs-autoscaling-group",
                                      LifecycleActionResult="CONTINUE", InstanceId=I1)
    assert err(e) == ("ValidationError", 400)
    with pytest.raises(ClientError) as e:
        asg.set_instance_health(InstanceId="i-0fffffffffffffff9", HealthStatus="Unhealthy")
    assert err(e) == ("ValidationError", 400)
    (inst,) = asg.describe_auto_scaling_instances(InstanceIds=[I1])["AutoScalingInstances"]
    assert inst["AutoScalingGroupName"] == "nfs-autoscaling-group" and inst["HealthStatus"] == "UNHEALTHY"


def test_denied_actions_use_each_services_code(sim):
    sim.client.seed({"credentials": [{"access_key": "AKIDNOTIFY", "secret_key": "s",
                                      "deny": ["sns:*", "cloudwatch:PutMetricData", "autoscaling:*"]}]})
    with pytest.raises(ClientError) as e:
        sim.boto("sns", key="AKIDNOTIFY", secret="s").publish(TopicArn=TOPIC, Message="m")
    assert err(e) == ("AuthorizationError", 403)
    with pytest.raises(ClientError) as e:
        sim.boto("cloudwatch", key="AKIDNOTIFY", secret="s").put_metric_data(
            Namespace="HA/NFS", MetricData=[{"MetricName": "x", "Value": 1}])
    assert err(e) == ("AccessDenied", 403)
