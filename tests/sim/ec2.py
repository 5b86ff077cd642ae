"""EC2 (API version 2016-11-15): volumes, instances, snapshots, tags, console.

Handlers take the model-parsed input dict and return the output dict (model
member names); xmlout turns it into EC2's XML. Error codes and messages are
the ones EC2 sends.
"""
import base64
import fnmatch
import hashlib
import re
import secrets
import time

from . import snapshots
from .errors import AwsError
from .xmlout import iso

STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
               "stopping": 64, "stopped": 80}
VOLUME_TYPES = {"standard", "io1", "io2", "gp2", "gp3", "sc1", "st1"}
DEVICE_RE = re.compile(r"^/dev/(sd[a-z]{1,2}[0-9]{0,2}|xvd[a-z]{1,2}|hd[a-z])$")
ID_RE = {"vol": re.compile(r"^vol-([0-9a-f]{8}|[0-9a-f]{17})$"),
         "i": re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$"),
         "snap": re.compile(r"^snap-([0-9a-f]{8}|[0-9a-f]{17})$")}
DRY_RUN = ("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


class Ctx:
    """Per-call context: DryRun handling and the eventual-consistency view."""

    def __init__(self, st, dry=False, stale=False):
        self.st, self.dry, self.stale = st, dry, stale

    def commit(self):
        """Called where the call would start changing things: DryRun stops here."""
        if self.dry:
            raise AwsError(*DRY_RUN)


def _hexid(prefix):
    return f"{prefix}-0{secrets.token_hex(8)}"


def _region(az):
    return az[:-1] if az and az[-1].isalpha() else az


def _tags_out(tags):
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())] or None


# ------------------------------------------------------------------ lookups
def _not_found(kind, ids):
    quoted = ", ".join(ids)
    if kind == "vol":
        if len(ids) == 1:
            return AwsError("InvalidVolume.NotFound", f"The volume '{quoted}' does not exist.")
        return AwsError("InvalidVolume.NotFound", f"The volumes '{quoted}' do not exist.")
    if kind == "i":
        if len(ids) == 1:
            return AwsError("InvalidInstanceID.NotFound", f"The instance ID '{quoted}' does not exist")
        return AwsError("InvalidInstanceID.NotFound", f"The instance IDs '{quoted}' do not exist")
    return AwsError("InvalidSnapshot.NotFound", f"The snapshot '{quoted}' does not exist.")


def _malformed(kind, rid):
    if kind == "vol":
        return AwsError("InvalidVolumeID.Malformed", f'Invalid id: "{rid}" (expecting "vol-...")')
    if kind == "i":
        return AwsError("InvalidInstanceID.Malformed", f'Invalid id: "{rid}"')
    return AwsError("InvalidSnapshotID.Malformed", f'Invalid id: "{rid}" (expecting "snap-...")')


def _select(table, ids, kind):
    """Resources by id in request order; the AWS error when some are unknown."""
    missing = [i for i in ids if i not in table]
    for i in missing:
        if not ID_RE[kind].match(i):
            raise _malformed(kind, i)
    if missing:
        raise _not_found(kind, missing)
    return [table[i] for i in dict.fromkeys(ids)]


def _get(table, rid, kind):
    return _select(table, [rid], kind)[0]


# ------------------------------------------------------------------ filters
def _b(v):
    return "true" if v else "false"


def _atts(key, fmt=str):
    return lambda v: [fmt(a[key]) for a in v["attachments"]]


