/* test_rpc.c: the exports check's RPC client against a fake server (a forked
 * process on a free loopback port) that answers each call as a case says:
 * NULL answered, versions not served, a reply in two fragments, silence, a
 * closed connection, another call's xid, a web server, denied credentials,
 * rpcbind's GETPORT, and NFSv4 COMPOUNDs that find or miss the export.  The
 * fake server checks the call it gets (program, version, procedure,
 * credentials, the COMPOUND's operations) and answers GARBAGE_ARGS when the
 * call is not what the case expects, so a wrong encoding fails the case. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "unit.h"

#include "exports/exports.h"
#include "exports/rpc.h"
#include "util.h"

enum mode {
	M_SUCCESS, M_MISMATCH, M_PROG_UNAVAIL, M_SPLIT, M_SILENT, M_CLOSE, M_WRONG_XID,
	M_HTTP, M_AUTH_ERROR, M_GETPORT, M_COMPOUND_OK, M_COMPOUND_NOENT,
};

struct fake {
	pid_t pid;
	int port;
};

static void
put32(unsigned char **p, uint32_t v)
{
	uint32_t n = htonl(v);

	memcpy(*p, &n, 4);
	*p += 4;
}

static uint32_t
get32(const unsigned char **p)
{
	uint32_t v;

	memcpy(&v, *p, 4);
	*p += 4;
	return ntohl(v);
}

static int
read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void
write_full(int fd, const void *buf, size_t n)
{
	(void)!write(fd, buf, n);
}

/* Is the COMPOUND {PUTROOTFH, LOOKUP srv, LOOKUP nfs, GETFH}, minor version 0? */
static int
compound_ok(const unsigned char *p, const unsigned char *end)
{
	static const char *const want[] = {"srv", "nfs"};
	uint32_t n;

	n = get32(&p);                  /* tag */
	p += (n + 3) / 4 * 4;
	if (get32(&p) != 0 || get32(&p) != 4 || get32(&p) != 24)
		return 0;
	for (int i = 0; i < 2; i++) {
		if (get32(&p) != 15)
			return 0;
		n = get32(&p);
		if (n != strlen(want[i]) || memcmp(p, want[i], n) != 0)
			return 0;
		p += (n + 3) / 4 * 4;
	}
	return get32(&p) == 10 && p == end;
}

