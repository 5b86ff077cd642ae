"""other_az: snapshot made complete: which snapshot, what the new volume is,
what becomes of the old one, and what operators are told.

- the newest *completed* snapshot of the volume or carrying the service's tag,
  whoever made it (Data Lifecycle Manager with the same tag included);
- the copy: the old volume's type, size, IOPS, throughput, encryption and KMS
  key, its tags and the service's;
- once the copy serves, the old volume is tagged haboot:superseded-by, and a
  later boot in its zone never serves it: it restores afresh from the newest
  snapshot (other_az: snapshot) or stops (other_az: fail);
- the data age (the snapshot's start time against now) is in the run's log,
  the status (facts) and the SNS report.

Needs root, losetup, unshare, nsenter and e2fsprogs.
"""
import datetime
import os
import shutil
import subprocess
import time

import pytest

import blockns
from simfixture import shared_sim
from test_volume_module import FAST, HABOOT, SELF, VOL, Lab, Run, attached_to

SERVICE = "restoretest"
TOPIC = "arn:aws:sns:us-west-2:123456789012:restoretest"
KMS = "arn:aws:kms:us-west-2:123456789012:key/11111111-2222-3333-4444-555555555555"
B = "vol-0b0000000000000b1"   # the copy an earlier restore made in us-west-2b
OLD = "i-0ccccccccccccccc3"    # the instance that served B

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("losetup", "unshare", "nsenter", "mkfs.ext4")),
        reason="needs util-linux and e2fsprogs"),
]


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


