"""Route53 (REST-XML, 2013-04-01): zones, record sets, atomic change batches, changes."""
import ipaddress
import re
import secrets
import string
import time
import xml.etree.ElementTree as ET

from .errors import AwsError
from .state import fqdn

PREFIX = "/2013-04-01"
ROUTES = [  # (method, path regex, operation)
    ("GET", r"/hostedzone/?", "ListHostedZones"),
    ("GET", r"/hostedzone/(?P<Id>[^/]+)/?", "GetHostedZone"),
    ("GET", r"/hostedzonesbyname/?", "ListHostedZonesByName"),
    ("GET", r"/hostedzone/(?P<Id>[^/]+)/rrset/?", "ListResourceRecordSets"),
    ("POST", r"/hostedzone/(?P<Id>[^/]+)/rrset/?", "ChangeResourceRecordSets"),
    ("GET", r"/change/(?P<Id>[^/]+)/?", "GetChange"),
]
SAFE = set(string.ascii_lowercase + string.digits + "-_.")


def route(method, path):
    """(operation, path params) for a request, or None."""
    if not path.startswith(PREFIX + "/"):
        return None
    rest = path[len(PREFIX):]
    for m, pat, op in ROUTES:
        hit = re.fullmatch(pat, rest)
        if hit and m == method:
            return op, hit.groupdict()
    return None


# ------------------------------------------------------------------ names
def _unescape(name):
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), name)


def norm(name):
    """Input name -> stored form: unescaped, lower case, fully qualified."""
    return fqdn(_unescape(name))


def escape_name(name):
    """Route53 answers with \\ooo octal escapes for characters outside [a-z0-9-_.]."""
    return "".join(c if c in SAFE else "\\%03o" % ord(c) for c in name)


def _rev(name):
    return name.rstrip(".").split(".")[::-1]


def _sort_key(rec):
    return (_rev(rec["name"]), rec["type"], rec.get("set_identifier") or "")


