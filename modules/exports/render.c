/* render.c: the one file haboot owns for the NFS server, rendered the
 * same way by plan and apply, byte for byte the same for the same manifest
 * (no dates, no host names) so an unchanged manifest means no rewrite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"

/* Options that contradict each other when both are given. */
static const char *const opposites[][2] = {
	{"rw", "ro"}, {"sync", "async"}, {"secure", "insecure"},
	{"subtree_check", "no_subtree_check"}, {"wdelay", "no_wdelay"}, {"hide", "nohide"},
	{"root_squash", "no_root_squash"}, {"all_squash", "no_all_squash"},
	{"secure_locks", "insecure_locks"}, {"auth_nlm", "no_auth_nlm"},
	{"secure_locks", "no_auth_nlm"}, {"auth_nlm", "insecure_locks"},
	{"pnfs", "no_pnfs"},
};

/* exportfs options NFS-Ganesha cannot honour, and why.  Options not listed
 * are mapped (rw, ro, squash, anonuid, anongid, sec, secure, insecure) or are
 * what ganesha always does (sync, no_subtree_check, no_wdelay, hide, no_pnfs,
 * mountpoint: haboot itself proves the path is on the mounted volume). */
static const char *const ganesha_refused[][2] = {
	{"async", "NFS-Ganesha always honours the client's stable writes (like sync); remove it"},
	{"subtree_check", "NFS-Ganesha does no subtree checking; use no_subtree_check or nothing"},
	{"wdelay", "NFS-Ganesha does not delay writes to gather them; remove it"},
	{"nohide", "NFS-Ganesha does not show filesystems mounted below an export: export each "
	    "one separately"},
	{"crossmnt", "NFS-Ganesha does not cross into filesystems mounted below an export: export "
	    "each one separately"},
	{"secure_locks", "is about NLM (NFSv3 locking), which haboot's ganesha exports (NFSv4 "
	    "only) do not serve"},
	{"insecure_locks", "is about NLM (NFSv3 locking), which haboot's ganesha exports (NFSv4 "
	    "only) do not serve"},
	{"auth_nlm", "is about NLM (NFSv3 locking), which haboot's ganesha exports (NFSv4 only) "
	    "do not serve"},
	{"no_auth_nlm", "is about NLM (NFSv3 locking), which haboot's ganesha exports (NFSv4 "
	    "only) do not serve"},
	{"nordirplus", "is about NFSv3 READDIRPLUS, which haboot's ganesha exports (NFSv4 only) "
	    "do not serve"},
	{"pnfs", "haboot's ganesha exports do not hand out pNFS layouts"},
	{"security_label", "is a kernel nfsd option NFS-Ganesha has no equivalent for"},
	{"refer=", "NFSv4 referrals are a kernel nfsd option haboot does not map to ganesha"},
	{"replicas=", "NFSv4 replica locations are a kernel nfsd option haboot does not map to "
	    "ganesha"},
	{"mountpoint=", "haboot proves each export is on the mounted volume itself; use "
	    "\"mountpoint\" without a path, or nothing"},
	{"mp=", "haboot proves each export is on the mounted volume itself; use \"mp\" without "
	    "a path, or nothing"},
};

static bool
option_is(const char *opt, const char *name)
{
	size_t n = strlen(name);

	if (name[n - 1] == '=')
		return strncmp(opt, name, n) == 0;
	return strcmp(opt, name) == 0;
}

static bool
has(char *const opts[], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (option_is(opts[i], name))
			return true;
	return false;
}

/* The value of "key=VALUE", or NULL. */
static const char *
value_of(char *const opts[], size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (option_is(opts[i], key))
			return opts[i] + strlen(key);
	return NULL;
}

const char *
exports_ganesha_refuses(const char *opt)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(ganesha_refused); i++)
		if (option_is(opt, ganesha_refused[i][0]))
			return ganesha_refused[i][1];
	return NULL;
}

const char *
exports_options_conflict(char *const opts[], size_t n, char *why, size_t whylen)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(opposites); i++)
		if (has(opts, n, opposites[i][0]) && has(opts, n, opposites[i][1])) {
			snprintf(why, whylen, "options \"%s\" and \"%s\" contradict each other: keep one",
			    opposites[i][0], opposites[i][1]);
			return why;
		}
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(opts[i], '=');

		if (eq == NULL)
			continue;
		for (size_t j = 0; j < i; j++)
			if (strncmp(opts[i], opts[j], (size_t)(eq - opts[i]) + 1) == 0) {
				snprintf(why, whylen, "option \"%.*s\" is given twice (\"%s\" and \"%s\")",
				    (int)(eq - opts[i]), opts[i], opts[j], opts[i]);
				return why;
			}
	}
	return NULL;
}

bool
exports_is_ours(const char *data, size_t len)
{
	size_t m = strlen(EXPORTS_MARKER);

	return len > m && memcmp(data, EXPORTS_MARKER, m) == 0 && data[m] == '\n';
}

char *
exports_recovery_root(const struct exports_cfg *x, const char *mountpoint)
{
	const char *base = mountpoint ? mountpoint : x->ex[0].path;

	return xasprintf("%s%s%s", base, strcmp(base, "/") ? "/" : "", EXPORTS_RECOVERY_DIR);
}

