/* check.c: the watcher's check and repair of the filesystem (module.h).
 *
 * check reads the same observation as plan and apply (fs_observe), at the
 * depth that cannot hang on a dead disk (the device node, the mount table),
 * and compares it with what apply left:
 *  - the volume is mounted at the mountpoint, from the same device as at the
 *    first check (device numbers, not names);
 *  - read-write: the mount's options and its superblock's (ext4's
 *    errors=remount-ro leaves the mount rw and turns the superblock ro),
 *    with the kernel's ext4 error count when it is read-only;
 * then, in a child under a deadline (probe.c): the signature is there, and
 * a small write + fsync finishes.  A hung device fails the check and leaves
 * the watcher running.
 *
 * repair, never by formatting, never on another device:
 *  - read-only without errors: remount read-write;
 *  - read-only after errors (the kernel counted them), a hung device, I/O
 *    errors, another device at the mountpoint: nothing here is safe, the
 *    instance is replaced (REPAIR_NEW_INSTANCE) and the new one runs fsck;
 *  - unmounted: mounted again as apply does (fsck, read-only, signature,
 *    read-write), only from the same proven device, never formatted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "filesystem.h"
#include "log.h"
#include "util.h"

/* A small write + fsync on a healthy EBS volume takes milliseconds; one that
 * takes longer than this is a device that hangs. */
#define PROBE_LIMIT_MS (10 * 1000)

/* The device and the run's state for a check or a repair; -1 after ctx_fail. */
static int
begin(struct hb_ctx *ctx, struct fs_cfg *f, struct fs_run *r, struct fs_view *v)
{
	const char *dev;

	memset(r, 0, sizeof(*r));
	memset(v, 0, sizeof(*v));
	if (fs_resolve_device(ctx, f, false, &dev) < 0)
		return -1;
	fs_run_init(ctx, r, f, dev);
	if (fs_observe(ctx, r, FSO_MOUNTS, v) < 0)
		return -1;
	/* What apply left: the first look fixes the device the volume is mounted from. */
	if (f->watch_rdev == 0)
		f->watch_rdev = v->dev_present ? r->rdev : v->here.target ? v->here.dev : 0;
	return 0;
}

static void
end(struct fs_run *r, struct fs_view *v)
{
	fs_view_free(v);
	if (r->f != NULL)
		fs_run_free(r);
}

static char *
majmin(dev_t d)
{
	return xasprintf("%u:%u", major(d), minor(d));
}

/* Read-only: why, with the kernel's error count. */
static enum health
read_only(struct hb_ctx *ctx, const struct fs_run *r)
{
	char *first = NULL;
	long long errors = fs_error_count(r->f->watch_rdev, &first);

	if (errors > 0)
		ctx_fail(ctx, "%s is mounted read-only after %lld filesystem error%s (%s): ext4 "
		    "(errors=remount-ro) protected itself; it wants e2fsck, which a new instance "
		    "runs at boot", r->mnt, errors, errors == 1 ? "" : "s", first ? first : "see dmesg");
	else
		ctx_fail(ctx, "%s is mounted read-only: clients cannot write", r->mnt);
	free(first);
	return HEALTH_FAILED;
}

enum health
fs_check(struct hb_ctx *ctx, void *cfg)
{
	struct fs_cfg *f = cfg;
	struct fs_run r;
	struct fs_view v;
	struct fs_probe p;
	char *dir = NULL, *file = NULL, *a = NULL, *b = NULL, ts[40];
	enum health h = HEALTH_FAILED;
	long long t0;

	if (begin(ctx, f, &r, &v) < 0)
		goto out;
	if (v.here.target == NULL) {
		ctx_fail(ctx, "%s is not mounted at %s any more", r.who, r.mnt);
		goto out;
	}
	if (v.here.dev != f->watch_rdev) {
		ctx_fail(ctx, "%s has %s (%s, device %s) mounted on it, not %s (device %s)", r.mnt,
		    v.here.source, v.here.fstype, a = majmin(v.here.dev), r.who,
		    b = majmin(f->watch_rdev));
		goto out;
	}
	if (v.here.ro) {
		h = read_only(ctx, &r);
		goto out;
	}
	dir = xasprintf("%s/%s", r.mnt, GEN_DIR);
	file = xasprintf("%s/watch-probe", dir);
	t0 = mono_ms();
	fs_probe_run(r.sig, dir, file, PROBE_LIMIT_MS, &p);
	if (p.stuck) {
		fmt_iso8601(p.stuck_since, false, ts, sizeof(ts));
		ctx_fail(ctx, "the write probe started at %s on %s has not come back: the device "
		    "hangs (its process cannot even be killed until the I/O returns)", ts, r.mnt);
	} else if (p.timed_out) {
		fmt_duration(PROBE_LIMIT_MS, ts, sizeof(ts));
		ctx_fail(ctx, "a small write + fsync under %s did not finish within %s: the device "
		    "hangs", r.mnt, ts);
	} else if (p.sig_errno == ENOENT || (p.sig_errno == 0 && !p.sig_regular))
		ctx_fail_anywhere(ctx, "signature file %s %s on the volume mounted at %s: this is "
		    "not the volume haboot proved", r.sig, p.sig_errno ? "is gone" :
		    "is not a regular file", r.mnt);
	else if (p.sig_errno != 0)
		ctx_fail(ctx, "cannot look at the signature %s: %s", r.sig, strerror(p.sig_errno));
	else if (p.write_errno == EROFS)
		h = read_only(ctx, &r);
	else if (p.write_errno == ENOSPC || p.write_errno == EDQUOT)
		ctx_fail_anywhere(ctx, "%s is full: a small write fails (%s); every instance would "
		    "find it full: free space on it or grow the volume", r.mnt,
		    strerror(p.write_errno));
	else if (p.write_errno != 0)
		ctx_fail(ctx, "a small write under %s fails at %s: %s", r.mnt, p.stage,
		    strerror(p.write_errno));
	else {
		ctx_result(ctx, "%s mounted read-write at %s, %s present, write + fsync in %lldms",
		    r.who, r.mnt, f->signature, mono_ms() - t0);
		h = HEALTH_OK;
	}
out:
	free(dir);
	free(file);
	free(a);
	free(b);
	end(&r, &v);
	return h;
}

