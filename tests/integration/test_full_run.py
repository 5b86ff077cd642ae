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


def test_the_reference_setup_runs_whole_and_serves(tmp_path):
    binary = os.environ.get("HABOOT_STATIC") or os.environ.get("HABOOT")
    env = dict(os.environ)
    if binary:
        env["HABOOT"] = binary
    log = tmp_path / "demo.log"
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "demo", "run.py"), "--log", str(log)],
                       capture_output=True, text=True, timeout=240, env=env)
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr[-3000:] + log.read_text()[-3000:]
    # The terminal: what happens, the outcome and the proof, in a screenful.
    assert len(out.splitlines()) <= 30, out
    assert f"every detail: {log}" in out
    assert "3. first boot: haboot run (user-data) " in out and ", exit 0" in out
    for module in ("volume", "filesystem", "exports", "route53", "notify"):
        assert f"\n     {module:<11} ok  " in out, out
    assert "vol-073769c7 attached as /dev/nvme1n1" in out   # proven by its NVMe serial
    assert "formatted the blank device" in out
    assert "AttachVolume, ChangeResourceRecordSets, Publish, PutMetricData" in out
    assert "DNS: nfs.helloawsworld.com. A 127.0.0.1 ttl 60" in out
    assert "lists .NFSMASTER" in out
    assert 'read it back: "served by haboot"' in out
    assert "changes to AWS: none" in out                   # the second boot converged
    assert "modules that changed something: none" in out
    # The log: the details behind it.
    details = log.read_text()
    for title in ("haboot plan examples/nfs.yaml", "first boot: haboot run",
                  "first boot: the status file",
                  "what the serial console shows", "ganesha's configuration",
                  "what AWS saw", "the NFS client"):
        assert f"---- {title}" in details, title
    assert "route53 record: nfs.helloawsworld.com. A ['127.0.0.1'] ttl 60" in details
    assert "sns: Publish -> 200" in details and "monitoring: PutMetricData -> 200" in details
    assert "nothing was changed: this was a plan." in details
