/* check.c: the watcher's look at the exports (module.h: check).  In order,
 * cheap and local, reading only:
 *
 *  1. haboot's file still holds what the manifest renders (exports_observe,
 *     the same read plan and apply make): an edited or removed file would
 *     serve something else at the server's next restart;
 *  2. the server answers an RPC: a NULL call (procedure 0) to the NFS
 *     program, 100003, over TCP with record marking, under a deadline, for
 *     each version it serves: 4 for ganesha (haboot's ganesha exports are
 *     NFSv4 only, and ganesha then runs without rpcbind); for kernel nfsd 4
 *     and 3, as it answers (a PROG_MISMATCH names the versions it has).  A
 *     port that accepts a connection does not count: a wedged server still
 *     accepts;
 *  3. for NFSv3, MOUNT (100005 v3) answers too, at the port rpcbind gives:
 *     without it no v3 client can mount;
 *  4. the exports are there: for the kernel, `exportfs -v` lists each path;
 *     for ganesha (no dbus needed) an NFSv4 COMPOUND walks the pseudo
 *     filesystem to each export: PUTROOTFH, LOOKUP of each component, GETFH.
 *     The server refusing this client (NFS4ERR_ACCESS, _PERM, _WRONGSEC)
 *     still proves the export is there.  ganesha hides from a client the
 *     exports it does not serve to it (NFS4ERR_NOENT in the pseudo
 *     filesystem), so NOENT proves the export missing only when the check's
 *     address is among the export's clients; otherwise the check says the
 *     export's presence is not provable from there (add the check's address,
 *     127.0.0.1 by default, to the clients, or set check.host to one).
 * Any of these failing is a failed check, which the watcher may repair by
 * restarting the server (exports.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "log.h"
#include "rpc.h"

/* The most a single RPC may take: a server that does not answer a NULL call
 * within this is not serving clients either. */
#define CALL_LIMIT_MS (10 * 1000)

#define NFS4ERR_PERM 1
#define NFS4ERR_NOENT 2
#define NFS4ERR_ACCESS 13
#define NFS4ERR_DELAY 10008
#define NFS4ERR_GRACE 10013
#define NFS4ERR_WRONGSEC 10016

