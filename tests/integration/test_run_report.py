"""Every failed boot leaves a trace, and `haboot status` tells a script how
the last run went by its exit status alone.

A run that stops before any module ran (no manifest, an invalid one, no
credentials, no metadata service) writes the same two traces as any other
failed run: the status file (with the stage it stopped at) and the summary on
the serial console (HABOOT_CONSOLE here).  The standard layout
(/var/lib/haboot, its history, the /run/haboot link) is checked in a mount
namespace whose /var/lib and /run are fresh tmpfs, so the machine's own are
never touched.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from hbrun import INSTANCE, METADATA, run_haboot
from simfixture import shared_sim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot"))
EXAMPLE = os.path.join(ROOT, "examples", "nfs.yaml")
TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"
NOTIFY_ONLY = f"version: 1\nname: nfs\nmodules:\n  - notify:\n      sns: {TOPIC}\n"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()


def no_aws_env(tmp_path, **extra):
    """No credentials anywhere: none in the environment, IMDS off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL="http://127.0.0.1:9",
               AWS_REGION="us-west-2", HABOOT_CONSOLE=str(tmp_path / "console"))
    env.update(extra)
    return env


def imds_env(sim, tmp_path, **extra):
    """haboot on the sim's instance: user-data and facts from its IMDS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(sim.env(HABOOT_CONSOLE=str(tmp_path / "console")))
    env.pop("AWS_EC2_METADATA_DISABLED")
    env.update(extra)
    return env


def haboot(*args, env):
    return subprocess.run([HABOOT, *args], capture_output=True, text=True, timeout=120, env=env)


def traces(tmp_path):
    st = tmp_path / "status.json"
    con = tmp_path / "console"
    return (json.loads(st.read_text()) if st.exists() else None,
            con.read_text() if con.exists() else "")


def status_rc(path):
    return haboot("status", "--status-file", str(path), env=dict(os.environ)).returncode


# ---- no credentials: exit 3, said once, a hint that fits ----------------------

def test_run_without_credentials_exits_3_and_says_so_once(tmp_path):
    st = tmp_path / "status.json"
    r = haboot("run", EXAMPLE, "--status-file", str(st), *METADATA, env=no_aws_env(tmp_path))
    assert r.returncode == 3, r.stderr
    # Once, before anything ran: not once per AWS call (the volume module, the
    # failure policy, SNS, CloudWatch) as before.
    assert r.stderr.count("no credentials") == 1, r.stderr
    assert "AWS_ACCESS_KEY_ID is not set, and IMDS is disabled" in r.stderr
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in r.stderr
    # FILE and the facts were given: the hint does not ask for them again.
    assert "--metadata" not in r.stderr and "-f FILE" not in r.stderr
    assert f"haboot plan {EXAMPLE}" in r.stderr
    doc, console = traces(tmp_path)
    assert doc["outcome"] == "failed" and doc["stage"] == "aws"
    assert doc["service"] == "nfs" and doc["instance"] == INSTANCE
    assert "no credentials" in doc["message"]
    assert doc["modules"] == []
    assert console.startswith(f"haboot: nfs FAILED before any module ran, on {INSTANCE}: "
                              "no AWS credentials\n")
    assert "AWS_SECRET_ACCESS_KEY" in console
    assert all(len(line) <= 100 and line.startswith("haboot:") for line in console.splitlines())
    assert status_rc(st) == 1


def test_run_on_an_instance_without_a_role_names_the_fix(sim, tmp_path):
    sim.client.set_instance(INSTANCE, user_data="#haboot\n" + NOTIFY_ONLY.replace(
        "modules:", "on_failure: mark-unhealthy\nmodules:"), iam_role=None)
    env = imds_env(sim, tmp_path)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k)
    r = haboot("run", "--status-file", str(tmp_path / "status.json"), env=env)
    assert r.returncode == 3, r.stderr
    assert r.stderr.count("no credentials") == 1, r.stderr
    assert "has no IAM role" in r.stderr and "instance profile" in r.stderr
    doc, console = traces(tmp_path)
    assert doc["stage"] == "aws" and doc["instance"] == INSTANCE
    assert "no AWS credentials" in console


def test_plan_on_an_instance_without_a_role_says_what_run_would_meet(sim, tmp_path):
    sim.client.set_instance(INSTANCE, iam_role=None)
    env = imds_env(sim, tmp_path)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k)
    r = haboot("plan", env=env)
    assert r.returncode == 3
    assert r.stderr.count("no credentials") == 1, r.stderr
    assert "run would stop there, before any module" in r.stderr
    assert r.stdout == ""


def test_a_manifest_that_needs_no_aws_runs_without_credentials(tmp_path):
    """Only what needs AWS is held to it: exports alone runs (and fails on its
    own terms, in the exports module, not before it)."""
    m = tmp_path / "m.yaml"
    m.write_text(f"version: 1\nname: t\nmodules:\n  - exports:\n      config: {tmp_path}/x.exports\n"
                 f"      signature: .SIG\n      exports: [{{path: {tmp_path}, clients: '*'}}]\n"
                 "      restart: [/bin/true]\n")
    r = haboot("run", str(m), "--status-file", str(tmp_path / "status.json"),
               "--metadata", "instance-id=i-0abc", env=no_aws_env(tmp_path))
    assert r.returncode == 1, r.stderr
    assert "no credentials" not in r.stderr
    doc, _ = traces(tmp_path)
    assert doc["stage"] == "modules"
    assert doc["modules"][0]["state"] == "failed"


# ---- an invalid or missing manifest leaves both traces ------------------------

def test_invalid_user_data_manifest_leaves_a_console_summary_and_a_report(sim, tmp_path):
    sim.client.set_instance(INSTANCE, user_data="#haboot\nversion: 1\nname: x\nmodules:\n"
                                                "  - nosuch: {}\n")
    r = haboot("run", "--status-file", str(tmp_path / "status.json"), env=imds_env(sim, tmp_path))
    assert r.returncode == 2
    doc, console = traces(tmp_path)
    assert doc["outcome"] == "failed" and doc["stage"] == "manifest"
    assert doc["source"] == "user-data"
    assert 'user-data:5:5: error: unknown module "nosuch"' in doc["message"]
    assert console.startswith("haboot: haboot FAILED before any module ran, on this instance: "
                              "invalid manifest in user-data\n")
    assert "user-data:5:5: error: unknown module" in console


def test_user_data_without_a_manifest_leaves_a_trace(sim, tmp_path):
    sim.client.set_instance(INSTANCE, user_data="#!/bin/bash\necho hi\n")
    r = haboot("run", "--status-file", str(tmp_path / "status.json"), env=imds_env(sim, tmp_path))
    assert r.returncode == 3
    doc, console = traces(tmp_path)
    assert doc["stage"] == "manifest" and "do not start with \"#haboot\"" in doc["message"]
    assert "no manifest in user-data" in console


def test_imds_down_leaves_a_trace(sim, tmp_path):
    sim.client.fault("imds", "unreachable", seconds=60)
    r = haboot("run", "--imds-timeout", "2s", "--status-file", str(tmp_path / "status.json"),
               env=imds_env(sim, tmp_path))
    assert r.returncode == 3
    doc, console = traces(tmp_path)
    assert doc["stage"] == "manifest" and "within 2s" in doc["message"]
    assert "cannot read user-data" in console


def test_invalid_manifest_file_leaves_a_trace(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("version: 1\nname: x\nmodules:\n  - volume: {id: vol-1}\n")
    r = haboot("run", str(m), "--status-file", str(tmp_path / "status.json"),
               env=no_aws_env(tmp_path))
    assert r.returncode == 2
    doc, console = traces(tmp_path)
    assert doc["stage"] == "manifest" and doc["source"] == str(m)
    assert f"{m}:4:13: error:" in doc["message"]
    assert "invalid manifest" in console


def test_a_usage_error_leaves_no_report(tmp_path):
    r = haboot("run", EXAMPLE, "--metadata", "zone=x", "--status-file",
               str(tmp_path / "status.json"), env=no_aws_env(tmp_path))
    assert r.returncode == 2
    assert traces(tmp_path) == (None, "")


# ---- status: an exit status a script can use ---------------------------------

def test_status_exit_codes_follow_the_last_run(sim, tmp_path):
    st = tmp_path / "status.json"
    r = run_haboot(sim, tmp_path, NOTIFY_ONLY)
    assert r.rc == 0, r.stderr
    assert r.status["outcome"] == "ok" and r.status["stage"] is None
    s = haboot("status", "--status-file", str(st), env=dict(os.environ))
    assert s.returncode == 0
    assert "outcome   ok" in s.stdout and "notify" in s.stdout
    j = haboot("status", "--json", "--status-file", str(st), env=dict(os.environ))
    assert j.returncode == 0 and json.loads(j.stdout) == r.status
    # A failed run (SNS refuses the topic: notify made required) is exit 1.
    r = run_haboot(sim, tmp_path, NOTIFY_ONLY.replace(TOPIC, TOPIC + "-gone") +
                   "      required: true\n")
    assert r.rc == 1
    assert status_rc(st) == 1


def test_status_without_a_report_is_4(tmp_path):
    r = haboot("status", "--status-file", str(tmp_path / "none.json"), env=dict(os.environ))
    assert r.returncode == 4
    assert "no report yet" in r.stderr


def test_status_of_a_run_in_progress_is_5_and_of_a_dead_one_1(tmp_path):
    st = tmp_path / "status.json"
    st.write_text(json.dumps({"service": "nfs", "outcome": "running", "pid": os.getpid()}))
    assert status_rc(st) == 5
    # The haboot that wrote it is gone (killed mid-run): it never finished.
    dead = subprocess.Popen(["true"])
    dead.wait()
    st.write_text(json.dumps({"service": "nfs", "outcome": "running", "pid": dead.pid}))
    r = haboot("status", "--status-file", str(st), env=dict(os.environ))
    assert r.returncode == 1
    assert "interrupted" in r.stdout


def test_status_of_an_unreadable_report_is_3(tmp_path):
    st = tmp_path / "status.json"
    st.write_text("{not json")
    r = haboot("status", "--status-file", str(st), env=dict(os.environ))
    assert r.returncode == 3
    assert "not a haboot status file" in r.stderr


# ---- the standard layout, in a namespace of its own ---------------------------

NS_SCRIPT = textwrap.dedent("""
    import json, os, subprocess, sys
    haboot, bad, good_env = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    for d in ("/var/lib", "/run"):
        subprocess.run(["mount", "-t", "tmpfs", "haboot-test", d], check=True)
    out = {}
    def sh(key, *args, env=None):
        r = subprocess.run([haboot, *args], capture_output=True, text=True, env=env)
        out[key] = {"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
    # An older haboot's report, a regular file in /run: still shown.
    os.makedirs("/run/haboot")
    with open("/run/haboot/status.json", "w") as f:
        json.dump({"service": "old", "outcome": "ok"}, f)
    sh("status_legacy", "status")
    sh("history_none", "status", "--history")
    for i in range(3):
        sh(f"run{i}", "run", bad, env=good_env)
    sh("status", "status")
    sh("history", "status", "--history")
    out["link"] = os.readlink("/run/haboot/status.json")
    out["history_files"] = sorted(os.listdir("/var/lib/haboot/history"))
    out["modes"] = oct(os.stat("/var/lib/haboot/status.json").st_mode & 0o7777)
    print(json.dumps(out))
""")


def test_standard_layout_keeps_the_report_a_history_and_the_run_link(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: nfs\nmodules: []\n")
    env = no_aws_env(tmp_path)
    r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable
                        if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
                        "-c", NS_SCRIPT, HABOOT, str(bad), json.dumps(env)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status_legacy"]["rc"] == 0, out["status_legacy"]
    assert "service   old" in out["status_legacy"]["stdout"]
    assert out["history_none"]["rc"] == 4
    for i in range(3):
        assert out[f"run{i}"]["rc"] == 2
    # The report is in /var/lib; /run holds a link to it now, not the old file.
    assert out["link"] == "/var/lib/haboot/status.json"
    assert out["modes"] == "0o644"
    assert out["status"]["rc"] == 1
    assert "report    /var/lib/haboot/status.json" in out["status"]["stdout"]
    assert "before any module ran (manifest)" in out["status"]["stdout"]
    assert len(out["history_files"]) == 3
    assert all(f.endswith("-failed.json") for f in out["history_files"])
    assert out["history"]["rc"] == 0
    assert out["history"]["stdout"].count(" failed ") == 3
    assert out["history"]["stdout"].count("manifest") == 3
