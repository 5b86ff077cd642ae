/* volume.c: take the shared EBS volume over and attach it to this instance.
 * Safety first: an owner EC2 reports running or pending is never force-detached
 * unless takeover=fence stopped it and EC2 reports it stopped. */
#include <stdlib.h>
#include <string.h>

#include "../bootstrap/util.h"
#include "module.h"

enum takeover { TAKEOVER_NEVER, TAKEOVER_IF_OWNER_GONE, TAKEOVER_FENCE };
enum other_az { OTHER_AZ_FAIL, OTHER_AZ_SNAPSHOT };

static const char *const takeover_names[] = {"never", "if-owner-gone", "fence", NULL};
static const char *const other_az_names[] = {"fail", "snapshot", NULL};
static const char *const volume_keys[] = {
	"id", "tags", "device", "timeout", "takeover", "other_az", NULL,
};

struct volume_cfg {
	char *id;
	char **tag_keys, **tag_vals;
	size_t ntags;
	char *device;
	long long timeout_ms;
	int takeover;
	int other_az;
};

static const char *
check_volume_id(const char *s)
{
	size_t n = strlen(s);

	if (!str_starts(s, "vol-") || (n != 12 && n != 21))
		return "is not an EBS volume id (vol- and 8 or 17 hex digits)";
	for (const char *p = s + 4; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return "is not an EBS volume id (vol- and 8 or 17 lowercase hex digits)";
	return NULL;
}

static const char *
check_device(const char *s)
{
	/* The names AttachVolume takes; NVMe names are chosen by the kernel, not by us. */
	if ((str_starts(s, "/dev/sd") && strlen(s) == 8) ||
	    (str_starts(s, "/dev/xvd") && strlen(s) == 9)) {
		char c = s[strlen(s) - 1];

		if (c >= 'b' && c <= 'z')
			return NULL;
	}
	return "must be a device name AttachVolume accepts, /dev/sdf../dev/sdp "
	       "(or /dev/sdb..z, /dev/xvdb..z)";
}

static void
volume_free(void *p)
{
	struct volume_cfg *v = p;

	if (v == NULL)
		return;
	free(v->id);
	cfg_free_list(v->tag_keys, v->ntags);
	cfg_free_list(v->tag_vals, v->ntags);
	free(v->device);
	free(v);
}

static void *
volume_parse(struct cfg *c, const struct ynode *n)
{
	struct volume_cfg *v = xcalloc(1, sizeof(*v));
	int errors = c->d->errors;
	int has_id, has_tags;

	v->timeout_ms = 120 * 1000;
	v->takeover = TAKEOVER_IF_OWNER_GONE;
	v->other_az = OTHER_AZ_FAIL;
	cfg_map(c, n, "volume module", volume_keys);
	has_id = cfg_str(c, n, "id", false, check_volume_id, &v->id);
	has_tags = cfg_strmap(c, n, "tags", false, &v->tag_keys, &v->tag_vals, &v->ntags);
	if (has_id == CFG_ABSENT && has_tags == CFG_ABSENT)
		cfg_missing(c, n, "volume module", "id",
		    "name the volume by \"id: vol-...\" or by \"tags: {Name: ...}\"");
	else if (ymap_get(n, "id") && ymap_get(n, "tags"))
		diag_err(c->d, ymap_get(n, "tags"),
		    "volume module: give the volume by id or by tags, not both: remove one");
	cfg_str(c, n, "device", true, check_device, &v->device);
	cfg_duration(c, n, "timeout", false, 1000, 3600 * 1000, &v->timeout_ms);
	cfg_enum(c, n, "takeover", false, takeover_names, &v->takeover);
	cfg_enum(c, n, "other_az", false, other_az_names, &v->other_az);
	if (c->d->errors > errors) {
		volume_free(v);
		return NULL;
	}
	return v;
}

/* "vol-1" or "tag:Name=nfs-master-volume" for messages. */
static char *
volume_label(const struct volume_cfg *v)
{
	struct buf b;

	buf_init(&b);
	if (v->id)
		buf_adds(&b, v->id);
	else
		for (size_t i = 0; i < v->ntags; i++)
			buf_printf(&b, "%stag:%s=%s", i ? "," : "", v->tag_keys[i], v->tag_vals[i]);
	return buf_steal(&b);
}

static int
volume_plan(struct hb_ctx *ctx, void *p)
{
	struct volume_cfg *v = p;
	struct effects *e = ctx->eff;
	const char *self = md_get(ctx->md, "instance-id");
	const char *az = md_get(ctx->md, "placement/availability-zone");
	char *label = volume_label(v), t[32];

	fmt_duration(v->timeout_ms, t, sizeof(t));
	eff_describe(e, EK_READ, "ec2 DescribeVolumes %s: exactly one volume must match", label);
	eff_describe(e, EK_CHECK, "the volume is not multi-attach and is in this instance's zone %s%s",
	    az ? az : "?", v->other_az == OTHER_AZ_FAIL ? " (other_az=fail: stop if not)" : "");
	if (v->other_az == OTHER_AZ_SNAPSHOT) {
		eff_describe(e, EK_NOTE, "if the volume is in another zone: use its newest completed "
		    "snapshot (the old volume is left alone)");
		eff_aws(e, "ec2", "CreateVolume from that snapshot in this zone, tags copied", NULL, NULL);
		eff_describe(e, EK_WAIT, "until the new volume is available (up to %s)", t);
	}
	eff_describe(e, EK_NOTE, "if attached to %s as %s already: nothing to change", self, v->device);
	switch (v->takeover) {
	case TAKEOVER_NEVER:
		eff_describe(e, EK_CHECK, "if attached to another instance: stop (takeover=never)");
		break;
	case TAKEOVER_IF_OWNER_GONE:
		eff_describe(e, EK_WAIT, "if attached to another instance: up to %s for EC2 to report "
		    "the owner shutting-down/terminated and the volume detached; stop if the owner "
		    "stays running (takeover=if-owner-gone)", t);
		break;
	case TAKEOVER_FENCE:
		eff_describe(e, EK_NOTE, "if attached to another instance that EC2 reports running "
		    "(takeover=fence):");
		eff_aws(e, "ec2", "StopInstances OWNER (Force) to fence it", NULL, NULL);
		eff_describe(e, EK_WAIT, "until EC2 reports OWNER stopped (up to %s)", t);
		eff_aws(e, "ec2", "DetachVolume from OWNER (Force), only once it is stopped", NULL, NULL);
		eff_describe(e, EK_WAIT, "until the volume is available (up to %s)", t);
		break;
	}
	char *attach = xasprintf("AttachVolume %s to %s as %s", label, self, v->device);
	eff_aws(e, "ec2", attach, NULL, NULL);
	free(attach);
	eff_describe(e, EK_WAIT, "until the attachment is attached (up to %s; polled every 0.2s at "
	    "first, backing off; a stuck attaching is detached and retried once)", t);
	eff_describe(e, EK_CHECK, "the block device appears (NVMe: serial holds the volume id; Xen: "
	    "%s is /dev/xvd%s) and its serial matches the volume id",
	    v->device, v->device + strlen(v->device) - 1);
	ctx_set_fact(ctx, "volume.device", "VOLUME_DEVICE");
	eff_describe(e, EK_NOTE, "VOLUME_DEVICE below is the device found for %s", label);
	free(label);
	return 0;
}

const struct module module_volume = {
	.name = "volume",
	.summary = "attach the shared EBS volume, taking it over from a dead owner safely",
	.required_default = true,
	.parse = volume_parse,
	.plan = volume_plan,
	.apply = NULL,
	.free = volume_free,
};
