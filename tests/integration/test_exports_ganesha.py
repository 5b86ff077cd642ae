"""The exports module with NFS-Ganesha, end to end: haboot writes the ganesha
file, the manifest's restart command (a test script standing in for
`systemctl restart nfs-ganesha`) starts a real `ganesha.nfsd` on 127.0.0.1
(NFSv4 only, no rpcbind), and a real NFS client (libnfs-utils) lists, reads
and writes the exported volume.

The test's main ganesha configuration keeps NFS_CORE_PARAM (port, bind
address) and %includes haboot's file, as /etc/ganesha/ganesha.conf does on an
instance.  Needs root, ganesha.nfsd with the VFS FSAL, nfs-ls/nfs-cat/nfs-cp.
"""
import os
import re
import subprocess
import time

import pytest

from nfsfixture import (Listener, Namespace, count_runs, free_port, haboot, kill_pidfile,
                        missing_tools, module_status, plan_content, recording_script)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, mounts)"),
    pytest.mark.skipif(bool(missing_tools("ganesha.nfsd", "nfs-ls", "nfs-cat", "nfs-cp",
                                          "unshare", "nsenter", "losetup", "mkfs.ext4")),
                       reason="needs nfs-ganesha, libnfs-utils, util-linux, e2fsprogs"),
]

VOL_SIG = ".NFSMASTER"


def url(port, path):
    return f"nfs://127.0.0.1{path}?version=4&nfsport={port}"


def nfs(argv, until=40):
    """Runs an NFS client command, retrying while the server is in its grace
    period (new opens get NFS4ERR_GRACE until recorded clients had their chance)."""
    deadline = time.monotonic() + until
    while True:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or time.monotonic() > deadline:
            return r
        time.sleep(0.5)


class Ganesha:
    """The files a ganesha deployment has: main config, log, pid file, and the
    restart script the manifest names."""

    def __init__(self, tmp, port):
        self.tmp = str(tmp)
        self.port = port
        self.haboot_conf = f"{self.tmp}/etc/haboot.conf"
        self.main = f"{self.tmp}/etc/ganesha.conf"
        self.log = f"{self.tmp}/ganesha.log"
        self.pidfile = f"{self.tmp}/ganesha.pid"
        self.runs = f"{self.tmp}/restart.runs"
        os.makedirs(f"{self.tmp}/etc", exist_ok=True)
        self.write_main("")
        # Stop the running server (if any), start one on the current config.
        body = (f"pf='{self.pidfile}'\n"
                'if [ -s "$pf" ]; then\n'
                '  pid=$(cat "$pf"); kill "$pid" 2>/dev/null\n'
                '  i=0\n'
                '  while [ -d /proc/$pid ] && ! grep -q "^State:.*Z" /proc/$pid/status 2>/dev/null'
                ' && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done\n'
                '  rm -f "$pf"\n'
                'fi\n'
                f"setsid ganesha.nfsd -F -f '{self.main}' -L '{self.log}' -p \"$pf\""
                " </dev/null >/dev/null 2>&1 &")
        self.restart = recording_script(f"{self.tmp}/restart.sh", self.runs, body=body,
                                        output="ganesha started")

    def write_main(self, extra):
        with open(self.main, "w") as f:
            f.write("NFS_CORE_PARAM {\n"
                    f"\tProtocols = 4; NFS_Port = {self.port}; Bind_addr = 127.0.0.1;\n"
                    "\tEnable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;\n"
                    "}\n"
                    f"%include \"{self.haboot_conf}\"\n" + extra)

    def pid(self):
        with open(self.pidfile) as f:
            return int(f.read().strip())

    def stop(self):
        kill_pidfile(self.pidfile)

    def manifest(self, exports, extra=""):
        return ("version: 1\nname: nfs\nmodules:\n  - exports:\n"
                "      server: ganesha\n"
                f"      config: {self.haboot_conf}\n"
                f"      restart: [{self.restart}]\n"
                f"      signature: {VOL_SIG}\n"
                "      lease: 5s\n      grace: 5s\n"
                f"      check: {{host: 127.0.0.1, port: {self.port}, timeout: 20s, "
                f"log: {self.log}}}\n"
                f"{extra}"
                "      exports:\n" + exports)


