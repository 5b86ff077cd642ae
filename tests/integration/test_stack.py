"""deploy/nfs-stack.yaml: the reference's whole setup as one CloudFormation
stack.  It is generated from examples/ (deploy/mkstack.py) and up to date; a
real validator (cfn-lint from npm, against the CloudFormation resource
specification of @aws-cdk/cfnspec) accepts it and refuses broken copies; its
user-data is the example manifest (valid for any values the stack gives it)
and its role's policy is `haboot iam-policy`'s output; and it holds what the
reference builds by hand."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
HABOOT = os.environ.get("HABOOT", str(ROOT / "build" / "haboot"))
STACK = ROOT / "deploy" / "nfs-stack.yaml"
NODE_MODULES = ROOT / "build" / "npm" / "node_modules"
sys.path.insert(0, str(ROOT / "deploy"))
import mkstack  # noqa: E402


class Tag:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __repr__(self):
        return f"{self.tag} {self.value!r}"


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        v = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        v = loader.construct_sequence(node, deep=True)
    else:
        v = loader.construct_mapping(node, deep=True)
    return Tag("!" + suffix, v)


CfnLoader.add_multi_constructor("!", _tag)


def template():
    return yaml.load(STACK.read_text(), Loader=CfnLoader)


def resources(t, kind):
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def resolve(v, values):
    """A !Sub string (or plain value) with the stack's values put in."""
    if isinstance(v, Tag):
        assert v.tag == "!Sub", v
        out = re.sub(r"\$\{([A-Za-z0-9:]+)\}", lambda m: values[m.group(1)], v.value)
        return out.replace("${!", "${")
    if isinstance(v, dict):
        return {k: resolve(x, values) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(x, values) for x in v]
    return v


REFERENCE = {k[2:-1]: v for k, v in mkstack.REFERENCE.items()}
OTHER = {"Topic": "arn:aws:sns:eu-central-1:210987654321:nfs-autoscale", "Zone": "Z0987654321ABCDEFGHIJ",
         "VpcCidr": "10.20.0.0/16", "GroupName": "shop-nfs", "DomainName": "corp.example.org"}


def user_data(t):
    (lt,) = resources(t, "AWS::EC2::LaunchTemplate").values()
    return lt["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]


def role_policy(t):
    (role,) = resources(t, "AWS::IAM::Role").values()
    (p,) = role["Properties"]["Policies"]
    return p["PolicyDocument"]


def haboot(*args, stdin=None):
    return subprocess.run([HABOOT, *args], input=stdin, capture_output=True, text=True, timeout=30)


def test_the_template_is_generated_from_examples():
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "deploy" / "mkstack.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def validate(path):
    assert (NODE_MODULES / "cfn-lint").is_dir(), \
        "the CloudFormation validator is not installed: run scripts/install-deps.sh"
    return subprocess.run(["node", str(ROOT / "deploy" / "validate" / "validate.js"), str(path),
                           "ImageId=ami-0123456789abcdef0"], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, NODE_PATH=str(NODE_MODULES)))


def test_a_real_validator_accepts_it_and_refuses_broken_copies(tmp_path):
    r = validate(STACK)
    assert r.returncode == 0, r.stderr
    assert "valid CloudFormation" in r.stdout
    text = STACK.read_text()
    for what, broken in (
            ("a misspelt property", text.replace("      VolumeType: gp3", "      VolumeKind: gp3")),
            ("an unknown resource type", text.replace("Type: AWS::SNS::Topic", "Type: AWS::SNS::Topik")),
            ("a missing required property", text.replace('      MaxSize: "1"\n', "")),
            ("a reference to nothing", text.replace("!Ref PrivateSubnet2Cidr", "!Ref PrivateSubnet9Cidr"))):
        assert broken != text, what
        p = tmp_path / "broken.yaml"
        p.write_text(broken)
        r = validate(p)
        assert r.returncode == 1, f"the validator accepted {what}: {r.stdout}"


