"""The volume module against the simulator, on real block devices.

Each EC2 instance is a private mount namespace (blockns.Instance).  The sim's
AttachVolume runs blockns's hook, which makes the volume's loop device appear in
the attached instance's namespace under the names EC2 would give it: /dev/xvdf
for /dev/sdf on Xen; on Nitro an NVMe controller in /sys/class/nvme whose serial
is the volume id, its /dev/nvmeNn1 node and udev's by-id link.  haboot runs in
the namespace (nsenter) and reads its instance id and zone from the sim's IMDS
for that instance; the filesystem module runs after the volume module where a
scenario needs the whole boot.  The request log (with every instance's state as
each mutating call arrived) is the evidence of what haboot asked EC2 to do.

Needs root, losetup, unshare, nsenter and e2fsprogs.
"""
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

import blockns
from simfixture import shared_sim

HABOOT = os.path.abspath(os.environ.get("HABOOT", "build/haboot"))
MiB = 1024 * 1024
AZ = "us-west-2a"
SELF = "i-0aaaaaaaaaaaaaaa1"
OWNER = "i-0bbbbbbbbbbbbbbb2"
OLD = "i-0ccccccccccccccc3"
VOL = "vol-073769c7"
FAST = {"attach": 0.2, "detach": 0.2, "force_detach": 0.1, "stop": 0.5, "stop_force": 0.3,
        "terminate": 0.3, "terminate_detach": 0.3, "create_volume": 0.2, "pending": 0.2}
