"""haboot release: a planned stop hands the volume over cleanly.

One instance serves NFS for real (releaselab.py: the sim, a loop device as the
EBS volume, NFS-Ganesha, haboot in the instance's mount namespace).  What sets
the release off is what EC2 would: the Auto Scaling group terminating the
instance (the termination lifecycle hook; IMDS target-lifecycle-state turns
Terminated), a Spot interruption notice, and the machine shutting down
(haboot-release.service's ExecStop).  The evidence of the order is the sim's
request log (with times), the exports stop command's own log, and the
release's record in the status file.

Needs root, losetup, unshare, nsenter, e2fsprogs, nfs-ganesha.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from releaselab import (A, ASG, HOOK, SIG, VOL, ReleaseLab, iso, wait_for)
from simfixture import shared_sim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "contrib", "systemd", "haboot-release.service")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in
                           ("losetup", "unshare", "nsenter", "mkfs.ext4", "debugfs",
                            "ganesha.nfsd")),
                       reason="needs util-linux, e2fsprogs and nfs-ganesha"),
]


@pytest.fixture
def make_lab(tmp_path, tmp_path_factory):
    sim = shared_sim(tmp_path_factory)
    labs = []

    def make(**kw):
        lab = ReleaseLab(tmp_path / f"lab{len(labs)}", sim, **kw)
        labs.append(lab)
        return lab
    try:
        yield make
    finally:
        for lab in labs:
            lab.close()
        sim.client.reset()


def step(rel, name):
    return next(s for s in rel["steps"] if s["name"] == name)


def step_end(rel, name):
    s = step(rel, name)
    return iso(s["start"]) + s["duration_ms"] / 1000


def assert_released_in_order(lab, rel):
    """notify said releasing, route53 was left alone, the server stopped, the
    filesystem unmounted, the volume detached normally, notify said released:
    in that order, each step done before the next began."""
    assert [s["name"] for s in rel["steps"]] == ["notify", "route53", "exports", "filesystem",
                                                 "volume"]
    assert all(s["state"] == "ok" for s in rel["steps"]), rel
    # The outcome is recorded, then told: wait for the telling.
    wait_for(lambda: [r for r in lab.calls("sns", "Publish")
                      if r["params"]["Subject"].endswith(": released the service")], 30,
             "the released report")
    pubs = lab.calls("sns", "Publish")
    releasing = next(r for r in pubs if r["params"]["Subject"].endswith(": releasing the service"))
    released = next(r for r in pubs if r["params"]["Subject"].endswith(": released the service"))
    [(stop_start, stop_done)] = lab.stop_times()
    [detach] = lab.calls("ec2", "DetachVolume")
    assert detach["params"].get("Force") is None, "a release never forces a detach"
    assert detach["params"]["InstanceId"] == A
    assert releasing["time"] < stop_start < stop_done <= step_end(rel, "exports") + 0.5
    assert step_end(rel, "exports") <= iso(step(rel, "filesystem")["start"]) + 0.01
    assert step_end(rel, "filesystem") < detach["time"] < released["time"]
    assert not [r for r in lab.calls("route53") if r["action"] == "ChangeResourceRecordSets"
                and r["time"] > releasing["time"]], "the release moved DNS"
    assert "record is left" in step(rel, "route53")["message"] or \
        "left as it is" in step(rel, "route53")["message"]
    # The state it leaves: nothing mounted, the volume free, the record marked.
    assert not lab.mounted()
    assert lab.attachments() == []
    assert lab.c.volume(VOL)["state"] == "available"
    assert not lab.needs_recovery(), "the journal still holds transactions: not unmounted"
    gen = lab.generation()
    assert gen["instance"] == A and gen["released"]["instance"] == A, gen
    return releasing, released, detach


def test_lifecycle_terminated_releases_in_order_and_completes_the_hook(make_lab):
    lab = make_lab(release="heartbeat: 1s")
    lab.run()
    w = lab.watch()
    t0 = time.time()
    lab.c.group_terminates(A)
    rel = lab.wait_released()
    releasing, released, detach = assert_released_in_order(lab, rel)
    assert rel["trigger"] == "lifecycle" and "Terminated" in rel["reason"]
    assert releasing["time"] - t0 < 15, "the watcher looks every 5 s"
    [done] = [a for a in lab.c.state()["lifecycle_actions"] if a["hook"] == HOOK]
    assert done["result"] == "CONTINUE" and done["instance_id"] == A
    assert not done.get("timed_out")
    [complete] = lab.calls("autoscaling", "CompleteLifecycleAction")
    assert complete["params"]["InstanceId"] == A and complete["status"] == 200
    assert complete["params"]["AutoScalingGroupName"] == ASG
    # The hook first (the group may go on at once), then the report that says so.
    assert detach["time"] < complete["time"] < released["time"]
    assert rel["lifecycle_hook"] == f"{HOOK} CONTINUE sent"
    # The group then terminates the instance (the sim, as Auto Scaling does).
    wait_for(lambda: lab.c.instance(A)["state"] in ("shutting-down", "terminated"), 10,
             "the group to terminate A")
    # The watcher stopped: there is nothing left to keep healthy.
    assert w.wait(30) == 0
    assert "stopping on a release" in w.output()
    tags = lab.c.instance(A)["tags"]
    assert tags["haboot:release"].startswith("released "), tags
    # haboot status tells it, and says by its exit that the service is not up here.
    st = lab.haboot("status")
    assert st.returncode == 1, st.stderr
    assert re.search(r"release\s+released", st.stdout), st.stdout
    assert f"{HOOK} CONTINUE sent" in st.stdout


def test_spot_notice_releases_in_order_without_a_hook(make_lab):
    lab = make_lab()
    lab.run()
    w = lab.watch()
    notice = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
    lab.c.set_instance(A, spot_action={"action": "terminate", "time": notice})
    rel = lab.wait_released()
    assert_released_in_order(lab, rel)
    assert rel["trigger"] == "spot" and notice in rel["reason"]
    # Done before the notice's time, with room to spare.
    assert iso(rel["deadline"]) <= iso(notice) - 5
    assert lab.calls("autoscaling", "CompleteLifecycleAction") == []
    assert w.wait(30) == 0


def fake_systemctl(tmp, state, jobs=""):
    """A systemctl that answers is-system-running and list-jobs as systemd would."""
    d = os.path.join(str(tmp), f"bin-{state}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "systemctl"), "w") as f:
        f.write("#!/bin/sh\n"
                f'case "$1" in\n  is-system-running) echo {state}; exit 1;;\n'
                f"  list-jobs) printf '%s' '{jobs}';;\nesac\n")
    os.chmod(os.path.join(d, "systemctl"), 0o755)
    return d


def exec_stop(haboot):
    """The unit's ExecStop, with haboot where this build is."""
    with open(UNIT) as f:
        line = next(x for x in f.read().splitlines() if x.startswith("ExecStop="))
    argv = line[len("ExecStop="):].split()
    assert argv[0] == "/usr/sbin/haboot"
    return [haboot] + argv[1:]


