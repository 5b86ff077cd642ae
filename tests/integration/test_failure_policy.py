"""The runner's failure policy, deadline, lifecycle hook and console report,
against the sim.  The failing module is route53, failing at its first AWS
call with nothing on this machine to undo: aimed at a zone that does not
exist (a failure every instance would repeat), or while Route53 answers
every call with 503 (this instance's failure, which a new one may not meet)."""
import time

import pytest

from hbrun import INSTANCE, calls, env_for, run_haboot
from simfixture import shared_sim

TOPIC = "arn:aws:sns:us-west-2:123456789012:nfs-autoscale"
GOOD_ZONE = "Z1G9ZB2OW5990Z"
BAD_ZONE = "Z0NOSUCHZONE00"
HOOK = "lifecycle_hook: {name: nfs-launch-hook, group: nfs-autoscaling-group}\n"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()
    sim.client.delays(route53_insync=0.3)


def route53(zone, required=None):
    text = (f"  - route53:\n      zone: {zone}\n      name: nfs.helloawsworld.com\n"
            "      value: local-ipv4\n")
    if required is not None:
        text += f"      required: {str(required).lower()}\n"
    return text


# A module after route53 (only notify and address may follow it): when it
# is skipped, EC2 hears nothing of it.
LATER = ("  - address:\n      mode: secondary-ip\n      ip: 10.10.10.50\n"
         "      subnet: 10.10.10.0/26\n")


def later_ran(sim):
    return calls(sim, "ec2", "AssignPrivateIpAddresses") != []


NOTIFY = (f"  - notify:\n      sns: {TOPIC}\n"
          "      metric: {namespace: HA/NFS, name: Healthy}\n")


def manifest(*mods, on_failure="mark-unhealthy", head=""):
    return (f"version: 1\nname: nfs\non_failure: {on_failure}\n{head}modules:\n"
            + "".join(mods))


def seq(sim, service, action):
    return [r["seq"] for r in calls(sim, service, action)]


def route53_down(sim):
    """Route53 answers every call with 503 (after the client's retries too)."""
    sim.client.fault("route53", "5xx", status=503, count=50)


def test_mark_unhealthy_replaces_the_instance_and_still_reports(sim, tmp_path):
    route53_down(sim)
    r = run_haboot(sim, tmp_path, manifest(route53(GOOD_ZONE), LATER, NOTIFY))
    assert r.rc == 1
    st = sim.client.state()
    [health] = st["asg_health"]
    assert health["instance_id"] == INSTANCE and health["health_status"] == "Unhealthy"
    [req] = calls(sim, "autoscaling", "SetInstanceHealth")
    assert req["params"]["ShouldRespectGracePeriod"] == "false"
    # The modules after the failure did not run; the report did.
    assert [m["state"] for m in r.status["modules"]] == ["failed", "skipped", "ok"]
    assert not later_ran(sim)
    [msg] = st["sns_messages"]
    assert msg["subject"] == f"haboot nfs on {INSTANCE}: FAILED at route53"
    assert msg["attributes"]["outcome"] == "failed"
    body = msg["message"]
    assert "outcome:   FAILED at route53" in body
    assert "errors:" in body and "ServiceUnavailable" in body
    assert f"failure policy: mark-unhealthy: {INSTANCE} set Unhealthy" in body
    healthy = [m for m in st["metrics"] if m["metric_name"] == "Healthy"]
    assert healthy and all(m["value"] == 0 for m in healthy)
    assert not [m for m in st["metrics"] if m["metric_name"] == "TakeoverSeconds"]
    # Replacement first: the failover budget is what the service loses.
    assert seq(sim, "autoscaling", "SetInstanceHealth")[0] < seq(sim, "sns", "Publish")[0]
    assert r.status["outcome"] == "failed"
    assert "set Unhealthy" in r.status["failure_policy"]
    assert "FAILED" in r.console and "route53" in r.console


def test_halt_stops_without_set_instance_health(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest(route53(BAD_ZONE), LATER, NOTIFY,
                                           on_failure="halt"))
    assert r.rc == 1
    assert calls(sim, "autoscaling") == []
    assert sim.client.state()["asg_health"] == []
    assert [m["state"] for m in r.status["modules"]] == ["failed", "skipped", "ok"]
    assert not later_ran(sim)
    [msg] = sim.client.state()["sns_messages"]
    assert "FAILED at route53" in msg["subject"]
    assert "failure policy: halt: stopped at route53" in msg["message"]


