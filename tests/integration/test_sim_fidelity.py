"""FIDELITY: the real AWS CLI (/usr/bin/aws) parses every sim answer and names every error.

The CLI carries its own copy of botocore; if an XML shape, an error envelope
or a status code were off, it would fail to parse or show the wrong code.

Each `aws` run costs about 0.5 s of imports, and this test makes ~60 of them,
so most runs go through a fork server: a /usr/bin/python3 that has imported
awscli.clidriver (what /usr/bin/aws does first) forks one child per command,
and the child runs the same entry point, awscli.clidriver.main(), with the
command's argv and environment. test_the_aws_binary_itself runs /usr/bin/aws
as a program to show both paths agree.
"""
import json
import os
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from simfixture import STATIC_KEY, STATIC_SECRET, shared_sim

AWS = "/usr/bin/aws"
I1, I2, I3 = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-0ccccccccccccccc3"
VOL, VOL_B = "vol-073769c7", "vol-0ddddddddddddddd4"
SNAP = "snap-0eeeeeeeeeeeeeee5"
ZONE = "Z1G9ZB2OW5990Z"
TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"
GROUP = "nfs-autoscaling-group"
EXTRA = {
    "instances": {I2: {"az": "us-west-2a", "private_ip": "10.10.10.11"},
                  I3: {"az": "us-west-2b", "private_ip": "10.10.10.75", "state": "terminated"}},
    "volumes": {VOL_B: {"az": "us-west-2b", "size": 8},
                "vol-0fffffffffffffff6": {"az": "us-west-2a", "size": 8,
                                          "attachments": [{"instance": I2, "device": "/dev/sdg"}]}},
    "snapshots": {SNAP: {"volume_id": VOL, "size": 100}},
    "credentials": [{"access_key": "AKIDDENIED", "secret_key": "denied-secret", "deny": ["ec2:AttachVolume"]}],
    "console": {I1: "haboot: nfs is up\n"},
    "delays": {"attach": 0.1, "detach": 0.1, "force_detach": 0.05, "stop": 0.1, "stop_force": 0.05,
               "create_volume": 0.1, "route53_insync": 0.2},
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = shared_sim(tmp_path_factory)
    s.client.reset()
    s.client.seed(EXTRA)
    return s


FORK_SERVER = r"""
import json, os, sys, traceback
import awscli.clidriver  # the import /usr/bin/aws starts with: paid once here
data_path = os.environ["AWS_DATA_PATH"]  # set by importing awscli
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        rc = 255
        try:
            for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, job["out"], os.O_WRONLY),
                                   (2, job["err"], os.O_WRONLY)):
                os.dup2(os.open(path, mode), fd)
            os.environ.clear()
            os.environ.update(job["env"], AWS_DATA_PATH=data_path)
            sys.argv = ["aws"] + job["argv"]
            rc = awscli.clidriver.main()
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc or 0)
    print(json.dumps({"rc": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}), flush=True)
"""


class ForkServers:
    """A pool of fork servers; run() blocks until one is free."""

    def __init__(self, n, env):
        self.free = []
        self.cond = threading.Condition()
        for _ in range(n):
            self.free.append(subprocess.Popen(["/usr/bin/python3", "-c", FORK_SERVER], env=env, text=True,
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE))

    def run(self, argv, env):
        with self.cond:
            self.cond.wait_for(lambda: self.free)
            p = self.free.pop()
        try:
            with tempfile.NamedTemporaryFile("r") as out, tempfile.NamedTemporaryFile("r") as err:
                p.stdin.write(json.dumps({"argv": argv, "env": env, "out": out.name, "err": err.name}) + "\n")
                p.stdin.flush()
                rc = json.loads(p.stdout.readline())["rc"]
                return rc, out.read(), err.read()
        finally:
            with self.cond:
                self.free.append(p)
                self.cond.notify()

    def close(self):
        for p in self.free:
            p.stdin.close()
            p.wait(timeout=10)


def cli_env(home):
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": STATIC_KEY, "AWS_SECRET_ACCESS_KEY": STATIC_SECRET,
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard", "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


@pytest.fixture(scope="module")
def cli(sim, tmp_path_factory):
    base = cli_env(tmp_path_factory.mktemp("home"))
    pool = ForkServers(4, base)

    def run(*args, key=None, secret=None):
        env = dict(base)
        if key:
            env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        return pool.run(["--endpoint-url", sim.url, "--region", "us-east-1", "--output", "json", *args], env)
    yield run
    pool.close()


def ok(cli, *args, **kw):
    rc, out, err = cli(*args, **kw)
    assert rc == 0, f"aws {' '.join(args)}: {err}"
    return json.loads(out) if out.strip() else None


def fails(cli, code, *args, **kw):
    rc, out, err = cli(*args, **kw)
    assert rc != 0, f"aws {' '.join(args)} succeeded: {out}"
    assert f"An error occurred ({code})" in err, f"aws {' '.join(args)}: {err}"
    return err


def parallel(*jobs):
    with ThreadPoolExecutor(max_workers=4) as ex:
        for f in [ex.submit(j) for j in jobs]:
            f.result()


def test_every_read_and_every_error_parses(sim, cli):
    def describe_volumes():
        v = ok(cli, "ec2", "describe-volumes", "--filters", "Name=tag:Name,Values=nfs-master-volume",
               "Name=status,Values=available", "Name=availability-zone,Values=us-west-2a")["Volumes"]
        assert [x["VolumeId"] for x in v] == [VOL] and v[0]["Tags"] == [{"Key": "Name", "Value": "nfs-master-volume"}]
        v = ok(cli, "ec2", "describe-volumes", "--filters", f"Name=attachment.instance-id,Values={I2}",
               "Name=attachment.status,Values=attached")["Volumes"]
        assert v[0]["Attachments"][0]["Device"] == "/dev/sdg"

    def describe_instances():
        r = ok(cli, "ec2", "describe-instances", "--filters", "Name=instance-state-name,Values=running")
        assert sorted(i["InstanceId"] for x in r["Reservations"] for i in x["Instances"]) == [I1, I2]
        r = ok(cli, "ec2", "describe-instances", "--instance-ids", I3)
        assert r["Reservations"][0]["Instances"][0]["State"] == {"Code": 48, "Name": "terminated"}

    def snapshots_and_console():
        s = ok(cli, "ec2", "describe-snapshots", "--owner-ids", "self", "--filters",
               f"Name=volume-id,Values={VOL}", "Name=status,Values=completed")["Snapshots"]
        assert [x["SnapshotId"] for x in s] == [SNAP] and s[0]["State"] == "completed"
        assert ok(cli, "ec2", "get-console-output", "--instance-id", I1)["Output"] == "haboot: nfs is up\n"

    def ec2_errors():
        fails(cli, "InvalidVolume.NotFound", "ec2", "describe-volumes", "--volume-ids", "vol-00000000")
        fails(cli, "InvalidInstanceID.NotFound", "ec2", "describe-instances", "--instance-ids", "i-00000000")
        fails(cli, "InvalidVolume.ZoneMismatch", "ec2", "attach-volume", "--volume-id", VOL_B,
              "--instance-id", I1, "--device", "/dev/sdf")
        fails(cli, "IncorrectInstanceState", "ec2", "attach-volume", "--volume-id", VOL_B,
              "--instance-id", I3, "--device", "/dev/sdf")
        fails(cli, "IncorrectInstanceState", "ec2", "stop-instances", "--instance-ids", I3)
        fails(cli, "InvalidParameterValue", "ec2", "attach-volume", "--volume-id", VOL,
              "--instance-id", I1, "--device", "sdf")
        fails(cli, "IncorrectState", "ec2", "detach-volume", "--volume-id", VOL_B)
        fails(cli, "InvalidAttachment.NotFound", "ec2", "detach-volume", "--volume-id",
              "vol-0fffffffffffffff6", "--instance-id", I1)
        fails(cli, "MissingParameter", "ec2", "create-volume", "--availability-zone", "us-west-2a")
        fails(cli, "VolumeInUse", "ec2", "attach-volume", "--volume-id", "vol-0fffffffffffffff6",
              "--instance-id", I1, "--device", "/dev/sdh")
        msg = fails(cli, "DryRunOperation", "ec2", "attach-volume", "--volume-id", VOL, "--instance-id", I1,
                    "--device", "/dev/sdf", "--dry-run")
        assert "Request would have succeeded, but DryRun flag is set." in msg
        fails(cli, "UnauthorizedOperation", "ec2", "attach-volume", "--volume-id", VOL, "--instance-id", I1,
              "--device", "/dev/sdf", "--dry-run", key="AKIDDENIED", secret="denied-secret")

    def auth_errors():
        fails(cli, "AuthFailure", "ec2", "describe-volumes", key="AKIDUNKNOWN", secret="x")
        fails(cli, "SignatureDoesNotMatch", "ec2", "describe-volumes", key=STATIC_KEY, secret="wrong")
        fails(cli, "InvalidClientTokenId", "sns", "publish", "--topic-arn", TOPIC, "--message", "m",
              key="AKIDUNKNOWN", secret="x")
        fails(cli, "SignatureDoesNotMatch", "route53", "get-hosted-zone", "--id", ZONE,
              key=STATIC_KEY, secret="wrong")

    def route53_reads():
        z = ok(cli, "route53", "get-hosted-zone", "--id", ZONE)
        assert z["HostedZone"]["Name"] == "helloawsworld.com." and z["DelegationSet"]["NameServers"]
        z = ok(cli, "route53", "list-hosted-zones-by-name", "--dns-name", "helloawsworld.com")
        assert z["HostedZones"][0]["Id"] == f"/hostedzone/{ZONE}"
        r = ok(cli, "route53", "list-resource-record-sets", "--hosted-zone-id", ZONE)
        assert [x["Type"] for x in r["ResourceRecordSets"]] == ["NS", "SOA"]
        fails(cli, "NoSuchHostedZone", "route53", "get-hosted-zone", "--id", "ZNOSUCHZONE")
        fails(cli, "NoSuchChange", "route53", "get-change", "--id", "CNOSUCHCHANGE")

    def notify():
        assert ok(cli, "sns", "publish", "--topic-arn", TOPIC, "--subject", "nfs up", "--message", "ok")["MessageId"]
        fails(cli, "InvalidParameter", "sns", "publish", "--topic-arn", TOPIC, "--subject", "s" * 101,
              "--message", "m")
        fails(cli, "NotFound", "sns", "publish", "--topic-arn", TOPIC + "-nope", "--message", "m")
        assert ok(cli, "cloudwatch", "put-metric-data", "--namespace", "HA/NFS", "--metric-name", "Healthy",
                  "--value", "1", "--unit", "Count", "--dimensions", "Service=nfs") is None
        fails(cli, "InvalidParameterValue", "cloudwatch", "put-metric-data", "--namespace", "AWS/EC2",
              "--metric-name", "x", "--value", "1")
        assert ok(cli, "autoscaling", "set-instance-health", "--instance-id", I1, "--health-status",
                  "Unhealthy", "--no-should-respect-grace-period") is None
        assert ok(cli, "autoscaling", "complete-lifecycle-action", "--lifecycle-hook-name", "nfs-launch-hook",
                  "--auto-scaling-group-name", GROUP, "--lifecycle-action-result", "CONTINUE",
                  "--instance-id", I1) is None
        fails(cli, "ValidationError", "autoscaling", "complete-lifecycle-action", "--lifecycle-hook-name",
              "no-such-hook", "--auto-scaling-group-name", GROUP, "--lifecycle-action-result", "CONTINUE",
              "--instance-id", I1)

    parallel(describe_volumes, describe_instances, snapshots_and_console, ec2_errors, auth_errors,
             route53_reads, notify)
    st = sim.client.state()
    assert [m["subject"] for m in st["sns_messages"]] == ["nfs up"]
    assert st["metrics"][0]["dimensions"] == {"Service": "nfs"}
    assert st["asg_health"][0]["health_status"] == "Unhealthy"
    assert st["lifecycle_actions"][0]["result"] == "CONTINUE"


def test_every_mutation_parses(sim, cli, tmp_path):
    def volume_flow():
        a = ok(cli, "ec2", "attach-volume", "--volume-id", VOL, "--instance-id", I1, "--device", "/dev/sdf")
        assert a["State"] == "attaching"
        end = time.time() + 5
        while ok(cli, "ec2", "describe-volumes", "--volume-ids", VOL)["Volumes"][0]["Attachments"][0]["State"] \
                != "attached":
            assert time.time() < end
        fails(cli, "VolumeInUse", "ec2", "attach-volume", "--volume-id", VOL, "--instance-id", I2,
              "--device", "/dev/sdf")
        assert ok(cli, "ec2", "detach-volume", "--volume-id", VOL, "--force")["State"] == "detaching"

    def create_and_tag():
        v = ok(cli, "ec2", "create-volume", "--availability-zone", "us-west-2a", "--snapshot-id", SNAP,
               "--volume-type", "gp3", "--tag-specifications",
               "ResourceType=volume,Tags=[{Key=Name,Value=nfs-master-volume}]")
        assert v["State"] == "creating" and v["Tags"] == [{"Key": "Name", "Value": "nfs-master-volume"}]
        assert ok(cli, "ec2", "create-tags", "--resources", v["VolumeId"], "--tags",
                  "Key=haboot:generation,Value=1") is None
        t = ok(cli, "ec2", "describe-tags", "--filters", f"Name=resource-id,Values={v['VolumeId']}")["Tags"]
        assert {x["Key"] for x in t} == {"Name", "haboot:generation"}

    def stop():
        r = ok(cli, "ec2", "stop-instances", "--instance-ids", I2, "--force")["StoppingInstances"][0]
        assert r["CurrentState"]["Name"] == "stopping" and r["PreviousState"]["Name"] == "running"

    def route53_flow():
        batch = tmp_path / "batch.json"
        batch.write_text(json.dumps({"Comment": "haboot", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "nfs.helloawsworld.com", "Type": "A", "TTL": 60,
            "ResourceRecords": [{"Value": "10.10.10.10"}]}}]}))
        info = ok(cli, "route53", "change-resource-record-sets", "--hosted-zone-id", ZONE,
                  "--change-batch", f"file://{batch}")["ChangeInfo"]
        assert info["Status"] == "PENDING" and info["Comment"] == "haboot"
        time.sleep(0.25)
        assert ok(cli, "route53", "get-change", "--id", info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
        r = ok(cli, "route53", "list-resource-record-sets", "--hosted-zone-id", ZONE, "--start-record-name",
               "nfs.helloawsworld.com", "--start-record-type", "A", "--max-items", "1")
        assert r["ResourceRecordSets"][0]["ResourceRecords"] == [{"Value": "10.10.10.10"}]

        def rrset(action, value):
            return json.dumps({"Changes": [{"Action": action, "ResourceRecordSet": {
                "Name": "nfs.helloawsworld.com", "Type": "A", "TTL": 60,
                "ResourceRecords": [{"Value": value}]}}]})
        msg = fails(cli, "InvalidChangeBatch", "route53", "change-resource-record-sets", "--hosted-zone-id",
                    ZONE, "--change-batch", rrset("CREATE", "10.10.10.10"))
        assert "but it already exists" in msg
        msg = fails(cli, "InvalidChangeBatch", "route53", "change-resource-record-sets", "--hosted-zone-id",
                    ZONE, "--change-batch", rrset("DELETE", "10.10.10.99"))
        assert "but the values provided do not match the current values" in msg

    parallel(volume_flow, create_and_tag, stop, route53_flow)
    sim.client.fault("ec2", "throttle", action="DescribeVolumes", count=1)
    fails(cli, "RequestLimitExceeded", "ec2", "describe-volumes")
    sim.client.fault("ec2", "5xx", action="DescribeInstances", count=1)
    fails(cli, "InternalError", "ec2", "describe-instances")


def test_the_aws_binary_itself(sim, tmp_path):
    env = cli_env(tmp_path)
    p = subprocess.run([AWS, "--endpoint-url", sim.url, "--region", "us-east-1", "ec2", "describe-volumes",
                        "--volume-ids", VOL_B], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Volumes"][0]["VolumeId"] == VOL_B
    p = subprocess.run([AWS, "--endpoint-url", sim.url, "--region", "us-east-1", "route53", "get-change",
                        "--id", "CNOSUCHCHANGE"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "An error occurred (NoSuchChange)" in p.stderr
