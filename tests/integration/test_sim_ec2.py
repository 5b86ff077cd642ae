"""EC2 in the sim: volume/instance state machines, hooks, DryRun, filters, faults."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from simfixture import shared_sim

I1, I2, I3 = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-0ccccccccccccccc3"
VOL = "vol-073769c7"
FAST = {"attach": 0.2, "detach": 0.2, "force_detach": 0.1, "stop": 0.3, "stop_force": 0.1,
        "terminate": 0.2, "terminate_detach": 0.3, "create_volume": 0.2, "pending": 0.1}
EXTRA = {
    "instances": {I2: {"az": "us-west-2a", "private_ip": "10.10.10.11"},
                  I3: {"az": "us-west-2b", "private_ip": "10.10.10.75"}},
    "volumes": {"vol-0ddddddddddddddd4": {"az": "us-west-2b", "size": 8, "type": "gp3"}},
    "snapshots": {"snap-0eeeeeeeeeeeeeee5": {"volume_id": VOL, "size": 100,
                                             "start_time": "2026-01-01T00:00:00Z",
                                             "backing": "/tmp/snap.img"}},
    "credentials": [{"access_key": "AKIDREADONLY", "secret_key": "readonly-secret",
                     "deny": ["ec2:AttachVolume", "ec2:Detach*"]}],
    "delays": FAST,
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()
    sim.client.seed(EXTRA)
    sim.client.clear_requests()


@pytest.fixture
def ec2(sim):
    return sim.boto("ec2")


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def vol(ec2, vid=VOL):
    return ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]


def wait(fn, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.03)
    raise AssertionError("condition not reached")


def test_attach_goes_attaching_then_attached_and_runs_hook(sim, ec2, tmp_path):
    out = tmp_path / "hook.json"
    hook = ["/usr/bin/python3", "-c",
            "import json,os,sys; open(sys.argv[1],'a').write(json.dumps("
            "{k:v for k,v in os.environ.items() if k.startswith('SIM_')})+'\\n')", str(out)]
    sim.client.seed({"volumes": {VOL: {"hook": hook, "backing": "/dev/loop7"}}})
    a = ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    assert a["State"] == "attaching"
    v = vol(ec2)
    assert v["State"] == "in-use" and v["Attachments"][0]["State"] == "attaching"
    wait(lambda: vol(ec2)["Attachments"][0]["State"] == "attached")
    env = json.loads(out.read_text().splitlines()[0])
    assert env == {"SIM_ACTION": "attach", "SIM_VOLUME_ID": VOL, "SIM_INSTANCE_ID": I1,
                   "SIM_DEVICE": "/dev/sdf", "SIM_BACKING": "/dev/loop7", "SIM_SNAPSHOT_ID": ""}
    d = ec2.detach_volume(VolumeId=VOL)
    assert d["State"] == "detaching"
    wait(lambda: vol(ec2)["State"] == "available")
    assert vol(ec2)["Attachments"] == []
    assert json.loads(out.read_text().splitlines()[1])["SIM_ACTION"] == "detach"


def test_attach_errors_are_the_ones_ec2_sends(ec2):
    cases = [
        (dict(VolumeId="vol-00000000", InstanceId=I1, Device="/dev/sdf"), "InvalidVolume.NotFound",
         "The volume 'vol-00000000' does not exist."),
        (dict(VolumeId=VOL, InstanceId="i-00000000", Device="/dev/sdf"), "InvalidInstanceID.NotFound",
         "The instance ID 'i-00000000' does not exist"),
        (dict(VolumeId="bogus", InstanceId=I1, Device="/dev/sdf"), "InvalidVolumeID.Malformed", None),
        (dict(VolumeId=VOL, InstanceId=I3, Device="/dev/sdf"), "InvalidVolume.ZoneMismatch", None),
        (dict(VolumeId=VOL, InstanceId=I1, Device="/dev/foo"), "InvalidParameterValue", None),
        (dict(VolumeId=VOL, InstanceId=I1, Device="/dev/xvda"), "InvalidParameterValue", None),
    ]
    for kw, want, msg in cases:
        with pytest.raises(ClientError) as e:
            ec2.attach_volume(**kw)
        assert code(e) == want, kw
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        if msg:
            assert e.value.response["Error"]["Message"] == msg
    ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    with pytest.raises(ClientError) as e:
        ec2.attach_volume(VolumeId=VOL, InstanceId=I2, Device="/dev/sdf")
    assert code(e) == "VolumeInUse"
    assert e.value.response["Error"]["Message"] == f"{VOL} is already attached to an instance"
    with pytest.raises(ClientError) as e:
        ec2.detach_volume(VolumeId=VOL, InstanceId=I2)
    assert code(e) == "InvalidAttachment.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.detach_volume(VolumeId="vol-0ddddddddddddddd4")
    assert code(e) == "IncorrectState"


def test_terminated_owner_releases_volume_after_delay_but_stopped_keeps_it(sim, ec2):
    ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    wait(lambda: vol(ec2)["Attachments"][0]["State"] == "attached")
    r = ec2.stop_instances(InstanceIds=[I1])["StoppingInstances"][0]
    assert r["PreviousState"]["Name"] == "running" and r["CurrentState"] == {"Code": 64, "Name": "stopping"}
    state = lambda: ec2.describe_instances(InstanceIds=[I1])["Reservations"][0]["Instances"][0]["State"]  # noqa
    wait(lambda: state()["Name"] == "stopped")
    time.sleep(0.4)
    assert vol(ec2)["Attachments"][0]["State"] == "attached"  # stopping never detaches
    t0 = time.time()
    sim.client.set_instance_state(I1, "terminated")
    assert state() == {"Code": 48, "Name": "terminated"}
    assert vol(ec2)["Attachments"][0]["State"] == "attached"
    wait(lambda: vol(ec2)["State"] == "available")
    assert time.time() - t0 >= 0.3
    with pytest.raises(ClientError) as e:
        ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    assert code(e) == "IncorrectInstanceState"


def test_stop_that_hangs_needs_force_and_stuck_detach_needs_force(sim, ec2):
    sim.client.seed({"instances": {I2: {"stop_hangs": True}}, "volumes": {VOL: {"stuck_detaching": True}}})
    ec2.stop_instances(InstanceIds=[I2])
    time.sleep(0.5)
    get = lambda: ec2.describe_instances(  # noqa: E731
        Filters=[{"Name": "instance-id", "Values": [I2]}])["Reservations"][0]["Instances"][0]
    assert get()["State"]["Name"] == "stopping"
    ec2.stop_instances(InstanceIds=[I2], Force=True)
    wait(lambda: get()["State"]["Name"] == "stopped")
    ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdg")
    wait(lambda: vol(ec2)["Attachments"][0]["State"] == "attached")
    ec2.detach_volume(VolumeId=VOL)
    time.sleep(0.4)
    assert vol(ec2)["Attachments"][0]["State"] == "detaching"
    ec2.detach_volume(VolumeId=VOL, Force=True)
    wait(lambda: vol(ec2)["State"] == "available")


def test_dry_run_and_denied_actions(sim, ec2):
    with pytest.raises(ClientError) as e:
        ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf", DryRun=True)
    assert code(e) == "DryRunOperation"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert e.value.response["Error"]["Message"] == "Request would have succeeded, but DryRun flag is set."
    assert vol(ec2)["State"] == "available"  # nothing happened
    ro = sim.boto("ec2", key="AKIDREADONLY", secret="readonly-secret")
    for kw in ({}, {"DryRun": True}):
        with pytest.raises(ClientError) as e:
            ro.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf", **kw)
        assert code(e) == "UnauthorizedOperation"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        ro.describe_volumes(DryRun=True)
    assert code(e) == "DryRunOperation"
    assert ro.describe_volumes()["Volumes"]


def test_describe_volume_filters(ec2):
    def ids(*filters):
        return sorted(v["VolumeId"] for v in ec2.describe_volumes(
            Filters=[{"Name": n, "Values": vals} for n, vals in filters])["Volumes"])
    assert ids(("tag:Name", ["nfs-master-volume"])) == [VOL]
    assert ids(("tag:Name", ["nfs-*"])) == [VOL]
    assert ids(("tag-key", ["Name"])) == [VOL]
    assert ids(("availability-zone", ["us-west-2b"])) == ["vol-0ddddddddddddddd4"]
    assert ids(("status", ["available"]), ("volume-id", [VOL, "vol-0ddddddddddddddd4"])) == \
        sorted([VOL, "vol-0ddddddddddddddd4"])
    ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    assert ids(("attachment.instance-id", [I1])) == [VOL]
    assert ids(("attachment.status", ["attaching", "attached"])) == [VOL]
    assert ids(("status", ["available"])) == ["vol-0ddddddddddddddd4"]
    with pytest.raises(ClientError) as e:
        ids(("bogus-filter", ["x"]))
    assert code(e) == "InvalidParameterValue"
    page = ec2.describe_volumes(MaxResults=5)
    assert len(page["Volumes"]) == 2 and "NextToken" not in page


def test_describe_instances_shape_and_filters(ec2):
    res = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    insts = [i for r in res["Reservations"] for i in r["Instances"]]
    assert {i["InstanceId"] for i in insts} == {I1, I2, I3}
    one = ec2.describe_instances(InstanceIds=[I1])["Reservations"][0]
    assert one["OwnerId"] == "123456789012"
    i = one["Instances"][0]
    assert i["PrivateIpAddress"] == "10.10.10.10"
    assert i["Placement"]["AvailabilityZone"] == "us-west-2a"
    assert i["IamInstanceProfile"]["Arn"].endswith("instance-profile/ec2-nfs-role")
    assert i["MetadataOptions"]["HttpTokens"] == "required"
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(InstanceIds=["i-0fffffffffffffff9", "i-0fffffffffffffff8"])
    assert code(e) == "InvalidInstanceID.NotFound"


def test_create_volume_from_snapshot_and_tags(sim, ec2):
    snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "volume-id", "Values": [VOL]}, {"Name": "status", "Values": ["completed"]}])["Snapshots"]
    assert [s["SnapshotId"] for s in snaps] == ["snap-0eeeeeeeeeeeeeee5"]
    v = ec2.create_volume(AvailabilityZone="us-west-2b", SnapshotId="snap-0eeeeeeeeeeeeeee5",
                          VolumeType="gp3", TagSpecifications=[{"ResourceType": "volume", "Tags": [
                              {"Key": "Name", "Value": "nfs-master-volume"}]}])
    assert v["State"] == "creating" and v["Size"] == 100 and v["SnapshotId"] == "snap-0eeeeeeeeeeeeeee5"
    wait(lambda: vol(ec2, v["VolumeId"])["State"] == "available")
    assert sim.client.volume(v["VolumeId"])["backing"] == "/tmp/snap.img"
    ec2.create_tags(Resources=[v["VolumeId"], I1], Tags=[{"Key": "haboot:generation", "Value": "3"}])
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["haboot:generation"]}])["Tags"]
    assert sorted(t["ResourceId"] for t in tags) == sorted([v["VolumeId"], I1])
    with pytest.raises(ClientError) as e:
        ec2.create_volume(AvailabilityZone="us-west-2a", SnapshotId="snap-00000000")
    assert code(e) == "InvalidSnapshot.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.create_volume(AvailabilityZone="us-west-2a")
    assert code(e) == "MissingParameter"


def test_console_output_is_what_the_test_set(sim, ec2):
    sim.client.set_console(I1, "haboot: volume attached\n")
    out = ec2.get_console_output(InstanceId=I1)
    assert out["Output"] == "haboot: volume attached\n"  # botocore decodes EC2's base64
    assert out["InstanceId"] == I1


def test_faults_throttle_5xx_and_lag(sim, ec2):
    sim.client.fault("ec2", "throttle", action="DescribeVolumes", count=2)
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            vol(ec2)
        assert code(e) == "RequestLimitExceeded"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert vol(ec2)["State"] == "available"
    sim.client.fault("ec2", "5xx", count=1)
    with pytest.raises(ClientError) as e:
        ec2.describe_instances()
    assert code(e) == "InternalError"
    # Eventual consistency: the next 2 DescribeVolumes show the world before the attach.
    sim.client.delays(attach=30)  # no attached transition may move "before the last change"
    ec2.attach_volume(VolumeId=VOL, InstanceId=I1, Device="/dev/sdf")
    sim.client.fault("ec2", "lag", action="DescribeVolumes", count=2)
    assert vol(ec2)["State"] == "available"
    assert vol(ec2)["State"] == "available"
    assert vol(ec2)["State"] == "in-use"
    # Throttled calls are logged with their error code.
    errs = [r["error"] for r in sim.client.requests(service="ec2") if r.get("error")]
    assert errs == ["RequestLimitExceeded", "RequestLimitExceeded", "InternalError"]


def test_unknown_parameter_and_missing_parameter(sim):
    import urllib.request
    # A raw (unsigned) call is refused before anything else.
    req = urllib.request.Request(sim.url + "/", data=b"Action=DescribeVolumes&Version=2016-11-15")
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("unsigned request accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 401 and b"MissingAuthenticationToken" in e.read()
    ec2 = sim.boto("ec2")
    ec2.meta.events.register("before-sign.ec2.DescribeVolumes",
                             lambda request, **kw: setattr(request, "data", dict(request.data, Bogus="1")))
    with pytest.raises(ClientError) as e:
        ec2.describe_volumes()
    assert code(e) == "UnknownParameter"


def test_global_hook_runs_when_a_killed_owner_releases_the_volume(sim, ec2, tmp_path):
    out = tmp_path / "actions"
    sim.client.seed({"attach_hook": ["/bin/sh", "-c", 'echo "$SIM_ACTION $SIM_DEVICE" >> "$0"', str(out)],
                     "volumes": {VOL: {"attachments": [{"instance": I1, "device": "/dev/sdf"}]}}})
    sim.client.set_instance_state(I1, "terminated")
    wait(lambda: vol(ec2)["State"] == "available")
    assert out.read_text() == "detach /dev/sdf\n"  # a seeded attachment never ran "attach"
    (h,) = sim.client.state()["hook_log"]
    assert h["rc"] == 0 and h["env"]["SIM_INSTANCE_ID"] == I1


def test_slow_and_dropped_answers(sim, ec2):
    import urllib3.exceptions
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
    sim.client.fault("ec2", "slow", action="DescribeInstances", delay=0.5)
    t0 = time.time()
    ec2.describe_instances()
    assert time.time() - t0 >= 0.5
    sim.client.fault("ec2", "drop", action="DescribeVolumes")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError, urllib3.exceptions.HTTPError)):
        vol(ec2)
    assert vol(ec2)["State"] == "available"
