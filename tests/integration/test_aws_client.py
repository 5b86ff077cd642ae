"""haboot's AWS client: the signature oracle (every request shape haboot sends
signs exactly as botocore signs it), standard-mode retries, error messages,
credentials from the instance role and their refresh, endpoints and regions.

AWS_ENDPOINT_URL* and AWS_EC2_METADATA_SERVICE_ENDPOINT always point at
127.0.0.1 (the sim or a capture server the test starts), never at AWS.
"""
import datetime
import http.server
import os
import socket
import subprocess
import threading
import time
from unittest import mock

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from simfixture import STATIC_KEY, STATIC_SECRET, shared_sim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot"))
I1 = "i-0aaaaaaaaaaaaaaa1"
VOL = "vol-073769c7"
ZONE = "Z1G9ZB2OW5990Z"
TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"
FIXED = "20260101T000000Z"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE/token+with=odd/chars"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and "proxy" not in k.lower() and k != "HABOOT_SIGV4_FIXED_DATE"}
    env.update(extra)
    return env


def haboot(*args, env, timeout=90, stdin=None):
    t0 = time.monotonic()
    r = subprocess.run([HABOOT, *args], capture_output=True, text=True, timeout=timeout, env=env,
                       input=stdin)
    r.elapsed = time.monotonic() - t0
    return r


# ---------------------------------------------------------------- the oracle

class Capture(http.server.ThreadingHTTPServer):
    """Records each request exactly as it arrived and answers a tiny XML body."""
    daemon_threads = True

    def __init__(self, addr):
        self.seen = []
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.address_family = family
        super().__init__(addr, CaptureHandler)


class CaptureHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.server.seen.append({"method": self.command, "path": self.path,
                                 "headers": list(self.headers.items()), "body": body})
        out = b"<?xml version=\"1.0\"?><OkResponse><RequestId>r</RequestId></OkResponse>"
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def capture():
    srv = Capture(("127.0.0.1", 0))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()


class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls(2026, 1, 1, 0, 0, 0)


# Headers the HTTP layer adds; botocore never sees them when it signs.
TRANSPORT = {"authorization", "content-length", "user-agent", "accept", "expect", "connection",
             "host", "x-amz-date", "x-amz-security-token", "accept-encoding"}


def botocore_authorization(seen, base_url, service, region, token):
    """What botocore's SigV4Auth.add_auth puts in Authorization for this request."""
    headers = {k: v for k, v in seen["headers"] if k.lower() not in TRANSPORT}
    req = AWSRequest(method=seen["method"], url=base_url + seen["path"], data=seen["body"],
                     headers=headers)
    auth = SigV4Auth(Credentials(STATIC_KEY, STATIC_SECRET, token), service, region)
    with mock.patch.object(botocore.auth.datetime, "datetime", FixedDatetime):
        auth.add_auth(req)
    return req.headers["Authorization"]


def header(seen, name):
    vals = [v for k, v in seen["headers"] if k.lower() == name.lower()]
    assert len(vals) <= 1, f"{name} sent {len(vals)} times"
    return vals[0] if vals else None


CHANGE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <ChangeBatch><Comment>haboot: nfs on i-0aaaaaaaaaaaaaaa1</Comment><Changes><Change>
    <Action>UPSERT</Action><ResourceRecordSet><Name>nfs.helloawsworld.com.</Name><Type>A</Type>
    <TTL>60</TTL><ResourceRecords><ResourceRecord><Value>10.10.10.10</Value></ResourceRecord>
    </ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>