/* Serves one connection the way m says, then exits. */
static void
serve(int lfd, enum mode m)
{
	unsigned char call[4096], reply[512], *r = reply + 4;
	const unsigned char *p = call;
	uint32_t mark, len, xid, prog, vers, proc, flavor, clen;
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		_exit(1);
	if (m == M_CLOSE)
		_exit(0);
	if (read_full(fd, &mark, 4) < 0)
		_exit(1);
	len = ntohl(mark) & 0x7fffffff;
	if (len > sizeof(call) || read_full(fd, call, len) < 0)
		_exit(1);
	if (m == M_SILENT) {
		sleep(30);
		_exit(0);
	}
	if (m == M_HTTP) {
		const char *h = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

		write_full(fd, h, strlen(h));
		_exit(0);
	}
	xid = get32(&p);
	get32(&p);                      /* CALL */
	get32(&p);                      /* RPC version */
	prog = get32(&p);
	vers = get32(&p);
	proc = get32(&p);
	flavor = get32(&p);
	clen = get32(&p);
	p += (clen + 3) / 4 * 4;
	p += 8;                         /* verifier */
	put32(&r, m == M_WRONG_XID ? xid + 1 : xid);
	put32(&r, 1);                   /* REPLY */
	if (m == M_AUTH_ERROR) {
		put32(&r, 1);               /* MSG_DENIED */
		put32(&r, 1);               /* AUTH_ERROR */
		put32(&r, 5);               /* AUTH_TOOWEAK */
		goto send;
	}
	put32(&r, 0);                   /* MSG_ACCEPTED */
	put32(&r, 0);                   /* verifier AUTH_NONE */
	put32(&r, 0);
	if (m == M_PROG_UNAVAIL) {
		put32(&r, 1);
		goto send;
	}
	if (m == M_MISMATCH) {
		put32(&r, 2);
		put32(&r, 4);
		put32(&r, 4);
		goto send;
	}
	if (m == M_GETPORT) {
		const unsigned char *a = p;

		if (prog != 100000 || vers != 2 || proc != 3 || get32(&a) != 100005 ||
		    get32(&a) != 3 || get32(&a) != 6) {
			put32(&r, 4);           /* GARBAGE_ARGS */
			goto send;
		}
		put32(&r, 0);
		put32(&r, 20048);
		goto send;
	}
	if (m == M_COMPOUND_OK || m == M_COMPOUND_NOENT) {
		if (prog != 100003 || vers != 4 || proc != 1 || flavor != 1 ||
		    !compound_ok(p, call + len)) {
			put32(&r, 4);
			goto send;
		}
		put32(&r, 0);
		put32(&r, m == M_COMPOUND_OK ? 0 : 2);
		put32(&r, 0);               /* empty tag */
		if (m == M_COMPOUND_OK) {
			put32(&r, 4);
			put32(&r, 24), put32(&r, 0);
			put32(&r, 15), put32(&r, 0);
			put32(&r, 15), put32(&r, 0);
			put32(&r, 10), put32(&r, 0), put32(&r, 4), put32(&r, 0xabcdef01);
		} else {
			put32(&r, 3);           /* PUTROOTFH ok, LOOKUP srv ok, LOOKUP nfs NOENT */
			put32(&r, 24), put32(&r, 0);
			put32(&r, 15), put32(&r, 0);
			put32(&r, 15), put32(&r, 2);
		}
		goto send;
	}
	/* NULL */
	put32(&r, prog == 100003 && vers == 4 && proc == 0 && flavor == 0 ? 0 : 4);
send:
	if (m == M_SPLIT) {
		/* The header in one fragment, the accept_stat in a second, later. */
		size_t body = (size_t)(r - (reply + 4));
		unsigned char m1[4], m2[4];
		uint32_t a = htonl((uint32_t)(body - 4)), b = htonl(0x80000000U | 4);

		memcpy(m1, &a, 4);
		memcpy(m2, &b, 4);
		write_full(fd, m1, 4);
		write_full(fd, reply + 4, body - 4);
		usleep(200 * 1000);
		write_full(fd, m2, 4);
		write_full(fd, reply + 4 + body - 4, 4);
	} else {
		unsigned char *q = reply;

		put32(&q, 0x80000000U | (uint32_t)(r - (reply + 4)));
		write_full(fd, reply, (size_t)(r - reply));
	}
	/* Let the client read before the connection goes. */
	usleep(100 * 1000);
	_exit(0);
}

static struct fake
fake_start(enum mode m)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct fake f;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	f.port = ntohs(sa.sin_port);
	f.pid = fork();
	assert_true(f.pid >= 0);
	if (f.pid == 0)
		serve(lfd, m);
	close(lfd);
	return f;
}

static void
fake_end(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
}

/* NULL calls: the data of each case and what rpc_null must say. */
static const struct {
	const char *name;
	enum mode mode;
	uint32_t vers;
	int rc;
	enum rpc_outcome outcome;
	const char *why;         /* a part of the message, or NULL */
} null_cases[] = {
	{"answered", M_SUCCESS, 4, 0, RPC_SUCCESS, NULL},
	{"reply in two fragments", M_SPLIT, 4, 0, RPC_SUCCESS, NULL},
	{"version not served", M_MISMATCH, 3, -1, RPC_ERROR,
	    "program 100003 version 3 is not served (it serves versions 4 to 4)"},
	{"program not served", M_PROG_UNAVAIL, 4, -1, RPC_ERROR, "PROG_UNAVAIL"},
	{"credentials refused", M_AUTH_ERROR, 4, -1, RPC_ERROR, "AUTH_ERROR"},
	{"silence", M_SILENT, 4, -1, RPC_NO_ANSWER, "no reply in time"},
	{"closed at once", M_CLOSE, 4, -1, RPC_NO_ANSWER, "closed the connection"},
	{"another call's xid", M_WRONG_XID, 4, -1, RPC_NO_ANSWER, "wrong xid"},
	{"a web server", M_HTTP, 4, -1, RPC_NO_ANSWER, "not an RPC server"},
};

