"""One instance serving NFS for the release tests: the sim as AWS (with the
instance's own IMDS at /_sim/imds/ID), a loop device as the EBS volume that
blockns's attach hook shows as /dev/xvdf in the instance's mount namespace,
a real NFS-Ganesha started and stopped by recording scripts, and haboot (the
ASan build) running in the namespace: run, watch, release.

    lab = ReleaseLab(tmp_path, sim)      # sim: simfixture.shared_sim(...)
    lab.run()                           # haboot run: attach, format, mount, serve, DNS, SNS
    w = lab.watch()                     # haboot watch in the background
    lab.sim.group_terminates(A)         # the group terminates A: lifecycle hook
    lab.wait_released()

Evidence: the sim's request log (AWS calls with times), the stop script's
log (when the NFS server was stopped), the status file's "release" section
(each step with its start and duration), the generation record on the disk.
"""
import json
import os
import signal
import subprocess
import time

import blockns
from nfsfixture import free_port, kill_pidfile, recording_script
from test_exports_ganesha import Ganesha

HABOOT = os.path.abspath(os.environ.get("HABOOT", "build/haboot"))
A = "i-0aaaaaaaaaaaaaaa1"
AZ = "us-west-2a"
VOL = "vol-0a1b2c3d4e5f60718"
ASG = "nfs-asg"
HOOK = "nfs-terminate"
TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"
ZONE = "Z1G9ZB2OW5990Z"
NAME = "nfs.helloawsworld.com"
SIG = ".NFSMASTER"
FAST = {"attach": 0.2, "detach": 0.2, "force_detach": 0.1, "stop": 0.5, "stop_force": 0.3,
        "terminate": 0.3, "terminate_detach": 0.3, "pending": 0.2, "route53_insync": 0.2}
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def iso(s):
    """haboot's ISO 8601 UTC time as epoch seconds."""
    import datetime
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in s else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.datetime.strptime(s, fmt).replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Proc:
    """A haboot process in the background, its output in a file."""

    def __init__(self, argv, env, log):
        self.log_path = log
        self.out = open(log, "w+")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.out, stderr=subprocess.STDOUT)

    def output(self):
        if not self.out.closed:
            self.out.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait(self, timeout=120):
        rc = self.proc.wait(timeout=timeout)
        self.out.close()
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)


