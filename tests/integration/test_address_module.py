"""The address module against the sim, on a real (namespaced) network.

Each test builds a small world: a bridge, the sim bound to the bridge's
address, and instances as network namespaces with eth0 on the bridge (the
seeded MAC and private address).  haboot runs inside an instance's namespace
and reads its metadata from the sim's IMDS, as on EC2; the `ip` commands it
runs change that namespace only.  The sim's network hook (nethook.py) makes
floating ENIs appear in the namespace EC2 attaches them to.

What a user depends on, per mode: the address ends up given to this instance
in EC2 (read back from the sim's state), configured on the interface, the
move proved before success, a second run changes nothing, `watch` notices
when the address is gone (locally or in EC2) and a repair brings it back but
never takes it from another running instance, and the address never moves
before the export answered (DESIGN.md invariant 8).  On `haboot release` (a
planned stop) this machine stops answering on the address at once (the ENI
is detached normally), EC2 is otherwise left for the next owner, whose run
then takes the address over; a release again, or after another instance took
the address, changes nothing.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import drill
from simfixture import PYTHON, STATIC_KEY, STATIC_SECRET, TESTS
from sim.client import SimClient

HABOOT = os.path.abspath(os.environ.get("HABOOT", str(Path(__file__).resolve().parents[2] /
                                                      "build" / "haboot")))
NETHOOK = str(Path(__file__).resolve().parent / "nethook.py")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(bool([t for t in ("ip", "unshare", "nsenter") if not drill.shutil.which(t)]),
                       reason="needs iproute2 and util-linux"),
]

A, B = "i-0a1a1a1a1a1a1a1a1", "i-0b2b2b2b2b2b2b2b2"
MAC_A, MAC_B = "0e:00:00:00:aa:01", "0e:00:00:00:bb:02"
VPC, SUBNET = "vpc-0a0a0a0a0a0a0a0a0", "subnet-0a0a0a0a0a0a0a0a0"
RTB1, RTB2 = "rtb-0111111111111111a", "rtb-0222222222222222b"
ENI_F = "eni-0f10a71e6f10a71e6"
EIP = "eipalloc-0e1e1e1e1e1e1e1e1"
AZ = "us-west-2a"
FAST = {"attach": 0.2, "detach": 0.2, "force_detach": 0.1, "terminate": 0.2,
        "terminate_detach": 0.2}


class NetLab:
    """A bridge, the sim on it, and instances A and B as network namespaces."""

    count = 0

    def __init__(self, tmp):
        self.tmp = str(tmp)
        NetLab.count += 1
        self.n = 100 + NetLab.count  # Machine names links with it; drill's labs count from 1
        self.cleanups, self.procs = [], []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self):
        drill.stale_cleanup()
        self.net = drill.free_subnet()
        self.bridge = f"{drill.PREFIX}{os.getpid()}br{self.n}"
        drill.sh(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.cleanups.append(lambda: drill.sh(["ip", "link", "del", self.bridge], check=False))
        drill.sh(["ip", "addr", "add", f"{self.net}.1/24", "dev", self.bridge])
        drill.sh(["ip", "link", "set", self.bridge, "up"])
        self.reg = os.path.join(self.tmp, "reg")
        os.makedirs(os.path.join(self.reg, "instances"))
        self._start_sim()
        self.a = drill.Machine(self, "a", f"{self.net}.11")
        self.b = drill.Machine(self, "b", f"{self.net}.12")
        for m, mac, iid in ((self.a, MAC_A, A), (self.b, MAC_B, B)):
            drill.sh(m.exec_argv(["ip", "link", "set", "eth0", "address", mac]))
            with open(os.path.join(self.reg, "instances", f"{iid}.json"), "w") as f:
                json.dump({"pid": m.pid}, f)
        self.sim.seed(self.seed())

    def _start_sim(self):
        ready = Path(self.tmp) / "sim.port"
        with open(Path(self.tmp) / "sim.err", "w") as err:
            p = subprocess.Popen([PYTHON, "-m", "sim", "serve", "--bind", f"{self.net}.1",
                                  "--port", "0", "--ready-file", str(ready),
                                  "--log", str(Path(self.tmp) / "sim.log")],
                                 env=dict(os.environ, PYTHONPATH=str(TESTS)),
                                 stdout=subprocess.DEVNULL, stderr=err,
                                 preexec_fn=drill._die_with_parent)
        self.procs.append(p)
        end = time.time() + 20
        while not ready.exists():
            if p.poll() is not None or time.time() > end:
                raise RuntimeError((Path(self.tmp) / "sim.err").read_text())
            time.sleep(0.02)
        self.url = f"http://{self.net}.1:{int(ready.read_text())}"
        self.sim = SimClient(self.url)

    def seed(self):
        inst = {"az": AZ, "state": "running", "subnet_id": SUBNET, "vpc_id": VPC}
        return {
            "imds_instance": A, "delays": FAST, "network_hook": [PYTHON, NETHOOK, self.reg],
            "instances": {A: dict(inst, private_ip=f"{self.net}.11", mac=MAC_A),
                          B: dict(inst, private_ip=f"{self.net}.12", mac=MAC_B)},
            "vpcs": {VPC: {"cidrs": [f"{self.net}.0/24"]}},
            "subnets": {SUBNET: {"vpc": VPC, "cidr": f"{self.net}.0/24", "az": AZ}},
        }

    def boto(self):
        import botocore.session
        return botocore.session.get_session().create_client(
            "ec2", region_name="us-west-2", endpoint_url=self.url, aws_access_key_id=STATIC_KEY,
            aws_secret_access_key=STATIC_SECRET)

    def env(self, machine=None):
        # A reads the sim's /latest/ (the seed's imds_instance); B its own /_sim/imds/B.
        imds = f"{self.url}/_sim/imds/{B}" if machine is not None and machine is self.b \
            else self.url
        return {"PATH": drill.HOST_PATH, "HOME": "/root", "LANG": "C.UTF-8",
                "AWS_ACCESS_KEY_ID": STATIC_KEY, "AWS_SECRET_ACCESS_KEY": STATIC_SECRET,
                "AWS_REGION": "us-west-2", "AWS_ENDPOINT_URL": self.url,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds,
                "AWS_EC2_METADATA_DISABLED": "false", "HABOOT_CONSOLE": os.devnull,
                "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", ""),
                "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "")}

    def haboot(self, machine, manifest, *args, cmd="run", timeout=60):
        """haboot CMD -f MANIFEST in machine's network namespace."""
        d = Path(self.tmp) / machine.tag
        (d / "haboot.yaml").write_text(manifest)
        r = subprocess.run(machine.exec_argv([HABOOT, cmd, "-f", str(d / "haboot.yaml"),
                                              "--status-file", str(d / "status.json"), *args]),
                           env=self.env(machine), capture_output=True, text=True,
                           timeout=timeout)
        r.status = json.loads((d / "status.json").read_text()) if (
            d / "status.json").exists() else None
        return r

    def ip(self, machine, *args):
        return drill.sh(machine.exec_argv(["ip", *args])).stdout

    def mutations(self, since=0):
        return [r for r in self.sim.requests(service="ec2", since=since)
                if not r["action"].startswith("Describe")]

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        errors = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                errors.append(repr(e))
        if errors:
            raise RuntimeError("; ".join(errors))


