"""EC2 snapshots in the sim, as botocore sees them: pending -> completed with
progress, DescribeSnapshots filters, DeleteSnapshot (a pending one goes only once
it completes, as EBS documents), the per-volume CreateSnapshot rate, AWS's error
codes, and the bytes: a snapshot holds the volume's bytes at the request, and a
volume restored from it (in any zone) is its own copy of them."""
import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from simfixture import shared_sim

VOL = "vol-073769c7"
OTHER = "vol-0ddddddddddddddd4"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture
def world(sim, tmp_path):
    """Two volumes, the first backed by an image file holding known bytes."""
    sim.client.reset()
    img = tmp_path / "vol.img"
    with open(img, "wb") as f:
        f.truncate(8 * MiB)
        f.seek(MiB)
        f.write(b"before the snapshot")
    sim.client.seed({
        "volumes": {VOL: {"az": "us-west-2a", "size": 8, "type": "gp3", "backing": str(img),
                          "encrypted": True, "kms_key_id": "arn:aws:kms:us-west-2:123456789012:"
                                                            "key/11111111-2222-3333-4444-555555555555"},
                    OTHER: {"az": "us-west-2b", "size": 4}},
        "delays": {"snapshot": 1.0, "snapshot_rate": 15.0, "create_volume": 0.1},
        "options": {"snapshot_dir": str(tmp_path / "snapshots")},
    })
    sim.client.clear_requests()
    yield img
    sim.client.reset()


@pytest.fixture
def ec2(sim):
    return sim.boto("ec2")


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def wait(fn, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def snap(ec2, sid):
    return ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]


def tags(x):
    return {t["Key"]: t["Value"] for t in x.get("Tags", [])}


def create(ec2, vid=VOL, **tagkv):
    spec = [{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v}
                                                  for k, v in tagkv.items()]}] if tagkv else []
    return ec2.create_snapshot(VolumeId=vid, Description="test", TagSpecifications=spec)


def test_pending_then_completed_with_progress_and_tags(world, ec2):
    s = create(ec2, **{"haboot:service": "nfs"})
    assert s["State"] == "pending" and s["VolumeId"] == VOL and s["VolumeSize"] == 8
    assert s["OwnerId"] == "123456789012" and s["Encrypted"] is True
    assert s["KmsKeyId"].endswith("555555555555")
    assert tags(s) == {"haboot:service": "nfs"}
    seen = set()

    def done():
        x = snap(ec2, s["SnapshotId"])
        seen.add(x["Progress"])
        return x["State"] == "completed" and x
    x = wait(done)
    assert x["Progress"] == "100%"
    assert len(seen - {"100%"}) >= 1, seen  # it was seen on the way
    assert abs(x["StartTime"].timestamp() - time.time()) < 30