def test_the_release_unit_verifies(tmp_path):
    unit = tmp_path / "haboot-release.service"
    with open(UNIT) as f:
        unit.write_text(f.read().replace("/usr/sbin/haboot", os.path.abspath(
            os.environ.get("HABOOT", "build/haboot"))))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr


def test_shutdown_releases_but_a_restart_of_a_unit_does_not(make_lab, tmp_path):
    lab = make_lab()
    lab.run()
    w = lab.watch()
    # The watcher's SIGTERM (systemctl restart haboot-watch) only stops the watcher.
    assert w.stop() == 0
    assert lab.mounted() and lab.attachments() == [(A, "attached")]
    assert lab.release_report() is None
    assert lab.calls("ec2", "DetachVolume") == []
    # ExecStop while the machine is up (a stop or restart of the unit, a package
    # upgrade): nothing is handed over.
    argv = exec_stop(os.path.abspath(os.environ.get("HABOOT", "build/haboot")))
    up = fake_systemctl(tmp_path, "running")
    r = subprocess.run(lab.a.argv(argv + ["-f", lab.manifest, "--status-file", lab.status]),
                       capture_output=True, text=True, timeout=60,
                       env=lab.env(PATH=up + ":" + os.environ["PATH"]))
    assert r.returncode == 0, r.stderr
    assert "not shutting down" in r.stderr and '"running"' in r.stderr
    assert lab.mounted() and lab.attachments() == [(A, "attached")]
    assert lab.release_report() is None
    # Booting still, but a shutdown is queued: that is a shutdown.
    early = fake_systemctl(tmp_path, "starting", "12 shutdown.target start waiting\n")
    # And while systemd is stopping everything: the release runs, in order.
    down = fake_systemctl(tmp_path, "stopping")
    for path, what in ((down, 'systemd\'s state is "stopping"'),):
        r = subprocess.run(lab.a.argv(argv + ["-f", lab.manifest, "--status-file", lab.status]),
                           capture_output=True, text=True, timeout=120,
                           env=lab.env(PATH=path + ":" + os.environ["PATH"]))
        assert r.returncode == 0, r.stderr
        rel = lab.release_report()
        assert rel["state"] == "released" and what in rel["reason"], rel
        assert_released_in_order(lab, rel)
    # A second shutdown release (the machine going down after a lifecycle
    # release) finds it done and changes nothing.
    n = len(lab.calls())
    r = subprocess.run(lab.a.argv(argv + ["-f", lab.manifest, "--status-file", lab.status]),
                       capture_output=True, text=True, timeout=60,
                       env=lab.env(PATH=early + ":" + os.environ["PATH"]))
    assert r.returncode == 0, r.stderr
    assert "already released" in r.stderr
    assert [c["action"] for c in lab.calls()[n:] if not c["action"].startswith("Describe")] == []


