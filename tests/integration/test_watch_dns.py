"""haboot watch and the DNS name (watchworld: the whole instance): someone
points the name elsewhere; the route53 check sees it, and its repair points
it back here, as run does (the atomic swap), after the modules before it
were checked afresh (the volume asked about in EC2 again, not from a kept
answer).

Needs root, util-linux, e2fsprogs, nfs-ganesha and libnfs-utils.
"""
import os

import pytest

from nfsfixture import missing_tools
from simfixture import shared_sim
from watchworld import ADDR, NAME, ZONE, World, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loop devices, namespaces)"),
    pytest.mark.skipif(bool(missing_tools("ganesha.nfsd", "nfs-cat", "losetup", "unshare",
                                          "nsenter", "mkfs.ext4")),
                       reason="needs nfs-ganesha, libnfs-utils, util-linux, e2fsprogs"),
]


def record(w):
    z = w.c.state()["zones"][ZONE]
    return next(r for r in z["records"] if r["name"] == NAME + "." and r["type"] == "A")


def test_a_name_pointed_elsewhere_is_pointed_here_again(tmp_path, tmp_path_factory):
    w = World(tmp_path, shared_sim(tmp_path_factory),
              watch="interval: 1s, failures: 2, restarts: 2, backoff: 0s, heartbeat: 5s, "
                    "api_interval: 1m")
    try:
        w.run()
        w.start_watch()
        w.wait_state("healthy", 60)
        r53 = w.sim.boto("route53")
        r53.change_resource_record_sets(HostedZoneId=ZONE, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {
                "Name": NAME, "Type": "A", "TTL": 60,
                "ResourceRecords": [{"Value": "10.10.10.99"}]}}]})
        seq = w.calls("route53", "ChangeResourceRecordSets")[-1]["seq"]
        # api_interval is a minute: the watcher looks again once its slot comes,
        # so restart it to look now (a fresh watcher asks at its first round).
        assert w.stop_watch() == 0
        w.start_watch()
        wait_for(lambda: w.module("route53").get("restarts_total") == 1, 60,
                 f"the record's repair; log:\n{w.output()[-2000:]}")
        w.wait_state("healthy", 30)
        assert record(w)["values"] == [ADDR]
        [change] = [r for r in w.calls("route53", "ChangeResourceRecordSets")
                    if r["seq"] > seq]
        assert change["status"] == 200
        # Before the repair, the volume was asked about afresh: a DescribeVolumes
        # after the record's second look, which the volume's minute-long slot
        # alone would not allow.
        looks = [r for r in w.calls("route53", "ListResourceRecordSets")
                 if seq < r["seq"] < change["seq"]]
        assert len(looks) >= 2, looks
        fresh = [r for r in w.calls("ec2", "DescribeVolumes")
                 if looks[1]["seq"] < r["seq"] < change["seq"]]
        assert fresh, "the volume was not looked at afresh before the repair"
        assert "holds 10.10.10.99" in w.output()
        assert w.calls("autoscaling") == []
    finally:
        w.close()
