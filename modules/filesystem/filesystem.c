/* filesystem.c: prove the volume's content, fsck, mount, verify the signature
 * file and record the takeover generation.  A device holding any data is never
 * formatted.
 *
 * apply, in order:
 *  1. the device: the volume module's proven "volume.device", or `device:`;
 *  2. the mount table: already mounted here, go to 6; busy elsewhere, stop;
 *  3. the device's bytes (blkprobe.c): blank, mkfs only with format=if-blank
 *     and only if blkid agrees; the wanted filesystem, go on; anything else, stop;
 *  4. fsck (fsck: true);
 *  5. mount read-only: nothing is written before the signature is proven;
 *  6. the signature, else unmount and stop; then remount read-write;
 *  7. the takeover generation, MOUNT/.haboot/generation.  It is bumped only
 *     when this instance is not already the recorded holder, so a re-run on a
 *     converged instance changes nothing.
 *
 * Steps 1 to 3 (and the signature, when mounted) are read once by fs_observe,
 * which plan, apply and the watcher's check (check.c) share: plan describes
 * what apply decides from the same observation, and check compares it with
 * what apply left. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "filesystem.h"
#include "log.h"
#include "util.h"

static const char *const type_names[] = {"ext4", "xfs", NULL};
static const char *const format_names[] = {"never", "if-blank", NULL};
static const char *const fs_keys[] = {
	"device", "mountpoint", "type", "format", "fsck", "options", "signature", "label",
	"unmount_wait", NULL,
};

/* What plan says these files hold: their bytes (a time, a UUID) are known
 * only when run writes them. */
#define SIG_ABOUT "the volume signature (volume, filesystem type and UUID, time, this instance)"
#define GEN_ABOUT "the takeover generation, JSON (this instance, counter, time, previous holder)"
#define DEFAULT_LABEL "haboot"

static const char *
check_mount_option(const char *s)
{
	if (*s == '\0')
		return "must not be empty";
	for (const char *p = s; *p; p++)
		if (*p == ',' || *p == ' ' || *p == '\t')
			return "is one option: list options separately, without commas or spaces";
	if (strcmp(s, "ro") == 0)
		return "cannot be ro: haboot records the takeover generation on the volume "
		       "(export it read-only instead)";
	return NULL;
}

static const char *
check_label(const char *s)
{
	/* xfs labels hold 12 bytes, ext4 labels 16: the stricter one keeps both safe. */
	if (*s == '\0' || strlen(s) > 12)
		return "must be 1 to 12 characters";
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_'))
			return "may hold only letters, digits, '-' and '_'";
	return NULL;
}

static const char *
check_device_path(const char *s)
{
	return str_starts(s, "/dev/") ? check_abs_path(s) : "must be a device path under /dev";
}

static void
fs_free(void *p)
{
	struct fs_cfg *f = p;

	if (f == NULL)
		return;
	free(f->device);
	free(f->mountpoint);
	cfg_free_list(f->options, f->noptions);
	free(f->signature);
	free(f->label);
	free(f);
}

static void *
fs_parse(struct cfg *c, const struct ynode *n)
{
	struct fs_cfg *f = xcalloc(1, sizeof(*f));
	int errors = c->d->errors;

	f->type = FS_EXT4;
	f->format = FORMAT_NEVER;
	f->fsck = true;
	cfg_map(c, n, "filesystem module", fs_keys);
	cfg_str(c, n, "device", false, check_device_path, &f->device);
	if (cfg_str(c, n, "mountpoint", true, check_abs_path, &f->mountpoint) == CFG_OK &&
	    strcmp(f->mountpoint, "/") == 0)
		diag_err(c->d, ymap_get(n, "mountpoint"), "mountpoint must not be /");
	cfg_enum(c, n, "type", false, type_names, &f->type);
	cfg_enum(c, n, "format", false, format_names, &f->format);
	cfg_bool(c, n, "fsck", false, &f->fsck);
	cfg_strlist(c, n, "options", false, 0, check_mount_option, &f->options, &f->noptions);
	cfg_str(c, n, "signature", true, check_rel_name, &f->signature);
	cfg_str(c, n, "label", false, check_label, &f->label);
	f->unmount_wait_ms = 60 * 1000;
	cfg_duration(c, n, "unmount_wait", false, 0, 60 * 60 * 1000, &f->unmount_wait_ms);
	if (c->d->errors > errors) {
		fs_free(f);
		return NULL;
	}
	/* Modules written after this one check their paths against it (exports). */
	cfg_set_fact(c, FACT_FS_MOUNTPOINT, f->mountpoint, ymap_get(n, "mountpoint"));
	return f;
}

/* ---- small helpers ------------------------------------------------------ */

/* ext4 is asked for, ext2 and ext3 are found: the ext4 driver mounts and
 * e2fsck checks all three, so they are the same family here. */
static bool
type_matches(const char *found, int want)
{
	if (want == FS_XFS)
		return strcmp(found, "xfs") == 0;
	return !strcmp(found, "ext4") || !strcmp(found, "ext3") || !strcmp(found, "ext2");
}

/* The manifest's options joined with commas, with extra appended ("ro"). */
static char *
join_options(const struct fs_cfg *f, const char *extra)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < f->noptions; i++)
		buf_printf(&b, "%s%s", i ? "," : "", f->options[i]);
	if (extra)
		buf_printf(&b, "%s%s", b.len ? "," : "", extra);
	buf_add(&b, "", 0);
	return buf_steal(&b);
}

/* A command's end and the tail of its output, on one line, for an error. */
static char *
outcome(const struct exec_result *r)
{
	struct buf b;
	const char *out = r->out.data ? r->out.data : "";
	size_t len = strlen(out);

	buf_init(&b);
	if (r->timed_out)
		buf_adds(&b, "timed out");
	else if (r->exited)
		buf_printf(&b, "exit %d", r->status);
	else if (r->status)
		buf_printf(&b, "killed by signal %d", r->status);
	else
		buf_adds(&b, "could not be started");
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		len--;
	if (len > 600) {
		out += len - 600;
		len = 600;
	}
	if (len > 0)
		buf_adds(&b, ": ");
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '\n')
			buf_adds(&b, " | ");
		else if (out[i] != '\t' && (unsigned char)out[i] < 0x20)
			continue;
		else
			buf_addc(&b, out[i]);
	}
	return buf_steal(&b);
}

