"""EC2 networking in the sim (tests/sim/ec2_network.py): ENIs and their
private addresses, route tables, Elastic IPs, source/destination check, the
metadata of attached interfaces and the network hook, with EC2's errors."""
import json
import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from simfixture import shared_sim

I1, I2 = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"
VPC, SUBNET = "vpc-0123456789abcdef0", "subnet-0123456789abcdef0"
RTB, RTB2 = "rtb-0123456789abcdef0", "rtb-0fedcba9876543210"
ENI_F = "eni-0f0f0f0f0f0f0f0f0"
EIP = "eipalloc-0123456789abcdef0"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return shared_sim(tmp_path_factory)


@pytest.fixture(autouse=True)
def fresh(sim, tmp_path):
    sim.client.reset()
    sim.client.seed({
        "instances": {I2: {"az": "us-west-2a", "private_ip": "10.10.10.11"}},
        "vpcs": {VPC: {"cidrs": ["10.10.10.0/24", "10.10.20.0/24"]}},
        "subnets": {SUBNET: {"vpc": VPC, "cidr": "10.10.10.0/24", "az": "us-west-2a"}},
        "network_interfaces": {ENI_F: {"subnet": SUBNET, "private_ip": "10.10.10.50",
                                       "tags": {"Name": "nfs-vip"}}},
        "route_tables": {RTB: {"vpc": VPC}, RTB2: {"vpc": VPC}},
        "elastic_ips": {EIP: {"public_ip": "203.0.113.10"}},
        "delays": {"attach": 0.1, "detach": 0.1, "force_detach": 0.05},
    })


@pytest.fixture
def ec2(sim):
    return sim.boto("ec2")


def code(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def primary(ec2, iid):
    return ec2.describe_network_interfaces(Filters=[
        {"Name": "attachment.instance-id", "Values": [iid]},
        {"Name": "attachment.device-index", "Values": ["0"]}])["NetworkInterfaces"][0]


def test_every_instance_has_the_primary_interface_imds_names(sim, ec2):
    e = primary(ec2, I1)
    assert e["PrivateIpAddress"] == "10.10.10.10" and e["SourceDestCheck"] is True
    assert e["Status"] == "in-use" and e["Attachment"]["DeviceIndex"] == 0
    inst = sim.client.instance(I1)
    import urllib.request
    tok = urllib.request.urlopen(urllib.request.Request(
        sim.url + "/latest/api/token", method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})).read().decode()

    def md(path):
        return urllib.request.urlopen(urllib.request.Request(
            sim.url + "/latest/meta-data/" + path,
            headers={"X-aws-ec2-metadata-token": tok})).read().decode()
    base = f"network/interfaces/macs/{inst['mac']}/"
    assert md(base + "interface-id") == e["NetworkInterfaceId"]
    assert md(base + "vpc-ipv4-cidr-blocks") == "10.10.10.0/24\n10.10.20.0/24"
    assert md(base + "subnet-ipv4-cidr-block") == "10.10.10.0/24"
    ec2.assign_private_ip_addresses(NetworkInterfaceId=e["NetworkInterfaceId"],
                                    PrivateIpAddresses=["10.10.10.100"])
    assert md(base + "local-ipv4s") == "10.10.10.10\n10.10.10.100"


def test_reassignment_moves_a_secondary_address(ec2):
    a, b = primary(ec2, I1)["NetworkInterfaceId"], primary(ec2, I2)["NetworkInterfaceId"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=a, PrivateIpAddresses=["10.10.10.100"])
    with pytest.raises(ClientError) as e:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=["10.10.10.100"])
    assert code(e)[0] == "InvalidIPAddress.InUse"
    ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=["10.10.10.100"],
                                    AllowReassignment=True)
    held = ec2.describe_network_interfaces(Filters=[
        {"Name": "addresses.private-ip-address", "Values": ["10.10.10.100"]}])["NetworkInterfaces"]
    assert [x["NetworkInterfaceId"] for x in held] == [b]
    for bad, want in (("10.10.99.5", "does not fall within the subnet"),
                      ("10.10.10.3", "reserved"), ("10.10.10.11", "primary private address")):
        with pytest.raises(ClientError) as e:
            ec2.assign_private_ip_addresses(NetworkInterfaceId=a, PrivateIpAddresses=[bad],
                                            AllowReassignment=True)
        assert code(e)[0] == "InvalidParameterValue" and want in code(e)[1], code(e)


