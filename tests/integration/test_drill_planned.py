"""The failover drill, planned replacement: the product's promise for the
failovers most production sees (an instance refresh, a scale-in, a Spot
interruption), beside the crash takeover measured on the same machine.

Instance A boots and serves, its watcher (`haboot watch`) listening for a
planned stop; a client writes through the name.  B boots from the same
user-data while A still serves, and waits for the volume (A is alive: no
takeover).  The Auto Scaling group terminates A: its termination hook holds A
in Terminating:Wait and IMDS says Terminated.  A's watcher releases in
reverse manifest order (reports, stops ganesha, syncs, marks and unmounts the
filesystem, detaches the volume normally) and completes the hook; B attaches
the moment the volume is free, finds a clean journal and a release mark
(handoff: planned), serves and moves the name.  Every write the server
acknowledged, before and during the handoff, reads back on B.

All of it under the instance role's policy as `haboot iam-policy` writes it
for the drill's manifest, enforced by the sim: no call is refused.  The same
test then plays the crash takeover on the same machine (A dies with
its journal dirty) so the two timelines print side by side; `make drill`
shows them (tests/drill/run).  drill.py builds the world.
"""
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

import drill
from drill import A, ASG, B, NAME, payload, sha256
from test_drill import Prober, boot_a, dns_change_time, read_back, show, write_files
from test_drill_iam import enforce_generated_policy, refused

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, loop devices)"),
    pytest.mark.skipif(bool(drill.missing_tools()),
                       reason=f"needs {', '.join(drill.missing_tools())}"),
]

HOOK = "nfs-terminate"
STOP = str(drill.TESTS / "drill" / "ganesha-stop")
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


class PlannedLab(drill.Lab):
    """The drill's world with a termination hook on the group, and a manifest
    that names it and lets the watcher look often."""

    def manifest(self):
        m = super().manifest().replace(
            "modules:\n", "watch: {interval: 2s}\n"
            f"release: {{lifecycle_hook: {{name: {HOOK}}}, heartbeat: 30s}}\nmodules:\n", 1)
        # `systemctl stop nfs-ganesha` on an instance; here, its stand-in.
        return m.replace(f"      restart: [{drill.RESTART}]\n",
                         f"      restart: [{drill.RESTART}]\n      stop: [{STOP}]\n", 1)

    def seed(self):
        s = super().seed()
        s["asgs"][ASG]["hooks"] = {HOOK: {"transition": TERMINATING, "heartbeat_timeout": 300}}
        return s


@pytest.fixture
def labs(tmp_path):
    made = []

    def make(cls, **kw):
        lab = cls(tmp_path / f"lab{len(made)}", **kw)
        made.append(lab)
        return lab
    yield make
    errors = []
    for lab in made:
        try:
            lab.close()
        except Exception as e:
            errors.append(e)
    assert not errors, errors


def start_watch(inst):
    """`haboot watch` on the instance, as its unit would start it after the boot job."""
    env = {"PATH": drill.HOST_PATH, "HOME": "/root", "LANG": "C.UTF-8",
           "AWS_ENDPOINT_URL": inst.lab.sim_url}
    out = open(inst.dir / "watch.log", "w")
    # The report where the drill's run writes it (drill.Instance.boot).
    p = subprocess.Popen(inst.argv([drill.HABOOT, "watch", "--status-file",
                                    "/run/haboot/status.json"]), env=env,
                         stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT, preexec_fn=drill._die_with_parent)
    out.close()
    inst.lab.procs.append(p)
    return p


def watch_state(inst):
    import json
    try:
        return json.loads((inst.dir / "run" / "haboot" / "watch.json").read_text())
    except (OSError, ValueError):
        return None


