/* exports.c: serve the mounted volume over NFS (kernel nfsd or NFS-Ganesha).
 *
 * haboot owns one file (an /etc/exports.d drop-in, or a ganesha file the main
 * ganesha.conf %includes), rendered deterministically: when it already holds
 * the same bytes, nothing is rewritten or restarted.  Before anything is
 * written, every export path is proven to be on the signed volume
 * (guard.c); after a restart, the server must answer (ready.c).
 * An unchanged file whose server does not answer is restarted, not rewritten:
 * with the server's unit disabled at boot (haboot starts it once the volume
 * is mounted), a rebooted instance is served again and never serves the bare
 * mountpoint a server started before the mount would show. */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "log.h"
#include "module.h"
#include "net.h"

static const char *const server_names[] = {"kernel", "ganesha", NULL};
static const char *const exports_keys[] = {
	"server", "exports", "restart", "stop", "config", "signature", "check", "lease", "grace",
	NULL,
};
static const char *const export_keys[] = {"path", "clients", "options", "fsid", NULL};
static const char *const check_keys[] = {"host", "port", "timeout", "log", NULL};
static const char *const sec_flavors[] = {"sys", "krb5", "krb5i", "krb5p", NULL};

/* exportfs(8) options; "key=" ones take a value. */
static const char *const nfs_options[] = {
	"rw", "ro", "sync", "async", "secure", "insecure", "wdelay", "no_wdelay", "hide",
	"nohide", "crossmnt", "subtree_check", "no_subtree_check", "insecure_locks",
	"secure_locks", "no_auth_nlm", "auth_nlm", "mountpoint", "mp", "nordirplus", "pnfs",
	"no_pnfs", "security_label", "root_squash", "no_root_squash", "all_squash",
	"no_all_squash", "anonuid=", "anongid=", "sec=", "refer=", "replicas=", "mountpoint=",
	"mp=", NULL,
};

/* The value of a "key=" option goes verbatim into the exports file, where a
 * space, comma or parenthesis would end the option list and could grant
 * access to other clients: allow only what real values use. */
static const char *
check_nfs_option_value(const char *key, const char *v)
{
	if (*v == '\0')
		return "needs a value after \"=\"";
	if (!strcmp(key, "anonuid=") || !strcmp(key, "anongid=")) {
		if (strspn(v, "0123456789") != strlen(v) || strlen(v) > 10)
			return "takes a numeric id, like anonuid=65534";
		return NULL;
	}
	if (strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/@+-") !=
	    strlen(v))
		return "has a value with characters exportfs options never hold "
		       "(allowed: letters, digits and . _ : / @ + -)";
	return NULL;
}

/* An export path is written into /etc/exports or a ganesha config block,
 * where these characters end a field or start a comment. */
static const char *
check_export_path(const char *s)
{
	const char *why = check_abs_path(s);

	if (why != NULL)
		return why;
	if (strpbrk(s, "\"'\\;{}()#,") != NULL)
		return "must not contain quotes, backslashes, ';', '{', '}', '(', ')', '#' or ','";
	return NULL;
}

static const char *
check_nfs_option(const char *s)
{
	for (size_t i = 0; nfs_options[i]; i++) {
		size_t n = strlen(nfs_options[i]);

		if (nfs_options[i][n - 1] == '=') {
			if (strncmp(s, nfs_options[i], n) != 0)
				continue;
			return check_nfs_option_value(nfs_options[i], s + n);
		} else if (strcmp(s, nfs_options[i]) == 0) {
			return NULL;
		}
	}
	if (str_starts(s, "fsid="))
		return "fsid is set per export with \"fsid: N\" (haboot sets one by default)";
	return "is not an NFS export option exportfs knows (e.g. rw, ro, sync, no_subtree_check, "
	       "root_squash, sec=sys)";
}

static const char *
check_ip(const char *s)
{
	if (check_ipv4(s) == NULL || check_ipv6(s) == NULL)
		return NULL;
	return "is not an IP address (the check connects to it: 127.0.0.1, ::1, 10.0.0.5)";
}

