"""IAM identity-policy enforcement for the sim.

Only when a policy is installed for the caller (its role's, or its access
key's: seed `roles: {NAME: {policy: {...}}}`, `credentials: [{..., policy}]`,
or `POST /_sim/policies/role/NAME` / `.../key/AKID` with the policy document)
is a request evaluated; without one every signed request is allowed, as
before.  A request is authorized the way AWS does it: for each resource the
action touches (EC2 AttachVolume: the instance and the volume), an explicit
Deny refuses, else an Allow whose Action, Resource and Condition match grants,
else it is refused.  CreateVolume with tags is also authorized as
ec2:CreateTags with ec2:CreateAction=CreateVolume, as EC2 does.

The request context holds what the generator's policies use:
aws:ResourceTag/K (and ec2:/autoscaling:ResourceTag/K), aws:RequestTag/K,
aws:TagKeys, aws:ARN (the resource's ARN), ec2:CreateAction, ec2:ParentVolume,
ec2:SourceInstanceARN (role credentials from an instance's IMDS),
aws:PrincipalArn, aws:PrincipalAccount, aws:RequestedRegion,
route53:ChangeResourceRecordSets{NormalizedRecordNames,RecordTypes,Actions},
cloudwatch:namespace.  Operators: String*, Arn*, Bool, Null, Numeric*, with
ForAllValues:/ForAnyValue: and ...IfExists; policy variables ${key} in
Resource and condition values.

Refusals are AWS's: EC2 403 UnauthorizedOperation "You are not authorized to
perform this operation. Encoded authorization failure message: ..." (here the
encoding is base64url JSON, so a test can read it), SNS 403 AuthorizationError,
the others 403 AccessDenied "User: ARN is not authorized to perform: ACTION
[on resource: ARN] because no identity-based policy allows the ACTION action"
(or "with an explicit deny in an identity-based policy").

To authorize a new action, add it to RESOURCES (or to a service's resolver)
with the resources AWS's Service Authorization Reference lists for it; an
action not listed is authorized on "*".
"""
import base64
import fnmatch
import json
import re
import uuid
import xml.etree.ElementTree as ET

from . import ec2_network
from .errors import AwsError

IAM_PREFIX = {"ec2": "ec2", "route53": "route53", "sns": "sns", "monitoring": "cloudwatch",
              "autoscaling": "autoscaling"}
STRING_OPS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
              "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"}