def unsigned_exports(tmp_path):
    """Exports of a directory whose filesystem lacks the signature file: a
    failure any new instance would repeat with the same volume."""
    (tmp_path / "srv").mkdir()
    return (f"  - exports:\n      config: {tmp_path}/haboot.exports\n"
            f"      signature: .NFSMASTER\n"
            f"      exports: [{{path: {tmp_path}/srv, clients: \"*\"}}]\n"
            f"      restart: [touch, {tmp_path}/restarted]\n")


def test_a_failure_every_instance_would_repeat_halts_instead(sim, tmp_path):
    """mark-unhealthy asks for a new instance only when one can help: a
    missing signature would stop every replacement the same way, so the group
    must not replace instances in a loop.  The operator is still told."""
    r = run_haboot(sim, tmp_path, manifest(unsigned_exports(tmp_path), NOTIFY))
    assert r.rc == 1
    assert calls(sim, "autoscaling") == []
    assert sim.client.state()["asg_health"] == []
    assert r.module("exports")["state"] == "failed"
    assert r.module("exports")["failure_scope"] == "anywhere"
    assert ".NFSMASTER" in r.module("exports")["message"]
    assert not (tmp_path / "restarted").exists()
    assert r.status["failure_policy"].startswith("halt: exports failed in a way every new "
                                                 "instance would repeat")
    [msg] = sim.client.state()["sns_messages"]
    assert "FAILED at exports" in msg["subject"]
    assert "every new instance would repeat" in msg["message"]
    healthy = [m for m in sim.client.state()["metrics"] if m["metric_name"] == "Healthy"]
    assert healthy and all(m["value"] == 0 for m in healthy)


def test_a_server_that_will_not_start_asks_for_a_new_instance(sim, tmp_path):
    """The other side of the rule: the volume is proven (signature there) but
    the NFS server will not start, which a new instance may well fix."""
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / ".NFSMASTER").touch()
    mod = (f"  - exports:\n      config: {tmp_path}/haboot.exports\n"
           f"      signature: .NFSMASTER\n"
           f"      exports: [{{path: {tmp_path}/srv, clients: \"*\"}}]\n"
           f"      restart: [\"false\"]\n")
    r = run_haboot(sim, tmp_path, manifest(mod, NOTIFY))
    assert r.rc == 1
    assert r.module("exports")["failure_scope"] == "here"
    assert "failure_scope" not in r.module("notify")
    assert [h["health_status"] for h in sim.client.state()["asg_health"]] == ["Unhealthy"]


def test_a_module_not_required_fails_with_a_warning(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest(route53(BAD_ZONE, required=False), NOTIFY))
    assert r.rc == 0, r.stderr
    assert r.status["outcome"] == "ok"
    assert r.module("route53")["state"] == "warned"
    assert calls(sim, "autoscaling") == []
    [msg] = sim.client.state()["sns_messages"]
    assert msg["subject"].endswith(": ok")
    assert "errors:" in msg["message"] and "route53:" in msg["message"]


def test_a_report_that_ran_before_the_failure_reports_it(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest(NOTIFY, route53(BAD_ZONE)))
    assert r.rc == 1
    msgs = sim.client.state()["sns_messages"]
    assert [m["attributes"]["outcome"] for m in msgs] == ["ok", "failed"]
    assert "1 module still to run" in msgs[0]["message"]
    assert r.module("notify")["state"] == "ok"


def test_a_zone_that_does_not_exist_halts_instead(sim, tmp_path):
    """A hosted zone that does not exist does not exist for any new instance
    either: mark-unhealthy halts and reports, the group is not asked."""
    r = run_haboot(sim, tmp_path, manifest(route53(BAD_ZONE), LATER, NOTIFY))
    assert r.rc == 1
    assert r.module("route53")["failure_scope"] == "anywhere"
    assert "NoSuchHostedZone" in r.module("route53")["message"]
    assert calls(sim, "autoscaling") == []
    assert r.status["failure_policy"].startswith("halt: route53 failed in a way every new "
                                                 "instance would repeat")
    [msg] = sim.client.state()["sns_messages"]
    assert "FAILED at route53" in msg["subject"]


def test_a_denied_permission_halts_instead(sim, tmp_path):
    """The instance role lacks a permission: every instance has the same role."""
    sim.client.seed({"credentials": [{"access_key": "AKIDDENIED", "secret_key": "s3cret",
                                      "deny": ["route53:ChangeResourceRecordSets"]}]})
    env = env_for(sim, tmp_path, AWS_ACCESS_KEY_ID="AKIDDENIED", AWS_SECRET_ACCESS_KEY="s3cret")
    r = run_haboot(sim, tmp_path, manifest(route53(GOOD_ZONE)), env=env)
    assert r.rc == 1
    assert r.module("route53")["failure_scope"] == "anywhere"
    assert "AccessDenied" in r.module("route53")["message"]
    assert calls(sim, "autoscaling") == []