def test_its_user_data_is_the_example_manifest():
    ud = user_data(template())
    assert isinstance(ud, Tag) and ud.tag == "!Sub"
    assert resolve(ud, REFERENCE) == (ROOT / "examples" / "nfs.yaml").read_text()
    # Valid whatever the stack's resources turn out to be.
    for values in (REFERENCE, OTHER):
        r = haboot("validate", "-", stdin=resolve(ud, values))
        assert r.returncode == 0, r.stderr
    text = resolve(ud, OTHER)
    assert "zone: Z0987654321ABCDEFGHIJ" in text and "name: nfs.corp.example.org" in text
    assert "sns: arn:aws:sns:eu-central-1:210987654321:nfs-autoscale" in text
    assert len(text.encode()) < 16384


def test_its_policy_is_haboot_iam_policy_for_that_manifest(tmp_path):
    t = template()
    for values in (REFERENCE, OTHER):
        m = tmp_path / "m.yaml"
        m.write_text(resolve(user_data(t), values))
        r = haboot("iam-policy", "-f", str(m), "--group", values["GroupName"])
        assert r.returncode == 0, r.stderr
        assert resolve(role_policy(t), values) == json.loads(r.stdout)
    assert resolve(role_policy(t), REFERENCE) == json.loads((ROOT / "examples" / "iam-policy.json").read_text())


def test_it_builds_what_the_reference_builds_by_hand():
    t = template()
    p = t["Parameters"]
    assert p["VpcCidr"]["Default"] == "10.10.10.0/24"
    assert [p[f"{k}Cidr"]["Default"] for k in ("PrivateSubnet1", "PrivateSubnet2", "PublicSubnet1",
                                               "PublicSubnet2")] == \
        ["10.10.10.0/26", "10.10.10.64/26", "10.10.10.128/26", "10.10.10.192/26"]
    subnets = resources(t, "AWS::EC2::Subnet")
    zones = {n: s["Properties"]["AvailabilityZone"].value[0] for n, s in subnets.items()}
    assert zones == {"PrivateSubnet1": 0, "PrivateSubnet2": 1, "PublicSubnet1": 0, "PublicSubnet2": 1}
    (sg,) = resources(t, "AWS::EC2::SecurityGroup").values()
    (rule,) = sg["Properties"]["SecurityGroupIngress"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIp"].value) == \
        ("tcp", 2049, 2049, "VpcCidr")
    (vol,) = resources(t, "AWS::EC2::Volume").values()
    assert {"Key": "Name", "Value": "nfs-master-volume"} in vol["Properties"]["Tags"]
    assert vol["Properties"]["AvailabilityZone"].value[0] == 0   # the first private subnet's zone
    assert vol["DeletionPolicy"] == "Snapshot"
    (profile,) = resources(t, "AWS::IAM::InstanceProfile").values()
    (role_name,) = resources(t, "AWS::IAM::Role")
    assert profile["Properties"]["Roles"][0].value == role_name
    (lt,) = resources(t, "AWS::EC2::LaunchTemplate").values()
    data = lt["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"   # haboot speaks IMDSv2
    (asg,) = resources(t, "AWS::AutoScaling::AutoScalingGroup").values()
    a = asg["Properties"]
    assert (a["MinSize"], a["MaxSize"], a["DesiredCapacity"]) == ("1", "1", "1")
    assert [s.value for s in a["VPCZoneIdentifier"]] == ["PrivateSubnet1", "PrivateSubnet2"]
    assert a["HealthCheckGracePeriod"] >= 270     # the run's deadline and its reports' grace
    (hook,) = a["LifecycleHookSpecificationList"]
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert a["AutoScalingGroupName"].value == "GroupName"
    assert resources(t, "AWS::SNS::Topic")["Topic"]["Properties"]["TopicName"] == "nfs-autoscale"
    (zone,) = resources(t, "AWS::Route53::HostedZone").values()
    assert zone["Properties"]["VPCs"][0]["VPCId"].value == "Vpc"   # private, in the VPC