/* Values exportfs would take but the server would refuse later: say so now. */
static const char *
check_option_value(const char *o)
{
	if (str_starts(o, "sec=")) {
		char *list = xstrdup(o + 4), *save = NULL, *tok;
		const char *why = NULL;

		if (list[strlen(list) - 1] == ':' || list[0] == ':' || strstr(list, "::"))
			why = "takes security flavors separated by \":\", like sec=krb5p:sys";
		for (tok = strtok_r(list, ":", &save); why == NULL && tok;
		     tok = strtok_r(NULL, ":", &save)) {
			bool known = false;

			for (size_t i = 0; sec_flavors[i]; i++)
				known |= strcmp(tok, sec_flavors[i]) == 0;
			if (!known)
				why = "knows the flavors sys, krb5, krb5i and krb5p";
		}
		free(list);
		return why;
	}
	if (str_starts(o, "mountpoint=") || str_starts(o, "mp="))
		return check_abs_path(strchr(o, '=') + 1);
	/* Ids are 32 bits: a larger one would wrap in exportfs and be refused by ganesha. */
	if ((str_starts(o, "anonuid=") || str_starts(o, "anongid=")) &&
	    strtoull(o + strlen("anonuid="), NULL, 10) > 4294967295ULL)
		return "takes an id of at most 4294967295";
	return NULL;
}

static void
exports_free(void *p)
{
	struct exports_cfg *x = p;

	if (x == NULL)
		return;
	for (size_t i = 0; i < x->nex; i++) {
		free(x->ex[i].path);
		cfg_free_list(x->ex[i].clients, x->ex[i].nclients);
		cfg_free_list(x->ex[i].options, x->ex[i].noptions);
	}
	free(x->ex);
	cfg_free_list(x->restart, x->nrestart);
	cfg_free_list(x->stop, x->nstop);
	free(x->config);
	free(x->signature);
	free(x->check_host);
	free(x->check_log);
	free(x);
}

static void
parse_options(struct cfg *c, const struct ynode *n, struct nfs_export *ex, int server)
{
	const struct ynode *on = ymap_get(n, "options");
	char why[160];

	if (cfg_strlist(c, n, "options", false, 0, check_nfs_option, &ex->options,
	    &ex->noptions) != CFG_OK)
		return;
	for (size_t i = 0; i < ex->noptions; i++) {
		const struct ynode *at = on->items[i];
		const char *o = ex->options[i], *bad;

		for (size_t j = 0; j < i; j++)
			if (!strcmp(o, ex->options[j]))
				diag_err(c->d, at, "option \"%s\" is listed twice", o);
		if ((bad = check_option_value(o)) != NULL)
			diag_err(c->d, at, "option \"%s\" %s", o, bad);
		else if (server == SERVER_GANESHA && (bad = exports_ganesha_refuses(o)) != NULL)
			diag_err(c->d, at, "option \"%s\" cannot be honoured by server: ganesha: %s",
			    o, bad);
	}
	if (exports_options_conflict(ex->options, ex->noptions, why, sizeof(why)) != NULL)
		diag_err(c->d, on, "%s", why);
}

/* "clients: 10.0.0.0/16, 10.1.0.0/16" is one string to YAML: say the list
 * that was meant, written out. */
static void
clients_as_list(struct cfg *c, const struct ynode *cl)
{
	struct buf b;
	char *copy = xstrdup(cl->str), *save = NULL;
	bool first = true;

	buf_init(&b);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n > 0 && t[n - 1] == ' ')
			t[--n] = '\0';
		if (n == 0)
			continue;
		buf_printf(&b, "%s%s", first ? "" : ", ", t);
		first = false;
	}
	diag_err(c->d, cl, "clients \"%s\" is one string, not a list: several clients need a "
	    "list, clients: [%s], or one \"- CLIENT\" line each", cl->str, b.data ? b.data : "");
	buf_free(&b);
	free(copy);
}

