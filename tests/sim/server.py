"""The main sim server: one port for every AWS service, IMDS and the control API.

AWS requests are routed by the service in the SigV4 credential scope, verified
with botocore, checked against the credential's deny list and the injected
faults, then handed to the service module.
"""
import gzip
import traceback
import time
import urllib.parse
import uuid

from . import control, ec2, ec2_network, iam, imds, params, query_services, route53, sigv4, xmlout
from .errors import AwsError, DropConnection
from .httpbase import BaseHandler
from .state import FAULT_KINDS

SERVICES = ("ec2", "route53", "sns", "monitoring", "autoscaling")
VERSIONS = {"2016-11-15": "ec2", "2010-03-31": "sns", "2010-08-01": "monitoring",
            "2011-01-01": "autoscaling"}
NON_LAG = FAULT_KINDS - {"lag"}
# EC2's networking (ENIs, addresses, routes, Elastic IPs) lives in its own file.
ec2.ACTIONS.update(ec2_network.ACTIONS)
IAM_PREFIX = {"ec2": "ec2", "route53": "route53", "sns": "sns", "monitoring": "cloudwatch",
              "autoscaling": "autoscaling"}


def _throttle(service):
    if service == "ec2":
        return AwsError("RequestLimitExceeded", "Request limit exceeded.", 503)
    return AwsError("Throttling", "Rate exceeded", 400)


def _server_error(service, status):
    if service == "ec2":
        if status == 503:
            return AwsError("Unavailable", "The server is overloaded and can't handle the request.", 503)
        return AwsError("InternalError", "An internal error has occurred", status)
    if status == 503:
        return AwsError("ServiceUnavailable", "Service is unavailable. Please try again later.", 503)
    return AwsError("InternalFailure", "The request processing has failed because of an unknown "
                                       "error, exception or failure.", status)


def _denied(service, action, cred, st):
    who = (f"arn:aws:sts::{st.account_id}:assumed-role/{cred['role']}/{cred.get('instance')}"
           if cred.get("role") else f"arn:aws:iam::{st.account_id}:user/sim")
    perm = f"{IAM_PREFIX[service]}:{action}"
    if service == "ec2":
        return AwsError("UnauthorizedOperation", "You are not authorized to perform this operation. "
                        "Encoded authorization failure message: " + uuid.uuid4().hex, 403)
    code = {"sns": "AuthorizationError"}.get(service, "AccessDenied")
    return AwsError(code, f"User: {who} is not authorized to perform: {perm}", 403)


