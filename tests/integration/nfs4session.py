"""One NFSv4.0 session that stays mounted through a failover, as a kernel
hard mount does: the drill's "mounted client".

Why not libnfs: libnfs (4.0 in Debian 12, and its master too) reconnects its
TCP connection when asked to (rpc_set_autoreconnect), but never
re-establishes NFSv4 client state on a new server: after a failover every
call fails with NFS4ERR_STALE_CLIENTID for good, where the kernel's client
would SETCLIENTID again and reclaim its opens in the new server's grace
period.  This client does what the kernel's does, and no more:

- one address, looked up once (a mount never resolves its name again), one
  TCP connection to it; on a reset or a closed connection it reconnects to
  the same address and sends the unanswered request again ("hard": it never
  gives up); a silent peer is left to TCP's own retransmissions, as the
  kernel does;
- one client identity (nfs_client_id4 and boot verifier) for its lifetime:
  NFS4ERR_STALE_CLIENTID or EXPIRED, or a stale stateid, makes it SETCLIENTID
  again and reclaim its open file (CLAIM_PREVIOUS) during the new server's
  grace; NFS4ERR_GRACE and DELAY are retried;
- a write counts as acknowledged only when a COMMIT answers with the
  verifier of the WRITE it covers (RFC 7530 16.3.5: a different verifier
  means the server restarted and the data may be gone: it is written again).

Run inside the client's network namespace:

    nfs4session.py ADDR PORT EXPORT FILE [--interval S] [--record-size N]

It opens EXPORT/FILE once, then writes record after record (seq, time,
checksum) at record-size offsets, committing each, and reads every tenth one
back through the same session.  Each event is a JSON line on stdout:
{"t": epoch, "ev": "ack"|"reconnect"|"recover"|"rewrite"|"read"|"error", ...}.
SIGTERM stops it: it then reads every acknowledged record back (when the
server answers within a few seconds) and prints {"ev": "summary", ...}.
"""
import hashlib
import json
import os
import select
import signal
import socket
import struct
import sys
import time

NFS_PROG, NFS_VERS = 100003, 4
OP_CLOSE, OP_COMMIT, OP_GETFH, OP_LOOKUP, OP_OPEN, OP_OPEN_CONFIRM = 4, 5, 10, 15, 18, 20
OP_PUTFH, OP_PUTROOTFH, OP_READ, OP_RENEW, OP_SETCLIENTID, OP_SETCLIENTID_CONFIRM = \
    22, 24, 25, 30, 35, 36
OP_WRITE = 38
NFS4_OK, NFS4ERR_DELAY, NFS4ERR_EXPIRED, NFS4ERR_GRACE = 0, 10008, 10011, 10013
NFS4ERR_STALE_CLIENTID, NFS4ERR_STALE_STATEID, NFS4ERR_BAD_STATEID = 10022, 10023, 10025
NFS4ERR_NO_GRACE, NFS4ERR_RECLAIM_BAD, NFS4ERR_ADMIN_REVOKED = 10033, 10034, 10047
LOST_STATE = {NFS4ERR_STALE_CLIENTID, NFS4ERR_EXPIRED, NFS4ERR_STALE_STATEID,
              NFS4ERR_BAD_STATEID, NFS4ERR_ADMIN_REVOKED}
RETRY_LATER = {NFS4ERR_GRACE, NFS4ERR_DELAY}
OPEN4_RESULT_CONFIRM = 2
stop = False


def emit(ev, **kw):
    sys.stdout.write(json.dumps({"t": time.time(), "ev": ev, **kw}) + "\n")
    sys.stdout.flush()


class NfsError(Exception):
    def __init__(self, op, status):
        super().__init__(f"op {op} failed with status {status}")
        self.op, self.status = op, status


# ---- XDR ---------------------------------------------------------------------------

class Pack:
    def __init__(self):
        self.b = bytearray()

    def u32(self, v):
        self.b += struct.pack(">I", v)
        return self

    def u64(self, v):
        self.b += struct.pack(">Q", v)
        return self

    def fixed(self, data):
        self.b += data + b"\0" * (-len(data) % 4)
        return self

    def opaque(self, data):
        return self.u32(len(data)).fixed(data)


