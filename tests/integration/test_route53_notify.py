"""route53 and notify against the sim: the DNS takeover and the run report."""
import threading
import time

import pytest

from hbrun import (INSTANCE, calls, finish, mutating_route53, record, run_haboot,
                   start_haboot)
from simfixture import shared_sim

ZONE = "Z1G9ZB2OW5990Z"
NAME = "nfs.helloawsworld.com"
TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()
    sim.client.delays(route53_insync=0.6)


def manifest(zone=ZONE, extra="", notify=True, r53=True):
    text = "version: 1\nname: nfs\nmodules:\n"
    if r53:
        text += (f"  - route53:\n      zone: {zone}\n      name: {NAME}\n      ttl: 60\n"
                 f"      value: local-ipv4\n      wait: insync\n{extra}")
    if notify:
        text += (f"  - notify:\n      sns: {TOPIC}\n"
                 "      metric: {namespace: HA/NFS, name: Healthy}\n")
    return text


def seed_record(sim, value, ttl=300, name=NAME):
    sim.client.seed({"zones": {ZONE: {"name": "helloawsworld.com", "records": [
        {"name": name, "type": "A", "ttl": ttl, "values": [value]}]}}})


# ---- route53 ---------------------------------------------------------------

def test_first_run_creates_the_record_and_waits_for_insync(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest(notify=False))
    assert r.rc == 0, r.stderr
    rec = record(sim, ZONE, NAME)
    assert rec["values"] == ["10.10.10.10"] and rec["ttl"] == 60
    [change] = mutating_route53(sim)
    assert "<Action>CREATE</Action>" in change["params"]["body"]
    assert "<Action>DELETE</Action>" not in change["params"]["body"]
    # It kept polling until the change really was INSYNC, not just once.
    cid = r.status["facts"]["route53.change_id"]
    ch = sim.client.state()["changes"][cid]
    polls = calls(sim, "route53", "GetChange")
    assert len(polls) >= 2
    assert polls[-1]["time"] >= ch["insync_at"]
    assert r.module("route53")["changed"] is True
    assert r.status["facts"]["route53.value"] == "10.10.10.10"


def test_re_run_makes_no_mutating_call(sim, tmp_path):
    assert run_haboot(sim, tmp_path, manifest(notify=False)).rc == 0
    sim.client.clear_requests()
    r = run_haboot(sim, tmp_path, manifest(notify=False))
    assert r.rc == 0, r.stderr
    assert mutating_route53(sim) == []
    assert calls(sim, "route53", "GetChange") == []
    assert r.module("route53")["changed"] is False
    assert "nothing to do" in r.module("route53")["message"]


def test_names_compare_case_insensitively_with_the_trailing_dot(sim, tmp_path):
    seed_record(sim, "10.10.10.10", ttl=60)
    text = manifest(notify=False).replace(f"name: {NAME}", "name: NFS.HelloAWSWorld.com.")
    r = run_haboot(sim, tmp_path, text)
    assert r.rc == 0, r.stderr
    assert mutating_route53(sim) == []


def test_a_record_of_someone_else_is_swapped_exactly(sim, tmp_path):
    seed_record(sim, "10.0.0.5", ttl=300)
    r = run_haboot(sim, tmp_path, manifest(notify=False))
    assert r.rc == 0, r.stderr
    [change] = mutating_route53(sim)
    body = change["params"]["body"]
    # One batch: the old record exactly as read goes, ours comes.
    assert body.index("<Action>DELETE</Action>") < body.index("<Action>CREATE</Action>")
    assert "<TTL>300</TTL>" in body and "<Value>10.0.0.5</Value>" in body
    assert record(sim, ZONE, NAME)["values"] == ["10.10.10.10"]


def test_a_different_ttl_alone_is_a_change(sim, tmp_path):
    seed_record(sim, "10.10.10.10", ttl=300)
    r = run_haboot(sim, tmp_path, manifest(notify=False))
    assert r.rc == 0, r.stderr
    assert len(mutating_route53(sim)) == 1
    assert record(sim, ZONE, NAME)["ttl"] == 60


@pytest.mark.parametrize("error_form", ["errorresponse", "messages"])
def test_record_changed_between_read_and_write_is_read_again(sim, tmp_path, error_form):
    """Someone moves the name after haboot read it: the swap's DELETE no longer
    matches, Route53 refuses the whole batch, haboot reads again and swaps what
    is there now.  The sim holds the first change 1.5 s, and the test moves the
    record in that window, right after haboot's read."""
    sim.client.options(route53_error_form=error_form)
    seed_record(sim, "10.0.0.5")
    sim.client.fault("route53", "slow", action="ChangeResourceRecordSets", count=1, delay=1.5)
    proc = start_haboot(sim, tmp_path, manifest(notify=False))
    end = time.time() + 20
    while not calls(sim, "route53", "ListResourceRecordSets"):
        assert time.time() < end and proc.poll() is None, "haboot never read the record"
        time.sleep(0.02)
    seed_record(sim, "10.0.0.6", ttl=120)
    r = finish(proc, tmp_path)
    assert r.rc == 0, r.stderr
    changes = mutating_route53(sim)
    assert [c["status"] for c in changes] == [400, 200]
    assert changes[0]["error"] == "InvalidChangeBatch"
    assert "<Value>10.0.0.5</Value>" in changes[0]["params"]["body"]
    # The second batch deletes what the other writer left, not what was first read.
    assert "<Value>10.0.0.6</Value>" in changes[1]["params"]["body"]
    assert "<TTL>120</TTL>" in changes[1]["params"]["body"]
    assert len(calls(sim, "route53", "ListResourceRecordSets")) == 2
    assert "refused the batch (try 1 of 3" in r.stderr
    assert "changed between our read and our write: it now holds 10.0.0.6" in r.stderr
    assert record(sim, ZONE, NAME)["values"] == ["10.10.10.10"]