/* With a filesystem module before this one, each export lies on its volume:
 * said by validate, not found at boot. */
static void
check_under_mountpoint(struct cfg *c, const struct ynode *at, const char *path)
{
	const char *where, *mnt = cfg_fact(c, FACT_FS_MOUNTPOINT, &where);
	size_t n;

	if (mnt == NULL)
		return;
	n = strlen(mnt);
	if (strncmp(path, mnt, n) == 0 && (path[n] == '\0' || path[n] == '/'))
		return;
	diag_err(c->d, at, "export path %s is outside the filesystem module's mountpoint %s (%s): "
	    "haboot exports only the volume it mounted and proved; export %s or a directory "
	    "under it", path, mnt, where, mnt);
}

static void
parse_export(struct cfg *c, const struct ynode *n, struct nfs_export *ex, size_t idx, int server)
{
	const struct ynode *cl;

	ex->fsid = (long long)idx + 1;
	ex->line = n->line;
	if (!cfg_map(c, n, "an export", export_keys))
		return;
	if (cfg_str(c, n, "path", true, check_export_path, &ex->path) == CFG_OK)
		check_under_mountpoint(c, ymap_get(n, "path"), ex->path);
	cl = ymap_get(n, "clients");
	if (cl == NULL)
		cfg_missing(c, n, "an export", "clients", "who may mount, e.g. 10.0.0.0/24 or \"*\"");
	else if (cl->kind == Y_SCALAR && cl->stype == YS_STR && strchr(cl->str, ',') != NULL)
		clients_as_list(c, cl);
	else if (cl->kind == Y_SCALAR) {
		char *s = NULL;

		if (cfg_node_str(c, cl, "clients", check_cidr_or_host, &s) == CFG_OK) {
			ex->clients = xcalloc(2, sizeof(char *));
			ex->clients[0] = s;
			ex->nclients = 1;
		}
	} else {
		cfg_strlist(c, n, "clients", true, 1, check_cidr_or_host, &ex->clients, &ex->nclients);
	}
	parse_options(c, n, ex, server);
	/* ganesha's Export_Id is 16 bits, and 0 is its pseudo root. */
	if (cfg_int(c, n, "fsid", false, 1, 4294967295LL, &ex->fsid) == CFG_OK &&
	    server == SERVER_GANESHA && ex->fsid > 65535)
		diag_err(c->d, ymap_get(n, "fsid"), "fsid %lld is too large for server: ganesha, "
		    "whose Export_Id is 1..65535", ex->fsid);
}

static void
parse_check(struct cfg *c, const struct ynode *n, struct exports_cfg *x)
{
	const struct ynode *chk = ymap_get(n, "check");

	if (chk == NULL || !cfg_map(c, chk, "exports check", check_keys))
		return;
	cfg_str(c, chk, "host", false, check_ip, &x->check_host);
	cfg_int(c, chk, "port", false, 1, 65535, &x->check_port);
	cfg_duration(c, chk, "timeout", false, 1000, 30 * 60 * 1000, &x->check_timeout_ms);
	if (cfg_str(c, chk, "log", false, check_abs_path, &x->check_log) == CFG_OK)
		x->check_log_set = true;
}

/* lease and grace: whole seconds within ganesha's ranges, ganesha only. */
static void
parse_grace(struct cfg *c, const struct ynode *n, struct exports_cfg *x)
{
	const struct ynode *lk = ymap_get(n, "lease"), *gk = ymap_get(n, "grace");
	long long lease = EXPORTS_LEASE_S * 1000LL, grace = EXPORTS_GRACE_S * 1000LL;
	int lrc, grc;

	if (x->server == SERVER_KERNEL) {
		if (lk || gk)
			diag_err(c->d, lk ? lk : gk, "lease and grace are set for server: ganesha; "
			    "for kernel nfsd set lease-time and grace-time in /etc/nfs.conf [nfsd]");
		return;
	}
	lrc = cfg_duration(c, n, "lease", false, 1000, 180 * 1000, &lease);
	grc = cfg_duration(c, n, "grace", false, 0, 180 * 1000, &grace);
	if (lrc == CFG_OK && lease % 1000)
		diag_err(c->d, lk, "lease must be whole seconds (NFS-Ganesha counts in seconds)");
	if (grc == CFG_OK && grace % 1000)
		diag_err(c->d, gk, "grace must be whole seconds (NFS-Ganesha counts in seconds)");
	if (lrc != CFG_BAD && grc != CFG_BAD && grace < lease)
		diag_err(c->d, gk ? gk : lk, "grace (%llds) must be at least lease (%llds): a "
		    "shorter grace ends before every live client has renewed and found out it "
		    "must reclaim", grace / 1000, lease / 1000);
	x->lease_s = lease / 1000;
	x->grace_s = grace / 1000;
}