def test_describe_filters_owner_tags_status_volume(world, ec2, sim):
    a = create(ec2, **{"haboot:service": "nfs"})["SnapshotId"]
    b = create(ec2, OTHER, **{"haboot:service": "other"})["SnapshotId"]
    sim.client.seed({"snapshots": {"snap-0aaaaaaaaaaaaaaa1": {
        "volume_id": VOL, "owner_id": "999999999999", "tags": {"haboot:service": "nfs"}}}})

    def ids(**kw):
        return sorted(x["SnapshotId"] for x in ec2.describe_snapshots(**kw)["Snapshots"])
    assert ids(OwnerIds=["self"], Filters=[{"Name": "tag:haboot:service", "Values": ["nfs"]}]) \
        == [a]
    assert ids(Filters=[{"Name": "tag:haboot:service", "Values": ["nfs"]}]) == sorted(
        [a, "snap-0aaaaaaaaaaaaaaa1"])
    assert ids(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [OTHER]}]) == [b]
    assert ids(OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["pending"]}]) == \
        sorted([a, b])
    assert ids(OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["completed"]},
                                           {"Name": "volume-id", "Values": [VOL]}]) == []
    wait(lambda: snap(ec2, a)["State"] == "completed")
    assert ids(OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["completed"]},
                                           {"Name": "volume-id", "Values": [VOL]}]) == [a]
    with pytest.raises(ClientError) as e:
        ec2.describe_snapshots(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code(e) == "InvalidParameterValue"


def test_create_snapshot_rate_per_volume(world, ec2, sim):
    create(ec2)
    with pytest.raises(ClientError) as e:
        create(ec2)
    assert code(e) == "SnapshotCreationPerVolumeRateExceeded"
    assert "maximum per volume CreateSnapshot request rate" in str(e.value)
    create(ec2, OTHER)  # another volume: fine
    sim.client.delays(snapshot_rate=0.2)
    time.sleep(0.3)
    create(ec2)


def test_create_snapshot_errors(world, ec2):
    with pytest.raises(ClientError) as e:
        ec2.create_snapshot(VolumeId="vol-0fffffffffffffff9")
    assert code(e) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.create_snapshot(VolumeId="volume-1")
    assert code(e) == "InvalidVolumeID.Malformed"
    with pytest.raises(ClientError) as e:
        create(ec2, **{"aws:dlm:lifecycle-policy-id": "policy-1"})
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.create_snapshot(VolumeId=VOL, TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": "a", "Value": "b"}]}])
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.create_snapshot(VolumeId=VOL, DryRun=True)
    assert code(e) == "DryRunOperation"
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def test_delete_snapshot_completed_at_once_pending_once_completed(world, ec2, sim):
    sim.client.delays(snapshot_rate=0, snapshot=0.2)
    done = create(ec2)["SnapshotId"]
    wait(lambda: snap(ec2, done)["State"] == "completed")
    ec2.delete_snapshot(SnapshotId=done)
    with pytest.raises(ClientError) as e:
        snap(ec2, done)
    assert code(e) == "InvalidSnapshot.NotFound"
    sim.client.delays(snapshot=1.5)
    pending = create(ec2)["SnapshotId"]
    ec2.delete_snapshot(SnapshotId=pending)  # accepted...
    assert snap(ec2, pending)["State"] == "pending"  # ...but it stays until it completes
    wait(lambda: not ec2.describe_snapshots(
        Filters=[{"Name": "snapshot-id", "Values": [pending]}])["Snapshots"])
    with pytest.raises(ClientError) as e:
        ec2.delete_snapshot(SnapshotId=pending)
    assert code(e) == "InvalidSnapshot.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.delete_snapshot(SnapshotId="snapshot-1")
    assert code(e) == "InvalidSnapshotID.Malformed"


def test_snapshot_holds_the_bytes_at_the_request_and_restores_anywhere(world, ec2, sim):
    s = create(ec2)["SnapshotId"]
    with open(world, "r+b") as f:  # the volume changes after the request
        f.seek(MiB)
        f.write(b"AFTER  the snapshot")
    with pytest.raises(ClientError) as e:  # not completed yet
        ec2.create_volume(SnapshotId=s, AvailabilityZone="us-west-2c")
    assert code(e) == "IncorrectState"
    wait(lambda: snap(ec2, s)["State"] == "completed")
    v = ec2.create_volume(SnapshotId=s, AvailabilityZone="us-west-2c", VolumeType="gp3",
                          Throughput=250, Iops=4000)
    assert v["AvailabilityZone"] == "us-west-2c" and v["Size"] == 8 and v["SnapshotId"] == s
    assert v["Encrypted"] is True and v["KmsKeyId"].endswith("555555555555")
    assert (v["Throughput"], v["Iops"]) == (250, 4000)
    backing = sim.client.volume(v["VolumeId"])["backing"]
    assert backing and backing != str(world) and os.path.isfile(backing)
    with open(backing, "rb") as f:
        f.seek(MiB)
        assert f.read(19) == b"before the snapshot"
        assert os.fstat(f.fileno()).st_size == 8 * MiB
    # The restored volume is its own: writing it changes neither the snapshot nor
    # a second restore.
    with open(backing, "r+b") as f:
        f.seek(MiB)
        f.write(b"written on the copy")
    v2 = ec2.create_volume(SnapshotId=s, AvailabilityZone="us-west-2a")
    with open(sim.client.volume(v2["VolumeId"])["backing"], "rb") as f:
        f.seek(MiB)
        assert f.read(19) == b"before the snapshot"


def test_create_volume_parameters_aws_refuses(world, ec2):
    s = create(ec2)["SnapshotId"]
    wait(lambda: snap(ec2, s)["State"] == "completed")
    for kw, want in ((dict(KmsKeyId="arn:aws:kms:us-west-2:123456789012:key/x"),
                      "InvalidParameterDependency"),
                     (dict(VolumeType="gp2", Iops=3000), "InvalidParameterCombination"),
                     (dict(VolumeType="io2", Throughput=250, Iops=100),
                      "InvalidParameterCombination"),
                     (dict(Size=4), "InvalidParameterValue")):
        with pytest.raises(ClientError) as e:
            ec2.create_volume(SnapshotId=s, AvailabilityZone="us-west-2b", **kw)
        assert code(e) == want, kw


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a loop device)")
def test_snapshot_of_a_loop_device_copies_its_backing_file(world, ec2, sim, tmp_path):
    r = subprocess.run(["losetup", "-f", "--show", str(world)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no free loop device: {r.stderr}")
    dev = r.stdout.strip()
    try:
        sim.client.seed({"volumes": {VOL: {"backing": dev}}})
        with open(dev, "r+b") as f:  # written through the device, as a filesystem would
            f.seek(2 * MiB)
            f.write(b"through the loop device")
            f.flush()
            os.fsync(f.fileno())
        s = create(ec2)["SnapshotId"]
        img = sim.client.state()["snapshots"][s]["backing"]
        assert img.startswith(str(tmp_path)) and img != str(world)
        with open(img, "rb") as f:
            f.seek(2 * MiB)
            assert f.read(23) == b"through the loop device"
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True)
