"""`haboot iam-policy`: the least-privilege policy of a manifest, proven enough
and tight against the simulator, which enforces it.

- examples/iam-policy.json is the command's output for examples/nfs.yaml;
- what each manifest setting asks for, and what it never gets (CreateTags
  outside a CreateVolume, StopInstances outside fence...);
- the whole reference run (make demo's setup: a loop device as the volume in a
  Nitro-named mount namespace, ganesha, the manifest from IMDS user-data, the
  instance role's credentials from IMDS) passes under the generated policy,
  and without any one of its statements some run of the reference setup (a
  first boot, a takeover from a stopped owner, a failure that asks the group
  for a new instance) reports the missing permission by name.
"""
import copy
import importlib.util
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import blockns
from simfixture import start_sim

ROOT = Path(__file__).resolve().parent.parent.parent
HABOOT = os.environ.get("HABOOT", str(ROOT / "build" / "haboot"))
EXAMPLE = ROOT / "examples" / "nfs.yaml"
POLICY = ROOT / "examples" / "iam-policy.json"
GROUP = "nfs-autoscaling-group"
IID, PEER = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"
VOL, ZONE, ROLE = "vol-073769c7", "Z1G9ZB2OW5990Z", "ec2-nfs-role"


def iam_policy(*args, manifest=None, text=None, tmp=None, check=True):
    if text is not None:
        manifest = Path(tmp) / "m.yaml"
        manifest.write_text(text)
    r = subprocess.run([HABOOT, "iam-policy", "-f", str(manifest), *args], capture_output=True,
                       text=True, timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def statements(out):
    return json.loads(out)["Statement"]


def grants(stmts):
    """{(action, resource, conditions as JSON)}: what a policy allows, statement-free."""
    return {(a, r, json.dumps(s.get("Condition"), sort_keys=True))
            for s in stmts for a in s["Action"] for r in s["Resource"]}


def actions(stmts):
    return {a for s in stmts for a in s["Action"]}


# ---- the generator ---------------------------------------------------------------

def test_the_example_policy_is_generated_from_the_example_manifest():
    r = iam_policy("--group", GROUP, manifest=EXAMPLE)
    assert r.stdout == POLICY.read_text(), (
        "examples/iam-policy.json drifted from examples/nfs.yaml: regenerate it with\n"
        f"  haboot iam-policy -f examples/nfs.yaml --group {GROUP} > examples/iam-policy.json")
    again = iam_policy("--group", GROUP, manifest=EXAMPLE)
    assert again.stdout == r.stdout


def test_what_cannot_be_scoped_is_said_not_hidden():
    r = iam_policy("--group", GROUP, manifest=EXAMPLE)
    assert "ec2:DescribeVolumes" in r.stderr and "ec2:DescribeInstances" in r.stderr
    unscoped = [s for s in statements(r.stdout) if s["Resource"] == ["*"] and "Condition" not in s]
    assert actions(unscoped) == {"ec2:DescribeVolumes", "ec2:DescribeInstances"}
    x = iam_policy("--group", GROUP, "--explain", manifest=EXAMPLE)
    assert "not scoped to a resource" in x.stdout and "find the volume" in x.stdout
    for s in statements(r.stdout):
        assert s["Sid"] in x.stdout
    # Without a group, the grants that would name it are wider, and say so.
    r = iam_policy(manifest=EXAMPLE)
    assert "pass --group NAME" in r.stderr
    assert "autoScalingGroupName/*" in r.stdout


BASE = """version: 1
name: nfs
on_failure: {on_failure}
{hook}modules:
  - volume: {{{volume}, device: /dev/sdf, takeover: {takeover}, other_az: {other_az}}}
  - route53: {{zone: {zone}, name: nfs.helloawsworld.com, mode: {mode}}}
  - notify: {{sns: "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"}}
"""


def manifest(**kw):
    d = dict(on_failure="halt", hook="", volume="tags: {Name: nfs-master-volume}",
             takeover="if-owner-gone", other_az="fail", zone=ZONE, mode="swap")
    d.update(kw)
    return BASE.format(**d)


@pytest.mark.parametrize("takeover", ["never", "if-owner-gone", "fence"])
def test_takeover_asks_for_what_it_does(tmp_path, takeover):
    st = statements(iam_policy("--group", GROUP, text=manifest(takeover=takeover), tmp=tmp_path).stdout)
    owner = [s for s in st if s.get("Condition", {}).get("StringEquals", {}).get(
        "aws:ResourceTag/aws:autoscaling:groupName") == GROUP]
    if takeover == "never":
        assert owner == []
    else:
        (s,) = owner
        assert s["Resource"] == ["arn:aws:ec2:*:*:instance/*"]
        assert set(s["Action"]) == ({"ec2:DetachVolume", "ec2:StopInstances"} if takeover == "fence"
                                    else {"ec2:DetachVolume"})
    assert ("ec2:StopInstances" in actions(st)) == (takeover == "fence")
    # Attaching targets this instance only, whatever the takeover.
    self_ = [s for s in st if s.get("Condition", {}).get("StringEquals", {}).get("aws:ARN")]
    assert self_ and self_[0]["Condition"]["StringEquals"]["aws:ARN"] == "${ec2:SourceInstanceARN}"
    assert "ec2:AttachVolume" in self_[0]["Action"]


def test_no_tag_permission_except_on_the_copies_haboot_creates(tmp_path):
    """Tags only on the copy being created, or haboot:superseded-by alone on a
    volume a serving copy replaced, and the release's own haboot:release tag on
    this instance only: no tag the conditions rely on can be forged (nor the
    aws:autoscaling:groupName tag fence trusts, nor any tag on another instance)."""
    for text in (manifest(), manifest(takeover="fence"), manifest(other_az="snapshot"),
                 manifest(volume="id: vol-073769c7", other_az="snapshot")):
        st = statements(iam_policy("--group", GROUP, text=text, tmp=tmp_path).stdout)
        copies = releases = 0
        for s in st:
            if "ec2:CreateTags" not in s["Action"]:
                continue
            assert s["Action"] == ["ec2:CreateTags"]
            if s["Resource"] == ["arn:aws:ec2:*:*:instance/*"]:
                assert s["Condition"] == {
                    "StringEquals": {"aws:ARN": "${ec2:SourceInstanceARN}"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": "haboot:release"}}, s
                releases += 1
                continue
            assert s["Resource"] in (["arn:aws:ec2:*:*:volume/*"],
                                     ["arn:aws:ec2:*:*:volume/vol-073769c7"])
            if "ForAllValues:StringEquals" in s["Condition"]:
                assert s["Condition"]["ForAllValues:StringEquals"] == {
                    "aws:TagKeys": "haboot:superseded-by"}
            else:
                assert s["Condition"]["StringEquals"]["ec2:CreateAction"] == "CreateVolume"
            copies += 1
        assert releases == 1
        assert (copies > 0) == ("snapshot" in text)
        assert ("ec2:CreateVolume" in actions(st)) == ("snapshot" in text)


def test_a_volume_by_id_is_its_arn_and_by_tags_a_tag_condition(tmp_path):
    st = statements(iam_policy(text=manifest(volume="id: vol-073769c7"), tmp=tmp_path).stdout)
    assert any(s["Resource"] == ["arn:aws:ec2:*:*:volume/vol-073769c7"] and "Condition" not in s
               for s in st)
    st = statements(iam_policy(text=manifest(), tmp=tmp_path).stdout)
    assert any(s["Resource"] == ["arn:aws:ec2:*:*:volume/*"] and s["Condition"] == {
        "StringEquals": {"aws:ResourceTag/Name": "nfs-master-volume"}} for s in st)


def test_route53_change_is_limited_to_the_record(tmp_path):
    for mode, acts in (("swap", ["CREATE", "DELETE"]), ("upsert", "UPSERT")):
        st = statements(iam_policy(text=manifest(mode=mode), tmp=tmp_path).stdout)
        (s,) = [s for s in st if "route53:ChangeResourceRecordSets" in s["Action"]]
        assert s["Resource"] == [f"arn:aws:route53:::hostedzone/{ZONE}"]
        c = s["Condition"]["ForAllValues:StringEquals"]
        assert c["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == "nfs.helloawsworld.com"
        assert c["route53:ChangeResourceRecordSetsRecordTypes"] == "A"
        assert c["route53:ChangeResourceRecordSetsActions"] == acts
    r = iam_policy(text=manifest(zone="helloawsworld.com"), tmp=tmp_path)
    st = statements(r.stdout)
    assert "route53:ListHostedZonesByName" in actions(st)
    assert "the zone is named by name" in r.stderr


def test_the_failure_policy_and_lifecycle_hook_are_the_runners_calls(tmp_path):
    st = statements(iam_policy("--group", "nfs-asg", text=manifest(), tmp=tmp_path).stdout)
    # haboot watch asks for a new instance when it gives up, whatever on_failure says
    assert "autoscaling:SetInstanceHealth" in actions(st)
    assert "autoscaling:CompleteLifecycleAction" not in actions(st)
    hook = "lifecycle_hook: {name: nfs-launch-hook, group: nfs-asg}\n"
    st = statements(iam_policy(text=manifest(on_failure="mark-unhealthy", hook=hook), tmp=tmp_path).stdout)
    arn = "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/nfs-asg"
    assert grants(st) >= {("autoscaling:SetInstanceHealth", arn, "null"),
                          ("autoscaling:CompleteLifecycleAction", arn, "null")}


def test_merging_never_widens(tmp_path):
    """Every printed (action, resource) pair under its conditions is one a module
    asked for: the fence+snapshot policy's grants equal the union of what each
    part asks alone."""
    hook = "lifecycle_hook: {name: h, group: g}\n"
    whole = statements(iam_policy(text=manifest(takeover="fence", other_az="snapshot",
                                                on_failure="mark-unhealthy", hook=hook),
                                  tmp=tmp_path).stdout)
    for s in whole:
        if len(s["Action"]) > 1 and len(s["Resource"]) > 1:
            pytest.fail(f"{s['Sid']} crosses several actions with several resources: {s}")
    assert len({s["Sid"] for s in whole}) == len(whole)


def test_a_manifest_error_is_reported_not_a_policy(tmp_path):
    r = iam_policy(text="version: 1\nname: nfs\nmodules: [{volume: {device: /dev/sdf}}]\n",
                   tmp=tmp_path, check=False)
    assert r.returncode == 2 and r.stdout == "" and "missing required key" in r.stderr


# ---- enforced: the reference run under the generated policy -------------------------

def _load_demo():
    spec = importlib.util.spec_from_file_location("haboot_demo", ROOT / "demo" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


root_only = pytest.mark.skipif(
    os.geteuid() != 0 or any(shutil.which(t) is None for t in ("ganesha.nfsd", "nsenter", "losetup")),
    reason="needs root (loop devices, namespaces), nfs-ganesha and util-linux")


class Reference:
    """make demo's world, run as often as needed: the loop device (and so the
    filesystem made on the first boot) stays; each run gets a new instance
    namespace and a sim in its seed state."""

    def __init__(self, work):
        self.demo = _load_demo()
        self.work = str(work)
        self.port = self.demo.free_port()
        self.text, _ = self.demo.demo_manifest(self.work, self.port)
        self.pidfile = self.demo.write_ganesha(self.work, self.port)
        # A release stops the server the way `systemctl stop nfs-ganesha` would.
        stop = f"{self.work}/ganesha-stop.sh"
        with open(stop, "w") as f:
            f.write(f"#!/bin/sh\npf='{self.pidfile}'\n"
                    '[ -s "$pf" ] || exit 0\npid=$(cat "$pf"); kill "$pid"\n'
                    'while [ -d /proc/$pid ] && ! grep -q "^State:.*Z" /proc/$pid/status; do '
                    'sleep 0.1; done\nrm -f "$pf"\n')
        os.chmod(stop, 0o755)
        restart = f"restart: [{self.work}/ganesha-restart.sh]"
        assert restart in self.text
        self.text = self.text.replace(restart, f"{restart}\n      stop: [{stop}]")
        os.makedirs(f"{self.work}/mnt/nfs")
        img = f"{self.work}/vol.img"
        with open(img, "wb") as f:
            f.truncate(64 << 20)
        self.loop = subprocess.run(["losetup", "-f", "--show", img], check=True,
                                   capture_output=True, text=True).stdout.strip()
        with open(ROOT / "tests" / "sim" / "seeds" / "nfs.json") as f:
            self.base_seed = json.load(f)
        self.sim = start_sim(self.work)
        self.n = 0

    def seed(self, reg, scenario, policy):
        s = copy.deepcopy(self.base_seed)
        s["instances"][IID].update(user_data=self.text, private_ip="127.0.0.1")
        s["volumes"][VOL]["backing"] = self.loop
        s["attach_hook"] = blockns.hook_argv(reg)
        s["delays"] = {"attach": 0.2, "detach": 0.2, "route53_insync": 0.2}
        s["roles"] = {ROLE: {"deny": [], "policy": policy}}
        if scenario == "takeover":   # the old owner, in the group, stopped with the volume
            s["instances"][PEER] = {"az": "us-west-2a", "state": "stopped", "asg": GROUP}
            s["volumes"][VOL]["attachments"] = [{"instance": PEER, "device": "/dev/sdf"}]
        if scenario == "fail-here":  # the volume is in the other zone: a new instance may do
            s["volumes"][VOL]["az"] = "us-west-2b"
        if scenario == "release":    # the boot, then the group terminates it: a release
            s["asgs"][GROUP]["hooks"] = {h: {} for h in s["asgs"][GROUP]["hooks"]}
            s["asgs"][GROUP]["hooks"]["nfs-release-hook"] = {
                "transition": "autoscaling:EC2_INSTANCE_TERMINATING", "heartbeat_timeout": 60}
        return s

    def run(self, policy, scenario="boot"):
        self.n += 1
        reg = blockns.make_registry(f"{self.work}/reg{self.n}")
        self.sim.client.reset(empty=True)
        self.sim.client.seed(self.seed(reg, scenario, policy))
        inst = blockns.Instance(reg, IID, naming="nitro")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(self.sim.env(AWS_EC2_METADATA_DISABLED="false",
                                HABOOT_CONSOLE=f"{self.work}/console{self.n}"))
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the role's keys, from IMDS
            env.pop(k)
        status = f"{self.work}/status{self.n}.json"
        try:
            r = subprocess.run(inst.argv([HABOOT, "run", "--status-file", status]), env=env,
                               capture_output=True, text=True, timeout=180)
            r.release = None
            if scenario == "release" and r.returncode == 0:
                self.sim.client.group_terminates(IID)
                r.release = subprocess.run(inst.argv([HABOOT, "release", "--status-file",
                                                      status]), env=env, capture_output=True,
                                           text=True, timeout=180)
                r.stderr += r.release.stderr
        finally:
            self._stop_ganesha()
            inst.close(under=self.work)
        with open(status) as f:
            r.status = json.load(f)
        r.state = self.sim.client.state()
        r.requests = self.sim.client.requests()
        return r

    def _stop_ganesha(self):
        if os.path.exists(self.pidfile):
            try:
                pid = int(open(self.pidfile).read().strip())
                os.kill(pid, 15)
                end = time.monotonic() + 10
                while os.path.exists(f"/proc/{pid}") and time.monotonic() < end:
                    time.sleep(0.05)
            except (OSError, ValueError):
                pass
            Path(self.pidfile).unlink(missing_ok=True)  # ganesha removes it as it exits

    def close(self):
        self._stop_ganesha()
        self.sim.stop()
        subprocess.run(["losetup", "-d", self.loop], capture_output=True)


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    r = Reference(tmp_path_factory.mktemp("iamref"))
    yield r
    r.close()


def example_policy():
    return json.loads(POLICY.read_text())


def denials(r):
    return [q for q in r.requests if q.get("status") == 403]


def report(r):
    """Everything haboot told: its log, the status file (modules, failure policy)."""
    return r.stderr + json.dumps(r.status)


@root_only
def test_the_reference_run_passes_under_the_generated_policy(ref, tmp_path):
    demo_policy = iam_policy("--group", GROUP, text=ref.text, tmp=tmp_path).stdout
    assert json.loads(demo_policy) == example_policy()  # laptop paths change no permission
    for scenario in ("boot", "takeover", "fail-here", "release"):
        r = ref.run(example_policy(), scenario)
        assert not denials(r), (scenario, denials(r), r.stderr[-3000:])
        signed = [q for q in r.requests if q.get("service") not in (None, "imds")]
        assert signed and all(q.get("role") == ROLE for q in signed), "not the role's keys"
        if scenario == "fail-here":
            assert r.returncode == 1 and r.status["modules"][0]["failure_scope"] == "here"
            assert [h["health_status"] for h in r.state["asg_health"]] == ["Unhealthy"]
        else:
            assert r.returncode == 0, r.stderr[-3000:]
            assert [m["state"] for m in r.status["modules"]] == ["ok"] * 5, r.status
        if scenario == "takeover":
            assert r.status["facts"]["volume.previous_owner"] == PEER
        if scenario == "release":
            assert r.release.returncode == 0, r.stderr[-3000:]
            assert r.status["release"]["state"] == "released", r.status["release"]
            assert r.status["release"]["lifecycle_hook"] == "nfs-release-hook CONTINUE sent"


@root_only
def test_without_any_one_statement_a_run_names_the_missing_permission(ref):
    full = example_policy()
    for i, stmt in enumerate(full["Statement"]):
        cut = dict(full, Statement=full["Statement"][:i] + full["Statement"][i + 1:])
        told = None
        for scenario in ("boot", "takeover", "fail-here", "release"):
            r = ref.run(cut, scenario)
            refused = denials(r)
            if not refused:
                continue
            said = report(r)
            assert "permission denied" in said, (stmt["Sid"], scenario, said[-2000:])
            named = [a for a in stmt["Action"] if a.lower() in said.lower()]  # SNS says SNS:Publish
            assert named, f"{stmt['Sid']}: haboot's report names none of {stmt['Action']}:\n{said[-2000:]}"
            if refused[0]["service"] == "ec2":
                assert "aws sts decode-authorization-message --encoded-message" in said
            elif " on resource: " in refused[0]["message"]:  # the resource AWS named
                assert refused[0]["message"].split(" on resource: ")[1].split(" ")[0] in said
            required = [m for m in r.status["modules"] if m["state"] == "failed"
                        and "permission denied" in m["message"]]
            if required:   # a refused permission is every instance's: halt, do not replace
                assert required[0]["failure_scope"] == "anywhere", r.status
                assert r.state["asg_health"] == [], r.state["asg_health"]
            told = scenario
            break
        assert told, f"removing {stmt['Sid']} made no run of the reference setup fail: not needed?"


def test_help_and_usage_errors():
    for argv in (["iam-policy", "--help"], ["help", "iam-policy"]):
        r = subprocess.run([HABOOT, *argv], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith("usage: haboot iam-policy"), r
    # One grammar (haboot(8)): FILE or -f FILE, the same policy; never two manifests.
    pos = subprocess.run([HABOOT, "iam-policy", str(EXAMPLE)], capture_output=True, text=True,
                         timeout=30)
    opt = subprocess.run([HABOOT, "iam-policy", "-f", str(EXAMPLE)], capture_output=True,
                         text=True, timeout=30)
    assert pos.returncode == 0 and pos.stdout == opt.stdout and json.loads(pos.stdout)
    r = subprocess.run([HABOOT, "iam-policy", str(EXAMPLE), "-f", str(EXAMPLE)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "give one manifest" in r.stderr
    r = subprocess.run([HABOOT, "iam-policy", "/nonexistent/m.yaml"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 3, r
    r = subprocess.run([HABOOT, "iam-policy", "-f", str(EXAMPLE), "--group", ""], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "--group" in r.stderr
    r = subprocess.run([HABOOT, "--help"], capture_output=True, text=True, timeout=30)
    assert "iam-policy" in r.stdout