int
fs_repair(struct hb_ctx *ctx, void *cfg)
{
	struct fs_cfg *f = cfg;
	struct fs_run r;
	struct fs_view v;
	long long since, errors;
	char ts[40], *first = NULL, *a = NULL, *b = NULL;
	int rc = -1;

	if (begin(ctx, f, &r, &v) < 0)
		goto out;
	r.repairing = true;
	if (fs_probe_stuck(&since)) {
		fmt_iso8601(since, false, ts, sizeof(ts));
		ctx_fail(ctx, "the device under %s hangs (a write probe stuck since %s): nothing on "
		    "this instance can help", r.mnt, ts);
		rc = REPAIR_NEW_INSTANCE;
		goto out;
	}
	if (v.here.target != NULL && v.here.dev != f->watch_rdev) {
		ctx_fail(ctx, "%s has %s (device %s) mounted on it, not the volume (device %s): "
		    "haboot never unmounts what it did not mount", r.mnt, v.here.source,
		    a = majmin(v.here.dev), b = majmin(f->watch_rdev));
		rc = REPAIR_NEW_INSTANCE;
		goto out;
	}
	if (v.here.target != NULL) {
		if (!v.here.ro) {
			/* Mounted read-write, yet the probe failed: I/O errors or a
			 * device that hung and came back; fsck at boot is the cure. */
			ctx_fail(ctx, "%s is mounted read-write but failed its write probe: haboot "
			    "does not repair a failing device in place", r.mnt);
			rc = REPAIR_NEW_INSTANCE;
			goto out;
		}
		if ((errors = fs_error_count(f->watch_rdev, &first)) > 0) {
			ctx_fail(ctx, "%s went read-only after %lld filesystem error%s (%s): not "
			    "remounting it read-write; it wants e2fsck, which a new instance runs at "
			    "boot", r.mnt, errors, errors == 1 ? "" : "s", first ? first : "see dmesg");
			rc = REPAIR_NEW_INSTANCE;
			goto out;
		}
		r.rdev = f->watch_rdev;
		r.ro = true;
		if (fs_remount_rw(ctx, &r) == 0) {
			ctx_result(ctx, "remounted %s read-write (the kernel counted no filesystem "
			    "error on it)", r.mnt);
			rc = 0;
		}
		goto out;
	}
	/* Unmounted: mount it again, from the device the volume module proves is
	 * the volume (the watcher checks it afresh first), as apply does. */
	if (!v.dev_present || (f->watch_rdev != 0 && r.rdev != f->watch_rdev)) {
		ctx_fail(ctx, "%s is not mounted and %s is %s: not mounting anything else there",
		    r.mnt, r.dev, v.dev_present ? "another device now" : "gone");
		rc = REPAIR_NEW_INSTANCE;
		goto out;
	}
	fs_view_free(&v);
	if (fs_observe(ctx, &r, FSO_ALL, &v) < 0 || fs_converge(ctx, &r, &v) < 0)
		goto out;
	ctx_result(ctx, "mounted %s at %s again: %s", r.who, r.mnt, r.done.data);
	rc = 0;
out:
	free(first);
	free(a);
	free(b);
	end(&r, &v);
	return rc;
}