ALIVE = ("pending", "running", "stopping", "shutting-down")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("losetup", "unshare", "nsenter", "mkfs.ext4")),
        reason="needs util-linux and e2fsprogs"),
]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Lab:
    """One test's sim state, instances (namespaces), disks and haboot runs."""

    def __init__(self, tmp, sim):
        self.tmp, self.sim, self.c = str(tmp), sim, sim.client
        self.reg = blockns.make_registry(os.path.join(self.tmp, "reg"))
        self.mnt = os.path.join(self.tmp, "mnt", "nfs")
        self.instances, self.loops, self.procs = {}, [], []
        self.c.reset(empty=True)
        self.c.seed({"region": "us-west-2", "delays": FAST,
                     "attach_hook": blockns.hook_argv(self.reg)})

    # ---- the world
    def instance(self, iid, naming="xen", az=AZ, state="running", ns=True, sd_links=False,
                 serials=None, nodes=None, **fields):
        """An instance in the sim (more seed fields in `fields`); with ns, also its
        namespace: a machine haboot boots on."""
        self.c.seed({"instances": {iid: {"az": az, "state": state, **fields}}})
        if ns:
            self.instances[iid] = blockns.Instance(self.reg, iid, naming, sd_links, serials,
                                                   nodes)
        return self.instances.get(iid)

    def disk(self, name, files=None, size=32 * MiB):
        """A loop device over a sparse image: blank, or ext4 holding `files`."""
        img = os.path.join(self.tmp, name + ".img")
        with open(img, "wb") as f:
            f.truncate(size)
        if files is not None:
            root = os.path.join(self.tmp, name + ".root")
            for rel, data in files.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "wb") as f:
                    f.write(data)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-d", root, img], check=True)
        for _ in range(10):
            r = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
            if r.returncode == 0:
                self.loops.append(r.stdout.strip())
                return r.stdout.strip()
            time.sleep(0.2)  # another test took the free device first
        raise RuntimeError(f"losetup: {r.stderr}")

    def volume(self, vid=VOL, az=AZ, backing=None, **fields):
        spec = {"az": az, "backing": backing or self.disk(vid), **fields}
        self.c.seed({"volumes": {vid: spec}})
        return spec["backing"]

    # ---- haboot
    def manifest(self, volume, filesystem=None):
        lines = ["#haboot", "version: 1", "name: voltest", "on_failure: halt", "modules:",
                 "  - volume:"]
        vol = {"id": VOL, "device": "/dev/sdf", "timeout": "4s", **volume}
        for k, v in vol.items():
            if k == "tags":
                v = "{" + ", ".join(f"{a}: {b}" for a, b in v.items()) + "}"
            if v is not None:
                lines.append(f"      {k}: {v}")
        if filesystem is not None:
            fs = {"mountpoint": self.mnt, "type": "ext4", "format": "if-blank",
                  "signature": ".NFSMASTER", **filesystem}
            lines.append("  - filesystem:")
            lines += [f"      {k}: {v}" for k, v in fs.items()]
        path = os.path.join(self.tmp, f"manifest-{time.monotonic_ns()}.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def env(self, iid):
        env = dict(os.environ)
        env.update(self.sim.env())
        # The instance's own metadata, served by the sim: id and zone come from there.
        env["AWS_EC2_METADATA_DISABLED"] = "false"
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"{self.sim.url}/_sim/imds/{iid}"
        return env

    def start(self, iid, volume=None, filesystem=None):
        status = os.path.join(self.tmp, f"status-{time.monotonic_ns()}.json")
        argv = self.instances[iid].argv(
            [HABOOT, "run", "-f", self.manifest(volume or {}, filesystem),
             "--status-file", status])
        p = subprocess.Popen(argv, env=self.env(iid), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        p.status_path, p.t0 = status, time.monotonic()
        self.procs.append(p)
        return p

    def finish(self, p, timeout=60):
        out, err = p.communicate(timeout=timeout)
        r = Run(p.returncode, out, err, time.monotonic() - p.t0)
        if os.path.exists(p.status_path):
            with open(p.status_path) as f:
                r.report = json.load(f)
        return r

    def run(self, iid, volume=None, filesystem=None):
        return self.finish(self.start(iid, volume, filesystem))

    # ---- evidence
    def calls(self, *actions):
        rows = self.c.requests(service="ec2")
        return [r for r in rows if not actions or r["action"] in actions]

    def mutations(self):
        return [r for r in self.calls() if not r["action"].startswith("Describe")]

    def vol(self, vid=VOL):
        return self.c.volume(vid)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
        for inst in self.instances.values():
            inst.close(under=self.tmp)
        for dev in self.loops:
            for _ in range(50):
                if subprocess.run(["losetup", "-d", dev], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"cannot detach {dev}")


class Run:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds
        self.report = None

    def module(self, name="volume"):
        return next(m for m in self.report["modules"] if m["name"] == name)

    @property
    def facts(self):
        return self.report["facts"] if self.report else {}

    @property
    def message(self):
        return self.module()["message"] or ""

    def __repr__(self):
        # pytest shortens a repr's lines: one log line per line keeps them whole.
        return "\n".join([f"haboot rc={self.rc} in {self.seconds:.1f}s"] + self.err.splitlines())


@pytest.fixture
def lab(tmp_path, tmp_path_factory):
    sim = shared_sim(tmp_path_factory)
    lab = Lab(tmp_path, sim)
    try:
        yield lab
        failed = [h for h in lab.c.state()["hook_log"] if h.get("rc") != 0]
        assert not failed, f"the attach hook failed: {failed}"
    finally:
        lab.close()
        lab.c.reset()


def assert_no_detach_from_live_owner(lab):
    """INVARIANT 3 evidence: every DetachVolume of another instance's attachment
    arrived when EC2 reported that instance stopped, terminated or gone."""
    for r in lab.calls("DetachVolume"):
        owner = r["params"].get("InstanceId")
        assert owner, f"DetachVolume without InstanceId: {r}"
        state = r["instance_states"].get(owner, "gone")
        if owner == SELF:
            continue  # our own stuck attach: nothing of the owner's is at stake
        assert state not in ALIVE, f"DetachVolume from {owner} while it was {state}: {r}"


def attached_to(vol):
    return [(a["instance"], a["state"]) for a in vol["attachments"]]


# ---- first boot -----------------------------------------------------------------

@pytest.mark.parametrize("naming", ["xen", "nitro"])
def test_first_attach_of_an_available_volume(lab, naming):
    """A blank available volume is attached, found under the name this
    hypervisor gives it, proven, formatted and mounted (INVARIANT 2: the device is
    proven to be the volume before the filesystem module may touch it)."""
    inst = lab.instance(SELF, naming)
    backing = lab.volume(tags={"Name": "nfs-master-volume"})
    # Xen by id; Nitro by tags, the other way to name the volume.
    volume = {} if naming == "xen" else {"id": None, "tags": {"Name": "nfs-master-volume"}}
    r = lab.run(SELF, volume, filesystem={})
    assert r.rc == 0, r
    dev = "/dev/xvdf" if naming == "xen" else "/dev/nvme1n1"
    assert r.facts["volume.id"] == VOL
    assert r.facts["volume.device"] == dev
    assert "volume.previous_owner" not in r.facts
    rdev = os.stat(backing).st_rdev
    assert inst.block_nodes()[dev] == f"{os.major(rdev)}:{os.minor(rdev)}"
    m = [m for m in inst.mounts() if m["target"] == lab.mnt]
    assert m and m[-1]["source"] == dev and m[-1]["fstype"] == "ext4", inst.mounts()
    assert os.path.exists(inst.path(os.path.join(lab.mnt, ".NFSMASTER")))
    # How the device was proven, said once, without nested parentheses.
    line = next(x for x in r.err.splitlines() if f"{VOL} is {dev} (" in x)
    proof = line.split(f"{VOL} is {dev} (", 1)[1]
    assert proof.endswith(")") and "(" not in proof and dev not in proof, line
    assert proof == ("Xen naming: no NVMe controller claims it)" if naming == "xen" else
                     f"NVMe namespace nvme1n1, controller serial {VOL.replace('-', '')})")
    attaches = lab.calls("AttachVolume")
    assert [(a["params"]["VolumeId"], a["params"]["InstanceId"], a["params"]["Device"],
             a["status"]) for a in attaches] == [(VOL, SELF, "/dev/sdf", 200)]
    assert [m["action"] for m in lab.mutations()] == ["AttachVolume"]
    assert attached_to(lab.vol()) == [(SELF, "attached")]
    # Fast polling: attached 0.2s after the call, noticed well under a second later.
    assert r.module()["duration_ms"] < 2000, r
    looks = [x["time"] for x in lab.calls("DescribeVolumes") if x["seq"] > attaches[0]["seq"]]
    assert looks and looks[0] - attaches[0]["time"] < 0.5


@pytest.mark.parametrize("naming", ["xen", "nitro"])
def test_rerun_on_a_converged_instance_changes_nothing(lab, naming):
    """Re-running `run` on an instance that already holds the volume makes no
    mutating AWS call and keeps the same device and mount."""
    inst = lab.instance(SELF, naming)
    lab.volume()
    assert lab.run(SELF, filesystem={}).rc == 0
    lab.c.clear_requests()
    r = lab.run(SELF, filesystem={})
    assert r.rc == 0, r
    assert lab.mutations() == []
    assert lab.calls("DescribeVolumes"), "the re-run must still look at EC2"
    assert r.module()["changed"] is False
    assert "already attached" in r.message
    dev = r.facts["volume.device"]
    assert [m["source"] for m in inst.mounts() if m["target"] == lab.mnt] == [dev]


# ---- takeover ---------------------------------------------------------------------

def test_owner_terminated_waits_for_ec2_detach_then_takes_over(lab):
    """The old owner died: haboot waits for EC2 to detach the volume (it detaches
    nothing itself), attaches it, reports the previous owner, and the data the old
    owner wrote is intact (INVARIANT 1: a volume with data is never formatted;
    INVARIANT 5: the takeover bumps the generation)."""
    old = lab.instance(OLD, "nitro")
    new = lab.instance(SELF, "xen")
    lab.volume()
    assert lab.run(OLD, filesystem={}).rc == 0
    data = os.urandom(3 * MiB + 5)
    with open(old.path(os.path.join(lab.mnt, "payload")), "wb") as f:
        f.write(data)
    subprocess.run(old.argv(["umount", lab.mnt]), check=True)  # the old OS goes down
    lab.c.clear_requests()
    # Long enough that haboot (under ASan, on a loaded machine) still finds
    # the volume attached to the dead owner and has to wait.
    lab.c.delays(terminate_detach=1.5)
    lab.c.set_instance_state(OLD, "terminated")
    r = lab.run(SELF, filesystem={"format": "never"})
    assert r.rc == 0, r
    assert r.facts["volume.previous_owner"] == OLD
    assert r.facts["volume.device"] == "/dev/xvdf"
    assert "waiting for EC2 to detach" in r.err
    assert OLD in r.message
    assert [m["action"] for m in lab.mutations()] == ["AttachVolume"]
    assert_no_detach_from_live_owner(lab)
    assert attached_to(lab.vol()) == [(SELF, "attached")]
    assert sha256(new.path(os.path.join(lab.mnt, "payload"))) == hashlib.sha256(data).hexdigest()
    assert r.facts.get("filesystem.generation") == "2"
    # The old owner's namespace lost the device when EC2 detached it.
    assert not [n for n in old.block_nodes() if "nvme1" in n]


def seed_owner(lab, state="running", **kw):
    """OWNER, another instance (not booted here), holds the volume."""
    lab.instance(OWNER, state=state, ns=False, **kw)
    backing = lab.volume(attachments=[{"instance": OWNER, "device": "/dev/sdf"}])
    lab.c.clear_requests()
    return backing


def assert_untouched(lab, owner_state="running"):
    assert attached_to(lab.vol()) == [(OWNER, "attached")]
    assert lab.c.instance(OWNER)["state"] == owner_state
    assert [m["action"] for m in lab.mutations()] == []


def test_if_owner_gone_with_a_running_owner_waits_then_fails_untouched(lab):
    """INVARIANT 3: takeover=if-owner-gone never detaches (let alone forces) a
    volume from an owner EC2 reports running: it waits, explains the wait, fails
    at the timeout, and leaves the volume attached to the owner."""
    lab.instance(SELF)
    seed_owner(lab)
    r = lab.run(SELF, {"takeover": "if-owner-gone", "timeout": "2s"}, filesystem={})
    assert r.rc == 1, r
    assert 2.0 <= r.module()["duration_ms"] / 1000 < 4.0, r
    assert f"{VOL} in-use by {OWNER} (running); takeover=if-owner-gone: waiting up to 2s" in r.err
    assert f"still attached to {OWNER}" in r.message and "if-owner-gone" in r.message
    assert r.facts["volume.previous_owner"] == OWNER  # named even when it fails
    assert_untouched(lab)
    assert r.module("filesystem")["state"] != "ok"


def test_takeover_never_fails_at_once(lab):
    """INVARIANT 3: takeover=never leaves another instance's volume alone."""
    lab.instance(SELF)
    seed_owner(lab)
    r = lab.run(SELF, {"takeover": "never", "timeout": "10s"})
    assert r.rc == 1, r
    assert r.seconds < 3, r
    assert "takeover=never" in r.message and OWNER in r.message
    assert_untouched(lab)


@pytest.mark.parametrize("how", ["running", "stop-hangs", "already-stopping"])
def test_fence_stops_the_owner_before_force_detaching(lab, how):
    """INVARIANT 3: takeover=fence force-stops the running owner, and only once
    EC2 reports it stopped force-detaches the volume, then attaches it here.  A
    hung OS (stop_hangs) or a plain stop already under way does not stall the
    fence: the forced stop ends it."""
    lab.instance(SELF, "nitro")
    seed_owner(lab, stop_hangs=how != "running")
    if how == "already-stopping":
        lab.c.set_instance_state(OWNER, "stopping")  # someone's plain stop, hung
        lab.c.clear_requests()
    r = lab.run(SELF, {"takeover": "fence", "timeout": "6s"})
    assert r.rc == 0, r
    seq = [(m["action"], m["params"].get("Force"), m["instance_states"][OWNER])
           for m in lab.mutations()]
    first = "running" if how != "already-stopping" else "stopping"
    assert seq == [("StopInstances", "true", first), ("DetachVolume", "true", "stopped"),
                   ("AttachVolume", None, "stopped")], seq
    stop = lab.calls("StopInstances")[0]
    assert stop["params"]["InstanceId.1"] == OWNER
    assert lab.calls("DetachVolume")[0]["params"]["InstanceId"] == OWNER
    assert_no_detach_from_live_owner(lab)
    assert r.facts["volume.previous_owner"] == OWNER
    assert r.facts["volume.fenced"] == OWNER
    assert r.facts["volume.device"] == "/dev/nvme1n1"
    assert attached_to(lab.vol()) == [(SELF, "attached")]
    assert lab.c.instance(OWNER)["state"] == "stopped"


def test_fence_never_detaches_while_the_owner_is_still_stopping(lab):
    """INVARIANT 3: after StopInstances the owner stays `stopping` (its stop never
    completes within the timeout): haboot must not detach, forced or not.  It
    fails at the timeout with the volume still attached to the owner."""
    lab.instance(SELF)
    seed_owner(lab)
    lab.c.delays(stop_force=60, stop=60)
    r = lab.run(SELF, {"takeover": "fence", "timeout": "2s"})
    assert r.rc == 1, r
    assert [m["action"] for m in lab.mutations()] == ["StopInstances"]
    assert lab.calls("DescribeInstances")[-1]["seq"] > lab.calls("StopInstances")[0]["seq"]
    assert attached_to(lab.vol()) == [(OWNER, "attached")]
    assert lab.c.instance(OWNER)["state"] == "stopping"
    assert f"still attached to {OWNER}" in r.message


def test_fence_does_not_force_detach_on_one_stale_stopped(lab):
    """INVARIANT 3 under eventual consistency: the owner was stopped and has been
    started again, but DescribeInstances first answers from the stale view
    ("stopped").  One such answer must not trigger a forced detach from what is
    a running instance: haboot looks again, sees it running, fences it first."""
    lab.instance(SELF)
    seed_owner(lab, state="stopped")
    lab.c.set_instance_state(OWNER, "running")  # the lag view remembers "stopped"
    lab.c.fault("ec2", "lag", action="DescribeInstances", count=1)
    lab.c.clear_requests()
    r = lab.run(SELF, {"takeover": "fence", "timeout": "6s"})
    assert r.rc == 0, r
    assert_no_detach_from_live_owner(lab)
    seq = [(m["action"], m["instance_states"][OWNER]) for m in lab.mutations()]
    assert seq[0] == ("StopInstances", "running"), seq
    assert ("DetachVolume", "stopped") in seq, seq


def test_fence_whose_stop_is_refused_detaches_nothing(lab):
    """INVARIANT 3: StopInstances is denied (no permission): the owner keeps
    running, so nothing is detached; the error says what to grant."""
    lab.instance(SELF)
    seed_owner(lab)
    lab.c.seed({"credentials": [{"access_key": "AKIDEXAMPLE",
                                 "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                 "deny": ["ec2:StopInstances"]}]})
    r = lab.run(SELF, {"takeover": "fence", "timeout": "3s"})
    assert r.rc == 1, r
    assert "UnauthorizedOperation" in r.message and "StopInstances" in r.message
    assert [(m["action"], m["status"]) for m in lab.mutations()] == [("StopInstances", 403)]
    assert attached_to(lab.vol()) == [(OWNER, "attached")]
    assert lab.c.instance(OWNER)["state"] == "running"


# ---- the device's identity -------------------------------------------------------

@pytest.mark.parametrize("links", ["sd-link", "no-link"])
def test_device_whose_nvme_serial_does_not_match_is_refused(lab, links):
    """INVARIANT 2: the disk that shows up for the attachment carries another
    volume's NVMe serial.  haboot refuses it and nothing is formatted or mounted:
    at once when /dev/sdf (Amazon Linux's link) points at that namespace, at the
    timeout when no name leads to a device proven to be the volume."""
    inst = lab.instance(SELF, "nitro", sd_links=links == "sd-link",
                        serials={VOL: "vol0deadbeef0000000f"})
    backing = lab.volume()
    r = lab.run(SELF, {"timeout": "2s"}, filesystem={})
    assert r.rc == 1, r
    if links == "sd-link":
        assert r.seconds < 2.0, r
        assert "vol0deadbeef0000000f" in r.message and "refusing" in r.message
    else:
        assert "no block device proven to be it" in r.message
        assert "vol073769c7" in r.message
    assert_refused(lab, inst, r, backing)


def assert_refused(lab, inst, r, *devices):
    assert "volume.device" not in r.facts
    assert r.module("filesystem")["state"] != "ok"
    assert not [m for m in inst.mounts() if m["target"].startswith(lab.tmp)]
    for dev in devices:
        with open(dev, "rb") as f:
            assert f.read(MiB) == bytes(MiB), f"the refused device {dev} was written to"


def test_nvme_node_of_another_device_is_refused(lab):
    """INVARIANT 2: the serial is right, but /dev/nvme1n1 is a stale node of
    another disk (its MAJ:MIN is not the one sysfs gives the namespace): refused at
    once, neither disk touched."""
    other = lab.disk("other")
    inst = lab.instance(SELF, "nitro", nodes={VOL: other})
    backing = lab.volume()
    r = lab.run(SELF, {"timeout": "3s"}, filesystem={})
    assert r.rc == 1, r
    assert r.seconds < 3.0, r
    assert "/dev/nvme1n1" in r.message and "sysfs" in r.message and "refusing" in r.message
    assert_refused(lab, inst, r, backing, other)


# ---- other zones ----------------------------------------------------------------

def test_volume_in_another_zone_with_other_az_fail(lab):
    """other_az=fail: a clear error naming both zones; nothing created or attached."""
    lab.instance(SELF)
    lab.volume(az="us-west-2b")
    r = lab.run(SELF, {"other_az": "fail"})
    assert r.rc == 1, r
    assert "us-west-2b" in r.message and AZ in r.message and "other_az" in r.message
    assert lab.mutations() == []


def test_volume_in_another_zone_restored_from_its_newest_snapshot(lab):
    """other_az=snapshot: a new volume from the newest *completed* snapshot of the
    old one, in this zone, tags copied, attached and mounted; the old volume is
    left alone; a re-run uses the restored volume instead of restoring again."""
    inst = lab.instance(SELF, "nitro")
    lab.volume(az="us-west-2b", tags={"Name": "nfs-master-volume", "Team": "storage"},
               type="io2", iops=4000)
    new = lab.disk("snap-new", files={".NFSMASTER": b"", "db": b"newest"})
    snaps = {
        "snap-0000000000000001a": {"start_time": "2026-01-01T00:00:00Z",
                                   "backing": lab.disk("snap-old", files={".NFSMASTER": b""})},
        "snap-0000000000000002b": {"start_time": "2026-01-02T00:00:00Z", "backing": new},
        "snap-0000000000000003c": {"start_time": "2026-01-03T00:00:00Z", "state": "pending"},
    }
    lab.c.seed({"snapshots": {sid: {"volume_id": VOL, "size": 100, **s}
                              for sid, s in snaps.items()}})
    lab.c.seed({"snapshots": {"snap-0000000000000004d": {  # another volume's, newer
        "volume_id": "vol-0ffffffff", "start_time": "2026-01-04T00:00:00Z"}}})
    r = lab.run(SELF, {"other_az": "snapshot"}, filesystem={"format": "never"})
    assert r.rc == 0, r
    creates = lab.calls("CreateVolume")
    assert len(creates) == 1, creates
    p = creates[0]["params"]
    assert p["SnapshotId"] == "snap-0000000000000002b" and p["AvailabilityZone"] == AZ
    nid = r.facts["volume.id"]
    assert nid != VOL
    restored = lab.vol(nid)
    assert restored["az"] == AZ and restored["snapshot_id"] == "snap-0000000000000002b"
    assert restored["tags"]["Name"] == "nfs-master-volume"
    assert restored["tags"]["Team"] == "storage"
    assert restored["tags"]["haboot:restored-from"] == VOL
    assert (restored["type"], restored["iops"]) == ("io2", 4000)  # the same kind of disk
    assert attached_to(restored) == [(SELF, "attached")]
    assert "snap-0000000000000002b" in r.err and "left alone" in r.err
    old = lab.vol(VOL)
    assert old["az"] == "us-west-2b" and old["attachments"] == []
    with open(inst.path(os.path.join(lab.mnt, "db")), "rb") as f:
        assert f.read() == b"newest"
    # The next boot (or a re-run) finds the restored volume: no second copy.
    lab.c.clear_requests()
    r2 = lab.run(SELF, {"other_az": "snapshot"}, filesystem={"format": "never"})
    assert r2.rc == 0, r2
    assert lab.mutations() == []
    assert r2.facts["volume.id"] == nid


def test_snapshot_restore_skips_tags_ec2_reserves(lab):
    """A volume made by CloudFormation carries aws:* tags; CreateVolume refuses
    those keys, so the restore copies every other tag and still succeeds."""
    lab.instance(SELF)
    lab.volume(az="us-west-2b", tags={"Name": "nfs-master-volume",
                                      "aws:cloudformation:stack-name": "nfs"})
    lab.c.seed({"snapshots": {"snap-0000000000000001a": {
        "volume_id": VOL, "backing": lab.disk("snap")}}})
    r = lab.run(SELF, {"other_az": "snapshot"})
    assert r.rc == 0, r
    tags = lab.vol(r.facts["volume.id"])["tags"]
    assert tags["Name"] == "nfs-master-volume"
    assert not [k for k in tags if k.startswith("aws:")]


@pytest.mark.parametrize("by", ["id", "tags"])
def test_volume_superseded_by_a_restored_copy_is_not_taken(lab, by):
    """Once other_az=snapshot restored a copy elsewhere, the original's data may be
    older than the copy's: a later boot in the original's zone must not silently
    roll the service back onto it."""
    lab.instance(SELF)
    lab.volume(tags={"Name": "nfs-master-volume"})
    lab.volume("vol-0123456789abcdef0", az="us-west-2b",
               tags={"Name": "nfs-master-volume", "haboot:restored-from": VOL})
    volume = {"other_az": "snapshot"}
    if by == "tags":
        volume.update(id=None, tags={"Name": "nfs-master-volume"})
    r = lab.run(SELF, volume)
    assert r.rc == 1, r
    assert "vol-0123456789abcdef0" in r.message and "newer" in r.message
    assert lab.mutations() == []


# ---- finding the volume ------------------------------------------------------------

def test_tags_matching_two_volumes_is_an_error_listing_both(lab):
    """Tags must pick exactly one volume: two matches stop the run, naming both."""
    lab.instance(SELF)
    lab.volume(tags={"Name": "nfs-master-volume"})
    lab.volume("vol-0123456789abcdef0", tags={"Name": "nfs-master-volume"})
    r = lab.run(SELF, {"id": None, "tags": {"Name": "nfs-master-volume"}})
    assert r.rc == 1, r
    assert VOL in r.message and "vol-0123456789abcdef0" in r.message
    assert lab.mutations() == []


def test_multi_attach_volume_is_refused(lab):
    """Two writers on one ext4/xfs filesystem destroy it: a multi-attach volume is
    never attached."""
    lab.instance(SELF)
    lab.volume(type="io2", iops=1000, multi_attach=True)
    r = lab.run(SELF)
    assert r.rc == 1, r
    assert "multi-attach" in r.message
    assert lab.mutations() == []


# ---- an unreliable EC2 ------------------------------------------------------------

def test_throttled_describe_volumes_still_converges(lab):
    """EC2 throttles DescribeVolumes for longer than one call's retries last
    (as in a mass failover): haboot keeps polling within its timeout and attaches
    once."""
    lab.instance(SELF)
    lab.volume()
    lab.c.fault("ec2", "throttle", action="DescribeVolumes", count=8)
    r = lab.run(SELF, {"timeout": "8s"})
    assert r.rc == 0, r
    throttled = [x for x in lab.calls("DescribeVolumes") if x.get("error") == "RequestLimitExceeded"]
    assert len(throttled) == 8
    assert len(lab.calls("AttachVolume")) == 1
    assert r.facts["volume.device"] == "/dev/xvdf"


def test_throttled_describe_while_waiting_for_attach(lab):
    """Throttling that starts after AttachVolume, while haboot waits for
    `attached`, is waited out the same way."""
    lab.instance(SELF)
    lab.volume()
    lab.c.delays(attach=0.6)
    p = lab.start(SELF, {"timeout": "8s"})
    lab.c.wait_for(lambda s: s["volumes"][VOL]["attachments"], timeout=5)
    lab.c.fault("ec2", "throttle", action="DescribeVolumes", count=6)
    r = lab.finish(p)
    assert r.rc == 0, r
    assert len(lab.calls("AttachVolume")) == 1


def test_lagging_describe_volumes_causes_no_second_attach(lab):
    """DescribeVolumes answers from before the AttachVolume (eventual
    consistency): haboot must not take the stale `available` for a failed attach
    and send AttachVolume again."""
    lab.instance(SELF, "nitro")
    lab.volume()
    lab.c.seed({"volumes": {VOL: {}}})  # the stale view starts with the volume seeded
    lab.c.delays(attach=0.8)
    lab.c.fault("ec2", "lag", action="DescribeVolumes", count=4)
    r = lab.run(SELF, {"timeout": "6s"})
    assert r.rc == 0, r
    assert len(lab.calls("AttachVolume")) == 1, lab.calls("AttachVolume")
    assert lab.mutations()[0]["action"] == "AttachVolume"
    assert len(lab.mutations()) == 1


# ---- a stuck attach ----------------------------------------------------------------

def wait_for_call(lab, action, n=1, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        rows = lab.calls(action)
        if len(rows) >= n:
            return rows
        time.sleep(0.05)
    raise TimeoutError(f"no {action} #{n}")


def test_stuck_attaching_is_detached_and_retried_once(lab):
    """An attachment stuck in `attaching` is detached and attached again, once
    (as the EBS CSI driver does); the retry succeeds."""
    lab.instance(SELF)
    lab.volume()
    lab.c.delays(attach=3600)  # the first attach never completes
    p = lab.start(SELF, {"timeout": "5s"})  # stuck after 2.5s; the retry has as long
    wait_for_call(lab, "AttachVolume")
    lab.c.delays(attach=0.2)   # the next one does
    r = lab.finish(p)
    assert r.rc == 0, r
    seq = [(m["action"], m["params"].get("InstanceId"), m["params"].get("Force"))
           for m in lab.mutations()]
    assert seq == [("AttachVolume", SELF, None), ("DetachVolume", SELF, None),
                   ("AttachVolume", SELF, None)], seq
    assert "stuck attaching" in r.err
    assert r.facts["volume.device"] == "/dev/xvdf"


def test_stuck_attaching_twice_fails_after_one_retry(lab):
    """The retry happens once: a second stuck attach fails at the timeout."""
    lab.instance(SELF)
    lab.volume()
    lab.c.delays(attach=3600)
    r = lab.run(SELF, {"timeout": "3s"})
    assert r.rc == 1, r
    assert [m["action"] for m in lab.mutations()] == ["AttachVolume", "DetachVolume",
                                                      "AttachVolume"]
    assert "did not become attached" in r.message
