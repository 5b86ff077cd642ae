"""The failover drill with a client that stays mounted (issue 14).

The reference's Route53 design saves clients that look the name up again.
A mounted NFS client does not: it resolved the name once, at mount time, and
a hard mount keeps retrying that address.  Here the client is one NFSv4
session (nfs4session.py: one identity, one address, reconnect-and-resend,
state reclaimed in the new server's grace, as the kernel's client does) that
writes and commits record after record through the whole failover:

- address: overlay-ip and secondary-ip: the session's address follows the
  service.  A dies mid-write, B takes the volume over and moves the address;
  the same session carries on: no remount, every acknowledged record reads
  back (through the session and on B's disk), and the stall is measured.
- Route53 only: the session's address is A's.  B serves under the name, and
  the session stays stuck on the dead address: the test shows it never
  recovers while a fresh lookup would.

The world is drill.py's (instances as namespaces on a bridge, the sim as
EC2); the sim's network hook (nethook.py) turns EC2's routes and address
assignments into routes in the client's namespace, so packets go where EC2
says.  Prints each variant's timeline; README quotes the stalls.
"""
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import drill
from drill import A, B, MOUNT, NFS_PORT, PYTHON

HERE = Path(__file__).resolve().parent
SESSION = str(HERE / "nfs4session.py")
NETHOOK = str(HERE / "nethook.py")
VPC, SUBNET = "vpc-0123456789abcdef0", "subnet-0123456789abcdef0"  # the sim's defaults
RTB = "rtb-0c11e0c11e0c11e0c"
FILE = "session.dat"
MACS = {A: "0e:00:00:00:00:0a", B: "0e:00:00:00:00:0b"}  # drill.Lab.seed's

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, loop devices)"),
    pytest.mark.skipif(bool(drill.missing_tools()),
                       reason=f"needs {', '.join(drill.missing_tools())}"),
]


class MountedLab(drill.Lab):
    """drill.Lab with the address module (mode, or None for Route53 only) and
    EC2's network on the client's side."""

    def __init__(self, tmp, mode):
        self.mode = mode
        super().__init__(tmp)
        # An instance's eth0 has the MAC EC2 gives its primary interface.
        for inst, mac in ((self.a, MACS[A]), (self.b, MACS[B])):
            drill.sh(inst.exec_argv(["ip", "link", "set", "eth0", "address", mac]))
        self.netreg = os.path.join(self.tmp, "netreg")
        with open(os.path.join(self.netreg, "client.json"), "w") as f:
            json.dump({"pid": self.client.pid, "route_table": RTB}, f)

    @property
    def vip(self):
        n = int(self.net.rsplit(".", 1)[1])
        return {"overlay-ip": f"172.31.{n}.10", "secondary-ip": f"{self.net}.100"}.get(self.mode)

    def manifest(self):
        text = super().manifest()
        if self.mode is None:
            return text
        body = {"overlay-ip": f"      ip: {self.vip}\n      route_tables: [{RTB}]\n",
                "secondary-ip": f"      ip: {self.vip}\n      subnet: {self.net}.0/24\n"}[self.mode]
        addr = f"  - address:\n      mode: {self.mode}\n{body}"
        return text.replace("  - route53:\n", addr + "  - route53:\n", 1)

    def seed(self):
        seed = super().seed()
        netreg = os.path.join(self.tmp, "netreg")
        os.makedirs(netreg, exist_ok=True)
        seed.update({"vpcs": {VPC: {"cidrs": [f"{self.net}.0/24"]}},
                     "subnets": {SUBNET: {"vpc": VPC, "cidr": f"{self.net}.0/24",
                                          "az": drill.AZ}},
                     "route_tables": {RTB: {"vpc": VPC, "subnets": [SUBNET]}},
                     "network_hook": [PYTHON, NETHOOK, netreg]})
        return seed

    def fabric(self):
        """When the client's namespace learned each move (the hook's log)."""
        p = Path(self.netreg) / "network.jsonl"
        return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


