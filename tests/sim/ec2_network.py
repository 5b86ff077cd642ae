"""EC2 networking in the sim: VPCs, subnets, network interfaces (ENIs) and their
private addresses, route tables, Elastic IPs, source/destination check.

What the address module moves, and what a test network must obey:

- every instance has a primary ENI (device index 0), made on first use from
  the instance's own fields: the id IMDS shows (eni-0 + sha1 of the instance
  id), its MAC, private IP, subnet and VPC.  It goes with its instance when
  the instance is terminated; a floating ENI (seed `network_interfaces`) is
  then detached and kept, as EC2 does with DeleteOnTermination=false;
- AssignPrivateIpAddresses with AllowReassignment moves a secondary address
  from the ENI that holds it; without it the call fails;
- routes target an ENI (or an instance: its primary ENI); a route whose ENI is
  gone is a blackhole; a packet for an address that is not the ENI's own is
  dropped unless the ENI's source/destination check is off;
- an Elastic IP is associated with one ENI's private address at a time.

The network hook (seed `network_hook`, an argv; never a shell) is how a test
network obeys: after every change that moves traffic, and `delays.network`
seconds later (EC2's propagation), the sim runs it with SIM_NETWORK, a JSON
document saying where each moved address is delivered now:

    {"addresses": {"10.0.0.100": "10.0.0.12", ...},   secondary address -> the
                                                      holder's primary address
     "routes": {"rtb-1": {"192.168.1.5/32": "10.0.0.12" or null}, ...},
     "elastic_ips": {"203.0.113.5": "10.0.0.12" or null}}

null means nothing receives it (blackhole, detached, source/destination check
on, holder not running).  Results go to state.hook_log like the attach hooks'.

Errors and messages are EC2's (InvalidNetworkInterfaceID.NotFound, ...);
ReplaceRoute of a missing route answers InvalidParameterValue "There is no
route defined for ..." as EC2 does today (not the documented
InvalidRoute.NotFound).
"""
import hashlib
import ipaddress
import json
import re
import secrets
import time

from . import ec2
from .errors import AwsError

SEED_KEYS = {"vpcs", "subnets", "network_interfaces", "route_tables", "elastic_ips",
             "network_hook"}
ID_RE = {"eni": r"^eni-([0-9a-f]{8}|[0-9a-f]{17})$",
         "rtb": r"^rtb-([0-9a-f]{8}|[0-9a-f]{17})$",
         "eipalloc": r"^eipalloc-([0-9a-f]{8}|[0-9a-f]{17})$"}


def clear(st):
    st.vpcs, st.subnets, st.enis, st.route_tables, st.eips = {}, {}, {}, {}, {}
    st.network_hook = None


def primary_eni_id(iid):
    """The id IMDS shows for an instance's primary ENI (imds._tree uses it too)."""
    return "eni-0" + hashlib.sha1(iid.encode()).hexdigest()[:16]


def _hexid(prefix):
    return f"{prefix}-0{secrets.token_hex(8)}"


def _check(d, allowed, what):
    unknown = set(d) - allowed
    if unknown:
        raise ValueError(f"unknown {what} keys: {sorted(unknown)}")


