/* restore.c: other_az=snapshot.  An EBS volume lives in one zone; the only
 * way into another is a snapshot.  This file brings the service's volume
 * into this instance's zone from the newest snapshot, and makes sure the
 * volume it replaces is never served again.
 *
 * The snapshot: the newest *completed* one carrying the service's tag
 * (haboot:service=NAME: the schedule's, Data Lifecycle Manager's given the
 * same tag, an operator's), or taken of the volume itself.  The copy: the
 * same kind of disk (type, size, IOPS, throughput, encryption and KMS key),
 * the volume's tags and the service's, and haboot:restored-from naming the
 * volume it replaces.  Once the copy serves, that volume is tagged
 * haboot:superseded-by: a later boot in its zone restores afresh (or, with
 * other_az=fail, stops) instead of serving its older data.  The data age
 * (the snapshot's start time against now) is logged, kept as facts (the
 * status, the report) and so told to operators. */
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "iam.h"
#include "log.h"
#include "util.h"
#include "volume/volume.h"

/* On the copy: which snapshot, and so from what moment its data is. */
#define COPY_SNAPSHOT_TAG "haboot:restored-snapshot"
#define COPY_DATA_TAG "haboot:data-as-of"
/* Copies of copies: a chain longer than this is a loop, or a mistake. */
#define SUPERSEDED_HOPS 8

static void
data_facts(struct hb_ctx *ctx, const char *as_of, long long start_ms)
{
	ctx_set_fact(ctx, FACT_VOLUME_DATA_AS_OF, "%s", as_of);
	ctx_set_fact(ctx, FACT_VOLUME_DATA_AGE, "%lld", (wall_ms() - start_ms) / 1000);
}

static const struct snap *
newest(const struct snap *a, size_t n, const struct snap *best)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].id && a[i].start_ms > 0 && (best == NULL || a[i].start_ms > best->start_ms))
			best = &a[i];
	return best;
}

int
restore_in_zone(struct hb_ctx *ctx, const struct vol *v, const char *az, const char *self,
    struct vol *out)
{
	struct snap *tagged = NULL, *own = NULL;
	size_t nt = 0, no = 0, ntag = 0;
	const struct snap *best = NULL;
	struct ec2_call call;
	const char *nid;
	char *summary = NULL, age[32];
	long long size;
	int rc = -1, r;

