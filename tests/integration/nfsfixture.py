"""Helpers for the exports module tests: a private mount namespace, haboot
runs, a restart script that records its runs, free ports, NFS client calls.

Everything mounted here is mounted inside a namespace made with
`unshare -m --propagation private`; haboot and the NFS servers it restarts run
inside it through nsenter, so nothing is visible outside and teardown ends it.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

HABOOT = os.path.abspath(os.environ.get("HABOOT", "build/haboot"))

# Never let haboot reach for a real metadata service.
HB_ENV = dict(os.environ, AWS_EC2_METADATA_DISABLED="true",
              AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9",
              AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="test",
              AWS_REGION="us-east-1")


def missing_tools(*tools):
    return [t for t in tools if shutil.which(t) is None]


class Namespace:
    """A private mount namespace kept alive by a sleeping process."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "--", "sleep", "3600"])
        mine = os.readlink("/proc/self/ns/mnt")
        for _ in range(500):
            try:
                if os.readlink(f"/proc/{self.proc.pid}/ns/mnt") != mine:
                    with open(f"/proc/{self.proc.pid}/comm") as f:
                        if f.read().strip() == "sleep":
                            return
            except OSError:
                pass
            time.sleep(0.01)
        self.proc.kill()
        raise RuntimeError("the private mount namespace did not come up")

    def argv(self, argv):
        return ["nsenter", "-t", str(self.proc.pid), "-m", "--"] + list(argv)

    def run(self, argv, check=True, **kw):
        return subprocess.run(self.argv(argv), check=check, capture_output=True, text=True,
                              timeout=120, **kw)

    def path(self, p):
        """p as seen inside the namespace (with its mounts)."""
        return f"/proc/{self.proc.pid}/root{p}"

    def close(self):
        self.proc.kill()
        self.proc.wait()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Listener:
    """A TCP port that accepts connections (the kernel queues them): stands in
    for an NFS server where none can run."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def recording_script(path, runs, body="", status=0, output="restarted"):
    """An executable that appends a line to runs each time it runs, then body."""
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f"echo run >> '{runs}'\n"
                f"{body}\n"
                f"echo '{output}'\n"
                f"exit {status}\n")
    os.chmod(path, 0o755)
    return path


def count_runs(runs):
    if not os.path.exists(runs):
        return 0
    with open(runs) as f:
        return len(f.read().splitlines())


def haboot(args, ns=None, timeout=120):
    argv = [HABOOT] + list(args)
    if ns is not None:
        argv = ns.argv(argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=HB_ENV)


def module_status(status_path, name="exports"):
    with open(status_path) as f:
        st = json.load(f)
    mods = st.get("modules", st.get("mods", []))
    for m in mods:
        if m.get("name") == name:
            return m
    raise AssertionError(f"no {name} in {st}")


def plan_content(stdout, path):
    """The file content `haboot plan` shows for path (its "| " lines)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if "note" in line and path in line and ("will hold" in line or "already holds" in line):
            out = []
            for cont in lines[i + 1:]:
                if not cont.startswith("           | "):
                    break
                out.append(cont[len("           | "):])
            return "\n".join(out) + "\n"
    raise AssertionError(f"plan shows no content for {path}:\n{stdout}")


def kill_pidfile(pidfile, wait=10):
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                if "\nState:\tZ" in f.read():
                    return
        except OSError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
