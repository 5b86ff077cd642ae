"""EC2 snapshots: CreateSnapshot and DeleteSnapshot, and what a snapshot holds.

A snapshot is `pending` (progress 0%..) until `delays.snapshot` s after the
request, then `completed` (100%).  Its point in time is the request: when the
volume has a `backing` (a loop device, or an image file), its bytes are copied
into an image at that moment (the loop device's backing file, sparse-aware),
so a volume restored from it (CreateVolume SnapshotId=...) is a real image,
its own copy, that an attach hook can present as the new volume.

EC2's behaviour kept here:
- a second CreateSnapshot of one volume within `delays.snapshot_rate` s
  (default 15) is refused: 400 SnapshotCreationPerVolumeRateExceeded;
- DeleteSnapshot of a pending snapshot is accepted, but the snapshot stays
  (pending) until it completes, then goes: "Although you can delete a
  snapshot that is still in progress, the snapshot must complete before the
  deletion takes effect" (EBS user guide);
- tags come with the request (TagSpecification ResourceType=snapshot);
  aws:* keys are refused.
"""
import errno
import os
import shutil
import stat
import tempfile
import time

from .errors import AwsError

RATE_MESSAGE = ("The maximum per volume CreateSnapshot request rate has been exceeded. "
                "Use an increasing or variable sleep interval between requests.")
DEFAULT_KMS = "arn:aws:kms:{region}:{account}:key/0e0e0e0e-aaaa-bbbb-cccc-ebsdefault000"


def image_dir(st):
    """Where captured and restored images go: options.snapshot_dir, else a
    directory of the sim's own, removed when it stops."""
    d = st.options.get("snapshot_dir")
    if d:
        os.makedirs(d, exist_ok=True)
        return d
    if st.snapshot_tmp is None:
        st.snapshot_tmp = tempfile.mkdtemp(prefix="sim-snapshots-")
    return st.snapshot_tmp


def backing_file(path):
    """The file holding a backing's bytes: a loop device's backing file, or the
    path itself for an image file; None for anything else."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return path
    if stat.S_ISBLK(mode):
        name = os.path.basename(os.path.realpath(path))
        try:
            with open(f"/sys/block/{name}/loop/backing_file") as f:
                return f.read().strip()
        except OSError:
            return path  # some other block device: read it directly
    return None


def sparse_copy(src, dst):
    """Copies src to dst, keeping holes (an image is mostly holes)."""
    with open(src, "rb") as fi, open(dst + ".tmp", "wb") as fo:
        fd = fi.fileno()
        size = fi.seek(0, os.SEEK_END)  # a block device's size too
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
                hole = os.lseek(fd, data, os.SEEK_HOLE)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break           # nothing but holes from pos on
                data, hole = pos, size  # no hole support (a device): copy it all
            fi.seek(data)
            fo.seek(data)
            left = hole - data
            while left > 0:
                chunk = fi.read(min(left, 1 << 20))
                if not chunk:
                    break
                fo.write(chunk)
                left -= len(chunk)
            pos = hole
        fo.truncate(size)
        fo.flush()
        os.fsync(fo.fileno())
    os.replace(dst + ".tmp", dst)


def capture(st, vol, sid):
    """The volume's bytes now, as an image file; None without a backing."""
    if not vol.get("backing"):
        return None
    src = backing_file(vol["backing"])
    if src is None:
        return None
    dst = os.path.join(image_dir(st), f"{sid}.img")
    sparse_copy(src, dst)
    return dst


def restore_backing(st, snap, vid):
    """A new volume's backing from snap: an image snapshot gives the volume its
    own copy (writes to it must not change the snapshot); a block device given
    as a seeded snapshot's backing is shared, as before."""
    if snap is None or not snap.get("backing"):
        return None
    b = snap["backing"]
    if os.path.isfile(b):
        dst = os.path.join(image_dir(st), f"{vid}.img")
        sparse_copy(b, dst)
        return dst
    return b


def _tags(p):
    tags = {}
    for spec in p.get("TagSpecifications") or []:
        if spec.get("ResourceType") != "snapshot":
            raise AwsError("InvalidParameterValue", f"'{spec.get('ResourceType')}' is not a "
                           "valid taggable resource type for this operation.")
        for t in spec.get("Tags") or []:
            if t["Key"].lower().startswith("aws:"):
                raise AwsError("InvalidParameterValue",
                               "Tag keys starting with 'aws:' are reserved for internal use")
            if t["Key"] in tags:
                raise AwsError("InvalidParameterValue", f"Duplicate tag key '{t['Key']}' specified.")
            tags[t["Key"]] = t.get("Value", "")
    return tags


def _progress(st, snap, frac):
    def apply():
        snap["progress"] = f"{int(frac * 100)}%"
    st.schedule(st.delays["snapshot"] * frac, lambda: snap["state"] == "pending", apply)


def _complete(st, snap):
    def apply():
        snap.update(state="completed", progress="100%")
        if snap.get("delete_requested"):
            _drop(st, snap)
    st.schedule(st.delays["snapshot"], lambda: snap["state"] == "pending", apply)


def _drop(st, snap):
    st.snapshots.pop(snap["id"], None)
    b = snap.get("backing")
    if b and os.path.isfile(b) and os.path.dirname(b) == image_dir(st):
        try:
            os.unlink(b)
        except OSError:
            pass


def create_snapshot(st, p, ctx):
    from . import ec2
    vol = ec2._get(st.volumes, p["VolumeId"], "vol")
    if vol["state"] not in ("available", "in-use"):
        raise AwsError("IncorrectState", f"The volume '{vol['id']}' is not in 'available' or "
                                         "'in-use' state.")
    tags = _tags(p)
    last = st.snapshot_last.get(vol["id"])
    if last is not None and time.time() - last < st.delays["snapshot_rate"]:
        raise AwsError("SnapshotCreationPerVolumeRateExceeded", RATE_MESSAGE)
    ctx.commit()
    st.mark_ec2()
    sid = ec2._hexid("snap")
    now = time.time()
    st.snapshot_last[vol["id"]] = now
    snap = {"id": sid, "volume_id": vol["id"], "state": "pending", "size": vol["size"],
            "start_time": now, "description": p.get("Description", ""),
            "owner_id": st.account_id, "tags": tags, "backing": capture(st, vol, sid),
            "progress": "0%", "encrypted": vol["encrypted"],
            "kms_key_id": vol.get("kms_key_id"), "delete_requested": False}
    st.snapshots[sid] = snap
    for frac in (0.25, 0.5, 0.75):
        _progress(st, snap, frac)
    _complete(st, snap)
    return ec2.snapshot_out(snap)


def delete_snapshot(st, p, ctx):
    from . import ec2
    snap = ec2._get(st.snapshots, p["SnapshotId"], "snap")
    ctx.commit()
    st.mark_ec2()
    if snap["state"] == "pending":
        snap["delete_requested"] = True   # goes once it completes
    else:
        _drop(st, snap)
    return None


def default_kms(st):
    return DEFAULT_KMS.format(region=st.region, account=st.account_id)


def cleanup(st):
    if st.snapshot_tmp:
        shutil.rmtree(st.snapshot_tmp, ignore_errors=True)
        st.snapshot_tmp = None


ACTIONS = {"CreateSnapshot": create_snapshot, "DeleteSnapshot": delete_snapshot}
