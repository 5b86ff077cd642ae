#!/usr/bin/python3
"""Writes schemas/haboot.schema.json, the JSON Schema of the haboot manifest.

The schema is generated because its patterns are built from parts: the IPv6
pattern alone spells out every place "::" may stand, exactly as inet_pton(3)
accepts it, and the same address, path and DNS-name parts recur in several
keys.  Edit this file, then run

    /usr/bin/python3 schemas/mkschema.py > schemas/haboot.schema.json

The JSON file is also compiled into haboot: `haboot help MODULE` prints each
module's keys, types, defaults, descriptions and its "examples" entry from it
(bootstrap/modhelp.c), so a module added here has its help with no other
change; give every module an example.

tests/integration/test_schema_agreement.py fails when the JSON file is not
this script's output, and when the schema and `haboot validate` disagree on
any corpus file or field boundary.  Each pattern mirrors a C check (named in
a comment); a change to one is a change to both.
"""
import json


# cfg.c check_ipv4/check_ipv6: glibc inet_pton.  An IPv6 address is 8 groups,
# or fewer around one "::" standing for at least one group; a dotted IPv4 tail
# counts as two groups.
H = "[0-9a-fA-F]{1,4}"
OCT = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
V4 = rf"{OCT}(\.{OCT}){{3}}"
alts = [rf"({H}:){{7}}{H}", rf"({H}:){{6}}{V4}"]
alts.append(rf"::({H}(:{H}){{0,6}})?")
for n in range(1, 8):
    left = rf"({H}:){{{n-1}}}{H}" if n > 1 else H
    right = rf"({H}(:{H}){{0,{6-n}}})?" if n < 7 else ""
    alts.append(rf"{left}::{right}")
alts.append(rf"::({H}:){{0,5}}{V4}")
for n in range(1, 6):
    left = rf"({H}:){{{n-1}}}{H}" if n > 1 else H
    alts.append(rf"{left}::({H}:){{0,{5-n}}}{V4}")
V6 = "(" + "|".join(alts) + ")"
# cfg.c check_cidr_or_host: prefix lengths without sign, space or leading zero.
P4 = "(3[0-2]|[12]?[0-9])"
P6 = "(12[0-8]|1[01][0-9]|[1-9]?[0-9])"
# cfg.c check_dns_name: at most 253 characters (254 with a final dot).
LABEL = "[A-Za-z0-9_*-]{1,63}"
DNS = rf"(?=.{{1,253}}$|.{{253}}\.$)({LABEL}\.)*{LABEL}\.?"
# util.c parse_duration; the ranges are checked by haboot only.
DUR = "^([0-9]+(ms|s|m|h))+$"
# cfg.c check_abs_path: absolute, no "//", no ".." part, no space or control
# character, no trailing "/" (except "/" itself).
ABS = r"^(?!.*//)(?!.*/\.\.(/|$))/(?!.+/$)[^\x00-\x20\x7f]*$"


def dur(desc, default, lo, hi):
    return {
        "description": f"{desc} A duration with a unit: 250ms, 90s, 5m, 1h, or a sum like 2m30s. "
                       f"Must lie between {lo} and {hi} (haboot checks the range; "
                       "JSON Schema can only check the form).",
        "type": "string", "pattern": DUR, "default": default,
    }


def abspath(desc, extra=None):
    d = {"description": desc, "type": "string", "pattern": ABS}
    if extra:
        d.update(extra)
    return d


def required_prop(default):
    return {
        "description": "false turns a failure of this module into a warning; the run goes on.",
        "type": "boolean", "default": default,
    }


def module(name, desc, body, required_default=True):
    body = dict(body)
    body["properties"] = dict(body["properties"], required=required_prop(required_default))
    body.setdefault("additionalProperties", False)
    body["type"] = "object"
    return {
        "description": desc,
        "type": "object",
        "properties": {name: {"$ref": f"#/$defs/{name}"}},
        "required": [name],
        "additionalProperties": False,
    }, body

# exports.c nfs_options, check_nfs_option, check_option_value; exports/render.c
# opposites and ganesha_refused.
NFS_FLAGS = ["rw", "ro", "sync", "async", "secure", "insecure", "wdelay", "no_wdelay", "hide",
    "nohide", "crossmnt", "subtree_check", "no_subtree_check", "insecure_locks",
    "secure_locks", "no_auth_nlm", "auth_nlm", "mountpoint", "mp", "nordirplus", "pnfs",
    "no_pnfs", "security_label", "root_squash", "no_root_squash", "all_squash",
    "no_all_squash"]
UINT32 = ("([0-9]{1,9}|[0-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}"
          "|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}"
          "|42949672[0-8][0-9]|429496729[0-5])")
