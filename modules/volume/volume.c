/* volume.c: take the shared EBS volume over and attach it to this instance.
 * Safety first: an owner EC2 reports running or pending is never force-detached
 * unless takeover=fence stopped it and EC2 reports it stopped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "aws/aws.h"
#include "aws/xml.h"
#include "awsfail.h"
#include "device.h"
#include "handoff.h"
#include "log.h"
#include "module.h"
#include "poll.h"
#include "util.h"
#include "volume/notice.h"
#include "volume/volume.h"

enum takeover { TAKEOVER_NEVER, TAKEOVER_IF_OWNER_GONE, TAKEOVER_FENCE };
enum other_az { OTHER_AZ_FAIL, OTHER_AZ_SNAPSHOT };

static const char *const takeover_names[] = {"never", "if-owner-gone", "fence", NULL};
static const char *const other_az_names[] = {"fail", "snapshot", NULL};
static const char *const volume_keys[] = {
	"id", "tags", "device", "timeout", "takeover", "other_az", "snapshots", NULL,
};

struct volume_cfg {
	char *id;
	char **tag_keys, **tag_vals;
	size_t ntags;
	char *device;
	long long timeout_ms;
	int takeover;
	int other_az;
	/* Kept between watch rounds (see volume_check). */
	long long api_next;     /* the next DescribeVolumes slot (ctx_api_due) */
	enum health api_health; /* what the last one said */
	bool api_anywhere;
	char *api_msg;
	dev_t watch_rdev;       /* the proven node's device number at the first check */
	struct snap_sched *snapshots; /* snapshot.c: the schedule watch keeps */
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
	free(v->api_msg);
	snap_free(v->snapshots);
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
	v->snapshots = snap_parse(c, ymap_get(n, "snapshots"));
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

static void plan_live(struct hb_ctx *ctx, const struct volume_cfg *c, const char *self,
    const char *az);

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
	if (ctx->aws != NULL && self != NULL)
		plan_live(ctx, v, self, az);
	eff_describe(e, EK_CHECK, "the volume is not multi-attach and is in this instance's zone %s%s",
	    az ? az : "?", v->other_az == OTHER_AZ_FAIL ? " (other_az=fail: stop if not)" : "");
	if (v->other_az == OTHER_AZ_SNAPSHOT) {
		restore_plan(ctx);
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
		eff_describe(e, EK_NOTE, "if attached to another instance that EC2 reports running, "
		    "pending or stopping (takeover=fence):");
		eff_aws(e, "ec2", "StopInstances OWNER (Force) to fence it", NULL, NULL);
		eff_describe(e, EK_WAIT, "until EC2 reports OWNER stopped (up to %s)", t);
		eff_aws(e, "ec2", "DetachVolume from OWNER (Force), only once it is stopped", NULL, NULL);
		eff_describe(e, EK_WAIT, "until the volume is available (up to %s)", t);
		break;
	}
	eff_describe(e, EK_WAIT, "if the owner is releasing the volume (its tag haboot:release "
	    "says until when): wait for its own detach up to that time; never stop or detach it");
	char *attach = xasprintf("AttachVolume %s to %s as %s", label, self, v->device);
	eff_aws(e, "ec2", attach, NULL, NULL);
	free(attach);
	eff_describe(e, EK_WAIT, "until the attachment is attached (up to %s): noticed from the kernel "
	    "(a block device appearing in /dev; on Nitro its NVMe serial is the proof), EC2 asked "
	    "every %ds meanwhile; with device events off, polled every 0.2s at first, backing off; "
	    "a stuck attaching is detached and retried once", t, NOTICE_FALLBACK_MS / 1000);
	eff_describe(e, EK_CHECK, "the block device appears (NVMe: serial holds the volume id; Xen: "
	    "%s is /dev/xvd%s) and its serial matches the volume id",
	    v->device, v->device + strlen(v->device) - 1);
	ctx_set_fact(ctx, FACT_VOLUME_DEVICE, "VOLUME_DEVICE");
	eff_describe(e, EK_NOTE, "VOLUME_DEVICE below is the device found for %s", label);
	snap_plan(ctx, v->snapshots);
	free(label);
	return 0;
}

/* ---- apply ------------------------------------------------------------ */

const char *
or_unknown(const char *s)
{
	return s ? s : "?";
}

void
vol_clear(struct vol *v)
{
	free(v->id);
	free(v->az);
	free(v->status);
	free(v->snapshot);
	free(v->type);
	free(v->iops);
	free(v->throughput);
	free(v->size);
	free(v->kms);
	free(v->att_instance);
	free(v->att_state);
	free(v->att_device);
	cfg_free_list(v->tag_k, v->ntags);
	cfg_free_list(v->tag_v, v->ntags);
	memset(v, 0, sizeof(*v));
}

char *
dup_text(const struct xml_node *n, const char *path)
{
	const char *t = xml_text(n, path);

	return t && *t ? xstrdup(t) : NULL;
}

static void
vol_from_xml(const struct xml_node *item, struct vol *v)
{
	const struct xml_node *set, *a, *t;

	memset(v, 0, sizeof(*v));
	v->id = dup_text(item, "volumeId");
	v->az = dup_text(item, "availabilityZone");
	v->status = dup_text(item, "status");
	v->snapshot = dup_text(item, "snapshotId");
	v->type = dup_text(item, "volumeType");
	v->iops = dup_text(item, "iops");
	v->throughput = dup_text(item, "throughput");
	v->size = dup_text(item, "size");
	v->kms = dup_text(item, "kmsKeyId");
	v->encrypted = xml_text(item, "encrypted") && !strcmp(xml_text(item, "encrypted"), "true");
	v->multi = xml_text(item, "multiAttachEnabled") &&
	    strcmp(xml_text(item, "multiAttachEnabled"), "true") == 0;
	if ((set = xml_child(item, "attachmentSet")) != NULL)
		for (a = xml_next(set, "item", NULL); a; a = xml_next(set, "item", a)) {
			const char *st = xml_text(a, "status");

			/* A detached attachment is history, not an owner. */
			if (st == NULL || strcmp(st, "detached") == 0 || v->att_instance != NULL)
				continue;
			v->att_instance = dup_text(a, "instanceId");
			v->att_state = dup_text(a, "status");
			v->att_device = dup_text(a, "device");
		}
	if ((set = xml_child(item, "tagSet")) != NULL)
		for (t = xml_next(set, "item", NULL); t; t = xml_next(set, "item", t)) {
			v->tag_k = xrealloc(v->tag_k, (v->ntags + 1) * sizeof(char *));
			v->tag_v = xrealloc(v->tag_v, (v->ntags + 1) * sizeof(char *));
			v->tag_k[v->ntags] = xstrdup(xml_text(t, "key") ? xml_text(t, "key") : "");
			v->tag_v[v->ntags] = xstrdup(xml_text(t, "value") ? xml_text(t, "value") : "");
			v->ntags++;
		}
}

