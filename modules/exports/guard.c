/* guard.c: invariant 4, never export a volume without its signature file.
 *
 * The rule, checked right before anything is written or restarted:
 *  - When the filesystem module ran (fact filesystem.mountpoint), that
 *    mountpoint must still be a mount point, its signature file (fact
 *    filesystem.signature, else the exports module's own `signature:` under
 *    the mountpoint) must exist on it now, and every export path must resolve
 *    to a directory on that same filesystem, under the mountpoint.
 *  - When it did not (a manifest with exports alone), the exports module's
 *    `signature: NAME` is required, and every export path must be an existing
 *    directory whose own filesystem holds NAME: in the export directory or in
 *    one of its parents up to that filesystem's root.
 * The file is looked for again here rather than trusted from a fact: the
 * volume can be unmounted between modules. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exports.h"
#include "log.h"

/* realpath into a fresh string, or NULL with errno. */
static char *
resolve(const char *path)
{
	char buf[PATH_MAX];

	if (realpath(path, buf) == NULL)
		return NULL;
	return xstrdup(buf);
}

static bool
is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Is dir a mount point: a different filesystem from its parent's, or "/". */
static bool
is_mount_point(const char *dir, const struct stat *st)
{
	struct stat pst;
	char *parent;
	int rc;

	if (strcmp(dir, "/") == 0)
		return true;
	parent = xasprintf("%s/..", dir);
	rc = stat(parent, &pst);
	free(parent);
	return rc == 0 && (pst.st_dev != st->st_dev || pst.st_ino == st->st_ino);
}

/* Looks for name in dir and its parents while they are on dev.  Returns the
 * path of the file found (caller frees) or NULL; *top is the last directory looked in. */
static char *
find_signature(const char *dir, dev_t dev, const char *name, char **top)
{
	char *cur = xstrdup(dir);
	char *found = NULL;

	for (;;) {
		struct stat st;
		char *cand = xasprintf("%s%s%s", cur, strcmp(cur, "/") ? "/" : "", name);
		char *slash;

		free(*top);
		*top = xstrdup(cur);
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == dev) {
			found = cand;
			break;
		}
		free(cand);
		if (strcmp(cur, "/") == 0)
			break;
		slash = strrchr(cur, '/');
		if (slash == cur)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(cur, &st) < 0 || st.st_dev != dev)
			break;
	}
	free(cur);
	return found;
}

static int
prove_with_mount(struct hb_ctx *ctx, const struct exports_cfg *x, const char *mnt)
{
	const char *sigfact = ctx_fact(ctx, FACT_FS_SIGNATURE);
	char *sig = NULL, *rmnt = NULL;
	struct stat mst, sst;
	int rc = -1;

	if (sigfact != NULL)
		sig = xstrdup(sigfact);
	else if (x->signature != NULL)
		sig = xasprintf("%s/%s", mnt, x->signature);
	else {
		ctx_fail_anywhere(ctx, "no signature file is known for the volume mounted at %s: set "
		    "signature in the filesystem module (or in exports) so haboot can prove "
		    "the volume before exporting it", mnt);
		goto out;
	}
	if ((rmnt = resolve(mnt)) == NULL || stat(rmnt, &mst) < 0 || !S_ISDIR(mst.st_mode)) {
		ctx_fail(ctx, "the volume's mountpoint %s is gone (%s): refusing to export", mnt,
		    rmnt ? "not a directory" : strerror(errno));
		goto out;
	}
	if (!is_mount_point(rmnt, &mst)) {
		ctx_fail(ctx, "%s is no longer a mount point (the volume was unmounted?): "
		    "refusing to export what is under it", mnt);
		goto out;
	}
	if (stat(sig, &sst) < 0 || !S_ISREG(sst.st_mode) || sst.st_dev != mst.st_dev) {
		ctx_fail_anywhere(ctx, "signature file %s is missing from the volume mounted at %s, "
		    "so haboot will not export it (the file says the volume holds this service's "
		    "data).  If the volume mounted there is the service's, check its contents (ls "
		    "%s), create the file (touch %s) and run haboot again; if it is another volume, "
		    "unmount it", sig, mnt, mnt, sig);
		goto out;
	}
	for (size_t i = 0; i < x->nex; i++) {
		const char *p = x->ex[i].path;
		char *rp = resolve(p);
		struct stat pst;

		if (rp == NULL || stat(rp, &pst) < 0 || !S_ISDIR(pst.st_mode)) {
			ctx_fail_anywhere(ctx, "export path %s (manifest line %d) is not a directory on the "
			    "volume: %s", p, x->ex[i].line, rp ? "not a directory" : strerror(errno));
			free(rp);
			goto out;
		}
		if (!is_under(rp, rmnt) || pst.st_dev != mst.st_dev) {
			ctx_fail_anywhere(ctx, "export path %s (manifest line %d) is not on the volume mounted "
			    "at %s: haboot exports only the proven volume", p, x->ex[i].line, mnt);
			free(rp);
			goto out;
		}
		free(rp);
	}
	rc = 0;
out:
	free(sig);
	free(rmnt);
	return rc;
}

static int
prove_without_mount(struct hb_ctx *ctx, const struct exports_cfg *x)
{
	if (x->signature == NULL)
		return ctx_fail_anywhere(ctx, "nothing proves the volume behind %s: no filesystem module ran "
		    "before exports and exports has no signature; add `signature: NAME` to "
		    "exports (a file that must exist on the exported filesystem) or put the "
		    "filesystem module first", x->ex[0].path);
	for (size_t i = 0; i < x->nex; i++) {
		const char *p = x->ex[i].path;
		char *rp = resolve(p), *top = NULL, *found;
		struct stat st;

		if (rp == NULL || stat(rp, &st) < 0 || !S_ISDIR(st.st_mode)) {
			ctx_fail_anywhere(ctx, "export path %s (manifest line %d) is not a directory: %s", p,
			    x->ex[i].line, rp ? "not a directory" : strerror(errno));
			free(rp);
			return -1;
		}
		found = find_signature(rp, st.st_dev, x->signature, &top);
		if (found == NULL) {
			ctx_fail_anywhere(ctx, "signature file %s is not on the filesystem of %s (looked in %s "
			    "and its parents up to %s, that filesystem's root), so haboot will not "
			    "export it.  If that filesystem is the service's volume, check its contents, "
			    "create the file at its root (touch %s/%s) and run haboot again", x->signature,
			    p, rp, top, strcmp(top, "/") ? top : "", x->signature);
			free(rp);
			free(top);
			return -1;
		}
		log_debug(ctx->module, "%s is proven by %s", p, found);
		free(found);
		free(rp);
		free(top);
	}
	return 0;
}

int
exports_prove_volume(struct hb_ctx *ctx, const struct exports_cfg *x)
{
	const char *mnt = ctx_fact(ctx, FACT_FS_MOUNTPOINT);

	return mnt ? prove_with_mount(ctx, x, mnt) : prove_without_mount(ctx, x);
}
