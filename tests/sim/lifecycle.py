"""Auto Scaling lifecycle actions: the termination hook a planned stop answers.

A group's hooks are seeded as names (launch hooks, completed leniently as
before) or as specs: {"transition": "autoscaling:EC2_INSTANCE_TERMINATING",
"heartbeat_timeout": 300, "default_result": "ABANDON"}.  A termination, like
the group starting one (scale-in, instance refresh), is set off through the
control API:

    POST /_sim/lifecycle/ID {"terminate": true}

The instance's autoscaling/target-lifecycle-state turns "Terminated" (its IMDS
says so), and each termination hook of its group gets an active action
(LifecycleActionToken, a HeartbeatTimeout that RecordLifecycleActionHeartbeat
restarts, a global timeout of 100 heartbeat timeouts or 48 hours, whichever is
less).  DescribeAutoScalingInstances says Terminating:Wait meanwhile.  Once
every action is completed (CONTINUE or ABANDON alike: for a termination both
go on) or has timed out, the instance is terminated the way EC2 does it
(its volumes detach).  With no termination hook it is terminated at once.

Answers and errors are AWS's: ValidationError "No active Lifecycle Action found
with instance ID i-..." (or "... with token ...") for an instance with no
active action, as for a completed or timed-out one.  Each completion is
recorded in state.lifecycle_actions, each heartbeat in the request log.
"""
import time
import uuid

from . import ec2
from .errors import AwsError

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
GLOBAL_MAX = 172800.0


def _validation(message):
    return AwsError("ValidationError", message)


def _hook_spec(asg, name):
    spec = asg["hooks"].get(name)
    return spec if isinstance(spec, dict) else {}


def _actions(asg):
    return asg.setdefault("actions", {})


def _expire(st):
    """Timed-out actions end with their default result: the instance goes."""
    now = time.time()
    for name, asg in st.asgs.items():
        for token, a in list(_actions(asg).items()):
            if now >= min(a["expires"], a["global_expires"]):
                del _actions(asg)[token]
                st.lifecycle_actions.append({"time": now, "group": name, "hook": a["hook"],
                                             "result": a["default_result"],
                                             "instance_id": a["instance"], "token": token,
                                             "timed_out": True})
                _proceed(st, asg, a["instance"])


def _proceed(st, asg, iid):
    """No action holds the instance any more: the termination goes on."""
    if any(a["instance"] == iid for a in _actions(asg).values()):
        return
    inst = st.instances.get(iid)
    if inst is not None and inst["state"] not in ("shutting-down", "terminated"):
        ec2.set_instance_state(st, iid, "shutting-down")


def _find(st, p):
    group, hook = p["AutoScalingGroupName"], p["LifecycleHookName"]
    iid, token = p.get("InstanceId"), p.get("LifecycleActionToken")
    if group not in st.asgs:
        raise _validation(f"AutoScalingGroup name not found - AutoScalingGroup {group} not found")
    asg = st.asgs[group]
    if hook not in asg["hooks"]:
        raise _validation(f"No Lifecycle Hook found with name {hook} for AutoScalingGroup {group}")
    if not iid and not token:
        raise _validation("Either InstanceId or LifecycleActionToken must be specified.")
    return group, asg, hook, iid, token


def _active(asg, hook, iid, token):
    for t, a in _actions(asg).items():
        if a["hook"] == hook and (t == token if token else a["instance"] == iid):
            return t, a
    if token:
        raise _validation(f"No active Lifecycle Action found with token {token}")
    raise _validation(f"No active Lifecycle Action found with instance ID {iid}")


def complete_lifecycle_action(st, p):
    _expire(st)
    group, asg, hook, iid, token = _find(st, p)
    result = p["LifecycleActionResult"]
    if result not in ("CONTINUE", "ABANDON"):
        raise _validation("Valid values for LifecycleActionResult are CONTINUE and ABANDON.")
    if _hook_spec(asg, hook).get("transition") != TERMINATING:
        # Launch hooks: any instance of the group, as before.
        if iid and iid not in asg["instances"]:
            raise _validation(f"No active Lifecycle Action found with instance ID {iid}")
        st.lifecycle_actions.append({"time": time.time(), "group": group, "hook": hook,
                                     "result": result, "instance_id": iid, "token": token})
        return {}
    t, a = _active(asg, hook, iid, token)
    del _actions(asg)[t]
    st.lifecycle_actions.append({"time": time.time(), "group": group, "hook": hook,
                                 "result": result, "instance_id": a["instance"], "token": t})
    _proceed(st, asg, a["instance"])
    return {}