class ReleaseLab:
    def __init__(self, tmp, sim, unmount_wait="20s", release="", watch="interval: 1s"):
        self.tmp, self.sim, self.c = str(tmp), sim, sim.client
        self.reg = blockns.make_registry(os.path.join(self.tmp, "reg"))
        self.mnt = os.path.join(self.tmp, "mnt", "nfs")
        self.status = os.path.join(self.tmp, "run", "status.json")
        self.procs, self.loops = [], []
        self.others = []  # processes a test started in the instance (close kills them)
        self.ganesha = Ganesha(os.path.join(self.tmp, "ganesha"), free_port())
        # The stop script logs when it ran and when ganesha was gone.
        self.stops = os.path.join(self.tmp, "stop.log")
        g = self.ganesha
        body = (f"echo \"start $(date +%s.%N)\" >> '{self.stops}'\n"
                f"pf='{g.pidfile}'\n"
                'if [ -s "$pf" ]; then\n'
                '  pid=$(cat "$pf"); kill "$pid" 2>/dev/null\n'
                '  i=0\n'
                '  while [ -d /proc/$pid ] && ! grep -q "^State:.*Z" /proc/$pid/status '
                '2>/dev/null && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done\n'
                '  rm -f "$pf"\n'
                'fi\n'
                f"echo \"done $(date +%s.%N)\" >> '{self.stops}'")
        self.stop_script = recording_script(os.path.join(self.tmp, "stop.sh"),
                                            os.path.join(self.tmp, "stop.runs"), body=body,
                                            output="ganesha stopped")
        self.c.reset(empty=True)
        self.disk = self._disk()
        self.c.seed({
            "region": "us-west-2", "delays": FAST, "attach_hook": blockns.hook_argv(self.reg),
            "instances": {A: {"az": AZ, "state": "running", "private_ip": "10.10.10.10",
                              "asg": ASG}},
            "volumes": {VOL: {"az": AZ, "size": 1, "type": "gp3", "backing": self.disk}},
            "zones": {ZONE: {"name": "helloawsworld.com", "records": [
                {"name": NAME, "type": "A", "ttl": 60, "values": ["10.10.10.9"]}]}},
            "topics": [TOPIC],
            "asgs": {ASG: {"instances": [A], "hooks": {
                HOOK: {"transition": TERMINATING, "heartbeat_timeout": 300}}}},
        })
        self.a = blockns.Instance(self.reg, A, "xen")
        self.manifest = os.path.join(self.tmp, "nfs.yaml")
        with open(self.manifest, "w") as f:
            f.write(self.manifest_text(unmount_wait, release, watch))

    def _disk(self):
        img = os.path.join(self.tmp, "volume.img")
        with open(img, "wb") as f:
            f.truncate(64 * 1024 * 1024)
        for _ in range(20):
            r = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
            if r.returncode == 0:
                self.loops.append(r.stdout.strip())
                return r.stdout.strip()
            time.sleep(0.2)  # another test took the free device first
        raise RuntimeError(f"losetup: {r.stderr}")

    def manifest_text(self, unmount_wait, release, watch):
        g = self.ganesha
        return (
            "version: 1\nname: nfs\non_failure: halt\n"
            f"watch: {{{watch}}}\n"
            f"release: {{lifecycle_hook: {{name: {HOOK}}}{', ' if release else ''}{release}}}\n"
            "modules:\n"
            f"  - volume: {{id: {VOL}, device: /dev/sdf, timeout: 20s}}\n"
            f"  - filesystem: {{mountpoint: {self.mnt}, type: ext4, format: if-blank, "
            f"signature: {SIG}, unmount_wait: {unmount_wait}}}\n"
            "  - exports:\n"
            "      server: ganesha\n"
            f"      config: {g.haboot_conf}\n"
            f"      restart: [{g.restart}]\n"
            f"      stop: [{self.stop_script}]\n"
            "      lease: 5s\n      grace: 5s\n"
            f"      check: {{host: 127.0.0.1, port: {g.port}, timeout: 20s, log: {g.log}}}\n"
            f"      exports:\n        - {{path: {self.mnt}, clients: [127.0.0.1], "
            "options: [rw, no_root_squash]}\n"
            f"  - route53: {{zone: {ZONE}, name: {NAME}, ttl: 60, value: local-ipv4, "
            "wait: insync}\n"
            f"  - notify: {{sns: {TOPIC}}}\n")

    # ---- haboot
    def env(self, **extra):
        env = dict(os.environ)
        env.update(self.sim.env())
        env["AWS_EC2_METADATA_DISABLED"] = "false"
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"{self.sim.url}/_sim/imds/{A}"
        env.update(extra)
        return env

    def argv(self, *args):
        manifest = [] if args and args[0] == "status" else ["-f", self.manifest]
        return self.a.argv([HABOOT, *args, *manifest, "--status-file", self.status])

    def haboot(self, *args, env=None, timeout=120):
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, env=env or self.env())

    def start(self, *args, name="haboot", env=None):
        p = Proc(self.argv(*args), env or self.env(), os.path.join(self.tmp, f"{name}.log"))
        self.procs.append(p)
        return p

    def run(self):
        r = self.haboot("run")
        assert r.returncode == 0, r.stderr
        assert self.mounted()
        return r

    def watch(self):
        w = self.start("watch", name="watch")
        wait_for(lambda: (self.watch_state() or {}).get("state") == "healthy", 60,
                 "a healthy round of the watcher")
        return w

    # ---- evidence
    def report(self):
        with open(self.status) as f:
            return json.load(f)

    def release_report(self):
        return self.report().get("release")

    def watch_state(self):
        try:
            with open(os.path.join(os.path.dirname(self.status), "watch.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait_released(self, timeout=90, state="released"):
        return wait_for(lambda: (self.release_report() or {}).get("state") == state and
                        self.release_report().get("finished") and self.release_report(),
                        timeout, f"the release to be {state}")

    def mounted(self):
        return any(m["target"] == self.mnt for m in self.a.mounts())

    def attachments(self):
        return [(a["instance"], a["state"]) for a in self.c.volume(VOL)["attachments"]]

    def calls(self, service=None, action=None):
        return [r for r in self.c.requests(service=service, action=action)
                if r.get("service") != "imds"]

    def stop_times(self):
        """(start, done) of each run of the exports stop command."""
        if not os.path.exists(self.stops):
            return []
        lines = open(self.stops).read().split("\n")
        starts = [float(x.split()[1]) for x in lines if x.startswith("start ")]
        dones = [float(x.split()[1]) for x in lines if x.startswith("done ")]
        return list(zip(starts, dones))

    def generation(self):
        """The generation record, read from the disk itself (unmounted or not)."""
        r = subprocess.run(["debugfs", "-R", "cat /.haboot/generation", self.disk],
                           capture_output=True, text=True)
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None

    def needs_recovery(self):
        r = subprocess.run(["dumpe2fs", "-h", self.disk], capture_output=True, text=True)
        feats = next((x for x in r.stdout.splitlines() if x.startswith("Filesystem features:")),
                     "")
        return "needs_recovery" in feats.split()

    def messages(self):
        return [m for m in self.c.state()["sns_messages"] if m.get("topic_arn") == TOPIC]

    def close(self):
        for p in self.others:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout is not None:
                p.stdout.close()
        for p in self.procs:
            if p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
            if not p.out.closed:
                p.out.close()
        kill_pidfile(self.ganesha.pidfile)
        self.a.close(under=self.tmp)
        for dev in self.loops:
            for _ in range(50):
                if subprocess.run(["losetup", "-d", dev], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