class Unpack:
    def __init__(self, data):
        self.d, self.i = data, 0

    def u32(self):
        v = struct.unpack_from(">I", self.d, self.i)[0]
        self.i += 4
        return v

    def u64(self):
        v = struct.unpack_from(">Q", self.d, self.i)[0]
        self.i += 8
        return v

    def fixed(self, n):
        v = self.d[self.i:self.i + n]
        self.i += n + (-n % 4)
        return v

    def opaque(self):
        return self.fixed(self.u32())


def skip_delegation(u):
    kind = u.u32()
    if kind == 0:
        return
    u.fixed(16)  # stateid
    u.u32()      # recall
    if kind == 2:  # write delegation: space limit
        if u.u32() == 1:
            u.u64()
        else:
            u.u32()
            u.u32()
    u.u32(), u.u32(), u.u32(), u.opaque()  # nfsace4


# ---- the session --------------------------------------------------------------------

class Session:
    def __init__(self, addr, port, export, name):
        self.addr, self.port = addr, port
        self.export = [c for c in export.split("/") if c]
        self.name = name
        self.sock = None
        self.xid = int.from_bytes(os.urandom(4), "big")
        self.client_name = f"haboot-drill-mounted-client-{os.getpid()}".encode()
        self.boot_verf = os.urandom(8)
        self.clientid = None
        self.dir_fh = self.fh = None
        self.stateid = None
        self.owner_n = 0
        self.reconnects = 0

    # -- transport: one address, reconnect and resend, never give up
    def connect(self):
        delay = 0.0
        while not stop:
            if delay:
                time.sleep(delay)
            try:
                s = socket.create_connection((self.addr, self.port), timeout=3)
                s.settimeout(None)
                self.sock = s
                return
            except OSError as e:
                emit("connect-failed", error=str(e))
                delay = 1.0  # the kernel backs off from 3s; this is the keenest retry
        raise SystemExit(0)

    def drop(self, why):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.reconnects += 1
        emit("reconnect", why=why)

    def _recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            if stop:
                raise SystemExit(0)
            r, _, _ = select.select([self.sock], [], [], 0.5)
            if not r:
                continue
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("connection closed by the server")
            out += chunk
        return bytes(out)

    def call(self, ops):
        """One COMPOUND, sent until it is answered; returns (status, results reader)."""
        self.xid = (self.xid + 1) & 0xffffffff
        p = Pack().u32(self.xid).u32(0).u32(2).u32(NFS_PROG).u32(NFS_VERS).u32(1)
        cred = Pack().u32(int(time.time())).opaque(b"drill-client").u32(0).u32(0).u32(0)
        p.u32(1).opaque(bytes(cred.b)).u32(0).u32(0)
        p.opaque(b"").u32(0).u32(len(ops))
        for op in ops:
            p.b += op
        msg = bytes(p.b)
        while True:
            if self.sock is None:
                self.connect()
            try:
                self.sock.sendall(struct.pack(">I", 0x80000000 | len(msg)) + msg)
                while True:
                    data = bytearray()
                    while True:
                        hdr = struct.unpack(">I", self._recv_exact(4))[0]
                        data += self._recv_exact(hdr & 0x7fffffff)
                        if hdr & 0x80000000:
                            break
                    u = Unpack(bytes(data))
                    if u.u32() == self.xid:
                        break  # an answer to an older, resent call is dropped
                break
            except (OSError, ConnectionError) as e:
                self.drop(str(e))
        assert u.u32() == 1, "not a reply"
        if u.u32() != 0:
            raise RuntimeError("RPC call denied")
        u.u32()
        u.opaque()  # verifier
        if u.u32() != 0:
            raise RuntimeError("RPC call not accepted")
        status = u.u32()
        u.opaque()  # tag
        u.u32()     # results
        return status, u

    @staticmethod
    def res(u, want_op):
        op, status = u.u32(), u.u32()
        if op != want_op:
            raise RuntimeError(f"reply for op {op}, expected {want_op}")
        if status != NFS4_OK:
            raise NfsError(op, status)

    # -- state
    def setclientid(self):
        while True:
            a = Pack().u32(OP_SETCLIENTID).fixed(self.boot_verf).opaque(self.client_name)
            a.u32(0x40000000).opaque(b"tcp").opaque(b"0.0.0.0.0.0").u32(1)
            st, u = self.call([bytes(a.b)])
            try:
                self.res(u, OP_SETCLIENTID)
            except NfsError as e:
                if e.status in RETRY_LATER:
                    time.sleep(0.5)
                    continue
                raise
            clientid, confirm = u.u64(), u.fixed(8)
            st, u = self.call([bytes(Pack().u32(OP_SETCLIENTID_CONFIRM).u64(clientid)
                                     .fixed(confirm).b)])
            try:
                self.res(u, OP_SETCLIENTID_CONFIRM)
            except NfsError as e:
                if e.status in RETRY_LATER | LOST_STATE:
                    time.sleep(0.5)
                    continue
                raise
            self.clientid = clientid
            return

    def lookup_dir(self):
        ops = [bytes(Pack().u32(OP_PUTROOTFH).b)]
        ops += [bytes(Pack().u32(OP_LOOKUP).opaque(c.encode()).b) for c in self.export]
        ops.append(bytes(Pack().u32(OP_GETFH).b))
        st, u = self.call(ops)
        self.res(u, OP_PUTROOTFH)
        for _ in self.export:
            self.res(u, OP_LOOKUP)
        self.res(u, OP_GETFH)
        self.dir_fh = u.opaque()

    def open(self, claim_previous=False):
        """Opens (creating) the file, or reclaims its open after a server restart."""
        self.owner_n += 1
        owner = Pack().u64(self.clientid).opaque(f"owner-{self.owner_n}".encode())
        a = Pack().u32(OP_OPEN).u32(0).u32(3).u32(0)
        a.b += owner.b
        if claim_previous:
            a.u32(0).u32(1).u32(0)  # NOCREATE; CLAIM_PREVIOUS, no delegation
            first = Pack().u32(OP_PUTFH).opaque(self.fh)
        else:
            attrs = Pack().u32(0o644)
            a.u32(1).u32(0).u32(2).u32(0).u32(2).opaque(bytes(attrs.b))  # CREATE UNCHECKED mode
            a.u32(0).opaque(self.name.encode())  # CLAIM_NULL
            first = Pack().u32(OP_PUTFH).opaque(self.dir_fh)
        st, u = self.call([bytes(first.b), bytes(a.b), bytes(Pack().u32(OP_GETFH).b)])
        self.res(u, OP_PUTFH)
        self.res(u, OP_OPEN)
        stateid = u.fixed(16)
        u.u32(), u.u64(), u.u64()  # change_info
        rflags = u.u32()
        for _ in range(u.u32()):
            u.u32()  # attrset
        skip_delegation(u)
        self.res(u, OP_GETFH)
        self.fh = u.opaque()
        if rflags & OPEN4_RESULT_CONFIRM:
            st, u = self.call([bytes(Pack().u32(OP_PUTFH).opaque(self.fh).b),
                               bytes(Pack().u32(OP_OPEN_CONFIRM).fixed(stateid).u32(1).b)])
            self.res(u, OP_PUTFH)
            self.res(u, OP_OPEN_CONFIRM)
            stateid = u.fixed(16)
        self.stateid = stateid

    def recover(self, why):
        """The server lost our state (it restarted, or is another machine)."""
        emit("recover", why=why)
        self.setclientid()
        while not stop:
            try:
                self.open(claim_previous=True)
                emit("reclaimed")
                return
            except NfsError as e:
                if e.status in RETRY_LATER:
                    time.sleep(0.5)
                    continue
                if e.status in (NFS4ERR_NO_GRACE, NFS4ERR_RECLAIM_BAD):
                    break  # past grace: open it as new
                if e.status in LOST_STATE:
                    self.setclientid()
                    continue
                raise
        while not stop:
            try:
                self.open()
                emit("reopened")
                return
            except NfsError as e:
                if e.status in RETRY_LATER:
                    time.sleep(0.5)
                    continue
                if e.status in LOST_STATE:
                    self.setclientid()
                    continue
                raise

    def op(self, build, parse, what):
        """PUTFH + one op, retried through grace and state recovery."""
        while True:
            st, u = self.call([bytes(Pack().u32(OP_PUTFH).opaque(self.fh).b), build()])
            try:
                self.res(u, OP_PUTFH)
                return parse(u)
            except NfsError as e:
                if e.status in RETRY_LATER:
                    time.sleep(0.5)
                elif e.status in LOST_STATE:
                    self.recover(f"{what}: status {e.status}")
                else:
                    raise

    def write(self, offset, data):
        def parse(u):
            self.res(u, OP_WRITE)
            return u.u32(), u.u32(), u.fixed(8)
        return self.op(lambda: bytes(Pack().u32(OP_WRITE).fixed(self.stateid).u64(offset)
                                     .u32(0).opaque(data).b), parse, "WRITE")

    def commit(self):
        def parse(u):
            self.res(u, OP_COMMIT)
            return u.fixed(8)
        return self.op(lambda: bytes(Pack().u32(OP_COMMIT).u64(0).u32(0).b), parse, "COMMIT")

    def read(self, offset, count):
        def parse(u):
            self.res(u, OP_READ)
            u.u32()
            return u.opaque()
        return self.op(lambda: bytes(Pack().u32(OP_READ).fixed(self.stateid).u64(offset)
                                     .u32(count).b), parse, "READ")


