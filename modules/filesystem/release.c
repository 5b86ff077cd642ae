/* release.c: the filesystem module's part of a release (module.h).
 *
 *  1. sync the filesystem (sync -f: syncfs), once the server above it stopped;
 *  2. mark the generation record released: the next holder then knows the
 *     handoff was planned (filesystem.c says so in its status and record);
 *  3. unmount, plainly.  A busy filesystem is never unmounted lazily or by
 *     force (DESIGN.md 6): the processes holding it are named (holders.c)
 *     and waited for, up to `unmount_wait`.  If they stay, the release mark
 *     is taken back and the release stops here, the volume still mounted;
 *  4. the device must then be free in every mount namespace, or the volume
 *     step would detach a disk something still has mounted.
 * Not mounted any more (a release run again): nothing to do. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backoff.h"
#include "filesystem.h"
#include "holders.h"
#include "log.h"
#include "module.h"
#include "util.h"

#define BUSY_POLL_MS 250
#define BUSY_SAY_MS 5000
#define HOLDERS_NAMED 5

struct rel {
	struct hb_ctx *ctx;
	const struct fs_cfg *f;
	char *mnt;       /* the mountpoint as the kernel names it */
	const char *who; /* the volume id, else the device */
	dev_t dev;       /* the filesystem's device number */
	char *gen;       /* MNT/.haboot/generation */
	char *waited;    /* who we waited for, for the result line */
	struct buf done;
};

static char *
canon(const char *path)
{
	char real[PATH_MAX];

	return realpath(path, real) ? xstrdup(real) : xstrdup(path);
}

static char *
outcome(const struct exec_result *r)
{
	const char *s = r->out.data ? r->out.data : "";
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	if (r->timed_out)
		return xstrdup("timed out");
	return xasprintf("%s %d%s%.*s", r->exited ? "exit" : "signal", r->status, n ? ": " : "",
	    (int)(n > 300 ? 300 : n), s);
}