def seed(st, d):
    """Merges the network part of a seed document (keys SEED_KEYS)."""
    if "network_hook" in d:
        st.network_hook = d["network_hook"]
    for vid, spec in (d.get("vpcs") or {}).items():
        _check(spec, {"cidrs"}, f"vpc {vid}")
        st.vpcs[vid] = {"id": vid, "cidrs": list(spec["cidrs"])}
    for sid, spec in (d.get("subnets") or {}).items():
        _check(spec, {"vpc", "cidr", "az"}, f"subnet {sid}")
        st.subnets[sid] = {"id": sid, "vpc": spec["vpc"], "cidr": spec["cidr"],
                           "az": spec.get("az", st.region + "a")}
    for eid, spec in (d.get("network_interfaces") or {}).items():
        _check(spec, {"subnet", "private_ip", "secondary", "mac", "tags", "source_dest_check",
                      "attachment", "description"}, f"network interface {eid}")
        sub = st.subnets[spec["subnet"]]
        eni = st.enis.get(eid) or {
            "id": eid, "subnet": sub["id"], "vpc": sub["vpc"], "az": sub["az"],
            "mac": "0e:%02x:%02x:%02x:%02x:%02x" % tuple(secrets.randbelow(256) for _ in range(5)),
            "private_ip": spec["private_ip"], "secondary": [], "source_dest_check": True,
            "tags": {}, "description": "", "attachment": None, "primary_of": None}
        for k in ("mac", "private_ip", "secondary", "tags", "source_dest_check", "description"):
            if k in spec:
                eni[k] = spec[k]
        if spec.get("attachment"):
            a = spec["attachment"]
            _check(a, {"instance", "device_index", "state"}, f"network interface {eid} attachment")
            eni["attachment"] = _attachment(a["instance"], a.get("device_index", 1),
                                            a.get("state", "attached"))
        st.enis[eid] = eni
    for rid, spec in (d.get("route_tables") or {}).items():
        _check(spec, {"vpc", "routes", "tags", "subnets"}, f"route table {rid}")
        rt = st.route_tables.setdefault(rid, {"id": rid, "vpc": spec["vpc"], "routes": [],
                                               "tags": {}, "subnets": []})
        rt["tags"].update(spec.get("tags") or {})
        rt["subnets"] = list(spec.get("subnets") or rt["subnets"])
        for r in spec.get("routes") or []:
            _check(r, {"destination", "network_interface", "instance", "gateway"},
                   f"route table {rid} route")
            rt["routes"] = [x for x in rt["routes"] if x["dest"] != r["destination"]]
            rt["routes"].append({"dest": r["destination"], "eni": r.get("network_interface"),
                                 "instance": r.get("instance"), "gateway": r.get("gateway"),
                                 "origin": "CreateRoute"})
    for aid, spec in (d.get("elastic_ips") or {}).items():
        _check(spec, {"public_ip", "network_interface", "private_ip", "tags"},
               f"elastic ip {aid}")
        eip = st.eips.setdefault(aid, {"id": aid, "public_ip": spec["public_ip"],
                                       "association": None, "tags": {}})
        eip["tags"].update(spec.get("tags") or {})
        if spec.get("network_interface"):
            eip["association"] = {"id": _hexid("eipassoc"), "eni": spec["network_interface"],
                                  "private_ip": spec.get("private_ip")}


def _attachment(iid, index, state="attached"):
    return {"id": _hexid("eni-attach"), "instance": iid, "device_index": index,
            "state": state, "time": time.time(), "delete_on_termination": index == 0}


# ---- the instances' own interfaces, kept in step with the instances -------------

def _vpc(st, vid, ip):
    if vid not in st.vpcs:  # not seeded: the /16 around the first instance seen in it
        net = ipaddress.ip_network(f"{ip}/16", strict=False)
        st.vpcs[vid] = {"id": vid, "cidrs": [str(net)]}
    return st.vpcs[vid]


def _subnet(st, sid, vid, ip, az):
    if sid not in st.subnets:
        net = ipaddress.ip_network(f"{ip}/24", strict=False)
        st.subnets[sid] = {"id": sid, "vpc": vid, "cidr": str(net), "az": az}
    return st.subnets[sid]


def sync(st):
    """Makes the primary ENIs match the instances (called under the state lock)."""
    for iid, inst in st.instances.items():
        eid = primary_eni_id(iid)
        gone = inst["state"] in ("shutting-down", "terminated")
        if gone:
            if eid in st.enis:
                del st.enis[eid]  # DeleteOnTermination: its secondary addresses are free
            continue
        _vpc(st, inst["vpc_id"], inst["private_ip"])
        sub = _subnet(st, inst["subnet_id"], inst["vpc_id"], inst["private_ip"], inst["az"])
        eni = st.enis.get(eid)
        if eni is None:
            eni = st.enis[eid] = {"id": eid, "secondary": [], "source_dest_check": True,
                                  "tags": {}, "description": "Primary network interface",
                                  "attachment": _attachment(iid, 0), "primary_of": iid}
        eni.update(subnet=sub["id"], vpc=inst["vpc_id"], az=inst["az"], mac=inst["mac"],
                   private_ip=inst["private_ip"])
    for eni in st.enis.values():
        a = eni["attachment"]
        if a and st.instances.get(a["instance"], {}).get("state") in ("shutting-down",
                                                                       "terminated"):
            eni["attachment"] = None  # EC2 detaches a dead instance's other interfaces