@pytest.fixture
def lab(tmp_path):
    lab = NetLab(tmp_path)
    yield lab
    lab.close()


def manifest(body, watch="", before=""):
    return ("version: 1\nname: nfs\n" + watch + "modules:\n" + before +
            "  - address:\n" + "".join(f"      {line}\n" for line in body.splitlines()))


def enis(lab):
    return lab.sim.state()["network"]["network_interfaces"]


def primary(lab, iid):
    return next(e for e in enis(lab).values() if e["primary_of"] == iid)


def facts(r):
    return (r.status or {}).get("facts", {})


# ---- secondary-ip ----------------------------------------------------------------

def test_secondary_ip_moves_from_the_old_interface_and_is_configured(lab):
    vip = f"{lab.net}.100"
    lab.boto().assign_private_ip_addresses(NetworkInterfaceId=primary(lab, B)["id"],
                                           PrivateIpAddresses=[vip])
    seq = lab.sim.requests()[-1]["seq"] if lab.sim.requests() else 0
    r = lab.haboot(lab.a, manifest(f"mode: secondary-ip\nip: {vip}\nsubnet: {lab.net}.0/24"))
    assert r.returncode == 0, r.stderr
    assert vip in primary(lab, A)["secondary"] and vip not in primary(lab, B)["secondary"]
    assert f"inet {vip}/24" in lab.ip(lab.a, "-4", "addr", "show", "dev", "eth0")
    f = facts(r)
    assert f["address.ip"] == vip and f["address.mode"] == "secondary-ip"
    assert f["address.interface"] == "eth0" and f["address.eni"] == primary(lab, A)["id"]
    assert B in f["address.previous"], f
    rows = lab.sim.requests(since=seq)
    muts = [x for x in rows if x["action"] == "AssignPrivateIpAddresses"]
    assert len(muts) == 1 and muts[0]["params"]["AllowReassignment"] == "true", muts
    # The move was proved: EC2 was read again after the assignment.
    assert any(x["action"] == "DescribeNetworkInterfaces" and x["seq"] > muts[0]["seq"]
               for x in rows)
    # A second run finds it in place and changes nothing.
    seq = lab.sim.requests()[-1]["seq"]
    r = lab.haboot(lab.a, manifest(f"mode: secondary-ip\nip: {vip}"))
    assert r.returncode == 0, r.stderr
    assert lab.mutations(since=seq) == []
    assert "(already)" in r.status["modules"][0]["message"]