def parse_iso(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def lab(tmp_path, tmp_path_factory):
    sim = shared_sim(tmp_path_factory)
    lab = Lab(tmp_path, sim)
    try:
        lab.c.seed({"delays": FAST, "topics": [TOPIC]})
        yield lab
        failed = [h for h in lab.c.state()["hook_log"] if h.get("rc") != 0]
        assert not failed, f"the attach hook failed: {failed}"
    finally:
        lab.close()
        blockns.release_loops(lab.reg)
        lab.c.reset()


def run(lab, volume, other_az="snapshot"):
    """volume (id: or tags:), filesystem (never formats) and notify."""
    text = ("#haboot\nversion: 1\n"
            f"name: {SERVICE}\non_failure: halt\nmodules:\n  - volume:\n"
            f"      {volume}\n      device: /dev/sdf\n      timeout: 10s\n"
            f"      other_az: {other_az}\n"
            "  - filesystem:\n"
            f"      mountpoint: {lab.mnt}\n      type: ext4\n      format: never\n"
            "      signature: .NFSMASTER\n"
            f"  - notify:\n      sns: {TOPIC}\n")
    path = os.path.join(lab.tmp, f"m-{time.monotonic_ns()}.yaml")
    with open(path, "w") as f:
        f.write(text)
    status = os.path.join(lab.tmp, f"status-{time.monotonic_ns()}.json")
    p = subprocess.Popen(lab.instances[SELF].argv([HABOOT, "run", "-f", path, "--status-file",
                                                   status]),
                         env=lab.env(SELF), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.status_path, p.t0 = status, time.monotonic()
    lab.procs.append(p)
    return lab.finish(p)


def data(lab, name, content):
    """A loop device holding an ext4 filesystem with the signature and a file."""
    return lab.disk(name, files={".NFSMASTER": b"", "data": content})


def read(lab, name="data"):
    with open(lab.instances[SELF].path(os.path.join(lab.mnt, name)), "rb") as f:
        return f.read()


def reports(lab):
    return [m for m in lab.c.state()["sns_messages"] if m["topic_arn"] == TOPIC]


def test_newest_completed_snapshot_of_the_service_whoever_made_it(lab):
    """The volume is in another zone.  Of its snapshots and those carrying the
    service's tag, the newest completed one wins: here one Data Lifecycle
    Manager made of the volume the service used before.  The copy is the same
    kind of disk, encrypted with the same key; the old volume is then marked
    superseded; the data age is in the log, the facts and the report."""
    lab.instance(SELF, "nitro")
    lab.volume(az="us-west-2b", size=20, type="gp3", iops=4000, throughput=250,
               encrypted=True, kms_key_id=KMS,
               tags={"Name": "nfs-master-volume", "Team": "storage"})
    now = time.time()
    tag = {"haboot:service": SERVICE}
    lab.c.seed({"snapshots": {
        "snap-0000000000000001a": {"volume_id": VOL, "size": 20, "start_time": iso(now - 3 * 3600),
                                   "backing": data(lab, "s1", b"three hours old")},
        "snap-0000000000000002b": {"volume_id": "vol-0a0000000000000a1", "size": 20,
                                   "start_time": iso(now - 3600),
                                   "tags": dict(tag, **{"aws:dlm:lifecycle-policy-id": "p-1"}),
                                   "backing": data(lab, "s2", b"an hour old, by DLM")},
        "snap-0000000000000003c": {"volume_id": VOL, "size": 20, "start_time": iso(now - 600),
                                   "tags": tag, "state": "pending", "progress": "40%"},
        "snap-0000000000000004d": {"volume_id": "vol-0a0000000000000a2", "size": 20,
                                   "start_time": iso(now - 300),
                                   "tags": {"haboot:service": "another-service"}},
        "snap-0000000000000005e": {"volume_id": "vol-0a0000000000000a3", "size": 20,
                                   "start_time": iso(now - 60)},
    }})
    r = run(lab, f"id: {VOL}")
    assert r.rc == 0, r
    creates = lab.calls("CreateVolume")
    assert len(creates) == 1, creates
    p = creates[0]["params"]
    assert p["SnapshotId"] == "snap-0000000000000002b"
    assert (p["AvailabilityZone"], p["VolumeType"], p["Iops"], p["Throughput"], p["Size"],
            p["Encrypted"], p["KmsKeyId"]) == ("us-west-2a", "gp3", "4000", "250", "20", "true",
                                               KMS)
    nid = r.facts["volume.id"]
    new = lab.vol(nid)
    assert (new["az"], new["type"], new["iops"], new["throughput"], new["size"]) == \
        ("us-west-2a", "gp3", 4000, 250, 20)
    assert new["encrypted"] and new["kms_key_id"] == KMS
    assert new["tags"] == {"Name": "nfs-master-volume", "Team": "storage",
                           "haboot:service": SERVICE, "haboot:restored-from": VOL,
                           "haboot:restored-snapshot": "snap-0000000000000002b",
                           "haboot:data-as-of": iso(now - 3600)}
    assert attached_to(new) == [(SELF, "attached")]
    assert read(lab) == b"an hour old, by DLM"
    # The old volume: its data untouched, tagged superseded by the copy.
    old = lab.vol(VOL)
    assert old["tags"]["haboot:superseded-by"] == nid and old["attachments"] == []
    tags = lab.calls("CreateTags")
    assert [(t["params"]["ResourceId.1"], t["params"]["Tag.1.Key"]) for t in tags] == \
        [(VOL, "haboot:superseded-by")]
    assert tags[0]["seq"] > next(a for a in lab.calls("AttachVolume"))["seq"]
    # The data age: facts, module message, log, report.
    assert r.facts["volume.data_as_of"] == iso(now - 3600)
    assert 3590 <= int(r.facts["volume.data_age_seconds"]) <= 3600 + 120
    assert r.facts["volume.superseded"] == VOL
    assert "restored: data as of " + iso(now - 3600) in r.module()["message"]
    assert "snap-0000000000000002b" in r.err and "data age 60m" in r.err, r
    assert "writes made to it after" in r.err
    rep = reports(lab)[-1]["message"]
    assert "DATA AGE:  " + r.facts["volume.data_age_seconds"] + "s" in rep, rep
    assert iso(now - 3600) in rep


@pytest.mark.parametrize("by", ["tags", "id"])
def test_a_superseded_volume_is_never_served_again(lab, by):
    """Back in the old zone: VOL is there, but tagged superseded by B (in
    us-west-2b, with newer data).  Named by tags or by id, VOL is never
    attached: B's newest snapshot is restored here instead, and B in turn is
    marked superseded by that copy."""
    lab.instance(SELF)
    lab.volume(tags={"Name": "nfs-master-volume", "haboot:superseded-by": B},
               backing=data(lab, "vol", b"stale: the old zone's"))
    lab.c.seed({"instances": {OLD: {"az": "us-west-2b", "state": "terminated"}}})
    lab.volume(B, az="us-west-2b", tags={"Name": "nfs-master-volume",
                                         "haboot:restored-from": VOL},
               backing=data(lab, "b", b"B's, detached"))
    lab.c.seed({"snapshots": {"snap-0000000000000006f": {
        "volume_id": B, "size": 100, "start_time": iso(time.time() - 120),
        "tags": {"haboot:service": SERVICE},
        "backing": data(lab, "bsnap", b"B's newest snapshot")}}})
    r = run(lab, f"id: {VOL}" if by == "id" else "tags: {Name: nfs-master-volume}")
    assert r.rc == 0, r
    assert f"{VOL} (us-west-2a) is superseded by {B}" in r.err, r
    assert not [a for a in lab.calls("AttachVolume") if a["params"]["VolumeId"] == VOL]
    assert lab.vol(VOL)["attachments"] == []
    assert read(lab) == b"B's newest snapshot"
    nid = r.facts["volume.id"]
    assert nid not in (VOL, B)
    assert lab.vol(nid)["tags"]["haboot:restored-from"] == B
    assert lab.vol(B)["tags"]["haboot:superseded-by"] == nid
    assert lab.vol(VOL)["tags"]["haboot:superseded-by"] == B  # history left as it was


def test_superseded_with_other_az_fail_stops_without_touching_it(lab):
    lab.instance(SELF)
    lab.volume(tags={"Name": "nfs-master-volume", "haboot:superseded-by": B})
    lab.volume(B, az="us-west-2b", tags={"Name": "nfs-master-volume"})
    r = run(lab, "tags: {Name: nfs-master-volume}", other_az="fail")
    assert r.rc == 1, r
    assert B in r.message and "us-west-2b" in r.message and "other_az" in r.message, r
    assert lab.mutations() == []


def test_superseded_by_a_volume_that_is_gone_is_not_served(lab):
    """The copy was deleted: VOL's data is still older than what was lost with
    it.  haboot stops (a failure every instance would repeat) and says how to
    serve VOL anyway."""
    lab.instance(SELF)
    lab.volume(tags={"Name": "nfs-master-volume", "haboot:superseded-by": B})
    r = run(lab, f"id: {VOL}")
    assert r.rc == 1, r
    assert f"{VOL} (superseded by {B})" in r.message and "remove its haboot:superseded-by" \
        in r.message, r
    assert r.module()["failure_scope"] == "anywhere", r.module()
    assert lab.mutations() == []