static void *
exports_parse(struct cfg *c, const struct ynode *n)
{
	struct exports_cfg *x = xcalloc(1, sizeof(*x));
	int errors = c->d->errors;
	const struct ynode *list;

	x->server = SERVER_KERNEL;
	x->check_port = EXPORTS_CHECK_PORT;
	x->check_timeout_ms = EXPORTS_CHECK_TIMEOUT_MS;
	cfg_map(c, n, "exports module", exports_keys);
	cfg_enum(c, n, "server", false, server_names, &x->server);
	list = ymap_get(n, "exports");
	if (list == NULL)
		cfg_missing(c, n, "exports module", "exports",
		    "list what to serve, e.g. [{path: /mnt/nfs, clients: 10.0.0.0/24}]");
	else if (list->kind != Y_SEQ || list->nitems == 0)
		diag_err(c->d, list, "exports must be a non-empty list, not %s",
		    list->kind == Y_SEQ ? "an empty list" : ykind_name(list));
	else {
		x->ex = xcalloc(list->nitems, sizeof(*x->ex));
		x->nex = list->nitems;
		for (size_t i = 0; i < list->nitems; i++)
			parse_export(c, list->items[i], &x->ex[i], i, x->server);
		for (size_t i = 0; i < x->nex; i++)
			for (size_t j = 0; j < i; j++) {
				if (x->ex[i].path && x->ex[j].path && !strcmp(x->ex[i].path, x->ex[j].path))
					diag_err(c->d, list->items[i], "path %s is exported twice: "
					    "list all its clients in one export", x->ex[i].path);
				else if (x->ex[i].fsid == x->ex[j].fsid)
					diag_err(c->d, list->items[i], "fsid %lld is also the fsid of the "
					    "export on line %d: each export needs its own", x->ex[i].fsid,
					    x->ex[j].line);
			}
	}
	cfg_strlist(c, n, "restart", false, 1, check_nonempty, &x->restart, &x->nrestart);
	cfg_strlist(c, n, "stop", false, 1, check_nonempty, &x->stop, &x->nstop);
	cfg_str(c, n, "config", false, check_abs_path, &x->config);
	cfg_str(c, n, "signature", false, check_rel_name, &x->signature);
	parse_check(c, n, x);
	parse_grace(c, n, x);
	if (c->d->errors > errors) {
		exports_free(x);
		return NULL;
	}
	if (x->config == NULL)
		x->config = xstrdup(x->server == SERVER_KERNEL ? "/etc/exports.d/haboot.exports"
		                                               : "/etc/ganesha/haboot.conf");
	if (x->check_host == NULL)
		x->check_host = xstrdup(EXPORTS_CHECK_HOST);
	if (!x->check_log_set && x->server == SERVER_GANESHA)
		x->check_log = xstrdup(EXPORTS_GANESHA_LOG);
	if (x->restart == NULL) {
		const char *unit = x->server == SERVER_KERNEL ? "nfs-server" : "nfs-ganesha";

		x->restart = xcalloc(4, sizeof(char *));
		x->restart[0] = xstrdup("systemctl");
		x->restart[1] = xstrdup("restart");
		x->restart[2] = xstrdup(unit);
		x->nrestart = 3;
	}
	if (x->stop == NULL) {
		const char *unit = x->server == SERVER_KERNEL ? "nfs-server" : "nfs-ganesha";

		x->stop = xcalloc(4, sizeof(char *));
		x->stop[0] = xstrdup("systemctl");
		x->stop[1] = xstrdup("stop");
		x->stop[2] = xstrdup(unit);
		x->nstop = 3;
	}
	return x;
}

