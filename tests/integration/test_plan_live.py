"""`haboot plan` on an instance (no -f): the manifest from user-data, live
metadata, read-only EC2 calls and DryRun permission checks, and no change."""
import json
import os
import subprocess

import pytest

from simfixture import NFS_SEED, start_sim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot"))
SELF = "i-0aaaaaaaaaaaaaaa1"
OLD = "i-0bbbbbbbbbbbbbbb2"
VOL = "vol-073769c7"
MUTATING = {"AttachVolume", "DetachVolume", "StopInstances", "CreateVolume",
            "ChangeResourceRecordSets", "Publish", "PutMetricData", "SetInstanceHealth"}

MANIFEST = """#haboot
version: 1
name: nfs
modules:
  - volume:
      id: vol-073769c7
      device: /dev/sdf
      takeover: {takeover}
"""


def seed(takeover, owner_state="running", deny=()):
    with open(NFS_SEED) as f:
        s = json.load(f)
    s["instances"][SELF]["user_data"] = MANIFEST.format(takeover=takeover)
    s["instances"][OLD] = {"az": "us-west-2a", "private_ip": "10.10.10.11",
                           "state": owner_state}
    s["volumes"][VOL]["attachments"] = [{"instance": OLD, "device": "/dev/sdf"}]
    s["roles"]["ec2-nfs-role"]["deny"] = list(deny)
    return s


def plan(sim, *args):
    env = dict(os.environ)
    env.update(sim.env(AWS_EC2_METADATA_DISABLED="false"))
    # The instance role's credentials, as on an instance: not the static keys.
    env.pop("AWS_ACCESS_KEY_ID")
    env.pop("AWS_SECRET_ACCESS_KEY")
    return subprocess.run([HABOOT, "plan", *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.fixture
def sim_for(tmp_path):
    sims = []

    def make(s):
        sim = start_sim(tmp_path / str(len(sims)), seed=s)
        sims.append(sim)
        return sim
    yield make
    for sim in sims:
        sim.stop()


def mutations(sim):
    return [r["action"] for r in sim.client.requests() if r.get("action") in MUTATING
            and r.get("status") == 200]


def test_plan_reads_user_data_and_shows_the_owner(sim_for):
    sim = sim_for(seed("fence"))
    r = plan(sim)
    assert r.returncode == 0, r.stderr
    assert "i-0aaaaaaaaaaaaaaa1  (imds)" in r.stdout
    assert f"now: {VOL} is attached to {OLD} (running) as /dev/sdf" in r.stdout
    assert "would stop it, then detach" in r.stdout
    for action in ("DetachVolume", "StopInstances"):
        assert f"ec2 {action} is allowed (DryRun" in r.stdout
    # EC2 validates before it answers DryRun: attaching an in-use volume says so
    # rather than claiming a permission it did not prove.
    assert "ec2 AttachVolume permission not proven" in r.stdout
    assert "VolumeInUse" in r.stdout
    assert mutations(sim) == []
    # Every DryRun call really was one.
    dry = [q for q in sim.client.requests() if q.get("params", {}).get("DryRun") == "true"]
    assert {q["action"] for q in dry} == {"AttachVolume", "DetachVolume", "StopInstances"}


def test_plan_names_a_permission_the_role_lacks(sim_for):
    sim = sim_for(seed("fence", deny=["ec2:StopInstances"]))
    r = plan(sim)
    assert r.returncode == 0, r.stderr
    assert "ec2 StopInstances is NOT allowed for this instance role" in r.stdout
    assert "ec2 DetachVolume is allowed" in r.stdout
    assert mutations(sim) == []


def test_plan_of_an_available_volume_proves_attach(sim_for):
    s = seed("if-owner-gone")
    s["volumes"][VOL]["attachments"] = []
    sim = sim_for(s)
    r = plan(sim)
    assert r.returncode == 0, r.stderr
    assert f"now: {VOL} is available in us-west-2a: run would attach it" in r.stdout
    assert "ec2 AttachVolume is allowed (DryRun" in r.stdout
    s["roles"]["ec2-nfs-role"]["deny"] = ["ec2:AttachVolume"]
    sim2 = sim_for(s)
    r = plan(sim2)
    assert "ec2 AttachVolume is NOT allowed for this instance role" in r.stdout
    assert mutations(sim) == [] and mutations(sim2) == []


def test_plan_on_a_converged_instance_says_nothing_changes(sim_for):
    s = seed("if-owner-gone")
    s["volumes"][VOL]["attachments"] = [{"instance": SELF, "device": "/dev/sdf"}]
    sim = sim_for(s)
    r = plan(sim)
    assert r.returncode == 0, r.stderr
    assert "attached to this instance as /dev/sdf: run changes nothing" in r.stdout
    assert "DetachVolume is" not in r.stdout  # no takeover to prove
    assert mutations(sim) == []


R53_MANIFEST = """#haboot
version: 1
name: nfs
modules:
  - route53:
      zone: helloawsworld.com
      name: nfs.helloawsworld.com
      value: local-ipv4
"""


def test_plan_shows_what_route53_holds_now(sim_for):
    s = seed("never")
    s["instances"][SELF]["user_data"] = R53_MANIFEST
    s["zones"]["Z1G9ZB2OW5990Z"]["records"] = [
        {"name": "nfs.helloawsworld.com.", "type": "A", "ttl": 60, "values": ["10.10.10.99"]}]
    sim = sim_for(s)
    r = plan(sim)
    assert r.returncode == 0, r.stderr
    assert ("now: nfs.helloawsworld.com. A holds 10.10.10.99 (ttl 60): run would point it at "
            "10.10.10.10") in r.stdout
    assert mutations(sim) == []
    s["zones"]["Z1G9ZB2OW5990Z"]["records"][0]["values"] = ["10.10.10.10"]
    sim2 = sim_for(s)
    r = plan(sim2)
    assert "holds 10.10.10.10 (ttl 60): run changes nothing" in r.stdout
