"""Flat query parameters (Filter.1.Value.2=...) -> nested dicts, driven by the model.

This mirrors botocore's EC2Serializer / QuerySerializer in reverse, so the
handlers see exactly the member names the service model uses.
"""
import base64
import re
import threading

from .errors import AwsError

MODELS = {}
_LOCK = threading.Lock()


def model(service):
    """Service model by sim service name (monitoring is botocore's cloudwatch)."""
    with _LOCK:  # loaded once, possibly by the start-up preloader thread
        if service not in MODELS:
            import botocore.session
            name = "cloudwatch" if service == "monitoring" else service
            MODELS[service] = botocore.session.get_session().get_service_model(name)
        return MODELS[service]


def _name(shape, default, proto):
    s = shape.serialization
    if proto == "ec2":
        if "queryName" in s:
            return s["queryName"]
        if "name" in s:
            return s["name"][0].upper() + s["name"][1:]
        return default
    return s.get("name", default)


def _indexes(params, prefix):
    """Sorted list indexes N present as `prefix.N` or `prefix.N.*`."""
    pat = re.compile(re.escape(prefix) + r"\.(\d+)(?:\.|$)")
    return sorted({int(m.group(1)) for k in params for m in [pat.match(k)] if m})


def _convert(shape, raw, key, proto):
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            return int(raw)
        if t in ("double", "float"):
            return float(raw)
    except ValueError:
        code = "InvalidParameterValue" if proto == "ec2" else "ValidationError"
        raise AwsError(code, f"Value ({raw}) for parameter {key} is invalid. Expected a number.")
    if t == "boolean":
        if raw.lower() not in ("true", "false"):
            code = "InvalidParameterValue" if proto == "ec2" else "ValidationError"
            raise AwsError(code, f"Value ({raw}) for parameter {key} is invalid. Expected: 'true' or 'false'.")
        return raw.lower() == "true"
    if t == "blob":
        return base64.b64decode(raw)
    return raw  # strings and timestamps stay text


def _parse(shape, params, key, proto, used):
    t = shape.type_name
    if t == "structure":
        out = {}
        for mname, mshape in shape.members.items():
            sub = _name(mshape, mname, proto)
            v = _parse(mshape, params, f"{key}.{sub}" if key else sub, proto, used)
            if v is not None:
                out[mname] = v
        return out or None
    if t == "list":
        if key in params and params[key] == "":
            used.add(key)
            return []  # the query protocol sends an empty list as "Name="
        if proto == "ec2" or shape.serialization.get("flattened"):
            base = key
            if proto != "ec2" and shape.member.serialization.get("name"):
                base = ".".join(key.split(".")[:-1] + [shape.member.serialization["name"]])
        else:
            base = f"{key}.{shape.member.serialization.get('name', 'member')}"
        items = [_parse(shape.member, params, f"{base}.{i}", proto, used) for i in _indexes(params, base)]
        return items or None
    if t == "map":
        base = key if shape.serialization.get("flattened") else f"{key}.entry"
        kname = _name(shape.key, "key", proto)
        vname = _name(shape.value, "value", proto)
        out = {}
        for i in _indexes(params, base):
            k = _parse(shape.key, params, f"{base}.{i}.{kname}", proto, used)
            v = _parse(shape.value, params, f"{base}.{i}.{vname}", proto, used)
            if k is not None:
                out[k] = v
        return out or None
    if key in params:
        used.add(key)
        return _convert(shape, params[key], key, proto)
    return None


def parse(op, params, proto):
    """Returns (input dict, sorted unknown parameter names)."""
    used = {"Action", "Version"}
    data = {}
    if op.input_shape is not None:
        data = _parse(op.input_shape, params, "", proto, used) or {}
    return data, sorted(set(params) - used)


def missing_required(op, data):
    """Name of the first required top-level member that is absent, else None."""
    shape = op.input_shape
    if shape is None:
        return None
    for name in shape.required_members:
        if data.get(name) in (None, ""):
            return name
    return None
