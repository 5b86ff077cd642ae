"""The failover drill: the product's promise on one machine.

Instance A boots on a blank shared volume and serves NFS under a Route53 name;
a client writes files through the name; A dies without warning; instance B
boots on the same manifest, takes the volume over (no format: fsck, mount,
signature, generation 2 with A as previous holder), exports it, moves the name
and reports; the client reads every file back, checksums equal.  Variants: A
dies in the middle of the client's writes (every acknowledged write survives);
A is cut off but alive (if-owner-gone must not steal the volume; fence stops A
first).  Each takeover prints its timeline (see drill.py for the world and for
how "waiting on AWS" is measured); `tests/drill/run` shows them.

Needs root, the static binary (HABOOT_STATIC, default build/haboot-static),
iproute2, util-linux, e2fsprogs, xfsprogs, nfs-ganesha and libnfs-utils.
"""
import os
import threading
import time

import pytest

import budget
import drill
from drill import A, B, MOUNT, NAME, SIGNATURE, TOPIC, payload, sha256

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, loop devices)"),
    pytest.mark.skipif(bool(drill.missing_tools()),
                       reason=f"needs {', '.join(drill.missing_tools())}"),
]

N = 50


@pytest.fixture
def make_lab(tmp_path):
    labs = []

    def make(**kw):
        lab = drill.Lab(tmp_path / f"lab{len(labs)}", **kw)
        labs.append(lab)
        return lab
    yield make
    errors = []
    for lab in labs:
        try:
            lab.close()
        except Exception as e:
            errors.append(e)
    assert not errors, errors


def show(lines):
    print("\n" + "\n".join(lines), flush=True)


def boot_a(lab):
    """A's first boot: the blank volume is formatted, served and announced."""
    r = lab.a.wait_boot(lab.a.boot())
    assert r.rc == 0, r
    assert r.status["outcome"] == "ok", r
    assert "formatted the blank device" in r.module("filesystem")["message"], r
    assert r.facts["filesystem.generation"] == "1", r
    assert lab.client.resolve() == lab.a.addr
    assert reports(lab, A), "A's report was not published"
    return r


def reports(lab, iid):
    """The run reports published to the topic that name instance iid."""
    return [m for m in lab.sim.state()["sns_messages"] if m.get("topic_arn") == TOPIC
            and iid in (m.get("subject") or "") + (m.get("message") or "")]


def write_files(lab, names):
    sums = {}
    for i in names:
        name = f"file-{i:03d}.bin"
        data = payload(i)
        assert lab.client.put(name, data), f"{name}: the server did not acknowledge it"
        sums[name] = sha256(data)
    return sums


def read_back(lab, sums, addr, why=lambda name: ""):
    """Every file through the name, now at addr: present, same checksum."""
    assert lab.client.resolve() == addr
    bad = {}
    for name, want in sorted(sums.items()):
        data = lab.client.get_retrying(name, until=15)
        if data is None or sha256(data) != want:
            try:
                st = os.stat(lab.b.path(f"{MOUNT}/{name}"))
                there = f"on B's disk: {st.st_size} bytes, mode {st.st_mode:o}, " \
                        f"mtime {st.st_mtime:.0f}"
            except OSError as e:
                there = f"on B's disk: {e.strerror}"
            bad[name] = (f"unreadable ({lab.client.last_error})" if data is None else
                         f"{len(data)} bytes, sha256 {sha256(data)}") + why(name) + "; " + there
    assert not bad, f"{len(bad)} of {len(sums)} files lost or changed after the takeover: {bad}"


def assert_taken_over(lab, r, uuid):
    """B's run: no format, fsck, mount, signature, generation 2 after A, export, DNS, report."""
    assert r.rc == 0, r
    assert r.status["outcome"] == "ok", r
    fs = r.module("filesystem")
    assert "mkfs" not in r.log and "formatted" not in fs["message"], r
    assert lab.fs_uuid() == uuid, "the volume was formatted on takeover"
    assert "e2fsck" in r.log, f"no fsck before mounting a volume a dead owner held:\n{r}"
    assert r.facts["filesystem.signature"] == f"{MOUNT}/{SIGNATURE}"
    assert r.facts["filesystem.generation"] == "2", r
    assert r.facts["filesystem.previous_holder"] == A, r
    assert r.facts["volume.previous_owner"] == A, r
    assert lab.attached_to() == [(B, "attached")]
    assert lab.b.mounted()
    assert r.module("exports")["state"] == "ok"
    assert lab.client.resolve() == lab.b.addr
    mine = reports(lab, B)
    assert mine, "B's report was not published"
    assert A in mine[-1]["message"], "B's report does not name the previous holder"