def test_a_throttled_ec2_is_asked_again_not_given_up_on(lab):
    """A mass failover may throttle: the move waits for EC2 within its timeout."""
    vip = f"{lab.net}.106"
    # The client's three attempts per call, then one more look: four refusals.
    lab.sim.fault("ec2", "throttle", action="DescribeNetworkInterfaces", count=4)
    r = lab.haboot(lab.a, manifest(f"mode: secondary-ip\nip: {vip}"))
    assert r.returncode == 0, r.stderr
    assert "RequestLimitExceeded" in r.stderr and "looking again later" in r.stderr
    assert vip in primary(lab, A)["secondary"]


def test_watch_sees_the_address_gone_locally_and_in_ec2(lab):
    vip = f"{lab.net}.101"
    man = manifest(f"mode: secondary-ip\nip: {vip}")
    assert lab.haboot(lab.a, man).returncode == 0
    ok = lab.haboot(lab.a, man, "--once", cmd="watch")
    assert ok.returncode == 0, ok.stderr
    lab.ip(lab.a, "addr", "del", f"{vip}/24", "dev", "eth0")
    gone = lab.haboot(lab.a, man, "--once", cmd="watch")
    assert gone.returncode == 1, gone.stderr
    assert f"{vip} is no longer on eth0" in gone.stderr
    lab.ip(lab.a, "addr", "add", f"{vip}/24", "dev", "eth0")
    lab.boto().assign_private_ip_addresses(NetworkInterfaceId=primary(lab, B)["id"],
                                           PrivateIpAddresses=[vip], AllowReassignment=True)
    moved = lab.haboot(lab.a, man, "--once", cmd="watch")
    assert moved.returncode == 1, moved.stderr
    assert "EC2 no longer gives" in moved.stderr and primary(lab, B)["id"] in moved.stderr


def test_watch_that_cannot_ask_ec2_says_unknown(lab):
    vip = f"{lab.net}.102"
    man = manifest(f"mode: secondary-ip\nip: {vip}")
    assert lab.haboot(lab.a, man).returncode == 0
    lab.sim.fault("ec2", "5xx", action="DescribeNetworkInterfaces", seconds=60, status=503)
    r = lab.haboot(lab.a, man, "--once", cmd="watch")
    assert r.returncode == 3, r.stderr  # a check that cannot run is no verdict (invariant 9)
    assert "EC2 does not answer" in r.stderr