def test_a_batch_refused_for_another_reason_is_not_retried(sim, tmp_path):
    """Refused while nothing moved: not a race, so no second try."""
    sim.client.fault("route53", "error", action="ChangeResourceRecordSets", count=5,
                     code="InvalidChangeBatch", message="[RRSet refused by policy]", status=400)
    r = run_haboot(sim, tmp_path, manifest(notify=False))
    assert r.rc == 1
    assert len(mutating_route53(sim)) == 1, r.stderr
    assert "refused by policy" in r.module("route53")["message"]
    assert "changed between our read and our write" not in r.stderr


def test_someone_keeps_writing_the_record_gives_up_after_three_tries(sim, tmp_path):
    seed_record(sim, "10.0.0.5")
    sim.client.fault("route53", "slow", action="ChangeResourceRecordSets", count=3, delay=0.7)
    proc = start_haboot(sim, tmp_path, manifest(notify=False))
    stop = threading.Event()

    def rival():  # another writer that moves the record after every read of ours
        seen, n = 0, 0
        while not stop.is_set():
            reads = len(calls(sim, "route53", "ListResourceRecordSets"))
            if reads > seen:
                seen, n = reads, n + 1
                seed_record(sim, f"10.0.1.{n}")
            time.sleep(0.02)
    t = threading.Thread(target=rival)
    t.start()
    try:
        r = finish(proc, tmp_path)
    finally:
        stop.set()
        t.join()
    assert r.rc == 1
    assert len(mutating_route53(sim)) == 3
    assert "changed under haboot 3 times" in r.module("route53")["message"]


def test_upsert_mode_sends_upsert(sim, tmp_path):
    seed_record(sim, "10.0.0.5")
    r = run_haboot(sim, tmp_path, manifest(extra="      mode: upsert\n", notify=False))
    assert r.rc == 0, r.stderr
    [change] = mutating_route53(sim)
    assert "<Action>UPSERT</Action>" in change["params"]["body"]
    assert "<Action>DELETE</Action>" not in change["params"]["body"]
    assert record(sim, ZONE, NAME)["values"] == ["10.10.10.10"]


def test_wait_none_does_not_poll(sim, tmp_path):
    text = manifest(notify=False).replace("wait: insync", "wait: none")
    r = run_haboot(sim, tmp_path, text)
    assert r.rc == 0, r.stderr
    assert calls(sim, "route53", "GetChange") == []


def test_aaaa_record_with_a_literal_address(sim, tmp_path):
    text = manifest(notify=False).replace("value: local-ipv4", "type: AAAA\n      value: 2001:db8::10")
    r = run_haboot(sim, tmp_path, text)
    assert r.rc == 0, r.stderr
    assert record(sim, ZONE, NAME, "AAAA")["values"] == ["2001:db8::10"]
    assert record(sim, ZONE, NAME, "A") is None


def test_unknown_metadata_address_fails_before_any_change(sim, tmp_path):
    text = manifest(notify=False).replace("value: local-ipv4", "value: public-ipv4")
    r = run_haboot(sim, tmp_path, text)
    assert r.rc == 1
    assert "public-ipv4 is unknown" in r.module("route53")["message"]
    assert mutating_route53(sim) == []


def test_zone_by_name(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest(zone="HelloAWSWorld.com", notify=False))
    assert r.rc == 0, r.stderr
    assert calls(sim, "route53", "ListHostedZonesByName")
    assert record(sim, ZONE, NAME)["values"] == ["10.10.10.10"]
    # Other zones sorting next to it do not count as matches.
    sim.client.seed({"zones": {"ZSUB0000000001": {"name": "sub.helloawsworld.com"},
                               "ZOTHER00000001": {"name": "helloawsworld.net"}}})
    sim.client.clear_requests()
    r = run_haboot(sim, tmp_path, manifest(zone="helloawsworld.com", notify=False))
    assert r.rc == 0, r.stderr


def test_zone_name_matching_two_zones_names_them(sim, tmp_path):
    sim.client.seed({"zones": {"ZPRIVATE000001": {"name": "helloawsworld.com", "private": True}}})
    r = run_haboot(sim, tmp_path, manifest(zone="helloawsworld.com", notify=False))
    assert r.rc == 1
    msg = r.module("route53")["message"]
    assert ZONE in msg and "ZPRIVATE000001" in msg
    assert "(private)" in msg and "(public)" in msg and "split-horizon" in msg
    assert mutating_route53(sim) == []