VOL_FIELDS = {
    "volume-id": lambda v: [v["id"]], "status": lambda v: [v["state"]],
    "availability-zone": lambda v: [v["az"]], "size": lambda v: [str(v["size"])],
    "volume-type": lambda v: [v["type"]], "snapshot-id": lambda v: [v["snapshot_id"]],
    "encrypted": lambda v: [_b(v["encrypted"])],
    "multi-attach-enabled": lambda v: [_b(v["multi_attach"])],
    "create-time": lambda v: [iso(v["create_time"])],
    "attachment.instance-id": _atts("instance"), "attachment.status": _atts("state"),
    "attachment.device": _atts("device"), "attachment.attach-time": _atts("attach_time", iso),
    "attachment.delete-on-termination": _atts("delete_on_termination", _b),
}
SNAP_FIELDS = {
    "snapshot-id": lambda s: [s["id"]], "volume-id": lambda s: [s["volume_id"]],
    "status": lambda s: [s["state"]], "owner-id": lambda s: [s["owner_id"]],
    "description": lambda s: [s["description"]], "progress": lambda s: [s["progress"]],
    "volume-size": lambda s: [str(s["size"])], "start-time": lambda s: [iso(s["start_time"])],
    "encrypted": lambda s: [_b(s["encrypted"])],
}
TAG_ROW_FIELDS = {
    "resource-id": lambda r: [r["ResourceId"]], "resource-type": lambda r: [r["ResourceType"]],
    "key": lambda r: [r["Key"]], "value": lambda r: [r["Value"]],
}


def _inst_fields(st, vols):
    def bdm(key):
        return lambda i: [a[key] for _, a in _attachments_of(vols, i["id"])]
    return {
        "instance-id": lambda i: [i["id"]], "instance-state-name": lambda i: [i["state"]],
        "instance-state-code": lambda i: [str(STATE_CODES[i["state"]])],
        "availability-zone": lambda i: [i["az"]], "private-ip-address": lambda i: [i["private_ip"]],
        "ip-address": lambda i: [i["public_ip"] or ""], "instance-type": lambda i: [i["instance_type"]],
        "image-id": lambda i: [i["ami"]], "vpc-id": lambda i: [i["vpc_id"]],
        "subnet-id": lambda i: [i["subnet_id"]], "private-dns-name": lambda i: [_private_dns(i)],
        "block-device-mapping.volume-id": lambda i: [vid for vid, _ in _attachments_of(vols, i["id"])],
        "block-device-mapping.device-name": bdm("device"),
        "block-device-mapping.status": bdm("state"),
        "iam-instance-profile.arn": lambda i: [_profile_arn(st, i)] if i["iam_role"] else [],
    }


def _filter(items, filters, fields, tags=lambda r: r["tags"]):
    """EC2 filter semantics: AND across filters, OR across values, * and ? wildcards."""
    for f in filters or []:
        name = f.get("Name", "")
        if name not in fields and name not in ("tag-key", "tag-value") and not name.startswith("tag:"):
            raise AwsError("InvalidParameterValue", f"The filter '{name}' is invalid")
    for f in filters or []:
        name = f.get("Name", "")
        pats = [v.replace("[", "[[]") for v in f.get("Values") or []]

        def cands(r):
            if name in fields:
                return fields[name](r)
            t = tags(r)
            if name == "tag-key":
                return list(t)
            if name == "tag-value":
                return list(t.values())
            return [t[name[4:]]] if name[4:] in t else []
        items = [r for r in items if any(fnmatch.fnmatchcase(c, p) for c in cands(r) for p in pats)]
    return items


def _page(items, p, ids_given, lo, hi, list_name):
    mr, tok = p.get("MaxResults"), p.get("NextToken")
    if mr is None and tok is None:
        return items, None
    if ids_given and mr is not None:
        raise AwsError("InvalidParameterCombination",
                       f"The parameter {list_name} cannot be used with the parameter maxResults")
    if mr is not None and not lo <= mr <= hi:
        raise AwsError("InvalidParameterValue",
                       f"Value ( {mr} ) for parameter maxResults is invalid. "
                       f"Expecting a value between {lo} and {hi}.")
    start = 0
    if tok:
        try:
            start = int(base64.b64decode(tok).decode())
        except ValueError:
            raise AwsError("InvalidPaginationToken", f"Invalid pagination token: {tok}")
    mr = mr or hi
    nxt = base64.b64encode(str(start + mr).encode()).decode() if start + mr < len(items) else None
    return items[start:start + mr], nxt


# ------------------------------------------------------------------ output shapes
def _att_out(vol, a):
    return {"AttachTime": a["attach_time"], "Device": a["device"], "InstanceId": a["instance"],
            "State": a["state"], "VolumeId": vol["id"],
            "DeleteOnTermination": a["delete_on_termination"]}


