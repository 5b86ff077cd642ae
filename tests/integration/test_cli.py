"""The command line as ops use it: one grammar for every command, help on
stdout, exit codes that mean the same everywhere (haboot(8), COMMAND LINE and
EXIT STATUS)."""
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot"))
EXAMPLE = os.path.join(ROOT, "examples", "nfs.yaml")


def run(*args, binary=HABOOT, env=None, **kw):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60,
                          env=env, **kw)


def commands():
    """The commands `haboot help` lists: a command added to the table is
    held to the same rules without a change here."""
    out = run("help").stdout
    block = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines()]


def test_help_lists_the_commands():
    assert {"validate", "plan", "run", "status", "imds", "aws", "help", "version"} <= \
        set(commands())


@pytest.mark.parametrize("cmd", commands())
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_prints_its_help_on_stdout(cmd, flag):
    r = run(cmd, flag)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith("usage: haboot " + cmd)
    # help COMMAND is the same text.
    assert run("help", cmd).stdout == r.stdout


@pytest.mark.parametrize("args", [["version", "--help"], ["plan", "--frob", "--help"],
                                  ["run", EXAMPLE, "--status-file", "/dev/null", "-h"],
                                  ["status", "--help", "--json"]])
def test_help_wins_over_everything_else_on_the_line(args):
    r = run(*args)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: haboot " + args[0])


def test_main_help_lists_commands_and_exit_codes():
    r = run("--help")
    assert r.returncode == 0
    for word in ("validate", "plan", "run", "status", "exit status"):
        assert word in r.stdout
    for code in ("0 done", "1 a module failed", "2 usage", "3 environment", "4 status: no report",
                 "5 status: a run is in progress"):
        assert code in r.stdout
    assert run("help").stdout == r.stdout


def test_no_command_is_a_usage_error_with_the_help_on_stderr():
    r = run()
    assert r.returncode == 2
    assert r.stdout == "" and r.stderr.startswith("usage: haboot")


def test_unknown_command_is_a_usage_error_with_a_suggestion():
    r = run("frobnicate")
    assert r.returncode == 2
    assert 'unknown command "frobnicate"' in r.stderr
    r = run("stauts")
    assert r.returncode == 2
    assert 'did you mean "status"?' in r.stderr


def test_unknown_option_is_a_usage_error():
    r = run("plan", "--frob")
    assert r.returncode == 2
    assert "usage: haboot plan" in r.stderr


def test_version_and_its_flag_agree():
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("haboot ")
    assert run("--version").stdout == r.stdout
    assert run("version", "extra").returncode == 2


# ---- one grammar: FILE or -f FILE, options anywhere -----------------------

@pytest.mark.parametrize("cmd", ["validate", "plan"])
def test_file_is_taken_as_an_operand_or_with_f(cmd):
    a = run(cmd, EXAMPLE)
    b = run(cmd, "-f", EXAMPLE)
    c = run(cmd, "--file", EXAMPLE)
    assert a.returncode == b.returncode == c.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout == c.stdout


def test_options_may_follow_the_file():
    a = run("plan", EXAMPLE, "--json", "--metadata", "az=us-west-2b")
    b = run("plan", "--json", "--metadata", "az=us-west-2b", "-f", EXAMPLE)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert json.loads(a.stdout)["metadata"]["placement/availability-zone"]["value"] == "us-west-2b"


def test_global_options_may_follow_the_command():
    r = run("plan", EXAMPLE, "-q")
    assert r.returncode == 0
    r = run("validate", "/nonexistent.yaml", "--log-format", "json")
    assert r.returncode == 3
    r = run("validate", EXAMPLE, "--log-format=xml")
    assert r.returncode == 2 and "text or json" in r.stderr


@pytest.mark.parametrize("cmd", ["validate", "plan", "run"])
def test_the_manifest_is_given_once(cmd):
    r = run(cmd, EXAMPLE, "-f", EXAMPLE)
    assert r.returncode == 2
    assert "give the manifest once, as FILE or as -f FILE, not both" in r.stderr
    r = run(cmd, EXAMPLE, EXAMPLE)
    assert r.returncode == 2
    assert "give one manifest" in r.stderr


def test_an_option_a_command_does_not_take_is_named():
    r = run("validate", EXAMPLE, "--json")
    assert r.returncode == 2 and "validate takes no --json" in r.stderr
    r = run("run", EXAMPLE, "--json")
    assert r.returncode == 2 and "run takes no --json" in r.stderr
    r = run("status", EXAMPLE)
    assert r.returncode == 2 and "status takes no operand" in r.stderr


def test_double_dash_ends_the_options(tmp_path):
    odd = tmp_path / "--json"
    odd.write_text(open(EXAMPLE).read())
    r = run("validate", "--", str(odd))
    assert r.returncode == 0, r.stderr


# ---- validate ---------------------------------------------------------------