const char *
vol_tag(const struct vol *v, const char *key)
{
	for (size_t i = 0; i < v->ntags; i++)
		if (!strcmp(v->tag_k[i], key))
			return v->tag_v[i];
	return NULL;
}

bool
vol_live(const struct vol *v)
{
	return v->status && (!strcmp(v->status, "creating") || !strcmp(v->status, "available") ||
	    !strcmp(v->status, "in-use"));
}

void
vols_free(struct vol *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vol_clear(&v[i]);
	free(v);
}

char *
vols_list(const struct vol *v, size_t n)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s (%s, %s)", i ? ", " : "", or_unknown(v[i].id),
		    or_unknown(v[i].az), or_unknown(v[i].status));
	return buf_steal(&b);
}

void
param_n(struct aws_params *p, const char *keyfmt, size_t n, const char *val)
{
	char key[96];

	snprintf(key, sizeof(key), keyfmt, n);
	aws_param(p, key, "%s", val);
}

/* EC2 kept throttling, failing (5xx) or not answering past the client's own
 * retries, as it may for a while in a mass failover: the caller looks again at
 * its next poll, within the module's timeout, instead of giving up. */
bool
transient(struct hb_ctx *ctx, const char *what, const struct aws_error *err)
{
	char *e;

	if (!aws_error_retryable(err))
		return false;
	e = aws_error_str(err);
	log_warn(ctx->module, "%s: %s; looking again shortly", what, e);
	free(e);
	return true;
}

/* DescribeVolumes by id, or by tag filters (keys[i]=vals[i]), optionally in
 * one zone.  0 with the volumes (an unknown id: none), 1 when EC2 did not
 * answer (look again), -1 after ctx_fail. */
int
describe_volumes(struct hb_ctx *ctx, const char *id, char *const *keys, char *const *vals,
    size_t ntags, const char *az, struct vol **out, size_t *n)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const struct xml_node *set, *it;
	char *what = NULL;
	size_t f = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	aws_params_init(&p);
	aws_error_init(&err);
	if (id != NULL)
		aws_param(&p, "VolumeId.1", "%s", id);
	for (size_t i = 0; i < ntags; i++) {
		char *name = xasprintf("tag:%s", keys[i]);

		f++;
		param_n(&p, "Filter.%zu.Name", f, name);
		param_n(&p, "Filter.%zu.Value.1", f, vals[i]);
		free(name);
	}
	if (az != NULL) {
		f++;
		param_n(&p, "Filter.%zu.Name", f, "availability-zone");
		param_n(&p, "Filter.%zu.Value.1", f, az);
	}
	if (aws_query(ctx->aws, AWS_EC2, "DescribeVolumes", &p, &x, &err) < 0) {
		if (id != NULL && aws_error_is(&err, "InvalidVolume.NotFound")) {
			rc = 0;
			goto out;
		}
		what = xasprintf("DescribeVolumes %s", id ? id : "by tags");
		if (transient(ctx, what, &err)) {
			rc = 1;
			goto out;
		}
		ctx_fail_aws(ctx, &err, "%s", what);
		goto out;
	}
	if ((set = xml_find(x, "volumeSet")) != NULL)
		for (it = xml_next(set, "item", NULL); it; it = xml_next(set, "item", it)) {
			*out = xrealloc(*out, (*n + 1) * sizeof(**out));
			vol_from_xml(it, &(*out)[*n]);
			(*n)++;
		}
	rc = 0;
out:
	free(what);
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return rc;
}

/* Copies other_az=snapshot made of volume id (in zone az, or anywhere), live ones only. */
static int
restored_copies(struct hb_ctx *ctx, const char *id, const char *az, struct vol **out, size_t *n)
{
	char *key = RESTORED_FROM_TAG, *val = (char *)id;
	size_t live = 0;
	int r;

	if ((r = describe_volumes(ctx, NULL, &key, &val, 1, az, out, n)) != 0)
		return r;
	for (size_t i = 0; i < *n; i++) {
		if (vol_live(&(*out)[i])) {
			struct vol t = (*out)[live];

			(*out)[live++] = (*out)[i];
			(*out)[i] = t;
		}
	}
	for (size_t i = live; i < *n; i++)
		vol_clear(&(*out)[i]);
	*n = live;
	return 0;
}

/* Re-reads one volume: 0 read, 1 look again later, -1 after ctx_fail. */
static int
refresh(struct hb_ctx *ctx, const char *id, struct vol *v)
{
	struct vol *vs;
	size_t n;
	int r;

	if ((r = describe_volumes(ctx, id, NULL, NULL, 0, NULL, &vs, &n)) != 0)
		return r;
	if (n == 0) {
		/* Eventual consistency: a volume just created, or seen a moment ago,
		 * can be missing from one answer. */
		log_info(ctx->module, "%s: DescribeVolumes does not show it (yet); looking again", id);
		return 1;
	}
	if (n != 1) {
		vols_free(vs, n);
		return ctx_fail(ctx, "DescribeVolumes %s answered %zu volumes", id, n);
	}
	vol_clear(v);
	*v = vs[0];
	free(vs);
	return 0;
}

/* The instance's state name, or "gone" when EC2 no longer knows it, and
 * until when it says it is releasing its volume (handoff.h), 0 if not.
 * 0, 1 when EC2 did not answer (look again), -1 after ctx_fail. */
static int
instance_state(struct hb_ctx *ctx, const char *iid, char **state, long long *releasing)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const char *s;
	char *what = NULL;
	int rc = -1;

	aws_params_init(&p);
	aws_error_init(&err);
	aws_param(&p, "InstanceId.1", "%s", iid);
	if (aws_query(ctx->aws, AWS_EC2, "DescribeInstances", &p, &x, &err) < 0) {
		what = xasprintf("DescribeInstances %s", iid);
		if (aws_error_is(&err, "InvalidInstanceID.NotFound")) {
			*state = xstrdup("gone");
			rc = 0;
		} else if (transient(ctx, what, &err)) {
			rc = 1;
		} else
			ctx_fail_aws(ctx, &err, "%s", what);
		goto out;
	}
	s = xml_text(x, "reservationSet/item/instancesSet/item/instanceState/name");
	*state = xstrdup(s ? s : "gone");
	*releasing = handoff_releasing_until(xml_find(x, "reservationSet/item/instancesSet/item"));
	rc = 0;