def hold(lab, path, seconds):
    """A process in the instance keeping a file on the volume open: (Popen, its pid)."""
    code = (f"import os, time\nf = open({path!r}, 'w')\nprint(os.getpid(), flush=True)\n"
            f"time.sleep({seconds})\n")
    p = subprocess.Popen(lab.a.argv(["/usr/bin/python3", "-c", code]), stdout=subprocess.PIPE,
                         text=True)
    lab.others.append(p)
    return p, int(p.stdout.readline())


def test_a_busy_mount_is_named_waited_for_and_never_forced(make_lab):
    lab = make_lab(unmount_wait="3s")
    lab.run()
    p, pid = hold(lab, os.path.join(lab.mnt, "busy.txt"), 3600)
    try:
        r = lab.haboot("release", "--reason", "maintenance")
        assert r.returncode == 1, r.stderr
        rel = lab.release_report()
        assert rel["state"] == "failed" and rel["stopped_at"] == "filesystem", rel
        fs = step(rel, "filesystem")
        assert f"pid {pid} (python3): open file {lab.mnt}/busy.txt" in fs["message"], fs
        assert "never unmounts lazily or by force" in fs["message"]
        assert f"pid {pid} (python3)" in r.stderr and "waiting for it to be let go" in r.stderr
        assert step(rel, "volume")["state"] == "skipped"
        # Nothing forced: still mounted, still attached, no detach of any kind.
        assert lab.mounted() and lab.attachments() == [(A, "attached")]
        assert lab.calls("ec2", "DetachVolume") == []
        assert not [c for c in lab.c.requests(service="ec2") if c.get("params", {}).get("Force")]
        # The record does not claim a release that did not happen.
        assert "released" not in lab.generation()
        failed = [m for m in lab.messages() if m["subject"].endswith("release FAILED at filesystem")]
        assert failed and f"pid {pid}" in failed[0]["message"]
        assert lab.c.instance(A)["tags"]["haboot:release"].startswith("failed at filesystem")
    finally:
        p.kill()
        p.wait()
    # Once the holder is gone, the release is run again and finishes.
    r = lab.haboot("release")
    assert r.returncode == 0, r.stderr
    rel = lab.release_report()
    assert rel["state"] == "released" and "resuming a release that stopped at filesystem" in \
        rel["reason"], rel
    assert not lab.mounted() and lab.attachments() == []
    assert lab.generation()["released"]["instance"] == A


def test_a_holder_that_lets_go_is_waited_for_and_the_hook_kept_alive(make_lab):
    lab = make_lab(unmount_wait="60s", release="heartbeat: 1s")
    lab.run()
    w = lab.watch()
    p, pid = hold(lab, os.path.join(lab.mnt, "slow.txt"), 3600)
    lab.c.group_terminates(A)
    wait_for(lambda: "is busy" in w.output(), 60, "the release to find the mount busy")
    time.sleep(3)  # a few heartbeats' time
    p.kill()
    p.wait()
    rel = lab.wait_released()
    assert step(rel, "filesystem")["duration_ms"] >= 3000
    assert f"after waiting for pid {pid} (python3)" in step(rel, "filesystem")["message"]
    assert_released_in_order(lab, rel)
    # The hook was kept alive while the release waited, and completed after.
    beats = lab.calls("autoscaling", "RecordLifecycleActionHeartbeat")
    assert beats and all(b["status"] == 200 and b["params"]["InstanceId"] == A for b in beats)
    [complete] = lab.calls("autoscaling", "CompleteLifecycleAction")
    assert all(b["time"] < complete["time"] for b in beats)
    assert w.wait(30) == 0