class MountedClient:
    """nfs4session.py in the client's namespace; its events as they come."""

    def __init__(self, lab, addr):
        self.lab, self.addr = lab, addr
        self.events, self.lock = [], threading.Lock()
        self.proc = subprocess.Popen(
            lab.client.exec_argv([PYTHON, SESSION, addr, str(NFS_PORT), MOUNT, FILE,
                                  "--interval", "0.05"]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=drill._die_with_parent)
        lab.procs.append(self.proc)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def acks(self):
        with self.lock:
            return [e for e in self.events if e["ev"] == "ack"]

    def wait_acks(self, n, reconnected=False, timeout=60):
        """n records acknowledged (after the session first lost its server)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len([e for e in self.acks() if e["reconnects"] > 0 or not reconnected]) >= n:
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        with self.lock:
            summary = next((e for e in self.events if e["ev"] == "summary"), None)
        return summary, self.proc.stderr.read()


@pytest.fixture
def make_lab(tmp_path):
    labs = []

    def make(mode):
        lab = MountedLab(tmp_path / f"lab{len(labs)}", mode)
        labs.append(lab)
        return lab
    yield make
    errors = []
    for lab in labs:
        try:
            lab.close()
        except Exception as e:
            errors.append(e)
    assert not errors, errors


def on_disk(lab, inst, size, acks):
    """Acknowledged records that are not on inst's disk as acknowledged."""
    with open(inst.path(f"{MOUNT}/{FILE}"), "rb") as f:
        data = f.read()
    import hashlib
    return [a["seq"] for a in acks
            if hashlib.sha256(data[a["offset"]:a["offset"] + size]).hexdigest() != a["sha256"]]


def session_timeline(lab, client, t_death):
    for e in client.events:
        if e["ev"] in ("reconnect", "recover", "reclaimed", "reopened", "rewrite", "open"):
            lab.timeline.mark("client", f"session: {e['ev']} {e.get('why', '')}".strip(), e["t"])
    for f in lab.fabric():
        for d in f["done"]:
            if d.get("dest", "").split("/")[0] == client.addr:
                lab.timeline.mark("vpc", f"{d['dest']} now delivered to {d['via']}", f["end"])


def power_cut(lab):
    """A stops dead: its link goes first, so no FIN or RST from its dying server
    reaches the client (a power cut); then its disk and processes (drill.py)."""
    t = time.time()
    lab.a.cut()
    lab.kill(lab.a)
    return t


def boot_a_and_mount(lab, addr_of=lambda lab: lab.vip):
    ra = lab.a.wait_boot(lab.a.boot())
    assert ra.rc == 0, ra
    addr = addr_of(lab)
    client = MountedClient(lab, addr)
    assert client.wait_acks(20, timeout=60), f"the session could not write through {addr}: " \
                                             f"{client.events[-5:]} {client.proc.stderr}"
    lab.timeline.mark("client", f"one NFSv4 session to {addr}: writing and committing records")
    return client


@pytest.mark.parametrize("mode", ["overlay-ip", "secondary-ip"])
def test_a_mounted_client_carries_on_through_the_failover(make_lab, mode):
    lab = make_lab(mode)
    client = boot_a_and_mount(lab)
    assert lab.client.resolve() == lab.a.addr
    t_death = power_cut(lab)  # mid-write: the session always has a record in flight
    rb = lab.b.wait_boot(lab.b.boot())
    assert rb.rc == 0, rb
    assert rb.facts.get("address.ip") == lab.vip, rb
    assert client.wait_acks(20, reconnected=True, timeout=120), \
        f"the mounted session never wrote again after the takeover: {client.events[-8:]}"
    # Records acknowledged before the session lost its server were A's; after, B's.
    last_a = max(e["t"] for e in client.acks() if e["reconnects"] == 0)
    first_b = min(e["t"] for e in client.acks() if e["reconnects"] > 0)
    summary, err = client.stop()
    assert summary is not None, err
    acks = client.acks()
    # The same session the whole time: one open, its address never changed.
    assert sum(1 for e in client.events if e["ev"] == "open") == 1
    assert summary["acked"] == len(acks) and summary["verified"] == len(acks), summary
    assert summary["bad"] == [], f"acknowledged records read back wrong: {summary['bad']}"
    assert summary["reconnects"] >= 1, "the session never lost its server: not a failover"
    lost = on_disk(lab, lab.b, summary["record_size"], acks)
    assert not lost, f"acknowledged records missing on B's disk: {lost}"
    stall = first_b - last_a
    lab.timeline.mark("client", "last record acknowledged by A", last_a)
    lab.timeline.mark("client", "first record acknowledged by B (same session, no remount)",
                      first_b)
    session_timeline(lab, client, t_death)
    lines, t = lab.report(f"mounted client, address mode {mode}", t_death, f"{A} (A) dies", rb)
    lines.append(f"   mounted client ({mode} {lab.vip}): {len(acks)} records acknowledged, all "
                 f"read back through the same session and found on B's disk")
    lines.append(f"   MOUNTED CLIENT STALL ({mode}): {stall:.3f}s from the last record A "
                 f"acknowledged to the first B did ({first_b - t_death:.3f}s after A's death)")
    print("\n" + "\n".join(lines), flush=True)
    assert stall < 90


def test_a_mounted_client_is_stranded_with_route53_only(make_lab):
    lab = make_lab(None)
    client = boot_a_and_mount(lab, addr_of=lambda lab: lab.client.resolve())
    assert client.addr == lab.a.addr
    t_death = power_cut(lab)
    rb = lab.b.wait_boot(lab.b.boot())
    assert rb.rc == 0, rb
    # B serves under the name: a client that looks it up again gets in.
    assert lab.client.resolve() == lab.b.addr
    assert lab.client.get_retrying(FILE, until=30) is not None, lab.client.last_error
    t_served = lab.timeline.mark("client", "a fresh lookup and read through the name succeeds "
                                           "(B serves)")
    # The mounted session does not: it keeps retrying A's address.
    watch = 20
    time.sleep(watch)
    summary, _ = client.stop()
    acks = client.acks()
    assert all(e["reconnects"] == 0 for e in acks), \
        "the session reached B without the address moving: the drill's network does not " \
        "model a mount's fixed address"
    last_a = max(e["t"] for e in acks)
    lost = on_disk(lab, lab.b, 256, acks)
    assert not lost, f"acknowledged records missing on B's disk: {lost}"
    stalled = time.time() - last_a
    lab.timeline.mark("client", "last record acknowledged by A", last_a)
    session_timeline(lab, client, t_death)
    lines, _ = lab.report("mounted client, Route53 only", t_death, f"{A} (A) dies", rb,
                          dns=t_served)
    lines.append(f"   MOUNTED CLIENT STALL (route53 only): no record acknowledged for "
                 f"{stalled:.3f}s and counting: the session still sends to {lab.a.addr} "
                 f"{watch}s after B served the name; it recovers only by a remount")
    print("\n" + "\n".join(lines), flush=True)
