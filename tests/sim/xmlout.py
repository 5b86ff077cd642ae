"""XML answers built from botocore's service models.

Handlers return plain dicts keyed by the model's member names; the element
names, list wrappers and scalar formats come from the model itself, so the
answer has the shape botocore (and so the AWS CLI) expects.
"""
import base64
import datetime
from xml.sax.saxutils import escape

NS = {
    "ec2": "http://ec2.amazonaws.com/doc/2016-11-15/",
    "route53": "https://route53.amazonaws.com/doc/2013-04-01/",
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "monitoring": "http://monitoring.amazonaws.com/doc/2010-08-01/",
    "autoscaling": "http://autoscaling.amazonaws.com/doc/2011-01-01/",
}
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'


def iso(ts):
    """Epoch seconds -> AWS's ISO 8601 form with milliseconds."""
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def iso_seconds(ts):
    """Epoch seconds -> ISO 8601 without fraction (IMDS credential style)."""
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _scalar(shape, value):
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "timestamp":
        return iso(value) if isinstance(value, (int, float)) else str(value)
    if t in ("integer", "long"):
        return str(int(value))
    if t in ("double", "float"):
        return repr(float(value))
    if t == "blob":
        raw = value.encode() if isinstance(value, str) else value
        return base64.b64encode(raw).decode()
    return str(value)


def _elem(out, shape, value, name):
    t = shape.type_name
    if t == "structure":
        out.append(f"<{name}>")
        _members(out, shape, value)
        out.append(f"</{name}>")
    elif t == "list":
        if shape.serialization.get("flattened"):
            item = shape.member.serialization.get("name", name)
            for v in value:
                _elem(out, shape.member, v, item)
            return
        item = shape.member.serialization.get("name", "member")
        out.append(f"<{name}>")
        for v in value:
            _elem(out, shape.member, v, item)
        out.append(f"</{name}>")
    elif t == "map":
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        out.append(f"<{name}>")
        for k, v in value.items():
            out.append("<entry>")
            _elem(out, shape.key, k, kname)
            _elem(out, shape.value, v, vname)
            out.append("</entry>")
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{escape(_scalar(shape, value))}</{name}>")


def _members(out, shape, value):
    unknown = set(value) - set(shape.members)
    if unknown:  # a typo in a handler would silently drop data: fail loudly
        raise KeyError(f"{shape.name} has no members {sorted(unknown)}")
    for mname, mshape in shape.members.items():
        v = value.get(mname)
        if v is None or mshape.serialization.get("location"):
            continue
        _elem(out, mshape, v, mshape.serialization.get("name", mname))


def ec2_response(op, data, request_id):
    """EC2 protocol: <OpResponse><requestId/>members</OpResponse>."""
    out = [XML_DECL, f'<{op.name}Response xmlns="{NS["ec2"]}">',
           f"<requestId>{request_id}</requestId>"]
    if op.output_shape is None:
        out.append("<return>true</return>")  # what EC2 sends for no-output calls
    else:
        _members(out, op.output_shape, data or {})
    out.append(f"</{op.name}Response>")
    return "".join(out).encode()


def query_response(service, op, data, request_id):
    """Query protocol: <OpResponse><OpResult>..</OpResult><ResponseMetadata/>."""
    out = [XML_DECL, f'<{op.name}Response xmlns="{NS[service]}">']
    shape = op.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
        body = []
        _members(body, shape, data or {})
        out.append(f"<{wrapper}>{''.join(body)}</{wrapper}>" if body else f"<{wrapper}/>")
    out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
    out.append(f"</{op.name}Response>")
    return "".join(out).encode()


def restxml_response(op, data):
    """Route53 (rest-xml): root element named after the output shape."""
    shape = op.output_shape
    out = [XML_DECL, f'<{shape.name} xmlns="{NS["route53"]}">']
    _members(out, shape, data or {})
    out.append(f"</{shape.name}>")
    return "".join(out).encode()


def ec2_error(code, message, request_id):
    return (f"{XML_DECL}<Response><Errors><Error><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>").encode()


def query_error(service, code, message, request_id, sender=True):
    """Query services and Route53 share this ErrorResponse form."""
    kind = "Sender" if sender else "Receiver"
    return (f'{XML_DECL}<ErrorResponse xmlns="{NS[service]}"><Error><Type>{kind}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()


def route53_change_batch_error(messages, request_id):
    """Route53's other InvalidChangeBatch form (seed option route53_error_form=messages)."""
    items = "".join(f"<Message>{escape(m)}</Message>" for m in messages)
    return (f'{XML_DECL}<InvalidChangeBatch xmlns="{NS["route53"]}"><Messages>{items}</Messages>'
            f"<RequestId>{request_id}</RequestId></InvalidChangeBatch>").encode()
