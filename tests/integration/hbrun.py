"""Run `haboot run` against a sim, as the instance of the nfs seed would.

run_haboot(sim, tmp_path, manifest) -> Run with .rc, .stderr, .status (the
status file as JSON), .console (what the serial-console report wrote).
"""
import json
import os
import subprocess
from pathlib import Path

HABOOT = os.path.abspath(os.environ.get("HABOOT", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "haboot")))
INSTANCE = "i-0aaaaaaaaaaaaaaa1"
METADATA = ["--metadata", f"instance-id={INSTANCE}", "--metadata", "local-ipv4=10.10.10.10",
            "--metadata", "az=us-west-2a", "--metadata", "region=us-west-2"]


class Run:
    def __init__(self, rc, stdout, stderr, status_path, console_path):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.status = json.loads(status_path.read_text()) if status_path.exists() else None
        self.console = console_path.read_text() if console_path.exists() else ""

    def module(self, name):
        return next(m for m in self.status["modules"] if m["name"] == name)


def env_for(sim, tmp_path, **extra):
    # Static keys, the sim's endpoint, IMDS off: nothing can leave loopback.
    env = dict(os.environ, **sim.env(HABOOT_CONSOLE=str(Path(tmp_path) / "console")))
    env.update(extra)
    return env


def start_haboot(sim, tmp_path, manifest, *args, env=None):
    tmp_path = Path(tmp_path)
    m = tmp_path / "haboot.yaml"
    m.write_text(manifest)
    for f in ("status.json", "console"):
        (tmp_path / f).unlink(missing_ok=True)
    return subprocess.Popen(
        [HABOOT, "run", "-f", str(m), "--status-file", str(tmp_path / "status.json"),
         *METADATA, *args], env=env or env_for(sim, tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, tmp_path, timeout=60):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"haboot run did not finish in {timeout}s:\n{err}")
    tmp_path = Path(tmp_path)
    return Run(proc.returncode, out, err, tmp_path / "status.json", tmp_path / "console")


def run_haboot(sim, tmp_path, manifest, *args, env=None, timeout=60):
    return finish(start_haboot(sim, tmp_path, manifest, *args, env=env), tmp_path, timeout)


def calls(sim, service, action=None):
    """The sim's request log for one service (and action)."""
    return [r for r in sim.client.requests(service=service)
            if action is None or r.get("action") == action]


def mutating_route53(sim):
    return calls(sim, "route53", "ChangeResourceRecordSets")


def record(sim, zone, name, rtype="A"):
    """The zone's record set {name, type, ttl, values} or None."""
    z = sim.client.state()["zones"][zone]
    want = name.lower().rstrip(".") + "."
    return next((r for r in z["records"] if r["name"] == want and r["type"] == rtype), None)