bool
exports_listed(const char *out, const char *path)
{
	size_t n = strlen(path);

	for (const char *line = out; line && *line; ) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		/* "PATH<tab or spaces>CLIENT(opts)", or PATH alone on its line when long. */
		if (len >= n && memcmp(line, path, n) == 0 &&
		    (len == n || line[n] == ' ' || line[n] == '\t'))
			return true;
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

/* Does client (an address, a CIDR block, "*", or a host name) take in
 * addr?  Host names are never assumed to. */
static bool
client_takes(const char *client, const char *addr)
{
	unsigned char a[16], c[16];
	char net[64];
	const char *slash = strchr(client, '/');
	int af = strchr(addr, ':') ? AF_INET6 : AF_INET, bits, full = af == AF_INET ? 32 : 128;

	if (strcmp(client, "*") == 0)
		return true;
	if (inet_pton(af, addr, a) != 1)
		return false;
	snprintf(net, sizeof(net), "%.*s", slash ? (int)(slash - client) : (int)strlen(client),
	    client);
	if (inet_pton(af, net, c) != 1)
		return false;
	bits = slash ? atoi(slash + 1) : full;
	if (bits < 0 || bits > full)
		return false;
	for (int i = 0; i < bits; i++)
		if ((a[i / 8] ^ c[i / 8]) & (0x80 >> (i % 8)))
			return false;
	return true;
}

static bool
export_serves(const struct nfs_export *ex, const char *addr)
{
	for (size_t i = 0; i < ex->nclients; i++)
		if (client_takes(ex->clients[i], addr))
			return true;
	return false;
}

static long long
call_limit(struct hb_ctx *ctx, const struct exports_cfg *x)
{
	long long t = x->check_timeout_ms < CALL_LIMIT_MS ? x->check_timeout_ms : CALL_LIMIT_MS;
	long long left = ctx_time_left(ctx);

	return left < t ? (left > 500 ? left : 500) : t;
}

/* The NFS versions the server answers NULL for, as a bit set (1 << vers). */
static int
nfs_versions(struct hb_ctx *ctx, const struct exports_cfg *x, struct buf *said)
{
	const char *host = x->check_host;
	int port = (int)x->check_port, served = 0;
	struct rpc_reply r;
	char why[256];

	if (rpc_null(host, port, RPC_PROG_NFS, 4, call_limit(ctx, x), &r, why, sizeof(why)) == 0)
		served |= 1 << 4;
	else if (r.outcome == RPC_NO_ANSWER || x->server == SERVER_GANESHA ||
	    r.accept_stat != 2) {
		buf_printf(said, "NFS NULL call (v4) on %s:%d: %s", host, port, why);
		rpc_reply_free(&r);
		return -1;
	} else if (r.low <= 3 && r.high >= 3)
		served |= 1 << 3;
	rpc_reply_free(&r);
	/* The kernel may serve v3 as well: it needs its own proof. */
	if (x->server == SERVER_KERNEL && !(served & 1 << 3)) {
		if (rpc_null(host, port, RPC_PROG_NFS, 3, call_limit(ctx, x), &r, why,
		    sizeof(why)) == 0)
			served |= 1 << 3;
		else if (r.outcome == RPC_NO_ANSWER) {
			buf_printf(said, "NFS NULL call (v3) on %s:%d: %s", host, port, why);
			rpc_reply_free(&r);
			return -1;
		}
		rpc_reply_free(&r);
	}
	if (served == 0) {
		buf_printf(said, "the NFS server on %s:%d serves neither NFSv3 nor NFSv4", host, port);
		return -1;
	}
	return served;
}

static int
mount_answers(struct hb_ctx *ctx, const struct exports_cfg *x, struct buf *said)
{
	char why[256];
	int port = 0;

	if (rpc_getport(x->check_host, RPC_PORT_RPCBIND, RPC_PROG_MOUNT, 3, call_limit(ctx, x),
	    &port, why, sizeof(why)) < 0) {
		buf_printf(said, "NFSv3 is served, but rpcbind on %s does not answer (%s): v3 "
		    "clients cannot find mountd", x->check_host, why);
		return -1;
	}
	if (port == 0) {
		buf_printf(said, "NFSv3 is served, but MOUNT (100005 v3) is not registered with "
		    "rpcbind on %s: v3 clients cannot mount", x->check_host);
		return -1;
	}
	if (rpc_null(x->check_host, port, RPC_PROG_MOUNT, 3, call_limit(ctx, x), NULL, why,
	    sizeof(why)) < 0) {
		buf_printf(said, "MOUNT NULL call (100005 v3) on %s:%d: %s", x->check_host, port,
		    why);
		return -1;
	}
	return 0;
}

/* Kernel: what exportfs knows (/var/lib/nfs/etab, which nfsd serves from). */
static int
kernel_exports(const struct exports_cfg *x, struct buf *said)
{
	const char *argv[] = {"exportfs", "-v", NULL};
	struct exec_result res;
	int rc = -1;

	if (exec_argv(argv, CALL_LIMIT_MS, &res) < 0) {
		buf_printf(said, "cannot run exportfs -v: %s", strerror(errno));
		return -1;
	}
	if (!res.exited || res.status != 0) {
		buf_printf(said, "exportfs -v failed: %.200s", res.out.data);
		goto out;
	}
	for (size_t i = 0; i < x->nex; i++)
		if (!exports_listed(res.out.data, x->ex[i].path)) {
			buf_printf(said, "%s (manifest line %d) is not exported: exportfs -v does not "
			    "list it", x->ex[i].path, x->ex[i].line);
			goto out;
		}
	rc = 0;
out:
	exec_result_free(&res);
	return rc;
}

/* ganesha: each export path is reachable in the pseudo filesystem. */
static int
ganesha_exports(struct hb_ctx *ctx, const struct exports_cfg *x, struct buf *said,
    struct buf *notes)
{
	char why[320], sb[40];

	for (size_t i = 0; i < x->nex; i++) {
		uint32_t st = 0;
		int r = rpc_nfs4_lookup(x->check_host, (int)x->check_port, x->ex[i].path,
		    call_limit(ctx, x), &st, why, sizeof(why));

		if (r < 0) {
			buf_printf(said, "NFSv4 COMPOUND (PUTROOTFH, LOOKUP %s) on %s:%lld: %s",
			    x->ex[i].path, x->check_host, x->check_port, why);
			return -1;
		}
		if (r == 0)
			continue;
		if (st == NFS4ERR_ACCESS || st == NFS4ERR_PERM || st == NFS4ERR_WRONGSEC ||
		    st == NFS4ERR_GRACE || st == NFS4ERR_DELAY) {
			/* The server knows the path; it refuses this client, or is busy. */
			buf_printf(notes, "; %s is there (%s to the check's address)", x->ex[i].path,
			    rpc_nfs4_status_name(st, sb, sizeof(sb)));
			continue;
		}
		if (st == NFS4ERR_NOENT && !export_serves(&x->ex[i], x->check_host)) {
			buf_printf(notes, "; %s not provable from %s, which is not among its clients",
			    x->ex[i].path, x->check_host);
			continue;
		}
		buf_printf(said, "%s (manifest line %d) is not exported by NFS-Ganesha: %s%s",
		    x->ex[i].path, x->ex[i].line, why, st == NFS4ERR_NOENT ?
		    " (it rejected or never read that EXPORT block)" : "");
		return -1;
	}
	return 0;
}

enum health
exports_check(struct hb_ctx *ctx, void *p)
{
	struct exports_cfg *x = p;
	struct exports_view v;
	struct buf said, notes;
	enum health h = HEALTH_FAILED;
	int served;

	buf_init(&said);
	buf_init(&notes);
	if (exports_observe(ctx, x, &v) < 0)
		goto out;           /* the file is no longer haboot's: ctx_fail said so */
	if (!v.same) {
		ctx_fail(ctx, "%s %s: the server would serve something else at its next restart",
		    x->config, v.exists ? "no longer holds the exports haboot wrote (edited?)" :
		    "is gone");
		goto out;
	}
	if ((served = nfs_versions(ctx, x, &said)) < 0 ||
	    ((served & 1 << 3) && mount_answers(ctx, x, &said) < 0) ||
	    (x->server == SERVER_KERNEL ? kernel_exports(x, &said) :
	     ganesha_exports(ctx, x, &said, &notes)) < 0) {
		ctx_fail(ctx, "%s", said.data);
		goto out;
	}
	ctx_result(ctx, "%s answers NFS%s%s on %s:%lld and serves %zu export%s%s",
	    x->server == SERVER_KERNEL ? "kernel nfsd" : "NFS-Ganesha",
	    served & 1 << 3 ? "v3" : "", served & 1 << 4 ? (served & 1 << 3 ? "/v4" : "v4") : "",
	    x->check_host, x->check_port, x->nex, x->nex == 1 ? "" : "s",
	    notes.data ? notes.data : "");
	h = HEALTH_OK;
out:
	exports_view_free(&v);
	buf_free(&said);
	buf_free(&notes);
	return h;
}