ARN_OPS = {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
NUMERIC_OPS = {"NumericEquals", "NumericNotEquals", "NumericLessThan",
               "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals"}
OPS = STRING_OPS | ARN_OPS | NUMERIC_OPS | {"Bool", "Null"}
STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
VAR_RE = re.compile(r"\$\{([^}]*)\}")


# ------------------------------------------------------------------ policies
def _list(v):
    return v if isinstance(v, list) else [v]


def check_policy(doc):
    """The policy as a list of statements; ValueError naming what is wrong."""
    if not isinstance(doc, dict):
        raise ValueError("a policy is a JSON object")
    unknown = set(doc) - {"Version", "Id", "Statement"}
    if unknown:
        raise ValueError(f"unknown policy keys {sorted(unknown)}")
    if doc.get("Version") != "2012-10-17":
        raise ValueError('policy Version must be "2012-10-17" (policy variables need it)')
    stmts = _list(doc.get("Statement") or [])
    out = []
    for i, s in enumerate(stmts):
        where = f"Statement[{i}]" + (f" ({s.get('Sid')})" if isinstance(s, dict) and s.get("Sid") else "")
        if not isinstance(s, dict):
            raise ValueError(f"{where} is not an object")
        if set(s) - STATEMENT_KEYS:
            raise ValueError(f"{where}: unknown keys {sorted(set(s) - STATEMENT_KEYS)}")
        if s.get("Effect") not in ("Allow", "Deny"):
            raise ValueError(f"{where}: Effect must be Allow or Deny")
        if ("Action" in s) == ("NotAction" in s):
            raise ValueError(f"{where}: exactly one of Action and NotAction")
        if ("Resource" in s) == ("NotResource" in s):
            raise ValueError(f"{where}: exactly one of Resource and NotResource")
        for k in ("Action", "NotAction"):
            for a in _list(s.get(k, [])):
                if not isinstance(a, str) or (a != "*" and ":" not in a):
                    raise ValueError(f"{where}: {k} {a!r} is not service:Action")
        for op, kv in (s.get("Condition") or {}).items():
            base = op.split(":", 1)[-1] if op.startswith(("ForAllValues:", "ForAnyValue:")) else op
            if base.endswith("IfExists"):
                base = base[:-len("IfExists")]
            if base not in OPS:
                raise ValueError(f"{where}: unknown condition operator {op}")
            if not isinstance(kv, dict) or not kv:
                raise ValueError(f"{where}: condition {op} must map keys to values")
            for key, vals in kv.items():
                if not all(isinstance(v, (str, bool, int)) for v in _list(vals)):
                    raise ValueError(f"{where}: condition {op} {key}: values are strings")
        out.append(s)
    return out


def policy_for(st, cred):
    """The installed policy (statement list) governing cred, or None."""
    if cred.get("policy") is not None:
        return cred["policy"]
    if cred.get("role"):
        return st.roles.get(cred["role"], {}).get("policy")
    return None


def install(st, kind, name, doc):
    """Control API: install (doc) or remove (None) the policy of a role or an access key."""
    stmts = None if doc is None else check_policy(doc)
    if kind == "role":
        st.roles.setdefault(name, {"deny": []})["policy"] = stmts
    elif kind == "key":
        if name not in st.credentials:
            raise KeyError(f"no access key {name}")
        st.credentials[name]["policy"] = stmts
    else:
        raise KeyError(f"policies are per role or per key, not {kind!r}")


def control(st, method, arg, doc):
    """/_sim/policies/role/NAME or /_sim/policies/key/AKID: GET, POST (the policy), DELETE."""
    kind, _, name = (arg or "").partition("/")
    if not name:
        raise KeyError("use /_sim/policies/role/NAME or /_sim/policies/key/AKID")
    if method == "POST":
        install(st, kind, name, doc)
    elif method == "DELETE":
        install(st, kind, name, None)
    holder = st.roles.get(name, {}) if kind == "role" else st.credentials.get(name, {})
    return {"kind": kind, "name": name, "policy": holder.get("policy")}


# ------------------------------------------------------------------ matching
def _glob(pattern, value, fold=False):
    if fold:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _arn_match(pattern, value):
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != 6 or len(v) != 6:
        return pattern == value
    return all(_glob(a, b) for a, b in zip(p, v))


def _subst(text, ctx):
    """Policy variables; None when one cannot be resolved (the value then matches nothing)."""
    if not isinstance(text, str) or "${" not in text:
        return text
    missing = []

    def one(m):
        name = m.group(1).strip()
        if name in ("*", "?", "$"):
            return name
        v = ctx.get(name.lower())
        if v is None or isinstance(v, list):
            missing.append(name)
            return ""
        return v
    out = VAR_RE.sub(one, text)
    return None if missing else out


def _match_one(op, want, have):
    if op in ("StringEquals", "StringNotEquals"):
        return want == have
    if op in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return want.lower() == have.lower()
    if op in ("StringLike", "StringNotLike"):
        return _glob(want, have)
    if op in ARN_OPS:
        return _arn_match(want, have)
    if op == "Bool":
        return str(want).lower() == str(have).lower()
    try:
        a, b = float(have), float(want)
    except ValueError:
        return False
    return {"NumericEquals": a == b, "NumericNotEquals": a == b, "NumericLessThan": a < b,
            "NumericLessThanEquals": a <= b, "NumericGreaterThan": a > b,
            "NumericGreaterThanEquals": a >= b}[op]


NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals",
           "ArnNotLike", "NumericNotEquals"}


def _negated(op):
    return op in NEGATED