FLAVOR = "(sys|krb5|krb5i|krb5p)"
OPTCHARS = "[A-Za-z0-9._:/@+-]"
ABS_OPT = ABS[1:-1].replace("[^\\x00-\\x20\\x7f]*", OPTCHARS + "*")
NFS_OPT = ("^(" + "|".join(NFS_FLAGS) + f"|(anonuid|anongid)={UINT32}"
           f"|sec={FLAVOR}(:{FLAVOR})*"
           f"|(mountpoint|mp)={ABS_OPT}"
           f"|(refer|replicas)={OPTCHARS}+)$")
OPPOSITES = [("rw", "ro"), ("sync", "async"), ("secure", "insecure"),
    ("subtree_check", "no_subtree_check"), ("wdelay", "no_wdelay"), ("hide", "nohide"),
    ("root_squash", "no_root_squash"), ("all_squash", "no_all_squash"),
    ("secure_locks", "insecure_locks"), ("auth_nlm", "no_auth_nlm"),
    ("secure_locks", "no_auth_nlm"), ("auth_nlm", "insecure_locks"), ("pnfs", "no_pnfs")]
GANESHA_REFUSED = ("^(async|subtree_check|wdelay|nohide|crossmnt|secure_locks|insecure_locks"
                   "|auth_nlm|no_auth_nlm|nordirplus|pnfs|security_label"
                   "|(refer|replicas|mountpoint|mp)=[\\s\\S]*)$")
EXPORT_PATH = ABS.replace("[^\\x00-\\x20\\x7f]", "[^\\x00-\\x20\\x7f\"'\\\\;{}()#,]")
# volume.c volume_parse.
volume = {
    "description": "Attach the shared EBS volume, taking it over from a dead owner safely. "
                   "Name the volume by id or by tags, not both.",
    "properties": {
        "id": {"description": "The EBS volume id.", "type": "string",
               "pattern": "^vol-([0-9a-f]{8}|[0-9a-f]{17})$"},
        "tags": {"description": "Tags that match exactly one volume, e.g. {Name: nfs-master-volume}.",
                 "type": "object", "minProperties": 1,
                 "propertyNames": {"type": "string", "minLength": 1},
                 "additionalProperties": {"type": "string"}},
        "device": {"description": "The device name given to AttachVolume (/dev/sdf../dev/sdp "
                                  "recommended; /dev/sdb..z or /dev/xvdb..z accepted).",
                   "type": "string", "pattern": "^/dev/(sd|xvd)[b-z]$"},
        "timeout": dur("How long to wait for the owner to go and the attachment to complete.",
                       "120s", "1s", "1h"),
        "takeover": {"description": "never: stop if another instance holds the volume. "
                                    "if-owner-gone: wait for EC2 to report the owner gone. "
                                    "fence: stop a running owner, wait until EC2 reports it "
                                    "stopped, then detach.",
                     "enum": ["never", "if-owner-gone", "fence"], "default": "if-owner-gone"},
        "other_az": {"description": "fail: stop if the volume is in another zone. snapshot: "
                                    "restore in this zone the newest completed snapshot of it, "
                                    "or tagged haboot:service=NAME (whoever made it); the old "
                                    "volume is then tagged superseded and never served again.",
                     "enum": ["fail", "snapshot"], "default": "fail"},
        # snapshot.c snap_parse.
        "snapshots": {
            "description": "The snapshot schedule `haboot watch` keeps: a snapshot once `every` "
                           "has passed since the newest one, tagged with the service, the "
                           "volume, the generation and the time; the schedule's own completed "
                           "snapshots beyond `keep` are pruned, never a pending one.",
            "type": "object",
            "properties": {
                "every": {"description": "How often: the most data a zone loss can cost. A "
                                         "duration with a unit: 15s, 30m, 1h. At least 15s "
                                         "(EC2's per-volume CreateSnapshot rate), at most 24h "
                                         "(haboot checks the range; JSON Schema can only check "
                                         "the form); under 5m is allowed with a warning.",
                          "type": "string", "pattern": DUR},
                "keep": {"description": "How many of the schedule's completed snapshots to "
                                        "keep (the newest ones).",
                         "type": "integer", "minimum": 1, "maximum": 1000},
                "freeze": {"description": "Freeze the filesystem (FIFREEZE) just around the "
                                          "CreateSnapshot call, so the snapshot needs no "
                                          "journal replay; thawed on every path.",
                           "type": "boolean", "default": True},
            },
            "required": ["every", "keep"],
            "additionalProperties": False,
        },
    },
    "required": ["device"],
    "oneOf": [
        {"required": ["id"], "not": {"required": ["tags"]}},
        {"required": ["tags"], "not": {"required": ["id"]}},
    ],
    "examples": [{"tags": {"Name": "nfs-master-volume"}, "device": "/dev/sdf", "timeout": "120s",
                  "takeover": "if-owner-gone"}],
}
# filesystem.c fs_parse.
filesystem = {
    "description": "Prove the volume's identity, fsck, mount, and verify the signature file. "
                   "A device holding any data is never formatted.",
    "properties": {
        "device": abspath("Only for a disk no volume module manages: its path under /dev.",
                          {"pattern": ABS.replace("/(?!.+/$)", "/dev/(?!.*/$)", 1)[:-2] + "+$"}),
        "mountpoint": abspath("Where to mount the volume: an absolute, clean path, not /.",
                              {"not": {"const": "/"}}),
        "type": {"description": "Filesystem type.", "enum": ["ext4", "xfs"], "default": "ext4"},
        "format": {"description": "never, or if-blank: format only a device that holds no "
                                  "filesystem and no signature at all.",
                   "enum": ["never", "if-blank"], "default": "never"},
        "fsck": {"description": "Check the filesystem before mounting.", "type": "boolean",
                 "default": True},
        "options": {"description": "Mount options, one per item (no commas or spaces); not ro: "
                               "haboot records the takeover generation on the volume.",
                    "type": "array", "items": {"type": "string", "pattern": "^[^, \t]+$", "not": {"const": "ro"}}},
        "signature": {"description": "A file, relative to the mountpoint, that must exist "
                                     "after mount, or haboot stops.",
                      "type": "string",
                      "pattern": r"^(?!/)(?!\.\.(/|$))(?!.*/\.\.(/|$))[^\x00-\x1f\x7f]+$"},
        "label": {"description": "Label given by mkfs: 1 to 12 letters, digits, - and _.",
                  "type": "string", "pattern": "^[A-Za-z0-9_-]{1,12}$", "default": "haboot"},
        "unmount_wait": dur("How long a release waits for the processes that keep the "
                            "filesystem busy (it names them) before it stops, the volume "
                            "still mounted: never a lazy or forced unmount.", "60s", "0s", "1h"),
    },
    "required": ["mountpoint", "signature"],
    "examples": [{"mountpoint": "/mnt/nfs", "type": "ext4", "format": "if-blank",
                  "options": ["noatime"], "signature": ".NFSMASTER"}],
}
# exports.c parse_export, exports_parse, parse_check, parse_grace.
client = {"type": "string",
          "pattern": rf"^(\*|{V4}|{V6}|{V4}/{P4}|{V6}/{P6}|(?![0-9.]+$){DNS})$"}