</ChangeResourceRecordSetsRequest>
"""

# Every request shape haboot sends: (id, service, signing region, argv after "aws").
SHAPES = [
    ("ec2-describe-volumes-filters", "ec2", "us-west-2",
     ["ec2", "DescribeVolumes", "Filter.1.Name=tag:Name", "Filter.1.Value.1=nfs master/volume ü*",
      "Filter.2.Name=availability-zone", "Filter.2.Value.1=us-west-2a"]),
    ("ec2-describe-instances-bare", "ec2", "us-west-2", ["ec2", "DescribeInstances"]),
    ("ec2-attach-dry-run", "ec2", "us-west-2",
     ["ec2", "AttachVolume", f"VolumeId={VOL}", f"InstanceId={I1}", "Device=/dev/sdf",
      "DryRun=true"]),
    ("ec2-detach-force", "ec2", "us-west-2",
     ["ec2", "DetachVolume", f"VolumeId={VOL}", "Force=true"]),
    ("route53-get-rrset-query", "route53", "us-east-1",
     ["route53", "GET", f"/2013-04-01/hostedzone/{ZONE}/rrset?type=A&name=nfs.helloawsworld.com."
      "&maxitems=1"]),
    ("route53-get-zones-by-name", "route53", "us-east-1",
     ["route53", "GET", "/2013-04-01/hostedzonesbyname?dnsname=helloawsworld.com&maxitems=1"]),
    ("route53-get-encoded-query", "route53", "us-east-1",
     ["route53", "GET", f"/2013-04-01/hostedzone/{ZONE}/rrset?name=%2A.wild%20card.com.&type=TXT"]),
    ("route53-get-change", "route53", "us-east-1", ["route53", "GET", "/2013-04-01/change/C0123ABC"]),
    ("route53-post-change-batch", "route53", "us-east-1",
     ["route53", "POST", f"/2013-04-01/hostedzone/{ZONE}/rrset", "--body", "-"]),
    ("sns-publish", "sns", "us-west-2",
     ["sns", "Publish", f"TopicArn={TOPIC}", "Subject=nfs: took over vol-073769c7",
      "Message=nfs is up on i-1 (10.0.0.1) & ready\n100% = ok+ é"]),
    ("cloudwatch-put-metric-data", "monitoring", "us-west-2",
     ["monitoring", "PutMetricData", "Namespace=HA/NFS", "MetricData.member.1.MetricName=Healthy",
      "MetricData.member.1.Value=1", "MetricData.member.1.Unit=Count",
      "MetricData.member.1.Dimensions.member.1.Name=Service",
      "MetricData.member.1.Dimensions.member.1.Value=nfs"]),
    ("autoscaling-set-instance-health", "autoscaling", "us-west-2",
     ["autoscaling", "SetInstanceHealth", f"InstanceId={I1}", "HealthStatus=Unhealthy",
      "ShouldRespectGracePeriod=false"]),
    ("autoscaling-complete-lifecycle-action", "autoscaling", "us-west-2",
     ["autoscaling", "CompleteLifecycleAction", "LifecycleHookName=nfs-launch-hook",
      "AutoScalingGroupName=nfs-autoscaling-group", "LifecycleActionResult=CONTINUE",
      f"InstanceId={I1}"]),
]


def oracle_env(base_url, token):
    env = clean_env(AWS_ACCESS_KEY_ID=STATIC_KEY, AWS_SECRET_ACCESS_KEY=STATIC_SECRET,
                    AWS_REGION="us-west-2", AWS_ENDPOINT_URL=base_url,
                    AWS_EC2_METADATA_DISABLED="true", HABOOT_SIGV4_FIXED_DATE=FIXED)
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return env


@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term-keys", "session-token"])
@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
def test_signature_equals_botocore(capture, shape, token):
    _, service, region, argv = shape
    base = f"http://127.0.0.1:{capture.server_address[1]}"
    capture.seen.clear()
    r = haboot("aws", "--max-attempts", "1", *argv, env=oracle_env(base, token),
               stdin=CHANGE_XML if "--body" in argv else None)
    assert r.returncode == 0, r.stderr
    assert len(capture.seen) == 1
    seen = capture.seen[0]
    mine = header(seen, "Authorization")
    assert mine == botocore_authorization(seen, base, service, region, token)
    # What the signature covers is what was sent.
    assert header(seen, "X-Amz-Date") == FIXED
    assert header(seen, "X-Amz-Security-Token") == token
    assert f"/{FIXED[:8]}/{region}/{service}/aws4_request" in mine
    want = ["content-type"] if seen["body"] else []
    want += ["host", "x-amz-date"] + (["x-amz-security-token"] if token else [])
    assert f"SignedHeaders={';'.join(want)}," in mine
    if service != "route53":
        assert seen["method"] == "POST" and seen["path"] == "/"
        assert seen["body"].startswith(b"Action=" + argv[1].encode() + b"&Version=")


def test_signature_equals_botocore_on_ipv6_and_path_prefix_endpoints():
    """Host derivation for [::1]:PORT and an endpoint URL with a path."""
    try:
        srv = Capture(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        for prefix in ("", "/proxy/aws"):
            base = f"http://[::1]:{srv.server_address[1]}{prefix}"
            for argv, service, region in (
                    (["ec2", "DescribeVolumes", f"VolumeId.1={VOL}"], "ec2", "us-west-2"),
                    (["route53", "GET", "/2013-04-01/hostedzonesbyname?dnsname=a.com"], "route53",
                     "us-east-1")):
                srv.seen.clear()
                r = haboot("aws", *argv, env=oracle_env(base + "/", None))
                assert r.returncode == 0, r.stderr
                (seen,) = srv.seen
                assert seen["path"].startswith(prefix + "/")
                root = f"http://[::1]:{srv.server_address[1]}"
                assert header(seen, "Authorization") == botocore_authorization(
                    seen, root, service, region, None)
    finally:
        srv.shutdown()


def test_fixed_date_must_look_like_one(capture):
    base = f"http://127.0.0.1:{capture.server_address[1]}"
    env = oracle_env(base, None)
    env["HABOOT_SIGV4_FIXED_DATE"] = "yesterday"
    r = haboot("aws", "ec2", "DescribeInstances", env=env)
    assert r.returncode == 2
    assert "HABOOT_SIGV4_FIXED_DATE" in r.stderr


# ---------------------------------------------------------------- against the sim

@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture
def fresh(sim):
    sim.client.reset()  # state, faults and the request log


def sim_env(sim, **extra):
    env = clean_env(**sim.env())
    env.update(extra)
    return env


def role_env(sim, **extra):
    """No keys in the environment: credentials and region come from IMDS."""
    env = clean_env(AWS_ENDPOINT_URL=sim.url, AWS_EC2_METADATA_SERVICE_ENDPOINT=sim.url)
    env.update(extra)
    return env


def aws_log(sim, service=None):
    return [e for e in sim.client.requests() if e.get("service") not in (None, "imds")
            and (service is None or e["service"] == service)]


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
def test_sim_accepts_every_shape_signed_now(sim, fresh, shape):
    """The live path (clock date) also passes the sim's botocore verification."""
    _, service, region, argv = shape
    r = haboot("aws", "--max-attempts", "1", *argv, env=sim_env(sim),
               stdin=CHANGE_XML if "--body" in argv else None)
    (entry,) = aws_log(sim)
    assert entry["signature_ok"] is True, (r.stderr, entry)
    assert entry["region"] == region and entry["service"] == service