static const char *
how_it_ended(const struct exec_result *r, char *out, size_t n)
{
	if (r->timed_out)
		snprintf(out, n, "timed out and was killed");
	else if (r->exited)
		snprintf(out, n, "exited with status %d", r->status);
	else if (r->status > 0)
		snprintf(out, n, "was killed by signal %d", r->status);
	else
		snprintf(out, n, "could not be started (installed, and on PATH?)");
	return out;
}

/* Reads haboot's file: 0 and *exists, or -1 after ctx_fail when the file is not haboot's. */
static int
read_existing(struct hb_ctx *ctx, const char *path, struct buf *have, bool *exists)
{
	*exists = false;
	if (read_file(path, 1024 * 1024, have) < 0) {
		if (errno == ENOENT)
			return 0;
		return ctx_fail(ctx, "cannot read %s: %s", path, strerror(errno));
	}
	*exists = true;
	if (!exports_is_ours(have->data, have->len))
		return ctx_fail(ctx, "%s exists and was not written by haboot (its first line is not "
		    "\"%s\"): haboot never overwrites it; move it away or set config: to another "
		    "path", path, EXPORTS_MARKER);
	return 0;
}

static void
describe_content(struct hb_ctx *ctx, const char *path, const struct buf *content, bool same)
{
	struct buf b;
	const char *p = content->data, *end = p + content->len;

	buf_init(&b);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;

		buf_printf(&b, "\n           | %.*s", (int)(e - p), p);
		p = e + 1;
	}
	eff_describe(ctx->eff, EK_NOTE, "%s %s (%zu bytes):%s", path,
	    same ? "already holds, byte for byte" : "will hold", content->len, b.data);
	buf_free(&b);
}

/* Writes the file and, for the kernel, has exportfs load it. */
static int
write_config(struct hb_ctx *ctx, const struct exports_cfg *x, const struct buf *want)
{
	char *dir = xstrdup(x->config);
	int rc = -1;

	if (eff_mkdir(ctx->eff, dirname(dir), 0755) < 0) {
		ctx_fail(ctx, "cannot create the directory of %s: %s", x->config, strerror(errno));
		goto out;
	}
	if (eff_write_file(ctx->eff, x->config, want->data, want->len, 0644) < 0) {
		ctx_fail(ctx, "cannot write %s: %s", x->config, strerror(errno));
		goto out;
	}
	describe_content(ctx, x->config, want, false);
	if (x->server == SERVER_KERNEL) {
		const char *argv[] = {"exportfs", "-ra", NULL};
		struct exec_result res;
		char how[96];

		if (eff_run(ctx->eff, argv, &res) < 0) {
			char *tail = exec_output_tail(&res.out, 600);

			ctx_fail(ctx, "exportfs -ra %s loading %s: %s", how_it_ended(&res, how,
			    sizeof(how)), x->config, tail);
			free(tail);
			exec_result_free(&res);
			goto out;
		}
		exec_result_free(&res);
	}
	rc = 0;
out:
	free(dir);
	return rc;
}

/* Prepares ganesha's recovery directory and runs the restart command; *said
 * is the end of its output (caller frees), for a later failure message. */
