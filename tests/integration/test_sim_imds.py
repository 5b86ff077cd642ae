"""IMDS in the sim: the IMDSv2 token flow, paths, credentials rotation, faults, standalone proxy."""
import base64
import gzip
import http.client
import json
import os
import subprocess
import time

import pytest

from simfixture import PYTHON, TESTS, shared_sim

I1 = "i-0aaaaaaaaaaaaaaa1"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()


def req(port, method, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def token(port, ttl="21600"):
    status, headers, body = req(port, "PUT", "/latest/api/token",
                                {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
    assert status == 200, body
    assert headers["X-aws-ec2-metadata-token-ttl-seconds"] == ttl
    return body.decode()


def get(port, path, tok):
    return req(port, "GET", path, {"X-aws-ec2-metadata-token": tok})


def test_token_flow_and_metadata_paths(sim):
    t = token(sim.port)
    assert get(sim.port, "/latest/meta-data/instance-id", t)[2] == I1.encode()
    assert get(sim.port, "/latest/meta-data/placement/availability-zone", t)[2] == b"us-west-2a"
    assert get(sim.port, "/latest/meta-data/placement/region", t)[2] == b"us-west-2"
    assert get(sim.port, "/latest/meta-data/local-ipv4", t)[2] == b"10.10.10.10"
    assert get(sim.port, "/latest/meta-data/autoscaling/target-lifecycle-state", t)[2] == b"InService"
    assert get(sim.port, "/latest/meta-data/public-ipv4", t)[0] == 404
    assert get(sim.port, "/latest/meta-data/spot/instance-action", t)[0] == 404
    assert b"ec2-nfs-role" == get(sim.port, "/latest/meta-data/iam/security-credentials/", t)[2]
    listing = get(sim.port, "/latest/meta-data/", t)[2].decode().split("\n")
    assert "instance-id" in listing and "placement/" in listing and "public-ipv4" not in listing
    assert get(sim.port, "/latest/user-data", t)[2].startswith(b"#haboot\nversion: 1")
    doc = json.loads(get(sim.port, "/latest/dynamic/instance-identity/document", t)[2])
    assert doc["region"] == "us-west-2" and doc["instanceId"] == I1


def test_imdsv2_is_enforced(sim):
    assert req(sim.port, "GET", "/latest/meta-data/instance-id")[0] == 401
    assert get(sim.port, "/latest/meta-data/instance-id", "not-a-token")[0] == 401
    assert req(sim.port, "PUT", "/latest/api/token")[0] == 400
    for bad in ("0", "21601", "abc"):
        assert req(sim.port, "PUT", "/latest/api/token",
                   {"X-aws-ec2-metadata-token-ttl-seconds": bad})[0] == 400
    assert req(sim.port, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                                                      "X-Forwarded-For": "1.2.3.4"})[0] == 403
    t = token(sim.port, "1")
    assert get(sim.port, "/latest/meta-data/instance-id", t)[0] == 200
    time.sleep(1.1)
    assert get(sim.port, "/latest/meta-data/instance-id", t)[0] == 401  # expired
    sim.client.set_instance(I1, imdsv1=True)
    assert req(sim.port, "GET", "/latest/meta-data/instance-id")[2] == I1.encode()


def test_user_data_bytes_public_ip_spot_and_lifecycle(sim):
    raw = gzip.compress(b"#haboot\nversion: 1\n")
    sim.client.set_instance(I1, user_data_b64=base64.b64encode(raw).decode(), public_ip="203.0.113.7",
                            spot_action="terminate", target_lifecycle_state="Terminated")
    t = token(sim.port)
    assert get(sim.port, "/latest/user-data", t)[2] == raw
    assert get(sim.port, "/latest/meta-data/public-ipv4", t)[2] == b"203.0.113.7"
    spot = json.loads(get(sim.port, "/latest/meta-data/spot/instance-action", t)[2])
    assert spot["action"] == "terminate" and spot["time"].endswith("Z")
    assert get(sim.port, "/latest/meta-data/autoscaling/target-lifecycle-state", t)[2] == b"Terminated"
    sim.client.seed({"instances": {I1: {"metadata": {"meta-data/local-ipv4": None}}}})
    assert get(sim.port, "/latest/meta-data/local-ipv4", t)[0] == 404
    sim.client.reset(empty=True)
    sim.client.seed({"instances": {"i-0123456789abcdef0": {}}, "imds_instance": "i-0123456789abcdef0"})
    assert get(sim.port, "/latest/user-data", token(sim.port))[0] == 404


def test_role_credentials_rotate_and_work_until_expiry(sim):
    sim.client.delays(credential_ttl=2.0, credential_rotate=0.5)
    t = token(sim.port)
    path = "/latest/meta-data/iam/security-credentials/ec2-nfs-role"
    c1 = json.loads(get(sim.port, path, t)[2])
    assert set(c1) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert c1["Code"] == "Success" and c1["Type"] == "AWS-HMAC" and c1["AccessKeyId"].startswith("ASIA")
    assert json.loads(get(sim.port, path, t)[2])["AccessKeyId"] == c1["AccessKeyId"]  # not rotated yet
    ec2 = sim.boto("ec2", key=c1["AccessKeyId"], secret=c1["SecretAccessKey"], token=c1["Token"])
    assert ec2.describe_instances()["Reservations"]
    time.sleep(0.6)
    c2 = json.loads(get(sim.port, path, t)[2])
    assert c2["AccessKeyId"] != c1["AccessKeyId"] and c2["Expiration"] >= c1["Expiration"]
    assert ec2.describe_instances()["Reservations"]  # old keys still valid until they expire
    time.sleep(1.5)
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        ec2.describe_instances()
    assert e.value.response["Error"]["Code"] == "RequestExpired"
    log = sim.client.requests(service="ec2")
    assert log[0]["role"] == "ec2-nfs-role"


def test_faults_unreachable_5xx_429(sim):
    t = token(sim.port)
    sim.client.fault("imds", "5xx", count=2, status=503)
    assert get(sim.port, "/latest/meta-data/instance-id", t)[0] == 503
    assert get(sim.port, "/latest/meta-data/instance-id", t)[0] == 503
    assert get(sim.port, "/latest/meta-data/instance-id", t)[0] == 200
    sim.client.fault("imds", "429", count=1)
    assert get(sim.port, "/latest/meta-data/instance-id", t)[0] == 429
    sim.client.fault("imds", "unreachable", seconds=0.5)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        get(sim.port, "/latest/meta-data/instance-id", t)
    time.sleep(0.6)
    assert get(sim.port, "/latest/meta-data/instance-id", t)[0] == 200


def test_standalone_imds_proxies_to_the_main_sim(sim, tmp_path):
    sim.client.seed({"instances": {"i-0bbbbbbbbbbbbbbb2": {"az": "us-west-2b", "private_ip": "10.10.10.75",
                                                           "user_data": "#haboot\nversion: 1\n"}}})
    ready = tmp_path / "imds.port"
    p = subprocess.Popen([PYTHON, "-m", "sim", "imds", "--instance", "i-0bbbbbbbbbbbbbbb2",
                          "--bind", "127.0.0.1", "--port", "0", "--control", sim.url,
                          "--ready-file", str(ready)], env=dict(os.environ, PYTHONPATH=str(TESTS)))
    try:
        end = time.time() + 10
        while not ready.exists():
            assert time.time() < end and p.poll() is None
            time.sleep(0.02)
        port = int(ready.read_text())
        status, headers, body = req(port, "PUT", "/latest/api/token",
                                    {"X-aws-ec2-metadata-token-ttl-seconds": "300"})
        assert status == 200 and headers["X-aws-ec2-metadata-token-ttl-seconds"] == "300"
        assert headers["Server"] == "EC2ws"
        t = body.decode()
        assert get(port, "/latest/meta-data/local-ipv4", t)[2] == b"10.10.10.75"
        assert get(port, "/latest/meta-data/placement/availability-zone", t)[2] == b"us-west-2b"
        assert get(port, "/latest/user-data", t)[2] == b"#haboot\nversion: 1\n"
        assert req(port, "GET", "/latest/meta-data/instance-id")[0] == 401
        assert req(port, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                                                      "X-Forwarded-For": "10.0.0.1"})[0] == 403
        sim.client.fault("imds", "unreachable", seconds=5, instance="i-0bbbbbbbbbbbbbbb2")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            get(port, "/latest/meta-data/instance-id", t)
        assert get(sim.port, "/latest/meta-data/instance-id", token(sim.port))[0] == 200  # other instance
    finally:
        p.terminate()
        assert p.wait(timeout=5) == 0