def _eni(st, eid):
    if eid not in st.enis:
        if not re.match(ID_RE["eni"], eid or ""):
            raise AwsError("InvalidNetworkInterfaceID.Malformed",
                           f'Invalid id: "{eid}" (expecting "eni-...")')
        raise AwsError("InvalidNetworkInterfaceID.NotFound",
                       f"The networkInterface ID '{eid}' does not exist")
    return st.enis[eid]


def _rtb(st, rid):
    if rid not in st.route_tables:
        if not re.match(ID_RE["rtb"], rid or ""):
            raise AwsError("InvalidRouteTableId.Malformed",
                           f'Invalid id: "{rid}" (expecting "rtb-...")')
        raise AwsError("InvalidRouteTableID.NotFound", f"The routeTable ID '{rid}' does not exist")
    return st.route_tables[rid]


def _eip(st, aid):
    if aid not in st.eips:
        if not re.match(ID_RE["eipalloc"], aid or ""):
            raise AwsError("InvalidAllocationID.Malformed",
                           f'Invalid id: "{aid}" (expecting "eipalloc-...")')
        raise AwsError("InvalidAllocationID.NotFound", f"The allocation ID '{aid}' does not exist")
    return st.eips[aid]


def _holder(st, ip):
    """The ENI holding ip as a secondary address, or None."""
    return next((e for e in st.enis.values() if ip in e["secondary"]), None)


def _primary_of_instance(st, iid):
    eid = primary_eni_id(iid)
    return st.enis.get(eid)


# ---- output ------------------------------------------------------------------

def eni_out(st, e):
    a = e["attachment"]
    out = {"NetworkInterfaceId": e["id"], "SubnetId": e["subnet"], "VpcId": e["vpc"],
           "AvailabilityZone": e["az"], "MacAddress": e["mac"], "OwnerId": st.account_id,
           "PrivateIpAddress": e["private_ip"], "Description": e["description"],
           "SourceDestCheck": e["source_dest_check"], "InterfaceType": "interface",
           "Status": ("in-use" if a["state"] == "attached" else a["state"]) if a else "available",
           "PrivateIpAddresses": [{"PrivateIpAddress": e["private_ip"], "Primary": True}] +
                                 [{"PrivateIpAddress": ip, "Primary": False} for ip in e["secondary"]],
           "TagSet": ec2._tags_out(e["tags"]), "Groups": [], "RequesterManaged": False}
    if a:
        out["Attachment"] = {"AttachmentId": a["id"], "InstanceId": a["instance"],
                             "DeviceIndex": a["device_index"], "Status": a["state"],
                             "AttachTime": a["time"], "NetworkCardIndex": 0,
                             "DeleteOnTermination": a["delete_on_termination"],
                             "InstanceOwnerId": st.account_id}
    return out


def _route_out(st, rt, r):
    out = {"DestinationCidrBlock": r["dest"], "Origin": r["origin"], "State": _route_state(st, r)}
    if r.get("gateway"):
        out["GatewayId"] = r["gateway"]
    if r.get("eni") or r.get("instance"):
        eni = _route_eni(st, r)
        out["NetworkInterfaceId"] = r.get("eni") or (eni["id"] if eni else None)
        iid = eni["attachment"]["instance"] if eni and eni["attachment"] else r.get("instance")
        if iid:
            out["InstanceId"] = iid
            out["InstanceOwnerId"] = st.account_id
    return out


def _route_eni(st, r):
    if r.get("eni"):
        return st.enis.get(r["eni"])
    if r.get("instance"):
        return _primary_of_instance(st, r["instance"])
    return None


def _route_state(st, r):
    if r.get("gateway"):
        return "active"
    eni = _route_eni(st, r)
    return "active" if eni and eni["attachment"] else "blackhole"


def rtb_out(st, rt):
    local = [{"DestinationCidrBlock": c, "GatewayId": "local", "Origin": "CreateRouteTable",
              "State": "active"} for c in st.vpcs.get(rt["vpc"], {}).get("cidrs", [])]
    return {"RouteTableId": rt["id"], "VpcId": rt["vpc"], "OwnerId": st.account_id,
            "Routes": local + [_route_out(st, rt, r) for r in rt["routes"]],
            "Associations": [{"RouteTableAssociationId": "rtbassoc-0" + rt["id"][-16:],
                              "RouteTableId": rt["id"], "SubnetId": s, "Main": False,
                              "AssociationState": {"State": "associated"}}
                             for s in rt["subnets"]],
            "Tags": ec2._tags_out(rt["tags"]), "PropagatingVgws": []}


