"""schemas/haboot.schema.json and `haboot validate` agree.

Editors and CI check manifests with the schema; instances check them with
haboot.  A manifest one accepts and the other rejects is a manifest that
passes review and fails at boot (or the reverse), so every corpus file, every
example and a table of boundary values per field must get the same verdict
from both.  Files where they differ for a reason JSON Schema or PyYAML cannot
express are listed in KNOWN_DIFFERENCES with that reason, and the test checks
the difference is still there (so the list cannot silently go stale).
"""
import glob
import gzip
import json
import os
import subprocess
import zlib

import jsonschema
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot"))
CORPUS = os.path.join(ROOT, "tests", "manifests")
SCHEMA_PATH = os.path.join(ROOT, "schemas", "haboot.schema.json")
INFLATED_MAX = 1024 * 1024

# invalid/NAME -> why haboot rejects what PyYAML + the schema accept.
KNOWN_DIFFERENCES = {
    "duplicate-key-top.yaml": "PyYAML keeps the last of duplicate keys; haboot rejects them",
    "duplicate-key-module.yaml": "PyYAML keeps the last of duplicate keys; haboot rejects them",
    "anchors-aliases.yaml": "PyYAML expands anchors and aliases; haboot rejects them",
    "merge-key.yaml": "PyYAML applies << merge keys; haboot rejects them",
    "yaml-tag.yaml": "PyYAML honours !!str; haboot rejects explicit tags",
    "version-float.yaml": "JSON Schema's integer type accepts 1.0; haboot wants the integer 1",
    "duration-range.yaml": "JSON Schema checks a duration's form, not its range",
    "duration-over-24h.yaml": "JSON Schema checks a duration's form, not its range",
    "exports-duplicate-path.yaml": "JSON Schema cannot compare paths across list items",
    "exports-path-outside-mountpoint.yaml": "JSON Schema cannot compare an export path with "
                                            "another module's mountpoint",
    "name-outside-zone.yaml": "JSON Schema cannot check a record name lies inside its zone",
    "exports-fsid-duplicate.yaml": "JSON Schema cannot compare fsids (given or defaulted) "
                                   "across list items",
    "exports-grace-shorter-than-lease.yaml": "JSON Schema cannot compare two durations",
    "exports-lease-not-whole-seconds.yaml": "JSON Schema checks a duration's form, not its value",
    "address-ip-outside-subnet.yaml": "JSON Schema cannot check an address lies inside a CIDR",
    "address-ip-reserved.yaml": "JSON Schema cannot compute a subnet's reserved addresses",
    "address-subnet-host-bits.yaml": "JSON Schema cannot check a CIDR block's host bits",
    "address-overlay-inside-vpc.yaml": "JSON Schema cannot check an address lies outside a CIDR",
    "address-before-exports.yaml": "JSON Schema cannot compare the positions of list items",
    "route53-before-service.yaml": "JSON Schema cannot compare the positions of list items",
    "snapshots-every-too-short.yaml": "JSON Schema checks a duration's form, not its range",
}