def test_unknown_ids_answer_ec2s_errors(ec2):
    cases = [
        (lambda: ec2.describe_network_interfaces(NetworkInterfaceIds=["eni-0000000000000000f"]),
         "InvalidNetworkInterfaceID.NotFound",
         "The networkInterface ID 'eni-0000000000000000f' does not exist"),
        (lambda: ec2.describe_route_tables(RouteTableIds=["rtb-0000000000000000f"]),
         "InvalidRouteTableID.NotFound", "The routeTable ID 'rtb-0000000000000000f' does not exist"),
        (lambda: ec2.describe_addresses(AllocationIds=["eipalloc-0000000000000000f"]),
         "InvalidAllocationID.NotFound",
         "The allocation ID 'eipalloc-0000000000000000f' does not exist"),
        (lambda: ec2.describe_route_tables(RouteTableIds=["rtb-x"]),
         "InvalidRouteTableId.Malformed", 'Invalid id: "rtb-x"'),
    ]
    for call, want_code, want_msg in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == (want_code, want_msg) or (code(e)[0] == want_code and
                                                     want_msg in code(e)[1]), code(e)


def test_routes_replace_create_and_blackhole(sim, ec2):
    a = primary(ec2, I1)["NetworkInterfaceId"]
    dest = "192.168.1.5/32"
    with pytest.raises(ClientError) as e:
        ec2.replace_route(RouteTableId=RTB, DestinationCidrBlock=dest, NetworkInterfaceId=a)
    assert code(e) == ("InvalidParameterValue", "There is no route defined for "
                       "'192.168.1.5/32' in the route table. Use CreateRoute instead.")
    ec2.create_route(RouteTableId=RTB, DestinationCidrBlock=dest, NetworkInterfaceId=a)
    with pytest.raises(ClientError) as e:
        ec2.create_route(RouteTableId=RTB, DestinationCidrBlock=dest, NetworkInterfaceId=a)
    assert code(e) == ("RouteAlreadyExists", f"The route identified by {dest} already exists.")
    routes = ec2.describe_route_tables(RouteTableIds=[RTB])["RouteTables"][0]["Routes"]
    r = next(x for x in routes if x["DestinationCidrBlock"] == dest)
    assert r["NetworkInterfaceId"] == a and r["InstanceId"] == I1 and r["State"] == "active"
    assert any(x["GatewayId"] == "local" for x in routes if "GatewayId" in x)
    # Source/destination check on: EC2 drops what is routed to the interface.
    assert sim.client.state()["network"]["delivery"]["routes"][RTB][dest] is None
    ec2.modify_network_interface_attribute(NetworkInterfaceId=a, SourceDestCheck={"Value": False})
    assert primary(ec2, I1)["SourceDestCheck"] is False
    assert sim.client.state()["network"]["delivery"]["routes"][RTB][dest] == "10.10.10.10"
    # Its instance gone, the route is a blackhole.
    sim.client.set_instance_state(I1, "terminated")
    routes = ec2.describe_route_tables(RouteTableIds=[RTB])["RouteTables"][0]["Routes"]
    assert next(x for x in routes if x["DestinationCidrBlock"] == dest)["State"] == "blackhole"
    assert sim.client.state()["network"]["delivery"]["routes"][RTB][dest] is None