def test_validate_example():
    r = run("validate", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert "valid haboot manifest" in r.stdout


def test_validate_reads_stdin():
    with open(EXAMPLE) as f:
        r = run("validate", "-", stdin=f)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("<stdin>: valid")


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


@pytest.mark.parametrize("cmd", ["validate", "plan", "run", "watch", "release"])
def test_without_file_reads_user_data_and_says_so_without_imds(cmd, tmp_path):
    # conftest disables IMDS: no FILE means user-data, which cannot be read
    # here.  Every command that reads a manifest says so the same way.
    r = run(cmd, "--status-file", str(tmp_path / "status.json")) \
        if cmd in ("run", "watch", "release") else run(cmd)
    assert r.returncode == 3, r.stderr
    assert "cannot read the manifest from user-data: IMDS is disabled" in r.stderr
    assert f"give the manifest as a FILE (haboot {cmd} FILE)" in r.stderr


@pytest.mark.parametrize("cmd", ["plan", "run", "watch", "release"])
def test_a_bad_metadata_override_is_refused_by_every_command(cmd, tmp_path):
    r = run(cmd, "-f", EXAMPLE, "--metadata", "instance-idd=i-0abc",
            "--status-file", str(tmp_path / "status.json")) \
        if cmd != "plan" else run(cmd, "-f", EXAMPLE, "--metadata", "instance-idd=i-0abc")
    assert r.returncode == 2, r.stderr
    assert "--metadata instance-idd=i-0abc" in r.stderr
    assert "instance-id" in r.stderr  # the did-you-mean


# ---- plan: facts, the region, refused keys ----------------------------------

def test_plan_offline_uses_metadata_flags_and_marks_defaults():
    r = run("plan", "-f", EXAMPLE, "--metadata", "instance-id=i-0abc", "--metadata",
            "az=us-west-2a")
    assert r.returncode == 0, r.stderr
    assert "i-0abc  (--metadata)" in r.stdout
    assert "us-west-2a  (--metadata)" in r.stdout
    assert "(default)" in r.stdout  # the address was not given
    assert "AttachVolume tag:Name=nfs-master-volume to i-0abc as /dev/sdf" in r.stdout
    assert "nothing was changed" in r.stdout


def plan_facts(*args, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    e.update(env)
    r = run("plan", EXAMPLE, "--json", *args, env=e)
    assert r.returncode == 0, r.stderr
    md = json.loads(r.stdout)["metadata"]
    return {k: (v["value"], v["origin"]) for k, v in md.items()}


def test_plan_region_follows_the_environment_and_the_zone_as_the_aws_cli_does():
    md = plan_facts()
    assert md["placement/region"] == ("us-east-1", "default")
    assert md["placement/availability-zone"] == ("us-east-1a", "default")
    md = plan_facts(AWS_DEFAULT_REGION="eu-west-1")
    assert md["placement/region"] == ("eu-west-1", "AWS_DEFAULT_REGION")
    assert md["placement/availability-zone"] == ("eu-west-1a", "default")
    md = plan_facts(AWS_REGION="eu-north-1", AWS_DEFAULT_REGION="eu-west-1")
    assert md["placement/region"] == ("eu-north-1", "AWS_REGION")
    # The zone on the command line beats the environment, as --region does.
    md = plan_facts("--metadata", "az=us-west-2a", AWS_REGION="eu-north-1")
    assert md["placement/region"] == ("us-west-2", "from az us-west-2a")
    md = plan_facts("--metadata", "region=ap-south-1")
    assert md["placement/region"] == ("ap-south-1", "--metadata")
    assert md["placement/availability-zone"] == ("ap-south-1a", "default")


def test_plan_refuses_a_region_and_zone_that_disagree():
    r = run("plan", EXAMPLE, "--metadata", "az=us-west-2a", "--metadata", "region=eu-west-1")
    assert r.returncode == 2
    assert "az us-west-2a (--metadata) lies in region us-west-2, not in region eu-west-1" \
        in r.stderr
    r = run("plan", EXAMPLE, "--metadata", "az=west")
    assert r.returncode == 2
    assert "not an availability zone name" in r.stderr


@pytest.mark.parametrize("key,hint", [("zone", "az"), ("instance_id", "instance-id"),
                                      ("local_ipv4", "local-ipv4")])
@pytest.mark.parametrize("cmd", ["plan", "run"])
def test_unknown_metadata_keys_are_refused_with_a_suggestion(cmd, key, hint):
    r = run(cmd, EXAMPLE, "--metadata", f"{key}=x", "--status-file", "/dev/null") \
        if cmd == "run" else run(cmd, EXAMPLE, "--metadata", f"{key}=x")
    assert r.returncode == 2
    assert f'unknown metadata key "{key}": did you mean "{hint}"?' in r.stderr
    assert "(known: az, " in r.stderr and "instance-id" in r.stderr


def test_unknown_metadata_keys_are_refused_in_a_metadata_file(tmp_path):
    f = tmp_path / "md.txt"
    f.write_text("instance-id=i-0abc\nzone=us-west-2a\n")
    r = run("plan", EXAMPLE, "--metadata-file", str(f))
    assert r.returncode == 2
    assert f'{f}:2: unknown metadata key "zone": did you mean "az"?' in r.stderr


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


def test_static_binary_plans_the_example():
    static = os.environ.get("HABOOT_STATIC")
    if not static:
        pytest.skip("HABOOT_STATIC not set (make check sets it)")
    ldd = subprocess.run(["ldd", static], capture_output=True, text=True)
    assert "not a dynamic executable" in (ldd.stdout + ldd.stderr)
    r = run("plan", "-f", EXAMPLE, binary=static)
    assert r.returncode == 0, r.stderr
    assert "AttachVolume" in r.stdout


# ---- help on modules ---------------------------------------------------------

def test_help_modules_lists_every_module():
    r = run("help", "modules")
    assert r.returncode == 0
    for mod in ("volume", "filesystem", "exports", "route53", "notify"):
        assert re.search(rf"^  {mod} ", r.stdout, re.M), mod


def test_help_on_an_unknown_topic_says_what_is_known():
    r = run("help", "frobnitz")
    assert r.returncode == 2
    assert 'no help on "frobnitz": give a command, "modules", "manifest"' in r.stderr


# ---- help on one module: from the schema, so the three cannot drift -----------

SCHEMA = json.load(open(os.path.join(ROOT, "schemas", "haboot.schema.json")))
SCHEMA_MODULES = sorted(k[:-len("_entry")] for k in SCHEMA["$defs"] if k.endswith("_entry"))


def help_example(text):
    """The YAML under "example..." in `haboot help`'s output, dedented."""
    block = text.split("\nexample", 1)[1].split(":\n", 1)[1]
    return "\n".join(line[2:] for line in block.splitlines()) + "\n"


def test_every_module_the_binary_carries_is_in_the_schema():
    listed = re.findall(r"^  (\w+) ", run("help", "modules").stdout, re.M)
    assert sorted(listed) == SCHEMA_MODULES


@pytest.mark.parametrize("mod", SCHEMA_MODULES)
def test_module_help_lists_each_key_type_default_and_a_valid_example(mod, tmp_path):
    import yaml
    r = run("help", mod)
    assert r.returncode == 0, r.stderr
    settings = SCHEMA["$defs"][mod]
    out = r.stdout
    for key, prop in settings["properties"].items():
        line = re.search(rf"^  {key} \((.*)\)$", out, re.M)
        assert line, f"{mod}: key {key} missing from help"
        if key in settings.get("required", []):
            assert line[1].endswith(", required"), line[0]
        elif "default" in prop:
            dflt = prop["default"]
            # (1 == True in a dict lookup: test the type, not the value.)
            shown = str(dflt).lower() if isinstance(dflt, bool) else str(dflt)
            assert re.search(rf", default \"?{re.escape(shown)}\"?$", line[1]), line[0]
        if "enum" in prop:
            assert line[1].startswith(" | ".join(prop["enum"])), line[0]
        # The description's first words, as the schema has them.
        words = prop.get("description", "").split()[:4]
        assert " ".join(words) in " ".join(out.split()), (key, words)
    # The example is the schema's, reads back as the same data, and validates.
    assert settings.get("examples"), (
        f"schemas/mkschema.py: give the {mod} module an example (\"examples\": [{{...}}])")
    example = help_example(out)
    assert yaml.safe_load(example) == [{mod: settings["examples"][0]}]
    m = tmp_path / "m.yaml"
    m.write_text("version: 1\nname: t\nmodules:\n" + example)
    v = run("validate", str(m))
    assert v.returncode == 0, v.stderr


def test_manifest_help_lists_top_level_keys_and_a_valid_example(tmp_path):
    import yaml
    r = run("help", "manifest")
    assert r.returncode == 0
    for key in SCHEMA["properties"]:
        assert re.search(rf"^  {key} \(", r.stdout, re.M), key
    example = help_example(r.stdout)
    assert yaml.safe_load(example) == SCHEMA["examples"][0]
    m = tmp_path / "m.yaml"
    m.write_text(example)
    assert run("validate", str(m)).returncode == 0


def test_help_suggests_the_module_meant():
    r = run("help", "volumes")
    assert r.returncode == 2
    assert 'no help on "volumes": did you mean "volume"?' in r.stderr


def test_plan_claims_no_size_it_cannot_know():
    """The signature and generation are written with a time and a UUID: plan
    says what they hold, not "0 bytes"."""
    r = run("plan", EXAMPLE, "--json")
    files = {s["action"].split()[1]: s["action"] for s in json.loads(r.stdout)["steps"]
             if s["kind"] == "file"}
    sig, gen = files["/mnt/nfs/.NFSMASTER"], files["/mnt/nfs/.haboot/generation"]
    assert "bytes" not in sig and "bytes" not in gen
    assert "the volume signature (volume, filesystem type and UUID" in sig
    assert "the takeover generation, JSON" in gen
    assert not any("(0 bytes" in a for a in files.values())