out:
	free(what);
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return rc;
}

static int
ec2_call_cb(void *arg)
{
	struct ec2_call *c = arg;

	return aws_query(c->ctx->aws, AWS_EC2, c->action, &c->p, &c->answer, &c->err);
}

void
ec2_call_init(struct ec2_call *c, struct hb_ctx *ctx, const char *action)
{
	memset(c, 0, sizeof(*c));
	c->ctx = ctx;
	c->action = action;
	aws_params_init(&c->p);
	aws_error_init(&c->err);
}

void
ec2_call_free(struct ec2_call *c)
{
	aws_params_free(&c->p);
	aws_error_free(&c->err);
	xml_free(c->answer);
	c->answer = NULL;
}

/* Runs the call: 0 done; 1 when the state moved under it (a code in
 * tolerated) or EC2 did not answer, so the caller re-reads and decides again;
 * -1 after ctx_fail. */
int
ec2_mutate(struct ec2_call *c, const char *summary, const char *const tolerated[])
{
	if (eff_aws(c->ctx->eff, "ec2", summary, ec2_call_cb, c) == 0)
		return 0;
	for (size_t i = 0; tolerated && tolerated[i]; i++)
		if (aws_error_is(&c->err, tolerated[i])) {
			log_info(c->ctx->module, "%s: %s (the state moved; re-reading)", c->action,
			    c->err.code);
			return 1;
		}
	if (transient(c->ctx, summary, &c->err))
		return 1;
	return ctx_fail_aws(c->ctx, &c->err, "%s", summary);
}

static const char *const race_codes[] = {"VolumeInUse", "IncorrectState",
	"InvalidAttachment.NotFound", "IncorrectInstanceState", NULL};

/* Finds the one volume the manifest means, handling other_az.
 * 0 found, 1 when EC2 did not answer (look again), -1 after ctx_fail. */
static int
find_volume(struct hb_ctx *ctx, const struct volume_cfg *c, const char *az, const char *self,
    struct vol *out)
{
	struct vol *vs = NULL, *cp = NULL;
	size_t n = 0, ncp = 0, here = 0, pick = 0;
	char *label = volume_label(c), *list = NULL;
	int rc = -1, r;

	if ((r = describe_volumes(ctx, c->id, c->tag_keys, c->tag_vals, c->ntags, NULL, &vs,
	    &n)) != 0 || (r = restore_skip_superseded(ctx, &vs, &n)) != 0) {
		rc = r;
		goto out;
	}
	if (n == 0) {
		ctx_fail_anywhere(ctx, "no volume matches %s%s", label, c->id
		    ? ": check the id, and that this instance's region is the volume's"
		    : ": check the tags (exact keys and values) and the region");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (vs[i].az && strcmp(vs[i].az, az) == 0) {
			here++;
			pick = i;
		}
	/* With tags, a restored copy in this zone is the one: prefer this zone. */
	if (here > 1 || (here == 0 && n > 1)) {
		list = vols_list(vs, n);
		ctx_fail_anywhere(ctx, "%s matches %zu volumes%s: %s; tag exactly one (per zone) or use id:",
		    label, n, here > 1 ? " in this zone" : "", list);
		goto out;
	}
	if (here == 0 && c->other_az == OTHER_AZ_FAIL) {
		ctx_fail(ctx, "%s is in %s but this instance is in %s: EBS volumes attach only "
		    "within their zone (other_az=fail). Launch the group in %s, or set "
		    "other_az: snapshot to restore its newest snapshot here", vs[0].id,
		    or_unknown(vs[0].az), az, or_unknown(vs[0].az));
		goto out;
	}
	if (here == 0) {
		/* A copy restored here earlier (by an instance before this one, or by
		 * this one on a previous run) is the volume now: restore only once. */
		if ((r = restored_copies(ctx, vs[0].id, az, &cp, &ncp)) != 0) {
			rc = r;
			goto out;
		}
		if (ncp > 1) {
			list = vols_list(cp, ncp);
			ctx_fail_anywhere(ctx, "%s has %zu restored copies in %s: %s; keep one (or name it by "
			    "id:)", vs[0].id, ncp, az, list);
			goto out;
		}
		if (ncp == 1) {
			log_info(ctx->module, "%s is in %s; using %s, restored from it in %s earlier",
			    vs[0].id, or_unknown(vs[0].az), cp[0].id, az);
			*out = cp[0];
			memset(&cp[0], 0, sizeof(cp[0]));
			rc = 0;
			goto out;
		}
		rc = restore_in_zone(ctx, &vs[0], az, self, out);
		goto out;
	}
	if (c->other_az == OTHER_AZ_SNAPSHOT) {
		/* Once restored elsewhere, this volume's data is older than the copy's:
		 * taking it silently would roll the service back. */
		if ((r = restored_copies(ctx, vs[pick].id, NULL, &cp, &ncp)) != 0) {
			rc = r;
			goto out;
		}
		if (ncp > 0) {
			list = vols_list(cp, ncp);
			ctx_fail_anywhere(ctx, "%s was restored by other_az=snapshot as %s, which may hold newer "
			    "data: haboot will not choose between them. Name the one to use by id:, or "
			    "retire the other (remove its tags)", vs[pick].id, list);
			goto out;
		}
	}
	*out = vs[pick];
	memset(&vs[pick], 0, sizeof(vs[pick]));
	rc = 0;
out:
	vols_free(vs, n);
	vols_free(cp, ncp);
	free(label);
	free(list);
	return rc;
}

static bool
is_running_state(const char *s)
{
	return !strcmp(s, "running") || !strcmp(s, "pending") || !strcmp(s, "stopping");
}

struct takeover_state {
	bool attach_sent, detach_sent, stop_sent, retried, waiting_logged;
	bool acted;  /* a mutating call went out: poll fast again */
	bool proven; /* the kernel shows the volume's NVMe serial: attached (Nitro) */
	int stopped_seen; /* consecutive looks at the owner that EC2 answered "stopped" */
	long long attach_at;
	long long release_until; /* wall ms the owner said it releases the volume by, 0 none */
	char *owner;
};

/* One look at the volume and one step towards attached-here.
 * 1 when attached here, 0 to wait and look again, -1 failed. */
static int
converge_step(struct hb_ctx *ctx, const struct volume_cfg *c, struct vol *v, const char *self,
    struct takeover_state *ts, const char *waitfor)
{
	struct ec2_call call;
	char *summary = NULL, *ostate = NULL;
	long long until = 0;
	int rc = 0, r;