def _condition(op, key, vals, ctx):
    have = ctx.get(key.lower())
    wants = [w for w in (_subst(v, ctx) if isinstance(v, str) else v for v in _list(vals))
             if w is not None]
    qual = None
    if op.startswith(("ForAllValues:", "ForAnyValue:")):
        qual, op = op.split(":", 1)
    if_exists = op.endswith("IfExists")
    if if_exists:
        op = op[:-len("IfExists")]
    if op == "Null":
        absent = have is None or have == []
        return any(str(w).lower() == ("true" if absent else "false") for w in wants)
    if have is None or have == []:
        if if_exists:
            return True
        if qual == "ForAllValues":
            return True
        if qual == "ForAnyValue":
            return False
        return _negated(op)
    haves = _list(have)
    neg = _negated(op)

    def matches(h):
        hit = any(_match_one(op, w if isinstance(w, str) else str(w), h) for w in wants)
        return not hit if neg else hit
    if qual == "ForAllValues":
        return all(matches(h) for h in haves)
    return any(matches(h) for h in haves)


def _statement_applies(s, action, resource, ctx):
    if "Action" in s:
        if not any(_glob(a, action, fold=True) for a in _list(s["Action"])):
            return False
    elif any(_glob(a, action, fold=True) for a in _list(s["NotAction"])):
        return False

    def res_hit(pats):
        for p in _list(pats):
            p = _subst(p, ctx)
            if p is not None and (_glob(p, resource) if resource == "*" or p == "*"
                                  else _arn_match(p, resource)):
                return True
        return False
    if "Resource" in s:
        if not res_hit(s["Resource"]):
            return False
    elif res_hit(s["NotResource"]):
        return False
    for op, kv in (s.get("Condition") or {}).items():
        for key, vals in kv.items():
            if not _condition(op, key, vals, ctx):
                return False
    return True


def evaluate(stmts, action, resource, ctx):
    """"allow", "explicit" (a Deny matched) or "implicit" (no Allow matched)."""
    if any(s["Effect"] == "Deny" and _statement_applies(s, action, resource, ctx) for s in stmts):
        return "explicit"
    if any(s["Effect"] == "Allow" and _statement_applies(s, action, resource, ctx) for s in stmts):
        return "allow"
    return "implicit"


# ------------------------------------------------------------------ request context
class Check:
    """One authorization: an action on a resource, with that resource's context."""

    def __init__(self, action, arn, tags=None, **keys):
        self.action, self.arn, self.tags, self.keys = action, arn, tags or {}, keys


def _tagctx(prefix, tags):
    out = {}
    for k, v in tags.items():
        out[f"aws:resourcetag/{k}".lower()] = v
        out[f"{prefix}:resourcetag/{k}".lower()] = v
    return out


def _request_tags(tags):
    ctx = {f"aws:requesttag/{k}".lower(): v for k, v in tags.items()}
    ctx["aws:tagkeys"] = sorted(tags)
    return ctx


def _ec2_arn(st, kind, rid):
    acct = "" if kind == "snapshot" else st.account_id
    return f"arn:aws:ec2:{st.region}:{acct}:{kind}/{rid}"