def eip_out(st, e):
    out = {"AllocationId": e["id"], "PublicIp": e["public_ip"], "Domain": "vpc",
           "Tags": ec2._tags_out(e["tags"]), "NetworkBorderGroup": st.region,
           "PublicIpv4Pool": "amazon"}
    a = e["association"]
    if a:
        eni = st.enis.get(a["eni"])
        out.update(AssociationId=a["id"], NetworkInterfaceId=a["eni"],
                   PrivateIpAddress=a["private_ip"], NetworkInterfaceOwnerId=st.account_id)
        if eni and eni["attachment"]:
            out["InstanceId"] = eni["attachment"]["instance"]
    return out


def _b(v):
    return "true" if v else "false"


ENI_FIELDS = {
    "network-interface-id": lambda e: [e["id"]], "subnet-id": lambda e: [e["subnet"]],
    "vpc-id": lambda e: [e["vpc"]], "availability-zone": lambda e: [e["az"]],
    "mac-address": lambda e: [e["mac"]], "private-ip-address": lambda e: [e["private_ip"]],
    "addresses.private-ip-address": lambda e: [e["private_ip"]] + e["secondary"],
    "source-dest-check": lambda e: [_b(e["source_dest_check"])],
    "status": lambda e: ["in-use" if e["attachment"] else "available"],
    "attachment.instance-id": lambda e: [e["attachment"]["instance"]] if e["attachment"] else [],
    "attachment.status": lambda e: [e["attachment"]["state"]] if e["attachment"] else [],
    "attachment.device-index": lambda e: [str(e["attachment"]["device_index"])]
                                         if e["attachment"] else [],
    "description": lambda e: [e["description"]],
}
RTB_FIELDS = {
    "route-table-id": lambda r: [r["id"]], "vpc-id": lambda r: [r["vpc"]],
    "route.destination-cidr-block": lambda r: [x["dest"] for x in r["routes"]],
    "route.network-interface-id": lambda r: [x["eni"] for x in r["routes"] if x.get("eni")],
    "route.instance-id": lambda r: [x["instance"] for x in r["routes"] if x.get("instance")],
    "association.subnet-id": lambda r: list(r["subnets"]),
}
EIP_FIELDS = {
    "allocation-id": lambda e: [e["id"]], "public-ip": lambda e: [e["public_ip"]],
    "domain": lambda e: ["vpc"],
    "association-id": lambda e: [e["association"]["id"]] if e["association"] else [],
    "network-interface-id": lambda e: [e["association"]["eni"]] if e["association"] else [],
    "private-ip-address": lambda e: [e["association"]["private_ip"]] if e["association"] else [],
}


# ---- actions -----------------------------------------------------------------

def describe_network_interfaces(st, p, ctx):
    ctx.commit()
    sync(st)
    ids = p.get("NetworkInterfaceIds") or []
    items = [_eni(st, i) for i in dict.fromkeys(ids)] if ids else list(st.enis.values())
    items = ec2._filter(items, p.get("Filters"), ENI_FIELDS)
    page, nxt = ec2._page(items, p, bool(ids), 5, 1000, "networkInterfaceIdSet")
    return {"NetworkInterfaces": [eni_out(st, e) for e in page], "NextToken": nxt}


def describe_route_tables(st, p, ctx):
    ctx.commit()
    sync(st)
    ids = p.get("RouteTableIds") or []
    items = [_rtb(st, i) for i in dict.fromkeys(ids)] if ids else list(st.route_tables.values())
    items = ec2._filter(items, p.get("Filters"), RTB_FIELDS)
    page, nxt = ec2._page(items, p, bool(ids), 5, 100, "routeTableIdSet")
    return {"RouteTables": [rtb_out(st, r) for r in page], "NextToken": nxt}


def describe_addresses(st, p, ctx):
    ctx.commit()
    sync(st)
    items = list(st.eips.values())
    if p.get("AllocationIds"):
        items = [_eip(st, a) for a in dict.fromkeys(p["AllocationIds"])]
    if p.get("PublicIps"):
        want = p["PublicIps"]
        items = [e for e in items if e["public_ip"] in want]
        missing = [ip for ip in want if ip not in {e["public_ip"] for e in items}]
        if missing:
            raise AwsError("InvalidAddress.NotFound", f"Address '{missing[0]}' not found.")
    items = ec2._filter(items, p.get("Filters"), EIP_FIELDS)
    return {"Addresses": [eip_out(st, e) for e in items]}