def test_describe_volumes_prints_the_raw_answer(sim, fresh):
    r = haboot("aws", "ec2", "DescribeVolumes", f"VolumeId.1={VOL}", env=sim_env(sim))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("<?xml")
    assert "<DescribeVolumesResponse" in r.stdout and f"<volumeId>{VOL}</volumeId>" in r.stdout


def test_4xx_is_final_and_printed_as_code_and_message(sim, fresh):
    r = haboot("aws", "ec2", "DescribeVolumes", "VolumeId.1=vol-00000001", env=sim_env(sim))
    assert r.returncode == 1
    assert ("haboot: aws: ec2 DescribeVolumes: InvalidVolume.NotFound: "
            "The volume 'vol-00000001' does not exist. (HTTP 400, request id ") in r.stderr
    assert "1 attempt)" in r.stderr
    assert len(aws_log(sim)) == 1  # not retried


def test_throttling_is_retried_then_succeeds(sim, fresh):
    sim.client.fault("ec2", "throttle", action="DescribeVolumes", count=2)
    r = haboot("-v", "aws", "ec2", "DescribeVolumes", f"VolumeId.1={VOL}", env=sim_env(sim))
    assert r.returncode == 0, r.stderr
    assert [(e["status"], e.get("error")) for e in aws_log(sim)] == [
        (503, "RequestLimitExceeded"), (503, "RequestLimitExceeded"), (200, None)]
    assert "RequestLimitExceeded (HTTP 503); retry 1 of 2" in r.stderr
    assert "ec2 DescribeVolumes: HTTP 200 in" in r.stderr and "(attempt 3/3)" in r.stderr