class Prober(threading.Thread):
    """The client's view of the takeover: when the name points at the new
    instance, and when a read through it first succeeds."""

    def __init__(self, lab, new_addr, name):
        super().__init__(daemon=True)
        self.lab, self.new_addr, self.name = lab, new_addr, name
        self.dns = self.serving = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and self.serving is None:
            try:
                addr = self.lab.client.resolve()
            except Exception:
                addr = None
            if addr == self.new_addr:
                if self.dns is None:
                    self.dns = self.lab.timeline.mark("client", f"{NAME} resolves to B")
                if self.lab.client.get(self.name, addr, timeout=3) is not None:
                    self.serving = self.lab.timeline.mark("client", "first read through the "
                                                                    "name succeeds (B serves)")
                    return
            time.sleep(0.1)

    def wait(self, timeout=60):
        self.join(timeout)
        self.stop.set()
        assert self.serving is not None, "no client read through the name succeeded after " \
                                         "the takeover"


def dns_change_time(lab, iid):
    rows = [r for r in lab.calls(iid, "route53")
            if r.get("action") == "ChangeResourceRecordSets" and r["status"] == 200]
    return rows[-1]["time"] if rows else None


# ---- the drill -----------------------------------------------------------------

def test_instance_dies_and_the_next_one_takes_over_losing_nothing(make_lab):
    lab = make_lab()
    boot_a(lab)
    sums = write_files(lab, range(N))
    uuid = lab.fs_uuid()
    assert uuid
    lab.timeline.mark("client", f"{N} files written through {NAME} -> A, all acknowledged (COMMIT)")

    probe = Prober(lab, lab.b.addr, "file-000.bin")
    probe.start()
    t_death = lab.kill(lab.a)
    assert lab.needs_recovery(), "A's death left a cleanly unmounted volume: not a crash"
    rb = lab.b.wait_boot(lab.b.boot())
    assert_taken_over(lab, rb, uuid)
    probe.wait()
    read_back(lab, sums, lab.b.addr)
    lab.timeline.mark("client", f"all {N} files read back through {NAME} -> B, checksums equal")

    lines, t = lab.report("A dies, B takes over", t_death, f"{A} (A) dies", rb,
                          serving=probe.serving, dns=dns_change_time(lab, B))
    show(lines)
    m = budget.measure(lab, rb, t_death, probe.serving)
    show(budget.table(m))
    budget.save(m)
    # The takeover's clock runs from A's death to B serving: bounded by the
    # sim's delays, the volume timeout and the NFS grace period, not by luck.
    assert probe.serving - t_death < 60


def test_every_acknowledged_write_survives_a_death_mid_write(make_lab):
    lab = make_lab()
    boot_a(lab)
    acked, lock = {}, threading.Lock()   # name -> (sha256, server address, time acknowledged)
    stop = threading.Event()
    first_on_b = threading.Event()

    def writer():
        """Writes file after file through the name; a write not acknowledged is
        tried again (same name, same content) until the service answers."""
        i = 0
        while not stop.is_set():
            name, data = f"w-{i:04d}.bin", payload(1000 + i)
            addr = lab.client.resolve()
            if lab.client.put(name, data, addr=addr, timeout=2):
                with lock:
                    acked[name] = (sha256(data), addr, time.time())
                if addr == lab.b.addr:
                    first_on_b.set()
                i += 1
            else:
                time.sleep(0.1)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    try:
        end = time.monotonic() + 60
        while len(acked) < 15 and time.monotonic() < end:
            time.sleep(0.05)
        with lock:
            before = len(acked)
        assert before >= 15, "the client could not write to A"
        t_death = lab.kill(lab.a)   # while the writer is at work
        assert lab.needs_recovery(), "A's death left a cleanly unmounted volume: not a crash"
        rb = lab.b.wait_boot(lab.b.boot())
        assert rb.rc == 0, rb
        assert first_on_b.wait(60), "no write through the name succeeded after the takeover"
        time.sleep(1)  # a few more writes on B
    finally:
        stop.set()
        w.join(30)
    on_a = sorted(t for _, addr, t in acked.values() if addr == lab.a.addr)
    on_b = sorted(t for _, addr, t in acked.values() if addr == lab.b.addr)
    assert len(on_a) >= before and on_b
    lab.timeline.mark("client", f"last write acknowledged by A ({len(on_a)} in all)", on_a[-1])
    lab.timeline.mark("client", "first write acknowledged by B", on_b[0])
    read_back(lab, {n: v[0] for n, v in acked.items()}, lab.b.addr,
              why=lambda n: f" (acknowledged by {acked[n][1]} at "
                            f"{acked[n][2] - t_death:+.3f}s from A's death)")
    lab.timeline.mark("client", f"all {len(acked)} acknowledged files ({len(on_a)} by A, "
                                f"{len(on_b)} by B) read back, checksums equal")
    lines, _ = lab.report("A dies while the client writes", t_death, f"{A} (A) dies", rb,
                          dns=dns_change_time(lab, B))
    lines.append(f"   client's writes: none acknowledged for {on_b[0] - on_a[-1]:.3f}s "
                 "(last by A to first by B)")
    show(lines)