def _in_subnet(st, eni, ip):
    sub = ipaddress.ip_network(st.subnets[eni["subnet"]]["cidr"])
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        raise AwsError("InvalidParameterValue", f"Invalid IPv4 address: {ip}")
    if a not in sub:
        raise AwsError("InvalidParameterValue",
                       f"Address {ip} does not fall within the subnet's address range")
    hosts = list(sub)
    # AWS keeps the network address, the next three and the broadcast address.
    if a in hosts[:4] or a == hosts[-1]:
        raise AwsError("InvalidParameterValue", f"Address {ip} is reserved by AWS")


def assign_private_ip_addresses(st, p, ctx):
    sync(st)
    eni = _eni(st, p["NetworkInterfaceId"])
    ips = p.get("PrivateIpAddresses") or []
    if not ips:
        raise AwsError("MissingParameter", "Either 'privateIpAddress' or "
                       "'secondaryPrivateIpAddressCount' must be specified.")
    moves = []
    for ip in ips:
        _in_subnet(st, eni, ip)
        prim = next((e for e in st.enis.values() if e["private_ip"] == ip), None)
        if prim is not None:
            raise AwsError("InvalidParameterValue", f"Address {ip} is the primary private "
                           f"address of {prim['id']} and cannot be assigned elsewhere")
        held = _holder(st, ip)
        if held is not None and held is not eni and not p.get("AllowReassignment"):
            raise AwsError("InvalidIPAddress.InUse", f"Address {ip} is in use.")
        moves.append((ip, held))
    ctx.commit()
    st.mark_ec2()
    for ip, held in moves:
        if held is not None and held is not eni:
            held["secondary"].remove(ip)
        if ip not in eni["secondary"]:
            eni["secondary"].append(ip)
    changed(st)
    return {"NetworkInterfaceId": eni["id"],
            "AssignedPrivateIpAddresses": [{"PrivateIpAddress": ip} for ip in ips]}


def unassign_private_ip_addresses(st, p, ctx):
    sync(st)
    eni = _eni(st, p["NetworkInterfaceId"])
    for ip in p.get("PrivateIpAddresses") or []:
        if ip not in eni["secondary"]:
            raise AwsError("InvalidParameterValue", f"Some of the specified addresses are not "
                           f"assigned to interface {eni['id']}")
    ctx.commit()
    for ip in p.get("PrivateIpAddresses") or []:
        eni["secondary"].remove(ip)
    changed(st)
    return None


def modify_network_interface_attribute(st, p, ctx):
    sync(st)
    eni = _eni(st, p["NetworkInterfaceId"])
    attrs = [k for k in ("SourceDestCheck", "Description", "Groups", "Attachment") if k in p]
    if len(attrs) != 1:
        raise AwsError("InvalidParameterCombination",
                       "Fields for multiple attribute types specified: " + ", ".join(attrs)
                       if attrs else "No attributes specified.")
    ctx.commit()
    if "SourceDestCheck" in p:
        eni["source_dest_check"] = bool(p["SourceDestCheck"].get("Value"))
    elif "Description" in p:
        eni["description"] = p["Description"].get("Value", "")
    changed(st)
    return None


def attach_network_interface(st, p, ctx):
    sync(st)
    eni = _eni(st, p["NetworkInterfaceId"])
    inst = ec2._get(st.instances, p["InstanceId"], "i")
    idx = int(p["DeviceIndex"])
    if inst["state"] not in ("running", "stopped"):
        raise AwsError("IncorrectInstanceState",
                       f"The instance '{inst['id']}' is not in a valid state for this operation.")
    if eni["attachment"]:
        raise AwsError("InvalidNetworkInterface.InUse", f"Interface: [{eni['id']}] in use.")
    if eni["az"] != inst["az"]:
        raise AwsError("InvalidParameterCombination", "You may not attach a network interface "
                       "to an instance if they are not in the same availability zone")
    if eni["vpc"] != inst["vpc_id"]:
        raise AwsError("InvalidParameterValue", f"Network interface {eni['id']} and instance "
                       f"{inst['id']} are in different VPCs")
    if idx < 1 or any(e["attachment"] and e["attachment"]["instance"] == inst["id"] and
                      e["attachment"]["device_index"] == idx for e in st.enis.values()):
        raise AwsError("InvalidParameterValue", f"Instance '{inst['id']}' already has an "
                       f"interface attached at device index '{idx}'.")
    ctx.commit()
    st.mark_ec2()
    att = eni["attachment"] = _attachment(inst["id"], idx, "attaching")
    gen = att["id"]
    st.schedule(st.delays["attach"], lambda: eni["attachment"] is att and att["id"] == gen,
                lambda: att.update(state="attached"), _interface_hook(st, eni, "attach", att))
    return {"AttachmentId": att["id"], "NetworkCardIndex": 0}