def test_throttling_past_the_attempt_limit_fails_with_the_code(sim, fresh):
    sim.client.fault("ec2", "throttle", action="DescribeInstances", count=50)
    r = haboot("aws", "ec2", "DescribeInstances", env=sim_env(sim))
    assert r.returncode == 1
    assert "RequestLimitExceeded: Request limit exceeded. (HTTP 503" in r.stderr
    assert "3 attempts)" in r.stderr
    assert len(aws_log(sim)) == 3
    sim.client.reset()
    sim.client.fault("ec2", "throttle", action="DescribeInstances", count=50)
    r = haboot("aws", "--max-attempts", "5", "ec2", "DescribeInstances", env=sim_env(sim))
    assert r.returncode == 1 and len(aws_log(sim)) == 5
    sim.client.reset()
    sim.client.fault("ec2", "throttle", action="DescribeInstances", count=50)
    r = haboot("aws", "ec2", "DescribeInstances", env=sim_env(sim, AWS_MAX_ATTEMPTS="2"))
    assert r.returncode == 1 and len(aws_log(sim)) == 2


def test_5xx_429_and_dropped_connections_are_retried(sim, fresh):
    sim.client.fault("sns", "5xx", action="Publish", count=1, status=503)
    sim.client.fault("sns", "429", action="Publish", count=1)
    r = haboot("aws", "--max-attempts", "4", "sns", "Publish", f"TopicArn={TOPIC}", "Message=m",
               env=sim_env(sim))
    assert r.returncode == 0, r.stderr
    assert [(e["status"], e.get("error")) for e in aws_log(sim)] == [
        (503, "ServiceUnavailable"), (400, "Throttling"), (200, None)]
    sim.client.reset()
    sim.client.fault("monitoring", "drop", action="PutMetricData", count=1)
    r = haboot("aws", "monitoring", "PutMetricData", "Namespace=HA/NFS",
               "MetricData.member.1.MetricName=Healthy", "MetricData.member.1.Value=1",
               env=sim_env(sim))
    assert r.returncode == 0, r.stderr
    assert [e["status"] for e in aws_log(sim)] == [None, 200]
    assert len(sim.client.state()["metrics"]) == 1


def test_an_attempt_that_hangs_times_out_and_is_retried(sim, fresh):
    sim.client.fault("ec2", "slow", action="DescribeInstances", count=1, delay=3)
    r = haboot("-v", "aws", "--timeout", "1s", "ec2", "DescribeInstances", env=sim_env(sim))
    assert r.returncode == 0, r.stderr
    assert "timed out" in r.stderr.lower() and "retry 1 of 2" in r.stderr
    assert r.elapsed < 3
    # The abandoned call ends in the sim later: let it, so it lands in this test's log
    # (the sim then also logs its write to the closed socket as a 500 "sim bug" row).
    done = lambda: [e for e in aws_log(sim) if e["status"] == 200]  # noqa: E731
    end = time.time() + 5
    while len(done()) < 2 and time.time() < end:
        time.sleep(0.1)
    time.sleep(0.3)
    assert len(done()) == 2


def test_other_errors_are_final(sim, fresh):
    sim.client.fault("autoscaling", "error", action="SetInstanceHealth", count=5, status=400,
                     code="ValidationError", message="Instance Id not found - No managed instance")
    r = haboot("aws", "autoscaling", "SetInstanceHealth", "InstanceId=i-0nope",
               "HealthStatus=Unhealthy", env=sim_env(sim))
    assert r.returncode == 1
    assert "ValidationError: Instance Id not found - No managed instance (HTTP 400" in r.stderr
    assert len(aws_log(sim)) == 1


def test_route53_error_and_global_signing_region(sim, fresh):
    sim.client.options(route53_error_form="messages")
    bad = CHANGE_XML.replace("UPSERT", "DELETE").replace("nfs.helloawsworld.com.", "gone.helloawsworld.com.")
    r = haboot("aws", "route53", "POST", f"/2013-04-01/hostedzone/{ZONE}/rrset", "--body", "-",
               env=sim_env(sim, AWS_REGION="eu-west-1"), stdin=bad)
    assert r.returncode == 1
    assert "haboot: aws: route53 /2013-04-01/hostedzone/" in r.stderr
    assert "InvalidChangeBatch: " in r.stderr and "gone.helloawsworld.com." in r.stderr
    (entry,) = aws_log(sim)
    assert entry["region"] == "us-east-1"  # Route 53 signs us-east-1 from any region


