"""The sim enforces an installed IAM policy as AWS would (tests/sim/iam.py):
refusals in each service's own shape, Deny over Allow, resource ARNs, tag and
request-tag conditions, Route53's record conditions, the CloudWatch namespace,
policy variables; and nothing changes for callers without a policy."""
import base64
import json
import os
import subprocess
import urllib.request

import pytest
from botocore.exceptions import ClientError

from simfixture import shared_sim

HABOOT = os.environ.get("HABOOT", os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                               "haboot"))
KEY, SECRET = "AKIDPOLICY", "policy-secret"
VOL = "vol-073769c7"
I1 = "i-0aaaaaaaaaaaaaaa1"
ZONE = "Z1G9ZB2OW5990Z"
TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"


@pytest.fixture
def sim(tmp_path_factory):
    s = shared_sim(tmp_path_factory)
    s.client.reset()
    s.client.seed({"credentials": [{"access_key": KEY, "secret_key": SECRET}]})
    return s


def policy(*stmts):
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def allow(action, resource="*", **cond):
    s = {"Effect": "Allow", "Action": action, "Resource": resource}
    if cond:
        s["Condition"] = cond
    return s


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def msg(e):
    return e.value.response["Error"]["Message"]


def client(sim, service):
    return sim.boto(service, key=KEY, secret=SECRET)


def test_no_policy_changes_nothing(sim):
    client(sim, "ec2").describe_volumes(VolumeIds=[VOL])
    client(sim, "sns").publish(TopicArn=TOPIC, Message="m")


def test_refusals_have_each_services_shape(sim):
    sim.client.set_policy(policy(allow("ec2:DescribeVolumes")), key=KEY)
    client(sim, "ec2").describe_volumes(VolumeIds=[VOL])
    with pytest.raises(ClientError) as e:
        client(sim, "ec2").attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    assert err(e) == ("UnauthorizedOperation", 403)
    prefix = "You are not authorized to perform this operation. Encoded authorization failure message: "
    assert msg(e).startswith(prefix)
    enc = msg(e)[len(prefix):]
    detail = json.loads(base64.urlsafe_b64decode(enc + "=" * (-len(enc) % 4)))
    assert detail["context"]["action"] == "ec2:AttachVolume"
    assert detail["context"]["resource"].endswith(":instance/" + I1)  # the first resource checked
    with pytest.raises(ClientError) as e:
        client(sim, "route53").list_resource_record_sets(HostedZoneId=ZONE)
    assert err(e) == ("AccessDenied", 403)
    assert msg(e) == ("User: arn:aws:iam::123456789012:user/sim is not authorized to perform: "
                      f"route53:ListResourceRecordSets on resource: arn:aws:route53:::hostedzone/{ZONE} "
                      "because no identity-based policy allows the route53:ListResourceRecordSets action")
    with pytest.raises(ClientError) as e:
        client(sim, "sns").publish(TopicArn=TOPIC, Message="m")
    assert err(e) == ("AuthorizationError", 403) and f"SNS:Publish on resource: {TOPIC}" in msg(e)
    with pytest.raises(ClientError) as e:
        client(sim, "cloudwatch").put_metric_data(Namespace="HA/NFS", MetricData=[{"MetricName": "x", "Value": 1}])
    assert err(e) == ("AccessDenied", 403)
    assert "perform: cloudwatch:PutMetricData because" in msg(e)  # no resource: it takes none
    with pytest.raises(ClientError) as e:
        client(sim, "autoscaling").set_instance_health(InstanceId=I1, HealthStatus="Unhealthy")
    assert err(e) == ("AccessDenied", 403)
    assert ":autoScalingGroup:" in msg(e) and "autoScalingGroupName/nfs-autoscaling-group" in msg(e)
    assert sim.client.state()["asg_health"] == []


def test_deny_wins_and_says_so(sim):
    sim.client.set_policy(policy(allow("sns:*"), {"Effect": "Deny", "Action": "sns:Publish",
                                                  "Resource": TOPIC}), key=KEY)
    with pytest.raises(ClientError) as e:
        client(sim, "sns").publish(TopicArn=TOPIC, Message="m")
    assert "with an explicit deny in an identity-based policy" in msg(e)
    sim.client.set_policy(None, key=KEY)
    client(sim, "sns").publish(TopicArn=TOPIC, Message="m")


def test_every_resource_of_a_call_must_be_allowed(sim):
    vol_only = allow("ec2:AttachVolume", "arn:aws:ec2:*:*:volume/*",
                     StringEquals={"aws:ResourceTag/Name": "nfs-master-volume"})
    sim.client.set_policy(policy(vol_only), key=KEY)
    with pytest.raises(ClientError):   # the instance is not allowed
        client(sim, "ec2").attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    sim.client.set_policy(policy(vol_only, allow("ec2:AttachVolume", f"arn:aws:ec2:us-west-2:123456789012:instance/{I1}")),
                          key=KEY)
    client(sim, "ec2").attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    sim.client.seed({"volumes": {"vol-0bbbbbbbbbbbbbbb2": {"az": "us-west-2a", "tags": {"Name": "other"}}}})
    with pytest.raises(ClientError):   # the tag condition does not hold
        client(sim, "ec2").attach_volume(VolumeId="vol-0bbbbbbbbbbbbbbb2", InstanceId=I1, Device="/dev/sdg")


