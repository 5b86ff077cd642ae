"""Route53 in the sim: atomic batches, exact DELETE, PENDING->INSYNC, listing order."""
import time

import pytest
from botocore.exceptions import ClientError

from simfixture import shared_sim

ZONE = "Z1G9ZB2OW5990Z"
NAME = "nfs.helloawsworld.com"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.client.reset()
    sim.client.delays(route53_insync=0.3)


@pytest.fixture
def r53(sim):
    return sim.boto("route53")


def rr(action, name=NAME, value="10.10.10.10", ttl=60, rtype="A"):
    return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": rtype, "TTL": ttl,
                                                    "ResourceRecords": [{"Value": value}]}}


def change(r53, *changes):
    return r53.change_resource_record_sets(HostedZoneId=ZONE, ChangeBatch={"Changes": list(changes)})


def batch_error(r53, *changes):
    with pytest.raises(ClientError) as e:
        change(r53, *changes)
    assert e.value.response["Error"]["Code"] == "InvalidChangeBatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return e.value.response["Error"]["Message"]


def records(r53, **kw):
    return r53.list_resource_record_sets(HostedZoneId=ZONE, **kw)


def test_create_then_create_again_fails(r53):
    change(r53, rr("CREATE"))
    msg = batch_error(r53, rr("CREATE"))
    assert msg == ("[Tried to create resource record set [name='nfs.helloawsworld.com.', type='A'] "
                   "but it already exists]")


def test_delete_must_match_exactly(r53):
    change(r53, rr("CREATE"))
    assert "but the values provided do not match the current values" in batch_error(
        r53, rr("DELETE", value="10.10.10.11"))
    assert "do not match" in batch_error(r53, rr("DELETE", ttl=300))
    assert batch_error(r53, rr("DELETE", name="other.helloawsworld.com")) == (
        "[Tried to delete resource record set [name='other.helloawsworld.com.', type='A'] "
        "but it was not found]")
    change(r53, rr("DELETE", name="NFS.HelloAWSWorld.com."))  # names are case-insensitive
    assert [r["Type"] for r in records(r53)["ResourceRecordSets"]] == ["NS", "SOA"]


def test_batch_is_atomic_and_reports_every_error(r53):
    msg = batch_error(r53, rr("UPSERT", name="a.helloawsworld.com"),
                      rr("DELETE", name="ghost.helloawsworld.com"),
                      rr("CREATE", name="x.example.org"), rr("CREATE", name="b.helloawsworld.com", value="300.1.1.1"))
    assert "ghost" in msg and "is not permitted in zone helloawsworld.com." in msg
    assert "ARRDATAIllegalIPv4Address" in msg
    assert [r["Name"] for r in records(r53)["ResourceRecordSets"]] == ["helloawsworld.com."] * 2


def test_upsert_and_get_change_goes_insync(r53):
    info = change(r53, rr("UPSERT"))["ChangeInfo"]
    assert info["Status"] == "PENDING" and info["Id"].startswith("/change/C")
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING"
    time.sleep(0.35)
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    change(r53, rr("UPSERT", value="10.10.10.12"))
    got = records(r53, StartRecordName=NAME, StartRecordType="A", MaxItems="1")
    assert got["ResourceRecordSets"][0]["ResourceRecords"] == [{"Value": "10.10.10.12"}]
    with pytest.raises(ClientError) as e:
        r53.get_change(Id="CNOSUCHCHANGE")
    assert e.value.response["Error"]["Code"] == "NoSuchChange"


def test_listing_is_sorted_by_reversed_labels_and_truncates(r53):
    change(r53, rr("CREATE", name="b.helloawsworld.com"), rr("CREATE", name="a.b.helloawsworld.com"),
           rr("CREATE", name="a.helloawsworld.com"), rr("CREATE", name="*.helloawsworld.com", rtype="TXT",
                                                         value='"x"'))
    names = [r["Name"] for r in records(r53)["ResourceRecordSets"]]
    assert names == ["helloawsworld.com.", "helloawsworld.com.", "\\052.helloawsworld.com.",
                     "a.helloawsworld.com.", "b.helloawsworld.com.", "a.b.helloawsworld.com."]
    page = records(r53, StartRecordName="a.helloawsworld.com", MaxItems="2")
    assert page["IsTruncated"] is True and page["MaxItems"] == "2"
    assert [r["Name"] for r in page["ResourceRecordSets"]] == ["a.helloawsworld.com.", "b.helloawsworld.com."]
    assert page["NextRecordName"] == "a.b.helloawsworld.com." and page["NextRecordType"] == "A"


def test_zones_by_id_and_name(r53, sim):
    z = r53.get_hosted_zone(Id=ZONE)
    assert z["HostedZone"]["Id"] == f"/hostedzone/{ZONE}" and z["HostedZone"]["Name"] == "helloawsworld.com."
    assert len(z["DelegationSet"]["NameServers"]) == 4
    sim.client.seed({"zones": {"Z00000000000000000001": {"name": "example.com"}}})
    byname = r53.list_hosted_zones_by_name(DNSName="helloawsworld.com", MaxItems="1")
    assert [h["Name"] for h in byname["HostedZones"]] == ["helloawsworld.com."]
    assert byname["IsTruncated"] is False
    every = r53.list_hosted_zones_by_name()
    assert [h["Name"] for h in every["HostedZones"]] == ["example.com.", "helloawsworld.com."]
    with pytest.raises(ClientError) as e:
        r53.get_hosted_zone(Id="ZNOSUCHZONE")
    assert e.value.response["Error"]["Code"] == "NoSuchHostedZone"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_messages_form_of_invalid_change_batch_is_available(sim, r53):
    """Route53 also answers <InvalidChangeBatch><Messages>; botocore reads no code from it."""
    sim.client.options(route53_error_form="messages")
    with pytest.raises(ClientError) as e:
        change(r53, rr("DELETE"))
    assert e.value.response["Messages"]["Message"].endswith("but it was not found")