def test_service_endpoint_variable_wins(sim, fresh):
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    env = sim_env(sim, AWS_ENDPOINT_URL=dead, AWS_ENDPOINT_URL_EC2=sim.url,
                  AWS_ENDPOINT_URL_ROUTE_53=sim.url)
    assert haboot("aws", "ec2", "DescribeInstances", env=env).returncode == 0
    assert haboot("aws", "route53", "GET", "/2013-04-01/hostedzonesbyname", env=env).returncode == 0
    r = haboot("aws", "--max-attempts", "2", "sns", "Publish", f"TopicArn={TOPIC}", "Message=m",
               env=env)
    assert r.returncode == 1
    assert "ConnectionError: cannot reach http://127.0.0.1:9" in r.stderr and "2 attempts" in r.stderr


def test_wrong_secret_is_signature_does_not_match_not_retried(sim, fresh):
    r = haboot("aws", "sns", "Publish", f"TopicArn={TOPIC}", "Message=m",
               env=sim_env(sim, AWS_SECRET_ACCESS_KEY="wrong"))
    assert r.returncode == 1
    assert "SignatureDoesNotMatch: The request signature we calculated" in r.stderr
    assert len(aws_log(sim)) == 1


def test_no_credentials_is_an_environment_error(sim, fresh):
    env = clean_env(AWS_REGION="us-west-2", AWS_ENDPOINT_URL=sim.url,
                    AWS_EC2_METADATA_DISABLED="true")
    r = haboot("aws", "ec2", "DescribeInstances", env=env)
    assert r.returncode == 3
    assert "NoCredentials" in r.stderr and "AWS_ACCESS_KEY_ID" in r.stderr
    r = haboot("aws", "ec2", "DescribeInstances", env=dict(env, AWS_ACCESS_KEY_ID="AKIDONLY"))
    assert r.returncode == 3
    assert "AWS_SECRET_ACCESS_KEY is not" in r.stderr
    assert aws_log(sim) == []


def test_no_region_is_an_environment_error(sim, fresh):
    env = clean_env(AWS_ACCESS_KEY_ID=STATIC_KEY, AWS_SECRET_ACCESS_KEY=STATIC_SECRET,
                    AWS_ENDPOINT_URL=sim.url, AWS_EC2_METADATA_DISABLED="true")
    r = haboot("aws", "ec2", "DescribeInstances", env=env)
    assert r.returncode == 3
    assert "cannot tell the AWS region" in r.stderr


def test_instance_role_credentials_and_region_from_imds(sim, fresh):
    r = haboot("aws", "ec2", "DescribeInstances", env=role_env(sim))
    assert r.returncode == 0, r.stderr
    (entry,) = aws_log(sim)
    assert entry["role"] == "ec2-nfs-role" and entry["access_key"].startswith("ASIA")
    assert entry["region"] == "us-west-2"  # placement/region
    paths = [e["action"] for e in sim.client.requests(service="imds")]
    assert "/latest/meta-data/iam/security-credentials/" in paths
    assert "/latest/meta-data/iam/security-credentials/ec2-nfs-role" in paths
    assert "/latest/meta-data/placement/region" in paths


def test_role_credentials_refreshed_before_expiry(sim, fresh):
    """Keys with 12 s to live are fetched again at half-life (5 min before
    expiry for real ones); IMDS has rotated them by then."""
    sim.client.delays(credential_ttl=12.0, credential_rotate=2.0)
    r = haboot("-v", "aws", "--repeat", "4", "--interval", "3s", "ec2", "DescribeInstances",
               env=role_env(sim))
    assert r.returncode == 0, r.stderr
    log = aws_log(sim)
    assert [e["status"] for e in log] == [200, 200, 200, 200]
    keys = [e["access_key"] for e in log]
    # Calls at about 0, 3, 6 and 9 s; the refresh falls due at about 5.5-6 s.
    assert keys[0] == keys[1] and keys[3] != keys[0], keys
    imds = sim.client.requests(service="imds")
    assert len([e for e in imds if e["action"].endswith("/ec2-nfs-role")]) == 2
    assert len([e for e in imds if e["method"] == "PUT"]) == 1