def detach_network_interface(st, p, ctx):
    sync(st)
    aid = p["AttachmentId"]
    eni = next((e for e in st.enis.values() if e["attachment"] and e["attachment"]["id"] == aid),
               None)
    if eni is None:
        raise AwsError("InvalidAttachmentID.NotFound",
                       f"Interface attachment '{aid}' does not exist.")
    att = eni["attachment"]
    if att["device_index"] == 0:
        raise AwsError("OperationNotPermitted",
                       "The network interface at device index 0 cannot be detached.")
    ctx.commit()
    st.mark_ec2()
    if att["state"] == "detaching":
        return None
    att["state"] = "detaching"
    delay = st.delays["force_detach" if p.get("Force") else "detach"]

    def apply():
        eni["attachment"] = None
        changed(st)
    st.schedule(delay, lambda: eni["attachment"] is att and att["state"] == "detaching", apply,
                _interface_hook(st, eni, "detach", att))
    return None


def _route_target(st, rt, p):
    eid, iid = p.get("NetworkInterfaceId"), p.get("InstanceId")
    if not eid and not iid and not p.get("GatewayId"):
        raise AwsError("InvalidParameterCombination", "No route target specified")
    if eid:
        eni = _eni(st, eid)
        if eni["vpc"] != rt["vpc"]:
            raise AwsError("InvalidParameterValue", f"route table {rt['id']} and network "
                           f"interface {eid} belong to different networks")
    if iid:
        ec2._get(st.instances, iid, "i")
    return {"eni": eid, "instance": iid if not eid else None, "gateway": p.get("GatewayId")}


def _dest(p):
    dest = p.get("DestinationCidrBlock")
    if not dest:
        raise AwsError("MissingParameter", "The request must contain the parameter "
                       "destinationCidrBlock")
    try:
        return str(ipaddress.ip_network(dest))
    except ValueError:
        raise AwsError("InvalidParameterValue", f"Value ({dest}) for parameter "
                       "destinationCidrBlock is invalid. This is not a valid CIDR block.")


def create_route(st, p, ctx):
    sync(st)
    rt = _rtb(st, p["RouteTableId"])
    dest = _dest(p)
    target = _route_target(st, rt, p)
    if any(r["dest"] == dest for r in rt["routes"]) or dest in st.vpcs.get(rt["vpc"], {}).get(
            "cidrs", []):
        raise AwsError("RouteAlreadyExists", f"The route identified by {dest} already exists.")
    ctx.commit()
    rt["routes"].append({"dest": dest, "origin": "CreateRoute", **target})
    changed(st)
    return {"Return": True}


def replace_route(st, p, ctx):
    sync(st)
    rt = _rtb(st, p["RouteTableId"])
    dest = _dest(p)
    route = next((r for r in rt["routes"] if r["dest"] == dest), None)
    if route is None:
        raise AwsError("InvalidParameterValue", f"There is no route defined for '{dest}' in "
                       "the route table. Use CreateRoute instead.")
    target = _route_target(st, rt, p)
    ctx.commit()
    route.update(target)
    changed(st)
    return None


def delete_route(st, p, ctx):
    sync(st)
    rt = _rtb(st, p["RouteTableId"])
    dest = _dest(p)
    route = next((r for r in rt["routes"] if r["dest"] == dest), None)
    if route is None:
        raise AwsError("InvalidRoute.NotFound", f"no route with destination-cidr-block {dest} "
                       f"in route table {rt['id']}")
    ctx.commit()
    rt["routes"].remove(route)
    changed(st)
    return None