def record(seq, size):
    head = f"seq {seq:08d} t {time.time():.6f} ".encode()
    body = hashlib.sha256(head).hexdigest().encode()
    return (head + body + b"\n" * size)[:size]


def main(argv):
    global stop
    addr, port, export, name = argv[1], int(argv[2]), argv[3], argv[4]
    interval = float(argv[argv.index("--interval") + 1]) if "--interval" in argv else 0.05
    size = int(argv[argv.index("--record-size") + 1]) if "--record-size" in argv else 256

    def on_term(*_):
        global stop
        stop = True
    signal.signal(signal.SIGTERM, on_term)
    s = Session(addr, port, export, name)
    s.setclientid()
    s.lookup_dir()
    s.open()
    emit("open", addr=addr, file=f"{export}/{name}")
    acked = {}
    seq = 0
    try:
        while not stop:
            data = record(seq, size)
            while not stop:
                try:
                    count, committed, wverf = s.write(seq * size, data)
                    cverf = wverf if committed == 2 else s.commit()
                except NfsError as e:
                    # Not acknowledged (a dying server answers NFS4ERR_IO): the
                    # application sees the error and writes the record again.
                    emit("error", seq=seq, op=e.op, status=e.status)
                    time.sleep(0.2)
                    continue
                if cverf == wverf and count == len(data):
                    break
                emit("rewrite", seq=seq, why="the COMMIT's verifier is not the WRITE's: the "
                                             "server restarted; writing it again")
            if stop:
                break
            acked[seq] = hashlib.sha256(data).hexdigest()
            emit("ack", seq=seq, offset=seq * size, sha256=acked[seq], reconnects=s.reconnects)
            if seq % 10 == 9:
                try:
                    back = s.read((seq - 5) * size, size)
                    emit("read", seq=seq - 5,
                         ok=hashlib.sha256(back).hexdigest() == acked.get(seq - 5))
                except NfsError as e:
                    emit("error", seq=seq - 5, op=e.op, status=e.status)
            seq += 1
            time.sleep(interval)
    except SystemExit:
        pass
    # The final check, through the same session, if the server answers soon.
    stop = False
    signal.signal(signal.SIGALRM, lambda *_: on_term())
    signal.alarm(10)
    bad, verified = [], 0
    try:
        for i, want in sorted(acked.items()):
            if stop:
                break
            if hashlib.sha256(s.read(i * size, size)).hexdigest() != want:
                bad.append(i)
            verified += 1
    except (SystemExit, NfsError):
        pass
    signal.alarm(0)
    emit("summary", acked=len(acked), verified=verified, bad=bad, reconnects=s.reconnects,
         record_size=size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
