"""The manifest corpus: what `haboot validate` accepts, and what it tells ops
about every manifest it rejects.

tests/manifests/valid/*      must validate (exit 0).
tests/manifests/invalid/*    must be rejected (exit 2) with exactly the errors
                             listed at the top of the file as
                                 # expect: LINE:COL: substring of the message
                             or, for an error without a position,
                                 # expect: -: substring
                             (gzip files keep these lines in FILE.expect).
Either kind may also list the warnings it must print (an integer written
with a leading zero):    # warn: LINE:COL: substring
Every printed error and warning must be expected and every expectation
printed, so a new spurious message or a moved position fails the test.
"""
import gzip
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HABOOT = os.environ.get("HABOOT", os.path.join(ROOT, "build", "haboot"))
CORPUS = os.path.join(ROOT, "tests", "manifests")
USERDATA_MAX = 16384

EXPECT_RE = re.compile(r"^# (expect|warn): (?:(\d+):(\d+)|-): (.+)$")


def corpus(kind):
    d = os.path.join(CORPUS, kind)
    return sorted(f for f in os.listdir(d) if not f.endswith(".expect"))


def validate(path, stdin=None):
    return subprocess.run([HABOOT, "validate", path], input=stdin, capture_output=True,
                          timeout=60)


def expectations(path, kind="expect"):
    """(line, col, substring) triples of one kind ("expect": errors, "warn":
    warnings); line and col are None for '-'."""
    if path.endswith(".gz"):
        if not os.path.exists(path + ".expect"):
            return []
        with open(path + ".expect", encoding="utf-8") as f:
            lines = f.read().splitlines()
    else:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    out = []
    for line in lines:
        if not (line.startswith("# expect:") or line.startswith("# warn:")):
            break
        m = EXPECT_RE.match(line)
        assert m, f"{path}: malformed expectation {line!r}"
        if m[1] == kind:
            out.append((int(m[2]) if m[2] else None, int(m[3]) if m[3] else None, m[4]))
    return out


def matches(err, name, exp, kind="error"):
    line, col, sub = exp
    prefix = f"{name}:{line}:{col}: {kind}: " if line is not None else f"{name}: {kind}: "
    return err.startswith(prefix) and sub in err[len(prefix):]


def check_messages(path, stderr, kind):
    """Every printed message of kind is expected, every expectation printed."""
    exps = expectations(path, "expect" if kind == "error" else "warn")
    printed = [e for e in stderr.splitlines() if f" {kind}: " in e]
    missing = [e for e in exps if not any(matches(m, path, e, kind) for m in printed)]
    extra = [m for m in printed if not any(matches(m, path, e, kind) for e in exps)]
    assert not missing and not extra, (
        f"{kind}s expected but not printed: {missing}\n{kind}s printed but not expected: {extra}")


def test_corpus_is_large_enough():
    assert len(corpus("valid")) >= 15
    assert len(corpus("invalid")) >= 30


@pytest.mark.parametrize("name", corpus("valid"))
def test_valid_manifest_validates(name):
    path = os.path.join(CORPUS, "valid", name)
    r = validate(path)
    assert r.returncode == 0, r.stderr.decode()
    assert b"valid haboot manifest" in r.stdout
    check_messages(path, r.stderr.decode("utf-8", "replace"), "warning")
    assert " error: " not in r.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("name", corpus("invalid"))
def test_invalid_manifest_reports_every_expected_error(name):
    path = os.path.join(CORPUS, "invalid", name)
    assert expectations(path), f"{name} has no '# expect:' line"
    r = validate(path)
    assert r.returncode == 2
    assert r.stdout == b""
    check_messages(path, r.stderr.decode("utf-8", "replace"), "error")
    check_messages(path, r.stderr.decode("utf-8", "replace"), "warning")


def test_corpus_has_warnings_to_check():
    assert any(expectations(os.path.join(CORPUS, "valid", n), "warn") for n in corpus("valid"))


def test_invalid_errors_name_stdin_when_read_from_stdin():
    path = os.path.join(CORPUS, "invalid", "ttl-bad.yaml")
    with open(path, "rb") as f:
        r = validate("-", stdin=f.read())
    assert r.returncode == 2
    line, col, sub = expectations(path)[0]
    assert f"<stdin>:{line}:{col}: error: {sub}" in r.stderr.decode()


def padded_manifest(size):
    """A valid manifest of exactly size bytes (a trailing comment pads it)."""
    base = ("#haboot\nversion: 1\nname: nfs\nmodules:\n"
            "  - volume: {id: vol-073769c7, device: /dev/sdf}\n# ")
    assert size > len(base) + 1
    return (base + "x" * (size - len(base) - 1) + "\n").encode()


def test_manifest_of_exactly_the_userdata_limit_is_valid(tmp_path):
    p = tmp_path / "limit.yaml"
    p.write_bytes(padded_manifest(USERDATA_MAX))
    r = validate(str(p))
    assert r.returncode == 0, r.stderr.decode()


def test_oversize_manifest_is_rejected_with_the_fix(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_bytes(padded_manifest(USERDATA_MAX + 1))
    r = validate(str(p))
    assert r.returncode == 2
    err = r.stderr.decode()
    assert f"{p}: error: the manifest is {USERDATA_MAX + 1} bytes" in err
    assert f"at most {USERDATA_MAX} bytes" in err
    assert "gzip it" in err


def test_oversize_manifest_gzipped_under_the_limit_is_valid(tmp_path):
    # The advice in the error above works: the same manifest gzipped fits.
    data = gzip.compress(padded_manifest(4 * USERDATA_MAX), mtime=0)
    assert len(data) <= USERDATA_MAX
    p = tmp_path / "big.yaml.gz"
    p.write_bytes(data)
    r = validate(str(p))
    assert r.returncode == 0, r.stderr.decode()


def test_oversize_gzip_is_rejected(tmp_path):
    # Incompressible bytes: the gzip itself is over the user-data limit.
    p = tmp_path / "big.yaml.gz"
    p.write_bytes(gzip.compress(padded_manifest(USERDATA_MAX // 2) + os.urandom(USERDATA_MAX)))
    r = validate(str(p))
    assert r.returncode == 2
    assert "bytes gzipped; EC2 user-data holds at most 16384 bytes: shorten it" in r.stderr.decode()
