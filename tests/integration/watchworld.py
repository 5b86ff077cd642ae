"""One instance, whole, for the watcher's tests: the sim as AWS (and as the
instance's IMDS), a loop device as the EBS volume that the sim's attach hook
makes appear as /dev/xvdf in the instance's mount namespace (blockns), the
filesystem haboot formats and mounts there, a real NFS-Ganesha serving it on
127.0.0.1, Route53 and notify in the sim.  `haboot run` brings it up, then
`haboot watch` keeps it so; tests break a piece and read the watcher's state
file, its log and the sim.

World(tmp, sim, watch=...) builds it; close() undoes everything (ganesha
first: it keeps the namespace's mount alive).
"""
import json
import os
import signal
import subprocess
import time

import blockns
from nfsfixture import HABOOT, count_runs, free_port, recording_script
from test_exports_ganesha import VOL_SIG, Ganesha, nfs, url

SELF = "i-0aaaaaaaaaaaaaaa1"
OTHER = "i-0bbbbbbbbbbbbbbb2"
VOL = "vol-073769c7"
AZ = "us-west-2a"
ZONE = "Z1G9ZB2OW5990Z"
NAME = "nfs.helloawsworld.com"
ADDR = "10.10.10.10"
TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"
ASG = "nfs-autoscaling-group"
FAST = {"attach": 0.1, "detach": 0.1, "force_detach": 0.1, "route53_insync": 0.2,
        "pending": 0.1, "terminate": 0.2, "terminate_detach": 0.2}
WATCH = "interval: 1s, failures: 2, restarts: 2, backoff: 0s, window: 5m, heartbeat: 3s, " \
        "api_interval: 1s"
MiB = 1024 * 1024


