"""SNS, CloudWatch (monitoring) and Auto Scaling: the query-protocol notify targets.

Each accepted call is recorded in the state (sns_messages, metrics, asg_health,
lifecycle_actions) so tests can check what haboot told operators.
"""
import time
import uuid

from .errors import AwsError


def _validation(message):
    return AwsError("ValidationError", message)


# ------------------------------------------------------------------ SNS
def publish(st, p):
    arn = p.get("TopicArn") or p.get("TargetArn")
    if not arn and not p.get("PhoneNumber"):
        raise AwsError("InvalidParameter",
                       "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
    if arn and not arn.startswith("arn:aws:sns:"):
        raise AwsError("InvalidParameter", "Invalid parameter: TopicArn")
    subject = p.get("Subject")
    if subject is not None:
        # SNS: ASCII, starts with a letter, number or punctuation, no line breaks, < 100 chars.
        if (not subject or len(subject) > 100 or not subject.isascii()
                or any(c in subject for c in "\r\n") or not subject[0].isprintable() or subject[0] == " "):
            raise AwsError("InvalidParameter", "Invalid parameter: Subject")
    msg = p.get("Message")
    if msg is None or msg == "":
        raise AwsError("InvalidParameter", "Invalid parameter: Empty message")
    if len(msg.encode()) > 262144:
        raise AwsError("InvalidParameter", "Invalid parameter: Message too long")
    if arn and arn not in st.topics:
        raise AwsError("NotFound", "Topic does not exist", 404)
    mid = str(uuid.uuid4())
    attrs = {k: v.get("StringValue") for k, v in (p.get("MessageAttributes") or {}).items()}
    st.sns_messages.append({"time": time.time(), "message_id": mid, "topic_arn": arn,
                            "subject": subject, "message": msg, "attributes": attrs})
    return {"MessageId": mid}


# ------------------------------------------------------------------ CloudWatch
def put_metric_data(st, p, op):
    ns = p["Namespace"]
    if ns.startswith("AWS/") or not 1 <= len(ns) <= 255:
        raise AwsError("InvalidParameterValue", f"The value {ns} for parameter Namespace is invalid.")
    data = p.get("MetricData") or []
    if not 1 <= len(data) <= 1000:
        raise AwsError("InvalidParameterValue",
                       "The collection MetricData must not be empty and must have at most 1000 members.")
    units = set(op.input_shape.members["MetricData"].member.members["Unit"].enum)
    rows = []
    for k, d in enumerate(data, 1):
        if not d.get("MetricName"):
            raise AwsError("MissingParameter",
                           f"The parameter MetricData.member.{k}.MetricName is required.")
        if d.get("Unit") and d["Unit"] not in units:
            raise AwsError("InvalidParameterValue",
                           f"The value {d['Unit']} for parameter MetricData.member.{k}.Unit is invalid.")
        if d.get("Value") is None and not d.get("Values") and not d.get("StatisticValues"):
            raise AwsError("MissingParameter", f"The parameter MetricData.member.{k}.Value is required.")
        dims = d.get("Dimensions") or []
        if len(dims) > 30:
            raise AwsError("InvalidParameterValue",
                           f"The collection MetricData.member.{k}.Dimensions must not have more than 30 members.")
        rows.append({"time": time.time(), "namespace": ns, "metric_name": d["MetricName"],
                     "value": d.get("Value"), "values": d.get("Values"), "unit": d.get("Unit"),
                     "dimensions": {x["Name"]: x["Value"] for x in dims},
                     "timestamp": d.get("Timestamp"), "statistic_values": d.get("StatisticValues")})
    st.metrics.extend(rows)
    return None


# ------------------------------------------------------------------ Auto Scaling
def _asg_of(st, iid):
    return next((name for name, g in st.asgs.items() if iid in g["instances"]), None)


def set_instance_health(st, p):
    iid, status = p["InstanceId"], p["HealthStatus"]
    if status not in ("Healthy", "Unhealthy"):
        raise _validation("Valid instance health states are: [Healthy, Unhealthy].")
    group = _asg_of(st, iid)
    if group is None:
        raise _validation(f"Instance Id not found - No managed instance found for instance ID: {iid}")
    # AWS respects the group's grace period unless told not to (the default
    # is true), and refuses with the instance's age and the period in seconds.
    grace = st.asgs[group].get("health_check_grace_period") or 0
    respect = str(p.get("ShouldRespectGracePeriod", "true")).lower() != "false"
    inst = st.instances.get(iid)
    age = int(time.time() - inst["launch_time"]) if inst else 0
    if respect and status == "Unhealthy" and age < grace:
        raise _validation(f"The age of the instance ({age} seconds) is less than the "
                          f"configured grace period of {grace} seconds")
    st.asg_health.append({"time": time.time(), "instance_id": iid, "health_status": status,
                          "group": group, "should_respect_grace_period": p.get("ShouldRespectGracePeriod")})
    return None


def complete_lifecycle_action(st, p):
    group, hook = p["AutoScalingGroupName"], p["LifecycleHookName"]
    result, iid, token = p["LifecycleActionResult"], p.get("InstanceId"), p.get("LifecycleActionToken")
    if group not in st.asgs:
        raise _validation(f"AutoScalingGroup name not found - AutoScalingGroup {group} not found")
    if hook not in st.asgs[group]["hooks"]:
        raise _validation(f"No Lifecycle Hook found with name {hook} for AutoScalingGroup {group}")
    if result not in ("CONTINUE", "ABANDON"):
        raise _validation("Valid values for LifecycleActionResult are CONTINUE and ABANDON.")
    if not iid and not token:
        raise _validation("Either InstanceId or LifecycleActionToken must be specified.")
    if iid and iid not in st.asgs[group]["instances"]:
        raise _validation(f"No active Lifecycle Action found with instance ID {iid}")
    st.lifecycle_actions.append({"time": time.time(), "group": group, "hook": hook, "result": result,
                                 "instance_id": iid, "token": token})
    return {}


def describe_auto_scaling_instances(st, p):
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
            out.append({"InstanceId": iid, "InstanceType": inst["instance_type"],
                        "AutoScalingGroupName": name, "AvailabilityZone": inst["az"],
                        "LifecycleState": inst["target_lifecycle_state"],
                        "HealthStatus": "HEALTHY" if health == "Healthy" else "UNHEALTHY",
                        "ProtectedFromScaleIn": False})
    return {"AutoScalingInstances": out}


ACTIONS = {
    "sns": {"Publish": lambda st, p, op: publish(st, p)},
    "monitoring": {"PutMetricData": put_metric_data},
    "autoscaling": {
        "SetInstanceHealth": lambda st, p, op: set_instance_health(st, p),
        "CompleteLifecycleAction": lambda st, p, op: complete_lifecycle_action(st, p),
        "DescribeAutoScalingInstances": lambda st, p, op: describe_auto_scaling_instances(st, p),
    },
}

# Lifecycle actions (termination hooks, heartbeats) live in lifecycle.py.
from . import lifecycle  # noqa: E402

ACTIONS["autoscaling"].update(lifecycle.ACTIONS)
