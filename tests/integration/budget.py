"""The takeover's budget: every second from a failure to clients served again,
against the service's 5 minutes.

The drill measures what one machine can (haboot's own work, fsck, the NFS grace
as configured, the client's first read); AWS's parts it can only simulate, and
the detection and the new instance's launch it skips.  For those the budget uses
AWS's documented figures, or typical ones where AWS documents none, each
labelled so.  `make drill` prints the table after the main scenario; `make
bench` runs that scenario and prints it too (bench/RESULTS.md).

    measure(lab, boot, t_death, serving) -> dict of measured seconds
    table(measured) -> printable lines
"""
import json
import os

import drill

BUDGET_S = 300

# A figure AWS (or the manifest) states, or one that is typical, for the parts
# the drill cannot measure.  Seconds.
DETECT = 60       # EC2 status checks run every minute (StatusCheckFailed is a
                  # 1-minute metric); Auto Scaling replaces a terminated or
                  # impaired instance at the first failed check
LAUNCH = 40       # RunInstances to running (~15-25 s, Nitro, EBS-backed), then
                  # kernel and systemd to haboot's unit (~10-20 s)
DETACH = 30       # the dead instance's termination detaches its volume; Auto
                  # Scaling starts it when it starts the launch, so it overlaps
ATTACH = 5        # AttachVolume to attached: usually a few seconds
INSYNC = 60       # Route53: "changes generally propagate to all Route 53 name
                  # servers within 60 seconds"
TTL = 60          # the record's TTL (examples/nfs.yaml): resolvers holding the
                  # old address keep it that long
GRACE = 90        # haboot's default grace (exports: grace, ganesha Grace_Period)
RECONNECT = 5     # a client's RPC to the new server after it has the address


def measure(lab, boot, t_death, serving):
    """What the drill measured of one takeover (seconds), from B's status file,
    the sim's request log and the client's first read."""
    st = boot.status
    started, finished = drill.iso_time(st["started"]), drill.iso_time(st["finished"])
    mods = {m["name"]: m for m in st["modules"] if m["start"]}
    waits = lab.aws_waits(boot.inst, st)
    aws = drill.union_length([(a, b) for _, a, b in waits], started, finished)

    def waited(prefix):
        return sum(b - a for what, a, b in waits if what.startswith(prefix)) or None
    fs = mods["filesystem"]["duration_ms"] / 1000 if "filesystem" in mods else None
    exp = mods.get("exports")
    served = None
    if exp is not None and serving is not None:
        served = serving - (drill.iso_time(exp["start"]) + exp["duration_ms"] / 1000)
    return {
        "haboot_total": finished - started,
        "own": finished - started - aws - (fs or 0),
        "detach": waited("EC2 to free the volume") or waited("DetachVolume"),
        "attach": waited("AttachVolume"),
        "insync": waited("Route53 change"),
        "filesystem": fs,
        "served_after_exports": served,
        "grace_configured": lab_grace(lab),
        "death_to_served": serving - t_death if serving is not None else None,
    }


def lab_grace(lab):
    for line in lab.manifest().splitlines():
        if line.strip().startswith("grace:"):
            return float(line.split(":", 1)[1].strip().rstrip("s"))
    return None


def _s(v):
    return "-" if v is None else f"{v:.2f} s" if v < 10 else f"{v:.0f} s"


def table(m):
    """Printable lines; m as measure() returns it (or {} when no drill ran)."""
    m = m or {}
    own = m.get("own") or 0.0
    fs = m.get("filesystem") or 0.0
    served = m.get("served_after_exports")
    grace_cfg = m.get("grace_configured")
    rows = [
        # segment, drill, budget, on the critical path?, basis
        ("failure -> detection", None, DETECT, True,
         "documented: EC2 status checks every minute; the group replaces the instance "
         "at the first failed one (the watcher, when built, may be faster)"),
        ("instance launch, boot to haboot", None, LAUNCH, True,
         "typical: RunInstances to running 15-25 s, kernel and systemd 10-20 s"),
        ("AWS: dead owner's volume detached", m.get("detach"), DETACH, False,
         "typical; the termination runs while the new instance launches: off the "
         "critical path (drill: the sim's delay)"),
        ("haboot's own work", m.get("own"), own, True, "measured (drill): B's run minus "
         "its waits on AWS state and the filesystem module"),
        ("AWS: attach", m.get("attach"), ATTACH, True,
         "typical: a few seconds (drill: the sim's delay)"),
        ("filesystem check and mount", m.get("filesystem"), fs, True,
         "measured (drill): e2fsck replays the dead owner's journal, mount, signature"),
        ("NFS grace (clients reclaim)", served, GRACE, False,
         f"haboot's default grace{'' if grace_cfg is None else f' (drill: {grace_cfg:g} s)'}; "
         "ganesha ends it early once every recorded client (NFSv4.1+) has reclaimed"),
        ("AWS: Route53 INSYNC + old record's TTL", m.get("insync"), INSYNC + TTL, False,
         "documented: INSYNC within 60 s; TTL 60 s (manifest)"),
        ("client reconnect", None, RECONNECT, True,
         "typical (drill: inside the grace row; its client retries every 0.1 s)"),
    ]
    # Grace and DNS run side by side once the server is up: the longer counts.
    total = sum(b for _, _, b, crit, _ in rows if crit) + max(GRACE, INSYNC + TTL)
    w = max(len(r[0]) for r in rows)
    lines = [f"takeover budget: from a failure to clients served again, against "
             f"{BUDGET_S} s",
             f"  {'segment':<{w}} {'drill':>8} {'budget':>8}  basis"]
    for seg, d, b, crit, basis in rows:
        shown = _s(b) if crit else f"({_s(b)})"
        lines.append(f"  {seg:<{w}} {_s(d):>8} {shown:>8}  {basis}")
    lines.append(f"  {'grace and DNS side by side: the longer':<{w}} {'':>8} "
                 f"{_s(max(GRACE, INSYNC + TTL)):>8}")
    drill_total = m.get("death_to_served")
    lines.append(f"  {'total (critical path)':<{w}} {_s(drill_total):>8} {_s(total):>8}  "
                 f"{BUDGET_S - total:.0f} s to spare of {BUDGET_S} s"
                 + ("" if drill_total is None else
                    "; drill: A's death to the client's first read, no detection "
                    "or launch, AWS simulated"))
    lines.append("  (parenthesised: not on the critical path by itself)")
    return lines


def save(m, path=None):
    """Writes m as JSON where HABOOT_BUDGET_JSON says (bench reads it)."""
    path = path or os.environ.get("HABOOT_BUDGET_JSON")
    if path:
        with open(path, "w") as f:
            json.dump(m, f)