def test_a_release_killed_half_way_finishes_when_run_again(make_lab):
    lab = make_lab(unmount_wait="60s")
    lab.run()
    p, pid = hold(lab, os.path.join(lab.mnt, "busy.txt"), 3600)
    first = lab.start("release", name="release1")
    try:
        # Half way: the server stopped, the filesystem step waiting for the holder.
        wait_for(lambda: "waiting for it to be let go" in first.output(), 60,
                 "the release to wait for the holder")
        assert lab.stop_times() and lab.mounted()
        first.stop(signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    rel = lab.release_report()
    assert rel["state"] == "releasing" and step(rel, "filesystem")["state"] == "running"
    r = lab.haboot("release")
    assert r.returncode == 0, r.stderr
    rel = lab.release_report()
    assert rel["state"] == "released", rel
    assert "resuming a release that was interrupted" in rel["reason"]
    assert_released_in_order_after_resume(lab, rel)


def assert_released_in_order_after_resume(lab, rel):
    assert all(s["state"] == "ok" for s in rel["steps"]), rel
    assert not lab.mounted() and lab.attachments() == []
    assert lab.c.volume(VOL)["state"] == "available"
    assert not lab.needs_recovery()
    gen = lab.generation()
    assert gen["released"]["instance"] == A
    [detach] = lab.calls("ec2", "DetachVolume")
    assert detach["params"].get("Force") is None


def test_rebalance_is_an_option_and_asks_for_the_replacement(make_lab):
    lab = make_lab(release="triggers: [rebalance]")
    lab.run()
    w = lab.watch()
    lab.c.set_instance(A, rebalance_notice="2026-01-01T00:00:00Z")
    rel = lab.wait_released()
    assert rel["trigger"] == "rebalance" and "rebalance recommendation" in rel["reason"]
    assert_released_in_order(lab, rel)
    health = lab.c.state()["asg_health"]
    assert [(h["instance_id"], h["health_status"]) for h in health] == [(A, "Unhealthy")]
    assert w.wait(30) == 0


def test_without_the_trigger_a_spot_notice_is_not_acted_on(make_lab):
    lab = make_lab(release="triggers: [lifecycle]")
    lab.run()
    w = lab.watch()
    lab.c.set_instance(A, spot_action="terminate")
    time.sleep(7)  # more than one look (every 5 s)
    assert lab.release_report() is None and lab.mounted()
    assert w.stop() == 0


@pytest.mark.parametrize("answer", [{"detail": "maintenance"}, {"action": "reboot"}],
                         ids=["no-action", "unknown-action"])
def test_an_answer_that_is_no_spot_notice_releases_nothing(make_lab, answer):
    """Only the notice AWS documents counts: a healthy service released on a
    garbled answer would be down with nothing to replace it."""
    lab = make_lab()
    lab.run()
    w = lab.watch()
    lab.c.set_instance(A, spot_action=answer)
    wait_for(lambda: "which is not a notice AWS documents" in w.output(), 30,
             "the watcher to say the answer is no notice")
    assert lab.release_report() is None and lab.mounted()
    assert w.proc.poll() is None
    # A real notice after it is acted on.
    lab.c.set_instance(A, spot_action="terminate")
    assert lab.wait_released()["trigger"] == "spot"
    assert w.wait(30) == 0


def test_by_hand_with_the_hook_s_token_answers_that_action(make_lab):
    """Maintenance tooling that got the hook's notification passes its token;
    the release then completes that very action."""
    lab = make_lab()
    lab.run()
    lab.c.group_terminates(A)
    [action] = lab.c.lifecycle_actions(A)
    r = lab.haboot("release", "--lifecycle-token", action["token"], "--reason", "refresh")
    assert r.returncode == 0, r.stderr
    rel = lab.release_report()
    assert rel["state"] == "released" and rel["reason"] == "refresh", rel
    [complete] = lab.calls("autoscaling", "CompleteLifecycleAction")
    assert complete["params"]["LifecycleActionToken"] == action["token"]
    assert "InstanceId" not in complete["params"]
    assert lab.c.lifecycle_actions(A) == []