def test_route53_record_conditions(sim):
    sim.client.set_policy(policy(allow("route53:ChangeResourceRecordSets", f"arn:aws:route53:::hostedzone/{ZONE}", **{
        "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": "nfs.helloawsworld.com",
            "route53:ChangeResourceRecordSetsRecordTypes": "A",
            "route53:ChangeResourceRecordSetsActions": ["CREATE", "DELETE"]}})), key=KEY)
    r53 = client(sim, "route53")

    def change(name, rtype="A", action="CREATE", value="10.10.10.10"):
        return r53.change_resource_record_sets(HostedZoneId=ZONE, ChangeBatch={"Changes": [
            {"Action": action, "ResourceRecordSet": {"Name": name, "Type": rtype, "TTL": 60,
                                                     "ResourceRecords": [{"Value": value}]}}]})
    change("NFS.helloawsworld.com.")          # normalized: lower case, no trailing dot
    for bad in (dict(name="www.helloawsworld.com"), dict(name="nfs.helloawsworld.com", rtype="TXT",
                                                         value='"x"'),
                dict(name="nfs.helloawsworld.com", action="UPSERT")):
        with pytest.raises(ClientError) as e:
            change(**bad)
        assert err(e) == ("AccessDenied", 403), bad


def test_cloudwatch_namespace_condition(sim):
    sim.client.set_policy(policy(allow("cloudwatch:PutMetricData", StringEquals={"cloudwatch:namespace": "HA/NFS"})),
                          key=KEY)
    cw = client(sim, "cloudwatch")
    cw.put_metric_data(Namespace="HA/NFS", MetricData=[{"MetricName": "x", "Value": 1}])
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace="Other", MetricData=[{"MetricName": "x", "Value": 1}])
    assert err(e) == ("AccessDenied", 403)


def test_bad_policies_are_refused_loudly(sim):
    for bad in ({"Statement": []}, policy({"Effect": "Maybe", "Action": "ec2:X", "Resource": "*"}),
                policy(allow("ec2:X", StringSortOf={"k": "v"})), policy({"Effect": "Allow", "Resource": "*"})):
        with pytest.raises(RuntimeError, match="400"):
            sim.client.set_policy(bad, key=KEY)


