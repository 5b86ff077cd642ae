"""haboot's IMDSv2 client against the sim: token reuse, 401 refresh, 403 stop,
retries under a deadline, user-data (404, gzip, not ours) and the IMDSv1 switch.

Every run points AWS_EC2_METADATA_SERVICE_ENDPOINT at the sim on 127.0.0.1, so
nothing here can reach 169.254.169.254.
"""
import base64
import gzip
import os
import subprocess
import time

import pytest

from simfixture import shared_sim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot"))
I1 = "i-0aaaaaaaaaaaaaaa1"
TOKEN_PATH = "/latest/api/token"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()  # state, faults and the request log


def env_for(sim, **extra):
    """Only the sim: no inherited AWS_* settings, no proxies."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and "proxy" not in k.lower()}
    env.update(sim.env())
    env.pop("AWS_EC2_METADATA_DISABLED")  # these tests are about IMDS
    env.update(extra)
    return env


def haboot(sim, *args, env=None, timeout=90):
    t0 = time.monotonic()
    r = subprocess.run([HABOOT, *args], capture_output=True, text=True, timeout=timeout,
                       env=env or env_for(sim))
    r.elapsed = time.monotonic() - t0
    return r


def imds_log(sim):
    return [r for r in sim.client.requests(service="imds")]


def test_one_token_reused_across_many_reads(sim):
    """plan without -f reads user-data and several facts with a single token."""
    r = haboot(sim, "plan")
    assert r.returncode == 0, r.stderr
    assert 'plan for service "nfs"' in r.stdout
    assert f"{I1}  (imds)" in r.stdout
    assert "us-west-2a  (imds)" in r.stdout
    assert "10.10.10.10  (imds)" in r.stdout
    assert "(default)" not in r.stdout  # live metadata, no offline defaults
    log = imds_log(sim)
    puts = [e for e in log if e["method"] == "PUT"]
    gets = [e for e in log if e["method"] == "GET"]
    assert len(puts) == 1 and puts[0]["action"] == TOKEN_PATH and puts[0]["status"] == 200
    assert len(gets) >= 5
    assert all(e["status"] == 200 for e in gets), gets
    assert log[0]["method"] == "PUT"  # the token comes first, no tokenless probe


def test_value_printed_and_404_is_not_found(sim):
    r = haboot(sim, "imds", "placement/availability-zone")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "us-west-2a\n"
    r = haboot(sim, "imds", "public-ipv4")
    assert r.returncode == 1
    assert "IMDS has no /latest/meta-data/public-ipv4 (HTTP 404)" in r.stderr
    # 404 is an answer, not an outage: no retry.
    assert len([e for e in imds_log(sim) if e["action"].endswith("public-ipv4")]) == 1


def test_401_fetches_one_new_token(sim):
    sim.client.fault("imds", "error", action="/latest/meta-data/instance-id", count=1, status=401)
    r = haboot(sim, "imds", "instance-id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == I1
    log = imds_log(sim)
    assert [e["method"] for e in log] == ["PUT", "GET", "PUT", "GET"]
    assert [e["status"] for e in log] == [200, 401, 200, 200]


def test_401_twice_stops(sim):
    sim.client.fault("imds", "error", action="/latest/meta-data/instance-id", count=5, status=401)
    r = haboot(sim, "imds", "instance-id")
    assert r.returncode == 3
    assert "rejected a fresh session token (HTTP 401" in r.stderr
    assert len([e for e in imds_log(sim) if e["method"] == "PUT"]) == 2


def test_403_stops_at_once(sim):
    sim.client.fault("imds", "error", action="/latest/meta-data/instance-id", count=10, status=403)
    r = haboot(sim, "imds", "instance-id")
    assert r.returncode == 3
    assert "HTTP 403 Forbidden" in r.stderr and "http-endpoint enabled" in r.stderr
    gets = [e for e in imds_log(sim) if e["method"] == "GET"]
    assert len(gets) == 1
    assert r.elapsed < 5


def test_5xx_and_429_bursts_are_retried(sim):
    sim.client.fault("imds", "5xx", action="/latest/meta-data/local-ipv4", count=2, status=503)
    sim.client.fault("imds", "429", action="/latest/meta-data/local-ipv4", count=2)
    sim.client.fault("imds", "5xx", action=TOKEN_PATH, count=1, status=500)
    r = haboot(sim, "imds", "local-ipv4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "10.10.10.10"
    log = imds_log(sim)
    assert [e["status"] for e in log if e["method"] == "PUT"] == [500, 200]
    assert [e["status"] for e in log if e["method"] == "GET"] == [503, 503, 429, 429, 200]


def test_unreachable_for_seconds_then_answers(sim):
    """At boot IMDS may not answer for a while: haboot waits, says so, then reads."""
    sim.client.fault("imds", "unreachable", seconds=6)
    r = haboot(sim, "imds", "instance-id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == I1
    assert r.elapsed >= 5.5
    assert "not answering yet" in r.stderr  # a progress line on a long wait
    dropped = [e for e in imds_log(sim) if e.get("error") == "dropped"]
    assert 3 <= len(dropped) <= 40  # backed off, not a busy loop


def test_a_request_that_hangs_times_out_and_is_retried(sim):
    """A connection IMDS accepts but never answers costs one short timeout."""
    sim.client.fault("imds", "unreachable", count=1, mode="hang", delay=8)
    r = haboot(sim, "imds", "instance-id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == I1
    assert 2.5 <= r.elapsed < 10


def test_deadline_exceeded_is_exit_3_with_a_clear_message(sim):
    sim.client.fault("imds", "unreachable", seconds=60)
    r = haboot(sim, "imds", "--imds-timeout", "2s", "instance-id")
    assert r.returncode == 3
    assert "did not answer /latest/meta-data/instance-id within 2s" in r.stderr
    assert "Empty reply from server" in r.stderr  # the last error, for the operator
    assert "AWS_EC2_METADATA_SERVICE_ENDPOINT" in r.stderr
    assert 1.5 <= r.elapsed < 8
    r = haboot(sim, "run", "--imds-timeout", "2s", "--status-file", "/dev/null")
    assert r.returncode == 3
    assert "cannot read the manifest from user-data" in r.stderr
    assert "within 2s" in r.stderr


def test_user_data_404_is_no_manifest(sim):
    sim.client.seed({"instances": {I1: {"metadata": {"user-data": None}}}})
    for cmd in ("plan", "run"):
        r = haboot(sim, cmd, "--status-file", "/dev/null") if cmd == "run" else haboot(sim, cmd)
        assert r.returncode == 3, r.stderr
        assert "no manifest in user-data" in r.stderr
        assert "404" in r.stderr and f"give the manifest as a FILE (haboot {cmd} FILE)" in r.stderr
    r = haboot(sim, "imds", "--user-data")
    assert r.returncode == 1


def test_user_data_of_another_tool_is_no_manifest(sim):
    sim.client.set_instance(I1, user_data="#!/bin/bash\necho hello\n")
    r = haboot(sim, "plan")
    assert r.returncode == 3
    assert "no manifest in user-data" in r.stderr and '"#haboot"' in r.stderr


def test_gzipped_user_data(sim):
    text = ("#haboot\nversion: 1\nname: gz\nmodules:\n"
            "  - notify:\n      sns: arn:aws:sns:us-west-2:123456789012:nfs-autoscale\n")
    raw = gzip.compress(text.encode())
    sim.client.set_instance(I1, user_data_b64=base64.b64encode(raw).decode())
    r = haboot(sim, "plan")
    assert r.returncode == 0, r.stderr
    assert 'plan for service "gz"' in r.stdout
    r = haboot(sim, "imds", "--user-data")
    assert r.returncode == 0
    assert r.stdout == text


def test_invalid_user_data_manifest_is_exit_2_with_position(sim):
    sim.client.set_instance(I1, user_data="#haboot\nversion: 1\nname: x\nmodules:\n  - nosuch: {}\n")
    r = haboot(sim, "plan")
    assert r.returncode == 2
    assert "user-data:5:" in r.stderr and "unknown module" in r.stderr


def test_imdsv1_fallback_is_off_by_default(sim):
    """An IMDS that issues no token: haboot refuses unless --imdsv1 allows it."""
    sim.client.set_instance(I1, imdsv1=True)
    sim.client.fault("imds", "error", action=TOKEN_PATH, seconds=60, status=404)
    r = haboot(sim, "imds", "instance-id")
    assert r.returncode == 3
    assert "issued no session token" in r.stderr and "--imdsv1" in r.stderr
    assert [e["method"] for e in imds_log(sim)] == ["PUT"]  # never a tokenless GET
    sim.client.clear_requests()
    r = haboot(sim, "imds", "--imdsv1", "instance-id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == I1
    assert "using IMDSv1" in r.stderr
    assert [(e["method"], e["status"]) for e in imds_log(sim)] == [("PUT", 404), ("GET", 200)]


def test_disabled_by_environment(sim):
    r = haboot(sim, "imds", "instance-id", env=env_for(sim, AWS_EC2_METADATA_DISABLED="true"))
    assert r.returncode == 3
    assert "AWS_EC2_METADATA_DISABLED" in r.stderr
    assert imds_log(sim) == []


def test_role_credentials_are_shown_redacted(sim):
    r = haboot(sim, "imds", "iam/security-credentials/")
    assert r.returncode == 0 and r.stdout.strip() == "ec2-nfs-role"
    r = haboot(sim, "imds", "iam/security-credentials/ec2-nfs-role")
    assert r.returncode == 0, r.stderr
    assert '"AccessKeyId":"ASIA' in r.stdout.replace(" ", "")
    assert r.stdout.count("(redacted)") == 2
    assert "IQoJ" not in r.stdout  # the sim's session tokens start so


def test_token_never_logged(sim):
    r = haboot(sim, "-v", "imds", "instance-id")
    assert r.returncode == 0
    assert "PUT /latest/api/token: HTTP 200" in r.stderr
    assert "AQAEA" not in r.stderr  # the sim's tokens start so
    assert "X-aws-ec2-metadata-token:" not in r.stderr


def test_endpoint_settings_are_checked(sim):
    r = haboot(sim, "imds", "instance-id",
               env=env_for(sim, AWS_EC2_METADATA_SERVICE_ENDPOINT="",
                           AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE="IPv5"))
    assert r.returncode == 3
    assert "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv5: use IPv4 or IPv6" in r.stderr
    r = haboot(sim, "imds", "instance-id",
               env=env_for(sim, AWS_EC2_METADATA_SERVICE_ENDPOINT="169.254.169.254"))
    assert r.returncode == 3
    assert "not an http:// or https:// URL" in r.stderr
    # The endpoint variable wins over the mode, trailing slash and all.
    r = haboot(sim, "imds", "instance-id",
               env=env_for(sim, AWS_EC2_METADATA_SERVICE_ENDPOINT=sim.url + "/",
                           AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE="IPv6"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == I1
    assert imds_log(sim) != []