static void
test_null_calls(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(null_cases) / sizeof(null_cases[0]); i++) {
		struct fake f = fake_start(null_cases[i].mode);
		struct rpc_reply r;
		char why[256] = "";
		long long t0 = mono_ms();
		int rc = rpc_null("127.0.0.1", f.port, RPC_PROG_NFS, null_cases[i].vers, 1500, &r, why,
		    sizeof(why));

		fake_end(&f);
		print_message("case %s: rc %d outcome %d why \"%s\"\n", null_cases[i].name, rc,
		    r.outcome, why);
		assert_int_equal(rc, null_cases[i].rc);
		assert_int_equal(r.outcome, null_cases[i].outcome);
		if (null_cases[i].why != NULL)
			assert_non_null(strstr(why, null_cases[i].why));
		/* Silence is cut at the deadline, not by the server going away. */
		assert_true(mono_ms() - t0 < 5000);
		rpc_reply_free(&r);
	}
}

static void
test_refused_port(void **state)
{
	struct fake f = fake_start(M_CLOSE);
	char why[256] = "";
	(void)state;

	/* A port nobody listens on any more. */
	fake_end(&f);
	usleep(50 * 1000);
	assert_int_equal(rpc_null("127.0.0.1", f.port, RPC_PROG_NFS, 4, 1000, NULL, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "Connection refused"));
	assert_int_equal(rpc_null("nfs.example.com", 2049, RPC_PROG_NFS, 4, 1000, NULL, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "not an IP address"));
}

static void
test_getport(void **state)
{
	struct fake f = fake_start(M_GETPORT);
	char why[256] = "";
	int port = -1;
	(void)state;

	assert_int_equal(rpc_getport("127.0.0.1", f.port, RPC_PROG_MOUNT, 3, 1500, &port, why,
	    sizeof(why)), 0);
	fake_end(&f);
	assert_int_equal(port, 20048);
}

static void
test_nfs4_lookup(void **state)
{
	struct fake f = fake_start(M_COMPOUND_OK);
	char why[256] = "", sb[40];
	uint32_t st = 99;
	(void)state;

	assert_int_equal(rpc_nfs4_lookup("127.0.0.1", f.port, "/srv//nfs/", 1500, &st, why,
	    sizeof(why)), 0);
	fake_end(&f);
	assert_int_equal(st, 0);

	f = fake_start(M_COMPOUND_NOENT);
	assert_int_equal(rpc_nfs4_lookup("127.0.0.1", f.port, "/srv/nfs", 1500, &st, why,
	    sizeof(why)), 1);
	fake_end(&f);
	assert_int_equal(st, 2);
	assert_non_null(strstr(why, "LOOKUP of \"nfs\""));
	assert_non_null(strstr(why, "NFS4ERR_NOENT"));
	assert_string_equal(rpc_nfs4_status_name(10013, sb, sizeof(sb)), "NFS4ERR_GRACE");
	assert_string_equal(rpc_nfs4_status_name(4242, sb, sizeof(sb)), "NFSv4 status 4242");

	/* A server that does not speak NFSv4 is no answer to the lookup. */
	f = fake_start(M_SILENT);
	assert_int_equal(rpc_nfs4_lookup("127.0.0.1", f.port, "/srv/nfs", 500, &st, why,
	    sizeof(why)), -1);
	fake_end(&f);
}

/* exportfs -v as nfs-utils prints it: a long path on a line of its own. */
static void
test_exportfs_listing(void **state)
{
	const char *out =
	    "/mnt/nfs      \t10.0.0.0/24(sync,wdelay,hide,no_subtree_check,fsid=1,sec=sys,rw)\n"
	    "/srv/a/very/long/export/path\n"
	    "\t\t10.0.0.0/24(sync,wdelay,hide,no_subtree_check,fsid=2,sec=sys,ro)\n"
	    "/mnt/nfs2\t<world>(sync,fsid=3)\n";
	(void)state;

	assert_true(exports_listed(out, "/mnt/nfs"));
	assert_true(exports_listed(out, "/srv/a/very/long/export/path"));
	assert_true(exports_listed(out, "/mnt/nfs2"));
	/* A prefix of a listed path, or a client, is not an export. */
	assert_false(exports_listed(out, "/mnt"));
	assert_false(exports_listed(out, "/srv/a"));
	assert_false(exports_listed(out, "10.0.0.0/24"));
	assert_false(exports_listed("", "/mnt/nfs"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_calls),
		cmocka_unit_test(test_refused_port),
		cmocka_unit_test(test_getport),
		cmocka_unit_test(test_nfs4_lookup),
		cmocka_unit_test(test_exportfs_listing),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