def run_watch(lab, machine, man, until, timeout=40):
    """`haboot watch` until until(its output so far) holds; returns its output."""
    d = Path(lab.tmp) / machine.tag
    (d / "haboot.yaml").write_text(man)
    logf = d / "watch.log"
    with open(logf, "w") as log:
        p = subprocess.Popen(machine.exec_argv([HABOOT, "watch", "-f", str(d / "haboot.yaml"),
                                                "--status-file", str(d / "status.json")]),
                             env=lab.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not until(logf.read_text()):
            time.sleep(0.2)
    finally:
        p.terminate()
        p.wait(20)
    return logf.read_text()


WATCH = "watch: {interval: 1s, failures: 1, backoff: 0s, api_interval: 1s}\n"


def test_repair_takes_the_address_back_from_a_dead_holder_only(lab):
    vip = f"{lab.net}.103"
    man = manifest(f"mode: secondary-ip\nip: {vip}", watch=WATCH)
    assert lab.haboot(lab.a, man).returncode == 0
    ec2 = lab.boto()
    # B, running, took it: A's repair must not take it back (a split service).
    ec2.assign_private_ip_addresses(NetworkInterfaceId=primary(lab, B)["id"],
                                    PrivateIpAddresses=[vip], AllowReassignment=True)
    seq = lab.sim.requests()[-1]["seq"]
    out = run_watch(lab, lab.a, man, lambda log: "not taking it back" in log)
    assert "not taking it back" in out, out
    assert not [m for m in lab.mutations(since=seq) if m["action"] == "AssignPrivateIpAddresses"]
    assert vip in primary(lab, B)["secondary"]
    # B is stopped now: the repair moves the address back.
    lab.sim.set_instance_state(B, "stopped")
    out = run_watch(lab, lab.a, man, lambda log: "repair done" in log)
    assert vip in primary(lab, A)["secondary"], out
    assert "repair done" in out, out


def test_watch_asks_ec2_at_most_every_api_interval(lab):
    """The interface every round, EC2 once per api_interval (here: once in the run)."""
    vip = f"{lab.net}.105"
    man = manifest(f"mode: secondary-ip\nip: {vip}",
                   watch="watch: {interval: 1s, api_interval: 1h}\n")
    assert lab.haboot(lab.a, man).returncode == 0
    seq = lab.sim.requests()[-1]["seq"]
    out = run_watch(lab, lab.a, man, lambda log: log.count("is healthy") > 99, timeout=5)
    state = json.loads((Path(lab.tmp) / "a" / "watch.json").read_text())
    assert state["rounds"] >= 3, (state, out)
    asked = [x for x in lab.sim.requests(since=seq) if x["service"] == "ec2"]
    assert len(asked) == 1 and asked[0]["action"] == "DescribeNetworkInterfaces", asked
    mod = next(m for m in state["modules"] if m["name"] == "address")
    assert mod["health"] == "ok" and "EC2 gave it here" in mod["message"], mod


def test_address_waits_for_the_export(lab):
    """Invariant 8: an export that failed (even one marked required: false) keeps
    the address where it is."""
    vip = f"{lab.net}.104"
    before = ("  - exports:\n      required: false\n      server: ganesha\n"
              f"      config: {lab.tmp}/haboot.conf\n      restart: [/bin/false]\n"
              "      check: {host: 127.0.0.1, port: 2, timeout: 1s}\n"
              f"      exports: [{{path: {lab.tmp}, clients: '*'}}]\n")
    r = lab.haboot(lab.a, manifest(f"mode: secondary-ip\nip: {vip}", before=before))
    assert r.returncode == 1, r.stderr
    mods = {m["name"]: m for m in r.status["modules"]}
    assert mods["exports"]["state"] == "warned"
    assert mods["address"]["state"] == "failed"
    assert "invariant 8" in mods["address"]["message"]
    assert lab.mutations() == []
    assert vip not in lab.ip(lab.a, "-4", "addr")


# ---- overlay-ip --------------------------------------------------------------------

def test_overlay_ip_routes_every_table_here_and_turns_the_check_off(lab):
    ovl = "172.31.250.10"
    b_eni = primary(lab, B)["id"]
    lab.sim.seed({"route_tables": {
        RTB1: {"vpc": VPC, "routes": [{"destination": f"{ovl}/32", "network_interface": b_eni}]},
        RTB2: {"vpc": VPC}}})
    r = lab.haboot(lab.a, manifest(f"mode: overlay-ip\nip: {ovl}\nroute_tables: [{RTB1}, {RTB2}]"))
    assert r.returncode == 0, r.stderr
    rts = lab.sim.state()["network"]["route_tables"]
    a_eni = primary(lab, A)["id"]
    for rtb in (RTB1, RTB2):
        route = next(x for x in rts[rtb]["Routes"] if x["DestinationCidrBlock"] == f"{ovl}/32")
        assert route["NetworkInterfaceId"] == a_eni and route["State"] == "active", route
    assert primary(lab, A)["source_dest_check"] is False
    assert f"inet {ovl}/32" in lab.ip(lab.a, "-4", "addr", "show", "dev", "eth0")
    acts = [m["action"] for m in lab.mutations()]
    assert acts.count("ReplaceRoute") == 1 and acts.count("CreateRoute") == 1, acts
    assert "ModifyNetworkInterfaceAttribute" in acts
    # The packets follow EC2: the sim's delivery for the table is A.
    assert lab.sim.state()["network"]["delivery"]["routes"][RTB1][f"{ovl}/32"] == f"{lab.net}.11"
    r = lab.haboot(lab.a, manifest(f"mode: overlay-ip\nip: {ovl}\nroute_tables: [{RTB1}, {RTB2}]"))
    assert r.returncode == 0 and len(lab.mutations()) == len(acts), "second run changed EC2"


def test_overlay_ip_inside_the_vpc_is_refused(lab):
    lab.sim.seed({"route_tables": {RTB1: {"vpc": VPC}}})
    r = lab.haboot(lab.a, manifest(f"mode: overlay-ip\nip: {lab.net}.200\nroute_tables: [{RTB1}]"))
    assert r.returncode == 1
    m = r.status["modules"][0]["message"]
    assert "inside the VPC's CIDR block" in m and r.status["modules"][0].get("failure_scope") == "anywhere", r.status
    assert lab.mutations() == []


def test_overlay_ip_with_an_unknown_route_table_fails_naming_it(lab):
    r = lab.haboot(lab.a, manifest(f"mode: overlay-ip\nip: 172.31.250.11\n"
                                   f"route_tables: [{RTB2}]"))
    assert r.returncode == 1
    m = r.status["modules"][0]["message"]
    assert "InvalidRouteTableID.NotFound" in m and RTB2 in m, m
    assert not [x for x in lab.mutations() if "Route" in x["action"]]


# ---- eni -----------------------------------------------------------------------------

def test_eni_is_taken_from_its_holder_attached_and_configured(lab):
    mac_f = "0e:00:00:00:ff:01"
    lab.sim.seed({"network_interfaces": {ENI_F: {
        "subnet": SUBNET, "private_ip": f"{lab.net}.50", "mac": mac_f, "tags": {"Name": "nfs-vip"},
        "attachment": {"instance": B, "device_index": 1}}}})
    r = lab.haboot(lab.a, manifest("mode: eni\ntags: {Name: nfs-vip}\ndevice_index: 1"))
    assert r.returncode == 0, r.stderr
    att = enis(lab)[ENI_F]["attachment"]
    assert att["instance"] == A and att["state"] == "attached", att
    acts = [m["action"] for m in lab.mutations()]
    assert acts == ["DetachNetworkInterface", "AttachNetworkInterface"], acts
    detach = next(m for m in lab.mutations() if m["action"] == "DetachNetworkInterface")
    assert detach["params"]["Force"] == "true"
    assert f"inet {lab.net}.50/24" in lab.ip(lab.a, "-4", "addr", "show", "dev", "eth1")
    assert "state UP" in lab.ip(lab.a, "link", "show", "eth1") or \
        "UP" in lab.ip(lab.a, "link", "show", "eth1")
    assert f"from {lab.net}.50 lookup 10001" in lab.ip(lab.a, "-4", "rule", "show")
    table = lab.ip(lab.a, "-4", "route", "show", "table", "10001")
    assert f"default via {lab.net}.1 dev eth1" in table, table
    f = facts(r)
    assert f["address.ip"] == f"{lab.net}.50" and f["address.interface"] == "eth1"
    assert f["address.eni"] == ENI_F
    # Again: nothing to change, no second rule.
    r = lab.haboot(lab.a, manifest("mode: eni\ntags: {Name: nfs-vip}"))
    assert r.returncode == 0, r.stderr
    assert [m["action"] for m in lab.mutations()] == acts
    assert lab.ip(lab.a, "-4", "rule", "show").count(f"from {lab.net}.50 ") == 1


def test_eni_by_unknown_id_fails_naming_it(lab):
    r = lab.haboot(lab.a, manifest(f"mode: eni\neni: {ENI_F}"))
    assert r.returncode == 1
    assert "InvalidNetworkInterfaceID.NotFound" in r.status["modules"][0]["message"]
    assert r.status["modules"][0].get("failure_scope") == "anywhere"


# ---- elastic-ip ------------------------------------------------------------------------

def test_elastic_ip_is_associated_with_this_instance(lab):
    lab.sim.seed({"elastic_ips": {EIP: {"public_ip": "203.0.113.25",
                                        "network_interface": primary(lab, B)["id"],
                                        "private_ip": f"{lab.net}.12"}}})
    r = lab.haboot(lab.a, manifest(f"mode: elastic-ip\nallocation: {EIP}"))
    assert r.returncode == 0, r.stderr
    eip = lab.sim.state()["network"]["elastic_ips"][EIP]
    assert eip["NetworkInterfaceId"] == primary(lab, A)["id"]
    assert eip["PrivateIpAddress"] == f"{lab.net}.11" and eip["InstanceId"] == A
    assoc = [m for m in lab.mutations() if m["action"] == "AssociateAddress"]
    assert len(assoc) == 1 and assoc[0]["params"]["AllowReassociation"] == "true"
    assert facts(r)["address.ip"] == "203.0.113.25"
    assert facts(r)["address.local"] == f"{lab.net}.11"


def test_elastic_ip_unknown_allocation_fails_naming_it(lab):
    r = lab.haboot(lab.a, manifest(f"mode: elastic-ip\nallocation: {EIP}"))
    assert r.returncode == 1
    assert "InvalidAllocationID.NotFound" in r.status["modules"][0]["message"]


# ---- release ---------------------------------------------------------------------------

RELEASE_MODES = ["secondary-ip", "overlay-ip", "eni", "elastic-ip"]
OVL_REL = "172.31.250.30"


def release_setup(lab, mode):
    """Seeds what MODE needs, held by no one yet; returns the manifest and the
    address a namespace configures (None for an Elastic IP: it is public)."""
    if mode == "secondary-ip":
        return manifest(f"mode: secondary-ip\nip: {lab.net}.120"), f"{lab.net}.120"
    if mode == "overlay-ip":
        lab.sim.seed({"route_tables": {RTB1: {"vpc": VPC}}})
        return manifest(f"mode: overlay-ip\nip: {OVL_REL}\nroute_tables: [{RTB1}]"), OVL_REL
    if mode == "eni":
        lab.sim.seed({"network_interfaces": {ENI_F: {
            "subnet": SUBNET, "private_ip": f"{lab.net}.52", "mac": "0e:00:00:00:ff:02"}}})
        return manifest(f"mode: eni\neni: {ENI_F}\ndevice_index: 1"), f"{lab.net}.52"
    lab.sim.seed({"elastic_ips": {EIP: {"public_ip": "203.0.113.27"}}})
    return manifest(f"mode: elastic-ip\nallocation: {EIP}"), None


def holder(lab, mode, ip):
    """The instance EC2 (the sim's state) gives the address to, or None."""
    net = lab.sim.state()["network"]
    nis = net["network_interfaces"]
    if mode == "secondary-ip":
        return next((e["primary_of"] for e in nis.values() if ip in e["secondary"]), None)
    if mode == "overlay-ip":
        route = next((x for x in net["route_tables"][RTB1]["Routes"]
                      if x["DestinationCidrBlock"] == f"{ip}/32"), {})
        return nis.get(route.get("NetworkInterfaceId"), {}).get("primary_of")
    if mode == "eni":
        att = nis[ENI_F]["attachment"]
        return att["instance"] if att and att["state"] == "attached" else None
    return net["elastic_ips"][EIP].get("InstanceId")


def configured(lab, machine, ip):
    """Is IP on any interface of machine's namespace?"""
    return f" inet {ip}/" in lab.ip(machine, "-4", "-o", "addr", "show")


def last_seq(lab):
    return lab.sim.requests()[-1]["seq"]


def address_step(r):
    rel = r.status["release"]
    return rel, next(s for s in rel["steps"] if s["name"] == "address")


def world(lab, machine):
    """What a release could change: EC2's network state and the namespace's addresses."""
    return lab.sim.state()["network"], lab.ip(machine, "-4", "-o", "addr", "show")


@pytest.mark.parametrize("mode", RELEASE_MODES)
def test_release_gives_the_address_up_and_the_next_instance_takes_it(lab, mode):
    """A planned stop: this machine stops answering on the address at once, EC2
    keeps it (secondary, overlay, Elastic IP) or lets the ENI go (eni), and the
    next instance's run takes it over cleanly."""
    man, ip = release_setup(lab, mode)
    r = lab.haboot(lab.a, man)
    assert r.returncode == 0, r.stderr
    assert holder(lab, mode, ip) == A
    if ip:
        assert configured(lab, lab.a, ip)
    eip_before = lab.sim.state()["network"]["elastic_ips"].get(EIP)
    seq = last_seq(lab)
    r = lab.haboot(lab.a, man, "--reason", "test", cmd="release")
    assert r.returncode == 0, r.stderr
    rel, st = address_step(r)
    assert rel["state"] == "released" and st["state"] == "ok", rel
    muts = lab.mutations(since=seq)
    if mode == "eni":
        # Detached normally (never forced), and the interface left the guest.
        assert [m["action"] for m in muts] == ["DetachNetworkInterface"], muts
        assert muts[0]["params"].get("Force") in (None, "false"), muts
        assert holder(lab, mode, ip) is None
        assert enis(lab)[ENI_F]["attachment"] is None
        assert "eth1" not in lab.ip(lab.a, "-o", "link", "show")
    else:
        # Nothing asked of EC2: it keeps routing here until the next owner takes it.
        assert muts == [], muts
        assert holder(lab, mode, ip) == A
    if mode == "elastic-ip":
        assert lab.sim.state()["network"]["elastic_ips"][EIP] == eip_before
        assert "left associated" in st["message"], st
    if ip:
        assert not configured(lab, lab.a, ip), lab.ip(lab.a, "-4", "addr")
    # The next owner.
    seq = last_seq(lab)
    r = lab.haboot(lab.b, man)
    assert r.returncode == 0, r.stderr
    assert holder(lab, mode, ip) == B
    if ip:
        assert configured(lab, lab.b, ip) and not configured(lab, lab.a, ip)
    if mode == "eni":
        # Released cleanly: B only attaches, no detach (forced or not) of A's.
        assert [m["action"] for m in lab.mutations(since=seq)] == ["AttachNetworkInterface"]
    if mode == "elastic-ip":
        eip = lab.sim.state()["network"]["elastic_ips"][EIP]
        assert eip["NetworkInterfaceId"] == primary(lab, B)["id"], eip
        assert eip["PrivateIpAddress"] == f"{lab.net}.12", eip


@pytest.mark.parametrize("mode", RELEASE_MODES)
def test_release_again_changes_nothing(lab, mode):
    """Run twice, a release exits 0 and changes nothing the second time; so does
    the address's own release run again (a release taken up again after a later
    step stopped it runs every step once more)."""
    man, ip = release_setup(lab, mode)
    assert lab.haboot(lab.a, man).returncode == 0
    status = Path(lab.tmp) / "a" / "status.json"
    as_run = status.read_text()
    r = lab.haboot(lab.a, man, cmd="release")
    assert r.returncode == 0, r.stderr
    before, seq = world(lab, lab.a), last_seq(lab)
    r = lab.haboot(lab.a, man, cmd="release")
    assert r.returncode == 0, r.stderr
    assert "already released" in r.stderr, r.stderr
    assert lab.mutations(since=seq) == [] and world(lab, lab.a) == before
    # The address step itself again, on an address already given up: the status
    # file as run left it, so the release engine runs every step anew.
    status.write_text(as_run)
    r = lab.haboot(lab.a, man, cmd="release")
    assert r.returncode == 0, r.stderr
    rel, st = address_step(r)
    assert rel["state"] == "released" and st["state"] == "ok", rel
    assert lab.mutations(since=seq) == [] and world(lab, lab.a) == before
    if mode == "eni":
        assert "not attached here" in st["message"], st
    elif mode in ("secondary-ip", "overlay-ip"):
        assert "nothing to give up here" in st["message"], st


@pytest.mark.parametrize("mode", RELEASE_MODES)
def test_release_after_another_instance_took_it_does_not_take_it_back(lab, mode):
    """B took the service (and the address) over while A still ran; A's release
    then leaves EC2 alone (no taking back, no detaching B's ENI), stops A answering
    on the address, and finishes without an error."""
    man, ip = release_setup(lab, mode)
    assert lab.haboot(lab.a, man).returncode == 0
    r = lab.haboot(lab.b, man)
    assert r.returncode == 0, r.stderr
    assert holder(lab, mode, ip) == B
    if ip and mode != "eni":
        assert configured(lab, lab.a, ip)  # EC2 moved it; A's interface still has it
    b_eni = enis(lab)[ENI_F]["attachment"] if mode == "eni" else None
    seq = last_seq(lab)
    r = lab.haboot(lab.a, man, cmd="release")
    assert r.returncode == 0, r.stderr
    rel, st = address_step(r)
    assert rel["state"] == "released" and st["state"] == "ok", rel
    assert lab.mutations(since=seq) == []
    assert holder(lab, mode, ip) == B
    if ip:
        assert configured(lab, lab.b, ip) and not configured(lab, lab.a, ip)
    if mode == "eni":
        assert enis(lab)[ENI_F]["attachment"] == b_eni
        assert "not attached here" in st["message"], st
    elif mode in ("secondary-ip", "overlay-ip"):
        # Said without claiming where EC2 routes it: release does not ask.
        assert f"{ip} removed from" in st["message"], st
        assert "goes to the next instance that claims it" in st["message"], st


def test_release_removes_the_address_without_asking_imds_or_ec2(lab):
    """Giving the address up locally needs neither the metadata service nor EC2:
    a release while they do not answer still stops this machine answering on
    it (and goes on to the steps that hand the volume over)."""
    vip = f"{lab.net}.121"
    man = manifest(f"mode: secondary-ip\nip: {vip}")  # the prefix comes from the subnet
    assert lab.haboot(lab.a, man).returncode == 0
    assert f"inet {vip}/24" in lab.ip(lab.a, "-4", "addr", "show", "dev", "eth0")
    lab.sim.fault("imds", "5xx", action="*/network/interfaces/*", seconds=600, status=503)
    lab.sim.fault("imds", "5xx", action="*/meta-data/mac", seconds=600, status=503)
    lab.sim.fault("ec2", "5xx", action="DescribeNetworkInterfaces", seconds=600, status=503)
    r = lab.haboot(lab.a, man, cmd="release", timeout=180)
    assert r.returncode == 0, r.stderr
    rel, st = address_step(r)
    assert rel["state"] == "released" and st["state"] == "ok", rel
    assert not configured(lab, lab.a, vip), lab.ip(lab.a, "-4", "addr")


# ---- permissions -----------------------------------------------------------------------------

ROLE, GROUP = "nfs-role", "nfs-asg"
MODES = {
    "secondary-ip": ("mode: secondary-ip\nip: {net}.110", {"ec2:AssignPrivateIpAddresses"}),
    "overlay-ip": (f"mode: overlay-ip\nip: 172.31.250.20\nroute_tables: [{RTB1}]",
                   {"ec2:DescribeRouteTables", "ec2:CreateRoute", "ec2:ReplaceRoute",
                    "ec2:ModifyNetworkInterfaceAttribute"}),
    "eni": ("mode: eni\ntags: {{Name: nfs-vip}}",
            {"ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface"}),
    "elastic-ip": (f"mode: elastic-ip\nallocation: {EIP}",
                   {"ec2:DescribeAddresses", "ec2:AssociateAddress"}),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_runs_under_exactly_its_generated_policy(lab, mode):
    """haboot iam-policy grants a mode's calls and no other mode's, and the sim,
    enforcing that policy for the instance role, lets the whole move through
    (the address held by another instance of the group first)."""
    body, calls = MODES[mode]
    man = manifest(body.format(net=lab.net))
    f = Path(lab.tmp) / "policy.yaml"
    f.write_text(man)
    r = subprocess.run([HABOOT, "iam-policy", "-f", str(f), "--group", GROUP],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    policy = json.loads(r.stdout)
    ec2 = {a for st in policy["Statement"] for a in st["Action"] if a.startswith("ec2:")}
    assert ec2 == calls | {"ec2:DescribeNetworkInterfaces", "ec2:DescribeInstances"}, ec2
    b_eni = primary(lab, B)["id"]
    lab.sim.seed({"instances": {A: {"iam_role": ROLE, "asg": GROUP}, B: {"asg": GROUP}},
                  "roles": {ROLE: {"policy": policy}},
                  "route_tables": {RTB1: {"vpc": VPC, "routes": [
                      {"destination": "172.31.250.20/32", "network_interface": b_eni}]}},
                  "network_interfaces": {ENI_F: {
                      "subnet": SUBNET, "private_ip": f"{lab.net}.51", "tags": {"Name": "nfs-vip"},
                      "attachment": {"instance": B, "device_index": 1}}},
                  "elastic_ips": {EIP: {"public_ip": "203.0.113.26", "network_interface": b_eni,
                                        "private_ip": f"{lab.net}.12"}}})
    if mode == "secondary-ip":
        lab.boto().assign_private_ip_addresses(NetworkInterfaceId=b_eni,
                                               PrivateIpAddresses=[f"{lab.net}.110"])
    env = {k: v for k, v in lab.env().items() if k not in ("AWS_ACCESS_KEY_ID",
                                                             "AWS_SECRET_ACCESS_KEY")}
    d = Path(lab.tmp) / "a"
    (d / "haboot.yaml").write_text(man)
    r = subprocess.run(lab.a.exec_argv([HABOOT, "run", "-f", str(d / "haboot.yaml"),
                                        "--status-file", str(d / "status.json")]),
                       env=env, capture_output=True, text=True, timeout=90)
    refused = [x for x in lab.sim.requests(service="ec2") if x.get("status") == 403]
    assert r.returncode == 0 and not refused, (r.stderr, refused)
    assert any(x.get("role") == ROLE for x in lab.mutations()), "not run with the role's keys"


# ---- plan ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body,calls", [
    ("mode: secondary-ip\nip: 10.0.0.50", ["AssignPrivateIpAddresses 10.0.0.50"]),
    (f"mode: overlay-ip\nip: 172.31.250.1\nroute_tables: [{RTB1}, {RTB2}]",
     ["ModifyNetworkInterfaceAttribute SourceDestCheck=false",
      f"ReplaceRoute 172.31.250.1/32 in {RTB1}", f"ReplaceRoute 172.31.250.1/32 in {RTB2}"]),
    (f"mode: eni\neni: {ENI_F}", ["DetachNetworkInterface", f"AttachNetworkInterface {ENI_F}"]),
    (f"mode: elastic-ip\nallocation: {EIP}", [f"AssociateAddress {EIP}"]),
])
def test_plan_shows_each_modes_calls(tmp_path, body, calls):
    f = tmp_path / "m.yaml"
    f.write_text(manifest(body))
    r = subprocess.run([HABOOT, "plan", "-f", str(f), "--json"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    steps = json.loads(r.stdout)["steps"]
    aws = [s["action"] for s in steps if s["kind"] == "aws"]
    for want in calls:
        assert any(want in a for a in aws), (want, aws)
    assert len(aws) == len(calls), aws
    if body.startswith(("mode: secondary-ip", "mode: overlay-ip")):
        assert any(s["kind"] == "run" and s["action"].startswith("ip addr add") for s in steps)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
