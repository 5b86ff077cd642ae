"""The exports check (modules/exports/check.c, rpc.c) against a real
NFS-Ganesha, through `haboot watch --once` (one round of checks, printed):

- ganesha serving: the NFSv4 NULL call and the COMPOUND down the pseudo
  path to the export both answer;
- a port that accepts connections but speaks no RPC is not a server;
- ganesha up but no longer serving haboot's export (its main configuration
  lost the %include): the export is missing;
- an export whose clients leave out the check's address: ganesha hides it
  from that address, so the check says its presence is not provable there,
  and does not call it missing.

Needs root, nfs-ganesha, libnfs-utils, util-linux and e2fsprogs.
"""
import os

import pytest

from nfsfixture import Listener, free_port, haboot, missing_tools
from test_exports_ganesha import Ganesha, volume  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, mounts)"),
    pytest.mark.skipif(bool(missing_tools("ganesha.nfsd", "unshare", "nsenter", "losetup",
                                          "mkfs.ext4")),
                       reason="needs nfs-ganesha, util-linux, e2fsprogs"),
]


def bring_up(tmp_path, ns, vol, clients="[127.0.0.1]", extra=""):
    g = Ganesha(tmp_path, free_port())
    man = tmp_path / "nfs.yaml"
    man.write_text(g.manifest(f"        - {{path: {vol}, clients: {clients}, "
                              "options: [rw, no_root_squash]}\n", extra=extra))
    status = str(tmp_path / "status.json")
    r = haboot(["run", "-f", str(man), "--status-file", status], ns=ns)
    assert r.returncode == 0, r.stderr
    return g, str(man), status


def once(ns, man, status):
    return haboot(["watch", "--once", "-f", man, "--status-file", status], ns=ns)


def exports_line(r):
    return next(l for l in r.stdout.splitlines() if l.startswith("exports"))


def test_ganesha_answers_rpc_and_serves_the_export(tmp_path, volume):
    ns, vol = volume
    g, man, status = bring_up(tmp_path, ns, vol)
    try:
        r = once(ns, man, status)
        assert r.returncode == 0, r.stdout + r.stderr
        line = exports_line(r)
        assert "ok" in line and "answers NFSv4" in line and "serves 1 export" in line, line
        assert "not provable" not in line
    finally:
        g.stop()


def test_a_port_that_speaks_no_rpc_is_not_a_server(tmp_path, volume):
    """A TCP connect alone does not count: the port accepts, nothing answers."""
    ns, vol = volume
    g, man, status = bring_up(tmp_path, ns, vol)
    lis = Listener()
    try:
        g.stop()
        text = open(man).read().replace(f"port: {g.port}", f"port: {lis.port}")
        text = text.replace("timeout: 20s", "timeout: 2s")
        with open(man, "w") as f:
            f.write(text)
        r = once(ns, man, status)
        assert r.returncode == 1, r.stdout + r.stderr
        line = exports_line(r)
        assert "failed" in line and "NFS NULL call (v4)" in line and "no reply in time" in line, \
            line
    finally:
        lis.close()


def test_an_export_ganesha_does_not_serve_is_missing(tmp_path, volume):
    ns, vol = volume
    g, man, status = bring_up(tmp_path, ns, vol)
    try:
        # ganesha restarted on a main configuration without haboot's file.
        with open(g.main, "w") as f:
            f.write("NFS_CORE_PARAM {\n"
                    f"\tProtocols = 4; NFS_Port = {g.port}; Bind_addr = 127.0.0.1;\n"
                    "\tEnable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;\n}\n")
        ns.run([g.restart])
        r = once(ns, man, status)
        assert r.returncode == 1, r.stdout + r.stderr
        line = exports_line(r)
        assert f"{vol} (manifest line" in line and "is not exported by NFS-Ganesha" in line, line
        assert "NFS4ERR_NOENT" in line
    finally:
        g.stop()


def test_an_export_hidden_from_the_check_address_is_not_called_missing(tmp_path, volume):
    ns, vol = volume
    g, man, status = bring_up(tmp_path, ns, vol, clients="[10.9.9.0/24]")
    try:
        r = once(ns, man, status)
        assert r.returncode == 0, r.stdout + r.stderr
        line = exports_line(r)
        assert f"{vol} not provable from 127.0.0.1, which is not among its clients" in line, line
    finally:
        g.stop()
