"""The Debian package (`make deb`, scripts/mkdeb.sh): what it holds, lintian,
and a real install, run and purge with dpkg.

The install goes into a scratch root (`dpkg --root DIR` with its own
/var/lib/dpkg): dpkg unpacks, configures, removes and purges exactly as on a
machine, but neither this machine's /usr/sbin nor its dpkg database is
touched, so engineers sharing the machine are unaffected."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = os.environ.get("HABOOT_STATIC", str(ROOT / "build" / "haboot-static"))

pytestmark = pytest.mark.skipif(
    not os.access(STATIC, os.X_OK) or shutil.which("dpkg-deb") is None,
    reason="needs the static binary (make static) and dpkg-deb")


def sh(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


def build(out, units=None):
    argv = [str(ROOT / "scripts" / "mkdeb.sh"), STATIC, str(out)]
    if units is not None:
        argv.append(str(units))
    r = sh(argv)
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    return build(tmp_path_factory.mktemp("deb"))


def contents(deb):
    r = sh(["dpkg-deb", "-c", str(deb)])
    assert r.returncode == 0, r.stderr
    return {line.split()[-1].lstrip("."): line.split()[0] for line in r.stdout.splitlines()}


def test_name_and_version_are_policy_compliant(deb):
    version = sh([str(ROOT / "scripts" / "deb-version.sh")]).stdout.strip()
    assert deb.name == f"haboot_{version}_amd64.deb"
    # A native version: starts with a digit, [0-9A-Za-z.+~] only, no hyphen.
    assert re.fullmatch(r"[0-9][0-9A-Za-z.+~]*", version), version
    field = sh(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
    assert field == version
    assert sh(["dpkg", "--compare-versions", version, "gt", "0.0~"]).returncode == 0


def test_it_holds_the_binary_manuals_examples_policy_and_units(deb, tmp_path):
    files = contents(deb)
    assert files["/usr/sbin/haboot"].startswith("-rwxr-xr-x")
    for f in ("/usr/share/man/man8/haboot.8.gz", "/usr/share/man/man5/haboot.yaml.5.gz",
              "/usr/share/doc/haboot/copyright", "/usr/share/doc/haboot/changelog.gz",
              "/usr/share/doc/haboot/examples/nfs.yaml",
              "/usr/share/doc/haboot/examples/nfs-kernel.yaml",
              "/usr/share/doc/haboot/examples/iam-policy.json",
              "/usr/share/doc/haboot/examples/nfs-stack.yaml"):
        assert f in files, f
        assert files[f].startswith("-rw-r--r--"), (f, files[f])
    # Every unit the project ships is in the package, where systemd looks.
    units = ROOT / "contrib" / "systemd"
    shipped = sorted(p.name for p in units.iterdir()) if units.is_dir() else []
    for name in shipped:
        if name.endswith((".service", ".timer", ".target", ".path", ".socket")):
            assert f"/lib/systemd/system/{name}" in files, name
    # And any unit put there is: the packaging does not know their names.
    fake = tmp_path / "units"
    fake.mkdir()
    (fake / "haboot-example.service").write_text("[Service]\nExecStart=/usr/sbin/haboot run\n")
    (fake / "README").write_text("not a unit\n")
    other = contents(build(tmp_path / "out", fake))
    assert other["/lib/systemd/system/haboot-example.service"].startswith("-rw-r--r--")
    assert not any(f.endswith("/README") for f in other)


def test_the_binary_in_the_package_is_the_static_one(deb, tmp_path):
    sh(["dpkg-deb", "-x", str(deb), str(tmp_path)])
    r = sh(["file", "-b", str(tmp_path / "usr/sbin/haboot")])
    assert "statically linked" in r.stdout and "not stripped" not in r.stdout, r.stdout


@pytest.mark.skipif(shutil.which("lintian") is None, reason="needs lintian (scripts/install-deps.sh)")
def test_lintian_finds_no_error_and_no_warning(deb):
    # The static binary's two errors (statically-linked-binary, embedded-library)
    # are overridden in the package with the reason; anything else fails.
    r = sh(["lintian", "--fail-on", "error,warning", str(deb)])
    out = "\n".join(line for line in r.stdout.splitlines() + r.stderr.splitlines()
                    if "root privileges" not in line)
    assert r.returncode == 0, out
    assert not re.search(r"^[EW]: ", out, re.M), out
    # What the overrides may hide: the static binary's two tags, no more.
    text = (ROOT / "contrib" / "debian" / "lintian-overrides").read_text()
    overridden = set(re.findall(r"^haboot: (\S+)", text, re.M))
    assert overridden == {"statically-linked-binary", "embedded-library"}, overridden


@pytest.mark.skipif(os.geteuid() != 0, reason="dpkg --root needs root")
def test_install_run_remove_and_purge_with_dpkg(deb, tmp_path):
    root = tmp_path / "root"
    admin = root / "var/lib/dpkg"
    for d in ("info", "updates", "triggers"):
        (admin / d).mkdir(parents=True)
    (admin / "status").write_text("")
    (admin / "available").write_text("")
    host_status = Path("/var/lib/dpkg/status").read_bytes()

    def dpkg(*args):
        return sh(["dpkg", f"--root={root}", *args])

    r = dpkg("-i", str(deb))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "install ok installed" in dpkg("-s", "haboot").stdout
    r = sh([str(root / "usr/sbin/haboot"), "version"])
    assert r.returncode == 0 and re.fullmatch(r"haboot \S+\n", r.stdout), r
    assert r.stdout == sh([STATIC, "version"]).stdout   # the build's binary, stripped
    assert (root / "usr/share/man/man8/haboot.8.gz").exists()
    listed = dpkg("-L", "haboot").stdout.split()
    assert "/usr/sbin/haboot" in listed

    r = dpkg("-r", "haboot")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (root / "usr/sbin/haboot").exists()
    r = dpkg("--purge", "haboot")
    assert r.returncode == 0, r.stdout + r.stderr
    assert dpkg("-s", "haboot").returncode != 0          # not even config-files
    left = [str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not str(p.relative_to(root)).startswith("var/lib/dpkg")]
    assert left == [], left
    assert Path("/var/lib/dpkg/status").read_bytes() == host_status  # this machine untouched