def wait_for(cond, timeout, what, every=0.1):
    """what: a text, or a function whose text says what was seen instead."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for "
                                 f"{what() if callable(what) else what}")
        time.sleep(every)


class World:
    def __init__(self, tmp, sim, watch=WATCH, asg_grace=0, on_failure="mark-unhealthy",
                 fs_options=("noatime",)):
        self.tmp, self.sim, self.c = str(tmp), sim, sim.client
        self.watch_cfg, self.on_failure, self.fs_options = watch, on_failure, fs_options
        self.mnt = os.path.join(self.tmp, "mnt", "nfs")
        self.status = os.path.join(self.tmp, "run", "status.json")
        self.state_path = os.path.join(self.tmp, "run", "watch.json")
        os.makedirs(os.path.dirname(self.status))
        self.loop = None
        self.inst = None
        self.watcher = None
        self.log = None
        self.reg = blockns.make_registry(os.path.join(self.tmp, "reg"))
        self.c.reset(empty=True)
        try:
            self.loop = self._loop()
            self.c.seed({
                "region": "us-west-2", "delays": FAST, "attach_hook": blockns.hook_argv(self.reg),
                "instances": {SELF: {"az": AZ, "state": "running", "private_ip": ADDR}},
                "volumes": {VOL: {"az": AZ, "backing": self.loop,
                                  "tags": {"Name": "nfs-master-volume"}}},
                "zones": {ZONE: {"name": "helloawsworld.com", "records": [
                    {"name": NAME, "type": "A", "ttl": 60, "values": ["10.10.10.9"]}]}},
                "topics": [TOPIC],
                "asgs": {ASG: {"instances": [SELF], "health_check_grace_period": asg_grace}},
            })
            self.inst = blockns.Instance(self.reg, SELF, "xen")
            self.g = Ganesha(os.path.join(self.tmp, "ganesha"), free_port())
        except BaseException:
            self.close()
            raise

    def _loop(self):
        img = os.path.join(self.tmp, "volume.img")
        with open(img, "wb") as f:
            f.truncate(32 * MiB)
        for _ in range(20):
            r = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
            if r.returncode == 0:
                return r.stdout.strip()
            time.sleep(0.2)  # another test took the free device first
        raise RuntimeError(f"losetup: {r.stderr}")

    # ---- haboot
    def manifest(self, restart=None):
        g = self.g
        text = (
            "#haboot\nversion: 1\nname: nfs\n"
            f"on_failure: {self.on_failure}\n"
            f"watch: {{{self.watch_cfg}}}\n"
            "modules:\n"
            f"  - volume: {{id: {VOL}, device: /dev/sdf, timeout: 20s}}\n"
            f"  - filesystem: {{mountpoint: {self.mnt}, type: ext4, format: if-blank, "
            f"signature: {VOL_SIG}, options: [{', '.join(self.fs_options)}]}}\n"
            "  - exports:\n"
            "      server: ganesha\n"
            f"      config: {g.haboot_conf}\n"
            f"      restart: [{restart or g.restart}]\n"
            "      lease: 5s\n      grace: 5s\n"
            f"      check: {{host: 127.0.0.1, port: {g.port}, timeout: 20s, log: {g.log}}}\n"
            f"      exports: [{{path: {self.mnt}, clients: [127.0.0.1], "
            "options: [rw, no_root_squash]}]\n"
            f"  - route53: {{zone: {ZONE}, name: {NAME}, value: local-ipv4, wait: insync}}\n"
            f"  - notify: {{sns: {TOPIC}, metric: {{namespace: HA/NFS, name: Healthy}}}}\n")
        path = os.path.join(self.tmp, "haboot.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def env(self):
        env = dict(os.environ)
        env.update(self.sim.env(HABOOT_CONSOLE=os.path.join(self.tmp, "console")))
        env["AWS_EC2_METADATA_DISABLED"] = "false"
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"{self.sim.url}/_sim/imds/{SELF}"
        # A check's AWS call during an outage gives up after 2 attempts.
        env["AWS_MAX_ATTEMPTS"] = "2"
        return env

    def run(self, **kw):
        man = self.manifest(**kw)
        r = subprocess.run(self.inst.argv([HABOOT, "run", "-f", man, "--status-file",
                                           self.status]),
                           capture_output=True, text=True, timeout=120, env=self.env())
        assert r.returncode == 0, r.stderr
        return r

    def start_watch(self, *args):
        self.log = open(os.path.join(self.tmp, "watch.log"), "w+")
        self.watcher = subprocess.Popen(
            self.inst.argv([HABOOT, "watch", "-f", os.path.join(self.tmp, "haboot.yaml"),
                            "--status-file", self.status, *args]),
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env())
        return self.watcher

    def once(self):
        return subprocess.run(
            self.inst.argv([HABOOT, "watch", "--once", "-f",
                            os.path.join(self.tmp, "haboot.yaml"), "--status-file",
                            self.status]),
            capture_output=True, text=True, timeout=120, env=self.env())

    def state(self):
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def module(self, name):
        st = self.state() or {}
        return next((m for m in st.get("modules", []) if m["name"] == name), {})

    def output(self):
        if self.log is None:
            return ""
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def wait_state(self, want, timeout=60):
        return wait_for(lambda: (self.state() or {}).get("state") in
                        ((want,) if isinstance(want, str) else want), timeout,
                        f"watcher state {want}; log:\n{self.output()[-3000:]}")

    def stop_watch(self):
        if self.watcher is None:
            return None
        if self.watcher.poll() is None:
            self.watcher.send_signal(signal.SIGTERM)
        try:
            rc = self.watcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.watcher.kill()
            rc = self.watcher.wait()
        self.watcher = None
        return rc

    # ---- evidence
    def calls(self, service, action=None):
        return [r for r in self.c.requests(service=service)
                if action is None or r.get("action") == action]

    def metrics(self, name="Healthy"):
        return [m for m in self.c.state()["metrics"] if m["metric_name"] == name]

    def nfs_cat(self, rel, until=40):
        return nfs(["nfs-cat", url(self.g.port, os.path.join(self.mnt, rel))], until=until)

    def restarts(self):
        return count_runs(self.g.runs)

    def in_mnt(self, rel=""):
        return self.inst.path(os.path.join(self.mnt, rel))

    def close(self):
        errors = []
        for step in (self.stop_watch, lambda: self.g.stop() if hasattr(self, "g") else None,
                     lambda: self.inst and self.inst.close(under=self.tmp),
                     self._free_loop):
            try:
                step()
            except Exception as e:  # keep undoing
                errors.append(repr(e))
        if self.log is not None:
            self.log.close()
        if errors:
            raise RuntimeError("watch world cleanup: " + "; ".join(errors))

    def _free_loop(self):
        if self.loop is None:
            return
        for _ in range(100):
            if subprocess.run(["losetup", "-d", self.loop], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"cannot detach {self.loop}")


def failing_restart(tmp, g):
    """A restart command that runs ganesha's until the file `broken` exists,
    then fails (a server that will not start any more), recording every run."""
    broken = os.path.join(str(tmp), "broken")
    body = (f"if [ -e '{broken}' ]; then echo 'nfs-ganesha.service: start request repeated "
            "too quickly' ; echo run >> " f"'{g.runs}'; exit 1; fi\n"
            f"exec '{g.restart}'")
    path = os.path.join(str(tmp), "restart-or-fail.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path, broken


__all__ = ["World", "wait_for", "failing_restart", "recording_script", "SELF", "OTHER", "VOL",
           "ZONE", "NAME", "ADDR", "TOPIC", "ASG", "VOL_SIG", "WATCH"]
