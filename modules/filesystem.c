/* filesystem.c: prove the volume's identity and content, fsck, mount, and
 * verify the signature file.  A device holding any data is never formatted. */
#include <stdlib.h>
#include <string.h>

#include "../bootstrap/util.h"
#include "module.h"

enum fs_type { FS_EXT4, FS_XFS };
enum fs_format { FORMAT_NEVER, FORMAT_IF_BLANK };

static const char *const type_names[] = {"ext4", "xfs", NULL};
static const char *const format_names[] = {"never", "if-blank", NULL};
static const char *const fs_keys[] = {
	"device", "mountpoint", "type", "format", "fsck", "options", "signature", "label", NULL,
};

struct fs_cfg {
	char *device; /* NULL: the volume module's device */
	char *mountpoint;
	int type;
	int format;
	bool fsck;
	char **options;
	size_t noptions;
	char *signature;
	char *label;
};

static const char *
check_mount_option(const char *s)
{
	if (*s == '\0')
		return "must not be empty";
	for (const char *p = s; *p; p++)
		if (*p == ',' || *p == ' ' || *p == '\t')
			return "is one option: list options separately, without commas or spaces";
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
	if (c->d->errors > errors) {
		fs_free(f);
		return NULL;
	}
	return f;
}

static int
fs_plan(struct hb_ctx *ctx, void *p)
{
	struct fs_cfg *f = p;
	struct effects *e = ctx->eff;
	const char *dev = f->device ? f->device : ctx_fact(ctx, "volume.device");
	const char *type = type_names[f->type];
	struct buf opts;

	if (dev == NULL)
		dev = "VOLUME_DEVICE";
	eff_describe(e, EK_CHECK, "read %s's first bytes: filesystem type, label, UUID, or blank",
	    dev);
	eff_describe(e, EK_CHECK, "a filesystem other than %s, or unknown data: stop, never format",
	    type);
	if (f->format == FORMAT_IF_BLANK) {
		eff_describe(e, EK_NOTE, "only if the device is provably blank (format=if-blank):");
		if (f->type == FS_EXT4) {
			const char *argv[] = {"mkfs.ext4", "-q", "-L", f->label ? f->label : "haboot",
			    dev, NULL};
			eff_run(e, argv, NULL);
		} else {
			const char *argv[] = {"mkfs.xfs", "-q", "-L", f->label ? f->label : "haboot",
			    dev, NULL};
			eff_run(e, argv, NULL);
		}
	} else {
		eff_describe(e, EK_CHECK, "a blank device: stop (format=never)");
	}
	if (f->fsck) {
		if (f->type == FS_EXT4) {
			const char *argv[] = {"e2fsck", "-p", dev, NULL};
			eff_run(e, argv, NULL);
		} else {
			const char *argv[] = {"xfs_repair", "-n", dev, NULL};
			eff_run(e, argv, NULL);
		}
		eff_describe(e, EK_CHECK, "fsck reports no uncorrected errors, else stop");
	}
	eff_describe(e, EK_NOTE, "if %s is already mounted at %s: keep it; another device there: "
	    "stop", dev, f->mountpoint);
	eff_mkdir(e, f->mountpoint, 0755);
	buf_init(&opts);
	for (size_t i = 0; i < f->noptions; i++)
		buf_printf(&opts, "%s%s", i ? "," : "", f->options[i]);
	if (opts.len) {
		const char *argv[] = {"mount", "-t", type, "-o", opts.data, dev, f->mountpoint, NULL};
		eff_run(e, argv, NULL);
	} else {
		const char *argv[] = {"mount", "-t", type, dev, f->mountpoint, NULL};
		eff_run(e, argv, NULL);
	}
	buf_free(&opts);
	if (f->format == FORMAT_IF_BLANK) {
		char *sig = xasprintf("%s/%s", f->mountpoint, f->signature);

		eff_describe(e, EK_NOTE, "only after a format: create the signature file");
		eff_write_file(e, sig, "", 0, 0644);
		free(sig);
	}
	eff_describe(e, EK_CHECK, "%s/%s exists, else unmount and stop", f->mountpoint, f->signature);
	char *gen = xasprintf("%s/.haboot/generation", f->mountpoint);
	eff_write_file(e, gen, "", 0, 0644);
	eff_describe(e, EK_NOTE, "the generation file records instance %s, counter+1, time; the "
	    "previous holder goes to the report", md_get(ctx->md, "instance-id"));
	free(gen);
	ctx_set_fact(ctx, "filesystem.mountpoint", "%s", f->mountpoint);
	return 0;
}

const struct module module_filesystem = {
	.name = "filesystem",
	.summary = "prove the volume's identity, fsck, mount, verify the signature file",
	.required_default = true,
	.parse = fs_parse,
	.plan = fs_plan,
	.apply = NULL,
	.free = fs_free,
};
