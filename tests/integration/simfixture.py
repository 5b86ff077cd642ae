"""Start the AWS simulator for a test: start_sim(tmp_path, seed=None) -> Sim.

The sim binds 127.0.0.1 port 0 and reports the port it got through its ready
file, so parallel tests never race for a port.
"""
import atexit
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))
from sim.client import SimClient  # noqa: E402

PYTHON = "/usr/bin/python3"  # Debian's python: it has botocore
STATIC_KEY = "AKIDEXAMPLE"
STATIC_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
NFS_SEED = TESTS / "sim" / "seeds" / "nfs.json"
_SESSION = None


class Sim:
    def __init__(self, proc, port, log_path):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.client = SimClient(self.url)
        self.log_path = log_path

    def env(self, **extra):
        """Environment for an AWS client (haboot or the CLI) aimed at this sim only."""
        env = {"AWS_ACCESS_KEY_ID": STATIC_KEY, "AWS_SECRET_ACCESS_KEY": STATIC_SECRET,
               "AWS_ENDPOINT_URL": self.url, "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.url,
               "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-west-2",
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""}
        env.update(extra)
        return env

    def boto(self, service, key=STATIC_KEY, secret=STATIC_SECRET, token=None, retries=1):
        """A botocore client for `service` aimed at the sim (no retries by default)."""
        import botocore.config
        import botocore.session
        cfg = botocore.config.Config(retries={"total_max_attempts": retries, "mode": "standard"},
                                     connect_timeout=5, read_timeout=30)
        global _SESSION
        if _SESSION is None:  # one session: loading the models again per client is slow
            _SESSION = botocore.session.get_session()
        return _SESSION.create_client(
            service, region_name="us-west-2", endpoint_url=self.url, aws_access_key_id=key,
            aws_secret_access_key=secret, aws_session_token=token, config=cfg)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _die_with_parent():
    """Even a killed pytest must not leave a sim running: SIGTERM it with its parent."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_SHARED = {}


def shared_sim(tmp_path_factory, seed=NFS_SEED):
    """One sim per pytest run for modules that reset() it before each test (saves start-ups)."""
    key = str(seed)
    sim = _SHARED.get(key)
    if sim is None or sim.proc.poll() is not None:
        sim = _SHARED[key] = start_sim(tmp_path_factory.mktemp("sim"), seed=str(seed))
        atexit.register(sim.stop)
    return sim


def start_sim(tmp_path, seed=None, timeout=15.0):
    """Start a sim seeded with `seed` (dict or path); the caller must .stop() it."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    ready = tmp_path / f"sim-{os.getpid()}-{time.monotonic_ns()}.port"
    log = ready.with_suffix(".log")
    cmd = [PYTHON, "-m", "sim", "serve", "--bind", "127.0.0.1", "--port", "0",
           "--ready-file", str(ready), "--log", str(log)]
    if seed is not None:
        if isinstance(seed, dict):
            seed_file = ready.with_suffix(".seed.json")
            seed_file.write_text(json.dumps(seed))
            seed = seed_file
        cmd += ["--seed", str(seed)]
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    with open(log.with_suffix(".err"), "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=_die_with_parent)
    end = time.time() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.time() > end:
            proc.kill()
            raise RuntimeError(f"sim did not start: {log.with_suffix('.err').read_text()}")
        time.sleep(0.02)
    return Sim(proc, int(ready.read_text().strip()), log)