static int
restart_server(struct hb_ctx *ctx, const struct exports_cfg *x, const char *recovery,
    char **said)
{
	struct exec_result res;
	char how[96];
	int rc = -1;

	*said = NULL;
	/* ganesha creates only the last component of RecoveryRoot; 0700 because
	 * the directory is inside the export and holds client identities. */
	if (x->server == SERVER_GANESHA && eff_mkdir(ctx->eff, recovery, 0700) < 0)
		return ctx_fail(ctx, "cannot create NFSv4 recovery directory %s: %s", recovery,
		    strerror(errno));
	if (eff_run(ctx->eff, (const char *const *)x->restart, &res) < 0) {
		char *shown = argv_to_display((const char *const *)x->restart);
		char *tail = exec_output_tail(&res.out, 600);

		ctx_fail(ctx, "restart command `%s` %s: %s", shown, how_it_ended(&res, how,
		    sizeof(how)), tail);
		free(shown);
		free(tail);
		goto out;
	}
	*said = exec_output_tail(&res.out, 600);
	rc = 0;
out:
	exec_result_free(&res);
	return rc;
}

/* After a restart: the server answers, and ganesha logged no configuration error. */
static int
wait_server(struct hb_ctx *ctx, const struct exports_cfg *x, long long log_offset,
    const char *said)
{
	long long left = ctx_time_left(ctx), limit = x->check_timeout_ms;
	char why[160], tbuf[32];
	char *errs;

	if (left < limit)
		limit = left > 1000 ? left : 1000;
	if (exports_wait_ready(ctx->module, x->check_host, (int)x->check_port, limit, why,
	    sizeof(why)) < 0) {
		errs = exports_ganesha_config_errors(x->check_log, log_offset);
		fmt_duration(limit, tbuf, sizeof(tbuf));
		/* A configuration ganesha rejects is rejected on every instance. */
		(errs ? ctx_fail_anywhere : ctx_fail)(ctx, "the NFS server did not answer on %s:%lld within %s after the restart "
		    "(%s); the restart command said: %s%s%s%s%s", x->check_host, x->check_port,
		    tbuf, why, said, errs ? "; " : "", errs ? x->check_log : "",
		    errs ? " says: " : "", errs ? errs : "");
		free(errs);
		return -1;
	}
	if ((errs = exports_ganesha_config_errors(x->check_log, log_offset)) != NULL) {
		ctx_fail_anywhere(ctx, "NFS-Ganesha answers but rejected its configuration, so clients "
		    "would find no export; %s says: %s", x->check_log, errs);
		free(errs);
		return -1;
	}
	return 0;
}

void
exports_view_free(struct exports_view *v)
{
	buf_free(&v->want);
	buf_free(&v->have);
	free(v->recovery);
	memset(v, 0, sizeof(*v));
}

int
exports_observe(struct hb_ctx *ctx, const struct exports_cfg *x, struct exports_view *v)
{
	memset(v, 0, sizeof(*v));
	buf_init(&v->want);
	buf_init(&v->have);
	v->recovery = exports_recovery_root(x, ctx_fact(ctx, FACT_FS_MOUNTPOINT));
	exports_render(x, v->recovery, &v->want);
	if (read_existing(ctx, x->config, &v->have, &v->exists) < 0)
		return -1;
	v->same = v->exists && v->have.len == v->want.len &&
	    memcmp(v->have.data, v->want.data, v->want.len) == 0;
	return 0;
}

static int
exports_plan(struct hb_ctx *ctx, void *p)
{
	struct exports_cfg *x = p;
	struct effects *e = ctx->eff;
	const char *mnt = ctx_fact(ctx, FACT_FS_MOUNTPOINT);
	struct exports_view v;
	char tbuf[32], *said = NULL;
	int rc = -1;

	for (size_t i = 0; i < x->nex; i++) {
		if (mnt)
			eff_describe(e, EK_CHECK, "%s is a directory on the volume mounted at %s, whose "
			    "signature file is there now; else stop", x->ex[i].path, mnt);
		else if (x->signature)
			eff_describe(e, EK_CHECK, "%s is a directory whose filesystem holds %s (in it "
			    "or a parent on the same filesystem); else stop", x->ex[i].path,
			    x->signature);
		else
			eff_describe(e, EK_CHECK, "%s: no filesystem module and no signature: apply "
			    "will refuse to export an unproven volume", x->ex[i].path);
	}
	if (exports_observe(ctx, x, &v) < 0)
		goto out;
	if (v.same) {
		describe_content(ctx, x->config, &v.want, true);
		eff_describe(e, EK_NOTE, "exports unchanged: no rewrite; restart only if the NFS "
		    "server does not answer on %s:%lld", x->check_host, x->check_port);
		rc = 0;
		goto out;
	}
	if (write_config(ctx, x, &v.want) < 0 || restart_server(ctx, x, v.recovery, &said) < 0)
		goto out;
	fmt_duration(x->check_timeout_ms, tbuf, sizeof(tbuf));
	eff_describe(e, EK_WAIT, "until the NFS server answers on %s:%lld (up to %s)",
	    x->check_host, x->check_port, tbuf);
	if (x->check_log)
		eff_describe(e, EK_CHECK, "%s reports no configuration error since the restart",
		    x->check_log);
	rc = 0;
out:
	exports_view_free(&v);
	free(said);
	return rc;
}