static char *
canon_path(const char *path)
{
	char real[PATH_MAX];

	return realpath(path, real) ? xstrdup(real) : xstrdup(path);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *
unescape(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

static void
mnt_clear(struct mnt_entry *m)
{
	free(m->target);
	free(m->fstype);
	free(m->source);
	memset(m, 0, sizeof(*m));
}

/* Parses one mountinfo line:
 * "36 35 98:0 / /mnt/nfs rw,noatime shared:1 - ext4 /dev/xvdf rw,errors=remount-ro" */
static int
mnt_parse(char *line, struct mnt_entry *m)
{
	char *f[6], *save = NULL, *tok, *fstype = NULL, *source = NULL, *super;
	unsigned maj, min;
	int n = 0;

	memset(m, 0, sizeof(*m));
	for (tok = strtok_r(line, " ", &save); tok && n < 6; tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	if (n < 6)
		return -1;
	/* Optional fields run until a lone "-". */
	while (tok && strcmp(tok, "-") != 0)
		tok = strtok_r(NULL, " ", &save);
	if (tok == NULL || (fstype = strtok_r(NULL, " ", &save)) == NULL ||
	    (source = strtok_r(NULL, " ", &save)) == NULL)
		return -1;
	if (sscanf(f[2], "%u:%u", &maj, &min) != 2)
		return -1;
	m->dev = makedev(maj, min);
	m->target = unescape(f[4]);
	m->fstype = xstrdup(fstype);
	m->source = unescape(source);
	m->ro = strcmp(f[5], "ro") == 0 || str_starts(f[5], "ro,");
	/* The superblock's options: ext4's errors=remount-ro turns these ro (or,
	 * since Linux 6.x, adds emergency_ro) and leaves the mount's own rw. */
	if ((super = strtok_r(NULL, " ", &save)) != NULL) {
		char *opt, *osave = NULL;

		for (opt = strtok_r(super, ",", &osave); opt; opt = strtok_r(NULL, ",", &osave))
			if (strcmp(opt, "ro") == 0 || strcmp(opt, "emergency_ro") == 0)
				m->ro = true;
	}
	return 0;
}

/* Finds what is mounted at mnt (the top of its stack) and, when that is not
 * dev, where else dev is mounted.  Device numbers, not names: /dev/sdf and
 * /dev/xvdf may be the same disk. */
static int
mnt_lookup(const char *mnt, dev_t dev, struct mnt_entry *here, struct mnt_entry *other,
    char **why)
{
	struct buf b;
	char *line, *save = NULL;

	memset(here, 0, sizeof(*here));
	memset(other, 0, sizeof(*other));
	buf_init(&b);
	if (read_file("/proc/self/mountinfo", 16 * 1024 * 1024, &b) < 0) {
		*why = xasprintf("cannot read /proc/self/mountinfo: %s", strerror(errno));
		buf_free(&b);
		return -1;
	}
	for (line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct mnt_entry m;

		if (mnt_parse(line, &m) < 0)
			continue;
		if (strcmp(m.target, mnt) == 0) {
			mnt_clear(here);
			*here = m;
		} else if (m.dev == dev && other->target == NULL)
			*other = m;
		else
			mnt_clear(&m);
	}
	if (here->target != NULL && here->dev == dev)
		mnt_clear(other);
	buf_free(&b);
	return 0;
}

/* ---- the device --------------------------------------------------------- */

static bool
same_node(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && S_ISBLK(sa.st_mode) &&
	    S_ISBLK(sb.st_mode) && sa.st_rdev == sb.st_rdev;
}

/* The volume module hands its device over only after proving it is the
 * volume; `device:` names a disk no volume module manages.  When planning, the
 * volume module's fact is a placeholder until it has run for real. */
int
fs_resolve_device(struct hb_ctx *ctx, const struct fs_cfg *f, bool planning, const char **dev)
{
	const char *vdev = ctx_fact(ctx, FACT_VOLUME_DEVICE);
	const char *vol = ctx_fact(ctx, FACT_VOLUME_ID);

	*dev = NULL;
	if (vdev != NULL && planning && !str_starts(vdev, "/dev/")) {
		*dev = f->device ? f->device : vdev;
		if (f->device)
			eff_describe(ctx->eff, EK_CHECK, "the volume module's device is %s, else "
			    "stop", f->device);
		return 0;
	}
	if (vdev != NULL && f->device != NULL && strcmp(vdev, f->device) != 0 &&
	    !same_node(vdev, f->device))
		return ctx_fail_anywhere(ctx, "device: %s in the manifest is not %s, the device the volume "
		    "module proved to be %s: remove `device:` (the volume module finds the device) "
		    "or correct it", f->device, vdev, vol ? vol : "the volume");
	*dev = vdev ? vdev : f->device;
	if (*dev == NULL)
		return ctx_fail_anywhere(ctx, "no device to mount: no volume module ran before this one and "
		    "the filesystem module has no `device:` (add a volume module, or `device: "
		    "/dev/...` for a disk haboot does not attach)");
	return 0;
}

/* Opens the device to read it.  O_EXCL on a block device fails with EBUSY while
 * the kernel holds it (mounted in any namespace, swap, RAID, device-mapper). */
static int
open_device(struct hb_ctx *ctx, struct fs_run *r, bool exclusive, int *fd)
{
	struct stat st;

	if ((*fd = open(r->dev, O_RDONLY | O_CLOEXEC | (exclusive ? O_EXCL : 0))) < 0) {
		if (errno == EBUSY)
			return ctx_fail(ctx, "%s is in use (mounted in another namespace, an active "
			    "swap area, or held by RAID, LVM or device-mapper): refusing to format or "
			    "mount it", r->who);
		return ctx_fail(ctx, "cannot open %s: %s", r->who, strerror(errno));
	}
	if (fstat(*fd, &st) < 0 || !S_ISBLK(st.st_mode)) {
		close(*fd);
		*fd = -1;
		return ctx_fail(ctx, "%s is not a block device: haboot mounts only block devices",
		    r->who);
	}
	r->rdev = st.st_rdev;
	return 0;
}

/* The one decision: may this content be used, formatted, or neither?
 * Returns 1 to format, 0 to use as it is, -1 (after ctx_fail) to stop. */
static int
decide(struct hb_ctx *ctx, const struct fs_run *r)
{
	char *what = blk_describe(&r->bi);
	int rc = -1;

	switch (r->bi.content) {
	case BLK_BLANK:
		if (r->repairing)
			ctx_fail_anywhere(ctx, "%s is blank now, yet it held the filesystem this "
			    "instance mounted: a repair never formats; find out what wrote over it",
			    r->who);
		else if (r->f->format == FORMAT_IF_BLANK)
			rc = 1;
		else
			ctx_fail_anywhere(ctx, "%s is blank and format=never: refusing to mount an empty volume "
			    "(set format: if-blank to initialise it)", r->who);
		break;
	case BLK_FILESYSTEM:
		if (type_matches(r->bi.type, r->f->type))
			rc = 0;
		else
			ctx_fail_anywhere(ctx, "%s holds %s, not %s: refusing to mount or format it (fix "
			    "`type:` if this is the right volume; haboot never formats a device that "
			    "holds data)", r->who, what, r->type);
		break;
	case BLK_SIGNATURE:
		ctx_fail_anywhere(ctx, "%s holds %s, not a %s filesystem: refusing to mount or format it "
		    "(haboot formats only a provably blank device)", r->who, what, r->type);
		break;
	case BLK_UNKNOWN:
		ctx_fail_anywhere(ctx, "%s is not blank: it holds %s and no filesystem haboot recognises; "
		    "refusing to mount or format it (haboot formats only a device whose first and "
		    "last MiB are all zeros)", r->who, what);
		break;
	}
	free(what);
	return rc;
}

static int
probe(struct hb_ctx *ctx, struct fs_run *r, bool exclusive)
{
	char *why = NULL;
	int fd, rc;

	if (open_device(ctx, r, exclusive, &fd) < 0)
		return -1;
	rc = blk_probe_fd(fd, &r->bi, &why);
	close(fd);
	if (rc < 0) {
		ctx_fail(ctx, "cannot read %s: %s", r->who, why);
		free(why);
	}
	return rc;
}

/* A second opinion before mkfs: blkid -p exits 2 when it finds no signature.
 * Only agreement lets the format go on; a missing blkid leaves haboot's own
 * probe as the proof. Read-only, so not an effect. */
static int
blkid_agrees_blank(struct hb_ctx *ctx, const struct fs_run *r)
{
	const char *argv[] = {"blkid", "-p", r->dev, NULL};
	struct exec_result res;
	char *o;
	int rc = -1;

	if (exec_argv(argv, 30 * 1000, &res) < 0) {
		if (errno == ENOENT) {
			log_info(ctx->module, "blkid is not installed: haboot's own probe (first and "
			    "last MiB all zeros) is the proof that %s is blank", r->dev);
			return 0;
		}
		return ctx_fail(ctx, "cannot run blkid -p %s to confirm it is blank: %s; not "
		    "formatting", r->dev, strerror(errno));
	}
	o = outcome(&res);
	if (res.exited && res.status == 2) {
		log_info(ctx->module, "blkid -p agrees: no signature on %s", r->dev);
		rc = 0;
	} else if (res.exited && res.status == 0)
		ctx_fail_anywhere(ctx, "%s: its first and last MiB are zeros but blkid -p finds a signature "
		    "(%s): not formatting; inspect it with blkid -p %s", r->who, o, r->dev);
	else
		ctx_fail(ctx, "blkid -p %s cannot confirm the device is blank (%s): not formatting",
		    r->dev, o);
	free(o);
	exec_result_free(&res);
	return rc;
}

static int
format(struct hb_ctx *ctx, struct fs_run *r)
{
	const char *label = r->f->label ? r->f->label : DEFAULT_LABEL;
	const char *mkfs = r->f->type == FS_XFS ? "mkfs.xfs" : "mkfs.ext4";
	/* No -f/-F: should anything appear on the device, mkfs refuses too. */
	const char *argv[] = {mkfs, "-q", "-L", label, r->dev, NULL};
	struct exec_result res;
	char *o = NULL, *what = NULL;
	int rc = -1;

	if (blkid_agrees_blank(ctx, r) < 0)
		return -1;
	log_info(ctx->module, "%s is blank (first and last MiB all zeros) and format=if-blank: "
	    "creating %s, label %s", r->who, r->type, label);
	if (eff_run(ctx->eff, argv, &res) < 0) {
		o = outcome(&res);
		ctx_fail(ctx, "%s on %s failed (%s)", mkfs, r->who, o);
		goto out;
	}
	r->formatted = true;
	ctx->changed = true;
	/* Trust the bytes, not mkfs's exit status. */
	if (probe(ctx, r, true) < 0)
		goto out;
	what = blk_describe(&r->bi);
	if (r->bi.content != BLK_FILESYSTEM || !type_matches(r->bi.type, r->f->type)) {
		ctx_fail(ctx, "%s reported success but %s now holds %s: stopping", mkfs, r->who, what);
		goto out;
	}
	buf_printf(&r->done, "formatted the blank device as %s, ", what);
	rc = 0;
out:
	free(o);
	free(what);
	exec_result_free(&res);
	return rc;
}

/* ---- fsck --------------------------------------------------------------- */

/* e2fsck -p: 0 clean, 1 corrected, 2 corrected and a reboot advised (advice
 * for a mounted root filesystem; this one is not mounted yet), 4 and up:
 * errors it will not fix unattended, or it could not check at all. */
static int
fsck_ext(struct hb_ctx *ctx, struct fs_run *r)
{
	const char *argv[] = {"e2fsck", "-p", r->dev, NULL};
	struct exec_result res;
	char *o;
	int rc = -1;

	eff_run(ctx->eff, argv, &res);
	o = outcome(&res);
	if (!res.exited)
		ctx_fail(ctx, "e2fsck -p %s did not finish (%s): nothing mounted", r->dev, o);
	else if (res.status & ~3)
		ctx_fail_anywhere(ctx, "e2fsck -p found errors on %s it will not correct unattended (%s): "
		    "nothing mounted; run e2fsck %s by hand, then run haboot again", r->who, o,
		    r->dev);
	else {
		if (res.status & 2)
			log_warn(ctx->module, "e2fsck corrected errors on %s and advises a reboot; that "
			    "is for a mounted root filesystem, this volume is not mounted yet: going on "
			    "(%s)", r->dev, o);
		else if (res.status & 1)
			log_warn(ctx->module, "e2fsck corrected errors on %s: going on (%s)", r->dev, o);
		if (res.status) {
			ctx->changed = true;
			buf_adds(&r->done, "e2fsck corrected errors, ");
		}
		rc = 0;
	}
	free(o);
	exec_result_free(&res);
	return rc;
}

static int
mount_ro(struct hb_ctx *ctx, struct fs_run *r)
{
	char *opts = join_options(r->f, "ro");
	const char *argv[] = {"mount", "-t", r->type, "-o", opts, r->dev, r->mnt, NULL};
	struct exec_result res;
	char *o = NULL;
	int rc = 0;

	if (eff_run(ctx->eff, argv, &res) < 0) {
		o = outcome(&res);
		rc = ctx_fail(ctx, "cannot mount %s at %s (%s): nothing exported", r->who, r->mnt, o);
	}
	free(o);
	free(opts);
	exec_result_free(&res);
	return rc;
}

static int
umount_mnt(struct hb_ctx *ctx, struct fs_run *r, char **o)
{
	const char *argv[] = {"umount", r->mnt, NULL};
	struct exec_result res;
	int rc;

	rc = eff_run(ctx->eff, argv, &res);
	*o = rc < 0 ? outcome(&res) : NULL;
	exec_result_free(&res);
	return rc;
}

/* xfs_repair -n never writes.  A dirty log (the last owner died with the
 * volume mounted: the usual failover) makes its verdict meaningless, so, as
 * xfs_repair(8) advises, mount once to let xfs replay its log, unmount, and
 * check again. */
static int
fsck_xfs(struct hb_ctx *ctx, struct fs_run *r)
{
	const char *argv[] = {"xfs_repair", "-n", r->dev, NULL};
	struct exec_result res;
	char *o = NULL, *uo = NULL;
	int rc = -1;

	if (eff_run(ctx->eff, argv, &res) == 0) {
		rc = 0;
		goto out;
	}
	if (!res.exited || res.out.data == NULL ||
	    strstr(res.out.data, "metadata changes in a log") == NULL) {
		o = outcome(&res);
		ctx_fail_anywhere(ctx, "xfs_repair -n found problems on %s (%s): nothing mounted; xfs "
		    "replays its log at mount, and these remain: repair with xfs_repair %s by hand",
		    r->who, o, r->dev);
		goto out;
	}
	log_warn(ctx->module, "the xfs log on %s is dirty (its last owner did not unmount it): "
	    "mounting read-only once to replay the log, then checking again", r->dev);
	r->log_dirty = true;
	exec_result_free(&res);
	if (mount_ro(ctx, r) < 0)
		goto out;
	if (umount_mnt(ctx, r, &uo) < 0) {
		ctx_fail(ctx, "cannot unmount %s after replaying its log (%s): unmount it by hand",
		    r->mnt, uo);
		goto out;
	}
	ctx->changed = true;
	buf_adds(&r->done, "replayed the xfs log, ");
	if (eff_run(ctx->eff, argv, &res) < 0) {
		o = outcome(&res);
		ctx_fail_anywhere(ctx, "xfs_repair -n found problems on %s after its log was replayed (%s): "
		    "nothing mounted; repair with xfs_repair %s by hand", r->who, o, r->dev);
		goto out;
	}
	rc = 0;
out:
	free(o);
	free(uo);
	exec_result_free(&res);
	return rc;
}

/* ---- signature and generation -------------------------------------------- */

/* What to do about a missing signature: it marks the volume as this
 * service's, which only a person can say, after looking at the data. */
static char *
signature_remedy(const struct fs_run *r, bool still_mounted)
{
	if (still_mounted)
		return xasprintf("if %s holds this service's data, create the file on it after "
		    "checking: ls %s; touch %s; then run haboot again", r->vol, r->mnt, r->sig);
	return xasprintf("if %s holds this service's data, create the file on it after checking: "
	    "mount %s %s; ls %s; touch %s; umount %s; then run haboot again (format: if-blank "
	    "formats only a volume that is entirely blank)", r->vol, r->dev, r->mnt, r->mnt,
	    r->sig, r->mnt);
}

static int
signature_missing(struct hb_ctx *ctx, struct fs_run *r, const char *why)
{
	char *uo = NULL, *fix = signature_remedy(r, !r->mounted), *what;
	int rc;

	what = xasprintf("the signature file %s is %s on %s%s, so haboot will not serve it (the "
	    "file says the volume holds this service's data)", r->f->signature, why, r->vol,
	    strcmp(r->vol, r->dev) ? " (the volume the volume module attached and proved)" : "");
	if (!r->mounted)
		rc = ctx_fail_anywhere(ctx, "%s; it was mounted at %s before this run, so it stays "
		    "mounted; nothing exported.  To fix: %s", what, r->mnt, fix);
	else if (umount_mnt(ctx, r, &uo) < 0) {
		rc = ctx_fail_anywhere(ctx, "%s; umount failed too (%s): unmount %s by hand; nothing "
		    "exported.  To fix: %s", what, uo, r->mnt, fix);
		free(uo);
	} else {
		/* Mounted read-only to look, and unmounted: the volume is as it was. */
		ctx->changed = r->changed_before_mount;
		rc = ctx_fail_anywhere(ctx, "%s; unmounted, nothing exported.  To fix: %s", what, fix);
	}
	free(what);
	free(fix);
	return rc;
}

static int
check_signature(struct hb_ctx *ctx, struct fs_run *r)
{
	struct stat st;

	if (lstat(r->sig, &st) < 0) {
		if (errno == ENOENT)
			return signature_missing(ctx, r, "missing");
		return ctx_fail(ctx, "cannot check %s on %s: %s", r->sig, r->vol, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return signature_missing(ctx, r, "not a regular file");
	return 0;
}

/* Only on a filesystem this run created: the volume is ours from now on. */
static int
create_signature(struct hb_ctx *ctx, struct fs_run *r)
{
	const char *me = md_get(ctx->md, "instance-id");
	char ts[40], *text, *slash, *dir;
	int rc;

	fmt_iso8601(wall_ms(), false, ts, sizeof(ts));
	text = xasprintf("haboot volume signature\nvolume: %s\nfilesystem: %s %s\n"
	    "created: %s by %s\n", r->vol, r->bi.type, r->bi.uuid, ts, me);
	dir = xstrdup(r->sig);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	rc = eff_mkdir(ctx->eff, dir, 0755);
	if (rc == 0)
		rc = eff_write_file(ctx->eff, r->sig, text, strlen(text), 0644);
	if (rc < 0)
		ctx_fail(ctx, "cannot create the signature %s on %s: %s", r->sig, r->vol,
		    strerror(errno));
	else
		buf_printf(&r->done, "created %s, ", r->f->signature);
	free(dir);
	free(text);
	return rc;
}

/* A generation record as read from the volume; counter 0: none yet.
 * released: its holder released it (release.c) before giving it up. */
struct gen {
	long long counter;
	char *instance, *time, *previous;
	char *released_by, *released_time;
	char *handoff_note;
};

static void
gen_clear(struct gen *g)
{
	free(g->instance);
	free(g->time);
	free(g->previous);
	free(g->released_by);
	free(g->released_time);
	free(g->handoff_note);
	memset(g, 0, sizeof(*g));
}

static char *
jstr(json_object *o, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return xstrdup(json_object_get_string(v));
	return NULL;
}

/* Reads path into g.  A missing file is generation 0; a file that is not a
 * record stops the run rather than restart the count by accident. */
static int
gen_read(struct hb_ctx *ctx, const char *path, struct gen *g)
{
	json_object *o = NULL, *v;
	struct buf b;
	int rc = -1;

	memset(g, 0, sizeof(*g));
	buf_init(&b);
	if (read_file(path, 64 * 1024, &b) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			ctx_fail(ctx, "cannot read the takeover generation %s: %s", path,
			    strerror(errno));
		goto out;
	}
	if ((o = json_tokener_parse(b.data)) == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "counter", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1 || (g->instance = jstr(o, "instance")) == NULL) {
		gen_clear(g);
		ctx_fail_anywhere(ctx, "%s is not a haboot generation record (JSON with instance and counter): "
		    "inspect it; remove it to restart counting at 1", path);
		goto out;
	}
	g->counter = json_object_get_int64(v);
	g->time = jstr(o, "time");
	g->previous = jstr(o, "previous_instance");
	g->handoff_note = jstr(o, "handoff_note");
	if (json_object_object_get_ex(o, "released", &v) && json_object_is_type(v, json_type_object)) {
		g->released_by = jstr(v, "instance");
		g->released_time = jstr(v, "time");
	}
	rc = 0;
out:
	json_object_put(o);
	buf_free(&b);
	return rc;
}

/* MOUNT/.haboot/generation: who holds the volume, since when, and who did
 * before.  Written atomically (temp file, fsync, rename, fsync dir). */
static int
record_generation(struct hb_ctx *ctx, struct fs_run *r)
{
	const char *me = md_get(ctx->md, "instance-id");
	char *path = xasprintf("%s/%s", r->mnt, GEN_FILE);
	char *dir = xasprintf("%s/%s", r->mnt, GEN_DIR);
	json_object *rec = NULL;
	struct gen g;
	long long counter;
	char ts[40], *note = NULL;
	const char *text, *handoff = NULL;
	int rc = -1;

	if (gen_read(ctx, path, &g) < 0)
		goto out;
	/* Converged: this instance already holds the volume.  One it released and
	 * takes back is a takeover like any other: its record must lose the
	 * release mark, or a later crash here would pass for a planned handoff. */
	if (g.instance != NULL && strcmp(g.instance, me) == 0 && g.released_by == NULL) {
		log_info(ctx->module, "%s: generation %lld, held by this instance (%s) since %s; "
		    "previous holder %s", r->vol, g.counter, me, g.time ? g.time : "?",
		    g.previous ? g.previous : "none");
		ctx_set_fact(ctx, FACT_FS_GENERATION, "%lld", g.counter);
		ctx_set_fact(ctx, FACT_FS_PREVIOUS_HOLDER, "%s", g.previous ? g.previous : "none");
		if (g.handoff_note != NULL)
			ctx_set_fact(ctx, FACT_FS_HANDOFF, "%s", g.handoff_note);
		buf_printf(&r->done, "generation %lld held by this instance", g.counter);
		rc = 0;
		goto out;
	}
	counter = g.counter + 1;
	/* Planned: the holder marked it released, and the journal agrees that it
	 * was unmounted (nothing to replay).  Anything else was a crash takeover. */
	if (g.instance != NULL) {
		bool marked = g.released_by != NULL && strcmp(g.released_by, g.instance) == 0;
		bool dirty = r->bi.journal_dirty || r->log_dirty;

		handoff = marked && !dirty ? "planned" : "crash";
		note = marked && !dirty
		    ? xasprintf("planned: %s released it cleanly at %s (no journal replay)",
		          g.instance, g.released_time ? g.released_time : "?")
		    : xasprintf("crash: taken over from %s, which %s", g.instance, marked
		          ? "marked it released, yet its journal needed replay"
		          : dirty ? "did not release it (its journal was replayed)"
		          : "did not release it");
	}
	fmt_iso8601(wall_ms(), false, ts, sizeof(ts));
	rec = json_object_new_object();
	json_object_object_add(rec, "version", json_object_new_int(1));
	json_object_object_add(rec, "volume", json_object_new_string(r->vol));
	json_object_object_add(rec, "instance", json_object_new_string(me));
	json_object_object_add(rec, "counter", json_object_new_int64(counter));
	json_object_object_add(rec, "time", json_object_new_string(ts));
	json_object_object_add(rec, "previous_instance",
	    g.instance ? json_object_new_string(g.instance) : NULL);
	json_object_object_add(rec, "previous_time", g.time ? json_object_new_string(g.time) : NULL);
	json_object_object_add(rec, "handoff", handoff ? json_object_new_string(handoff) : NULL);
	json_object_object_add(rec, "handoff_note", note ? json_object_new_string(note) : NULL);
	text = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	{
		char *data = xasprintf("%s\n", text);
		int w = eff_mkdir(ctx->eff, dir, 0755);

		if (w == 0)
			w = eff_write_file(ctx->eff, path, data, strlen(data), 0644);
		free(data);
		if (w < 0) {
			ctx_fail(ctx, "cannot record the takeover generation %s: %s", path,
			    strerror(errno));
			goto out;
		}
	}
	ctx->changed = true;
	if (g.instance)
		log_info(ctx->module, "%s taken over: generation %lld for %s; previous holder %s "
		    "(generation %lld since %s); handoff %s", r->vol, counter, me, g.instance,
		    g.counter, g.time ? g.time : "?", note);
	else
		log_info(ctx->module, "%s: generation 1 for %s, its first holder", r->vol, me);
	ctx_set_fact(ctx, FACT_FS_GENERATION, "%lld", counter);
	ctx_set_fact(ctx, FACT_FS_PREVIOUS_HOLDER, "%s", g.instance ? g.instance : "none");
	if (g.time)
		ctx_set_fact(ctx, FACT_FS_PREVIOUS_HOLDER_TIME, "%s", g.time);
	ctx_set_fact(ctx, FACT_FS_HANDOFF, "%s", note ? note : "none: the first holder");
	buf_printf(&r->done, "generation %lld (previous holder %s)", counter,
	    g.instance ? g.instance : "none");
	rc = 0;
out:
	json_object_put(rec);
	gen_clear(&g);
	free(note);
	free(path);
	free(dir);
	return rc;
}

/* ---- the observation ---------------------------------------------------- */

void
fs_run_init(struct hb_ctx *ctx, struct fs_run *r, struct fs_cfg *f, const char *dev)
{
	const char *vol = ctx_fact(ctx, FACT_VOLUME_ID);

	memset(r, 0, sizeof(*r));
	r->f = f;
	r->type = type_names[f->type];
	r->dev = dev;
	r->vol = vol ? vol : dev;
	r->who = vol ? xasprintf("%s (%s)", dev, vol) : xstrdup(dev);
	r->mnt = canon_path(f->mountpoint);
	r->sig = xasprintf("%s/%s", r->mnt, f->signature);
	buf_init(&r->done);
}

void
fs_run_free(struct fs_run *r)
{
	free(r->who);
	free(r->mnt);
	free(r->sig);
	buf_free(&r->done);
	memset(r, 0, sizeof(*r));
}

void
fs_view_free(struct fs_view *v)
{
	mnt_clear(&v->here);
	mnt_clear(&v->other);
	memset(v, 0, sizeof(*v));
}

int
fs_observe(struct hb_ctx *ctx, struct fs_run *r, enum fs_observe_depth depth, struct fs_view *v)
{
	struct stat st;
	char *why = NULL;

	memset(v, 0, sizeof(*v));
	/* A device that is not there yet (planned before the volume is
	 * attached) is no error here: apply says so, plan describes both cases. */
	if (stat(r->dev, &st) == 0) {
		if (depth == FSO_ALL) {
			int fd;

			if (open_device(ctx, r, false, &fd) < 0)
				return -1;
			close(fd);
		} else if (!S_ISBLK(st.st_mode))
			return ctx_fail(ctx, "%s is not a block device", r->who);
		else
			r->rdev = st.st_rdev;
		v->dev_present = true;
	} else if (errno != ENOENT)
		return ctx_fail(ctx, "cannot look at %s: %s", r->who, strerror(errno));
	if (mnt_lookup(r->mnt, r->rdev, &v->here, &v->other, &why) < 0) {
		ctx_fail(ctx, "%s", why);
		free(why);
		return -1;
	}
	v->mounted = v->dev_present && v->here.target != NULL && v->here.dev == r->rdev;
	if (depth == FSO_MOUNTS)
		return 0;
	if (v->dev_present) {
		if (probe(ctx, r, false) < 0)
			return -1;
		v->probed = true;
	}
	if (v->mounted) {
		if (lstat(r->sig, &st) < 0)
			v->sig = 0;
		else
			v->sig = S_ISREG(st.st_mode) ? 1 : -1;
	}
	return 0;
}

int
fs_conflicts(struct hb_ctx *ctx, const struct fs_run *r, const struct fs_view *v)
{
	if (v->here.target != NULL && v->here.dev != r->rdev)
		return ctx_fail(ctx, "%s already has %s (%s, device %u:%u) mounted on it, not %s: "
		    "unmount it or choose another mountpoint", r->mnt, v->here.source,
		    v->here.fstype, major(v->here.dev), minor(v->here.dev), r->who);
	if (v->other.target != NULL)
		return ctx_fail(ctx, "%s is already mounted at %s: refusing to mount it at %s as "
		    "well (unmount it there first)", r->who, v->other.target, r->mnt);
	return 0;
}

long long
fs_error_count(dev_t dev, char **first)
{
	char link[64], target[256], path[PATH_MAX];
	const char *name;
	struct buf b;
	ssize_t n;
	long long count = 0;

	*first = NULL;
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
		return 0;
	target[n] = '\0';
	name = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	buf_init(&b);
	snprintf(path, sizeof(path), "/sys/fs/ext4/%s/errors_count", name);
	if (read_file(path, 64, &b) == 0)
		count = strtoll(b.data, NULL, 10);
	buf_reset(&b);
	snprintf(path, sizeof(path), "/sys/fs/ext4/%s/first_error_func", name);
	if (count > 0 && read_file(path, 256, &b) == 0 && b.len > 0) {
		b.data[strcspn(b.data, "\n")] = '\0';
		*first = xasprintf("the first in %s", b.data);
	}
	buf_free(&b);
	return count;
}

/* ---- apply -------------------------------------------------------------- */

/* After mkdir, the kernel's name for the mountpoint (symlinks resolved). */
static void
recanon(struct fs_run *r)
{
	free(r->mnt);
	free(r->sig);
	r->mnt = canon_path(r->f->mountpoint);
	r->sig = xasprintf("%s/%s", r->mnt, r->f->signature);
}

/* Steps 2 to 5: the device is not mounted here yet. */
static int
bring_up(struct hb_ctx *ctx, struct fs_run *r)
{
	struct mnt_entry here, other;
	char *why = NULL;
	int act, rc = -1;

	if (probe(ctx, r, true) < 0)
		return -1;
	if ((act = decide(ctx, r)) < 0)
		return -1;
	if (act == 1) {
		if (format(ctx, r) < 0)
			return -1;
	} else {
		char *what = blk_describe(&r->bi);

		log_info(ctx->module, "%s holds %s%s", r->who, what, r->f->format == FORMAT_IF_BLANK ?
		    ": not blank, so never formatted" : "");
		free(what);
	}
	if (eff_mkdir(ctx->eff, r->f->mountpoint, 0755) < 0)
		return ctx_fail(ctx, "cannot create the mountpoint %s: %s", r->f->mountpoint,
		    strerror(errno));
	recanon(r);
	if (r->f->fsck && r->formatted)
		log_info(ctx->module, "fsck skipped: %s was formatted by this run", r->dev);
	else if (r->f->fsck && (r->f->type == FS_XFS ? fsck_xfs(ctx, r) : fsck_ext(ctx, r)) < 0)
		return -1;
	r->changed_before_mount = ctx->changed;
	if (mount_ro(ctx, r) < 0)
		return -1;
	r->mounted = true;
	r->ro = true;
	ctx->changed = true;
	/* Prove the mount table agrees before trusting anything under the mountpoint. */
	if (mnt_lookup(r->mnt, r->rdev, &here, &other, &why) < 0) {
		ctx_fail(ctx, "%s", why);
		goto out;
	}
	if (here.target == NULL || here.dev != r->rdev) {
		ctx_fail(ctx, "mount reported success but %s is not mounted at %s", r->dev, r->mnt);
		goto out;
	}
	buf_printf(&r->done, "mounted at %s, ", r->mnt);
	rc = 0;
out:
	free(why);
	mnt_clear(&here);
	mnt_clear(&other);
	return rc;
}

/* A filesystem the kernel found errors on (ext4 with errors=remount-ro
 * turned itself read-only) is not remounted read-write: it wants fsck. */
int
fs_remount_rw(struct hb_ctx *ctx, struct fs_run *r)
{
	const char *argv[] = {"mount", "-o", "remount,rw", r->mnt, NULL};
	struct exec_result res;
	char *o, *first = NULL;
	long long errors;
	int rc = 0;

	if ((errors = fs_error_count(r->rdev, &first)) > 0) {
		rc = ctx_fail(ctx, "%s is read-only and the kernel counted %lld error%s on it (%s): "
		    "not remounting it read-write; it wants e2fsck, which a new instance runs at "
		    "boot (or unmount it and run e2fsck %s by hand)", r->mnt, errors,
		    errors == 1 ? "" : "s", first ? first : "see dmesg", r->dev);
		free(first);
		return rc;
	}
	if (eff_run(ctx->eff, argv, &res) < 0) {
		o = outcome(&res);
		rc = ctx_fail(ctx, "cannot remount %s read-write (%s): it stays mounted read-only; "
		    "nothing exported", r->mnt, o);
		free(o);
	} else {
		r->ro = false;
		ctx->changed = true;
	}
	exec_result_free(&res);
	return rc;
}

static void
set_facts(struct hb_ctx *ctx, const struct fs_run *r)
{
	ctx_set_fact(ctx, FACT_FS_MOUNTPOINT, "%s", r->f->mountpoint);
	ctx_set_fact(ctx, FACT_FS_SIGNATURE, "%s", r->sig);
	ctx_set_fact(ctx, FACT_FS_DEVICE, "%s", r->dev);
	ctx_set_fact(ctx, FACT_FS_TYPE, "%s", r->bi.type[0] ? r->bi.type : r->type);
	ctx_set_fact(ctx, FACT_FS_UUID, "%s", r->bi.uuid);
}

int
fs_converge(struct hb_ctx *ctx, struct fs_run *r, struct fs_view *v)
{
	struct fs_cfg *f = r->f;

	if (!v->dev_present)
		return ctx_fail(ctx, "cannot open %s: %s", r->who, strerror(ENOENT));
	if (fs_conflicts(ctx, r, v) < 0)
		return -1;
	if (v->mounted) {
		/* Converged, or an earlier run stopped half way: no fsck, no mount. */
		if (!type_matches(v->here.fstype, f->type))
			return ctx_fail(ctx, "%s is mounted at %s as %s, not %s: fix `type:` or "
			    "unmount it", r->who, r->mnt, v->here.fstype, r->type);
		r->ro = v->here.ro;
		log_info(ctx->module, "%s is already mounted at %s%s: no fsck, no mount", r->who,
		    r->mnt, r->ro ? " (read-only)" : "");
		buf_printf(&r->done, "already mounted at %s, ", r->mnt);
	} else if (bring_up(ctx, r) < 0)
		return -1;
	if (!r->formatted && check_signature(ctx, r) < 0)
		return -1;
	if (r->ro && fs_remount_rw(ctx, r) < 0)
		return -1;
	if (r->formatted && (create_signature(ctx, r) < 0 || check_signature(ctx, r) < 0))
		return -1;
	if (!r->formatted)
		buf_printf(&r->done, "%s present, ", f->signature);
	set_facts(ctx, r);
	if (record_generation(ctx, r) < 0)
		return -1;
	ctx_result(ctx, "%s: %s", r->who, r->done.data);
	return 0;
}

static int
fs_apply(struct hb_ctx *ctx, void *p)
{
	struct fs_cfg *f = p;
	struct fs_run r;
	struct fs_view v;
	const char *dev;
	int rc = -1;

	memset(&v, 0, sizeof(v));
	if (fs_resolve_device(ctx, f, false, &dev) < 0)
		return -1;
	fs_run_init(ctx, &r, f, dev);
	if (md_get(ctx->md, "instance-id") == NULL) {
		ctx_fail(ctx, "this instance's id is unknown (no instance metadata, no --metadata "
		    "instance-id=...): the takeover generation on %s must name its holder", r.vol);
		goto out;
	}
	if (fs_observe(ctx, &r, FSO_ALL, &v) < 0)
		goto out;
	rc = fs_converge(ctx, &r, &v);
out:
	fs_view_free(&v);
	fs_run_free(&r);
	return rc;
}

/* ---- plan --------------------------------------------------------------- */

static void
plan_fsck(struct effects *e, const struct fs_cfg *f, const char *dev)
{
	if (!f->fsck)
		return;
	if (f->type == FS_EXT4) {
		const char *argv[] = {"e2fsck", "-p", dev, NULL};

		eff_run(e, argv, NULL);
		eff_describe(e, EK_CHECK, "e2fsck exits 0 or 1-2 (corrected: warn), else stop");
	} else {
		const char *argv[] = {"xfs_repair", "-n", dev, NULL};

		eff_run(e, argv, NULL);
		eff_describe(e, EK_CHECK, "xfs_repair -n exits 0; a dirty log is replayed by one "
		    "read-only mount and checked again; other problems: stop");
	}
}

static void
plan_mount(struct effects *e, const struct fs_cfg *f, const char *dev)
{
	char *opts = join_options(f, "ro");
	const char *argv[] = {"mount", "-t", type_names[f->type], "-o", opts, dev, f->mountpoint,
	    NULL};

	eff_mkdir(e, f->mountpoint, 0755);
	eff_describe(e, EK_NOTE, "mounted read-only until the signature is proven");
	eff_run(e, argv, NULL);
	free(opts);
}

static int
fs_plan(struct hb_ctx *ctx, void *p)
{
	struct fs_cfg *f = p;
	struct effects *e = ctx->eff;
	const char *dev, *me = md_get(ctx->md, "instance-id");
	const char *type = type_names[f->type];
	char *sig = xasprintf("%s/%s", f->mountpoint, f->signature);
	char *gen = xasprintf("%s/%s", f->mountpoint, GEN_FILE);
	char *gdir = xasprintf("%s/%s", f->mountpoint, GEN_DIR);
	struct fs_run r;
	struct fs_view v;
	char *what = NULL;
	bool known = false, mounted = false;
	int act = -1, rc = -1;

	memset(&v, 0, sizeof(v));
	memset(&r, 0, sizeof(r));
	if (fs_resolve_device(ctx, f, true, &dev) < 0)
		goto done;
	fs_run_init(ctx, &r, f, dev);
	/* A device that is already there is read now (reading changes nothing), so
	 * the plan says what run will really do with it. */
	if (fs_observe(ctx, &r, FSO_ALL, &v) < 0)
		goto out;
	if (v.dev_present) {
		if (fs_conflicts(ctx, &r, &v) < 0)
			goto out;
		mounted = v.mounted;
		known = true;
		what = blk_describe(&r.bi);
		eff_describe(e, EK_READ, "read %s's first and last MiB: it holds %s", r.who, what);
	}
	if (mounted) {
		eff_describe(e, EK_NOTE, "%s is already mounted at %s: no format, no fsck, no mount",
		    dev, f->mountpoint);
		/* Mounted: the signature was looked at. */
		if (v.sig != 1) {
			char *fix = signature_remedy(&r, true);

			ctx_fail(ctx, "the signature file %s is missing on %s, mounted at %s: run will "
			    "stop and export nothing.  To fix: %s", f->signature, r.vol, r.mnt, fix);
			free(fix);
			goto out;
		}
		eff_describe(e, EK_CHECK, "%s exists (it does now)", sig);
		if (v.here.ro) {
			const char *argv[] = {"mount", "-o", "remount,rw", f->mountpoint, NULL};

			eff_run(e, argv, NULL);
		}
	} else {
		bool maybe_format;

		if (known && (act = decide(ctx, &r)) < 0)
			goto out;
		maybe_format = act == 1 || (!known && f->format == FORMAT_IF_BLANK);
		if (!known) {
			eff_describe(e, EK_NOTE, "if %s is already mounted at %s: no format, no fsck, "
			    "no mount; another device there, or %s mounted elsewhere: stop", dev,
			    f->mountpoint, dev);
			eff_describe(e, EK_READ, "read %s's first and last MiB: filesystem type, "
			    "label, UUID, or blank (all zeros)", dev);
			eff_describe(e, EK_CHECK, "a filesystem other than %s, any other signature or "
			    "non-zero data: stop, never format", type);
			if (f->format == FORMAT_NEVER)
				eff_describe(e, EK_CHECK, "a blank device: stop (format=never)");
			else
				eff_describe(e, EK_NOTE, "only if the device is provably blank "
				    "(format=if-blank):");
		}
		if (maybe_format) {
			const char *mkfs = f->type == FS_EXT4 ? "mkfs.ext4" : "mkfs.xfs";
			const char *argv[] = {mkfs, "-q", "-L", f->label ? f->label : DEFAULT_LABEL,
			    dev, NULL};

			eff_describe(e, EK_CHECK, "blkid -p %s finds no signature either", dev);
			eff_run(e, argv, NULL);
			eff_describe(e, EK_CHECK, "%s now holds a filesystem of type %s, read back "
			    "from its bytes", dev, type);
		} else if (act == 0)
			eff_describe(e, EK_NOTE, "%s: never formatted", dev);
		if (act == 1 && f->fsck)
			eff_describe(e, EK_NOTE, "no fsck on a filesystem this run created");
		else if (maybe_format && f->fsck)
			eff_describe(e, EK_NOTE, "unless it was just formatted:");
		if (act != 1)
			plan_fsck(e, f, dev);
		plan_mount(e, f, dev);
		if (act != 1)
			eff_describe(e, EK_CHECK, "%s%s exists, else unmount and stop",
			    maybe_format ? "unless just formatted: " : "", sig);
		{
			const char *argv[] = {"mount", "-o", "remount,rw", f->mountpoint, NULL};

			eff_run(e, argv, NULL);
		}
		if (maybe_format) {
			if (act != 1)
				eff_describe(e, EK_NOTE, "only after a format: create the signature");
			eff_write_file_about(e, sig, NULL, 0, 0644, SIG_ABOUT);
		}
	}
	if (mounted) {
		struct gen g;

		/* Mounted: the record can be read now. */
		if (gen_read(ctx, gen, &g) < 0)
			goto out;
		if (g.instance != NULL && me != NULL && strcmp(g.instance, me) == 0 &&
		    g.released_by == NULL) {
			eff_describe(e, EK_NOTE, "generation %lld is held by %s already: not bumped",
			    g.counter, me);
			gen_clear(&g);
			rc = 0;
			goto out;
		}
		eff_describe(e, EK_NOTE, "takeover generation %lld for %s; previous holder %s",
		    g.counter + 1, me ? me : "this instance", g.instance ? g.instance : "none");
		gen_clear(&g);
	} else
		eff_describe(e, EK_NOTE, "bump the takeover generation unless %s already holds it; "
		    "report the previous holder", me ? me : "this instance");
	eff_mkdir(e, gdir, 0755);
	eff_write_file_about(e, gen, NULL, 0, 0644, GEN_ABOUT);
	rc = 0;
out:
	if (r.f != NULL) {
		ctx_set_fact(ctx, FACT_FS_MOUNTPOINT, "%s", f->mountpoint);
		ctx_set_fact(ctx, FACT_FS_SIGNATURE, "%s", sig);
	}
	fs_run_free(&r);
done:
	free(what);
	fs_view_free(&v);
	free(sig);
	free(gen);
	free(gdir);
	return rc;
}

const struct module module_filesystem = {
	.name = "filesystem",
	.summary = "prove the volume's content, fsck, mount, verify the signature file",
	.required_default = true,
	.parse = fs_parse,
	.plan = fs_plan,
	.apply = fs_apply,
	.release = fs_release,
	.permissions = iam_no_permissions, /* no AWS call */
	.check = fs_check,
	.repair = fs_repair,
	.free = fs_free,
};