def test_expired_role_keys_are_fetched_again(sim, fresh):
    """AWS rejects keys that expired between haboot's check and the call: one refetch."""
    sim.client.fault("ec2", "error", action="DescribeInstances", count=1, status=400,
                     code="RequestExpired", message="Request has expired.")
    r = haboot("aws", "--max-attempts", "1", "ec2", "DescribeInstances", env=role_env(sim))
    assert r.returncode == 0, r.stderr
    assert [e.get("error") for e in aws_log(sim)] == ["RequestExpired", None]
    creds_reads = [e for e in sim.client.requests(service="imds")
                   if e["action"].endswith("/ec2-nfs-role")]
    assert len(creds_reads) == 2


def test_secrets_never_logged(sim, fresh):
    env = sim_env(sim, AWS_SESSION_TOKEN="should-not-appear-token")
    sim.client.seed({"credentials": [{"access_key": "AKIDTOKEN", "secret_key": "s3cr3t-value-xyz",
                                      "session_token": "should-not-appear-token"}]})
    env.update(AWS_ACCESS_KEY_ID="AKIDTOKEN", AWS_SECRET_ACCESS_KEY="s3cr3t-value-xyz")
    sim.client.fault("ec2", "throttle", action="DescribeInstances", count=1)
    r = haboot("-v", "--log-format", "json", "aws", "ec2", "DescribeInstances", env=env)
    assert r.returncode == 0, r.stderr
    assert "should-not-appear-token" not in r.stderr and "s3cr3t-value-xyz" not in r.stderr
    assert "Signature=" not in r.stderr and "Authorization" not in r.stderr
    r = haboot("-v", "aws", "ec2", "DescribeInstances", env=role_env(sim))
    assert r.returncode == 0, r.stderr
    assert "IQoJ" not in r.stderr and "Signature=" not in r.stderr


def test_usage_errors(sim):
    env = sim_env(sim)
    assert haboot("aws", "s3", "ListBuckets", env=env).returncode == 2
    r = haboot("aws", "route53", "ListHostedZones", env=env)
    assert r.returncode == 2 and "METHOD PATH" in r.stderr
    r = haboot("aws", "ec2", "DescribeVolumes", "novalue", env=env)
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr
    r = haboot("aws", "--help", env=env)
    assert r.returncode == 0 and r.stdout.startswith("usage: haboot aws")


# ---------------------------------------------------------------- TLS

def _cert(tmp_path, name, san):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return key, crt


def _tls_capture(key, crt):
    import ssl
    srv = Capture(("127.0.0.1", 0))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_tls_is_verified_and_aws_ca_bundle_is_honoured(tmp_path):
    key, crt = _cert(tmp_path, "sim-ca", "IP:127.0.0.1")
    srv = _tls_capture(key, crt)
    try:
        base = f"https://127.0.0.1:{srv.server_address[1]}"
        env = oracle_env(base, None)
        env.pop("HABOOT_SIGV4_FIXED_DATE")
        env.pop("AWS_CA_BUNDLE", None)
        r = haboot("aws", "ec2", "DescribeInstances", env=env)
        assert r.returncode == 3
        assert "certificate" in r.stderr.lower() and "AWS_CA_BUNDLE" in r.stderr
        assert srv.seen == []  # nothing was sent over an unverified connection
        r = haboot("aws", "ec2", "DescribeInstances", env=dict(env, AWS_CA_BUNDLE=str(crt)))
        assert r.returncode == 0, r.stderr
        assert len(srv.seen) == 1
    finally:
        srv.shutdown()


def test_tls_host_name_must_match(tmp_path):
    key, crt = _cert(tmp_path, "elsewhere", "DNS:elsewhere.example")
    srv = _tls_capture(key, crt)
    try:
        base = f"https://127.0.0.1:{srv.server_address[1]}"
        env = oracle_env(base, None)
        env.pop("HABOOT_SIGV4_FIXED_DATE")
        r = haboot("aws", "ec2", "DescribeInstances", env=dict(env, AWS_CA_BUNDLE=str(crt)))
        assert r.returncode != 0
        assert srv.seen == []
    finally:
        srv.shutdown()