def cut_off(lab, files=10):
    """A is up and writes files, then loses its network: EC2 still says running."""
    boot_a(lab)
    sums = write_files(lab, range(files))
    t = time.time()
    lab.a.cut()
    lab.timeline.mark("a", "network cut (alive, EC2 says running)", t)
    assert lab.sim.instance(A)["state"] == "running"
    return sums, t


def test_unreachable_owner_keeps_its_volume_with_if_owner_gone(make_lab):
    lab = make_lab(volume_timeout="5s")
    sums, t_cut = cut_off(lab)
    rb = lab.b.wait_boot(lab.b.boot())
    assert rb.rc == 1, rb
    vol = rb.module("volume")
    assert vol["state"] == "failed", rb
    assert f"still attached to {A}" in vol["message"] and "owner is still alive" in \
        vol["message"], rb
    # Nothing was taken from A: no mutation by B, the volume still A's, A's
    # mount and files as they were, the name still A's.
    muts = [r["action"] for r in lab.calls(B)]
    assert not {"StopInstances", "DetachVolume", "AttachVolume"} & set(muts), muts
    assert lab.attached_to() == [(A, "attached")]
    assert not lab.b.mounted()
    assert not os.path.exists(lab.b.path("/dev/xvdf"))
    assert lab.a.mounted()
    for name, want in sums.items():
        with open(lab.a.path(f"{MOUNT}/{name}"), "rb") as f:
            assert sha256(f.read()) == want, name
    assert lab.client.resolve() == lab.a.addr
    # The failure policy: the group is told to replace B.
    health = lab.sim.state()["asg_health"]
    assert any(h["instance_id"] == B and h["health_status"] == "Unhealthy" for h in health), \
        health
    lines, _ = lab.report("A cut off, takeover: if-owner-gone (B must give up)", t_cut,
                          f"{A} (A) loses its network", rb)
    show(lines)


def test_unreachable_owner_is_stopped_first_with_fence(make_lab):
    lab = make_lab(takeover="fence")
    sums, t_cut = cut_off(lab, files=20)
    uuid = lab.fs_uuid()
    crashed = {}

    def power_off():
        """EC2 stopping A halts its OS: A's machine stops dead when the stop begins."""
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if lab.sim.instance(A)["state"] in ("stopping", "stopped"):
                crashed["t"] = lab.a.crash(cut_link=False)
                lab.timeline.mark("a", "halted by StopInstances (disk frozen, processes "
                                       "killed)", crashed["t"])
                lab.released(lab.a)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=power_off, daemon=True)
    watcher.start()
    rb = lab.b.wait_boot(lab.b.boot())
    watcher.join(10)
    assert_taken_over(lab, rb, uuid)
    assert rb.facts.get("volume.fenced") == A, rb
    rows = lab.calls(B)
    acts = [r["action"] for r in rows]
    assert "StopInstances" in acts and "DetachVolume" in acts, acts
    assert acts.index("StopInstances") < acts.index("DetachVolume") < acts.index("AttachVolume")
    detach = next(r for r in rows if r["action"] == "DetachVolume")
    assert detach["instance_states"][A] == "stopped", detach
    assert crashed.get("t") and crashed["t"] < detach["time"]
    read_back(lab, sums, lab.b.addr)
    lab.timeline.mark("client", f"all {len(sums)} files read back through {NAME} -> B")
    lines, _ = lab.report("A cut off, takeover: fence (A stopped, then taken over)", t_cut,
                          f"{A} (A) loses its network", rb, dns=dns_change_time(lab, B))
    show(lines)
