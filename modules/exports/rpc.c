/* rpc.c: ONC RPC over TCP (see rpc.h).  A call is one record (RFC 5531,
 * section 11): a 4-byte mark (top bit: last fragment, 31 bits: length) before
 * each fragment.  The reply is read fragment by fragment up to a cap, and
 * every read and write waits in poll() for what is left of the deadline. */
#include "rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

#define RPC_VERSION 2
#define MSG_CALL 0
#define MSG_REPLY 1
#define AUTH_NONE 0
#define AUTH_SYS 1
#define REPLY_MAX (64 * 1024)  /* NULL, GETPORT and a short COMPOUND answer far less */
#define PMAPPROC_GETPORT 3
#define NFSPROC4_COMPOUND 1
#define OP_GETFH 10
#define OP_LOOKUP 15
#define OP_PUTROOTFH 24
#define COMPONENTS_MAX 32

/* ---- XDR ------------------------------------------------------------------ */

static void
put_u32(struct buf *b, uint32_t v)
{
	uint32_t n = htonl(v);

	buf_add(b, &n, 4);
}

/* opaque<> and string<>: length, bytes, zero padding to 4. */
static void
put_opaque(struct buf *b, const void *p, size_t n)
{
	static const char zeros[4];

	put_u32(b, (uint32_t)n);
	buf_add(b, p, n);
	buf_add(b, zeros, (4 - n % 4) % 4);
}

struct xdr {
	const unsigned char *p;
	size_t left;
	int bad;   /* ran past the end */
};

static uint32_t
get_u32(struct xdr *x)
{
	uint32_t v;

	if (x->left < 4) {
		x->bad = 1;
		x->left = 0;
		return 0;
	}
	memcpy(&v, x->p, 4);
	x->p += 4;
	x->left -= 4;
	return ntohl(v);
}

static void
skip_opaque(struct xdr *x, size_t max)
{
	uint32_t n = get_u32(x);
	size_t padded = (size_t)n + (4 - n % 4) % 4;

	if (x->bad || n > max || padded > x->left) {
		x->bad = 1;
		x->left = 0;
		return;
	}
	x->p += padded;
	x->left -= padded;
}

/* ---- the connection -------------------------------------------------------- */

static int
fail(char *why, size_t n, const char *fmt, const char *arg)
{
	snprintf(why, n, fmt, arg);
	return -1;
}

/* Waits until fd is ready for events, or the deadline passes. */
static int
wait_fd(int fd, short events, long long deadline, char *why, size_t n, const char *doing)
{
	for (;;) {
		long long left = deadline - mono_ms();
		struct pollfd p = {.fd = fd, .events = events};
		int r;

		if (left <= 0)
			return fail(why, n, "no reply in time (%s)", doing);
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return fail(why, n, "poll: %s", strerror(errno));
	}
}

static int
send_all(int fd, const unsigned char *p, size_t len, long long deadline, char *why, size_t n)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			return fail(why, n, "%s", "the server closed the connection before the call "
			    "was sent");
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return fail(why, n, "send: %s", strerror(errno));
		if (wait_fd(fd, POLLOUT, deadline, why, n, "sending the call") < 0)
			return -1;
	}
	return 0;
}

