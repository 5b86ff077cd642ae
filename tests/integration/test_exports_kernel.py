"""The exports module with the kernel NFS server, checked by the real exportfs.

These machines have no nfsd, so haboot runs inside a private mount namespace
where /etc is an overlay (so /etc/exports.d can exist), /etc/exports and
/etc/exports.d are test files and /var/lib/nfs is a tmpfs: there its own
`exportfs -ra` really parses the drop-in it wrote and records the exports in
etab.  The restart command is a test script; a listening socket stands in for
nfsd's port.  Needs root, exportfs (nfs-kernel-server), util-linux.
"""
import os

import pytest

from nfsfixture import (Listener, Namespace, count_runs, haboot, missing_tools, module_status,
                        plan_content, recording_script)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount namespaces)"),
    pytest.mark.skipif(bool(missing_tools("exportfs", "unshare", "nsenter")),
                       reason="needs nfs-kernel-server and util-linux"),
]

DROP_IN = "/etc/exports.d/haboot.exports"


@pytest.fixture
def nfs_etc(tmp_path):
    """A namespace whose /etc/exports, /etc/exports.d and /var/lib/nfs are the test's."""
    for d in ("upper", "work", "exports.d", "vol"):
        os.makedirs(tmp_path / d)
    (tmp_path / "exports").write_text("")
    (tmp_path / "vol" / ".NFSMASTER").write_text("sig\n")
    ns = Namespace()
    try:
        ns.run(["mount", "-t", "overlay", "overlay", "-o",
                f"lowerdir=/etc,upperdir={tmp_path}/upper,workdir={tmp_path}/work", "/etc"])
        ns.run(["mkdir", "-p", "/etc/exports.d"])
        ns.run(["mount", "--bind", str(tmp_path / "exports"), "/etc/exports"])
        ns.run(["mount", "--bind", str(tmp_path / "exports.d"), "/etc/exports.d"])
        ns.run(["mount", "-t", "tmpfs", "tmpfs", "/var/lib/nfs"])
        yield ns
    finally:
        ns.close()


def kernel_manifest(tmp_path, port, options="[rw, sync, no_root_squash]", extra=""):
    runs = str(tmp_path / "runs")
    script = recording_script(str(tmp_path / "restart.sh"), runs)
    vol = tmp_path / "vol"
    man = tmp_path / "nfs.yaml"
    man.write_text("version: 1\nname: nfs\nmodules:\n  - exports:\n"
                   f"      restart: [{script}]\n      signature: .NFSMASTER\n"
                   f"      check: {{port: {port}, timeout: 2s}}\n{extra}"
                   f"      exports:\n"
                   f"        - {{path: {vol}, clients: [127.0.0.1, 10.0.0.0/24], "
                   f"options: {options}}}\n")
    return str(man), runs, str(vol)