def associate_address(st, p, ctx):
    sync(st)
    if not p.get("AllocationId"):
        raise AwsError("MissingParameter", "Either public IP or allocation id must be specified")
    eip = _eip(st, p["AllocationId"])
    if p.get("NetworkInterfaceId"):
        eni = _eni(st, p["NetworkInterfaceId"])
    elif p.get("InstanceId"):
        inst = ec2._get(st.instances, p["InstanceId"], "i")
        eni = _primary_of_instance(st, inst["id"])
        if eni is None:
            raise AwsError("IncorrectInstanceState", f"The instance '{inst['id']}' is not in a "
                           "valid state for this operation.")
    else:
        raise AwsError("MissingParameter", "Either instance ID or network interface ID must "
                       "be specified")
    priv = p.get("PrivateIpAddress") or eni["private_ip"]
    if priv != eni["private_ip"] and priv not in eni["secondary"]:
        raise AwsError("InvalidParameterValue", f"The specified private IP address {priv} is "
                       f"not assigned to network interface {eni['id']}")
    taken = next((e for e in st.eips.values() if e is not eip and e["association"] and
                  e["association"]["eni"] == eni["id"] and
                  e["association"]["private_ip"] == priv), None)
    if taken is not None:
        raise AwsError("InvalidParameterValue", f"The private IP address {priv} already has "
                       f"an Elastic IP address ({taken['public_ip']}) associated")
    if eip["association"] and not p.get("AllowReassociation") and not (
            eip["association"]["eni"] == eni["id"] and eip["association"]["private_ip"] == priv):
        raise AwsError("Resource.AlreadyAssociated", f"resource {eip['id']} is already "
                       f"associated with associate-id {eip['association']['id']}")
    ctx.commit()
    eip["association"] = {"id": _hexid("eipassoc"), "eni": eni["id"], "private_ip": priv}
    changed(st)
    return {"AssociationId": eip["association"]["id"]}


def disassociate_address(st, p, ctx):
    sync(st)
    aid = p.get("AssociationId")
    eip = next((e for e in st.eips.values() if e["association"] and
                e["association"]["id"] == aid), None)
    if eip is None:
        raise AwsError("InvalidAssociationID.NotFound",
                       f"The association ID '{aid}' does not exist")
    ctx.commit()
    eip["association"] = None
    changed(st)
    return None


ACTIONS = {
    "DescribeNetworkInterfaces": describe_network_interfaces,
    "DescribeRouteTables": describe_route_tables,
    "DescribeAddresses": describe_addresses,
    "AssignPrivateIpAddresses": assign_private_ip_addresses,
    "UnassignPrivateIpAddresses": unassign_private_ip_addresses,
    "ModifyNetworkInterfaceAttribute": modify_network_interface_attribute,
    "AttachNetworkInterface": attach_network_interface,
    "DetachNetworkInterface": detach_network_interface,
    "CreateRoute": create_route, "ReplaceRoute": replace_route, "DeleteRoute": delete_route,
    "AssociateAddress": associate_address, "DisassociateAddress": disassociate_address,
}


# ---- IAM: what EC2 authorizes each call on ------------------------------------------

def iam_checks(st, action, p, check, arn):
    """The resources EC2 authorizes a network call on (the Service Authorization
    Reference), for iam.py; None for calls that are not this file's."""
    def eni(eid):
        return check(f"ec2:{action}", arn(st, "network-interface", eid),
                     (st.enis.get(eid) or {}).get("tags"))

    def inst(iid):
        return check(f"ec2:{action}", arn(st, "instance", iid),
                     (st.instances.get(iid) or {}).get("tags"))
    sync(st)
    if action in ("AssignPrivateIpAddresses", "UnassignPrivateIpAddresses",
                  "ModifyNetworkInterfaceAttribute"):
        return [eni(p.get("NetworkInterfaceId"))]
    if action == "AttachNetworkInterface":
        return [inst(p.get("InstanceId")), eni(p.get("NetworkInterfaceId"))]
    if action == "DetachNetworkInterface":
        e = next((x for x in st.enis.values() if x["attachment"] and
                  x["attachment"]["id"] == p.get("AttachmentId")), None)
        return [inst(e["attachment"]["instance"]), eni(e["id"])] if e else []
    if action in ("CreateRoute", "ReplaceRoute", "DeleteRoute"):
        rid = p.get("RouteTableId")
        return [check(f"ec2:{action}", arn(st, "route-table", rid),
                      (st.route_tables.get(rid) or {}).get("tags"))]
    if action in ("AssociateAddress", "DisassociateAddress"):
        aid = p.get("AllocationId") or next(
            (e["id"] for e in st.eips.values() if e["association"] and
             e["association"]["id"] == p.get("AssociationId")), None)
        out = [check(f"ec2:{action}", arn(st, "elastic-ip", aid),
                     (st.eips.get(aid) or {}).get("tags"))]
        if p.get("NetworkInterfaceId"):
            out.append(eni(p["NetworkInterfaceId"]))
        if p.get("InstanceId"):
            out.append(inst(p["InstanceId"]))
        return out
    return None


