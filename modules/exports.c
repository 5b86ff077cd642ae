/* exports.c: serve the mounted volume over NFS (kernel nfsd or NFS-Ganesha). */
#include <stdlib.h>
#include <string.h>

#include "../bootstrap/util.h"
#include "module.h"

enum server { SERVER_KERNEL, SERVER_GANESHA };

static const char *const server_names[] = {"kernel", "ganesha", NULL};
static const char *const exports_keys[] = {"server", "exports", "restart", "config", NULL};
static const char *const export_keys[] = {"path", "clients", "options", "fsid", NULL};

/* exportfs(8) options; "key=" ones take a value. */
static const char *const nfs_options[] = {
	"rw", "ro", "sync", "async", "secure", "insecure", "wdelay", "no_wdelay", "hide",
	"nohide", "crossmnt", "subtree_check", "no_subtree_check", "insecure_locks",
	"secure_locks", "no_auth_nlm", "auth_nlm", "mountpoint", "mp", "nordirplus", "pnfs",
	"no_pnfs", "security_label", "root_squash", "no_root_squash", "all_squash",
	"no_all_squash", "anonuid=", "anongid=", "sec=", "refer=", "replicas=", "mountpoint=",
	"mp=", NULL,
};

struct export {
	char *path;
	char **clients;
	size_t nclients;
	char **options;
	size_t noptions;
	long long fsid;
};

struct exports_cfg {
	int server;
	struct export *ex;
	size_t nex;
	char **restart;
	size_t nrestart;
	char *config;
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
	free(x->config);
	free(x);
}

static void
parse_export(struct cfg *c, const struct ynode *n, struct export *ex, size_t idx)
{
	const struct ynode *cl;

	ex->fsid = (long long)idx + 1;
	if (!cfg_map(c, n, "an export", export_keys))
		return;
	cfg_str(c, n, "path", true, check_export_path, &ex->path);
	cl = ymap_get(n, "clients");
	if (cl == NULL)
		cfg_missing(c, n, "an export", "clients", "who may mount, e.g. 10.0.0.0/24 or \"*\"");
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
	cfg_strlist(c, n, "options", false, 0, check_nfs_option, &ex->options, &ex->noptions);
	for (size_t i = 0; i < ex->noptions; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(ex->options[i], ex->options[j]))
				diag_err(c->d, ymap_get(n, "options"), "option \"%s\" is listed twice",
				    ex->options[i]);
	cfg_int(c, n, "fsid", false, 1, 4294967295LL, &ex->fsid);
}

static void *
exports_parse(struct cfg *c, const struct ynode *n)
{
	struct exports_cfg *x = xcalloc(1, sizeof(*x));
	int errors = c->d->errors;
	const struct ynode *list;

	x->server = SERVER_KERNEL;
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
			parse_export(c, list->items[i], &x->ex[i], i);
		for (size_t i = 0; i < x->nex; i++)
			for (size_t j = 0; j < i; j++)
				if (x->ex[i].path && x->ex[j].path && !strcmp(x->ex[i].path, x->ex[j].path))
					diag_err(c->d, list->items[i], "path %s is exported twice: "
					    "list all its clients in one export", x->ex[i].path);
	}
	cfg_strlist(c, n, "restart", false, 1, check_nonempty, &x->restart, &x->nrestart);
	cfg_str(c, n, "config", false, check_abs_path, &x->config);
	if (c->d->errors > errors) {
		exports_free(x);
		return NULL;
	}
	if (x->config == NULL)
		x->config = xstrdup(x->server == SERVER_KERNEL ? "/etc/exports.d/haboot.exports"
		                                               : "/etc/ganesha/haboot.conf");
	if (x->restart == NULL) {
		const char *unit = x->server == SERVER_KERNEL ? "nfs-server" : "nfs-ganesha";

		x->restart = xcalloc(4, sizeof(char *));
		x->restart[0] = xstrdup("systemctl");
		x->restart[1] = xstrdup("restart");
		x->restart[2] = xstrdup(unit);
		x->nrestart = 3;
	}
	return x;
}

static int
exports_plan(struct hb_ctx *ctx, void *p)
{
	struct exports_cfg *x = p;
	struct effects *e = ctx->eff;
	const char *mnt = ctx_fact(ctx, "filesystem.mountpoint");

	for (size_t i = 0; i < x->nex; i++)
		eff_describe(e, EK_CHECK, "%s is on the mounted volume%s%s%s and holds its signature",
		    x->ex[i].path, mnt ? " (" : "", mnt ? mnt : "", mnt ? ")" : "");
	eff_describe(e, EK_NOTE, "if %s already holds these exports: no rewrite, no restart",
	    x->config);
	eff_write_file(e, x->config, "", 0, 0644);
	for (size_t i = 0; i < x->nex; i++) {
		struct buf b;

		buf_init(&b);
		for (size_t j = 0; j < x->ex[i].nclients; j++)
			buf_printf(&b, "%s%s", j ? " " : "", x->ex[i].clients[j]);
		eff_describe(e, EK_NOTE, "export %s to %s, fsid=%lld", x->ex[i].path, b.data,
		    x->ex[i].fsid);
		buf_free(&b);
	}
	if (x->server == SERVER_KERNEL) {
		const char *argv[] = {"exportfs", "-ra", NULL};
		eff_run(e, argv, NULL);
	}
	eff_run(e, (const char *const *)x->restart, NULL);
	eff_describe(e, EK_WAIT, "until the NFS server answers (bounded)");
	return 0;
}

const struct module module_exports = {
	.name = "exports",
	.summary = "export the mounted volume over NFS and restart the server",
	.required_default = true,
	.parse = exports_parse,
	.plan = exports_plan,
	.apply = NULL,
	.free = exports_free,
};
