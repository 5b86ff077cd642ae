"""The static binary's TLS: mbed TLS under its own libcurl, not the dynamic
build's (test_aws_client.py covers that one).  What goes into an AMI must
verify servers just as strictly: an unknown CA is refused before a byte is
sent, AWS_CA_BUNDLE is honoured, a certificate for another host name is
refused, and the system CA bundle loads (a refusal names the certificate, not
an unreadable bundle).  Servers are local, on loopback, named "localhost"
(mbed TLS 2.28 checks names, not IP addresses: README)."""
import os
import subprocess

import pytest

from test_aws_client import _cert, _tls_capture, oracle_env

STATIC = os.environ.get("HABOOT_STATIC")

pytestmark = pytest.mark.skipif(not STATIC, reason="HABOOT_STATIC not set (make check sets it)")


def static(*args, env):
    return subprocess.run([STATIC, *args], capture_output=True, text=True, timeout=60, env=env)


def tls_env(port):
    env = oracle_env(f"https://localhost:{port}", None)
    env.pop("HABOOT_SIGV4_FIXED_DATE")
    env.pop("AWS_CA_BUNDLE", None)
    return env


def test_static_binary_verifies_tls_and_honours_aws_ca_bundle(tmp_path):
    key, crt = _cert(tmp_path, "localhost", "DNS:localhost")
    srv = _tls_capture(key, crt)
    try:
        env = tls_env(srv.server_address[1])
        r = static("aws", "ec2", "DescribeInstances", env=env)
        assert r.returncode == 3, r.stderr
        assert "server certificate not verified" in r.stderr and "AWS_CA_BUNDLE" in r.stderr, \
            r.stderr
        assert "bundle unreadable" not in r.stderr, r.stderr
        assert srv.seen == []  # nothing was sent over an unverified connection
        r = static("aws", "ec2", "DescribeInstances", env=dict(env, AWS_CA_BUNDLE=str(crt)))
        assert r.returncode == 0, r.stderr
        assert len(srv.seen) == 1
    finally:
        srv.shutdown()


def test_static_binary_refuses_a_certificate_for_another_host(tmp_path):
    key, crt = _cert(tmp_path, "elsewhere", "DNS:elsewhere.example")
    srv = _tls_capture(key, crt)
    try:
        env = dict(tls_env(srv.server_address[1]), AWS_CA_BUNDLE=str(crt))
        r = static("aws", "ec2", "DescribeInstances", env=env)
        assert r.returncode != 0
        assert "server certificate not verified" in r.stderr, r.stderr
        assert srv.seen == []
    finally:
        srv.shutdown()