def _iops(v):
    if v["type"] == "gp2":
        return min(16000, max(100, 3 * v["size"]))
    if v["type"] == "gp3":
        return v["iops"] or 3000
    return v["iops"] if v["type"] in ("io1", "io2") else None


def volume_out(v):
    return {"VolumeId": v["id"], "Size": v["size"], "SnapshotId": v["snapshot_id"] or "",
            "AvailabilityZone": v["az"], "State": v["state"], "CreateTime": v["create_time"],
            "Attachments": [_att_out(v, a) for a in v["attachments"]],
            "VolumeType": v["type"], "Iops": _iops(v), "Encrypted": v["encrypted"],
            "MultiAttachEnabled": v["multi_attach"], "Tags": _tags_out(v["tags"]),
            "Throughput": (v.get("throughput") or 125) if v["type"] == "gp3" else None,
            "KmsKeyId": v.get("kms_key_id") if v["encrypted"] else None}


def _attachments_of(vols, iid):
    return [(v["id"], a) for v in vols.values() for a in v["attachments"] if a["instance"] == iid]


def _private_dns(i):
    if i["state"] == "terminated":
        return ""
    return i.get("hostname") or "ip-%s.%s.compute.internal" % (
        i["private_ip"].replace(".", "-"), _region(i["az"]))


def _profile_arn(st, i):
    return f"arn:aws:iam::{st.account_id}:instance-profile/{i['iam_role']}"


def _root_volume_id(iid):
    return "vol-0" + hashlib.sha256(iid.encode()).hexdigest()[:16]


