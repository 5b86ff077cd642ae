"""The command line as ops use it: help, exit codes, plan offline, status."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot"))
EXAMPLE = os.path.join(ROOT, "examples", "nfs.yaml")


def run(*args, binary=HABOOT, **kw):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("cmd", ["validate", "plan", "run", "status"])
def test_every_command_has_help(cmd):
    r = run(cmd, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: haboot " + cmd)


def test_main_help_lists_commands_and_exit_codes():
    r = run("--help")
    assert r.returncode == 0
    for word in ("validate", "plan", "run", "status", "exit codes"):
        assert word in r.stdout


def test_unknown_command_is_a_usage_error():
    r = run("frobnicate")
    assert r.returncode == 2
    assert 'unknown command "frobnicate"' in r.stderr


def test_unknown_option_is_a_usage_error():
    r = run("plan", "--frob")
    assert r.returncode == 2


def test_validate_example():
    r = run("validate", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert "valid haboot manifest" in r.stdout


def test_validate_reads_stdin():
    with open(EXAMPLE) as f:
        r = run("validate", "-", stdin=f)
    assert r.returncode == 0, r.stderr


def test_validate_missing_file_is_no_manifest_not_a_bad_one(tmp_path):
    """A manifest that cannot be read is an environment problem (3), as user-data
    without a manifest is; one that reads but is wrong is invalid (2)."""
    r = run("validate", "/nonexistent/m.yaml")
    assert r.returncode == 3
    assert "/nonexistent/m.yaml: error: cannot read the manifest: No such file" in r.stderr
    r = run("validate", str(tmp_path))  # a directory
    assert r.returncode == 3
    assert "Is a directory" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\n")
    r = run("validate", str(bad))
    assert r.returncode == 2


def test_plan_offline_uses_metadata_flags_and_marks_defaults():
    r = run("plan", "-f", EXAMPLE, "--metadata", "instance-id=i-0abc", "--metadata",
            "az=us-west-2a")
    assert r.returncode == 0, r.stderr
    assert "i-0abc  (--metadata)" in r.stdout
    assert "us-west-2a  (--metadata)" in r.stdout
    assert "(default)" in r.stdout  # region and address were not given
    assert "AttachVolume tag:Name=nfs-master-volume to i-0abc as /dev/sdf" in r.stdout
    assert "nothing was changed" in r.stdout


def test_plan_metadata_file_json_and_lines(tmp_path):
    j = tmp_path / "md.json"
    j.write_text(json.dumps({"instance-id": "i-0json", "local-ipv4": "10.1.2.3"}))
    r = run("plan", "-f", EXAMPLE, "--metadata-file", str(j))
    assert r.returncode == 0, r.stderr
    assert "i-0json" in r.stdout and "10.1.2.3" in r.stdout
    t = tmp_path / "md.txt"
    t.write_text("# facts\ninstance-id=i-0text\nregion=eu-west-1\n")
    r = run("plan", "-f", EXAMPLE, "--metadata-file", str(t))
    assert r.returncode == 0, r.stderr
    assert "i-0text" in r.stdout and "eu-west-1" in r.stdout


def test_plan_bad_metadata_is_usage_error():
    r = run("plan", "-f", EXAMPLE, "--metadata", "novalue")
    assert r.returncode == 2
    assert "KEY=VALUE" in r.stderr


def test_plan_json_has_numbered_steps_per_module():
    r = run("plan", "-f", EXAMPLE, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["service"] == "nfs"
    steps = doc["steps"]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    modules = []
    for s in steps:
        if not modules or modules[-1] != s["module"]:
            modules.append(s["module"])
    assert modules == ["volume", "filesystem", "exports", "route53", "notify"]
    assert any(s["kind"] == "aws" and "AttachVolume" in s["action"] for s in steps)


def test_plan_changes_nothing(tmp_path):
    """plan must never perform: the exports drop-in it describes is not written."""
    cfg = tmp_path / "haboot.exports"
    m = tmp_path / "m.yaml"
    m.write_text(f"""version: 1
name: t
modules:
  - exports:
      config: {cfg}
      exports: [{{path: /srv, clients: "*"}}]
      restart: [touch, {tmp_path}/restarted]
""")
    r = run("plan", "-f", str(m))
    assert r.returncode == 0, r.stderr
    assert str(cfg) in r.stdout
    assert not cfg.exists()
    assert not (tmp_path / "restarted").exists()


def test_status_without_a_run_says_so(tmp_path):
    r = run("status", "--status-file", str(tmp_path / "none.json"))
    assert r.returncode == 3
    assert "no status yet" in r.stderr


def test_static_binary_plans_the_example():
    static = os.environ.get("HABOOT_STATIC")
    if not static:
        pytest.skip("HABOOT_STATIC not set (make check sets it)")
    ldd = subprocess.run(["ldd", static], capture_output=True, text=True)
    assert "not a dynamic executable" in (ldd.stdout + ldd.stderr)
    r = run("plan", "-f", EXAMPLE, binary=static)
    assert r.returncode == 0, r.stderr
    assert "AttachVolume" in r.stdout


def test_run_writes_status_that_status_prints(tmp_path):
    """A run leaves a report that `haboot status` shows, in text and JSON."""
    st = tmp_path / "status.json"
    m = tmp_path / "m.yaml"
    m.write_text("""version: 1
name: t
modules:
  - notify:
      sns: arn:aws:sns:us-east-1:123456789012:t
""")
    r = run("run", "-f", str(m), "--status-file", str(st), "--metadata", "instance-id=i-0st")
    doc = json.loads(st.read_text())
    assert doc["service"] == "t"
    assert doc["instance"] == "i-0st"
    assert doc["modules"][0]["name"] == "notify"
    assert doc["outcome"] in ("ok", "failed")
    assert doc["finished"]
    r2 = run("status", "--status-file", str(st))
    assert r2.returncode == 0
    assert "notify" in r2.stdout and doc["outcome"] in r2.stdout
    r3 = run("status", "--json", "--status-file", str(st))
    assert json.loads(r3.stdout) == doc
    assert r.returncode in (0, 1)
