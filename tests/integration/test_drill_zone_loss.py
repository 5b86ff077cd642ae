"""The failover drill, zone loss: the reference's third failure case ("we will
have to fail over to a different zone").

Instance A in us-west-2a serves NFS from the volume; `haboot watch` on A keeps
the snapshot schedule.  The client writes set 1; a snapshot completes (the sim
copied the volume's bytes at the request, with the filesystem frozen around
it); the client writes set 2.  Then zone a is lost: A dies mid-service and its
volume is out of reach (EC2 still lists both, as in an outage).  Instance B,
launched in us-west-2b from the same user-data, cannot attach that volume: it
restores the newest completed snapshot in its own zone, serves it and moves
the DNS name.  Set 1 reads back intact.  B's report states the data age, and
set 2 is exactly what that age says may be lost: every file acknowledged
before the snapshot's start time is there, every one after it is not.

Runs in the drill's world (drill.py): namespaces, the sim, ganesha, a client.
"""
import os
import subprocess
import time

import pytest

import blockns
import drill
from drill import A, B, MOUNT, NAME, TOPIC, VOL, payload, sha256
from test_drill import reports, show
from test_drill_iam import enforce_generated_policy, refused


def drill_actions(statement):
    a = statement["Action"]
    return a if isinstance(a, list) else [a]

ZONE_B = "us-west-2b"
EVERY = "5m"      # one snapshot in the drill's minute; the README works out other schedules

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, loop devices)"),
    pytest.mark.skipif(bool(drill.missing_tools()),
                       reason=f"needs {', '.join(drill.missing_tools())}"),
]


class ZoneLab(drill.Lab):
    """The drill's world with B in another zone, other_az: snapshot and a
    snapshot schedule in the manifest."""

    def manifest(self):
        m = super().manifest()
        m = m.replace("modules:\n", "watch: {interval: 1s, heartbeat: 5s}\nmodules:\n", 1)
        return m.replace(f"      takeover: {self.takeover}\n",
                         f"      takeover: {self.takeover}\n      other_az: snapshot\n"
                         f"      snapshots: {{every: {EVERY}, keep: 4, freeze: true}}\n", 1)

    def seed(self):
        s = super().seed()
        s["instances"][B]["az"] = ZONE_B
        s["options"] = {"snapshot_dir": os.path.join(self.tmp, "snapshots")}
        s["delays"] = dict(self.delays, snapshot=2.0, snapshot_rate=5.0)
        return s

    def aws_waits(self, inst, status):
        """The drill's waits, and the restored volume's creating -> available."""
        waits = super().aws_waits(inst, status)
        for r in self.calls(inst.iid, "ec2"):
            if r.get("action") == "CreateVolume" and r["status"] == 200:
                waits.append(("CreateVolume until available", r["time"],
                              r["time"] + self.delays.get("create_volume", 0.5)))
        return waits

    def start_watcher(self, inst):
        """`haboot watch` on inst, as its service unit would start it."""
        env = {"PATH": drill.HOST_PATH, "HOME": "/root", "LANG": "C.UTF-8",
               "AWS_ENDPOINT_URL": self.sim_url}
        out = open(inst.dir / "watch.log", "w")
        p = subprocess.Popen(inst.argv([drill.HABOOT, "watch", "--status-file",
                                        "/run/haboot/status.json"]), env=env,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             preexec_fn=drill._die_with_parent)
        out.close()
        self.procs.append(p)
        return p


@pytest.fixture
def lab(tmp_path):
    lab = ZoneLab(tmp_path / "lab")
    try:
        yield lab
    finally:
        try:
            lab.close()
        finally:
            blockns.release_loops(lab.reg)


def write(lab, names, acked):
    for i in names:
        name, data = f"file-{i:03d}.bin", payload(i)
        assert lab.client.put(name, data), f"{name}: the server did not acknowledge it"
        acked[name] = (sha256(data), time.time())


