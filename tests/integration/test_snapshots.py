"""The snapshot schedule (volume: snapshots: {every, keep, freeze}), kept by
`haboot watch`, on a real ext4 filesystem over a loop device in an instance's
mount namespace, against the sim (whose CreateSnapshot copies the loop device's
bytes at the request).

- a compressed schedule (every: 15s, the least EC2 allows) takes snapshots
  tagged with the service, the volume, the generation and the time, prunes
  what it made beyond keep, and never a pending one nor one it did not make;
- the age of the newest completed snapshot goes out as SnapshotAgeSeconds and
  shows in `haboot status`;
- freeze: a write during the freeze blocks and completes after the thaw, and
  the snapshot's image is a clean filesystem (no journal to replay), where an
  unfrozen one is not;
- the thaw happens on every path (DESIGN.md invariant 7): CreateSnapshot
  failing, CreateSnapshot hanging, haboot killed while frozen, haboot stopped
  while frozen (the guard process);
- a failed snapshot is an SNS warning, never a health failure.

Needs root, losetup, unshare, nsenter, e2fsprogs.
"""
import datetime
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

import blockns
from simfixture import shared_sim
from test_volume_module import AZ, FAST, HABOOT, SELF, VOL, Lab

SERVICE = "snaptest"
TOPIC = "arn:aws:sns:us-west-2:123456789012:snaptest"
OTHER_SERVICE_SNAP = "snap-0000000000000000e"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("losetup", "unshare", "nsenter", "mkfs.ext4",
                                              "dumpe2fs", "fsfreeze")),
        reason="needs util-linux and e2fsprogs"),
]


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    s = s.replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s).timestamp()


