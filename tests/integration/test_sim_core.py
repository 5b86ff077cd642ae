"""The sim process and its contract: start, ready file, SigV4 checks, control API, SIGTERM."""
import http.client
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from simfixture import PYTHON, STATIC_KEY, STATIC_SECRET, TESTS, shared_sim

I1 = "i-0aaaaaaaaaaaaaaa1"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()


def code(e):
    return e.value.response["Error"]["Code"]


def signed(port, service, body, key=STATIC_KEY, secret=STATIC_SECRET, token=None,
           date="20260101T000000Z", path="/", method="POST"):
    """A request signed by botocore with a fixed date, as haboot's C signer is tested."""
    url = f"http://127.0.0.1:{port}{path}"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "X-Amz-Date": date}
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    req.context["timestamp"] = date
    if token:
        req.headers["X-Amz-Security-Token"] = token
    auth = SigV4Auth(Credentials(key, secret, token), service, "us-west-2")
    cr = auth.canonical_request(req)
    sig = auth.signature(auth.string_to_sign(req, cr), req)
    hdrs = dict(req.headers)
    hdrs["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{date[:8]}/us-west-2/{service}/aws4_request, "
                             f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(req))}, Signature={sig}")
    return hdrs


def post(port, headers, body, path="/", method="POST"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.read().decode()


BODY = "Action=DescribeVolumes&Version=2016-11-15"


def test_fixed_date_signature_is_accepted_and_tampering_is_not(sim):
    h = signed(sim.port, "ec2", BODY)
    status, text = post(sim.port, h, BODY)
    assert status == 200 and "<volumeSet>" in text
    status, text = post(sim.port, h, BODY + "&VolumeId.1=vol-073769c7")  # body changed after signing
    assert status == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in text and "<Response><Errors>" in text
    bad = dict(h, Authorization=h["Authorization"][:-4] + "0000")
    status, text = post(sim.port, bad, BODY)
    assert status == 403 and "SignatureDoesNotMatch" in text
    log = sim.client.requests(service="ec2")
    assert [r["signature_ok"] for r in log] == [True, False, False]


def test_credential_errors_per_protocol(sim):
    status, text = post(sim.port, signed(sim.port, "ec2", BODY, key="AKIDUNKNOWN"), BODY)
    assert status == 401 and "<Code>AuthFailure</Code>" in text
    body = "Action=Publish&Version=2010-03-31&TopicArn=x&Message=m"
    status, text = post(sim.port, signed(sim.port, "sns", body, key="AKIDUNKNOWN"), body)
    assert status == 403 and "<Code>InvalidClientTokenId</Code>" in text
    assert "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">" in text
    assert "<Type>Sender</Type>" in text
    status, text = post(sim.port, signed(sim.port, "sns", body, secret="wrong"), body)
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text


def test_wrong_secret_through_botocore(sim):
    with pytest.raises(ClientError) as e:
        sim.boto("route53", secret="not-the-secret").get_hosted_zone(Id="Z1G9ZB2OW5990Z")
    assert code(e) == "SignatureDoesNotMatch"
    assert e.value.response["Error"]["Message"].startswith("The request signature we calculated")


def test_temporary_credentials_token_and_expiry(sim):
    sim.client.seed({"credentials": [
        {"access_key": "ASIATEMPEXAMPLE00001", "secret_key": "tmp-secret", "session_token": "tok-1",
         "expiration": "2099-01-01T00:00:00Z"},
        {"access_key": "ASIAOLDEXAMPLE000002", "secret_key": "old-secret", "session_token": "tok-2",
         "expiration": "2020-01-01T00:00:00Z"}]})
    ok = sim.boto("sns", key="ASIATEMPEXAMPLE00001", secret="tmp-secret", token="tok-1")
    sim.client.seed({"topics": ["arn:aws:sns:us-west-2:123456789012:t"]})
    assert ok.publish(TopicArn="arn:aws:sns:us-west-2:123456789012:t", Message="m")["MessageId"]
    with pytest.raises(ClientError) as e:
        sim.boto("sns", key="ASIATEMPEXAMPLE00001", secret="tmp-secret", token="tok-X").publish(
            TopicArn="arn:aws:sns:us-west-2:123456789012:t", Message="m")
    assert code(e) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:
        sim.boto("sns", key="ASIAOLDEXAMPLE000002", secret="old-secret", token="tok-2").publish(
            TopicArn="arn:aws:sns:us-west-2:123456789012:t", Message="m")
    assert code(e) == "ExpiredToken"
    with pytest.raises(ClientError) as e:
        sim.boto("ec2", key="ASIAOLDEXAMPLE000002", secret="old-secret", token="tok-2").describe_volumes()
    assert code(e) == "RequestExpired"


def test_clock_skew_check_is_opt_in(sim):
    h = signed(sim.port, "ec2", BODY, date="20200101T000000Z")
    assert post(sim.port, h, BODY)[0] == 200
    sim.client.options(max_clock_skew=900)
    status, text = post(sim.port, h, BODY)
    assert status == 400 and "RequestExpired" in text


def test_keep_alive_serves_many_requests_on_one_connection(sim):
    c = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    for _ in range(3):
        c.request("POST", "/", body=BODY, headers=signed(sim.port, "ec2", BODY))
        r = c.getresponse()
        assert r.status == 200 and r.read()
        c.request("GET", "/_sim/health")
        assert json.loads(c.getresponse().read()) == {"ok": True}
    c.close()


def test_control_api_rejects_typos_and_unknown_routes(sim):
    for path, doc in (("/_sim/seed", {"volumez": {}}), ("/_sim/delays", {"atach": 1}),
                      ("/_sim/faults", {"service": "ec2", "kind": "explode"}),
                      ("/_sim/seed", {"volumes": {"vol-1": {"sise": 3}}})):
        req = urllib.request.Request(sim.url + path, data=json.dumps(doc).encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(sim.url + "/_sim/nothing", timeout=5)
    assert e.value.code == 404


def test_state_and_reset(sim):
    st = sim.client.state()
    assert st["instances"][I1]["private_ip"] == "10.10.10.10"
    assert st["zones"]["Z1G9ZB2OW5990Z"]["name"] == "helloawsworld.com."
    assert "secret_key" not in json.dumps(st["credentials"])  # never leak secrets in dumps
    sim.client.reset(empty=True)
    assert sim.client.state()["instances"] == {}
    sim.client.reset()
    assert I1 in sim.client.state()["instances"]


def test_ready_file_then_sigterm_exits_cleanly(tmp_path):
    ready = tmp_path / "port"
    p = subprocess.Popen([PYTHON, "-m", "sim", "serve", "--bind", "127.0.0.1", "--port", "0",
                          "--ready-file", str(ready)], env=dict(os.environ, PYTHONPATH=str(TESTS)))
    try:
        end = time.time() + 15
        while not ready.exists():
            assert time.time() < end and p.poll() is None
            time.sleep(0.02)
        text = ready.read_text()
        assert text.endswith("\n") and int(text) > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{int(text)}/_sim/health", timeout=5) as r:
            assert r.status == 200
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=5) == 0
    finally:
        if p.poll() is None:
            p.kill()