class Handler(BaseHandler):
    st = None  # the State, set by make_server

    def _any(self):
        self.server_version = Handler.server_version  # IMDS answers say EC2ws instead
        body = self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path.startswith("/_sim/"):
                return control.handle(self, self.st, path, body)
            if path.startswith("/latest") and "Authorization" not in self.headers:
                iid = self.st.imds_instance or next(iter(self.st.instances), None)
                return self.answer_imds(iid, self.path)
            return self.aws(body)
        except DropConnection as d:
            return self.drop(d.hang)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

    def answer_imds(self, iid, path, proxied=False):
        try:
            status, headers, data = imds.handle(self.st, iid, self.command, path, self.headers)
        except DropConnection as d:
            self.st.log_request({"service": "imds", "action": path, "method": self.command,
                                 "instance": iid, "status": None, "error": "dropped"})
            if proxied:  # tell the standalone proxy to drop its client's connection
                return self.send_body(200, b"", "text/plain", {"X-Sim-Imds": f"drop={d.hang}"})
            raise
        except Exception:  # a sim bug must not look like an IMDS outage
            self.st.log_request({"service": "imds", "action": path, "instance": iid, "status": 500,
                                 "error": "sim bug", "message": traceback.format_exc()})
            return self.send_body(500, traceback.format_exc(), "text/plain")
        self.st.log_request({"service": "imds", "action": path, "method": self.command,
                             "instance": iid, "status": status})
        ctype = headers.pop("Content-Type", "text/plain")
        self.server_version = "EC2ws"
        self.send_body(status, data, ctype, headers)

    # ------------------------------------------------------------------ AWS
    def _guess_service(self, form):
        if urllib.parse.urlsplit(self.path).path.startswith(route53.PREFIX):
            return "route53"
        return VERSIONS.get(form.get("Version", ""), "ec2")

    def aws(self, body):
        st = self.st
        rid = str(uuid.uuid4())
        raw = body
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                pass  # left as sent: it then fails to parse, as it would at AWS
        url = urllib.parse.urlsplit(self.path)
        hit, form = None, {}
        if not url.path.startswith(route53.PREFIX):  # query protocol: form body and/or URL query
            if self.command == "POST":
                form = dict(urllib.parse.parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
            form.update(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        entry = {"method": self.command, "path": self.path, "request_id": rid}
        self.instance_states = None
        service, action = None, form.get("Action")
        try:
            auth = sigv4.parse_authorization(self.headers.get("Authorization"))
            service = auth["service"] if auth else self._guess_service(form)
            if service not in SERVICES:
                raise AwsError("InvalidAction", f"The sim does not serve service '{service}'", 400)
            if service == "route53":
                hit = route53.route(self.command, url.path)
                action = hit[0] if hit else None
                entry["params"] = {"query": url.query, "body": body.decode(errors="replace")[:4000]}
            else:
                entry["params"] = form
            entry.update(service=service, action=action)
            if auth is None:
                raise AwsError("MissingAuthenticationToken", "Request is missing Authentication Token",
                               401 if service == "ec2" else 403)
            entry.update(access_key=auth["access_key"], region=auth["region"])
            host = self.headers.get("Host", "")
            try:
                cred = sigv4.verify(st, self.command, host, self.path, self.headers, raw, auth)
            except AwsError:
                entry["signature_ok"] = False
                raise
            entry["signature_ok"] = True
            if cred.get("role"):
                entry["role"] = cred["role"]
            if service == "route53":
                if hit is None:
                    raise AwsError("InvalidAction", f"Unknown operation {self.command} {url.path}", 404)
            elif not action:
                raise AwsError("MissingAction", "The request must contain the parameter Action", 400)
            data, op = self.call(service, action, form, hit, body, cred, url)
            if service == "ec2":
                out = xmlout.ec2_response(op, data, rid)
            elif service == "route53":
                out = xmlout.restxml_response(op, data)
            else:
                out = xmlout.query_response(service, op, data, rid)
            entry.update(status=200)
            self.log_aws(entry)
            headers = {} if service == "ec2" else {"x-amzn-RequestId": rid}
            return self.send_body(200, out, "text/xml", headers)
        except DropConnection:
            entry.update(status=None, error="dropped")
            st.log_request(entry)
            raise
        except AwsError as e:
            entry.update(status=e.status, error=e.code, message=e.message)
            self.log_aws(entry)
            return self.send_error_answer(service or "ec2", e, rid)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout) while we answered: the answer was
            # already logged; this is a closed connection, not a sim bug.
            self.close_connection = True
            return None
        except Exception:  # a sim bug: answer like an AWS 500 and keep the traceback for the test
            e = AwsError("InternalError", "sim bug: " + traceback.format_exc(limit=-3), 500)
            entry.update(status=500, error="InternalError", message=traceback.format_exc())
            st.log_request(entry)
            return self.send_error_answer(service or "ec2", e, rid)

    def log_aws(self, entry):
        if self.instance_states is not None:
            entry["instance_states"] = self.instance_states
        self.st.log_request(entry)

    def send_error_answer(self, service, e, rid):
        if service == "ec2":
            return self.send_body(e.status, xmlout.ec2_error(e.code, e.message, rid), "text/xml")
        if (service == "route53" and e.code == "InvalidChangeBatch"
                and self.st.options.get("route53_error_form") == "messages"):
            out = xmlout.route53_change_batch_error(e.messages or [e.message], rid)
        else:
            out = xmlout.query_error(service, e.code, e.message, rid, e.sender)
        return self.send_body(e.status, out, "text/xml", {"x-amzn-RequestId": rid})

    def call(self, service, action, form, hit, body, cred, url):
        st = self.st
        m = params.model(service)
        if action not in m.operation_names:
            if service == "ec2":
                raise AwsError("InvalidAction", f"The action {action} is not valid for this web service.")
            raise AwsError("InvalidAction", f"Could not find operation {action} for version "
                                            f"{m.api_version}")
        op = m.operation_model(action)
        table = {"ec2": ec2.ACTIONS, "route53": route53.ACTIONS}.get(service) or \
            query_services.ACTIONS[service]
        if action not in table:
            raise AwsError("InvalidAction", f"The action {action} is not simulated by haboot's sim.")
        if service == "route53":
            p = None
        else:
            p, unknown = params.parse(op, form, "ec2" if service == "ec2" else "query")
            if unknown and service == "ec2":
                raise AwsError("UnknownParameter", f"The parameter {unknown[0]} is not recognized")
            missing = params.missing_required(op, p)
            if missing:
                if service == "ec2":
                    raise AwsError("MissingParameter", f"The request must contain the parameter {missing}")
                if service == "monitoring":
                    raise AwsError("MissingParameter", f"The parameter {missing} is required.")
                lower = missing[0].lower() + missing[1:]
                raise AwsError("ValidationError", f"1 validation error detected: Value null at "
                                                  f"'{lower}' failed to satisfy constraint: "
                                                  "Member must not be null")
        if st.denied(cred, f"{IAM_PREFIX[service]}:{action}"):
            raise _denied(service, action, cred, st)
        iam.authorize(st, cred, service, action, p, hit, body)  # only with a policy installed
        stale = self.apply_faults(service, action)
        with st.lock:
            if service == "ec2":
                ctx = ec2.Ctx(st, dry=bool(p.get("DryRun")), stale=stale)
                if action not in ec2.LAGGABLE:
                    # What EC2 knew of each instance as the call arrived: tests
                    # prove orderings with it (no force-detach from a running owner).
                    self.instance_states = {i: x["state"] for i, x in st.instances.items()}
                return table[action](st, p, ctx), op
            if service == "route53":
                q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                return table[action](st, hit[1], q, body, op), op
            return table[action](st, p, op), op

    def apply_faults(self, service, action):
        """Injected faults for this call; True means answer from the stale (lagging) view."""
        laggable = service == "ec2" and action in ec2.LAGGABLE
        f = self.st.take_fault(service, action, kinds=None if laggable else NON_LAG)
        if f is None:
            return False
        kind = f["kind"]
        if kind in ("throttle", "429"):
            raise _throttle(service)
        if kind == "5xx":
            raise _server_error(service, int(f.get("status") or 500))
        if kind == "error":
            raise AwsError(f.get("code") or "InternalError", f.get("message") or "Injected error",
                           int(f.get("status") or 400))
        if kind in ("drop", "unreachable"):
            raise DropConnection(float(f.get("delay") or 0) if f.get("mode") == "hang" else 0)
        if kind == "slow":
            time.sleep(float(f.get("delay") or 1.0))
        return kind == "lag"


def make_server(st, bind, port):
    from .httpbase import Server
    handler = type("SimHandler", (Handler,), {"st": st})
    return Server((bind, port), handler)