# ---- where packets go: the network hook -------------------------------------------

def _delivered_to(st, eni, ip):
    """The primary address of the running instance eni delivers ip to, or None."""
    if eni is None or not eni["attachment"] or eni["attachment"]["state"] != "attached":
        return None
    inst = st.instances.get(eni["attachment"]["instance"])
    if inst is None or inst["state"] != "running":
        return None
    if ip != eni["private_ip"] and ip not in eni["secondary"] and eni["source_dest_check"]:
        return None  # EC2 drops traffic for an address the interface does not own
    return inst["private_ip"]


def delivery(st):
    """Where each moved address is delivered now (the SIM_NETWORK document)."""
    sync(st)
    out = {"addresses": {}, "routes": {}, "elastic_ips": {}}
    for e in st.enis.values():
        for ip in e["secondary"]:
            out["addresses"][ip] = _delivered_to(st, e, ip)
    for rt in st.route_tables.values():
        table = out["routes"][rt["id"]] = {}
        for r in rt["routes"]:
            if r.get("gateway"):
                continue
            net = ipaddress.ip_network(r["dest"])
            table[r["dest"]] = _delivered_to(st, _route_eni(st, r), str(net.network_address))
    for eip in st.eips.values():
        a = eip["association"]
        out["elastic_ips"][eip["public_ip"]] = (
            _delivered_to(st, st.enis.get(a["eni"]), a["private_ip"]) and a["private_ip"]
            if a else None)
    return out


def changed(st):
    """Traffic may go elsewhere now: run the network hook after EC2's propagation delay."""
    if not st.network_hook:
        return

    def build():
        return st.network_hook, {"SIM_ACTION": "network",
                                 "SIM_NETWORK": json.dumps(delivery(st), sort_keys=True)}
    st.schedule(st.delays.get("network", 0.0), lambda: True, lambda: None, build)


def _interface_hook(st, eni, action, att):
    """A floating ENI appears in (or leaves) its instance: the attach hook, as for volumes."""
    def build():
        argv = st.network_hook
        if not argv:
            return None
        return argv, {"SIM_ACTION": f"interface-{action}", "SIM_INSTANCE_ID": att["instance"],
                      "SIM_NETWORK_INTERFACE_ID": eni["id"], "SIM_MAC": eni["mac"],
                      "SIM_DEVICE_INDEX": str(att["device_index"]),
                      "SIM_NETWORK": json.dumps(delivery(st), sort_keys=True)}
    return build


# ---- IMDS: network/interfaces/macs/ ------------------------------------------------

def imds_macs(st, inst):
    """The macs/ tree of an instance: one entry per attached interface."""
    with st.lock:
        sync(st)
        out = {}
        for e in st.enis.values():
            a = e["attachment"]
            if not a or a["instance"] != inst["id"] or a["state"] not in ("attached",
                                                                          "detaching"):
                continue
            sub = st.subnets[e["subnet"]]
            vpc = st.vpcs[e["vpc"]]
            region = inst["az"][:-1]
            out[e["mac"]] = {
                "device-number": str(a["device_index"]), "interface-id": e["id"],
                "local-hostname": f"ip-{e['private_ip'].replace('.', '-')}.{region}"
                                  ".compute.internal",
                "local-ipv4s": "\n".join([e["private_ip"]] + e["secondary"]),
                "mac": e["mac"], "owner-id": st.account_id, "subnet-id": e["subnet"],
                "subnet-ipv4-cidr-block": sub["cidr"], "vpc-id": e["vpc"],
                "vpc-ipv4-cidr-block": vpc["cidrs"][0],
                "vpc-ipv4-cidr-blocks": "\n".join(vpc["cidrs"]),
            }
        return out


def dump(st):
    with st.lock:
        sync(st)
        return {"vpcs": st.vpcs, "subnets": st.subnets, "network_interfaces": st.enis,
                "route_tables": {k: rtb_out(st, v) for k, v in st.route_tables.items()},
                "elastic_ips": {k: eip_out(st, v) for k, v in st.eips.items()},
                "delivery": delivery(st)}