def test_elastic_ip_association(ec2):
    a, b = primary(ec2, I1)["NetworkInterfaceId"], primary(ec2, I2)["NetworkInterfaceId"]
    ec2.associate_address(AllocationId=EIP, NetworkInterfaceId=a)
    with pytest.raises(ClientError) as e:
        ec2.associate_address(AllocationId=EIP, NetworkInterfaceId=b)
    assert code(e)[0] == "Resource.AlreadyAssociated"
    ec2.associate_address(AllocationId=EIP, NetworkInterfaceId=b, AllowReassociation=True)
    addr = ec2.describe_addresses(AllocationIds=[EIP])["Addresses"][0]
    assert addr["NetworkInterfaceId"] == b and addr["PrivateIpAddress"] == "10.10.10.11"
    assert addr["InstanceId"] == I2 and addr["PublicIp"] == "203.0.113.10"


def test_floating_interface_attach_detach(sim, ec2, tmp_path):
    log = tmp_path / "hook.log"
    sim.client.seed({"network_hook": ["/bin/sh", "-c",
                                      f'echo "$SIM_ACTION $SIM_INSTANCE_ID $SIM_MAC" >> {log}']})
    att = ec2.attach_network_interface(NetworkInterfaceId=ENI_F, InstanceId=I1,
                                       DeviceIndex=1)["AttachmentId"]
    with pytest.raises(ClientError) as e:
        ec2.attach_network_interface(NetworkInterfaceId=ENI_F, InstanceId=I2, DeviceIndex=1)
    assert code(e) == ("InvalidNetworkInterface.InUse", f"Interface: [{ENI_F}] in use.")
    end = time.time() + 5
    while time.time() < end and ec2.describe_network_interfaces(
            NetworkInterfaceIds=[ENI_F])["NetworkInterfaces"][0]["Attachment"]["Status"] != \
            "attached":
        time.sleep(0.05)
    mac = ec2.describe_network_interfaces(NetworkInterfaceIds=[ENI_F])["NetworkInterfaces"][0][
        "MacAddress"]
    assert f"interface-attach {I1} {mac}" in log.read_text()
    with pytest.raises(ClientError) as e:
        ec2.detach_network_interface(AttachmentId=primary(ec2, I1)["Attachment"]["AttachmentId"])
    assert code(e)[0] == "OperationNotPermitted"
    ec2.detach_network_interface(AttachmentId=att, Force=True)
    end = time.time() + 5
    while time.time() < end and "Attachment" in ec2.describe_network_interfaces(
            NetworkInterfaceIds=[ENI_F])["NetworkInterfaces"][0]:
        time.sleep(0.05)
    e = ec2.describe_network_interfaces(NetworkInterfaceIds=[ENI_F])["NetworkInterfaces"][0]
    assert e["Status"] == "available" and "Attachment" not in e
    assert f"interface-detach {I1} {mac}" in log.read_text()


def test_network_hook_says_where_addresses_go(sim, ec2, tmp_path):
    out = tmp_path / "net.json"
    sim.client.seed({"network_hook": ["/bin/sh", "-c", f'printf %s "$SIM_NETWORK" > {out}']})
    b = primary(ec2, I2)["NetworkInterfaceId"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=["10.10.10.100"])
    end = time.time() + 5
    while time.time() < end and not out.exists():
        time.sleep(0.05)
    doc = json.loads(out.read_text())
    assert doc["addresses"] == {"10.10.10.100": "10.10.10.11"}


def test_the_aws_cli_reads_the_answers(sim):
    env = dict(os.environ, **sim.env())
    aws = ["/usr/bin/aws", "--endpoint-url", sim.url]  # awscli 2.9 ignores AWS_ENDPOINT_URL
    r = subprocess.run([*aws, "ec2", "describe-route-tables", "--route-table-ids", RTB,
                        "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["RouteTables"][0]["RouteTableId"] == RTB
    r = subprocess.run([*aws, "ec2", "describe-addresses", "--allocation-ids",
                        "eipalloc-0000000000000000f"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "InvalidAllocationID.NotFound" in r.stderr, r.stderr
