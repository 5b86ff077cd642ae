"""The whole reference setup in one `haboot run`: examples/nfs.yaml from
user-data against the simulator, a loop device as the EBS volume (Nitro
naming), ganesha serving it, a real NFS client reading and writing it, and a
second boot changing nothing.  This is `make demo`, held to its word."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in
                           ("ganesha.nfsd", "nfs-ls", "nfs-cp", "nfs-cat", "nsenter")),
                       reason="needs nfs-ganesha and libnfs-utils"),
]


def test_the_reference_setup_runs_whole_and_serves():
    binary = os.environ.get("HABOOT_STATIC") or os.environ.get("HABOOT")
    env = dict(os.environ)
    if binary:
        env["HABOOT"] = binary
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "demo", "run.py")],
                       capture_output=True, text=True, timeout=240, env=env)
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr[-3000:]
    assert "haboot run exited 0" in out
    for module in ("volume", "filesystem", "exports", "route53", "notify"):
        assert f"\n{module:<12} ok " in out, out
    assert "attached as /dev/nvme1n1" in out          # proven by its NVMe serial
    assert "formatted the blank device" in out
    assert "route53 record: nfs.helloawsworld.com. A ['127.0.0.1'] ttl 60" in out
    assert "sns: Publish -> 200" in out and "monitoring: PutMetricData -> 200" in out
    assert ".NFSMASTER" in out
    assert "nfs-cat hello.txt: served by haboot" in out
    assert "mutating AWS calls: none" in out          # the second boot converged