def record_lifecycle_action_heartbeat(st, p):
    _expire(st)
    group, asg, hook, iid, token = _find(st, p)
    if _hook_spec(asg, hook).get("transition") != TERMINATING:
        raise _validation(f"No active Lifecycle Action found with instance ID {iid}"
                          if iid else f"No active Lifecycle Action found with token {token}")
    _, a = _active(asg, hook, iid, token)
    a["expires"] = time.time() + a["heartbeat_timeout"]
    a["heartbeats"] += 1
    return {}


def describe_auto_scaling_instances(st, p):
    _expire(st)
    ids = p.get("InstanceIds")
    out = []
    for name, g in st.asgs.items():
        for iid in g["instances"]:
            if ids and iid not in ids:
                continue
            inst = st.instances.get(iid)
            if inst is None or inst["state"] == "terminated":
                continue
            health = next((h["health_status"] for h in reversed(st.asg_health)
                           if h["instance_id"] == iid), "Healthy")
            waiting = any(a["instance"] == iid for a in _actions(g).values())
            state = ("Terminating:Wait" if waiting else
                     "Terminating" if inst["target_lifecycle_state"] == "Terminated" else
                     inst["target_lifecycle_state"])
            out.append({"InstanceId": iid, "InstanceType": inst["instance_type"],
                        "AutoScalingGroupName": name, "AvailabilityZone": inst["az"],
                        "LifecycleState": state,
                        "HealthStatus": "HEALTHY" if health == "Healthy" else "UNHEALTHY",
                        "ProtectedFromScaleIn": False})
    return {"AutoScalingInstances": out}


def terminate(st, iid):
    """The group terminates iid: hooks first, as Auto Scaling does."""
    inst = st.instances.get(iid)
    if inst is None:
        raise KeyError(f"no instance {iid}")
    group = next((n for n, g in st.asgs.items() if iid in g["instances"]), None)
    if group is None:
        raise ValueError(f"{iid} is in no Auto Scaling group")
    asg = st.asgs[group]
    inst["target_lifecycle_state"] = "Terminated"
    now = time.time()
    started = []
    for hook, spec in asg["hooks"].items():
        if not isinstance(spec, dict) or spec.get("transition") != TERMINATING:
            continue
        hb = float(spec.get("heartbeat_timeout", 3600))
        token = str(uuid.uuid4())
        _actions(asg)[token] = {"hook": hook, "instance": iid, "started": now,
                                "heartbeat_timeout": hb, "expires": now + hb,
                                "global_expires": now + min(100 * hb, GLOBAL_MAX),
                                "default_result": spec.get("default_result", "ABANDON"),
                                "heartbeats": 0}
        started.append({"hook": hook, "token": token})
    if not started:
        _proceed(st, asg, iid)
    return {"group": group, "actions": started}


def control(st, method, iid, doc):
    """POST /_sim/lifecycle/ID {"terminate": true}; GET: the group's pending actions."""
    _expire(st)
    if method == "POST":
        if set(doc) - {"terminate"} or not doc.get("terminate"):
            raise ValueError('lifecycle control takes {"terminate": true}')
        return terminate(st, iid)
    return {"actions": [dict(a, token=t, group=n) for n, g in st.asgs.items()
                        for t, a in _actions(g).items() if a["instance"] == iid]}


ACTIONS = {
    "CompleteLifecycleAction": lambda st, p, op: complete_lifecycle_action(st, p),
    "RecordLifecycleActionHeartbeat": lambda st, p, op: record_lifecycle_action_heartbeat(st, p),
    "DescribeAutoScalingInstances": lambda st, p, op: describe_auto_scaling_instances(st, p),
}