static int
recv_all(int fd, unsigned char *p, size_t len, long long deadline, char *why, size_t n)
{
	while (len > 0) {
		ssize_t r = recv(fd, p, len, 0);

		if (r > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return fail(why, n, "%s", "the server closed the connection without a reply");
		if (errno != EAGAIN && errno != EINTR)
			return fail(why, n, "recv: %s", strerror(errno));
		if (wait_fd(fd, POLLIN, deadline, why, n, "waiting for the reply") < 0)
			return -1;
	}
	return 0;
}

/* Reads one record (all its fragments) into out. */
static int
recv_record(int fd, struct buf *out, long long deadline, char *why, size_t n)
{
	for (;;) {
		unsigned char mark[4], chunk[4096];
		uint32_t m, len;

		if (recv_all(fd, mark, 4, deadline, why, n) < 0)
			return -1;
		m = (uint32_t)mark[0] << 24 | (uint32_t)mark[1] << 16 | (uint32_t)mark[2] << 8 | mark[3];
		len = m & 0x7fffffffU;
		if (out->len + len > REPLY_MAX)
			return fail(why, n, "%s", "the reply is larger than any RPC reply expected "
			    "here: not an RPC server?");
		while (len > 0) {
			size_t k = len < sizeof(chunk) ? len : sizeof(chunk);

			if (recv_all(fd, chunk, k, deadline, why, n) < 0)
				return -1;
			buf_add(out, chunk, k);
			len -= (uint32_t)k;
		}
		if (m & 0x80000000U)
			return 0;
	}
}

void
rpc_reply_free(struct rpc_reply *r)
{
	free(r->results);
	memset(r, 0, sizeof(*r));
}

static uint32_t
next_xid(void)
{
	static uint32_t xid;

	if (xid == 0)
		xid = (uint32_t)getpid() << 16 ^ (uint32_t)time(NULL);
	return ++xid;
}

/* Reads a reply header: 0 with r filled, -1 when it is no reply to xid. */
static int
parse_reply(const struct buf *b, uint32_t xid, struct rpc_reply *r, char *why, size_t n)
{
	struct xdr x = {.p = (const unsigned char *)b->data, .left = b->len};
	uint32_t stat;

	if (get_u32(&x) != xid || x.bad)
		return fail(why, n, "%s", "the reply does not answer the call (wrong xid): not an "
		    "RPC server?");
	if (get_u32(&x) != MSG_REPLY || x.bad)
		return fail(why, n, "%s", "the answer is not an RPC reply");
	stat = get_u32(&x);
	if (stat == 1) {            /* MSG_DENIED */
		uint32_t rej = get_u32(&x);

		r->outcome = RPC_ERROR;
		if (rej == 0) {      /* RPC_MISMATCH */
			r->accept_stat = -1;
			r->low = get_u32(&x);
			r->high = get_u32(&x);
		} else {             /* AUTH_ERROR: low is the auth_stat */
			r->accept_stat = -2;
			r->low = r->high = get_u32(&x);
		}
		return x.bad ? fail(why, n, "%s", "the reply is cut short") : 0;
	}
	if (stat != 0 || x.bad)
		return fail(why, n, "%s", "the reply's status is neither accepted nor denied");
	get_u32(&x);                /* verifier flavor */
	skip_opaque(&x, 400);       /* verifier body */
	r->accept_stat = (int)get_u32(&x);
	if (x.bad)
		return fail(why, n, "%s", "the reply is cut short");
	if (r->accept_stat != 0) {
		r->outcome = RPC_ERROR;
		if (r->accept_stat == 2) {
			r->low = get_u32(&x);
			r->high = get_u32(&x);
		}
		return 0;
	}
	r->outcome = RPC_SUCCESS;
	if (x.left > 0) {
		r->results = xmalloc(x.left);
		memcpy(r->results, x.p, x.left);
		r->nresults = x.left;
	}
	return 0;
}

int
rpc_call(const char *host, int port, uint32_t prog, uint32_t vers, uint32_t proc, int auth_sys,
    const void *args, size_t nargs, long long timeout_ms, struct rpc_reply *r, char *why,
    size_t whylen)
{
	long long deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	uint32_t xid = next_xid();
	struct buf call, reply;
	int fd, rc = -1;

	memset(r, 0, sizeof(*r));
	r->outcome = RPC_NO_ANSWER;
	buf_init(&call);
	buf_init(&reply);
	put_u32(&call, 0);          /* the record mark, set below */
	put_u32(&call, xid);
	put_u32(&call, MSG_CALL);
	put_u32(&call, RPC_VERSION);
	put_u32(&call, prog);
	put_u32(&call, vers);
	put_u32(&call, proc);
	if (auth_sys) {
		struct buf cred;

		buf_init(&cred);
		put_u32(&cred, (uint32_t)time(NULL)); /* stamp */
		put_opaque(&cred, "haboot", 6);       /* machine name */
		put_u32(&cred, 0);                    /* uid: root, as exportfs squash rules see it */
		put_u32(&cred, 0);                    /* gid */
		put_u32(&cred, 0);                    /* no other gids */
		put_u32(&call, AUTH_SYS);
		put_opaque(&call, cred.data, cred.len);
		buf_free(&cred);
	} else {
		put_u32(&call, AUTH_NONE);
		put_u32(&call, 0);
	}
	put_u32(&call, AUTH_NONE);  /* verifier */
	put_u32(&call, 0);
	if (nargs > 0)
		buf_add(&call, args, nargs);
	{
		uint32_t mark = htonl(0x80000000U | (uint32_t)(call.len - 4));

		memcpy(call.data, &mark, 4);
	}
	if ((fd = net_dial(host, port, deadline, why, whylen)) < 0)
		goto out;
	if (send_all(fd, (unsigned char *)call.data, call.len, deadline, why, whylen) == 0 &&
	    recv_record(fd, &reply, deadline, why, whylen) == 0 &&
	    parse_reply(&reply, xid, r, why, whylen) == 0)
		rc = 0;
	close(fd);
out:
	if (rc < 0)
		r->outcome = RPC_NO_ANSWER;
	buf_free(&call);
	buf_free(&reply);
	return rc;
}

static const char *
accept_name(int stat)
{
	switch (stat) {
	case -1: return "RPC_MISMATCH: the server speaks another RPC version";
	case -2: return "AUTH_ERROR: the server refused the credentials";
	case 1: return "PROG_UNAVAIL: the program is not served";
	case 2: return "PROG_MISMATCH: that version is not served";
	case 3: return "PROC_UNAVAIL";
	case 4: return "GARBAGE_ARGS";
	case 5: return "SYSTEM_ERR";
	default: return "an unknown error";
	}
}

/* Why a call the server answered did not succeed, in words. */
static void
describe_error(const struct rpc_reply *r, uint32_t prog, uint32_t vers, char *why, size_t n)
{
	if (r->accept_stat == 2)
		snprintf(why, n, "program %u version %u is not served (it serves versions %u to "
		    "%u)", prog, vers, r->low, r->high);
	else if (r->accept_stat == -2)
		snprintf(why, n, "program %u version %u: %s (auth_stat %u)", prog, vers,
		    accept_name(r->accept_stat), r->low);
	else
		snprintf(why, n, "program %u version %u: %s", prog, vers, accept_name(r->accept_stat));
}

int
rpc_null(const char *host, int port, uint32_t prog, uint32_t vers, long long timeout_ms,
    struct rpc_reply *r, char *why, size_t whylen)
{
	struct rpc_reply local;
	struct rpc_reply *rr = r ? r : &local;
	int rc = -1;

	if (rpc_call(host, port, prog, vers, 0, 0, NULL, 0, timeout_ms, rr, why, whylen) < 0)
		goto out;
	if (rr->outcome == RPC_SUCCESS)
		rc = 0;
	else
		describe_error(rr, prog, vers, why, whylen);
out:
	if (r == NULL)
		rpc_reply_free(&local);
	return rc;
}

int
rpc_getport(const char *host, int rpcbind_port, uint32_t prog, uint32_t vers,
    long long timeout_ms, int *port, char *why, size_t whylen)
{
	struct rpc_reply r;
	struct buf args;
	struct xdr x;
	uint32_t p;
	int rc = -1;

	*port = 0;
	buf_init(&args);
	put_u32(&args, prog);
	put_u32(&args, vers);
	put_u32(&args, IPPROTO_TCP);
	put_u32(&args, 0);
	if (rpc_call(host, rpcbind_port, RPC_PROG_PORTMAP, 2, PMAPPROC_GETPORT, 0, args.data, args.len,
	    timeout_ms, &r, why, whylen) < 0)
		goto out;
	if (r.outcome != RPC_SUCCESS) {
		describe_error(&r, RPC_PROG_PORTMAP, 2, why, whylen);
		goto out;
	}
	x = (struct xdr){.p = r.results, .left = r.nresults};
	p = get_u32(&x);
	if (x.bad || p > 65535) {
		snprintf(why, whylen, "rpcbind's GETPORT reply is not a port");
		goto out;
	}
	*port = (int)p;
	rc = 0;
out:
	rpc_reply_free(&r);
	buf_free(&args);
	return rc;
}

const char *
rpc_nfs4_status_name(uint32_t status, char *buf, size_t n)
{
	static const struct { uint32_t code; const char *name; } names[] = {
		{0, "NFS4_OK"}, {1, "NFS4ERR_PERM"}, {2, "NFS4ERR_NOENT"}, {5, "NFS4ERR_IO"},
		{13, "NFS4ERR_ACCESS"}, {20, "NFS4ERR_NOTDIR"}, {22, "NFS4ERR_INVAL"},
		{70, "NFS4ERR_STALE"}, {10001, "NFS4ERR_BADHANDLE"}, {10004, "NFS4ERR_NOTSUPP"},
		{10006, "NFS4ERR_SERVERFAULT"}, {10008, "NFS4ERR_DELAY"}, {10013, "NFS4ERR_GRACE"},
		{10016, "NFS4ERR_WRONGSEC"}, {10017, "NFS4ERR_RESOURCE"},
		{10021, "NFS4ERR_MINOR_VERS_MISMATCH"}, {10044, "NFS4ERR_OP_ILLEGAL"},
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++)
		if (names[i].code == status)
			return names[i].name;
	snprintf(buf, n, "NFSv4 status %u", status);
	return buf;
}

int
rpc_nfs4_lookup(const char *host, int port, const char *path, long long timeout_ms,
    uint32_t *nfs_status, char *why, size_t whylen)
{
	const char *comp[COMPONENTS_MAX];
	size_t clen[COMPONENTS_MAX], ncomp = 0;
	struct rpc_reply r;
	struct buf args;
	struct xdr x;
	uint32_t status, nres;
	char sbuf[40];
	int rc = -1;

	*nfs_status = 0;
	memset(&r, 0, sizeof(r));
	buf_init(&args);
	for (const char *p = path; *p; ) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0)
			break;
		if (ncomp == COMPONENTS_MAX) {
			snprintf(why, whylen, "%s has more than %d components", path, COMPONENTS_MAX);
			goto out;
		}
		comp[ncomp] = p;
		clen[ncomp++] = n;
		p += n;
	}
	put_opaque(&args, "haboot", 6);  /* tag */
	put_u32(&args, 0);               /* minor version 0: no session needed */
	put_u32(&args, (uint32_t)ncomp + 2);
	put_u32(&args, OP_PUTROOTFH);
	for (size_t i = 0; i < ncomp; i++) {
		put_u32(&args, OP_LOOKUP);
		put_opaque(&args, comp[i], clen[i]);
	}
	put_u32(&args, OP_GETFH);
	if (rpc_call(host, port, RPC_PROG_NFS, 4, NFSPROC4_COMPOUND, 1, args.data, args.len,
	    timeout_ms, &r, why, whylen) < 0)
		goto out;
	if (r.outcome != RPC_SUCCESS) {
		describe_error(&r, RPC_PROG_NFS, 4, why, whylen);
		goto out;
	}
	x = (struct xdr){.p = r.results, .left = r.nresults};
	status = get_u32(&x);
	skip_opaque(&x, 1024);          /* tag */
	nres = get_u32(&x);
	if (x.bad) {
		snprintf(why, whylen, "the COMPOUND reply is cut short");
		goto out;
	}
	if (status == 0) {
		rc = 0;
		goto out;
	}
	*nfs_status = status;
	rc = 1;
	/* The last result is the operation that failed: the root (0), a
	 * component (1..ncomp) or GETFH. */
	if (nres == 0 || nres > ncomp + 2)
		snprintf(why, whylen, "COMPOUND failed: %s",
		    rpc_nfs4_status_name(status, sbuf, sizeof(sbuf)));
	else if (nres == 1)
		snprintf(why, whylen, "PUTROOTFH failed: %s",
		    rpc_nfs4_status_name(status, sbuf, sizeof(sbuf)));
	else if (nres <= ncomp + 1) {
		size_t i = nres - 2;

		snprintf(why, whylen, "LOOKUP of \"%.*s\" in the pseudo filesystem (on the way to "
		    "%s) failed: %s", (int)clen[i], comp[i], path,
		    rpc_nfs4_status_name(status, sbuf, sizeof(sbuf)));
	} else
		snprintf(why, whylen, "GETFH of %s failed: %s", path,
		    rpc_nfs4_status_name(status, sbuf, sizeof(sbuf)));
out:
	rpc_reply_free(&r);
	buf_free(&args);
	return rc;
}