def test_drop_in_is_loaded_by_the_real_exportfs(tmp_path, nfs_etc):
    ns = nfs_etc
    lis = Listener()
    man, runs, vol = kernel_manifest(tmp_path, lis.port)
    status = str(tmp_path / "status.json")
    try:
        p = haboot(["plan", "-f", man], ns=ns)
        assert p.returncode == 0, p.stderr
        r = haboot(["run", "-f", man, "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        assert "running exportfs -ra" in r.stderr
        with open(ns.path(DROP_IN)) as f:
            written = f.read()
        assert written == plan_content(p.stdout, DROP_IN)
        assert written.startswith("# Managed by haboot")
        assert written.splitlines()[-1] == (
            f"{vol} 127.0.0.1(rw,sync,no_root_squash,no_subtree_check,fsid=1) "
            "10.0.0.0/24(rw,sync,no_root_squash,no_subtree_check,fsid=1)")
        # exportfs parsed it: both clients are in its table with the fixed fsid.
        with open(ns.path("/var/lib/nfs/etab")) as f:
            etab = f.read().splitlines()
        for client in ("127.0.0.1", "10.0.0.0/24"):
            line = next(l for l in etab if l.startswith(f"{vol}\t{client}("))
            assert "fsid=1" in line and ",rw," in line and "no_root_squash" in line
        assert count_runs(runs) == 1
        assert module_status(status)["changed"] is True

        # Unchanged: no rewrite, no restart.
        st = os.stat(ns.path(DROP_IN))
        r = haboot(["run", "-f", man, "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        assert "exports unchanged" in r.stderr
        assert "exportfs" not in r.stderr
        assert count_runs(runs) == 1
        st2 = os.stat(ns.path(DROP_IN))
        assert (st.st_ino, st.st_mtime_ns) == (st2.st_ino, st2.st_mtime_ns)
        assert module_status(status)["changed"] is False

        # Changed options: rewritten, exportfs and restart run again.
        man, runs, vol = kernel_manifest(tmp_path, lis.port, options="[ro, root_squash]")
        r = haboot(["run", "-f", man, "--status-file", status], ns=ns)
        assert r.returncode == 0, r.stderr
        with open(ns.path("/var/lib/nfs/etab")) as f:
            assert ",ro," in f.read()
        assert count_runs(runs) == 2
    finally:
        lis.close()


def test_exportfs_rejects_what_haboot_refuses(tmp_path, nfs_etc):
    """The check above has teeth: a drop-in with an option exportfs does not
    know, written by hand, makes the same exportfs fail; haboot refuses the
    option before writing anything, naming its line."""
    ns = nfs_etc
    vol = tmp_path / "vol"
    with open(ns.path("/etc/exports.d/hand.exports"), "w") as f:
        f.write(f"{vol} 127.0.0.1(rw,bogus,fsid=1)\n")
    r = ns.run(["exportfs", "-ra"], check=False)
    assert r.returncode != 0
    assert 'unknown keyword "bogus"' in r.stderr
    os.unlink(ns.path("/etc/exports.d/hand.exports"))
    assert ns.run(["exportfs", "-ra"], check=False).returncode == 0

    man, runs, _ = kernel_manifest(tmp_path, 9, options="[rw, bogus]")
    r = haboot(["validate", man])
    assert r.returncode == 2
    assert f"{man}:9:" in r.stderr and '"bogus"' in r.stderr
    r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")], ns=ns)
    assert r.returncode == 2
    assert not os.path.exists(ns.path(DROP_IN)) and count_runs(runs) == 0


def test_exportfs_failure_fails_the_module_with_its_words(tmp_path, nfs_etc):
    """Another drop-in on the machine is broken: exportfs -ra fails, and the
    module fails with exportfs's own message instead of restarting."""
    ns = nfs_etc
    lis = Listener()
    man, runs, vol = kernel_manifest(tmp_path, lis.port)
    with open(ns.path("/etc/exports.d/other.exports"), "w") as f:
        f.write(f"{vol} 192.0.2.1(rw,nosuchoption)\n")
    try:
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")], ns=ns)
        assert r.returncode == 1
        assert "exportfs -ra exited with status" in r.stderr
        assert 'unknown keyword "nosuchoption"' in r.stderr
        assert count_runs(runs) == 0
        msg = module_status(str(tmp_path / "s.json"))["message"]
        assert "nosuchoption" in msg
    finally:
        lis.close()


def test_foreign_drop_in_is_left_alone(tmp_path, nfs_etc):
    ns = nfs_etc
    lis = Listener()
    man, runs, vol = kernel_manifest(tmp_path, lis.port)
    mine = f"{vol} 192.0.2.9(ro)\n"
    with open(ns.path(DROP_IN), "w") as f:
        f.write(mine)
    try:
        r = haboot(["run", "-f", man, "--status-file", str(tmp_path / "s.json")], ns=ns)
        assert r.returncode == 1
        assert f"{DROP_IN} exists and was not written by haboot" in r.stderr
        with open(ns.path(DROP_IN)) as f:
            assert f.read() == mine
        assert count_runs(runs) == 0
    finally:
        lis.close()


def test_kernel_refuses_ganesha_only_settings(tmp_path):
    man, _, _ = kernel_manifest(tmp_path, 9, extra="      grace: 90s\n")
    r = haboot(["validate", man])
    assert r.returncode == 2
    assert "lease and grace are set for server: ganesha" in r.stderr