def _ec2_checks(st, action, p):
    inst = lambda iid: Check(f"ec2:{action}", _ec2_arn(st, "instance", iid),  # noqa: E731
                             (st.instances.get(iid) or {}).get("tags"))
    vol = lambda vid: Check(f"ec2:{action}", _ec2_arn(st, "volume", vid),  # noqa: E731
                            (st.volumes.get(vid) or {}).get("tags"))
    net = ec2_network.iam_checks(st, action, p, Check, _ec2_arn)  # ENIs, routes, addresses
    if net is not None:
        return net
    if action in ("AttachVolume", "DetachVolume"):
        vid, iid = p.get("VolumeId"), p.get("InstanceId")
        if not iid and vid in st.volumes:  # DetachVolume without InstanceId: the attachment's
            iid = next((a["instance"] for a in st.volumes[vid]["attachments"]), None)
        return [c for c in (iid and inst(iid), vid and vol(vid)) if c]
    if action in ("StopInstances", "StartInstances", "TerminateInstances", "RebootInstances"):
        return [inst(i) for i in p.get("InstanceIds") or []]
    if action == "GetConsoleOutput":
        return [inst(p.get("InstanceId"))]
    if action == "CreateTags":
        req = _request_tags({t["Key"]: t.get("Value", "") for t in p.get("Tags") or []})
        out = []
        for rid in p.get("Resources") or []:
            kind = {"i": "instance", "vol": "volume", "snap": "snapshot"}.get(rid.split("-")[0], "resource")
            table = {"instance": st.instances, "volume": st.volumes, "snapshot": st.snapshots}.get(kind, {})
            out.append(Check("ec2:CreateTags", _ec2_arn(st, kind, rid),
                             (table.get(rid) or {}).get("tags"), **req))
        return out
    if action == "CreateVolume":
        tags = {}
        for spec in p.get("TagSpecifications") or []:
            tags.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags") or []})
        req = _request_tags(tags)
        new = _ec2_arn(st, "volume", "*")
        out = [Check("ec2:CreateVolume", new, None, **req)]
        if p.get("SnapshotId"):
            snap = st.snapshots.get(p["SnapshotId"]) or {}
            parent = {"ec2:parentvolume": _ec2_arn(st, "volume", snap["volume_id"])} \
                if snap.get("volume_id") else {}
            out.append(Check("ec2:CreateVolume", _ec2_arn(st, "snapshot", p["SnapshotId"]),
                             snap.get("tags"), **parent))
        if tags:  # tag-on-create is authorized as CreateTags too
            out.append(Check("ec2:CreateTags", new, None, **req,
                             **{"ec2:createaction": "CreateVolume"}))
        return out
    if action == "CreateSnapshot":
        req = _request_tags({t["Key"]: t.get("Value", "") for spec in p.get("TagSpecifications") or []
                             for t in spec.get("Tags") or []})
        out = [vol(p.get("VolumeId")), Check("ec2:CreateSnapshot", _ec2_arn(st, "snapshot", "*"), None, **req)]
        if len(req) > 1:
            out.append(Check("ec2:CreateTags", _ec2_arn(st, "snapshot", "*"), None, **req,
                             **{"ec2:createaction": "CreateSnapshot"}))
        return out
    if action == "DeleteSnapshot":
        sid = p.get("SnapshotId")
        return [Check("ec2:DeleteSnapshot", _ec2_arn(st, "snapshot", sid),
                      (st.snapshots.get(sid) or {}).get("tags"))]
    return [Check(f"ec2:{action}", "*")]


def _route53_checks(action, hit_params, body):
    zid = (hit_params or {}).get("Id", "").split("/")[-1]
    if action in ("ListResourceRecordSets", "GetHostedZone"):
        return [Check(f"route53:{action}", f"arn:aws:route53:::hostedzone/{zid}")]
    if action == "GetChange":
        return [Check("route53:GetChange", f"arn:aws:route53:::change/{zid}")]
    if action == "ChangeResourceRecordSets":
        names, types, acts = [], [], []
        try:
            root = ET.fromstring(body or b"<x/>")
        except ET.ParseError:
            root = ET.fromstring("<x/>")
        for ch in root.iter():
            if ch.tag.rsplit("}", 1)[-1] != "Change":
                continue
            get = {c.tag.rsplit("}", 1)[-1]: c for c in ch.iter()}
            if "Action" in get:
                acts.append(get["Action"].text or "")
            if "Name" in get:
                n = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), get["Name"].text or "")
                names.append(n.lower().rstrip("."))
            if "Type" in get:
                types.append(get["Type"].text or "")
        return [Check("route53:ChangeResourceRecordSets", f"arn:aws:route53:::hostedzone/{zid}", None, **{
            "route53:changeresourcerecordsetsnormalizedrecordnames": sorted(set(names)),
            "route53:changeresourcerecordsetsrecordtypes": sorted(set(types)),
            "route53:changeresourcerecordsetsactions": sorted(set(acts))})]
    return [Check(f"route53:{action}", "*")]