export = {
    "description": "One exported path.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "path": abspath("The directory to export: absolute, clean, without quotes, "
                        "backslashes, ; { } ( ) # or , (it is written into the server's "
                        "configuration).", {"pattern": EXPORT_PATH}),
        "clients": {"description": "Who may mount: an address, a CIDR block, a host name, "
                                   "a wildcard name, \"*\", or a non-empty list of them.",
                    "oneOf": [{"$ref": "#/$defs/client"},
                              {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/client"}}]},
        "options": {"description": "exportfs options, one per item, each at most once; "
                                   "contradicting pairs (rw and ro, sync and async, ...) are "
                                   "errors. sec= takes sys, krb5, krb5i, krb5p joined by ':'.",
                    "type": "array", "uniqueItems": True,
                    "items": {"type": "string", "pattern": NFS_OPT},
                    "allOf": [{"not": {"allOf": [{"contains": {"const": a}},
                                                  {"contains": {"const": b}}]}}
                              for a, b in OPPOSITES] +
                             [{"contains": {"pattern": f"^{k}="}, "minContains": 0,
                               "maxContains": 1}
                              for k in ("anonuid", "anongid", "sec", "refer", "replicas",
                                        "mountpoint", "mp")]},
        "fsid": {"description": "The export's fsid (ganesha: Export_Id, at most 65535); "
                                "default its position in the list (1, 2, ...). Each export "
                                "needs its own (haboot checks this; JSON Schema cannot).",
                 "type": "integer", "minimum": 1, "maximum": 4294967295},
    },
    "required": ["path", "clients"],
}
exports = {
    "description": "Serve the mounted volume over NFS (kernel nfsd or NFS-Ganesha). "
                   "A path may be exported once (haboot checks this; JSON Schema cannot).",
    "properties": {
        "server": {"description": "kernel (/etc/exports.d + exportfs) or ganesha.",
                   "enum": ["kernel", "ganesha"], "default": "kernel"},
        "exports": {"description": "What to serve.", "type": "array", "minItems": 1,
                    "items": {"$ref": "#/$defs/export"}},
        "restart": {"description": "The command that restarts the NFS server, as an argv list. "
                                   "Default [systemctl, restart, nfs-server] (kernel) or "
                                   "[systemctl, restart, nfs-ganesha].",
                    "type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "stop": {"description": "The command that stops the NFS server cleanly for a release, "
                                "as an argv list; the server must then stop answering on the "
                                "check port. Default [systemctl, stop, nfs-server] (kernel) or "
                                "[systemctl, stop, nfs-ganesha].",
                 "type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "config": abspath("The file haboot owns. Default /etc/exports.d/haboot.exports (kernel) "
                          "or /etc/ganesha/haboot.conf (ganesha)."),
        "signature": {"description": "A file, relative to each export path's volume, that "
                                     "proves the volume when no filesystem module ran.",
                      "type": "string",
                      "pattern": r"^(?!/)(?!\.\.(/|$))(?!.*/\.\.(/|$))[^\x00-\x1f\x7f]+$"},
        "check": {"description": "Readiness check after a restart: a TCP connect to host:port.",
                  "type": "object", "additionalProperties": False,
                  "properties": {
                      "host": {"description": "An IP address.",
                               "type": "string", "pattern": f"^({V4}|{V6})$",
                               "default": "127.0.0.1"},
                      "port": {"description": "TCP port.", "type": "integer",
                               "minimum": 1, "maximum": 65535, "default": 2049},
                      "timeout": dur("How long to wait for the server to answer.", "30s",
                                     "1s", "30m"),
                      "log": abspath("A ganesha log scanned for configuration errors. Default "
                                     "/var/log/ganesha/ganesha.log for ganesha."),
                  }},
        "lease": dur("ganesha only: the NFSv4 lease, whole seconds.", "60s", "1s", "180s"),
        "grace": dur("ganesha only: the NFSv4 grace period, whole seconds, at least the "
                     "lease.", "90s", "0s", "180s"),
    },
    "required": ["exports"],
    "examples": [{"server": "ganesha",
                  "exports": [{"path": "/mnt/nfs", "clients": ["10.10.10.0/24"],
                               "options": ["rw", "sync", "no_root_squash"]}],
                  "restart": ["systemctl", "restart", "nfs-ganesha"]}],
    "if": {"required": ["server"], "properties": {"server": {"const": "ganesha"}}},
    "then": {"properties": {"exports": {"items": {"properties": {
        "options": {"items": {"not": {"pattern": GANESHA_REFUSED}}},
        "fsid": {"maximum": 65535}}}}}},
    "else": {"not": {"anyOf": [{"required": ["lease"]}, {"required": ["grace"]}]}},
}
# route53.c r53_parse.
route53 = {
    "description": "Point the service's DNS name at this instance. When zone is a name, "
                   "name must lie inside it (haboot checks this; JSON Schema cannot).",
    "properties": {
        "zone": {"description": "A hosted zone id (Z..., or /hostedzone/Z...) or a zone name "
                                "(example.com).",
                 "type": "string",
                 "anyOf": [{"pattern": "^(/hostedzone/)?Z[A-Z0-9]{1,31}$"},
                           {"pattern": rf"^(?=.*\.){DNS}$"}]},
        "name": {"description": "The record's fully qualified name.", "type": "string",
                 "pattern": rf"^(?=.*\.[^.]){DNS}$"},
        "type": {"description": "Record type.", "enum": ["A", "AAAA"], "default": "A"},
        "ttl": {"description": "Record TTL in seconds.", "type": "integer", "minimum": 0,
                "maximum": 2147483647, "default": 60},
        "value": {"description": "A metadata key holding an address of the record's type "
                                 "(A: local-ipv4, public-ipv4; AAAA: ipv6) or a literal address. "
                                 "Default local-ipv4 (A) or ipv6 (AAAA).",
                  "type": "string"},
        "wait": {"description": "insync: wait until Route53 reports the change INSYNC.",
                 "enum": ["insync", "none"], "default": "insync"},
        "mode": {"description": "swap: delete the record as read and create the new one in one "
                                "batch. upsert: UPSERT.",
                 "enum": ["swap", "upsert"], "default": "swap"},
        "timeout": dur("How long to wait for INSYNC.", "120s", "1s", "1h"),
    },
    "required": ["zone", "name"],
    "examples": [{"zone": "Z1G9ZB2OW5990Z", "name": "nfs.helloawsworld.com", "ttl": 60,
                  "value": "local-ipv4", "wait": "insync"}],
    "if": {"required": ["type"], "properties": {"type": {"const": "AAAA"}}},
    "then": {"properties": {"value": {"pattern": rf"^(ipv6|{V6})$"}}},
    "else": {"properties": {"value": {"pattern": rf"^(local-ipv4|public-ipv4|{V4})$"}}},
}
# address/address.c addr_parse, check_host_ip, check_vpc_cidr, check_ifname.
AWS_ID = "([0-9a-f]{8}|[0-9a-f]{17})"
CIDR_AWS = rf"^{V4}/(1[6-9]|2[0-8])$"
MODE_KEYS = {"secondary-ip": ["ip", "subnet"], "overlay-ip": ["ip", "route_tables", "vpc_cidr"],
             "eni": ["eni", "tags", "device_index"], "elastic-ip": ["allocation"]}
ALL_MODE_KEYS = ["ip", "subnet", "route_tables", "vpc_cidr", "eni", "tags", "device_index",
                 "allocation"]


def address_mode(mode, required):
    others = [k for k in ALL_MODE_KEYS if k not in MODE_KEYS[mode]]
    then = {"not": {"anyOf": [{"required": [k]} for k in others]}}
    if required:
        then["required"] = required
    return {"if": {"properties": {"mode": {"const": mode}}, "required": ["mode"]}, "then": then}


address = {
    "description": "Move a floating address to this instance once its export answers, so "
                   "clients that stay mounted reach the new server. The ip must lie inside "
                   "subnet, and outside every vpc_cidr block (haboot checks this; JSON Schema "
                   "cannot); the module must come after volume, filesystem and exports.",
    "properties": {
        "mode": {"description": "secondary-ip: AssignPrivateIpAddresses to this instance's "
                                "primary ENI (one subnet, one zone). eni: attach a floating "
                                "ENI (one zone). overlay-ip: route an address outside the VPC "
                                "to this instance in the route tables (any zone). elastic-ip: "
                                "associate a public address.",
                 "enum": ["secondary-ip", "eni", "overlay-ip", "elastic-ip"]},
        "ip": {"description": "secondary-ip and overlay-ip: the IPv4 address clients use "
                              "(not loopback, link-local or multicast).",
               "type": "string", "pattern": f"^{V4}$",
               "not": {"pattern": r"^(0|127)\.|^169\.254\.|^(22[4-9]|2[3-5][0-9])\."}},
        "subnet": {"description": "secondary-ip: the instance subnet's CIDR block (/16 to "
                                  "/28), to check ip against before boot.",
                   "type": "string", "pattern": CIDR_AWS},
        "route_tables": {"description": "overlay-ip: the route tables (rtb-...) that route ip "
                                        "to the owner, each listed once.",
                         "type": "array", "minItems": 1, "uniqueItems": True,
                         "items": {"type": "string", "pattern": f"^rtb-{AWS_ID}$"}},
        "vpc_cidr": {"description": "overlay-ip: the VPC's CIDR blocks, to check ip lies "
                                    "outside them before boot (haboot also checks at run time "
                                    "with the metadata service).",
                     "type": "array", "minItems": 1,
                     "items": {"type": "string", "pattern": CIDR_AWS}},
        "eni": {"description": "eni: the floating network interface's id.", "type": "string",
                "pattern": f"^eni-{AWS_ID}$"},
        "tags": {"description": "eni: tags that match exactly one network interface.",
                 "type": "object", "minProperties": 1,
                 "propertyNames": {"type": "string", "minLength": 1},
                 "additionalProperties": {"type": "string"}},
        "device_index": {"description": "eni: the device index to attach it at. Default 1.",
                         "type": "integer", "minimum": 1, "maximum": 31, "default": 1},
        "allocation": {"description": "elastic-ip: the Elastic IP's allocation id.",
                       "type": "string", "pattern": f"^eipalloc-{AWS_ID}$"},
        "interface": {"description": "The local interface, when not the one with the ENI's "
                                     "MAC: 1 to 15 characters, no space, / or :.",
                      "type": "string", "pattern": r"^[^\x00-\x20/:\x7f]{1,15}$",
                      "not": {"enum": [".", ".."]}},
        "timeout": dur("How long EC2 may take to show the move (and an ENI to appear).", "60s",
                       "1s", "30m"),
    },
    "required": ["mode"],
    "examples": [{"mode": "overlay-ip", "ip": "192.168.10.5",
                  "route_tables": ["rtb-0123456789abcdef0"]}],
    "allOf": [address_mode("secondary-ip", ["ip"]), address_mode("overlay-ip",
                                                               ["ip", "route_tables"]),
              address_mode("eni", None), address_mode("elastic-ip", ["allocation"]),
              {"not": {"required": ["eni", "tags"]}},
              {"if": {"properties": {"mode": {"const": "eni"}}, "required": ["mode"]},
               "then": {"anyOf": [{"required": ["eni"]}, {"required": ["tags"]}]}}],
    "examples": [{"mode": "secondary-ip", "ip": "10.10.10.50", "subnet": "10.10.10.0/26"}],
}
# notify.c notify_parse.
notify = {
    "description": "Tell operators: an SNS report and CloudWatch health metrics. Needs sns, "
                   "metric or both. Not required by default.",
    "properties": {
        "sns": {"description": "SNS topic ARN: arn:aws:sns:REGION:ACCOUNT:TOPIC "
                               "(partition aws, aws-cn or aws-us-gov).",
                "type": "string",
                "pattern": "^arn:(aws|aws-cn|aws-us-gov):sns:[a-z0-9-]+:[0-9]{12}:"
                           r"(?=.{1,256}$)([A-Za-z0-9_-]+|[A-Za-z0-9_-]+\.fifo)$"},
        "metric": {"description": "CloudWatch metric to publish health to.",
                   "type": "object", "additionalProperties": False,
                   "properties": {
                       "namespace": {"description": "1 to 255 of letters, digits and . - _ / # :, "
                                                    "not starting with : or AWS/.",
                                     "type": "string",
                                     "pattern": "^(?!:)(?!AWS/)[A-Za-z0-9._/#:-]{1,255}$"},
                       "name": {"description": "Metric name, 1 to 255 characters, not starting "
                                               "with :.",
                                "type": "string", "minLength": 1, "maxLength": 255,
                                "pattern": "^(?!:)"},
                   },
                   "required": ["namespace", "name"]},
    },
    "anyOf": [{"required": ["sns"]}, {"required": ["metric"]}],
    "examples": [{"sns": "arn:aws:sns:us-west-2:123456789012:nfs-autoscale",
                  "metric": {"namespace": "HA/NFS", "name": "Healthy"}}],
}

# service/parse.c svc_parse, parse_stop, parse_data, parse_ready.
ARGV = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
# check_account: a useradd(8) name (a final $ allowed) or a numeric id.
ACCOUNT = r"^([A-Za-z_]([A-Za-z0-9_.-]{0,31}|[A-Za-z0-9_.-]{0,30}\$)|[0-9]{1,9})$"
# check_unit: systemd.unit(5) names; a .service or no suffix (systemctl adds it).
UNIT_C = r"[A-Za-z0-9_:.\\-]"
UNIT = (r"^(?=[\s\S]{1,255}$)(?!(?![\s\S]*\.service$)[\s\S]{248,}$)"
        r"(?![\s\S]*\.(socket|target|device|mount|automount|swap|timer|path|slice|scope)$)"
        rf"[A-Za-z0-9_:\\]{UNIT_C}*(@[A-Za-z0-9_:\\-]{UNIT_C}*)?(\.service)?$")
# check_url: http(s)://HOST[:PORT][/PATH], no user or password, no #.
PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
HOSTNAME = (r"(?=[^:/]{1,253}(:|/|$))(?![0-9.]+(:|/|$))"
            r"[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*")
URL = rf"^https?://({V4}|\[{V6}\]|{HOSTNAME})(:{PORT})?(/[\x21\x22\x24-\x7e]*)?$"
service = {
    "description": "Start the service that lives on the volume (a systemd unit, or a command "
                   "haboot runs as a detached daemon), prove it ready, restart it under watch "
                   "and stop it on release. Give unit or command, not both.",
    "properties": {
        "unit": {"description": "A systemd service unit, started with systemctl start "
                                "(e.g. postgresql@15-main); systemctl adds .service.",
                 "type": "string", "pattern": UNIT},
        "command": dict(ARGV, description="The argv that runs the service in the foreground "
                                          "(or starts its daemon and exits 0); haboot starts it "
                                          "detached, in a session of its own, stdin /dev/null, "
                                          "output to log."),
        "user": {"description": "Who the service's commands run as (command, init, stop, ready "
                                "command): a name in /etc/passwd or a numeric id. Default root.",
                 "type": "string", "pattern": ACCOUNT},
        "group": {"description": "Their group. Default the user's primary group.",
                  "type": "string", "pattern": ACCOUNT},
        "environment": {"description": "The commands' environment, added to a clean one (PATH, "
                                       "HOME, USER, LOGNAME, SHELL); haboot's own is not passed on.",
                        "type": "object", "minProperties": 1,
                        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                        "additionalProperties": {"type": "string"}},
        "directory": abspath("The commands' working directory. Default /."),
        "log": abspath("command only: where the service's output goes. Default "
                       "/var/log/haboot/service.log."),
        "pidfile": abspath("command only: where haboot keeps the daemon's pid and start time. "
                           "Default /run/haboot/service.pid."),
        "init": dict(ARGV, description="Run once, as user, when the data directory is missing "
                                       "or empty (a blank volume's first boot), e.g. initdb. "
                                       "Needs data."),
        "stop": {"description": "How release stops the service.", "type": "object",
                 "additionalProperties": False,
                 "properties": {
                     "command": dict(ARGV, description="command only: the stop command. Default "
                                                       "SIGTERM to the daemon haboot started."),
                     "timeout": dur("How long the service may take to stop.", "90s", "1s", "1h")}},
        "data": {"description": "The data directory on the volume: created if missing, given "
                                "its owner and mode before the service starts.",
                 "type": "object", "additionalProperties": False,
                 "properties": {
                     "path": abspath("The directory: on the volume, not /.",
                                     {"not": {"const": "/"}}),
                     "owner": {"description": "Its owner. Default user (else root).",
                               "type": "string", "pattern": ACCOUNT},
                     "group": {"description": "Its group. Default the owner's primary group.",
                               "type": "string", "pattern": ACCOUNT},
                     "mode": {"description": "Its mode, quoted octal. Default \"0700\".",
                              "type": "string", "pattern": "^[0-7]{3,4}$", "default": "0700"},
                     "recursive": {"description": "Also give everything under it that another "
                                                  "owner holds to the owner (modes untouched).",
                                   "type": "boolean", "default": False}},
                 "required": ["path"]},
        "ready": {"description": "How haboot knows the service serves: one of port, command and "
                                 "http. It is probed again with backoff until timeout, and it "
                                 "is watch's check.",
                  "type": "object", "additionalProperties": False,
                  "properties": {
                      "port": {"description": "A TCP port that accepts a connection.",
                               "type": "integer", "minimum": 1, "maximum": 65535},
                      "host": {"description": "The address port is probed on. Default 127.0.0.1.",
                               "type": "string", "pattern": f"^({V4}|{V6})$",
                               "default": "127.0.0.1"},
                      "command": dict(ARGV, description="A command (as user) that exits 0 when "
                                                        "the service is ready."),
                      "http": {"description": "A URL a GET must answer with 2xx: http or https, "
                                              "no user or password.",
                               "type": "string", "pattern": URL},
                      "timeout": dur("How long the service may take to become ready.", "90s",
                                     "1s", "1h")},
                  "oneOf": [{"required": ["port"]}, {"required": ["command"]},
                            {"required": ["http"]}],
                  "dependentRequired": {"host": ["port"]}},
    },
    "required": ["ready"],
    "dependentRequired": {"init": ["data"]},
    "examples": [{"command": ["/usr/lib/postgresql/15/bin/postgres", "-D", "/srv/pg/15/main"],
                  "user": "postgres",
                  "data": {"path": "/srv/pg/15/main", "mode": "0700"},
                  "init": ["/usr/lib/postgresql/15/bin/initdb", "-D", "/srv/pg/15/main"],
                  "stop": {"command": ["/usr/lib/postgresql/15/bin/pg_ctl", "-D",
                                       "/srv/pg/15/main", "stop", "-m", "fast"],
                           "timeout": "2m"},
                  "ready": {"command": ["psql", "-h", "/var/run/postgresql", "-Atc",
                                        "select 1"], "timeout": "3m"}}],
    "oneOf": [
        {"required": ["unit"],
         "not": {"anyOf": [{"required": ["command"]}, {"required": ["log"]},
                           {"required": ["pidfile"]}]},
         "properties": {"stop": {"not": {"required": ["command"]}}}},
        {"required": ["command"], "not": {"required": ["unit"]}},
    ],
}

defs = {"client": client, "export": export}
entries = []
for name, desc, body, *req in [
    ("volume", "Attach the shared EBS volume.", volume),
    ("filesystem", "Fsck, mount and verify the volume's filesystem.", filesystem),
    ("exports", "Serve the volume over NFS.", exports),
    ("service", "Start the service on the volume and prove it ready.", service),
    ("address", "Move a floating address here.", address),
    ("route53", "Point DNS at this instance.", route53),
    ("notify", "Tell operators.", notify, False),
]:
    entry, settings = module(name, desc, body, *req)
    defs[name] = settings
    defs[name + "_entry"] = entry
    entries.append({"$ref": f"#/$defs/{name}_entry"})

once = [{"contains": {"type": "object", "required": [n]}, "minContains": 0, "maxContains": 1}
        for n in ["volume", "filesystem", "exports", "service", "address", "route53", "notify"]]

# manifest.c parse_top and parse_module_entry.
schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://haboot.invalid/schemas/haboot.schema.json",
    "title": "haboot manifest, version 1",
    "description": "The manifest haboot reads from user-data (first line #haboot, at most 16384 "
                   "bytes, gzip allowed) or from -f FILE. Agrees with `haboot validate`; where "
                   "JSON Schema cannot express a check (duration ranges, a record name inside "
                   "its zone, an export path listed twice, YAML-level rules: duplicate keys, "
                   "anchors, aliases, tags, size), haboot is stricter.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "version": {"description": "Manifest format version: 1.", "type": "integer", "const": 1},
        "name": {"description": "Service name for logs, metric dimensions and the status report: "
                                "1 to 63 lowercase letters, digits, - and _, starting with a "
                                "letter or digit.",
                 "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
        "on_failure": {"description": "halt, or mark-unhealthy: also mark the instance unhealthy "
                                      "so the Auto Scaling group replaces it at once, when a new "
                                      "instance can help (a failure every instance would repeat, "
                                      "such as a missing signature file, halts instead).",
                       "enum": ["halt", "mark-unhealthy"], "default": "halt"},
        "deadline": dur("Bound on the whole run.", "4m", "10s", "1h"),
        "lifecycle_hook": {"description": "A lifecycle hook to complete: CONTINUE on success, "
                                          "ABANDON on failure.",
                           "type": "object", "additionalProperties": False,
                           "properties": {
                               "name": {"description": "The hook's name.", "type": "string",
                                        "minLength": 1, "maxLength": 255},
                               "group": {"description": "Its Auto Scaling group.", "type": "string",
                                         "minLength": 1, "maxLength": 255}},
                           "required": ["name", "group"]},
        "watch": {"description": "How `haboot watch` keeps the service healthy after run brought "
                                 "it up: check every interval; after `failures` failed checks in a "
                                 "row, repair (at most `restarts` per `window`, `backoff` apart, "
                                 "doubling); then give up and let the group replace the instance.",
                  "type": "object", "additionalProperties": False,
                  "properties": {
                      "interval": dur("Time between rounds of checks.", "10s", "1s", "10m"),
                      "failures": {"description": "Failed checks in a row before a repair: one "
                                                  "failed probe is no verdict. Default 2.",
                                   "type": "integer", "minimum": 1, "maximum": 100,
                                   "default": 2},
                      "restarts": {"description": "Repairs allowed per module within `window` "
                                                  "before the watcher gives up. Default 3.",
                                   "type": "integer", "minimum": 0, "maximum": 100,
                                   "default": 3},
                      "window": dur("The span `restarts` counts over.", "10m", "1s", "24h"),
                      "backoff": dur("Least time between two repairs of a module; it doubles "
                                     "after each.", "10s", "0s", "1h"),
                      "heartbeat": dur("How often the Healthy metric is published.", "1m",
                                       "1s", "1h"),
                      "api_interval": dur("A module asks AWS about its piece (the volume's "
                                          "attachment, the DNS record) at most this often "
                                          "while it is healthy; the default keeps a watcher "
                                          "under 100 AWS calls an hour besides the metric.",
                                          "2m", "1s", "1h")}},
        "release": {"description": "How `haboot release` hands the service over on a planned "
                                   "stop, and what the watcher listens for.",
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "triggers": {"description": "What the watcher releases on: lifecycle "
                                                    "(the termination lifecycle hook: IMDS "
                                                    "target-lifecycle-state Terminated), spot "
                                                    "(a Spot interruption notice), rebalance (a "
                                                    "rebalance recommendation; the release then "
                                                    "asks the group for the replacement). "
                                                    "Default [lifecycle, spot].",
                                     "type": "array", "uniqueItems": True,
                                     "items": {"enum": ["lifecycle", "spot", "rebalance"]},
                                     "default": ["lifecycle", "spot"]},
                        "timeout": dur("Bound on the whole release (a Spot notice's time "
                                       "bounds it too).", "3m", "10s", "1h"),
                        "heartbeat": dur("RecordLifecycleActionHeartbeat this often while a "
                                         "release answering the termination hook runs; keep "
                                         "it under the hook's HeartbeatTimeout.", "20s",
                                         "1s", "1h"),
                        "lifecycle_hook": {"description": "The termination lifecycle hook to "
                                                          "complete with CONTINUE once "
                                                          "released.",
                                           "type": "object", "additionalProperties": False,
                                           "properties": {
                                               "name": {"description": "The hook's name.",
                                                        "type": "string", "minLength": 1,
                                                        "maxLength": 255},
                                               "group": {"description": "Its Auto Scaling "
                                                                        "group. Default "
                                                                        "lifecycle_hook's, else "
                                                                        "the group Auto Scaling "
                                                                        "says this instance is "
                                                                        "in.",
                                                         "type": "string", "minLength": 1,
                                                         "maxLength": 255}},
                                           "required": ["name"]}}},
        "modules": {"description": "The modules to run, in order, each at most once: a list of "
                                   "single-key mappings like \"- volume: {...}\".",
                    "type": "array", "minItems": 1,
                    "items": {"oneOf": entries},
                    "allOf": once},
    },
    "required": ["version", "name", "modules"],
    "examples": [{"version": 1, "name": "nfs", "on_failure": "mark-unhealthy", "deadline": "4m",
                  "modules": [{"volume": {"tags": {"Name": "nfs-master-volume"},
                                          "device": "/dev/sdf"}},
                              {"filesystem": {"mountpoint": "/mnt/nfs", "signature": ".NFSMASTER",
                                              "format": "if-blank"}}]}],
    "$defs": defs,
}


def end_anchored(node):
    """Python's re (which python3-jsonschema uses) lets "$" match before a
    final newline, ECMA-262's (editors) does not: "vol-0123abcd\\n" would pass
    one and not the other.  (?![\\s\\S]) is the end of the string in both."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "pattern" and v.endswith("$"):
                node[k] = v + r"(?![\s\S])"
            else:
                end_anchored(v)
    elif isinstance(node, list):
        for v in node:
            end_anchored(v)


def main():
    end_anchored(schema)
    print(json.dumps(schema, indent=2, ensure_ascii=True))


if __name__ == "__main__":
    main()