static void
render_kernel(const struct exports_cfg *x, struct buf *out)
{
	buf_adds(out,
	    "# Kernel NFS exports of the shared volume, loaded by `exportfs -ra`.\n"
	    "# fsid is fixed per export so client file handles stay valid when the volume\n"
	    "# moves to another server (without it a handle depends on how this host\n"
	    "# identifies the filesystem: device number or a UUID mountd must find).\n"
	    "# NFSv4 client records stay in /var/lib/nfs on this instance's root disk:\n"
	    "# the server that takes over has none, so clients cannot reclaim their\n"
	    "# opens and locks (held locks are lost).  haboot does not move that state;\n"
	    "# server: ganesha keeps it on the volume.\n");
	for (size_t i = 0; i < x->nex; i++) {
		const struct nfs_export *ex = &x->ex[i];
		/* Written out so exportfs does not warn about its default. */
		bool add_nsc = !has(ex->options, ex->noptions, "subtree_check") &&
		    !has(ex->options, ex->noptions, "no_subtree_check");

		buf_adds(out, ex->path);
		for (size_t c = 0; c < ex->nclients; c++) {
			buf_printf(out, " %s(", ex->clients[c]);
			for (size_t o = 0; o < ex->noptions; o++)
				buf_printf(out, "%s,", ex->options[o]);
			if (add_nsc)
				buf_adds(out, "no_subtree_check,");
			buf_printf(out, "fsid=%lld)", ex->fsid);
		}
		buf_addc(out, '\n');
	}
}

static void
render_ganesha_export(const struct nfs_export *ex, struct buf *out)
{
	char *const *o = ex->options;
	size_t n = ex->noptions;
	const char *sec = value_of(o, n, "sec=");
	const char *squash = "Root_Squash"; /* exportfs's default */

	if (has(o, n, "all_squash"))
		squash = "All_Squash";
	else if (has(o, n, "no_root_squash"))
		squash = "No_Root_Squash";
	buf_printf(out,
	    "EXPORT {\n"
	    "\tExport_Id = %lld;\n"
	    "\tPath = \"%s\";\n"
	    "\tPseudo = \"%s\";\n"
	    "\tFilesystem_id = %lld.%lld;\n"
	    "\tProtocols = 4;\n"
	    "\tTransports = TCP;\n"
	    "\t# Clients not listed in CLIENT below get nothing.\n"
	    "\tAccess_Type = None;\n"
	    "\tSquash = Root_Squash;\n"
	    "\tFSAL {\n"
	    "\t\tName = VFS;\n"
	    "\t}\n"
	    "\tCLIENT {\n"
	    "\t\tClients = ",
	    ex->fsid, ex->path, ex->path, ex->fsid, ex->fsid);
	for (size_t c = 0; c < ex->nclients; c++)
		buf_printf(out, "%s%s", c ? ", " : "", ex->clients[c]);
	buf_printf(out, ";\n\t\tProtocols = 4;\n\t\tAccess_Type = %s;\n\t\tSquash = %s;\n",
	    has(o, n, "rw") ? "RW" : "RO", squash); /* exportfs's default is ro */
	buf_adds(out, "\t\tSecType = ");
	if (sec == NULL)
		buf_adds(out, "sys");
	for (const char *p = sec; p && *p; p++)
		buf_adds(out, *p == ':' ? ", " : (char[]){*p, '\0'});
	buf_adds(out, ";\n");
	if (value_of(o, n, "anonuid="))
		buf_printf(out, "\t\tAnonymous_Uid = %s;\n", value_of(o, n, "anonuid="));
	if (value_of(o, n, "anongid="))
		buf_printf(out, "\t\tAnonymous_Gid = %s;\n", value_of(o, n, "anongid="));
	if (has(o, n, "secure"))
		buf_adds(out, "\t\tPrivilegedPort = true;\n");
	else if (has(o, n, "insecure"))
		buf_adds(out, "\t\tPrivilegedPort = false;\n");
	buf_adds(out, "\t}\n}\n");
}

static void
render_ganesha(const struct exports_cfg *x, const char *recovery, struct buf *out)
{
	buf_printf(out,
	    "# NFS-Ganesha exports of the shared volume, for the main configuration to\n"
	    "# include with: %%include \"%s\"\n"
	    "# The main configuration keeps NFS_CORE_PARAM (port, bind address,\n"
	    "# protocols; Enable_NLM = false) and no NFSv4 block: the one below is haboot's.\n"
	    "\n", x->config);
	/* Why grace is what it is: README, "NFS grace".  Ganesha's source says
	 * when it ends early: src/SAL/nfs4_recovery.c, nfs_try_lift_grace(). */
	buf_adds(out,
	    "# NFSv4 client records are kept on the shared volume so that clients can\n"
	    "# reclaim their opens and locks from the server that takes the volume over.\n"
	    "# Grace outlasts one lease so every live client notices the new server and\n"
	    "# reclaims in time.  Ganesha ends it early once every recorded client has\n"
	    "# sent RECLAIM_COMPLETE (NFSv4.1 and later), if NLM is off; with no record,\n"
	    "# at once.  An NFSv4.0 client, or one that is gone, means the full grace.\n");
	buf_printf(out,
	    "NFSv4 {\n"
	    "\tRecoveryBackend = fs;\n"
	    "\tRecoveryRoot = \"%s\";\n"
	    "\tLease_Lifetime = %lld;\n"
	    "\tGrace_Period = %lld;\n"
	    "}\n",
	    recovery, x->lease_s, x->grace_s);
	buf_adds(out,
	    "\n"
	    "# Export_Id and Filesystem_id are fixed per export (fsid) so client file\n"
	    "# handles stay valid on the server that takes the volume over.\n");
	for (size_t i = 0; i < x->nex; i++) {
		buf_addc(out, '\n');
		render_ganesha_export(&x->ex[i], out);
	}
}

void
exports_render(const struct exports_cfg *x, const char *recovery, struct buf *out)
{
	buf_adds(out, EXPORTS_MARKER "\n");
	if (x->server == SERVER_KERNEL)
		render_kernel(x, out);
	else
		render_ganesha(x, recovery, out);
}
