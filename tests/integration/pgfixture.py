"""Helpers for the service module's tests with a real PostgreSQL (Debian's
package): where its programs are, a blank loop-device volume in a private
mount namespace, the manifest that serves PostgreSQL from it, and psql.

The package's own cluster (15/main, port 5432) plays no part: each test
makes its cluster with initdb (the manifest's init) on the loop device's
filesystem, runs it as the postgres user on a free port, with its socket in
the test's own directory.  Paths the postgres user must reach live under a
0755 directory in /tmp (pytest's tmp_path is 0700, closed to postgres).
"""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from nfsfixture import Namespace, free_port, missing_tools

SIGNATURE = ".HABOOT-DB"


def pg_bin():
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def missing():
    """What these tests need and this machine lacks."""
    out = missing_tools("losetup", "unshare", "nsenter", "mkfs.ext4", "e2fsck")
    if pg_bin() is None:
        out.append("postgresql")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        out.append("the postgres user")
    return out


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class World:
    """A blank 96 MiB loop device, a private mount namespace, and a 0755
    directory in /tmp for the mountpoint, the socket, the log and the pid file."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="haboot-pg-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.bin = pg_bin()
        self.port = free_port()
        self.mnt = f"{self.base}/vol"
        self.data = f"{self.mnt}/pgdata"
        self.sock = f"{self.base}/sock"
        self.log = f"{self.base}/postgres.log"
        self.pidfile = f"{self.base}/run/service.pid"
        self.status = f"{self.base}/status.json"
        os.makedirs(self.sock)
        pg = pwd.getpwnam("postgres")
        os.chown(self.sock, pg.pw_uid, pg.pw_gid)
        img = f"{self.base}/volume.img"
        with open(img, "wb") as f:
            f.truncate(96 * 1024 * 1024)
        self.dev = None
        for _ in range(20):
            r = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
            if r.returncode == 0:
                self.dev = r.stdout.strip()
                break
            time.sleep(0.2)  # another test took the free device first
        if self.dev is None:
            raise RuntimeError(f"losetup: {r.stderr}")
        self.ns = Namespace()

    def manifest(self, command_extra=(), ready=None, stop=True, head="", extra=""):
        """The manifest: filesystem (format the blank device) and service."""
        b = self.bin
        cmd = [f"{b}/postgres", "-D", self.data, "-p", str(self.port), "-k", self.sock,
               "-c", "listen_addresses=127.0.0.1", *command_extra]
        ready = ready or {"command": [f"{b}/psql", "-h", self.sock, "-p", str(self.port),
                                      "-U", "postgres", "-d", "postgres", "-Atc", "select 1"]}
        rd = ", ".join(f"{k}: {flow(v)}" for k, v in ready.items())
        stop_text = (f"      stop: {{command: {flow([f'{b}/pg_ctl', '-D', self.data, 'stop', '-m', 'fast'])},"
                     " timeout: 30s}\n") if stop else ""
        return (f"version: 1\nname: db\n{head}modules:\n"
                "  - filesystem:\n"
                f"      device: {self.dev}\n"
                f"      mountpoint: {self.mnt}\n"
                "      format: if-blank\n"
                f"      signature: {SIGNATURE}\n"
                "  - service:\n"
                f"      command: {flow(cmd)}\n"
                "      user: postgres\n"
                "      environment: {LANG: C.UTF-8, PGTZ: UTC}\n"
                f"      log: {self.log}\n"
                f"      pidfile: {self.pidfile}\n"
                f"      init: {flow([f'{b}/initdb', '-D', self.data, '--auth=trust', '-U', 'postgres'])}\n"
                f"      data: {{path: {self.data}}}\n"
                f"{stop_text}"
                f"      ready: {{{rd}}}\n"
                f"{extra}")

    def write(self, name, text):
        path = f"{self.base}/{name}"
        with open(path, "w") as f:
            f.write(text)
        return path

    def psql(self, sql, timeout=30):
        return subprocess.run([f"{self.bin}/psql", "-h", self.sock, "-p", str(self.port), "-U",
                               "postgres", "-d", "postgres", "-Atc", sql],
                              capture_output=True, text=True, timeout=timeout)

    def service_pid(self):
        try:
            with open(self.pidfile) as f:
                pid, _ = f.read().split()
            return int(pid)
        except (OSError, ValueError):
            return None

    def postgres_pids(self):
        """Every process of this test's cluster: postmaster and its children,
        found by their data directory or the postmaster's process group."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
                pgid = os.getpgid(int(d))
            except (OSError, ProcessLookupError):
                continue
            if self.data.encode() in cmd or (self.service_pid() and pgid == self.service_pid()):
                out.append(int(d))
        return out

    def crash_postgres(self):
        """The service dies: SIGKILL to the postmaster's whole process group."""
        pid = self.service_pid()
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), 10, f"postgres {pid} to die")
        return pid

    def close(self):
        for pid in self.postgres_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 10
        while any(pid_alive(p) for p in self.postgres_pids()) and time.monotonic() < end:
            time.sleep(0.1)
        self.ns.run(["umount", self.mnt], check=False)
        self.ns.close()
        for _ in range(50):
            if subprocess.run(["losetup", "-d", self.dev], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        shutil.rmtree(self.base, ignore_errors=True)


def flow(v):
    """A YAML flow value: lists and strings quoted as JSON is (JSON is YAML)."""
    import json
    return json.dumps(v)