def wait_for(cond, timeout, what, interval=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Watcher:
    """`haboot watch` in the instance's namespace, its log in a file."""

    def __init__(self, lab, manifest, status):
        self.log_path = os.path.join(lab.tmp, f"watch-{time.monotonic_ns()}.log")
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            lab.instances[SELF].argv([HABOOT, "watch", "-f", manifest, "--status-file",
                                      status]),
            env=lab.env(SELF), stdout=self.logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        self.state_path = os.path.join(os.path.dirname(status), "watch.json")
        lab.procs.append(self.proc)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def state(self):
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode


class World:
    """One instance, its blank volume formatted by a run, and a watcher."""

    def __init__(self, lab, tmp):
        self.lab, self.tmp = lab, str(tmp)
        self.inst = lab.instance(SELF)
        self.backing = lab.volume(size=1)
        lab.c.seed({"topics": [TOPIC], "delays": {"snapshot": 1.0, "snapshot_rate": 5.0},
                    "options": {"snapshot_dir": os.path.join(self.tmp, "snapshots")}})
        self.status = os.path.join(self.tmp, "run", "status.json")
        self.watchers = []

    def manifest(self, snapshots, heartbeat="2s"):
        text = (
            "#haboot\nversion: 1\n"
            f"name: {SERVICE}\n"
            "on_failure: halt\n"
            f"watch: {{interval: 1s, heartbeat: {heartbeat}}}\n"
            "modules:\n"
            "  - volume:\n"
            f"      id: {VOL}\n"
            "      device: /dev/sdf\n"
            "      timeout: 10s\n"
            f"      snapshots: {snapshots}\n"
            "  - filesystem:\n"
            f"      mountpoint: {self.lab.mnt}\n"
            "      type: ext4\n"
            "      format: if-blank\n"
            "      signature: .SNAPTEST\n"
            "  - notify:\n"
            f"      sns: {TOPIC}\n"
            "      metric: {namespace: HA/Snap, name: Healthy}\n")
        path = os.path.join(self.tmp, f"m-{time.monotonic_ns()}.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, snapshots="{every: 15s, keep: 2, freeze: true}"):
        self.man = self.manifest(snapshots)
        r = subprocess.run(self.inst.argv([HABOOT, "run", "-f", self.man, "--status-file",
                                           self.status]),
                           env=self.lab.env(SELF), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r

    def watch(self):
        w = Watcher(self.lab, self.man, self.status)
        self.watchers.append(w)
        return w

    def file(self, name):
        return self.inst.path(os.path.join(self.lab.mnt, name))

    def write(self, name, data):
        with open(self.file(name), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def writer(self, name, data):
        """A write (and fsync) in a thread: it blocks while the filesystem is frozen."""
        t = threading.Thread(target=self.write, args=(name, data), daemon=True)
        t.started = time.time()
        t.start()
        return t

    def thaw(self):
        """Test cleanup only: whatever happened, leave no frozen filesystem behind."""
        subprocess.run(self.inst.argv(["fsfreeze", "-u", self.lab.mnt]), capture_output=True)

    def snapshots(self):
        return self.lab.c.state()["snapshots"]

    def warnings(self):
        # notify's report of a watcher's EV_WARNING (module.h).
        return [m for m in self.lab.c.state()["sns_messages"]
                if m["topic_arn"] == TOPIC and "warning from" in m["subject"]]

    def close(self):
        self.thaw()
        for w in self.watchers:
            w.stop()


@pytest.fixture
def world(tmp_path, tmp_path_factory):
    sim = shared_sim(tmp_path_factory)
    lab = Lab(tmp_path, sim)
    w = None
    try:
        lab.c.seed({"delays": FAST})
        w = World(lab, tmp_path)
        yield w
    finally:
        if w is not None:
            w.close()
        lab.close()
        blockns.release_loops(lab.reg)
        lab.c.reset()


def ours(snaps):
    return {k: v for k, v in snaps.items() if v["tags"].get("haboot:service") == SERVICE
            and "haboot:volume" in v["tags"]}


def test_schedule_takes_tags_prunes_and_keeps_pending(world):
    """every: 15s, keep: 2.  Three old completed snapshots of the schedule, a
    pending one, one made by Data Lifecycle Manager with the service's tag, and
    another service's: the schedule takes one at once (its last is long past),
    then one 15 s later; it prunes its own completed ones down to 2, and never
    touches the pending one, DLM's or the other service's."""
    now = time.time()

    def old(hours, **kw):
        return {"volume_id": VOL, "size": 1, "start_time": iso(now - hours * 3600),
                "tags": {"haboot:service": SERVICE, "haboot:volume": VOL,
                         "haboot:generation": "1", "haboot:time": iso(now - hours * 3600)},
                **kw}
    seeded = {"snap-0000000000000000a": old(3), "snap-0000000000000000b": old(2),
              "snap-0000000000000000c": old(1),
              "snap-0000000000000000d": old(0.5, state="pending", progress="12%"),
              "snap-0000000000000000f": {"volume_id": VOL, "size": 1,
                                         "start_time": iso(now - 5 * 3600),
                                         "tags": {"haboot:service": SERVICE,
                                                  "aws:dlm:lifecycle-policy-id": "policy-1"}},
              OTHER_SERVICE_SNAP: {"volume_id": "vol-0ffffffffffffffff", "size": 1,
                                   "start_time": iso(now - 4 * 3600),
                                   "tags": {"haboot:service": "other",
                                            "haboot:volume": "vol-0ffffffffffffffff"}}}
    world.lab.c.seed({"snapshots": seeded})
    world.run()
    assert world.lab.c.state()["snapshots"]["snap-0000000000000000a"]  # run takes none
    # The watcher's calls under the policy `haboot iam-policy` writes for this
    # manifest, enforced by the sim: nothing refused.
    pol = subprocess.run([HABOOT, "iam-policy", "-f", world.man], capture_output=True,
                         text=True)
    assert pol.returncode == 0, pol.stderr
    world.lab.c.set_policy(json.loads(pol.stdout), key="AKIDEXAMPLE")
    w = world.watch()
    def taken():
        ok = [r for r in world.lab.calls("CreateSnapshot") if r["status"] == 200]
        return ok if len(ok) >= 2 else None
    creates = wait_for(taken, 60, "two snapshots by the schedule")
    # Both taken of the volume, tagged with the service, the volume, the
    # generation and the time of the request.
    for c in creates:
        p = c["params"]
        assert p["VolumeId"] == VOL
        assert p["TagSpecification.1.ResourceType"] == "snapshot"
        tags = {p[f"TagSpecification.1.Tag.{i}.Key"]: p[f"TagSpecification.1.Tag.{i}.Value"]
                for i in range(1, 5)}
        assert tags["haboot:service"] == SERVICE and tags["haboot:volume"] == VOL
        assert tags["haboot:generation"] == "1"
        assert abs(parse_iso(tags["haboot:time"]) - c["time"]) < 5
        assert SERVICE in p["Description"] and VOL in p["Description"]
    # The first at once (the last, pending one, started 30 minutes ago); the
    # second once every had passed.
    assert creates[1]["time"] - creates[0]["time"] >= 14.5, creates
    assert creates[1]["time"] - creates[0]["time"] < 40, creates
    made = set(ours(world.snapshots())) - set(seeded)

    def pruned():
        snaps = world.snapshots()
        done = {k for k, v in ours(snaps).items() if v["state"] == "completed"}
        return done == made and len(made) == 2 and snaps
    snaps = wait_for(pruned, 30, "the schedule's own completed snapshots down to keep (2)")
    deletes = [r["params"]["SnapshotId"] for r in world.lab.calls("DeleteSnapshot")]
    assert sorted(deletes) == ["snap-0000000000000000a", "snap-0000000000000000b",
                               "snap-0000000000000000c"], deletes
    # Never a pending one, never one it did not make.
    assert snaps["snap-0000000000000000d"]["state"] == "pending"
    assert "snap-0000000000000000f" in snaps and OTHER_SERVICE_SNAP in snaps
    # The oldest went first.
    order = [r["params"]["SnapshotId"] for r in world.lab.calls("DeleteSnapshot")]
    assert order == sorted(order), order
    st = wait_for(w.state, 10, "the watcher's state")
    assert st["state"] == "healthy", st
    newest = max(made, key=lambda k: snaps[k]["start_time"])
    wait_for(lambda: (w.state() or {}).get("facts", {}).get("snapshot.latest") == newest, 20,
             "snapshot.latest to name the newest")
    assert world.warnings() == [], world.warnings()
    refused = [r for r in world.lab.c.requests() if r.get("status") == 403]
    assert not refused, refused


def test_age_metric_and_status(world):
    """SnapshotAgeSeconds is the age of the newest completed snapshot: about an
    hour while that is the seeded one, seconds once the schedule's first completes;
    `haboot status` shows it."""
    now = time.time()
    world.lab.c.seed({"snapshots": {"snap-0000000000000000c": {
        "volume_id": VOL, "size": 1, "start_time": iso(now - 3600),
        "tags": {"haboot:service": SERVICE, "haboot:volume": VOL}}}})
    world.run(snapshots="{every: 2h, keep: 5}")  # not due: the age just grows
    w = world.watch()

    def ages():
        return [m for m in world.lab.c.state()["metrics"]
                if m["metric_name"] == "SnapshotAgeSeconds" and m["namespace"] == "HA/Snap"]
    first = wait_for(ages, 30, "a SnapshotAgeSeconds metric")
    assert 3590 <= first[0]["value"] <= 3600 + 120, first
    assert first[0]["unit"] == "Seconds"
    dims = [m["dimensions"] for m in first]
    assert {"Service": SERVICE} in dims and {"Service": SERVICE, "InstanceId": SELF} in dims
    healthy = [m for m in world.lab.c.state()["metrics"] if m["metric_name"] == "Healthy"]
    assert healthy and healthy[-1]["value"] == 1
    wait_for(lambda: (w.state() or {}).get("facts", {}).get("snapshot.time"), 20,
             "the snapshot facts in the watcher's state")
    st = subprocess.run([HABOOT, "status", "--status-file", world.status],
                        capture_output=True, text=True)
    assert st.returncode == 0, st.stderr
    line = next(l for l in st.stdout.splitlines() if l.startswith("snapshot  "))
    assert "snap-0000000000000000c" in line and "old" in line, st.stdout
    assert "59m" in line or "60m" in line or "61m" in line, line
    js = json.loads(subprocess.run([HABOOT, "status", "--json", "--status-file",
                                    world.status], capture_output=True, text=True).stdout)
    assert js["watch"]["facts"]["snapshot.latest"] == "snap-0000000000000000c"
    # A snapshot completing now brings the age down.
    w.stop()
    world.lab.c.seed({"snapshots": {"snap-0000000000000001c": {
        "volume_id": VOL, "size": 1, "start_time": iso(time.time() - 5),
        "tags": {"haboot:service": SERVICE, "haboot:volume": VOL}}}})
    n = len(ages())
    world.watch()
    young = wait_for(lambda: [m for m in ages()[n:] if m["value"] < 120], 30,
                     "the age of the new snapshot")
    assert young[0]["value"] >= 5


def frozen_line(w):
    return "froze " in w.log()


def wait_frozen(w):
    try:
        wait_for(lambda: frozen_line(w), 30, "the watcher to freeze the filesystem")
    except AssertionError as e:
        raise AssertionError(f"{e}:\n{w.log()}") from None


def test_freeze_blocks_a_write_only_around_the_call_and_the_image_is_clean(world):
    """CreateSnapshot answers after 3 s (the sim holds it): during that call a
    write to the filesystem blocks; it completes after the thaw.  The snapshot's
    image holds the file written before, not the blocked one, and needs no
    journal replay."""
    world.run(snapshots="{every: 1h, keep: 3, freeze: true}")
    world.write("before.txt", b"written before the snapshot")
    world.lab.c.fault("ec2", "slow", action="CreateSnapshot", delay=3, count=1)
    w = world.watch()
    wait_frozen(w)
    t = world.writer("during.txt", b"written during the freeze")
    t.join(1.0)
    assert t.is_alive(), "a write completed while the filesystem was frozen"
    t.join(30)
    assert not t.is_alive(), "the write never completed: the filesystem stayed frozen"
    done = time.time()
    # The watcher logs the freeze's length just after the thaw: on a busy
    # machine that line may come a moment after the write completes.
    deadline = time.time() + 20
    while "was frozen" not in w.log() and time.time() < deadline:
        time.sleep(0.2)
    log = w.log()
    assert "was frozen" in log, log
    took = int(log.split(" was frozen ")[1].split(" ms")[0])
    assert took >= 2500, log  # the freeze lasted the call, the sim's 3 s
    create = wait_for(lambda: world.lab.calls("CreateSnapshot"), 10, "the CreateSnapshot row")
    assert create[0]["time"] <= done + 0.5
    sid = next(iter(ours(world.snapshots())))
    img = world.snapshots()[sid]["backing"]
    r = subprocess.run(["dumpe2fs", "-h", img], capture_output=True, text=True)
    feats = next(l for l in r.stdout.splitlines() if l.startswith("Filesystem features:"))
    assert "needs_recovery" not in feats.split(), feats
    ls = subprocess.run(["debugfs", "-R", "ls -l /", img], capture_output=True, text=True)
    assert "before.txt" in ls.stdout and "during.txt" not in ls.stdout, ls.stdout
    wait_for(lambda: (w.state() or {}).get("state") == "healthy", 10, "a healthy round")


def test_without_freeze_the_image_needs_a_journal_replay(world):
    """The control for the test above: freeze: false takes the snapshot of a
    mounted ext4 as it is, which needs journal recovery (crash-consistent only)."""
    world.run(snapshots="{every: 1h, keep: 3, freeze: false}")
    world.write("before.txt", b"x")
    w = world.watch()
    wait_for(lambda: ours(world.snapshots()), 30, "a snapshot")
    sid = next(iter(ours(world.snapshots())))
    r = subprocess.run(["dumpe2fs", "-h", world.snapshots()[sid]["backing"]],
                       capture_output=True, text=True)
    assert "needs_recovery" in r.stdout
    assert "froze " not in w.log()


def test_never_freezes_what_is_not_the_volume(world):
    """The volume is unmounted and something else sits on the mountpoint: the
    freeze would hit the wrong filesystem (with nothing mounted, the one under
    it: the root filesystem).  The snapshot is taken unfrozen, and a warning says
    why."""
    world.run(snapshots="{every: 1h, keep: 3, freeze: true}")
    ns = world.inst
    subprocess.run(ns.argv(["umount", world.lab.mnt]), check=True)
    subprocess.run(ns.argv(["mount", "-t", "tmpfs", "hb-not-the-volume", world.lab.mnt]),
                   check=True)
    w = world.watch()
    warn = wait_for(world.warnings, 30, "the warning")
    assert "taken without freezing" in warn[0]["message"], warn
    assert f"{world.lab.mnt} is not mounted from /dev/xvdf" in warn[0]["message"], warn
    assert "froze " not in w.log() and "FIFREEZE" not in w.log(), w.log()
    assert ours(world.snapshots())


@pytest.mark.parametrize("how", ["fails", "hangs"])
def test_thawed_when_create_snapshot_fails_or_hangs(world, how):
    """CreateSnapshot refused, or never answering: the filesystem is thawed (a
    write completes), an SNS warning says so, and the service stays healthy."""
    world.run(snapshots="{every: 1h, keep: 3, freeze: true}")
    if how == "fails":
        world.lab.c.fault("ec2", "error", action="CreateSnapshot", count=1, status=400,
                          code="SnapshotCreationPerVolumeRateExceeded",
                          message="The maximum per volume CreateSnapshot request rate has been "
                                  "exceeded.")
    else:
        # Held without an answer, then dropped: never done (a late one would land
        # in the next test's world).
        world.lab.c.fault("ec2", "drop", action="CreateSnapshot", mode="hang", delay=45,
                          count=1)
    w = world.watch()
    wait_frozen(w)
    t0 = time.monotonic()
    t = world.writer("after.txt", b"written around a failed snapshot")
    t.join(40)
    assert not t.is_alive(), f"the filesystem stayed frozen after CreateSnapshot {how}:\n" + \
        w.log()
    took = time.monotonic() - t0
    if how == "hangs":
        assert took < 30, took      # haboot's own limit (10 s), not the sim's 45 s
    # haboot thawed it itself; the guard is only the last resort.
    assert "freeze guard: thawed" not in w.log(), w.log()
    warn = wait_for(world.warnings, 30, "the SNS warning")
    assert "CreateSnapshot" in warn[0]["message"] and "thawed" in warn[0]["message"], warn
    assert warn[0]["subject"].startswith(f"haboot {SERVICE} on {SELF}: warning")
    # Not a health failure: the rounds after it are healthy, nothing asks for a
    # replacement.
    rounds = (w.state() or {}).get("rounds", 0)
    st = wait_for(lambda: (w.state() or {}).get("rounds", 0) > rounds + 1 and w.state(), 30,
                  "two more rounds")
    assert st["state"] == "healthy", st
    assert not [h for h in world.lab.c.state()["asg_health"] if h["instance_id"] == SELF]
    healthy = [m for m in world.lab.c.state()["metrics"] if m["metric_name"] == "Healthy"]
    assert all(m["value"] == 1 for m in healthy), healthy


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_guard_thaws_when_haboot_dies_or_stops_while_frozen(world, how):
    """haboot SIGKILLed while frozen: the guard sees its pipe close and thaws at
    once.  haboot SIGSTOPped while frozen: the guard thaws at its deadline
    (10 s + 5 s) while haboot is still stopped; resumed, haboot says so."""
    world.run(snapshots="{every: 1h, keep: 3, freeze: true}")
    world.lab.c.fault("ec2", "drop", action="CreateSnapshot", mode="hang", delay=45, count=1)
    w = world.watch()
    wait_frozen(w)
    pid = w.proc.pid  # nsenter execs haboot: the same process
    t = world.writer("after.txt", b"written while haboot is gone")
    t.join(0.5)
    assert t.is_alive(), "not frozen"
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
    try:
        t.join(40)
        assert not t.is_alive(), f"haboot {how} while frozen left the filesystem frozen"
        took = time.monotonic() - t0
        if how == "killed":
            assert took < 8, took   # at once, not at the guard's deadline
        else:
            assert 5 < took < 30, took
            with open(f"/proc/{pid}/stat") as f:
                assert f.read().split(")")[1].split()[0] == "T", "haboot is not stopped"
    finally:
        if how == "stopped":
            os.kill(pid, signal.SIGCONT)
    assert "freeze guard: thawed" in w.log(), w.log()
    if how == "stopped":
        warn = wait_for(world.warnings, 40, "haboot's warning once resumed")
        assert "freeze guard had thawed it already" in warn[0]["message"], warn


def test_schedule_rules_in_the_manifest(tmp_path):
    """every below 15 s and keep: 0 are errors with line:col; a short schedule
    is allowed with a warning saying what it costs."""
    m = tmp_path / "m.yaml"
    m.write_text("version: 1\nname: nfs\nmodules:\n  - volume:\n      id: vol-073769c7\n"
                 "      device: /dev/sdf\n      snapshots: {every: 20s, keep: 3}\n")
    r = subprocess.run([HABOOT, "validate", str(m)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"{m}:7:26: warning: snapshots: every 20s is shorter than 5m" in r.stderr


def test_the_policy_for_snapshots_is_narrow(tmp_path):
    """`haboot iam-policy`: snapshots only carrying the service's tag, tags only
    as a snapshot is created, deletes only of what the schedule made."""
    m = tmp_path / "m.yaml"
    m.write_text("version: 1\nname: nfs\nmodules:\n  - volume:\n      tags: {Name: data}\n"
                 "      device: /dev/sdf\n      snapshots: {every: 1h, keep: 3}\n")
    r = subprocess.run([HABOOT, "iam-policy", "-f", str(m)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)["Statement"]

    def on(action, resource):
        return [s for s in st if action in s["Action"] and resource in s["Resource"]]
    (vol,) = on("ec2:CreateSnapshot", "arn:aws:ec2:*:*:volume/*")
    assert vol["Condition"] == {"StringEquals": {"aws:ResourceTag/Name": "data"}}
    (snap,) = on("ec2:CreateSnapshot", "arn:aws:ec2:*::snapshot/*")
    assert snap["Condition"] == {"StringEquals": {"aws:RequestTag/haboot:service": "nfs"}}
    (tag,) = on("ec2:CreateTags", "arn:aws:ec2:*::snapshot/*")
    assert tag["Condition"]["StringEquals"]["ec2:CreateAction"] == "CreateSnapshot"
    (delete,) = [s for s in st if "ec2:DeleteSnapshot" in s["Action"]]
    assert delete["Resource"] == ["arn:aws:ec2:*::snapshot/*"]
    assert delete["Condition"] == {"StringEquals": {"aws:ResourceTag/haboot:service": "nfs"},
                                   "Null": {"aws:ResourceTag/haboot:volume": "false"}}
    assert not [s for s in st if "ec2:CreateTags" in s["Action"] and "*" in s["Resource"]]
