"""SigV4 verification: recompute the signature with botocore and compare.

AWS signs exactly the headers named in SignedHeaders, so the signer used here
takes those names from the request rather than botocore's own choice.
"""
import calendar
import hashlib
import hmac
import re
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from .errors import AwsError

AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256\s+(.*)$", re.S)
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.")


class ExactSigner(SigV4Auth):
    def __init__(self, creds, service, region, signed):
        super().__init__(creds, service, region)
        self._signed = signed

    def headers_to_sign(self, request):
        hm = HTTPHeaders()
        for name in self._signed:
            if name in request.headers:
                hm[name] = request.headers[name]
        return hm


def parse_authorization(value):
    """Authorization header -> dict(access_key, date, region, service, signed, signature)."""
    m = AUTH_RE.match(value or "")
    if not m:
        return None
    parts = {}
    for item in m.group(1).split(","):
        k, _, v = item.strip().partition("=")
        parts[k] = v
    try:
        ak, date, region, service, term = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        sig = parts["Signature"]
    except (KeyError, ValueError):
        raise AwsError("IncompleteSignature",
                       "Authorization header requires 'Credential', 'Signature' and "
                       f"'SignedHeaders' parameters. Authorization={value}", 400)
    if term != "aws4_request":
        raise AwsError("IncompleteSignature", f"Credential should be scoped with a valid terminator: "
                                              f"'aws4_request', not '{term}'.", 400)
    return {"access_key": ak, "date": date, "region": region, "service": service,
            "signed": signed, "signature": sig}


def _canonical_url(host, raw_path):
    """URL as received, with its query normalised the way AWS re-encodes it."""
    u = urllib.parse.urlsplit(raw_path)
    pairs = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    q = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                 for k, v in pairs)
    return f"http://{host}{u.path}" + (f"?{q}" if q else "")


def compute(method, host, raw_path, headers, body, auth, secret, token=None):
    """The signature botocore computes for this request."""
    amz_date = headers.get("X-Amz-Date", "")
    hdrs = {}
    for name in auth["signed"]:
        vals = headers.get_all(name) if hasattr(headers, "get_all") else [headers.get(name)]
        if vals and vals[0] is not None:
            hdrs[name] = ",".join(vals)
    req = AWSRequest(method=method, url=_canonical_url(host, raw_path), data=body, headers=hdrs)
    req.context["timestamp"] = amz_date
    signer = ExactSigner(Credentials(auth["access_key"], secret, token), auth["service"],
                         auth["region"], auth["signed"])
    canonical = signer.canonical_request(req)
    return signer.signature(signer.string_to_sign(req, canonical), req)


def verify(st, method, host, raw_path, headers, body, auth):
    """Returns the credential record; raises the AWS error a real endpoint would send."""
    ec2 = auth["service"] == "ec2"
    cred = st.lookup_credentials(auth["access_key"])
    if cred is None:
        if ec2:
            raise AwsError("AuthFailure", "AWS was not able to validate the provided access credentials", 401)
        raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    token = headers.get("X-Amz-Security-Token")
    if cred.get("session_token") and token != cred["session_token"] or (
            not cred.get("session_token") and token is not None):
        if ec2:
            raise AwsError("AuthFailure", "AWS was not able to validate the provided access credentials", 401)
        raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    amz_date = headers.get("X-Amz-Date")
    if not amz_date or not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
        raise AwsError("IncompleteSignature" if not ec2 else "AuthFailure",
                       "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                       403 if not ec2 else 401)
    if amz_date[:8] != auth["date"]:
        raise AwsError("SignatureDoesNotMatch",
                       f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                       f"from HTTP: '{auth['date']}' != '{amz_date[:8]}', from '{amz_date}'.", 403)
    if "host" not in auth["signed"]:
        raise AwsError("SignatureDoesNotMatch", "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                                                "Authorization.", 403)
    sha = headers.get("X-Amz-Content-SHA256")
    if sha and sha != "UNSIGNED-PAYLOAD" and sha != hashlib.sha256(body).hexdigest():
        raise AwsError("SignatureDoesNotMatch", "The provided 'x-amz-content-sha256' header does not "
                                                "match what was computed.", 403)
    good = compute(method, host, raw_path, headers, body, auth, cred["secret_key"], token)
    if not hmac.compare_digest(good, auth["signature"]):
        raise AwsError("SignatureDoesNotMatch", MISMATCH, 403)
    skew = st.options.get("max_clock_skew")
    if skew is not None:
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        if abs(time.time() - signed_at) > float(skew):
            if ec2:
                raise AwsError("RequestExpired", "Request has expired.", 400)
            now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            raise AwsError("SignatureDoesNotMatch", f"Signature expired: {amz_date} is now earlier than "
                                                    f"{now} - {int(float(skew) / 60)} min.", 403)
    if cred.get("expiration") is not None and time.time() >= cred["expiration"]:
        if ec2:
            raise AwsError("RequestExpired", "Request has expired.", 400)
        raise AwsError("ExpiredToken", "The security token included in the request is expired", 403)
    return cred