@pytest.fixture
def volume(tmp_path):
    """An ext4 loop device mounted in a private namespace at tmp/vol, with its
    signature file: the shared volume as the filesystem module leaves it."""
    img = tmp_path / "vol.img"
    with open(img, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True, capture_output=True)
    dev = subprocess.run(["losetup", "-f", "--show", str(img)], check=True,
                         capture_output=True, text=True).stdout.strip()
    ns = Namespace()
    mnt = str(tmp_path / "vol")
    os.makedirs(mnt)
    try:
        ns.run(["mount", dev, mnt])
        with open(ns.path(f"{mnt}/{VOL_SIG}"), "w") as f:
            f.write("nfs volume\n")
        yield ns, mnt
    finally:
        ns.run(["umount", "-l", mnt], check=False)
        ns.close()
        subprocess.run(["losetup", "-d", dev], check=False)


def test_ganesha_serves_the_volume_and_converges(tmp_path, volume):
    ns, vol = volume
    g = Ganesha(tmp_path, free_port())
    status = str(tmp_path / "status.json")
    with open(ns.path(f"{vol}/hello.txt"), "w") as f:
        f.write("hello from the volume\n")
    os.makedirs(ns.path(f"{vol}/shared"))
    with open(ns.path(f"{vol}/shared/readme.txt"), "w") as f:
        f.write("second export\n")
    m1 = g.manifest(f"        - {{path: {vol}, clients: [127.0.0.1], "
                    "options: [rw, no_root_squash]}\n")
    man = str(tmp_path / "nfs.yaml")
    try:
        # --- first run: plan shows the file, run writes it and starts ganesha.
        with open(man, "w") as f:
            f.write(m1)
        p = haboot(["plan", "-f", man], ns=ns)
        assert p.returncode == 0, p.stderr
        planned = plan_content(p.stdout, g.haboot_conf)
        r = haboot(["run", "-f", man, "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        assert count_runs(g.runs) == 1
        with open(g.haboot_conf) as f:
            written = f.read()
        assert written == planned, "plan must show exactly what run writes"
        assert written.startswith("# Managed by haboot")
        assert f'RecoveryRoot = "{vol}/.haboot/nfs-recovery";' in written
        assert "Export_Id = 1;" in written
        assert module_status(status)["changed"] is True

        # A real client lists, reads and writes the volume.
        ls = nfs(["nfs-ls", url(g.port, vol + "/")])
        assert ls.returncode == 0, ls.stdout + ls.stderr
        assert "hello.txt" in ls.stdout and VOL_SIG in ls.stdout
        cat = nfs(["nfs-cat", url(g.port, vol + "/hello.txt")])
        assert cat.returncode == 0, cat.stderr
        assert cat.stdout == "hello from the volume\n"
        src = tmp_path / "from-client.txt"
        src.write_text("written by an NFS client\n")
        cp = nfs(["nfs-cp", str(src), url(g.port, vol + "/client.txt")])
        assert cp.returncode == 0, cp.stdout + cp.stderr
        with open(ns.path(f"{vol}/client.txt")) as f:
            assert f.read() == "written by an NFS client\n"
        # NFSv4 client records are on the volume, where a new server finds them.
        recov = ns.path(f"{vol}/.haboot/nfs-recovery")
        assert oct(os.stat(recov).st_mode & 0o777) == "0o700"
        records = [d for _, dirs, _ in os.walk(recov) for d in dirs if "127.0.0.1" in d]
        assert records, f"no client record under {recov}"

        # --- second run, manifest changed: rewrite, restart on the new config.
        old_pid = g.pid()
        m2 = g.manifest(f"        - {{path: {vol}, clients: [127.0.0.1, 10.9.8.0/24], "
                        "options: [rw, no_root_squash]}\n"
                        f"        - {{path: {vol}/shared, clients: 127.0.0.1, options: [ro]}}\n")
        with open(man, "w") as f:
            f.write(m2)
        r = haboot(["run", "-f", man, "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        assert count_runs(g.runs) == 2
        assert g.pid() != old_pid
        with open(g.haboot_conf) as f:
            assert "127.0.0.1, 10.9.8.0/24;" in f.read()
        # The new server read the old server's client records from the volume.
        with open(g.log) as f:
            counts = [int(n) for n in re.findall(r"clid count\((\d+)\)", f.read())]
        assert counts and counts[-1] >= 1, "the restarted server found no client records"
        cat = nfs(["nfs-cat", url(g.port, vol + "/client.txt")])
        assert cat.returncode == 0, cat.stderr
        assert cat.stdout == "written by an NFS client\n"
        cat = nfs(["nfs-cat", url(g.port, vol + "/shared/readme.txt")])
        assert cat.returncode == 0, cat.stderr
        assert cat.stdout == "second export\n"

        # --- third run, nothing changed: no rewrite, no restart.
        st = os.stat(g.haboot_conf)
        pid = g.pid()
        p = haboot(["plan", "-f", man], ns=ns)
        assert p.returncode == 0, p.stderr
        assert "already holds, byte for byte" in p.stdout
        assert "exports unchanged" in p.stdout
        r = haboot(["run", "-f", man, "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        assert "exports unchanged" in r.stderr
        assert count_runs(g.runs) == 2, "an unchanged manifest must not restart the server"
        st2 = os.stat(g.haboot_conf)
        assert (st2.st_ino, st2.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
        assert g.pid() == pid
        assert module_status(status)["changed"] is False

        # --- the server died, the file is unchanged: haboot restarts it.
        g.stop()
        r = haboot(["run", "-f", man, "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        assert "does not answer" in r.stderr
        assert count_runs(g.runs) == 3
        cat = nfs(["nfs-cat", url(g.port, vol + "/hello.txt")])
        assert cat.returncode == 0, cat.stderr
    finally:
        g.stop()


def test_ganesha_config_error_fails_the_module_with_ganesha_words(tmp_path):
    """ganesha starts and listens even when it rejects an EXPORT block: haboot
    must read its log and fail with what ganesha said."""
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / VOL_SIG).write_text("sig\n")
    g = Ganesha(tmp_path, free_port())
    g.write_main("EXPORT { Export_Id = 99; Path = \"/nonexistent\"; Pseudo = \"/x\";\n"
                 "  Access_Type = RW; Bogus_Key = 1; FSAL { Name = VFS; } }\n")
    man = tmp_path / "nfs.yaml"
    man.write_text(g.manifest(f"        - {{path: {vol}, clients: 127.0.0.1, options: [rw]}}\n"))
    try:
        r = haboot(["run", "-f", str(man), "--status-file", str(tmp_path / "s.json")])
        assert r.returncode == 1, r.stderr
        assert "rejected its configuration" in r.stderr
        assert "Bogus_Key" in r.stderr or "Config File" in r.stderr, r.stderr
        assert count_runs(g.runs) == 1
    finally:
        g.stop()


# ---- invariant 4: never export a volume without its signature file --------

def guard_setup(tmp_path, sig_where, export_rel="vol", signature=True):
    """A ganesha manifest whose restart only records; a listener answers the check."""
    runs = str(tmp_path / "runs")
    script = recording_script(str(tmp_path / "restart.sh"), runs)
    conf = str(tmp_path / "etc" / "haboot.conf")
    lis = Listener()
    path = str(tmp_path / export_rel)
    os.makedirs(path, exist_ok=True)
    if sig_where is not None:
        with open(os.path.join(str(tmp_path), sig_where, VOL_SIG), "w") as f:
            f.write("sig\n")
    man = tmp_path / "nfs.yaml"
    man.write_text("version: 1\nname: nfs\nmodules:\n  - exports:\n"
                   f"      server: ganesha\n      config: {conf}\n      restart: [{script}]\n"
                   + (f"      signature: {VOL_SIG}\n" if signature else "")
                   + f"      check: {{port: {lis.port}, timeout: 2s, log: {tmp_path}/none.log}}\n"
                   f"      exports:\n        - {{path: {path}, clients: \"*\", options: [rw]}}\n")
    return str(man), conf, runs, lis


def test_signature_present_lets_the_export_through(tmp_path):
    """The control for the refusals below: same setup, signature in place."""
    man, conf, runs, lis = guard_setup(tmp_path, "vol")
    try:
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")])
        assert r.returncode == 0, r.stderr
        assert os.path.exists(conf) and count_runs(runs) == 1
    finally:
        lis.close()


def test_signature_found_in_a_parent_on_the_same_filesystem(tmp_path):
    man, conf, runs, lis = guard_setup(tmp_path, ".", export_rel="vol/data")
    try:
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")])
        assert r.returncode == 0, r.stderr
        assert count_runs(runs) == 1
    finally:
        lis.close()


def test_no_signature_file_no_export(tmp_path):
    man, conf, runs, lis = guard_setup(tmp_path, None)
    try:
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")])
        assert r.returncode == 1
        assert f"signature file {VOL_SIG} is not on the filesystem of" in r.stderr
        assert not os.path.exists(conf), "nothing may be written for an unproven volume"
        assert count_runs(runs) == 0, "no restart for an unproven volume"
    finally:
        lis.close()


def test_no_signature_configured_no_export(tmp_path):
    man, conf, runs, lis = guard_setup(tmp_path, "vol", signature=False)
    try:
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")])
        assert r.returncode == 1
        assert "nothing proves the volume" in r.stderr
        assert not os.path.exists(conf) and count_runs(runs) == 0
    finally:
        lis.close()


def test_signature_on_another_filesystem_does_not_count(tmp_path):
    """The export is a filesystem of its own (an empty volume mounted there);
    a signature file above it, on the root disk, proves nothing about it."""
    man, conf, runs, lis = guard_setup(tmp_path, ".", export_rel="vol")
    ns = Namespace()
    try:
        ns.run(["mount", "-t", "tmpfs", "tmpfs", str(tmp_path / "vol")])
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")], ns=ns)
        assert r.returncode == 1, r.stderr
        assert "is not on the filesystem of" in r.stderr
        assert not os.path.exists(conf) and count_runs(runs) == 0
    finally:
        ns.close()
        lis.close()


def test_foreign_file_is_never_overwritten(tmp_path):
    man, conf, runs, lis = guard_setup(tmp_path, "vol")
    os.makedirs(os.path.dirname(conf))
    mine = "EXPORT { Export_Id = 5; Path = /srv; Pseudo = /srv; FSAL { Name = VFS; } }\n"
    with open(conf, "w") as f:
        f.write(mine)
    try:
        p = haboot(["plan", "-f", man])
        assert p.returncode == 1
        assert "was not written by haboot" in p.stdout + p.stderr
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")])
        assert r.returncode == 1
        assert f"{conf} exists and was not written by haboot" in r.stderr
        with open(conf) as f:
            assert f.read() == mine
        assert count_runs(runs) == 0
    finally:
        lis.close()


def test_restart_failure_carries_the_command_output(tmp_path):
    man, conf, runs, lis = guard_setup(tmp_path, "vol")
    recording_script(str(tmp_path / "restart.sh"), runs, status=3,
                     output="Job for nfs-ganesha.service failed because of a bad config")
    try:
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")])
        assert r.returncode == 1
        assert "exited with status 3" in r.stderr
        assert "Job for nfs-ganesha.service failed because of a bad config" in r.stderr
        msg = module_status(str(tmp_path / "s.json"))["message"]
        assert "Job for nfs-ganesha.service failed" in msg
    finally:
        lis.close()


def test_server_that_never_answers_fails_within_the_bound(tmp_path):
    man, conf, runs, lis = guard_setup(tmp_path, "vol")
    port = lis.port
    lis.close()
    t0 = time.monotonic()
    r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")])
    took = time.monotonic() - t0
    assert r.returncode == 1
    assert f"did not answer on 127.0.0.1:{port} within 2s" in r.stderr
    assert "Connection refused" in r.stderr
    assert "restarted" in r.stderr  # what the restart command said
    assert took < 30, (took, r.stderr)  # bounded by check.timeout (2s), not hung; generous under load