/* The record with "released" added (mark) or removed.  -1 after ctx_fail. */
static int
mark_released(struct rel *R, bool mark)
{
	struct hb_ctx *ctx = R->ctx;
	const char *me = md_get(ctx->md, "instance-id");
	json_object *rec = NULL, *v, *rel;
	struct buf b;
	char ts[40], *data = NULL;
	int rc = -1;

	buf_init(&b);
	if (read_file(R->gen, 64 * 1024, &b) < 0) {
		if (errno == ENOENT && !mark) {
			rc = 0;
			goto out;
		}
		ctx_fail(ctx, "cannot read the generation record %s: %s; not unmounting a volume "
		    "whose holder is unknown", R->gen, strerror(errno));
		goto out;
	}
	if ((rec = json_tokener_parse(b.data)) == NULL ||
	    !json_object_is_type(rec, json_type_object) ||
	    !json_object_object_get_ex(rec, "instance", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		ctx_fail_anywhere(ctx, "%s is not a haboot generation record: inspect it", R->gen);
		goto out;
	}
	if (me == NULL || strcmp(json_object_get_string(v), me) != 0) {
		ctx_fail(ctx, "%s says %s holds %s, not this instance (%s): not marking a release "
		    "for another holder", R->gen, json_object_get_string(v), R->who,
		    me ? me : "unknown");
		goto out;
	}
	if (mark) {
		fmt_iso8601(wall_ms(), false, ts, sizeof(ts));
		rel = json_object_new_object();
		json_object_object_add(rel, "instance", json_object_new_string(me));
		json_object_object_add(rel, "time", json_object_new_string(ts));
		json_object_object_add(rec, "released", rel);
	} else
		json_object_object_del(rec, "released");
	data = xasprintf("%s\n", json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (eff_write_file(ctx->eff, R->gen, data, strlen(data), 0644) < 0) {
		ctx_fail(ctx, "cannot %s the release in %s: %s", mark ? "record" : "take back",
		    R->gen, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	json_object_put(rec);
	buf_free(&b);
	free(data);
	return rc;
}

/* Waits for the holders of the filesystem to go, up to the module's
 * unmount_wait and the release's time.  true when none is left. */
static bool
wait_holders(struct rel *R, const char *what, struct holders *hs)
{
	struct hb_ctx *ctx = R->ctx;
	long long limit = R->f->unmount_wait_ms, left = ctx_time_left(ctx);
	long long t0 = mono_ms(), next_say = 0;
	char *named = NULL, wait_s[32];

	if (left < limit)
		limit = left;
	fmt_duration(limit, wait_s, sizeof(wait_s));
	for (;;) {
		holders_free(hs);
		holders_find(R->dev, hs);
		if (hs->n == 0)
			break;
		if (mono_ms() >= next_say) {
			free(named);
			named = holders_describe(hs, HOLDERS_NAMED);
			log_warn(ctx->module, "%s %s: held by %s; waiting for them to let go (up to %s, "
			    "never unmounting lazily or by force)", R->mnt, what, named, wait_s);
			if (R->waited == NULL)
				R->waited = xstrdup(named);
			next_say = mono_ms() + BUSY_SAY_MS;
		}
		if (mono_ms() - t0 >= limit)
			break;
		sleep_ms(BUSY_POLL_MS);
	}
	free(named);
	return hs->n == 0;
}

/* One plain umount.  0, or -1 with *o (malloc'd). */
static int
umount_once(struct rel *R, char **o)
{
	const char *argv[] = {"umount", R->mnt, NULL};
	struct exec_result res;
	int rc = eff_run(R->ctx->eff, argv, &res);

	*o = rc < 0 ? outcome(&res) : NULL;
	exec_result_free(&res);
	return rc;
}

/* Unmounts, waiting for the processes that hold it.  -1 after ctx_fail, with
 * the release mark taken back. */
static int
unmount(struct rel *R)
{
	struct hb_ctx *ctx = R->ctx;
	long long t0 = mono_ms(), limit = R->f->unmount_wait_ms, next_say = 0;
	struct holders hs;
	char *o = NULL, *named = NULL, w[32];
	dev_t d;
	int rc = -1;

	memset(&hs, 0, sizeof(hs));
	if (ctx_time_left(ctx) < limit)
		limit = ctx_time_left(ctx);
	fmt_duration(limit, w, sizeof(w));
	for (;;) {
		free(o);
		o = NULL;
		if (umount_once(R, &o) == 0)
			break;
		/* Gone meanwhile (a second release, an operator): done. */
		if (mounted_at("/proc/self/mountinfo", R->mnt, &d, NULL) < 0 || d != R->dev)
			break;
		holders_free(&hs);
		holders_find(R->dev, &hs);
		free(named);
		named = holders_describe(&hs, HOLDERS_NAMED);
		if (strstr(o, "busy") == NULL) {
			ctx_fail(ctx, "umount %s failed (%s); not unmounting it any other way", R->mnt, o);
			goto undo;
		}
		if (mono_ms() - t0 >= limit) {
			ctx_fail(ctx, "%s is busy: %s%s; waited %s (unmount_wait, or what the release "
			    "had left) and it was not unmounted: haboot never unmounts lazily or by "
			    "force, and never detaches a mounted volume. Stop them, then run haboot "
			    "release again", R->mnt, hs.n ? "held by " : "", hs.n ? named :
			    "no process holds it (the kernel does: an NFS server still exporting it, "
			    "a loop device or swap file on it?)", w);
			goto undo;
		}
		if (mono_ms() >= next_say) {
			log_warn(ctx->module, "%s is busy: %s; waiting for it to be let go (up to %s, "
			    "never unmounting lazily or by force)", R->mnt, hs.n ? named :
			    "no process holds it", w);
			if (R->waited == NULL && hs.n)
				R->waited = xstrdup(named);
			next_say = mono_ms() + BUSY_SAY_MS;
		}
		sleep_ms(BUSY_POLL_MS);
	}
	rc = 0;
	goto out;
undo:
	/* The volume stays here: its record must not claim a clean release. */
	{
		char *why = ctx->message ? xstrdup(ctx->message) : NULL;

		if (mark_released(R, false) < 0)
			log_error(ctx->module, "%s still says released: remove \"released\" from it "
			    "by hand", R->gen);
		free(ctx->message);
		ctx->message = why;
	}
out:
	holders_free(&hs);
	free(o);
	free(named);
	return rc;
}

/* Once unmounted here: no other mount namespace may still have it mounted. */
static int
free_everywhere(struct rel *R)
{
	struct holders hs;
	char *named;
	int rc = 0;

	memset(&hs, 0, sizeof(hs));
	if (!wait_holders(R, "is unmounted here but still in use", &hs)) {
		named = holders_describe(&hs, HOLDERS_NAMED);
		rc = ctx_fail(R->ctx, "%s is unmounted here but still held: %s; not detaching a "
		    "volume something still uses: stop them (or unmount it there), then run haboot "
		    "release again", R->who, named);
		free(named);
	}
	holders_free(&hs);
	return rc;
}

int
fs_release(struct hb_ctx *ctx, void *p)
{
	struct fs_cfg *f = p;
	const char *dev = ctx_fact(ctx, FACT_FS_DEVICE);
	const char *argv[] = {"sync", "-f", NULL, NULL};
	struct exec_result res;
	struct rel R;
	struct stat st;
	char *o = NULL, *other = NULL;
	dev_t here;
	bool ro = false;
	int rc = -1;

	memset(&R, 0, sizeof(R));
	memset(&res, 0, sizeof(res));
	R.ctx = ctx;
	R.f = f;
	R.mnt = canon(f->mountpoint);
	R.gen = xasprintf("%s/%s", R.mnt, GEN_FILE);
	R.who = ctx_fact(ctx, FACT_VOLUME_ID) ? ctx_fact(ctx, FACT_VOLUME_ID) :
	    dev ? dev : f->mountpoint;
	buf_init(&R.done);
	if (dev == NULL)
		dev = ctx_fact(ctx, FACT_VOLUME_DEVICE);
	if (dev == NULL)
		dev = f->device;
	if (mounted_at("/proc/self/mountinfo", R.mnt, &here, &ro) < 0) {
		/* Not mounted here: released already, unless the device is elsewhere. */
		if (dev != NULL && stat(dev, &st) == 0 && S_ISBLK(st.st_mode)) {
			R.dev = st.st_rdev;
			if (mounts_of("/proc/self/mountinfo", R.dev, &other) > 0) {
				ctx_fail(ctx, "%s is not mounted at %s but at %s: haboot unmounts only "
				    "what it mounted; unmount it there, then run haboot release again",
				    dev, R.mnt, other);
				goto out;
			}
			if (free_everywhere(&R) < 0)
				goto out;
		}
		ctx_result(ctx, "%s is not mounted at %s: nothing to unmount", R.who, R.mnt);
		rc = 0;
		goto out;
	}
	R.dev = here;
	if (dev != NULL && stat(dev, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev != here) {
		ctx_fail(ctx, "%s holds device %u:%u, not %s (%u:%u): not touching a filesystem "
		    "haboot did not mount", R.mnt, major(here), minor(here), dev,
		    major(st.st_rdev), minor(st.st_rdev));
		goto out;
	}
	/* Everything the server acknowledged is in the page cache or the journal:
	 * write it out before anything else happens to the filesystem. */
	argv[2] = R.mnt;
	if (eff_run(ctx->eff, argv, &res) < 0) {
		o = outcome(&res);
		ctx_fail(ctx, "sync -f %s failed (%s): not unmounting a filesystem that may hold "
		    "unwritten data", R.mnt, o);
		goto out;
	}
	if (ro)
		buf_adds(&R.done, "mounted read-only: no release mark (the next holder will see "
		    "no planned handoff), ");
	else if (mark_released(&R, true) < 0)
		goto out;
	else
		buf_printf(&R.done, "release recorded in %s, ", GEN_FILE);
	if (unmount(&R) < 0)
		goto out;
	ctx->changed = true;
	if (free_everywhere(&R) < 0)
		goto out;
	ctx_result(ctx, "%s: synced, %sunmounted from %s%s%s%s", R.who, R.done.data ? R.done.data :
	    "", R.mnt, R.waited ? " (after waiting for " : "", R.waited ? R.waited : "",
	    R.waited ? ")" : "");
	rc = 0;
out:
	exec_result_free(&res);
	free(o);
	free(other);
	free(R.mnt);
	free(R.gen);
	free(R.waited);
	buf_free(&R.done);
	return rc;
}