def test_set_instance_health_refused_is_reported(sim, tmp_path):
    """An instance the group does not know: the refusal is in the report and
    the status, and the run still fails with exit 1."""
    route53_down(sim)
    r = run_haboot(sim, tmp_path, manifest(route53(GOOD_ZONE), NOTIFY),
                   "--metadata", "instance-id=i-0bbbbbbbbbbbbbbb2")
    assert r.rc == 1
    assert sim.client.state()["asg_health"] == []
    assert "SetInstanceHealth i-0bbbbbbbbbbbbbbb2 Unhealthy FAILED: ValidationError" in \
        r.status["failure_policy"]
    [msg] = sim.client.state()["sns_messages"]
    assert "Unhealthy FAILED" in msg["message"]


def test_lifecycle_hook_continue_on_success(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest(route53(GOOD_ZONE), NOTIFY, head=HOOK))
    assert r.rc == 0, r.stderr
    [act] = sim.client.state()["lifecycle_actions"]
    assert (act["hook"], act["group"], act["result"], act["instance_id"]) == \
        ("nfs-launch-hook", "nfs-autoscaling-group", "CONTINUE", INSTANCE)
    # Only once the service is up (and reported).
    assert seq(sim, "sns", "Publish")[0] < seq(sim, "autoscaling", "CompleteLifecycleAction")[0]
    assert r.status["lifecycle_hook"] == "nfs-launch-hook CONTINUE sent"


def test_lifecycle_hook_abandon_on_failure(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest(route53(BAD_ZONE), NOTIFY, head=HOOK))
    assert r.rc == 1
    [act] = sim.client.state()["lifecycle_actions"]
    assert act["result"] == "ABANDON" and act["instance_id"] == INSTANCE
    # The report goes out before ABANDON lets the group terminate the instance.
    assert seq(sim, "sns", "Publish")[0] < seq(sim, "autoscaling", "CompleteLifecycleAction")[0]
    assert "ABANDON" in r.console


def test_lifecycle_hook_unknown_is_an_error_not_a_crash(sim, tmp_path):
    head = "lifecycle_hook: {name: no-such-hook, group: nfs-autoscaling-group}\n"
    r = run_haboot(sim, tmp_path, manifest(route53(GOOD_ZONE), head=head))
    assert r.rc == 0, r.stderr
    assert "no-such-hook CONTINUE FAILED: ValidationError" in r.status["lifecycle_hook"]
    assert "heartbeat timeout" in r.stderr


def test_deadline_passed_runs_the_failure_policy(sim, tmp_path):
    """A stuck module (Route53 never INSYNC) is cut at the deadline; the group
    is told at once and the report still goes out."""
    sim.client.delays(route53_insync=300)
    t0 = time.time()
    r = run_haboot(sim, tmp_path, manifest(route53(GOOD_ZONE), LATER, NOTIFY,
                                           head="deadline: 10s\n" + HOOK))
    took = time.time() - t0
    assert r.rc == 1
    assert 9.5 <= took < 25, took
    assert r.module("route53")["message"].startswith("deadline passed")
    assert r.module("address")["state"] == "skipped" and not later_ran(sim)
    st = sim.client.state()
    assert [h["health_status"] for h in st["asg_health"]] == ["Unhealthy"]
    assert [a["result"] for a in st["lifecycle_actions"]] == ["ABANDON"]
    [msg] = st["sns_messages"]
    assert "deadline passed" in msg["message"]


def test_console_report(sim, tmp_path):
    r = run_haboot(sim, tmp_path, manifest(route53(GOOD_ZONE), NOTIFY, head=HOOK))
    assert r.rc == 0, r.stderr
    lines = r.console.splitlines()
    assert lines[0].startswith(f"haboot: nfs ok in ")
    assert f"on {INSTANCE} (us-west-2a)" in lines[0]
    assert "route53 ok" in r.console and "notify ok" in r.console
    assert "lifecycle hook: nfs-launch-hook CONTINUE sent" in r.console
    assert all(len(l) <= 100 for l in lines[:2]) and len(lines) <= 5


def test_an_unwritable_console_is_not_an_error(sim, tmp_path):
    env = env_for(sim, tmp_path, HABOOT_CONSOLE=str(tmp_path / "no" / "such" / "dir" / "c"))
    r = run_haboot(sim, tmp_path, manifest(route53(GOOD_ZONE)), env=env)
    assert r.rc == 0, r.stderr
    assert " error " not in r.stderr and " warn " not in r.stderr