def role_keys(sim, iid=I1):
    """The instance role credentials the sim's IMDS hands instance iid."""
    base = f"{sim.url}/_sim/imds/{iid}/latest"
    req = urllib.request.Request(base + "/api/token", method="PUT",
                                 headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    token = urllib.request.urlopen(req, timeout=10).read().decode()
    h = {"X-aws-ec2-metadata-token": token}
    get = lambda p: urllib.request.urlopen(urllib.request.Request(base + p, headers=h),  # noqa: E731
                                           timeout=10).read().decode()
    role = get("/meta-data/iam/security-credentials/").strip()
    c = json.loads(get(f"/meta-data/iam/security-credentials/{role}"))
    return c["AccessKeyId"], c["SecretAccessKey"], c["Token"]


def ec2_as(sim, keys):
    return sim.boto("ec2", key=keys[0], secret=keys[1], token=keys[2])


def haboot_policy(tmp_path, manifest, *args):
    m = tmp_path / "m.yaml"
    m.write_text(manifest)
    r = subprocess.run([HABOOT, "iam-policy", "-f", str(m), *args], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_policy_variable_scopes_attach_to_the_calling_instance(sim):
    sim.client.seed({"instances": {"i-0ccccccccccccccc3": {"az": "us-west-2a"}}})
    sim.client.set_policy(policy(
        allow(["ec2:AttachVolume"], "arn:aws:ec2:*:*:volume/*"),
        allow(["ec2:AttachVolume"], "arn:aws:ec2:*:*:instance/*",
              StringEquals={"aws:ARN": "${ec2:SourceInstanceARN}"})), role="ec2-nfs-role")
    ec2 = ec2_as(sim, role_keys(sim))
    with pytest.raises(ClientError) as e:
        ec2.attach_volume(VolumeId=VOL, InstanceId="i-0ccccccccccccccc3", Device="/dev/sdf")
    assert err(e) == ("UnauthorizedOperation", 403)
    ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    # the static key (no instance) cannot resolve the variable: refused
    sim.client.set_policy(policy(
        allow(["ec2:DetachVolume"], "arn:aws:ec2:*:*:instance/*", StringEquals={"aws:ARN": "${ec2:SourceInstanceARN}"}),
        allow(["ec2:DetachVolume"], "arn:aws:ec2:*:*:volume/*")), key=KEY)
    with pytest.raises(ClientError):
        client(sim, "ec2").detach_volume(VolumeId=VOL, InstanceId=I1)


FENCE = """version: 1
name: nfs
on_failure: mark-unhealthy
modules:
  - volume: {tags: {Name: nfs-master-volume}, device: /dev/sdf, takeover: fence}
"""
FOREIGN = "i-0fffffffffffffff1"   # not in the service's group
PEER = "i-0bbbbbbbbbbbbbbb2"      # in it


def test_the_role_cannot_tag_a_foreign_instance_into_the_group_and_stop_it(sim, tmp_path):
    """The hand-written policy let the role tag any instance Service=NFS and
    then stop it.  The generated one scopes StopInstances by the group's own
    tag, which only Auto Scaling writes.  Its one CreateTags grant is
    haboot:release (a planned release tells the next instance it is handing
    the volume over) on the caller's own instance, no other key."""
    sim.client.seed({"instances": {FOREIGN: {"az": "us-west-2a"},
                                   PEER: {"az": "us-west-2a", "asg": "nfs-autoscaling-group"}}})
    generated = haboot_policy(tmp_path, FENCE, "--group", "nfs-autoscaling-group")
    tagging = [s for s in generated["Statement"] if "ec2:CreateTags" in s["Action"]]
    assert [(s["Action"], s["Condition"]) for s in tagging] == [
        (["ec2:CreateTags"], {"StringEquals": {"aws:ARN": "${ec2:SourceInstanceARN}"},
                              "ForAllValues:StringEquals": {"aws:TagKeys": "haboot:release"}})]
    sim.client.set_policy(generated, role="ec2-nfs-role")
    ec2 = ec2_as(sim, role_keys(sim))
    for tags in ([{"Key": "Service", "Value": "NFS"}],
                 [{"Key": "aws:autoscaling:groupName", "Value": "nfs-autoscaling-group"}],
                 [{"Key": "haboot:release", "Value": "released"}]):
        with pytest.raises(ClientError) as e:
            ec2.create_tags(Resources=[FOREIGN], Tags=tags)
        assert err(e) == ("UnauthorizedOperation", 403)
    with pytest.raises(ClientError) as e:
        ec2.stop_instances(InstanceIds=[FOREIGN], Force=True)
    assert err(e) == ("UnauthorizedOperation", 403)
    assert sim.client.instance(FOREIGN)["state"] == "running"
    assert sim.client.instance(FOREIGN)["tags"] == {}
    ec2.stop_instances(InstanceIds=[PEER], Force=True)   # fencing the service's own: allowed

    # The old hand-written policy, enforced the same way, is the escalation.
    old = policy({"Effect": "Allow", "Action": ["ec2:CreateVolume", "ec2:CreateTags"], "Resource": "*"},
                 {"Effect": "Allow", "Action": ["ec2:StopInstances"], "Resource": "*",
                  "Condition": {"StringEquals": {"aws:ResourceTag/Service": "NFS"}}})
    sim.client.set_policy(old, role="ec2-nfs-role")
    with pytest.raises(ClientError):
        ec2.stop_instances(InstanceIds=[FOREIGN], Force=True)
    ec2.create_tags(Resources=[FOREIGN], Tags=[{"Key": "Service", "Value": "NFS"}])
    ec2.stop_instances(InstanceIds=[FOREIGN], Force=True)
    assert sim.client.instance(FOREIGN)["state"] in ("stopping", "stopped")


SNAPSHOT = """version: 1
name: nfs
modules:
  - volume: {id: vol-073769c7, device: /dev/sdf, other_az: snapshot}
"""


def test_restored_copies_may_be_tagged_only_as_they_are_created(sim, tmp_path):
    sim.client.seed({"snapshots": {"snap-0aaaaaaaaaaaaaaa1": {"volume_id": VOL}},
                     "instances": {FOREIGN: {"az": "us-west-2a"}}})
    sim.client.set_policy(haboot_policy(tmp_path, SNAPSHOT), role="ec2-nfs-role")
    ec2 = ec2_as(sim, role_keys(sim))
    tags = [{"Key": "haboot:restored-from", "Value": VOL}]
    v = ec2.create_volume(SnapshotId="snap-0aaaaaaaaaaaaaaa1", AvailabilityZone="us-west-2b",
                          TagSpecifications=[{"ResourceType": "volume", "Tags": tags}])
    for rid in (v["VolumeId"], VOL, FOREIGN):    # no tag on anything that already exists
        with pytest.raises(ClientError) as e:
            ec2.create_tags(Resources=[rid], Tags=tags)
        assert err(e) == ("UnauthorizedOperation", 403), rid
    with pytest.raises(ClientError):            # and no volume without haboot's tag
        ec2.create_volume(SnapshotId="snap-0aaaaaaaaaaaaaaa1", AvailabilityZone="us-west-2b")