def test_zone_name_with_no_zone(sim, tmp_path):
    text = manifest(zone="example.org", notify=False).replace(NAME, "nfs.example.org")
    r = run_haboot(sim, tmp_path, text)
    assert r.rc == 1
    assert "no hosted zone named example.org." in r.module("route53")["message"]


def test_deadline_bounds_the_insync_wait(sim, tmp_path):
    """A slow INSYNC cannot hold the run past its deadline."""
    sim.client.delays(route53_insync=120)
    t0 = time.time()
    r = run_haboot(sim, tmp_path, "deadline: 10s\n" + manifest(notify=False))
    took = time.time() - t0
    assert r.rc == 1
    assert 9 <= took < 20, took
    assert r.module("route53")["message"].startswith("deadline passed")


# ---- notify ----------------------------------------------------------------

def test_report_and_metrics_after_a_good_run(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest())
    assert r.rc == 0, r.stderr
    st = sim.client.state()
    [msg] = st["sns_messages"]
    assert msg["topic_arn"] == TOPIC
    assert msg["subject"] == f"haboot nfs on {INSTANCE}: ok"
    body = msg["message"]
    for want in ("service:   nfs", INSTANCE, "us-west-2a", "outcome:   ok",
                 "previous volume holder:", "route53", "10.10.10.10"):
        assert want in body, body
    assert msg["attributes"] == {"service": "nfs", "instance": INSTANCE, "outcome": "ok"}
    healthy = [m for m in st["metrics"] if m["metric_name"] == "Healthy"]
    assert {"Service": "nfs", "InstanceId": INSTANCE} in [m["dimensions"] for m in healthy]
    assert all(m["value"] == 1 and m["namespace"] == "HA/NFS" for m in healthy)
    took = [m for m in st["metrics"] if m["metric_name"] == "TakeoverSeconds"
            and m["dimensions"] == {"Service": "nfs", "InstanceId": INSTANCE}]
    assert len(took) == 1 and took[0]["unit"] == "Seconds"
    # The takeover includes the INSYNC wait (0.6 s in the sim).
    assert 0.5 <= took[0]["value"] < 30


def test_subject_stays_under_100_characters(sim, tmp_path):
    """The longest service name, failing: SNS would refuse a subject of 100."""
    long = "s" + "x" * 62
    text = manifest(zone="Z0NOSUCHZONE00").replace("name: nfs", f"name: {long}")
    r = run_haboot(sim, tmp_path, text)
    assert r.rc == 1
    [msg] = sim.client.state()["sns_messages"]
    # The name is shortened; the outcome is what a reader needs.
    assert msg["subject"].endswith(f"... on {INSTANCE}: FAILED at route53")
    assert msg["subject"].startswith("haboot sxxx")
    assert len(msg["subject"]) < 100


def test_sns_down_is_a_warning_and_the_service_stays_healthy(sim, tmp_path):
    sim.client.fault("sns", "5xx", action="Publish", count=10, status=503)
    r = run_haboot(sim, tmp_path, manifest())
    assert r.rc == 0, r.stderr
    assert r.status["outcome"] == "ok"
    assert r.module("notify")["state"] == "warned"
    assert "report not published" in r.module("notify")["message"]
    assert " warn  notify: failed, but the module is not required" in r.stderr
    # Retried up to the client's limit, no further.
    assert len(calls(sim, "sns", "Publish")) == 3
    st = sim.client.state()
    assert st["sns_messages"] == []
    # The metric still says healthy: the service is.
    assert any(m["metric_name"] == "Healthy" and m["value"] == 1 for m in st["metrics"])


def test_notify_marked_required_fails_the_run(sim, tmp_path):
    sim.client.fault("sns", "5xx", action="Publish", count=10)
    text = manifest() + "      required: true\n"
    r = run_haboot(sim, tmp_path, text)
    assert r.rc == 1
    assert r.module("notify")["state"] == "failed"


def test_dns_waits_for_the_export(sim, tmp_path):
    """Invariant 8: an export that failed, even one marked required: false,
    keeps the name where it is: route53 fails and changes nothing."""
    seed_record(sim, "10.10.10.99", ttl=60)
    text = manifest(notify=False).replace("modules:\n", (
        "modules:\n  - exports:\n      required: false\n      server: ganesha\n"
        f"      config: {tmp_path}/haboot.conf\n      restart: [/bin/false]\n"
        "      check: {host: 127.0.0.1, port: 2, timeout: 1s}\n"
        f"      exports: [{{path: {tmp_path}, clients: '*'}}]\n"), 1)
    r = run_haboot(sim, tmp_path, text)
    assert r.rc == 1, r.stderr
    assert r.module("exports")["state"] == "warned"
    assert r.module("route53")["state"] == "failed"
    assert "invariant 8" in r.module("route53")["message"]
    assert mutating_route53(sim) == []
    assert record(sim, ZONE, NAME)["values"] == ["10.10.10.99"]