# ------------------------------------------------------------------ XML input
def _xml_parse(shape, el):
    """Request XML element -> dict by the model (rest-xml input)."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for mname, mshape in shape.members.items():
            child = _child(el, mshape.serialization.get("name", mname))
            if child is not None:
                out[mname] = _xml_parse(mshape, child)
        return out
    if t == "list":
        return [_xml_parse(shape.member, c) for c in el]
    text = (el.text or "").strip()
    try:
        if t in ("integer", "long"):
            return int(text)
    except ValueError:
        raise AwsError("InvalidInput", f"Invalid XML ; cannot parse '{text}' as a number")
    if t == "boolean":
        return text.lower() == "true"
    return text


def _child(el, name):
    for c in el:
        if c.tag.split("}")[-1] == name:
            return c
    return None


# ------------------------------------------------------------------ outputs
def _zone_out(z):
    return {"Id": "/hostedzone/" + z["id"], "Name": escape_name(z["name"]),
            "CallerReference": z["caller_reference"],
            "Config": {"Comment": z["comment"] or None, "PrivateZone": z["private"]},
            "ResourceRecordSetCount": len(z["records"])}


def _rrset_out(r):
    out = {"Name": escape_name(r["name"]), "Type": r["type"],
           "SetIdentifier": r.get("set_identifier"), "Weight": r.get("weight")}
    if r.get("alias_target"):
        a = r["alias_target"]
        out["AliasTarget"] = {"HostedZoneId": a["HostedZoneId"], "DNSName": a["DNSName"],
                              "EvaluateTargetHealth": a.get("EvaluateTargetHealth", False)}
    else:
        out["TTL"] = r["ttl"]
        out["ResourceRecords"] = [{"Value": v} for v in r["values"]]
    return out


def _change_out(st, c):
    return {"ChangeInfo": {"Id": "/change/" + c["id"], "Status": st.change_status(c),
                           "SubmittedAt": c["submitted_at"], "Comment": c["comment"] or None}}


def _zone(st, zid):
    zid = zid.split("/")[-1]
    z = st.zones.get(zid)
    if z is None:
        raise AwsError("NoSuchHostedZone", f"No hosted zone found with ID: {zid}", 404)
    return z


def _maxitems(q, default):
    raw = q.get("maxitems")
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise AwsError("InvalidInput", f"1 validation error detected: Value '{raw}' at 'maxItems' "
                                       "failed to satisfy constraint: Member must be a positive integer")
    return int(raw)


# ------------------------------------------------------------------ actions
def get_hosted_zone(st, ids, q, body, op):
    z = _zone(st, ids["Id"])
    out = {"HostedZone": _zone_out(z)}
    if not z["private"]:
        ns = next((r["values"] for r in z["records"] if r["name"] == z["name"] and r["type"] == "NS"), [])
        out["DelegationSet"] = {"NameServers": ns}
    return out


def _zones_sorted(st):
    return sorted(st.zones.values(), key=lambda z: (_rev(z["name"]), z["id"]))


def list_hosted_zones(st, ids, q, body, op):
    zones = _zones_sorted(st)
    n = _maxitems(q, 100)
    start = 0
    if q.get("marker"):
        start = next((k for k, z in enumerate(zones) if z["id"] == q["marker"]), len(zones))
    page = zones[start:start + n]
    more = start + n < len(zones)
    return {"HostedZones": [_zone_out(z) for z in page], "Marker": q.get("marker", ""),
            "IsTruncated": more, "NextMarker": zones[start + n]["id"] if more else None,
            "MaxItems": str(n)}


def list_hosted_zones_by_name(st, ids, q, body, op):
    zones = _zones_sorted(st)
    n = _maxitems(q, 100)
    dns, zid = q.get("dnsname"), q.get("hostedzoneid")
    if zid and not dns:
        raise AwsError("InvalidInput", "The input is not valid: hostedzoneid requires dnsname")
    if dns:
        key = (_rev(norm(dns)), zid or "")
        zones = [z for z in zones if (_rev(z["name"]), z["id"]) >= key]
    more = len(zones) > n
    out = {"HostedZones": [_zone_out(z) for z in zones[:n]], "IsTruncated": more,
           "MaxItems": str(n), "DNSName": dns, "HostedZoneId": zid}
    if more:
        out["NextDNSName"] = escape_name(zones[n]["name"])
        out["NextHostedZoneId"] = zones[n]["id"]
    return out


def list_resource_record_sets(st, ids, q, body, op):
    z = _zone(st, ids["Id"])
    n = _maxitems(q, 300)
    recs = sorted(z["records"], key=_sort_key)
    name, rtype = q.get("name"), q.get("type")
    if rtype and not name:
        raise AwsError("InvalidInput", "The input is not valid: type requires name")
    if name:
        key = (_rev(norm(name)), (rtype or "").upper(), q.get("identifier") or "")
        recs = [r for r in recs if _sort_key(r) >= key]
    more = len(recs) > n
    out = {"ResourceRecordSets": [_rrset_out(r) for r in recs[:n]], "IsTruncated": more,
           "MaxItems": str(n)}
    if more:
        nxt = recs[n]
        out.update(NextRecordName=escape_name(nxt["name"]), NextRecordType=nxt["type"],
                   NextRecordIdentifier=nxt.get("set_identifier"))
    return out


def _label(rec):
    s = f"[name='{escape_name(rec['name'])}', type='{rec['type']}'"
    if rec.get("set_identifier"):
        s += f", set-identifier='{rec['set_identifier']}'"
    return s + "]"


def _same_set(a, b):
    return (a["name"] == b["name"] and a["type"] == b["type"]
            and a.get("set_identifier") == b.get("set_identifier"))


def _same_values(a, b):
    return (a.get("ttl") == b.get("ttl") and sorted(a["values"]) == sorted(b["values"])
            and a.get("weight") == b.get("weight")
            and (a.get("alias_target") or None) == (b.get("alias_target") or None))


def _validate_value(zone, rec):
    """Per-record checks Route53 makes; returns an InvalidChangeBatch message or None."""
    if not (rec["name"] == zone["name"] or rec["name"].endswith("." + zone["name"])):
        return f"RRSet with DNS name {escape_name(rec['name'])} is not permitted in zone {zone['name']}"
    if rec["type"] == "CNAME" and rec["name"] == zone["name"]:
        return (f"RRSet of type CNAME with DNS name {escape_name(rec['name'])} "
                f"is not permitted at apex in zone {zone['name']}")
    for v in rec["values"]:
        try:
            if rec["type"] == "A":
                ipaddress.IPv4Address(v)
            elif rec["type"] == "AAAA":
                ipaddress.IPv6Address(v)
        except ValueError:
            kind = "ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)" if rec["type"] == "A" \
                else "AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)"
            return f"Invalid Resource Record: 'FATAL problem: {kind} encountered with '{v}''"
    return None


def _record_in(change):
    """Change XML dict -> stored record, or InvalidInput if TTL/records/alias are not right."""
    rrs = change.get("ResourceRecordSet") or {}
    rec = {"name": norm(rrs.get("Name", "")), "type": (rrs.get("Type") or "").upper(),
           "ttl": rrs.get("TTL"), "values": [r.get("Value", "") for r in rrs.get("ResourceRecords") or []]}
    for k, src in (("set_identifier", "SetIdentifier"), ("weight", "Weight"), ("alias_target", "AliasTarget")):
        if rrs.get(src) is not None:
            rec[k] = rrs[src]
    plain = rec["ttl"] is not None and rec["values"]
    if bool(rec.get("alias_target")) == bool(plain):
        found = "none" if not (rec.get("alias_target") or rec["ttl"] is not None or rec["values"]) else "an invalid mix"
        raise AwsError("InvalidInput",
                       "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
                       f"ResourceRecords], or TrafficPolicyInstanceId], but found {found} in Change with "
                       f"[Action={change.get('Action')}, Name={rrs.get('Name')}, Type={rrs.get('Type')}, "
                       f"SetIdentifier={rrs.get('SetIdentifier', 'null')}]")
    return rec


def change_resource_record_sets(st, ids, q, body, op):
    z = _zone(st, ids["Id"])
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise AwsError("InvalidInput", f"Invalid XML ; {e}")
    batch = _child(root, "ChangeBatch")
    req = _xml_parse(op.input_shape.members["ChangeBatch"], batch) if batch is not None else {}
    changes = req.get("Changes") or []
    if not changes:
        raise AwsError("InvalidInput", "1 validation error detected: Value null at "
                                       "'changeBatch.changes' failed to satisfy constraint: Member must not be null")
    work = [dict(r) for r in z["records"]]  # the whole batch applies, or none of it
    errors = []
    for ch in changes:
        action = ch.get("Action")
        if action not in ("CREATE", "DELETE", "UPSERT"):
            raise AwsError("InvalidInput", f"Invalid XML ; unknown Action '{action}'")
        rec = _record_in(ch)
        bad = _validate_value(z, rec)
        if bad:
            errors.append(bad)
            continue
        cur = next((r for r in work if _same_set(r, rec)), None)
        if action == "CREATE":
            if cur is not None:
                errors.append(f"Tried to create resource record set {_label(rec)} but it already exists")
                continue
            work.append(rec)
        elif action == "DELETE":
            if cur is None:
                errors.append(f"Tried to delete resource record set {_label(rec)} but it was not found")
            elif not _same_values(cur, rec):
                errors.append(f"Tried to delete resource record set {_label(rec)} "
                              "but the values provided do not match the current values")
            else:
                work.remove(cur)
        else:
            if cur is not None:
                work.remove(cur)
            work.append(rec)
    if errors:
        raise AwsError("InvalidChangeBatch", "[" + ", ".join(errors) + "]", 400, messages=errors)
    z["records"] = work
    cid = "C" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20))
    now = time.time()
    c = {"id": cid, "submitted_at": now, "insync_at": now + float(st.delays["route53_insync"]),
         "comment": req.get("Comment"), "zone": z["id"]}
    st.changes[cid] = c
    return _change_out(st, c)


def get_change(st, ids, q, body, op):
    cid = ids["Id"].split("/")[-1]
    c = st.changes.get(cid)
    if c is None:
        raise AwsError("NoSuchChange", f"Could not find resource with ID: {cid}", 404)
    return _change_out(st, c)


ACTIONS = {
    "GetHostedZone": get_hosted_zone, "ListHostedZones": list_hosted_zones,
    "ListHostedZonesByName": list_hosted_zones_by_name,
    "ListResourceRecordSets": list_resource_record_sets,
    "ChangeResourceRecordSets": change_resource_record_sets, "GetChange": get_change,
}