/* apply, and repair: prove the volume, write the file if it differs, restart
 * the server when the file changed, when it does not answer, or always
 * (force, a repair), and wait until it answers. */
static int
converge(struct hb_ctx *ctx, struct exports_cfg *x, bool force)
{
	const char *server = x->server == SERVER_KERNEL ? "kernel nfsd" : "NFS-Ganesha";
	struct exports_view v;
	char *said = NULL;
	long long log_offset;
	char why[160];
	int rc = -1;

	memset(&v, 0, sizeof(v));
	if (exports_prove_volume(ctx, x) < 0 || exports_observe(ctx, x, &v) < 0)
		goto out;
	ctx_set_fact(ctx, FACT_EXPORTS_CONFIG, "%s", x->config);
	if (x->server == SERVER_GANESHA)
		ctx_set_fact(ctx, FACT_EXPORTS_RECOVERY, "%s", v.recovery);
	if (v.same && !force) {
		log_info(ctx->module, "exports unchanged: %s already holds them", x->config);
		if (net_probe(x->check_host, (int)x->check_port, 1000, why, sizeof(why)) == 0) {
			ctx_result(ctx, "exports unchanged (%s); %s answers on %s:%lld", x->config,
			    server, x->check_host, x->check_port);
			rc = 0;
			goto out;
		}
		log_warn(ctx->module, "but the NFS server does not answer on %s:%lld (%s): "
		    "restarting it", x->check_host, x->check_port, why);
	} else if (!v.same && write_config(ctx, x, &v.want) < 0) {
		goto out;
	}
	ctx->changed = true;
	log_offset = exports_file_size(x->check_log);
	if (restart_server(ctx, x, v.recovery, &said) < 0 ||
	    wait_server(ctx, x, log_offset, said) < 0)
		goto out;
	if (force)
		ctx_result(ctx, "%s%s restarted; it answers on %s:%lld", v.same ? "" : "rewrote "
		    "the exports, ", server, x->check_host, x->check_port);
	else
		ctx_result(ctx, "%zu export%s of %s served by %s (%s); it answers on %s:%lld",
		    x->nex, x->nex == 1 ? "" : "s", x->ex[0].path, server, x->config, x->check_host,
		    x->check_port);
	rc = 0;
out:
	exports_view_free(&v);
	free(said);
	return rc;
}

static int
exports_apply(struct hb_ctx *ctx, void *p)
{
	return converge(ctx, p, false);
}

/* After a failed check: the volume proven again, the file as the manifest
 * wants it, the server restarted with the manifest's command, as apply does. */
static int
exports_repair(struct hb_ctx *ctx, void *p)
{
	return converge(ctx, p, true);
}

const struct module module_exports = {
	.name = "exports",
	.summary = "export the mounted volume over NFS and restart the server",
	.required_default = true,
	.parse = exports_parse,
	.plan = exports_plan,
	.apply = exports_apply,
	.check = exports_check,
	.repair = exports_repair,
	.release = exports_release,
	.permissions = iam_no_permissions, /* no AWS call */
	.free = exports_free,
};