@pytest.fixture(scope="module")
def validator():
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def load_yaml(data):
    """What an editor or CI sees: the document as PyYAML loads it, or
    (False, why) when the bytes are not one YAML document at all."""
    if data[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = d.decompress(data, INFLATED_MAX + 1)
            if len(data) > INFLATED_MAX or not d.eof:
                return False, "gzip too large or truncated"
        except zlib.error as e:
            return False, str(e)
    try:
        return True, yaml.safe_load(data)
    except yaml.YAMLError as e:
        return False, str(e)


def schema_verdict(validator, data):
    ok, doc = load_yaml(data)
    return ok and validator.is_valid(doc)


def haboot_verdict(path=None, data=None):
    r = subprocess.run([HABOOT, "validate", path or "-"], input=data, capture_output=True,
                       timeout=60)
    assert r.returncode in (0, 2), r.stderr
    return r.returncode == 0, r.stderr.decode("utf-8", "replace")


def corpus_files():
    out = []
    for kind in ("valid", "invalid"):
        for name in sorted(os.listdir(os.path.join(CORPUS, kind))):
            if not name.endswith(".expect"):
                out.append(f"{kind}/{name}")
    return out


@pytest.mark.parametrize("rel", corpus_files())
def test_schema_and_haboot_agree_on_corpus(validator, rel):
    kind, name = rel.split("/")
    path = os.path.join(CORPUS, rel)
    with open(path, "rb") as f:
        data = f.read()
    hb, err = haboot_verdict(path)
    sc = schema_verdict(validator, data)
    assert hb == (kind == "valid"), err
    if kind == "invalid" and name in KNOWN_DIFFERENCES:
        assert sc, f"{name} no longer differs ({KNOWN_DIFFERENCES[name]}): remove it from the list"
        return
    assert sc == hb, f"schema says {'valid' if sc else 'invalid'}, haboot says {err}"


def test_known_differences_name_existing_files():
    for name in KNOWN_DIFFERENCES:
        assert os.path.exists(os.path.join(CORPUS, "invalid", name)), name


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml"))))
def test_examples_are_valid_for_both(validator, path):
    with open(path, "rb") as f:
        data = f.read()
    hb, err = haboot_verdict(path)
    assert hb, err
    ok, doc = load_yaml(data)
    assert ok, doc
    errors = [e.message for e in validator.iter_errors(doc)]
    assert not errors


def schema_keys_and_enums(node, path, keys, enums):
    """Every property path and every (path, enum value) in the schema."""
    if isinstance(node, dict):
        if "$ref" in node:
            return
        for k, v in node.get("properties", {}).items():
            keys.add(path + (k,))
            schema_keys_and_enums(v, path + (k,), keys, enums)
        for v in node.get("enum", []):
            enums.add(path + (v,))
        for key in ("oneOf", "anyOf", "allOf"):
            for sub in node.get(key, []):
                schema_keys_and_enums(sub, path, keys, enums)


def doc_keys_and_values(node, path, keys, values):
    if isinstance(node, dict):
        for k, v in node.items():
            keys.add(path + (k,))
            doc_keys_and_values(v, path + (k,), keys, values)
    elif isinstance(node, list):
        for item in node:
            doc_keys_and_values(item, path, keys, values)
    else:
        values.add(path + (node,))


def test_valid_corpus_uses_every_key_and_enum_value(validator):
    """A key or enum value no valid manifest uses is one no test proves haboot
    accepts: add a valid manifest when the schema grows."""
    schema = validator.schema
    want_keys, want_enums = set(), set()
    schema_keys_and_enums(schema, (), want_keys, want_enums)
    for mod in ("volume", "filesystem", "exports", "service", "address", "route53", "notify"):
        schema_keys_and_enums(schema["$defs"][mod], ("modules", mod), want_keys, want_enums)
    schema_keys_and_enums(schema["$defs"]["export"], ("modules", "exports", "exports"),
                          want_keys, want_enums)
    want_keys.add(("modules", "volume", "tags"))
    have_keys, have_values = set(), set()
    for name in os.listdir(os.path.join(CORPUS, "valid")):
        with open(os.path.join(CORPUS, "valid", name), "rb") as f:
            ok, doc = load_yaml(f.read())
        assert ok, name
        doc_keys_and_values(doc, (), have_keys, have_values)
    assert not want_keys - have_keys, "keys no valid manifest uses"
    assert not want_enums - have_values, "enum values no valid manifest uses"


# One field at a time, values at and around each boundary.  Each is put into
# a manifest that is otherwise valid; both checkers must agree on it.
TEMPLATES = {
    "name": "version: 1\nname: {v}\nmodules: [{{volume: {{id: vol-073769c7, device: /dev/sdf}}}}]\n",
    "volume.id": "version: 1\nname: a\nmodules: [{{volume: {{id: {v}, device: /dev/sdf}}}}]\n",
    "volume.device": "version: 1\nname: a\nmodules: [{{volume: {{id: vol-073769c7, device: {v}}}}}]\n",
    "volume.timeout": "version: 1\nname: a\nmodules: [{{volume: {{id: vol-073769c7, device: /dev/sdf, timeout: {v}}}}}]\n",
    "volume.snapshots.keep": "version: 1\nname: a\nmodules: [{{volume: {{id: vol-073769c7, device: /dev/sdf, snapshots: {{every: 1h, keep: {v}}}}}}}]\n",
    "filesystem.mountpoint": "version: 1\nname: a\nmodules: [{{filesystem: {{mountpoint: {v}, signature: s}}}}]\n",
    "filesystem.device": "version: 1\nname: a\nmodules: [{{filesystem: {{mountpoint: /m, signature: s, device: {v}}}}}]\n",
    "filesystem.signature": "version: 1\nname: a\nmodules: [{{filesystem: {{mountpoint: /m, signature: {v}}}}}]\n",
    "filesystem.label": "version: 1\nname: a\nmodules: [{{filesystem: {{mountpoint: /m, signature: s, label: {v}}}}}]\n",
    "filesystem.options": "version: 1\nname: a\nmodules: [{{filesystem: {{mountpoint: /m, signature: s, options: [{v}]}}}}]\n",
    "exports.clients": "version: 1\nname: a\nmodules: [{{exports: {{exports: [{{path: /m, clients: {v}}}]}}}}]\n",
    "exports.path": "version: 1\nname: a\nmodules: [{{exports: {{exports: [{{path: {v}, clients: \"*\"}}]}}}}]\n",
    "exports.options": "version: 1\nname: a\nmodules: [{{exports: {{exports: [{{path: /m, clients: \"*\", options: [{v}]}}]}}}}]\n",
    "exports.options.ganesha": "version: 1\nname: a\nmodules: [{{exports: {{server: ganesha, exports: [{{path: /m, clients: \"*\", options: [{v}]}}]}}}}]\n",
    "exports.options.pair": "version: 1\nname: a\nmodules: [{{exports: {{exports: [{{path: /m, clients: \"*\", options: {v}}}]}}}}]\n",
    "exports.check.host": "version: 1\nname: a\nmodules: [{{exports: {{check: {{host: {v}}}, exports: [{{path: /m, clients: \"*\"}}]}}}}]\n",
    "route53.zone": "version: 1\nname: a\nmodules: [{{route53: {{zone: {v}, name: a.b}}}}]\n",
    "route53.name": "version: 1\nname: a\nmodules: [{{route53: {{zone: Z1, name: {v}}}}}]\n",
    "route53.value.A": "version: 1\nname: a\nmodules: [{{route53: {{zone: Z1, name: a.b, value: {v}}}}}]\n",
    "route53.value.AAAA": "version: 1\nname: a\nmodules: [{{route53: {{zone: Z1, name: a.b, type: AAAA, value: {v}}}}}]\n",
    "notify.sns": "version: 1\nname: a\nmodules: [{{notify: {{sns: {v}}}}}]\n",
    "address.ip": "version: 1\nname: a\nmodules: [{{address: {{mode: secondary-ip, ip: {v}}}}}]\n",
    "address.subnet": "version: 1\nname: a\nmodules: [{{address: {{mode: secondary-ip, ip: 10.0.0.5, subnet: {v}}}}}]\n",
    "address.route_table": "version: 1\nname: a\nmodules: [{{address: {{mode: overlay-ip, ip: 192.168.0.5, route_tables: [{v}]}}}}]\n",
    "address.eni": "version: 1\nname: a\nmodules: [{{address: {{mode: eni, eni: {v}}}}}]\n",
    "address.allocation": "version: 1\nname: a\nmodules: [{{address: {{mode: elastic-ip, allocation: {v}}}}}]\n",
    "address.interface": "version: 1\nname: a\nmodules: [{{address: {{mode: elastic-ip, allocation: eipalloc-01234567, interface: {v}}}}}]\n",
    "notify.namespace": "version: 1\nname: a\nmodules: [{{notify: {{metric: {{namespace: {v}, name: x}}}}}}]\n",
    "notify.metric": "version: 1\nname: a\nmodules: [{{notify: {{metric: {{namespace: x, name: {v}}}}}}}]\n",
    "service.unit": "version: 1\nname: a\nmodules: [{{service: {{unit: {v}, ready: {{port: 1}}}}}}]\n",
    "service.user": "version: 1\nname: a\nmodules: [{{service: {{command: [x], user: {v}, ready: {{port: 1}}}}}}]\n",
    "service.environment": "version: 1\nname: a\nmodules: [{{service: {{command: [x], environment: {{{v}: x}}, ready: {{port: 1}}}}}}]\n",
    "service.data.mode": "version: 1\nname: a\nmodules: [{{service: {{command: [x], data: {{path: /d, mode: {v}}}, ready: {{port: 1}}}}}}]\n",
    "service.ready.port": "version: 1\nname: a\nmodules: [{{service: {{command: [x], ready: {{port: {v}}}}}}}]\n",
    "service.ready.http": "version: 1\nname: a\nmodules: [{{service: {{command: [x], ready: {{http: {v}}}}}}}]\n",
    "release.triggers": "version: 1\nname: a\nrelease: {{triggers: {v}}}\nmodules: [{{volume: {{id: vol-073769c7, device: /dev/sdf}}}}]\n",
    "release.hook": "version: 1\nname: a\nrelease: {{lifecycle_hook: {{name: {v}}}}}\nmodules: [{{volume: {{id: vol-073769c7, device: /dev/sdf}}}}]\n",
}
A63 = "a" * 63
TOPIC = "arn:aws:sns:us-west-2:123456789012:"
CASES = {
    # A final newline: Python's "$" would let it through, haboot does not.
    "name": ["a", "0", "a-b_c", A63, A63 + "a", "-a", "_a", "A", "a.b", "a b", "", "a\n"],
    "volume.id": ["vol-0123abcd", "vol-0123456789abcdef0", "vol-0123ABCD", "vol-123",
                  "vol-0123456789abcdef", "vol-0123abcdx", "i-0123abcd", "vol-0123abcd\n"],
    "volume.device": ["/dev/sdf", "/dev/sdb", "/dev/sdz", "/dev/xvdb", "/dev/xvdz", "/dev/sda",
                      "/dev/xvda", "/dev/sdf1", "/dev/nvme1n1", "sdf"],
    # In range only: ranges are a known difference, forms are not.
    "volume.timeout": ["1s", "1000ms", "90s", "5m", "1h", "2m30s", "0001s", "90", "5 m", "90x",
                       "1.5s", "m", "s5", "5ms5", "", "1h ", "-1s"],
    "volume.snapshots.keep": [1, 48, 1000, 0, 1001, -1, "5", 1.5, True],
    "filesystem.mountpoint": ["/m", "/a/b.c", "/a/./b", "/a/...", "/", "//", "/a/", "/a/..",
                              "/a/../b", "/..", "/a//b", "a", "/a b", "/a\tb", "/a\x7f", "/\u00e9"],
    "filesystem.device": ["/dev/x", "/dev/disk/by-id/nvme-x", "/dev", "/dev/", "/devx",
                          "/dev/../x", "/mnt/x"],
    "filesystem.signature": ["s", ".NFSMASTER", "a/b", "...", "a/...", "..a", "..", "../a", "a/..",
                             "a/../b", "/a", "", "a\tb", "a b"],
    "filesystem.label": ["a", "a" * 12, "a" * 13, "A-_9", "a.b", ""],
    "filesystem.options": ["noatime", "x-systemd.automount", "a=b", "a,b", "a b", "", "ro",
                           "rw"],
    "exports.clients": [
        "*", "10.0.0.0/24", "10.0.0.0/0", "10.0.0.0/32", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/024",
        "10.0.0.0/ 24", "10.0.0.0/+24", "::/0", "::/128", "::/129", "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:8::", "::1.2.3.4", "1::2:3:4:5:6:1.2.3.4",
        "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5::1.2.3.4", "fFfF::", "00001::", "10.10.10.300",
        "01.2.3.4", "1.2.3", "123", "a..b", "*.example.com", "a*b", "x.", ".x", "-a.b", A63,
        A63 + "a", (A63 + ".") * 3 + "a" * 61, (A63 + ".") * 3 + "a" * 62,
        (A63 + ".") * 3 + "a" * 61 + ".", "nfs client", "@netgroup", ""],
    "exports.path": ["/m", "/", "/a(b", "/a;b", "/a\"b", "/a'b", "/a#b", "/a,b", "/a{b", "/a\\b",
                     "/a b", "a"],
    "exports.options": ["rw", "no_subtree_check", "sec=sys", "sec=krb5:krb5i", "mp=/a",
                        "mountpoint", "mountpoint=/x", "anonuid=65534", "anonuid=-1",
                        "anonuid=12345678901", "anongid=x", "sec=", "sec=sys) *(rw", "fsid=1",
                        "refer=/a@h+h", "bogus", "RW", "refer=x y", "refer=a)b", "mp=a",
                        "mountpoint=/", "mountpoint=//", "mountpoint=/a/", "anonuid=0",
                        "anonuid=4294967295", "anonuid=4294967296", "anonuid=0004294967",
                        "anonuid=00004294967", "anonuid=+1", "sec=:sys", "sec=sys:",
                        "sec=sys::krb5", "sec=krb5:krb5i:krb5p:sys", "sec=krb6"],
    "exports.options.ganesha": ["rw", "sync", "no_subtree_check", "sec=krb5p", "anonuid=1",
                                "mountpoint", "async", "subtree_check", "wdelay", "nohide",
                                "crossmnt", "secure_locks", "nordirplus", "pnfs", "no_pnfs",
                                "security_label", "refer=/a@h", "replicas=/a@h",
                                "mountpoint=/m", "mp=/m"],
    "exports.options.pair": [json.dumps(["rw", "ro"]), json.dumps(["sync", "async"]),
                             json.dumps(["secure_locks", "no_auth_nlm"]),
                             json.dumps(["auth_nlm", "insecure_locks"]),
                             json.dumps(["rw", "sync", "no_subtree_check"]),
                             json.dumps(["sec=sys", "sec=krb5"]), json.dumps(["mp=/a", "mp"]),
                             json.dumps(["mp=/a", "mountpoint=/a"]),
                             json.dumps(["anonuid=1", "anongid=1"]),
                             json.dumps(["anonuid=1", "anonuid=2"])],
    "exports.check.host": ["127.0.0.1", "::1", "10.0.0.5", "localhost", "1.2.3.256", ""],
    "route53.zone": ["Z1", "ZABC123", "Z" + "A" * 31, "Z" + "A" * 32, "Z", "z1", "/hostedzone/Z1",
                     "/hostedzone/", "b", "a.b", "Z1\n"],
    "route53.name": ["a.b", "a.b.", "*.a.b", "_x.a.b", "a", "a.", ".", "a..b", "a b.c"],
    "route53.value.A": ["local-ipv4", "public-ipv4", "192.0.2.1", "ipv6", "instance-id", "ip",
                        "::1", "1.2.3.256", ""],
    "route53.value.AAAA": ["ipv6", "::1", "2001:db8::10", "local-ipv4", "1.2.3.4", "fe80::1%eth0"],
    "notify.sns": [TOPIC + "t", TOPIC + "a.fifo", TOPIC + "a" * 256, TOPIC + "a" * 257,
                   TOPIC + "a" * 251 + ".fifo", TOPIC + "a" * 252 + ".fifo", TOPIC + ".fifo",
                   TOPIC, TOPIC + "a:b", TOPIC + "a.b", "arn:aws:sns:::",
                   "arn:aws:sns:us-west-2:12345678901:t", "arn:aws:sqs:us-west-2:123456789012:t",
                   "arn:aws-cn:sns:cn-north-1:123456789012:t", "arn:aws:sns:US:123456789012:t",
                   "t"],
    "address.ip": ["10.0.0.50", "0.1.2.3", "127.0.0.1", "169.254.1.1", "169.253.1.1",
                   "223.1.1.1", "224.0.0.1", "255.255.255.255", "10.0.0.256", "::1", "10.0.0.50\n",
                   "1.2.3", ""],
    "address.subnet": ["10.0.0.0/16", "10.0.0.0/24", "10.0.0.0/28", "10.0.0.0/15", "10.0.0.0/29",
                       "10.0.0.0/024", "10.0.0.0", "::/64", "10.0.0.0/24\n"],
    "address.route_table": ["rtb-01234567", "rtb-0123456789abcdef0", "rtb-0123456", "rtb-0123ABCD",
                            "rtb-0123456789abcdef", "eni-01234567", "rtb-01234567\n"],
    "address.eni": ["eni-01234567", "eni-0123456789abcdef0", "eni-012345678", "ENI-01234567",
                    "rtb-01234567", "eni-01234567\n"],
    "address.allocation": ["eipalloc-01234567", "eipalloc-0123456789abcdef0", "eipalloc-12",
                           "eipassoc-01234567", "eipalloc-01234567\n"],
    "address.interface": ["eth0", "ens5", "a" * 15, "a" * 16, "eth0:1", "a/b", "a b", ".", "..",
                          "...", "é", ""],
    "notify.namespace": ["HA/NFS", "a:b#c.d-e_f", "A" * 255, "A" * 256, "AWS/EC2", "aws/x", ":a",
                         "a b", ""],
    "notify.metric": ["Healthy", "a b", "A" * 255, "A" * 256, ":a", "", "a\nb", "a\n"],
    "service.unit": ["postgresql@15-main", "postgresql@15-main.service", "redis-server.service",
                     "a", "a.b", "a:b_c-d.e\\x2d", "_a", "x@-y", "a" * 247, "a" * 248,
                     "a" * 247 + ".service", "a" * 248 + ".service", "-a", ".a", "a@",
                     "a@.service", "@a", "a@b@c", "a b", "a/b", "nfs.socket", "a.target",
                     "a.socket.service", "", "a\n", "a.service\n"],
    "service.user": ["postgres", "_apt", "www-data", "a.b", "machine$", "a" * 32, "a" * 33,
                     "0", "999", "123456789", "1234567890", "1a", "-a", "a b", "a$b", "", "a\n"],
    "service.environment": ["A", "_A", "a1_B", "1A", "A-B", "A B", "A=B", ""],
    "service.data.mode": ["0700", "700", "2750", "0800", "07000", "70", "rwx", "", "0700\n"],
    "service.ready.port": [1, 65535, 0, 65536, -1, "5432"],
    "service.ready.http": ["http://127.0.0.1:9090/-/ready", "https://localhost/health",
                           "http://[::1]:8080/", "http://a-b.example.com", "http://h:1",
                           "http://h:65535/", "http://h:65536/", "http://h:0/", "http://h:080/",
                           "http://h:/", "http://u:p@h/", "http://u@h/x", "http://h/a b",
                           "http://h/a#b", "http://h/a?b=c&d", "ftp://h/", "http://",
                           "http:///x", "http://10.0.0.256/", "http://1.2.3/", "http://a..b/",
                           "http://a./", "http://[::1/", "http://[1.2.3.4]/",
                           "http://" + "a" * 64 + ".b/", "HTTP://h/", "http://h/\u00e9",
                           "http://h?x", "http://h/x\n", "http://_h/"],
    "release.triggers": [json.dumps([]), json.dumps(["lifecycle"]), json.dumps(["rebalance", "spot"]),
                         json.dumps(["spot", "spot"]), json.dumps(["Spot"]), json.dumps("spot"),
                         json.dumps([""]), json.dumps(["lifecycle", "spot", "rebalance"])],
    "release.hook": ["nfs-terminate", "a" * 255, "a" * 256, ""],
}


def field_doc(field, value):
    v = value if field.endswith((".pair", ".triggers")) else json.dumps(value)
    return TEMPLATES[field].format(v=v).encode()


@pytest.mark.parametrize("field,value",
                         [(f, v) for f, vs in CASES.items() for v in vs],
                         ids=lambda x: x if len(str(x)) < 40 else str(x)[:37] + "...")
def test_schema_and_haboot_agree_on_field(validator, field, value):
    doc = field_doc(field, value)
    hb, err = haboot_verdict(data=doc)
    sc = schema_verdict(validator, doc)
    assert sc == hb, f"{field}={value!r}: schema says {sc}, haboot says {hb} {err}"


def test_field_table_has_both_verdicts(validator):
    """Each field's table holds values both accept and values both reject;
    a table of only one kind proves nothing about the boundary."""
    for field, values in CASES.items():
        verdicts = {schema_verdict(validator, field_doc(field, v)) for v in values}
        assert verdicts == {True, False}, field


def test_schema_file_is_the_generator_output():
    """The JSON file is schemas/mkschema.py's output: an edit to one alone
    would leave the patterns' source and the schema apart."""
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "schemas", "mkschema.py")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        assert r.stdout == f.read(), "run: schemas/mkschema.py > schemas/haboot.schema.json"