	ec2_call_init(&call, ctx, "CreateVolume");
	if ((ctx->service && (r = snap_list(ctx, "tag:" SERVICE_TAG, ctx->service, "completed",
	    &tagged, &nt)) != 0) || (r = snap_list(ctx, "volume-id", v->id, "completed", &own,
	    &no)) != 0) {
		rc = r;
		goto out;
	}
	best = newest(own, no, newest(tagged, nt, NULL));
	if (best == NULL) {
		ctx_fail(ctx, "%s is in %s, not this instance's zone %s, and no completed snapshot "
		    "of it, or tagged %s=%s, exists to restore here (other_az=snapshot): take one "
		    "(snapshots: in the volume module), or start the service in %s", v->id,
		    or_unknown(v->az), az, SERVICE_TAG, or_unknown(ctx->service), or_unknown(v->az));
		goto out;
	}
	fmt_duration(wall_ms() - best->start_ms, age, sizeof(age));
	log_warn(ctx->module, "%s is in %s, not %s: restoring the newest completed snapshot %s "
	    "(of %s, started %s: data age %s) in %s; the old volume's data is left alone, and "
	    "writes made to it after %s are NOT on the new volume", v->id, or_unknown(v->az), az,
	    best->id, or_unknown(best->volume), best->start, age, az, best->start);
	aws_param(&call.p, "SnapshotId", "%s", best->id);
	aws_param(&call.p, "AvailabilityZone", "%s", az);
	/* The same kind of disk as the old one, not EC2's defaults. */
	if (v->type) {
		aws_param(&call.p, "VolumeType", "%s", v->type);
		if (v->iops && (!strcmp(v->type, "io1") || !strcmp(v->type, "io2") ||
		    !strcmp(v->type, "gp3")))
			aws_param(&call.p, "Iops", "%s", v->iops);
		if (v->throughput && !strcmp(v->type, "gp3"))
			aws_param(&call.p, "Throughput", "%s", v->throughput);
	}
	size = v->size ? atoll(v->size) : 0;
	if (best->size > size)
		size = best->size;
	if (size > 0)
		aws_param(&call.p, "Size", "%lld", size);
	/* An encrypted snapshot makes an encrypted volume anyway; the old
	 * volume's key, not the account's default one. */
	if (v->encrypted) {
		aws_param(&call.p, "Encrypted", "true");
		if (v->kms)
			aws_param(&call.p, "KmsKeyId", "%s", v->kms);
	}
	/* Retries of this call (ours or the client's) must not make a second volume. */
	aws_param(&call.p, "ClientToken", "haboot-%s-%s", self, best->id);
	aws_param(&call.p, "TagSpecification.1.ResourceType", "volume");
	for (size_t i = 0; i < v->ntags; i++) {
		/* aws:* keys are EC2's own (CreateVolume refuses them); haboot:* ones
		 * tell the old volume's story, and the copy gets its own. */
		if (str_starts(v->tag_k[i], "aws:") || str_starts(v->tag_k[i], "haboot:"))
			continue;
		ntag++;
		param_n(&call.p, "TagSpecification.1.Tag.%zu.Key", ntag, v->tag_k[i]);
		param_n(&call.p, "TagSpecification.1.Tag.%zu.Value", ntag, v->tag_v[i]);
	}
	{
		const char *mine[][2] = {
			{SERVICE_TAG, ctx->service}, {RESTORED_FROM_TAG, v->id},
			{COPY_SNAPSHOT_TAG, best->id}, {COPY_DATA_TAG, best->start},
		};

		for (size_t i = 0; i < HB_ARRAY_LEN(mine); i++) {
			if (mine[i][1] == NULL)
				continue;
			ntag++;
			param_n(&call.p, "TagSpecification.1.Tag.%zu.Key", ntag, mine[i][0]);
			param_n(&call.p, "TagSpecification.1.Tag.%zu.Value", ntag, mine[i][1]);
		}
	}
	summary = xasprintf("CreateVolume from %s in %s (%s %s%s, tags of %s copied)", best->id,
	    az, or_unknown(v->type), v->size ? v->size : "", v->size ? " GiB" : "",
	    v->id);
	if ((r = ec2_mutate(&call, summary, NULL)) != 0) {
		rc = r;
		goto out;
	}
	if ((nid = xml_text(call.answer, "volumeId")) == NULL) {
		ctx_fail(ctx, "CreateVolume answered no volumeId");
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = xstrdup(nid);
	out->az = xstrdup(az);
	out->status = dup_text(call.answer, "status");
	ctx->changed = true;
	ctx_set_fact(ctx, FACT_VOLUME_RESTORED_FROM, "%s@%s", v->id, best->id);
	data_facts(ctx, best->start, best->start_ms);
	rc = 0;
out:
	free(summary);
	ec2_call_free(&call);
	snaps_free(tagged, nt);
	snaps_free(own, no);
	return rc;
}

int
restore_skip_superseded(struct hb_ctx *ctx, struct vol **vsp, size_t *np)
{
	struct vol *vs = *vsp, *sv = NULL;
	size_t n = *np, sn = 0;
	char *gone = NULL, *succ = NULL;
	int rc = -1, r;

	for (int hops = 0;; hops++) {
		size_t i;
		bool known = false;

		for (i = 0; i < n && vol_tag(&vs[i], SUPERSEDED_TAG) == NULL; i++)
			;
		if (i == n)
			break;
		if (hops >= SUPERSEDED_HOPS) {
			ctx_fail_anywhere(ctx, "%s: more than %d volumes superseded one another "
			    "(tag %s): name the volume to use by id", vs[i].id, SUPERSEDED_HOPS,
			    SUPERSEDED_TAG);
			goto out;
		}
		free(succ);
		succ = xstrdup(vol_tag(&vs[i], SUPERSEDED_TAG));
		log_info(ctx->module, "%s (%s) is superseded by %s, restored from it in another zone "
		    "with newer data (tag %s): not using it", vs[i].id, or_unknown(vs[i].az), succ,
		    SUPERSEDED_TAG);
		free(gone);
		gone = xasprintf("%s (superseded by %s)", vs[i].id, succ);
		vol_clear(&vs[i]);
		vs[i] = vs[--n];
		memset(&vs[n], 0, sizeof(vs[n]));
		for (size_t j = 0; j < n; j++)
			known = known || !strcmp(vs[j].id, succ);
		if (known)
			continue;
		if ((r = describe_volumes(ctx, succ, NULL, NULL, 0, NULL, &sv, &sn)) != 0) {
			rc = r;
			goto out;
		}
		if (sn == 1 && vol_live(&sv[0])) {
			vs = xrealloc(vs, (n + 1) * sizeof(*vs));
			vs[n++] = sv[0];
			memset(&sv[0], 0, sizeof(sv[0]));
		} else
			log_warn(ctx->module, "%s, which superseded it, no longer exists", succ);
		vols_free(sv, sn);
		sv = NULL;
		sn = 0;
	}
	if (n == 0 && gone != NULL) {
		ctx_fail_anywhere(ctx, "%s, which no longer exists: haboot will not serve the older "
		    "data of the volume it replaced. To serve it anyway, remove its %s tag", gone,
		    SUPERSEDED_TAG);
		goto out;
	}
	rc = 0;
out:
	*vsp = vs;
	*np = n;
	vols_free(sv, sn);
	free(gone);
	free(succ);
	return rc;
}

struct tag_call {
	struct hb_ctx *ctx;
	const char *id, *successor;
	struct aws_error err;
};

static int
tag_cb(void *arg)
{
	struct tag_call *t = arg;
	struct aws_params p;
	struct xml_node *x = NULL;
	int rc;

	aws_params_init(&p);
	aws_param(&p, "ResourceId.1", "%s", t->id);
	aws_param(&p, "Tag.1.Key", SUPERSEDED_TAG);
	aws_param(&p, "Tag.1.Value", "%s", t->successor);
	rc = aws_query(t->ctx->aws, AWS_EC2, "CreateTags", &p, &x, &t->err);
	xml_free(x);
	aws_params_free(&p);
	return rc;
}

void
restore_settle(struct hb_ctx *ctx, const struct vol *v)
{
	const char *from = vol_tag(v, RESTORED_FROM_TAG), *as_of = vol_tag(v, COPY_DATA_TAG);
	const char *cur;
	struct tag_call t = {.ctx = ctx, .successor = v->id};
	struct vol *o = NULL;
	size_t n = 0;
	char *summary = NULL, *e;
	long long t0;

	aws_error_init(&t.err);
	if (from == NULL)
		goto out;
	if (describe_volumes(ctx, from, NULL, NULL, 0, NULL, &o, &n) != 0) {
		log_warn(ctx->module, "%s restored from %s: could not look at %s to mark it "
		    "superseded; the next run tries again", v->id, from, from);
		goto out;
	}
	if (n != 1)
		goto out;       /* the old volume is gone: nothing left to serve by mistake */
	if ((cur = vol_tag(&o[0], SUPERSEDED_TAG)) != NULL) {
		if (strcmp(cur, v->id) != 0)
			log_warn(ctx->module, "%s is tagged %s=%s, not this volume %s: its tag is left "
			    "as it is", from, SUPERSEDED_TAG, cur, v->id);
		goto out;       /* settled by an earlier run */
	}
	/* The copy's first run serving: what it may lack is news now. */
	if (as_of != NULL && ctx_fact(ctx, FACT_VOLUME_DATA_AS_OF) == NULL &&
	    (t0 = creds_parse_time(as_of)) > 0)
		data_facts(ctx, as_of, t0);
	t.id = from;
	summary = xasprintf("CreateTags %s %s=%s: its data is older than this copy's, so no "
	    "later boot in %s serves it", from, SUPERSEDED_TAG, v->id, or_unknown(o[0].az));
	if (eff_aws(ctx->eff, "ec2", summary, tag_cb, &t) < 0) {
		e = aws_error_str(&t.err);
		log_warn(ctx->module, "could not tag %s superseded (%s): this copy's %s tag still "
		    "names it, and the next run tries again", from, e, RESTORED_FROM_TAG);
		free(e);
		goto out;
	}
	log_info(ctx->module, "%s (%s) tagged %s=%s: a later boot in %s restores afresh instead "
	    "of serving its older data", from, or_unknown(o[0].az), SUPERSEDED_TAG, v->id,
	    or_unknown(o[0].az));
	ctx_set_fact(ctx, FACT_VOLUME_SUPERSEDED, "%s", from);
	ctx->changed = true;
out:
	/* A failed look here is a warning, not the module's outcome. */
	free(ctx->message);
	ctx->message = NULL;
	vols_free(o, n);
	free(summary);
	aws_error_free(&t.err);
}

void
restore_plan(struct hb_ctx *ctx)
{
	eff_describe(ctx->eff, EK_NOTE, "if the volume is in another zone: use the copy restored "
	    "here earlier (tag %s), else restore the newest completed snapshot of it or tagged "
	    "%s=%s (whoever made it); a volume tagged %s is never used (its successor is)",
	    RESTORED_FROM_TAG, SERVICE_TAG, ctx->service ? ctx->service : "?", SUPERSEDED_TAG);
	eff_aws(ctx->eff, "ec2", "CreateVolume from that snapshot in this zone: the old volume's "
	    "type, size, IOPS, throughput, encryption and KMS key, its tags and the service's",
	    NULL, NULL);
	eff_aws(ctx->eff, "ec2", "CreateTags on the old volume, " SUPERSEDED_TAG "=the copy, once "
	    "the copy is attached and proven", NULL, NULL);
	eff_describe(ctx->eff, EK_NOTE, "the data age (the snapshot's start time against now) "
	    "goes to the log, facts volume.data_as_of and volume.data_age_seconds, and the report");
}

/* CreateTags of haboot:superseded-by, that tag alone, on the volumes the
 * service may serve: the manifest's own (its ARN, or its tags, which copies
 * carry too) and, named by id, the copies restored from it (they carry the
 * service's tag). */
static void
superseded_grant(struct iam_policy *p, const char *id, char *const *keys, char *const *vals,
    size_t n, bool copies)
{
	struct iam_stmt *s = iam_stmt(p, "other_az: snapshot: tag the volume a serving copy "
	    "replaced " SUPERSEDED_TAG ", that tag alone, so it is never served again%s",
	    copies ? " (a copy of the service's)" : "");

	iam_action(s, "ec2:CreateTags");
	iam_cond(s, "ForAllValues:StringEquals", "aws:TagKeys", SUPERSEDED_TAG);
	iam_cond(s, "StringLike", "aws:RequestTag/" SUPERSEDED_TAG, "vol-*");
	if (copies) {
		iam_resource(s, "arn:aws:ec2:*:*:volume/*");
		iam_cond(s, "StringEquals", "aws:ResourceTag/" SERVICE_TAG, "%s",
		    iam_scope(p)->service);
	} else if (id != NULL)
		iam_resource(s, "arn:aws:ec2:*:*:volume/%s", id);
	else {
		iam_resource(s, "arn:aws:ec2:*:*:volume/*");
		for (size_t i = 0; i < n; i++) {
			char *key = xasprintf("aws:ResourceTag/%s", keys[i]);

			iam_cond(s, "StringEquals", key, "%s", vals[i]);
			free(key);
		}
	}
}

void
restore_permissions(struct iam_policy *p, const char *id, char *const *keys, char *const *vals,
    size_t n)
{
	struct iam_stmt *s;

	s = iam_stmt(p, "other_az: snapshot: restore from a snapshot tagged %s=%s, whoever made "
	    "it (the schedule, Data Lifecycle Manager given that tag)", SERVICE_TAG,
	    iam_scope(p)->service);
	iam_action(s, "ec2:CreateVolume");
	iam_resource(s, "arn:aws:ec2:*::snapshot/*");
	iam_cond(s, "StringEquals", "aws:ResourceTag/" SERVICE_TAG, "%s", iam_scope(p)->service);
	superseded_grant(p, id, keys, vals, n, false);
	if (id == NULL)
		return;     /* by tags: a copy carries them, the volume's grants cover it */
	superseded_grant(p, id, keys, vals, n, true);
	/* By id, the grants name the old volume only; the copy is another. */
	s = iam_stmt(p, "other_az: snapshot: attach the copy restored from %s (it carries %s=%s); "
	    "detach it from this instance to retry a stuck attach", id, SERVICE_TAG,
	    iam_scope(p)->service);
	iam_action(s, "ec2:AttachVolume");
	iam_action(s, "ec2:DetachVolume");
	iam_resource(s, "arn:aws:ec2:*:*:volume/*");
	iam_cond(s, "StringEquals", "aws:ResourceTag/" SERVICE_TAG, "%s", iam_scope(p)->service);
}