def wait_until(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Writer(threading.Thread):
    """Writes file after file through the name; a write not acknowledged is
    tried again (same name, same content) until the service answers."""

    def __init__(self, lab, first=2000):
        super().__init__(daemon=True)
        self.lab, self.i = lab, first
        self.acked, self.lock, self.stop = {}, threading.Lock(), threading.Event()
        self.on = {}

    def run(self):
        while not self.stop.is_set():
            name, data = f"w-{self.i:04d}.bin", payload(self.i)
            addr = self.lab.client.resolve()
            if self.lab.client.put(name, data, addr=addr, timeout=2):
                with self.lock:
                    self.acked[name] = (sha256(data), addr, time.time())
                    self.on[addr] = self.on.get(addr, 0) + 1
                self.i += 1
            else:
                time.sleep(0.1)

    def count(self, addr):
        with self.lock:
            return self.on.get(addr, 0)


def planned(labs):
    """A releases on the group's termination; B, booted while A served, takes over."""
    lab = labs(PlannedLab)
    # Under the instance role's generated policy: a release needs no call it lacks.
    policy = enforce_generated_policy(lab, Path(lab.tmp))
    assert any("autoscaling:RecordLifecycleActionHeartbeat" in s["Action"]
               for s in policy["Statement"])
    boot_a(lab)
    watcher = start_watch(lab.a)
    wait_until(lambda: (watch_state(lab.a) or {}).get("state") == "healthy", 60,
               "A's watcher to see the service healthy")
    sums = write_files(lab, range(20))
    uuid = lab.fs_uuid()
    w = Writer(lab)
    w.start()
    try:
        wait_until(lambda: w.count(lab.a.addr) >= 5, 60, "writes to A")
        pb = lab.b.boot()
        # B waits for the volume: A is alive, and B never takes it from a live owner.
        wait_until(lambda: f"in-use by {A} (running)" in lab.b.log(), 60,
                   "B to wait for the volume A holds")
        assert lab.attached_to() == [(A, "attached")]
        lab.timeline.mark("b", "waits for the volume: A is running and holds it")
        probe = Prober(lab, lab.b.addr, "file-000.bin")
        probe.start()
        t0 = lab.timeline.mark("asg", f"the group terminates {A}: termination hook {HOOK} "
                                      "holds it (IMDS: Terminated)")
        lab.sim.group_terminates(A)
        rb = lab.b.wait_boot(pb)
        assert watcher.wait(60) == 0, "A's watcher did not stop after the release"
        probe.wait()
        wait_until(lambda: w.count(lab.b.addr) >= 5, 60, "writes to B")
    finally:
        w.stop.set()
        w.join(30)
    assert not refused(lab), refused(lab)
    a_status = lab.a.status()
    rel = a_status["release"]
    # A's release: complete, in order, the hook answered, nothing forced.
    assert rel["state"] == "released", rel
    assert [s["name"] for s in rel["steps"]] == ["notify", "route53", "exports", "filesystem",
                                                 "volume"]
    assert all(s["state"] == "ok" for s in rel["steps"]), rel
    assert rel["lifecycle_hook"] == f"{HOOK} CONTINUE sent", rel
    a_detach = [r for r in lab.calls(A) if r["action"] == "DetachVolume"]
    b_attach = [r for r in lab.calls(B) if r["action"] == "AttachVolume"]
    assert len(a_detach) == 1 and a_detach[0]["params"].get("Force") is None, a_detach
    assert [r["action"] for r in lab.calls(B)
            if r["action"] in ("StopInstances", "DetachVolume")] == []
    # B attached what A itself let go: nothing of B's touched A's attachment.
    assert a_detach[0]["time"] < b_attach[0]["time"]
    # B: a planned handoff, no format, no journal replay, generation 2 after A.
    assert rb.rc == 0, rb
    assert rb.facts["filesystem.handoff"].startswith(f"planned: {A} released it cleanly"), rb
    assert rb.facts["filesystem.generation"] == "2" and \
        rb.facts["filesystem.previous_holder"] == A, rb
    assert "formatted" not in rb.module("filesystem")["message"]
    assert lab.fs_uuid() == uuid
    assert "recovering journal" not in rb.log
    assert lab.attached_to() == [(B, "attached")]
    assert lab.client.resolve() == lab.b.addr
    # A goes: the group terminates it once the hook is completed.
    wait_until(lambda: lab.sim.instance(A)["state"] in ("shutting-down", "terminated"), 30,
               "the group to terminate A")
    lab.timeline.mark("ec2", f"{A} terminated by its group (hook completed)")
    # Clients lose nothing: the first files and every acknowledged write.
    read_back(lab, sums, lab.b.addr)
    acked = dict(w.acked)
    on_a = sorted(t for _, addr, t in acked.values() if addr == lab.a.addr)
    on_b = sorted(t for _, addr, t in acked.values() if addr == lab.b.addr)
    read_back(lab, {n: v[0] for n, v in acked.items()}, lab.b.addr,
              why=lambda n: f" (acknowledged by {acked[n][1]} at {acked[n][2] - t0:+.3f}s)")
    lab.timeline.mark("client", f"all {len(sums) + len(acked)} acknowledged files ({len(on_a)} "
                                f"written to A, {len(on_b)} to B meanwhile) read back on B")
    for s in rel["steps"]:
        end = drill.iso_time(s["start"]) + s["duration_ms"] / 1000
        lab.timeline.mark("a", f"release: {s['name']} {s['state']} ({s['duration_ms'] / 1000:.3f}s)"
                               f": {s['message']}", end)
    lines, nums = lab.report("planned replacement: the group terminates A, A releases, "
                             "B takes over", t0, f"the group terminates {A} (A)", rb,
                             serving=probe.serving, dns=dns_change_time(lab, B))
    nums["release"] = rel["duration_ms"] / 1000
    nums["writes_gap"] = on_b[0] - on_a[-1]
    lines.append(f"   A's release (status file): {nums['release']:.3f}s; client writes: none "
                 f"acknowledged for {nums['writes_gap']:.3f}s (last by A to first by B)")
    show(lines)
    return nums


def crash(labs):
    """The crash takeover, measured the same way on the same machine."""
    lab = labs(drill.Lab)
    boot_a(lab)
    sums = write_files(lab, range(20))
    w = Writer(lab)
    w.start()
    try:
        wait_until(lambda: w.count(lab.a.addr) >= 5, 60, "writes to A")
        probe = Prober(lab, lab.b.addr, "file-000.bin")
        probe.start()
        t_death = lab.kill(lab.a)
        assert lab.needs_recovery(), "A's death left a cleanly unmounted volume: not a crash"
        rb = lab.b.wait_boot(lab.b.boot())
        assert rb.rc == 0, rb
        probe.wait()
        wait_until(lambda: w.count(lab.b.addr) >= 5, 60, "writes to B")
    finally:
        w.stop.set()
        w.join(30)
    assert rb.facts["filesystem.handoff"].startswith(f"crash: taken over from {A}"), rb
    read_back(lab, sums, lab.b.addr)
    acked = dict(w.acked)
    read_back(lab, {n: v[0] for n, v in acked.items()}, lab.b.addr)
    on_a = sorted(t for _, addr, t in acked.values() if addr == lab.a.addr)
    on_b = sorted(t for _, addr, t in acked.values() if addr == lab.b.addr)
    lines, nums = lab.report("crash takeover (same machine, for comparison): A dies, B takes "
                             "over", t_death, f"{A} (A) dies", rb, serving=probe.serving,
                             dns=dns_change_time(lab, B))
    nums["writes_gap"] = on_b[0] - on_a[-1]
    lines.append(f"   client writes: none acknowledged for {nums['writes_gap']:.3f}s (last by A "
                 "to first by B)")
    show(lines)
    return nums


def test_planned_replacement_hands_over_cleanly_beside_a_crash(labs):
    p = planned(labs)
    c = crash(labs)
    rows = [("no write acknowledged (last by A to first by B)", p["writes_gap"],
             c["writes_gap"]),
            ("t=0 to B serving (a read through the name)", p["serving"], c["serving"]),
            ("t=0 to DNS at B", p["dns"], c["dns"]),
            ("B's haboot run (status file)", p["total"], c["total"]),
            ("  of which waiting on AWS state", p["aws"], c["aws"]),
            ("A's release (status file)", p["release"], None)]
    show(["== drill: planned replacement beside crash takeover (same machine, this run)",
          f"   {'seconds':50}{'planned':>9}{'crash':>9}"] +
         [f"   {k:50}{a:>9.3f}" + (f"{b:>9.3f}" if b is not None else f"{'-':>9}")
          for k, a, b in rows] +
         ["   t=0: planned, the group terminates A (termination hook; A serves until its "
          "watcher, which looks every 5 s, sees it); crash, A dies and EC2 (the sim) at once "
          "knows it terminated.",
          "   planned: A unmounts and detaches, B finds a clean journal (handoff: planned);",
          "   crash: EC2 detaches the dead A's volume, B's fsck replays its journal."])