def wait(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_zone_lost_b_restores_the_newest_snapshot_in_its_zone(lab, tmp_path):
    # Under the role's generated policy, enforced by the sim: A's schedule and
    # B's restore need nothing it does not grant.
    policy = enforce_generated_policy(lab, tmp_path)
    acts = {a for st in policy["Statement"] for a in drill_actions(st)}
    assert {"ec2:CreateSnapshot", "ec2:DeleteSnapshot", "ec2:CreateVolume"} <= acts, acts
    tl = lab.timeline
    ra = lab.a.wait_boot(lab.a.boot())
    assert ra.rc == 0, ra
    assert lab.client.resolve() == lab.a.addr
    acked = {}
    write(lab, range(0, 20), acked)
    tl.mark("client", "set 1: 20 files written through the name -> A, acknowledged")

    # A's watcher takes the first snapshot at once (there is none yet).
    lab.start_watcher(lab.a)

    def completed():
        snaps = [s for s in lab.sim.state()["snapshots"].values()
                 if s["tags"].get("haboot:service") == "nfs" and s["state"] == "completed"]
        return snaps[0] if snaps else None
    snap = wait(completed, 60, "A's watcher's first snapshot to complete")
    t_snap = snap["start_time"]
    tl.mark("ec2", f"CreateSnapshot {snap['id']} of {VOL} accepted (its point in time)", t_snap)
    tl.mark("ec2", f"{snap['id']} completed")
    watch_log = (lab.a.dir / "watch.log").read_text()
    assert "froze " + MOUNT in watch_log and "was frozen" in watch_log, watch_log
    frozen_ms = int(watch_log.split(" was frozen ")[1].split(" ms")[0])

    write(lab, range(20, 40), acked)
    tl.mark("client", "set 2: 20 more files written through the name -> A, acknowledged")

    # Zone a is lost: A stops dead, its link is gone; EC2 still says running,
    # the volume still attached to it, in us-west-2a.
    t_loss = lab.a.crash()
    tl.mark("a", "zone us-west-2a lost: A dies (link cut, disk frozen, processes killed)",
            t_loss)
    lab.released(lab.a)
    assert lab.sim.instance(A)["state"] == "running"
    assert lab.attached_to() == [(A, "attached")]

    probe_start = time.time()
    rb = lab.b.wait_boot(lab.b.boot())
    assert rb.rc == 0, rb
    facts = rb.facts
    nid = facts["volume.id"]
    assert nid != VOL
    new = lab.sim.volume(nid)
    assert new["az"] == ZONE_B and new["snapshot_id"] == snap["id"]
    assert new["tags"]["haboot:restored-from"] == VOL
    assert lab.sim.volume(VOL)["tags"]["haboot:superseded-by"] == nid
    assert lab.b.mounted()
    assert facts["filesystem.generation"] == "2" and facts["filesystem.previous_holder"] == A
    assert lab.client.resolve() == lab.b.addr
    t_dns = drill.iso_time(rb.status["finished"])

    # The data age B states, in its status and its report.
    as_of = drill.iso_time(facts["volume.data_as_of"])
    age = int(facts["volume.data_age_seconds"])
    assert abs(as_of - t_snap) < 1.0, (facts, t_snap)
    assert abs(age - (probe_start - t_snap)) < 30, (age, probe_start - t_snap)
    rep = reports(lab, B)[-1]["message"]
    assert f"DATA AGE:  {age}s" in rep and facts["volume.data_as_of"] in rep, rep
    assert "data age" in rb.log and snap["id"] in rb.log

    # Set 1 intact; set 2 exactly what the data age says may be lost.
    before = {n: v for n, v in acked.items() if v[1] < as_of}
    after = {n: v for n, v in acked.items() if v[1] >= as_of}
    set1 = [f"file-{i:03d}.bin" for i in range(0, 20)]
    assert sorted(before) == set1 and sorted(after) == [f"file-{i:03d}.bin"
                                                        for i in range(20, 40)], (before, after)
    for name, (want, _) in sorted(before.items()):
        got = lab.client.get_retrying(name, until=20)
        assert got is not None and sha256(got) == want, f"{name} (set 1) lost or changed"
    for name in sorted(after):
        assert lab.client.get(name) is None, f"{name} (set 2) is on the restored volume"
        assert not os.path.exists(lab.b.path(f"{MOUNT}/{name}"))
    tl.mark("client", f"set 1 read back through {NAME} -> B, checksums equal; set 2 absent")
    assert not refused(lab), refused(lab)

    lines, t = lab.report("zone a lost, B restores the newest snapshot in zone b", t_loss,
                          f"zone us-west-2a lost ({A} and {VOL})", rb, dns=t_dns)
    written2 = [v[1] for v in after.values()]
    lines += [
        f"   schedule: every {EVERY}, freeze: A's filesystem was frozen {frozen_ms} ms "
        "around CreateSnapshot",
        f"   snapshot {snap['id']} started {t_snap - t_loss:+.3f}s from the loss; "
        f"B restored it {age}s after its start (data age, as B's report states)",
        f"   set 2: {len(after)} files acknowledged between {min(written2) - t_snap:.3f}s "
        f"and {max(written2) - t_snap:.3f}s after the snapshot: all lost, as the data age "
        "says; set 1 (before it): all intact",
        f"   RPO: what is written in the {t_loss - t_snap:.3f}s from the snapshot to the "
        f"loss; at most every ({EVERY}) plus the time a snapshot takes to complete",
    ]
    show(lines)