	ec2_call_init(&call, ctx, "");
	if ((r = refresh(ctx, v->id, v)) != 0) {
		rc = r < 0 ? -1 : 0;
		goto out;
	}
	if (v->multi) {
		rc = ctx_fail_anywhere(ctx, "%s has multi-attach enabled: haboot refuses it, since two "
		    "writers on one ext4/xfs filesystem destroy it", v->id);
		goto out;
	}
	if (v->status == NULL || !strcmp(v->status, "creating"))
		goto out;
	if (!strcmp(v->status, "error") || !strcmp(v->status, "deleting") ||
	    !strcmp(v->status, "deleted")) {
		rc = ctx_fail_anywhere(ctx, "%s is %s", v->id, v->status);
		goto out;
	}
	if (v->att_instance && !strcmp(v->att_instance, self)) {
		if (v->att_state && !strcmp(v->att_state, "attached")) {
			rc = 1;
			goto out;
		}
		/* EC2 confirms the attachment the device already proves. */
		if (ts->proven && v->att_state && !strcmp(v->att_state, "attaching")) {
			rc = 1;
			goto out;
		}
		/* attaching: like the EBS CSI driver, detach a stuck attach and retry once */
		if (v->att_state && !strcmp(v->att_state, "attaching") && ts->attach_sent &&
		    !ts->retried && mono_ms() - ts->attach_at > c->timeout_ms / 2) {
			log_warn(ctx->module, "%s stuck attaching for %llds: detaching and retrying once",
			    v->id, (mono_ms() - ts->attach_at) / 1000);
			call.action = "DetachVolume";
			aws_param(&call.p, "VolumeId", "%s", v->id);
			aws_param(&call.p, "InstanceId", "%s", self);
			summary = xasprintf("DetachVolume %s from %s (stuck attaching)", v->id, self);
			if ((r = ec2_mutate(&call, summary, race_codes)) < 0)
				rc = -1;
			else if (r == 0) {
				ts->retried = true;
				ts->attach_sent = false;
				ts->acted = true;
			}
		}
		goto out;
	}
	if (v->att_instance == NULL) {
		if (strcmp(v->status, "available") != 0)
			goto out;
		/* DescribeVolumes lags: an attach we sent may not show yet. */
		if (ts->attach_sent && mono_ms() - ts->attach_at < c->timeout_ms / 2)
			goto out;
		call.action = "AttachVolume";
		aws_param(&call.p, "VolumeId", "%s", v->id);
		aws_param(&call.p, "InstanceId", "%s", self);
		aws_param(&call.p, "Device", "%s", c->device);
		summary = xasprintf("AttachVolume %s to %s as %s", v->id, self, c->device);
		if ((r = ec2_mutate(&call, summary, race_codes)) < 0)
			rc = -1;
		else if (r == 0) {
			ts->attach_sent = true;
			ts->attach_at = mono_ms();
			ts->acted = true;
			ctx->changed = true;
		}
		goto out;
	}
	/* Attached to another instance: the takeover policy decides. */
	if (ts->owner == NULL || strcmp(ts->owner, v->att_instance)) {
		free(ts->owner);
		ts->owner = xstrdup(v->att_instance);
		ts->waiting_logged = false;
		ctx_set_fact(ctx, FACT_VOLUME_PREVIOUS_OWNER, "%s", v->att_instance);
	}
	if (v->att_state && !strcmp(v->att_state, "detaching"))
		goto out;
	if ((r = instance_state(ctx, v->att_instance, &ostate, &until)) != 0) {
		rc = r < 0 ? -1 : 0;
		goto out;
	}
	/* The owner is handing the volume over: wait for its own detach.  The
	 * tag only lengthens the wait; it never leads to a stop or a detach
	 * from here, whatever the takeover policy (invariant 3). */
	if (is_running_state(ostate) && until > 0) {
		if (ts->release_until != until) {
			char t[40];

			fmt_iso8601(until, false, t, sizeof(t));
			log_info(ctx->module, "%s is attached to %s (%s), which is releasing it (a "
			    "planned handoff, announced until %s): waiting for its detach", v->id,
			    v->att_instance, ostate, t);
			ts->acted = true;
		}
		ts->release_until = until;
		goto out;
	}
	ts->release_until = 0;
	if (strcmp(ostate, "stopped") != 0)
		ts->stopped_seen = 0;
	if (is_running_state(ostate)) {
		if (c->takeover == TAKEOVER_NEVER) {
			rc = ctx_fail(ctx, "%s is in use by %s (%s); takeover=never: not touching it",
			    v->id, v->att_instance, ostate);
			goto out;
		}
		if (!ts->waiting_logged) {
			log_info(ctx->module, "%s in-use by %s (%s); takeover=%s: %s", v->id,
			    v->att_instance, ostate, takeover_names[c->takeover], waitfor);
			ts->waiting_logged = true;
		}
		/* A plain stop already under way may hang on a wedged OS: force it too. */
		if (c->takeover == TAKEOVER_FENCE && !ts->stop_sent) {
			call.action = "StopInstances";
			aws_param(&call.p, "InstanceId.1", "%s", v->att_instance);
			aws_param(&call.p, "Force", "true");
			summary = xasprintf("StopInstances %s (Force) to fence it before taking %s",
			    v->att_instance, v->id);
			if ((r = ec2_mutate(&call, summary, race_codes)) < 0)
				rc = -1;
			else if (r == 0) {
				ts->stop_sent = true;
				ts->acted = true;
				ctx->changed = true;
				ctx_set_fact(ctx, FACT_VOLUME_FENCED, "%s", v->att_instance);
			}
		}
		goto out;
	}
	if (!strcmp(ostate, "stopped") && c->takeover != TAKEOVER_NEVER) {
		/* Invariant 3: reached only once EC2 reports the owner stopped.  A
		 * forced detach waits for a second look saying so: DescribeInstances
		 * is eventually consistent, and one stale answer must not be enough. */
		if (ts->detach_sent)
			goto out;
		if (c->takeover == TAKEOVER_FENCE && ++ts->stopped_seen < 2) {
			ts->acted = true; /* look again at once */
			goto out;
		}
		call.action = "DetachVolume";
		aws_param(&call.p, "VolumeId", "%s", v->id);
		aws_param(&call.p, "InstanceId", "%s", v->att_instance);
		if (c->takeover == TAKEOVER_FENCE)
			aws_param(&call.p, "Force", "true");
		summary = xasprintf("DetachVolume %s from %s (stopped)%s", v->id, v->att_instance,
		    c->takeover == TAKEOVER_FENCE ? " (Force)" : "");
		if ((r = ec2_mutate(&call, summary, race_codes)) < 0)
			rc = -1;
		else if (r == 0) {
			ts->detach_sent = true;
			ts->acted = true;
			ctx->changed = true;
		}
		goto out;
	}
	if (!strcmp(ostate, "stopped")) {
		rc = ctx_fail(ctx, "%s is attached to %s (stopped); takeover=never: not touching it",
		    v->id, v->att_instance);
		goto out;
	}
	/* shutting-down, terminated or gone: EC2 detaches the volume itself. */
	if (!ts->waiting_logged) {
		log_info(ctx->module, "%s still attached to %s (%s): waiting for EC2 to detach it",
		    v->id, v->att_instance, ostate);
		ts->waiting_logged = true;
	}
out:
	free(summary);
	free(ostate);
	ec2_call_free(&call);
	return rc;
}

/* Our AttachVolume is out, or EC2 shows an attachment to us under way: the
 * kernel will show the device when it lands. */
static bool
attaching_here(const struct vol *v, const char *self, const struct takeover_state *ts)
{
	if (v->att_instance == NULL)
		return ts->attach_sent;
	return !strcmp(v->att_instance, self) && v->att_state && !strcmp(v->att_state, "attaching");
}

static int
volume_apply(struct hb_ctx *ctx, void *p)
{
	struct volume_cfg *c = p;
	const char *self = md_get(ctx->md, "instance-id");
	const char *az = md_get(ctx->md, "placement/availability-zone");
	struct takeover_state ts;
	struct notice nw = {0};
	struct poller pl;
	struct vol v;
	enum notice_result wr;
	char t[32], *waitfor = NULL, *dev = NULL, *how = NULL, *why = NULL, *label = NULL;
	int rc = -1, r;

	memset(&ts, 0, sizeof(ts));
	memset(&v, 0, sizeof(v));
	fmt_duration(c->timeout_ms, t, sizeof(t));
	if (self == NULL || az == NULL) {
		ctx_fail(ctx, "this instance's id and availability zone are unknown (no metadata)");
		goto out;
	}
	if (ctx->aws == NULL) {
		ctx_fail(ctx, "no AWS client: run needs the instance's metadata and credentials");
		goto out;
	}
	notice_start(&nw, ctx); /* before AttachVolume: no appearance is missed */
	poller_start(&pl, c->timeout_ms, ctx);
	while ((r = find_volume(ctx, c, az, self, &v)) == 1)
		if (!poller_wait(&pl)) {
			label = volume_label(c);
			ctx_fail(ctx, "EC2 did not answer for %s within %s (throttled or unavailable): "
			    "giving up", label, t);
			goto out;
		}
	if (r < 0)
		goto out;
	waitfor = xasprintf(c->takeover == TAKEOVER_FENCE
	    ? "stopping it, then detaching (waiting up to %s)"
	    : "waiting up to %s for it to be gone", t);
	for (;;) {
		if ((r = converge_step(ctx, c, &v, self, &ts, waitfor)) < 0)
			goto out;
		if (r == 1)
			break;
		ts.proven = false;
		if (ts.acted) {
			poller_kick(&pl);
			ts.acted = false;
		}
		/* A releasing owner announced when it will be done: wait that long. */
		if (ts.release_until > 0) {
			long long d = mono_ms() + (ts.release_until - wall_ms());

			if (ctx->deadline != 0 && d > ctx->deadline)
				d = ctx->deadline;
			if (d > pl.deadline)
				pl.deadline = d;
		}
		if (poller_progress_due(&pl))
			log_info(ctx->module, "waiting for %s: %s%s%s%s%s (%llds of %s)", v.id,
			    or_unknown(v.status), v.att_instance ? ", " : "",
			    v.att_instance ? or_unknown(v.att_state) : "", v.att_instance ? " to " : "",
			    v.att_instance ? v.att_instance : "", poller_elapsed(&pl) / 1000, t);
		if (attaching_here(&v, self, &ts))
			wr = notice_attach_wait(&nw, ctx, &pl, v.id);
		else
			wr = poller_wait(&pl) ? NOTICE_LOOK : NOTICE_TIMEOUT;
		ts.proven = wr == NOTICE_PROVEN;
		if (wr == NOTICE_TIMEOUT) {
			if (v.att_instance && strcmp(v.att_instance, self))
				ctx_fail(ctx, "%s is still attached to %s after %s (takeover=%s); "
				    "%s. The volume was left as it is", v.id, v.att_instance, t,
				    takeover_names[c->takeover],
				    c->takeover == TAKEOVER_IF_OWNER_GONE
				    ? "the owner is still alive: stop or terminate it, or use "
				      "takeover: fence"
				    : ts.stop_sent && !ts.detach_sent
				    ? "it was told to stop (Force), but EC2 never reported it stopped, "
				      "so nothing was detached"
				    : "giving up");
			else
				ctx_fail(ctx, "%s did not become attached to %s within %s (last state: "
				    "%s%s%s)", v.id, self, t, or_unknown(v.status),
				    v.att_state ? "/" : "", v.att_state ? v.att_state : "");
			goto out;
		}
	}
	if (ts.proven)
		log_info(ctx->module, "%s: the device with its NVMe serial appeared; EC2 confirms "
		    "the attachment (%s)", v.id, or_unknown(v.att_state));
	/* Invariant 2: the device must be proven to be this volume. */
	const char *ec2dev = v.att_device ? v.att_device : c->device;
	for (;;) {
		enum vdev_result vr = vdev_resolve(v.id, ec2dev, &dev, &how, &why);

		if (vr == VDEV_FOUND)
			break;
		if (vr == VDEV_MISMATCH) {
			ctx_fail(ctx, "%s is attached, but %s: refusing to use it (wrong disk)", v.id,
			    why);
			goto out;
		}
		if (poller_progress_due(&pl))
			log_info(ctx->module, "waiting for the block device of %s (%s) to appear", v.id,
			    ec2dev);
		if (!notice_device_wait(&nw, ctx, &pl)) {
			ctx_fail(ctx, "%s is attached as %s, but no block device proven to be it "
			    "appeared within %s (looked for an NVMe controller with serial vol%s, and for "
			    "%s under its Xen name)", v.id, ec2dev, t, v.id + 4, ec2dev);
			goto out;
		}
	}
	log_info(ctx->module, "%s is %s (%s)", v.id, dev, how);
	ctx_set_fact(ctx, FACT_VOLUME_ID, "%s", v.id);
	ctx_set_fact(ctx, FACT_VOLUME_DEVICE, "%s", dev);
	ctx_set_fact(ctx, FACT_VOLUME_AZ, "%s", or_unknown(v.az));
	restore_settle(ctx, &v);
	ctx_result(ctx, "%s attached as %s%s%s%s%s%s%s", v.id, dev,
	    ctx->changed ? "" : " (already attached: nothing changed)",
	    ts.owner ? ", taken over from " : "", ts.owner ? ts.owner : "",
	    ctx_fact(ctx, FACT_VOLUME_DATA_AS_OF) ? "; restored: data as of " : "",
	    ctx_fact(ctx, FACT_VOLUME_DATA_AS_OF) ? ctx_fact(ctx, FACT_VOLUME_DATA_AS_OF) : "",
	    ctx_fact(ctx, FACT_VOLUME_DATA_AS_OF) ? ", later writes are not on it" : "");
	rc = 0;
out:
	notice_stop(&nw);
	vol_clear(&v);
	free(ts.owner);
	free(waitfor);
	free(label);
	free(dev);
	free(how);
	free(why);
	return rc;
}

/* ---- plan with live reads ---------------------------------------------- */

/* One DryRun call: does the instance role allow this action on these ids?
 * EC2 answers DryRunOperation when it would have done it. */
static void
dry_run(struct hb_ctx *ctx, const char *action, const char *summary, struct aws_params *p)
{
	struct aws_error err;
	struct xml_node *x = NULL;
	char *e;

	aws_error_init(&err);
	aws_param(p, "DryRun", "true");
	if (aws_query(ctx->aws, AWS_EC2, action, p, &x, &err) == 0 ||
	    aws_error_is(&err, "DryRunOperation")) {
		eff_describe(ctx->eff, EK_CHECK, "ec2 %s is allowed (DryRun: %s)", action, summary);
	} else if (aws_error_is(&err, "UnauthorizedOperation")) {
		eff_describe(ctx->eff, EK_CHECK, "ec2 %s is NOT allowed for this instance role "
		    "(DryRun: %s): run would fail; add ec2:%s to the role (haboot iam-policy "
		    "prints the policy this manifest needs)", action, summary, action);
	} else {
		e = aws_error_str(&err);
		eff_describe(ctx->eff, EK_CHECK, "ec2 %s permission not proven (DryRun: %s): %s",
		    action, summary, e);
		free(e);
	}
	xml_free(x);
	aws_error_free(&err);
}

/* What EC2 says now, and whether the role may do what run would do.  Reads
 * only: DescribeVolumes, DescribeInstances and DryRun calls. */
static void
plan_live(struct hb_ctx *ctx, const struct volume_cfg *c, const char *self, const char *az)
{
	struct vol *vs = NULL;
	struct aws_params p;
	char *ostate = NULL, *list = NULL;
	size_t n = 0, here = 0;
	const struct vol *v = NULL;

	if (describe_volumes(ctx, c->id, c->tag_keys, c->tag_vals, c->ntags, NULL, &vs, &n) != 0 ||
	    restore_skip_superseded(ctx, &vs, &n) != 0) {
		eff_describe(ctx->eff, EK_READ, "ec2 DescribeVolumes: no answer (%s)",
		    ctx->message ? ctx->message : "unknown error");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (vs[i].az && az && !strcmp(vs[i].az, az) && vol_live(&vs[i])) {
			here++;
			v = &vs[i];
		}
	list = vols_list(vs, n);
	if (n == 0) {
		eff_describe(ctx->eff, EK_READ, "now: no volume matches: run would fail");
		goto out;
	}
	if (v == NULL || here > 1) {
		eff_describe(ctx->eff, EK_READ, "now: %s; %s", list, here > 1
		    ? "several in this zone: run would fail" : c->other_az == OTHER_AZ_SNAPSHOT
		    ? "none in this zone: run would restore a snapshot here"
		    : "none in this zone: run would fail (other_az=fail)");
		goto out;
	}
	if (v->att_instance == NULL)
		eff_describe(ctx->eff, EK_READ, "now: %s is %s in %s: run would attach it", v->id,
		    or_unknown(v->status), or_unknown(v->az));
	else if (!strcmp(v->att_instance, self))
		eff_describe(ctx->eff, EK_READ, "now: %s is %s to this instance as %s: run changes "
		    "nothing in EC2", v->id, or_unknown(v->att_state), or_unknown(v->att_device));
	else {
		long long until = 0;

		if (instance_state(ctx, v->att_instance, &ostate, &until) != 0)
			ostate = xstrdup("unknown");
		else if (until > 0)
			eff_describe(ctx->eff, EK_READ, "now: %s is releasing it (tag %s): run would "
			    "wait for its detach", v->att_instance, "haboot:release");
		eff_describe(ctx->eff, EK_READ, "now: %s is %s to %s (%s) as %s: takeover=%s %s",
		    v->id, or_unknown(v->att_state), v->att_instance, ostate,
		    or_unknown(v->att_device), takeover_names[c->takeover],
		    is_running_state(ostate)
		    ? (c->takeover == TAKEOVER_FENCE ? "would stop it, then detach"
		       : c->takeover == TAKEOVER_NEVER ? "would fail" : "would wait, and fail if it "
		       "stays up") : "would wait for EC2 to detach it");
	}
	aws_params_init(&p);
	aws_param(&p, "VolumeId", "%s", v->id);
	aws_param(&p, "InstanceId", "%s", self);
	aws_param(&p, "Device", "%s", c->device);
	dry_run(ctx, "AttachVolume", v->id, &p);
	aws_params_free(&p);
	if (v->att_instance && strcmp(v->att_instance, self) && c->takeover != TAKEOVER_NEVER) {
		aws_params_init(&p);
		aws_param(&p, "VolumeId", "%s", v->id);
		aws_param(&p, "InstanceId", "%s", v->att_instance);
		dry_run(ctx, "DetachVolume", v->id, &p);
		aws_params_free(&p);
		if (c->takeover == TAKEOVER_FENCE) {
			aws_params_init(&p);
			aws_param(&p, "InstanceId.1", "%s", v->att_instance);
			dry_run(ctx, "StopInstances", v->att_instance, &p);
			aws_params_free(&p);
		}
	}
out:
	free(ctx->message);
	ctx->message = NULL;
	free(ostate);
	free(list);
	vols_free(vs, n);
}

/* ---- permissions -------------------------------------------------------- */

/* "StringEquals": {"aws:ResourceTag/Name": "nfs-master-volume"} for each tag. */
static void
tag_conds(struct iam_stmt *s, const char *prefix, const struct volume_cfg *v)
{
	for (size_t i = 0; i < v->ntags; i++) {
		char *key = xasprintf("%s%s", prefix, v->tag_keys[i]);

		iam_cond(s, "StringEquals", key, "%s", v->tag_vals[i]);
		free(key);
	}
}

/* The volume's resource: its ARN, or any volume carrying the manifest's tags. */
static void
volume_scope(struct iam_stmt *s, const struct volume_cfg *v)
{
	if (v->id != NULL) {
		iam_resource(s, "arn:aws:ec2:*:*:volume/%s", v->id);
		return;
	}
	iam_resource(s, "arn:aws:ec2:*:*:volume/*");
	tag_conds(s, "aws:ResourceTag/", v);
}

/* Another instance of the service: in its Auto Scaling group (a tag AWS sets
 * and nobody can write, so the role cannot make an instance "ours"). */
static void
owner_scope(struct iam_policy *p, struct iam_stmt *s)
{
	const char *group = iam_scope(p)->group;

	iam_resource(s, "arn:aws:ec2:*:*:instance/*");
	if (group != NULL) {
		iam_cond(s, "StringEquals", "aws:ResourceTag/aws:autoscaling:groupName", "%s", group);
		return;
	}
	iam_cond(s, "Null", "aws:ResourceTag/aws:autoscaling:groupName", "false");
	iam_note(p, "the old owner may be any instance of any Auto Scaling group of the account: "
	    "pass --group NAME (the service's group) to allow only that group's instances");
}

static void
volume_permissions(const void *cfg, struct iam_policy *p)
{
	const struct volume_cfg *v = cfg;
	char *label = volume_label(v);
	struct iam_stmt *s;

	iam_unscoped(p, "ec2:DescribeVolumes", "find the volume, follow its attachment");
	iam_unscoped(p, "ec2:DescribeInstances", "the state of the instance holding the volume");
	s = iam_stmt(p, "attach %s; detach it from this instance to retry a stuck attach", label);
	iam_action(s, "ec2:AttachVolume");
	iam_action(s, "ec2:DetachVolume");
	volume_scope(s, v);
	s = iam_stmt(p, "attach and detach volumes on this instance only (the caller's own ARN)");
	iam_action(s, "ec2:AttachVolume");
	iam_action(s, "ec2:DetachVolume");
	iam_resource(s, "arn:aws:ec2:*:*:instance/*");
	iam_cond(s, "StringEquals", "aws:ARN", "${ec2:SourceInstanceARN}");
	if (v->takeover != TAKEOVER_NEVER) {
		s = iam_stmt(p, "take %s from its old owner once EC2 reports it stopped%s", label,
		    v->takeover == TAKEOVER_FENCE ? "; stop (fence) that owner first" : "");
		iam_action(s, "ec2:DetachVolume");
		if (v->takeover == TAKEOVER_FENCE)
			iam_action(s, "ec2:StopInstances");
		owner_scope(p, s);
	}
	if (v->other_az == OTHER_AZ_SNAPSHOT) {
		iam_unscoped(p, "ec2:DescribeSnapshots", "other_az: snapshot: find the newest "
		    "snapshot of the volume or of the service");
		s = iam_stmt(p, "other_az: snapshot: create the copy of %s in this zone, only with "
		    "the tag " RESTORED_FROM_TAG "%s", label, v->ntags ? " and the manifest's tags" : "");
		iam_action(s, "ec2:CreateVolume");
		iam_resource(s, "arn:aws:ec2:*:*:volume/*");
		iam_cond(s, "StringLike", "aws:RequestTag/" RESTORED_FROM_TAG, "vol-*");
		tag_conds(s, "aws:RequestTag/", v);
		s = iam_stmt(p, "other_az: snapshot: tag that copy as it is created");
		iam_action(s, "ec2:CreateTags");
		iam_resource(s, "arn:aws:ec2:*:*:volume/*");
		iam_cond(s, "StringEquals", "ec2:CreateAction", "CreateVolume");
		iam_cond(s, "StringLike", "aws:RequestTag/" RESTORED_FROM_TAG, "vol-*");
		s = iam_stmt(p, "other_az: snapshot: restore from a snapshot of %s", label);
		iam_action(s, "ec2:CreateVolume");
		iam_resource(s, "arn:aws:ec2:*::snapshot/*");
		if (v->id != NULL)
			iam_cond(s, "ArnLike", "ec2:ParentVolume", "arn:aws:ec2:*:*:volume/%s",
			    v->id);
		else
			iam_note(p, "other_az: snapshot: CreateVolume may read any snapshot of the "
			    "account: the volume is named by tags, so its snapshots' parent is not "
			    "known in advance (name it by id: to scope it)");
		restore_permissions(p, v->id, v->tag_keys, v->tag_vals, v->ntags);
	}
	snap_permissions(v->snapshots, p, v->id, v->tag_keys, v->tag_vals, v->ntags);
	free(label);
}

/* ---- watch ------------------------------------------------------------ */

/* One DescribeVolumes look at the attachment: sets c->api_*. */
static void
look_at_attachment(struct hb_ctx *ctx, struct volume_cfg *c, const char *id, const char *self)
{
	struct vol *vs = NULL;
	size_t n = 0;
	int r;

	free(c->api_msg);
	c->api_msg = NULL;
	c->api_anywhere = false;
	c->api_health = HEALTH_UNKNOWN;
	if (ctx->aws == NULL) {
		c->api_msg = xstrdup("no AWS client: the attachment cannot be asked about");
		return;
	}
	free(ctx->message);
	ctx->message = NULL;
	r = describe_volumes(ctx, id, NULL, NULL, 0, NULL, &vs, &n);
	ctx->scope = FAIL_HERE;
	if (r != 0) {
		/* The look could not be made (EC2 down, throttled, a permission
		 * missing): unknown, never a verdict on the volume. */
		c->api_msg = xasprintf("EC2 could not be asked about %s: %s", id,
		    ctx->message ? ctx->message : "DescribeVolumes did not answer (throttled or "
		    "unavailable)");
		goto out;
	}
	if (n == 0) {
		c->api_health = HEALTH_FAILED;
		c->api_anywhere = true;
		c->api_msg = xasprintf("%s no longer exists (EC2 does not know it)", id);
	} else if (vs[0].att_instance != NULL && strcmp(vs[0].att_instance, self) == 0 &&
	    vs[0].att_state != NULL && strcmp(vs[0].att_state, "attached") == 0) {
		c->api_health = HEALTH_OK;
		c->api_msg = xasprintf("EC2: %s attached here as %s", id, or_unknown(vs[0].att_device));
	} else if (vs[0].att_instance != NULL && strcmp(vs[0].att_instance, self) == 0) {
		c->api_health = HEALTH_FAILED;
		c->api_msg = xasprintf("EC2 says %s is %s from this instance, and haboot did not "
		    "ask for it", id, or_unknown(vs[0].att_state));
	} else if (vs[0].att_instance != NULL) {
		/* Someone gave the volume to another instance: replacing this one
		 * would not give it back (the new one would find it held), and
		 * haboot never takes it back by force. */
		c->api_health = HEALTH_FAILED;
		c->api_anywhere = true;
		c->api_msg = xasprintf("%s is %s to %s now, not to this instance: it no longer "
		    "serves the volume; haboot never takes it back by force", id,
		    or_unknown(vs[0].att_state), vs[0].att_instance);
	} else {
		/* Detached behind haboot's back.  Attaching it again here is not
		 * safe: the old mount of the gone device (and the NFS server's files
		 * on it) would have to go first, with whatever it had not written.
		 * A new instance attaches it, runs fsck and serves it cleanly. */
		c->api_health = HEALTH_FAILED;
		c->api_msg = xasprintf("%s was detached behind haboot's back (it is %s): not "
		    "attached again here, where the stale mount of the gone device holds the "
		    "server; a new instance attaches it, runs fsck and serves it", id,
		    or_unknown(vs[0].status));
	}
out:
	vols_free(vs, n);
}

/* Is the volume still this instance's?  Every round, locally: the proven
 * device node is still there and still that volume (device.c proves it as
 * at attach).  At most once per api_interval while all is well, and at once
 * when the node is gone: EC2 says the attachment is still this instance's.
 * No repair: attaching again here is not safe (see look_at_attachment), and
 * force or a steal are never allowed; the watcher gives up (or halts when
 * another instance holds the volume). */
static enum health
volume_check(struct hb_ctx *ctx, void *p)
{
	struct volume_cfg *c = p;
	const char *id = ctx_fact(ctx, FACT_VOLUME_ID), *dev = ctx_fact(ctx, FACT_VOLUME_DEVICE);
	const char *self = md_get(ctx->md, "instance-id");
	char *path = NULL, *how = NULL, *why = NULL, *local = NULL;
	enum vdev_result vr;
	enum health h = HEALTH_FAILED;
	struct stat st;

	if (id == NULL || dev == NULL || self == NULL) {
		ctx_fail(ctx, "run's report names no volume, device or instance: nothing to check "
		    "against");
		goto out;
	}
	vr = vdev_resolve(id, c->device, &path, &how, &why);
	if (vr == VDEV_MISMATCH)
		local = xasprintf("the device of %s is not proven any more: %s", id, why);
	else if (vr == VDEV_NOT_YET || stat(path, &st) < 0)
		local = xasprintf("the block device of %s (%s) is gone", id, dev);
	else if (strcmp(path, dev) != 0)
		local = xasprintf("%s is %s now, not %s as run proved", id, path, dev);
	else if (c->watch_rdev != 0 && st.st_rdev != c->watch_rdev)
		local = xasprintf("%s is another device now (%u:%u, was %u:%u)", dev,
		    major(st.st_rdev), minor(st.st_rdev), major(c->watch_rdev), minor(c->watch_rdev));
	else
		c->watch_rdev = st.st_rdev;
	/* A local failure is asked about at once: EC2 tells whose failure it is. */
	if (local != NULL || c->api_health == HEALTH_FAILED)
		c->api_next = 0;
	if (ctx_api_due(ctx, &c->api_next))
		look_at_attachment(ctx, c, id, self);
	if (c->api_health == HEALTH_FAILED) {
		(c->api_anywhere ? ctx_fail_anywhere : ctx_fail)(ctx, "%s%s%s", c->api_msg,
		    local ? "; " : "", local ? local : "");
	} else if (local != NULL) {
		ctx_fail(ctx, "%s%s%s", local, c->api_msg ? "; " : "",
		    c->api_msg ? c->api_msg : "");
	} else if (c->api_health == HEALTH_UNKNOWN && c->api_msg != NULL) {
		ctx_fail(ctx, "%s is %s (%s); %s", id, dev, how, c->api_msg);
		h = HEALTH_UNKNOWN;
	} else {
		ctx_result(ctx, "%s is %s (%s)%s%s", id, dev, how, c->api_msg ? "; " : "",
		    c->api_msg ? c->api_msg : "");
		h = HEALTH_OK;
	}
out:
	free(path);
	free(how);
	free(why);
	free(local);
	return h;
}

/* watch: the snapshot schedule, if the manifest has one. */
static int
volume_upkeep(struct hb_ctx *ctx, void *p)
{
	struct volume_cfg *v = p;

	return v->snapshots ? snap_upkeep(ctx, v->snapshots) : 0;
}

const struct module module_volume = {
	.name = "volume",
	.summary = "attach the shared EBS volume, taking it over from a dead owner safely",
	.required_default = true,
	.needs_aws = true,
	.parse = volume_parse,
	.plan = volume_plan,
	.apply = volume_apply,
	.upkeep = volume_upkeep,
	.release = volume_release,
	.permissions = volume_permissions,
	.check = volume_check,
	.free = volume_free,
};