def instance_out(st, vols, i):
    term = i["state"] == "terminated"
    bdm = [] if term else [{"DeviceName": "/dev/xvda", "Ebs": {
        "AttachTime": i["launch_time"], "DeleteOnTermination": True, "Status": "attached",
        "VolumeId": _root_volume_id(i["id"])}}]
    for vid, a in _attachments_of(vols, i["id"]):
        bdm.append({"DeviceName": a["device"], "Ebs": {
            "AttachTime": a["attach_time"], "DeleteOnTermination": a["delete_on_termination"],
            "Status": a["state"], "VolumeId": vid}})
    out = {
        "AmiLaunchIndex": 0, "ImageId": i["ami"], "InstanceId": i["id"],
        "InstanceType": i["instance_type"], "LaunchTime": i["launch_time"],
        "Monitoring": {"State": "disabled"},
        "Placement": {"AvailabilityZone": i["az"], "GroupName": "", "Tenancy": "default"},
        "PrivateDnsName": _private_dns(i),
        "PrivateIpAddress": None if term else i["private_ip"],
        "PublicDnsName": "", "PublicIpAddress": None if term else i["public_ip"],
        "State": {"Code": STATE_CODES[i["state"]], "Name": i["state"]},
        "StateTransitionReason": (i.get("state_reason") or {}).get("transition", ""),
        "SubnetId": None if term else i["subnet_id"], "VpcId": None if term else i["vpc_id"],
        "Architecture": "x86_64", "BlockDeviceMappings": bdm, "EbsOptimized": False,
        "EnaSupport": True, "Hypervisor": "xen", "RootDeviceName": "/dev/xvda",
        "RootDeviceType": "ebs", "SecurityGroups": [], "SourceDestCheck": True,
        "Tags": _tags_out(i["tags"]), "VirtualizationType": "hvm",
        "MetadataOptions": {"State": "applied",
                            "HttpTokens": "optional" if i["imdsv1"] else "required",
                            "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
    }
    if i["iam_role"]:
        out["IamInstanceProfile"] = {"Arn": _profile_arn(st, i),
                                     "Id": "AIPA" + hashlib.sha1(i["iam_role"].encode()).hexdigest()[:17].upper()}
    if i.get("state_reason"):
        out["StateReason"] = {"Code": i["state_reason"]["code"], "Message": i["state_reason"]["message"]}
    return out


def snapshot_out(s):
    return {"SnapshotId": s["id"], "VolumeId": s["volume_id"], "State": s["state"],
            "StartTime": s["start_time"], "Progress": s["progress"], "OwnerId": s["owner_id"],
            "VolumeSize": s["size"], "Description": s["description"], "Encrypted": s["encrypted"],
            "Tags": _tags_out(s["tags"]),
            "KmsKeyId": s.get("kms_key_id") if s["encrypted"] else None}


# ------------------------------------------------------------------ transitions
def _hook(st, vol, action, att):
    def build():
        argv = vol.get("hook") or st.attach_hook
        if not argv:
            return None
        return argv, {"SIM_ACTION": action, "SIM_VOLUME_ID": vol["id"],
                      "SIM_INSTANCE_ID": att["instance"], "SIM_DEVICE": att["device"],
                      "SIM_BACKING": vol.get("backing"), "SIM_SNAPSHOT_ID": vol.get("snapshot_id")}
    return build


def _schedule_attach(st, vol, att):
    gen = att["gen"]

    def live():
        return att in vol["attachments"] and att["gen"] == gen and att["state"] == "attaching"

    def apply():
        att["state"] = "attached"
    st.schedule(st.delays["attach"], live, apply, _hook(st, vol, "attach", att))


def _start_detach(st, vol, att, delay):
    """attachment -> detaching, and detached (removed) after `delay` unless it is stuck."""
    att["state"] = "detaching"
    att["gen"] = gen = next(st._seq)
    if delay is None:
        return

    def live():
        return att in vol["attachments"] and att["gen"] == gen and att["state"] == "detaching"

    def apply():
        vol["attachments"].remove(att)
        if not vol["attachments"] and vol["state"] == "in-use":
            vol["state"] = "available"
        if att["delete_on_termination"] and st.instances.get(att["instance"], {}).get("state") in (
                "shutting-down", "terminated"):
            st.volumes.pop(vol["id"], None)
    st.schedule(delay, live, apply, _hook(st, vol, "detach", att))


def _set_state(i, state, code=None, message=None):
    i["state"] = state
    if code:
        i["state_reason"] = {"code": code, "message": message,
                             "transition": f"{message} ({time.strftime('%Y-%m-%d %H:%M:%S GMT', time.gmtime())})"}


def kill_instance(st, inst, final=False):
    """Terminate: shutting-down -> terminated; its volumes detach after terminate_detach.

    AWS detaches (non-root) EBS volumes of a terminated instance; a stopped
    instance keeps them attached, which is why takeover must fence first.
    """
    if inst["state"] in ("shutting-down", "terminated"):
        if final:
            inst["state"] = "terminated"
        return
    _set_state(inst, "terminated" if final else "shutting-down",
               "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown")
    if not final:
        st.schedule(st.delays["terminate"], lambda: inst["state"] == "shutting-down",
                    lambda: inst.update(state="terminated"))
    for vol in st.volumes.values():
        for att in list(vol["attachments"]):
            if att["instance"] != inst["id"]:
                continue
            gen = att["gen"]
            st.schedule(st.delays["terminate_detach"],
                        lambda vol=vol, att=att, gen=gen: att in vol["attachments"] and att["gen"] == gen
                        and att["state"] in ("attached", "attaching"),
                        lambda vol=vol, att=att: _start_detach(st, vol, att, st.delays["detach"]))


def stop_instance(st, inst, force=False):
    prev = inst["state"]
    if prev in ("pending", "shutting-down", "terminated"):
        raise AwsError("IncorrectInstanceState",
                       f"This instance '{inst['id']}' is not in a state from which it can be stopped.")
    if prev == "stopped" or (prev == "stopping" and not force):
        return prev
    if prev == "running":
        _set_state(inst, "stopping", "Client.UserInitiatedShutdown",
                   "Client.UserInitiatedShutdown: User initiated shutdown")
    if inst.get("stop_hangs") and not force:
        return prev  # a wedged OS: only a forced stop gets it to stopped
    st.schedule(st.delays["stop_force" if force else "stop"],
                lambda: inst["state"] == "stopping", lambda: inst.update(state="stopped"))
    return prev


def set_instance_state(st, iid, state):
    """Control API: move an instance to `state` the way EC2 would get there."""
    inst = st.instances[iid]
    if state in ("terminated", "shutting-down"):
        kill_instance(st, inst, final=(state == "terminated"))
    elif state == "stopping":
        stop_instance(st, inst)
    elif state == "pending":
        inst["state"] = "pending"
        st.schedule(st.delays["pending"], lambda: inst["state"] == "pending",
                    lambda: inst.update(state="running"))
    elif state in STATE_CODES:
        inst["state"] = state
        if state == "running":
            inst["state_reason"] = None
    else:
        raise ValueError(f"unknown instance state {state!r}")


# ------------------------------------------------------------------ actions
def describe_volumes(st, p, ctx):
    ctx.commit()
    _, vols, _ = st.ec2_view(ctx.stale)
    ids = p.get("VolumeIds") or []
    items = _select(vols, ids, "vol") if ids else list(vols.values())
    items = _filter(items, p.get("Filters"), VOL_FIELDS)
    page, nxt = _page(items, p, bool(ids), 5, 500, "volumeSet")
    return {"Volumes": [volume_out(v) for v in page], "NextToken": nxt}


def describe_instances(st, p, ctx):
    ctx.commit()
    insts, vols, _ = st.ec2_view(ctx.stale)
    ids = p.get("InstanceIds") or []
    items = _select(insts, ids, "i") if ids else list(insts.values())
    items = _filter(items, p.get("Filters"), _inst_fields(st, vols))
    page, nxt = _page(items, p, bool(ids), 5, 1000, "instanceIdSet")
    return {"Reservations": [{"ReservationId": i["reservation_id"], "OwnerId": st.account_id,
                              "Groups": [], "Instances": [instance_out(st, vols, i)]} for i in page],
            "NextToken": nxt}


def describe_snapshots(st, p, ctx):
    ctx.commit()
    _, _, snaps = st.ec2_view(ctx.stale)
    ids = p.get("SnapshotIds") or []
    items = _select(snaps, ids, "snap") if ids else list(snaps.values())
    owners = p.get("OwnerIds")
    if owners:
        owners = {st.account_id if o == "self" else o for o in owners}
        items = [s for s in items if s["owner_id"] in owners]
    items = _filter(items, p.get("Filters"), SNAP_FIELDS)
    page, nxt = _page(items, p, bool(ids), 5, 1000, "snapshotSet")
    return {"Snapshots": [snapshot_out(s) for s in page], "NextToken": nxt}


def attach_volume(st, p, ctx):
    vol = _get(st.volumes, p["VolumeId"], "vol")
    inst = _get(st.instances, p["InstanceId"], "i")
    dev, vid, iid = p["Device"], vol["id"], inst["id"]
    if not DEVICE_RE.match(dev):
        raise AwsError("InvalidParameterValue",
                       f"Value ({dev}) for parameter device is invalid. {dev} is not a valid EBS device name.")
    if inst["state"] not in ("running", "stopped"):
        raise AwsError("IncorrectInstanceState", f"Instance '{iid}' is not 'running'.")
    if vol["az"] != inst["az"]:
        raise AwsError("InvalidVolume.ZoneMismatch",
                       f"The volume '{vid}' is not in the same availability zone as instance '{iid}'")
    if vol["state"] not in ("available", "in-use"):
        raise AwsError("IncorrectState", f"The volume '{vid}' is not in 'available' state.")
    if vol["attachments"] and (not vol["multi_attach"]
                               or any(a["instance"] == iid for a in vol["attachments"])):
        raise AwsError("VolumeInUse", f"{vid} is already attached to an instance")
    used = {"/dev/xvda", "/dev/sda1"} | {a["device"] for _, a in _attachments_of(st.volumes, iid)}
    if dev in used:
        raise AwsError("InvalidParameterValue",
                       f"Invalid value '{dev}' for unixDevice. Attachment point {dev} is already in use")
    ctx.commit()
    st.mark_ec2()
    att = {"instance": iid, "device": dev, "state": "attaching", "attach_time": time.time(),
           "delete_on_termination": False, "gen": next(st._seq)}
    vol["attachments"].append(att)
    vol["state"] = "in-use"
    _schedule_attach(st, vol, att)
    return _att_out(vol, att)


def detach_volume(st, p, ctx):
    vol = _get(st.volumes, p["VolumeId"], "vol")
    vid, iid, dev = vol["id"], p.get("InstanceId"), p.get("Device")
    if iid:
        _get(st.instances, iid, "i")
    if not vol["attachments"]:
        raise AwsError("IncorrectState", f"Volume '{vid}' is in the '{vol['state']}' state.")
    atts = [a for a in vol["attachments"]
            if (not iid or a["instance"] == iid) and (not dev or a["device"] == dev)]
    if not atts:
        raise AwsError("InvalidAttachment.NotFound",
                       f"Attachment point for volume '{vid}' and instance '{iid}' was not found.")
    if len(atts) > 1:
        raise AwsError("InvalidParameterCombination",
                       f"Volume '{vid}' is attached to more than one instance: specify InstanceId")
    att = atts[0]
    ctx.commit()
    st.mark_ec2()
    force = bool(p.get("Force"))
    if att["state"] == "detaching" and not force:
        return _att_out(vol, att)
    stuck = vol.get("stuck_detaching") and not force
    _start_detach(st, vol, att, None if stuck else st.delays["force_detach" if force else "detach"])
    return _att_out(vol, att)


def create_volume(st, p, ctx):
    az = p["AvailabilityZone"]
    if not re.match(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$", az):
        raise AwsError("InvalidParameterValue", f"Invalid availability zone: [{az}]")
    vtype = p.get("VolumeType", "gp2")
    if vtype not in VOLUME_TYPES:
        raise AwsError("InvalidParameterValue",
                       f"Value ({vtype}) for parameter volumeType is invalid. "
                       f"Valid values: {', '.join(sorted(VOLUME_TYPES))}")
    snap = None
    if p.get("SnapshotId"):
        snap = _get(st.snapshots, p["SnapshotId"], "snap")
        if snap["state"] != "completed":
            raise AwsError("IncorrectState", f"Snapshot '{snap['id']}' is not 'completed'.")
    size = p.get("Size")
    if size is None and snap is None:
        raise AwsError("MissingParameter", "The request must contain the parameter size or snapshotId")
    if snap is not None and size is not None and size < snap["size"]:
        raise AwsError("InvalidParameterValue",
                       f"Volume of size {size}GB is smaller than snapshot '{snap['id']}', "
                       f"expect size >= {snap['size']}GB")
    if vtype in ("io1", "io2") and not p.get("Iops"):
        raise AwsError("MissingParameter", f"The parameter iops must be specified for {vtype} volumes.")
    if p.get("Iops") and vtype not in ("io1", "io2", "gp3"):
        raise AwsError("InvalidParameterCombination",
                       f"The parameter iops is not supported for {vtype} volumes.")
    if p.get("Throughput") and vtype != "gp3":
        raise AwsError("InvalidParameterCombination",
                       f"The parameter throughput is not supported for {vtype} volumes.")
    if p.get("KmsKeyId") and not p.get("Encrypted"):
        raise AwsError("InvalidParameterDependency",
                       "The parameter KmsKeyId requires the parameter Encrypted to be set.")
    if p.get("MultiAttachEnabled") and vtype not in ("io1", "io2"):
        raise AwsError("InvalidParameterCombination",
                       "The parameter multiAttachEnabled is only supported for io1 and io2 volumes.")
    tags = {}
    for spec in p.get("TagSpecifications") or []:
        if spec.get("ResourceType") != "volume":
            raise AwsError("InvalidParameterValue",
                           f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.")
        for t in spec.get("Tags") or []:
            if t["Key"].lower().startswith("aws:"):
                raise AwsError("InvalidParameterValue",
                               "Tag keys starting with 'aws:' are reserved for internal use")
            if t["Key"] in tags:
                raise AwsError("InvalidParameterValue", f"Duplicate tag key '{t['Key']}' specified.")
            tags[t["Key"]] = t.get("Value", "")
    ctx.commit()
    vid = _hexid("vol")
    st.mark_ec2()
    encrypted = bool(p.get("Encrypted")) or bool(snap and snap["encrypted"])
    kms = p.get("KmsKeyId") or (snap.get("kms_key_id") if snap else None)
    vol = {"id": vid, "az": az, "size": size or snap["size"], "type": vtype, "iops": p.get("Iops"),
           "state": "creating", "tags": tags, "multi_attach": bool(p.get("MultiAttachEnabled")),
           "encrypted": encrypted,
           "kms_key_id": (kms or snapshots.default_kms(st)) if encrypted else None,
           "throughput": p.get("Throughput"),
           "snapshot_id": snap["id"] if snap else "",
           "backing": snapshots.restore_backing(st, snap, vid),
           "hook": None, "attachments": [], "stuck_detaching": False, "create_time": time.time()}
    st.volumes[vid] = vol
    st.schedule(st.delays["create_volume"], lambda: vol["state"] == "creating",
                lambda: vol.update(state="available"))
    return volume_out(vol)


def _instances_change(st, p, ctx, fn, out_key):
    insts = _select(st.instances, p["InstanceIds"], "i")
    ctx.commit()
    st.mark_ec2()
    out = []
    for i in insts:
        prev = fn(i)
        out.append({"InstanceId": i["id"],
                    "CurrentState": {"Code": STATE_CODES[i["state"]], "Name": i["state"]},
                    "PreviousState": {"Code": STATE_CODES[prev], "Name": prev}})
    return {out_key: out}


def stop_instances(st, p, ctx):
    insts = _select(st.instances, p["InstanceIds"], "i")
    for i in insts:  # validate all before changing any: EC2 fails the whole call
        if i["state"] in ("pending", "shutting-down", "terminated"):
            raise AwsError("IncorrectInstanceState",
                           f"This instance '{i['id']}' is not in a state from which it can be stopped.")
    return _instances_change(st, p, ctx, lambda i: stop_instance(st, i, bool(p.get("Force"))),
                             "StoppingInstances")


def terminate_instances(st, p, ctx):
    def term(i):
        prev = i["state"]
        kill_instance(st, i)
        return prev
    return _instances_change(st, p, ctx, term, "TerminatingInstances")


def _resource(st, rid):
    prefix = rid.split("-", 1)[0]
    table = {"vol": st.volumes, "i": st.instances, "snap": st.snapshots}.get(prefix)
    if table is None:
        raise AwsError("InvalidID", f"The ID '{rid}' is not valid")
    return _get(table, rid, prefix)


def create_tags(st, p, ctx):
    res = [_resource(st, r) for r in p["Resources"]]
    for t in p["Tags"]:
        if t["Key"].lower().startswith("aws:"):
            raise AwsError("InvalidParameterValue",
                           "Tag keys starting with 'aws:' are reserved for internal use")
    ctx.commit()
    st.mark_ec2()
    for r in res:
        r["tags"].update({t["Key"]: t.get("Value", "") for t in p["Tags"]})
    return None


def describe_tags(st, p, ctx):
    ctx.commit()
    rows = []
    for rtype, table in (("instance", st.instances), ("snapshot", st.snapshots), ("volume", st.volumes)):
        for r in table.values():
            for k, v in sorted(r["tags"].items()):
                rows.append({"ResourceId": r["id"], "ResourceType": rtype, "Key": k, "Value": v})
    tag = lambda r: {r["Key"]: r["Value"]}  # noqa: E731 ("tag:K" on a row is its own key)
    rows = _filter(rows, p.get("Filters"), TAG_ROW_FIELDS, tags=tag)
    page, nxt = _page(rows, p, False, 5, 1000, "tagSet")
    return {"Tags": page, "NextToken": nxt}


def get_console_output(st, p, ctx):
    inst = _get(st.instances, p["InstanceId"], "i")
    ctx.commit()
    con = st.console.get(inst["id"])
    return {"InstanceId": inst["id"], "Timestamp": con["time"] if con else time.time(),
            "Output": con["output"] if con else None}


ACTIONS = {
    "DescribeVolumes": describe_volumes, "DescribeInstances": describe_instances,
    "DescribeSnapshots": describe_snapshots, "AttachVolume": attach_volume,
    "DetachVolume": detach_volume, "CreateVolume": create_volume,
    "StopInstances": stop_instances, "TerminateInstances": terminate_instances,
    "CreateTags": create_tags, "DescribeTags": describe_tags,
    "GetConsoleOutput": get_console_output,
    **snapshots.ACTIONS,
}
# Calls that may answer from the stale view under a "lag" fault.
LAGGABLE = {"DescribeVolumes", "DescribeInstances", "DescribeSnapshots"}