def _group_arn(st, name):
    gid = uuid.uuid5(uuid.NAMESPACE_URL, f"asg/{name}")
    return f"arn:aws:autoscaling:{st.region}:{st.account_id}:autoScalingGroup:{gid}:autoScalingGroupName/{name}"


def _query_checks(st, service, action, p):
    prefix = IAM_PREFIX[service]
    if service == "sns" and action == "Publish":
        arn = p.get("TopicArn") or p.get("TargetArn")
        return [Check("sns:Publish", arn or "*")]
    if service == "monitoring" and action == "PutMetricData":
        return [Check("cloudwatch:PutMetricData", "*", None,
                      **{"cloudwatch:namespace": p.get("Namespace")})]
    if service == "autoscaling" and action in ("SetInstanceHealth", "CompleteLifecycleAction",
                                               "RecordLifecycleActionHeartbeat"):
        group = p.get("AutoScalingGroupName") or next(
            (n for n, g in st.asgs.items() if p.get("InstanceId") in g["instances"]), None)
        if group is None:
            return [Check(f"autoscaling:{action}", "*")]
        tags = st.asgs.get(group, {}).get("tags") or {}
        return [Check(f"autoscaling:{action}", _group_arn(st, group), tags)]
    return [Check(f"{prefix}:{action}", "*")]


def _principal(st, cred):
    if cred.get("role"):
        ctx = {"aws:principalarn": f"arn:aws:iam::{st.account_id}:role/{cred['role']}",
               "aws:principaltype": "AssumedRole"}
        who = f"arn:aws:sts::{st.account_id}:assumed-role/{cred['role']}/{cred.get('instance')}"
        if cred.get("instance"):
            ctx["ec2:sourceinstancearn"] = _ec2_arn(st, "instance", cred["instance"])
    else:
        ctx = {"aws:principalarn": f"arn:aws:iam::{st.account_id}:user/sim", "aws:principaltype": "User"}
        who = ctx["aws:principalarn"]
    ctx.update({"aws:principalaccount": st.account_id, "aws:requestedregion": st.region})
    return who, ctx


def _refusal(service, who, check, decision):
    perm = check.action
    if service == "ec2":
        detail = json.dumps({"allowed": False, "explicitDeny": decision == "explicit",
                             "context": {"principal": who, "action": perm, "resource": check.arn}})
        enc = base64.urlsafe_b64encode(detail.encode()).decode().rstrip("=")
        return AwsError("UnauthorizedOperation", "You are not authorized to perform this operation. "
                        f"Encoded authorization failure message: {enc}", 403)
    shown = "SNS:" + perm.split(":", 1)[1] if service == "sns" else perm
    on = "" if check.arn == "*" else f" on resource: {check.arn}"
    why = ("with an explicit deny in an identity-based policy" if decision == "explicit"
           else f"because no identity-based policy allows the {shown} action")
    code = "AuthorizationError" if service == "sns" else "AccessDenied"
    return AwsError(code, f"User: {who} is not authorized to perform: {shown}{on} {why}", 403)


def authorize(st, cred, service, action, params, hit=None, body=None):
    """Raises the AWS refusal unless the caller's installed policy allows every check."""
    with st.lock:
        stmts = policy_for(st, cred)
        if stmts is None:
            return
        if service == "ec2":
            checks = _ec2_checks(st, action, params or {})
        elif service == "route53":
            checks = _route53_checks(action, hit[1] if hit else None, body)
        else:
            checks = _query_checks(st, service, action, params or {})
        who, base = _principal(st, cred)
        for c in checks:
            ctx = dict(base)
            if c.arn != "*":
                ctx["aws:arn"] = c.arn
            ctx.update(_tagctx(c.action.split(":")[0], c.tags))
            ctx.update({k.lower(): v for k, v in c.keys.items()})
            decision = evaluate(stmts, c.action, c.arn, ctx)
            st.log({"event": "iam", "who": who, "action": c.action, "resource": c.arn,
                    "decision": decision})
            if decision != "allow":
                raise _refusal(service, who, c, decision)
