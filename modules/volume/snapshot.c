/* snapshot.c: the volume's snapshot schedule, kept by `haboot watch` (the
 * volume module's upkeep).  The snapshots are what other_az=snapshot restores
 * in another zone, so their age is the data a zone loss would cost (the
 * RPO): it is a fact, shown by status and sent as a metric.
 *
 *   snapshots: {every: 1h, keep: 48, freeze: true}
 *
 * Each round it may: take a snapshot once `every` has passed since the
 * newest one (a watcher restarted keeps the pace, it does not start over),
 * with the filesystem frozen just around the CreateSnapshot call (freeze.c);
 * follow the pending ones until EC2 completes them; prune what the schedule
 * made beyond the newest `keep` completed ones, never a pending one, never
 * one it did not make.  A failure is reported, never a health failure. */
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "awsfail.h"
#include "iam.h"
#include "log.h"
#include "util.h"
#include "volume/freeze.h"
#include "volume/volume.h"

/* EC2 refuses a second CreateSnapshot of one volume within about 15 s
 * (SnapshotCreationPerVolumeRateExceeded): a shorter schedule cannot work.
 * Below SNAP_EVERY_WARN_MS it works, and the manifest says what it costs. */
#define SNAP_EVERY_MIN_MS (15 * 1000LL)
#define SNAP_EVERY_WARN_MS (5 * 60 * 1000LL)
#define SNAP_KEEP_MAX 1000
/* While a snapshot is pending, EC2 is asked again after 2 s, then less and
 * less often (x1.5) up to once a minute: a first snapshot may take hours. */
#define SNAP_FOLLOW_FIRST_MS 2000LL
#define SNAP_FOLLOW_MAX_MS (60 * 1000LL)
/* With nothing pending, a look now and then still sees snapshots others
 * made (Data Lifecycle Manager) for the age. */
#define SNAP_LOOK_IDLE_MS (10 * 60 * 1000LL)
/* A failed take is retried after 1 min, doubling, never later than `every`. */
#define SNAP_RETRY_MS (60 * 1000LL)
/* The tag that marks what the schedule made (prune touches only these). */
#define SNAP_VOLUME_TAG "haboot:volume"

static const char *const snap_keys[] = {"every", "keep", "freeze", NULL};

struct snap_sched {
	long long every_ms;
	long long keep;
	bool freeze;
	/* Kept between watch rounds. */
	bool looked;          /* the first look at what exists is done */
	long long next_due;   /* wall ms of the next take */
	long long next_look;  /* mono ms of the next DescribeSnapshots */
	long long look_delay; /* while pending: the backoff */
	int failures;         /* takes failed in a row */
	int look_failures;    /* looks failed in a row */
	bool said_no_volume, said_no_mount;
};

struct snap_sched *
snap_parse(struct cfg *c, const struct ynode *n)
{
	struct snap_sched *s;
	const struct ynode *v;
	int errors = c->d->errors;
	char d[32];

	if (n == NULL)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->freeze = true;
	if (!cfg_map(c, n, "snapshots", snap_keys) && n->kind != Y_MAP)
		goto out;
	if (cfg_duration(c, n, "every", true, 0, 24 * 3600 * 1000LL, &s->every_ms) == CFG_OK) {
		v = ymap_get(n, "every");
		if (s->every_ms < SNAP_EVERY_MIN_MS)
			diag_err(c->d, v, "snapshots: every must be at least 15s, not %s: EC2 refuses "
			    "snapshots of one volume more often than that "
			    "(SnapshotCreationPerVolumeRateExceeded)", v->str);
		else if (s->every_ms < SNAP_EVERY_WARN_MS) {
			fmt_duration(s->every_ms, d, sizeof(d));
			diag_warn(c->d, v, "snapshots: every %s is shorter than 5m: each snapshot "
			    "freezes the filesystem for a moment and keep holds only a short history; "
			    "fine for drills and tests", d);
		}
	}
	v = ymap_get(n, "keep");
	if (v != NULL && v->kind == Y_SCALAR && v->stype == YS_INT && v->ival == 0)
		diag_err(c->d, v, "snapshots: keep must be at least 1: keep: 0 would prune every "
		    "snapshot, the newest too, leaving nothing to restore");
	else
		cfg_int(c, n, "keep", true, 1, SNAP_KEEP_MAX, &s->keep);
	cfg_bool(c, n, "freeze", false, &s->freeze);
out:
	if (c->d->errors > errors) {
		free(s);
		return NULL;
	}
	return s;
}

void
snap_free(struct snap_sched *s)
{
	free(s);
}

void
snap_plan(struct hb_ctx *ctx, const struct snap_sched *s)
{
	char every[32];

	if (s == NULL)
		return;
	fmt_duration(s->every_ms, every, sizeof(every));
	eff_describe(ctx->eff, EK_NOTE, "haboot watch (upkeep): a snapshot once %s has passed since "
	    "the newest one of this service, tagged %s=%s, %s, haboot:generation and haboot:time",
	    every, SERVICE_TAG, ctx->service ? ctx->service : "?", SNAP_VOLUME_TAG);
	eff_aws(ctx->eff, "ec2", s->freeze ? "CreateSnapshot of the volume, its filesystem frozen "
	    "(FIFREEZE) just around the call and thawed on every path (a guard process thaws it "
	    "if haboot stops or dies)" : "CreateSnapshot of the volume (freeze: false: "
	    "crash-consistent)", NULL, NULL);
	eff_aws(ctx->eff, "ec2", "DeleteSnapshot of the schedule's completed snapshots beyond the "
	    "newest keep (never a pending one, never one it did not make)", NULL, NULL);
	eff_describe(ctx->eff, EK_NOTE, "keep %lld; the newest completed snapshot's age is fact "
	    "snapshot.time, metric SnapshotAgeSeconds; a failed snapshot is reported (SNS), not a "
	    "health failure", s->keep);
}

/* ---- what EC2 holds ------------------------------------------------------ */

void
snaps_free(struct snap *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].id);
		free(s[i].volume);
		free(s[i].state);
		free(s[i].progress);
		free(s[i].start);
	}
	free(s);
}

static void
snap_from_xml(const struct xml_node *it, struct snap *s)
{
	const struct xml_node *set, *t;

	memset(s, 0, sizeof(*s));
	s->id = dup_text(it, "snapshotId");
	s->volume = dup_text(it, "volumeId");
	s->state = dup_text(it, "status");
	s->progress = dup_text(it, "progress");
	s->start = dup_text(it, "startTime");
	s->start_ms = s->start ? creds_parse_time(s->start) : -1;
	s->size = xml_text(it, "volumeSize") ? atoll(xml_text(it, "volumeSize")) : 0;
	if ((set = xml_child(it, "tagSet")) != NULL)
		for (t = xml_next(set, "item", NULL); t; t = xml_next(set, "item", t)) {
			const char *k = xml_text(t, "key");

			if (k && str_starts(k, "aws:dlm:"))
				s->dlm = true;
			if (k && !strcmp(k, SNAP_VOLUME_TAG))
				s->ours = true;
		}
	if (s->dlm)
		s->ours = false;
}

int
snap_list(struct hb_ctx *ctx, const char *filter, const char *value, const char *status,
    struct snap **out, size_t *n)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const struct xml_node *set, *it;
	char *token = NULL;
	int rc = -1, pages = 0;

	*out = NULL;
	*n = 0;
	aws_error_init(&err);
	do {
		aws_params_init(&p);
		aws_param(&p, "Owner.1", "self");
		aws_param(&p, "Filter.1.Name", "%s", filter);
		aws_param(&p, "Filter.1.Value.1", "%s", value);
		if (status != NULL) {
			aws_param(&p, "Filter.2.Name", "status");
			aws_param(&p, "Filter.2.Value.1", "%s", status);
		}
		aws_param(&p, "MaxResults", "1000");
		if (token != NULL)
			aws_param(&p, "NextToken", "%s", token);
		free(token);
		token = NULL;
		xml_free(x);
		x = NULL;
		if (aws_query(ctx->aws, AWS_EC2, "DescribeSnapshots", &p, &x, &err) < 0) {
			aws_params_free(&p);
			if (transient(ctx, "DescribeSnapshots", &err)) {
				rc = 1;
				goto out;
			}
			ctx_fail_aws(ctx, &err, "DescribeSnapshots (%s=%s)", filter, value);
			goto out;
		}
		aws_params_free(&p);
		if ((set = xml_find(x, "snapshotSet")) != NULL)
			for (it = xml_next(set, "item", NULL); it; it = xml_next(set, "item", it)) {
				*out = xrealloc(*out, (*n + 1) * sizeof(**out));
				snap_from_xml(it, &(*out)[(*n)++]);
			}
		token = dup_text(x, "nextToken");
	} while (token != NULL && ++pages < 100);
	rc = 0;
out:
	free(token);
	xml_free(x);
	aws_error_free(&err);
	if (rc != 0) {
		snaps_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Newest first; a snapshot with no start time last. */
static int
by_start_desc(const void *a, const void *b)
{
	const struct snap *x = a, *y = b;

	if (x->start_ms != y->start_ms)
		return x->start_ms < y->start_ms ? 1 : -1;
	return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

/* ---- one look: age, pending, prune ------------------------------------- */

struct del_call {
	struct hb_ctx *ctx;
	const char *id;
	struct aws_error err;
};

static int
del_cb(void *arg)
{
	struct del_call *d = arg;
	struct aws_params p;
	struct xml_node *x = NULL;
	int rc;

	aws_params_init(&p);
	aws_param(&p, "SnapshotId", "%s", d->id);
	rc = aws_query(d->ctx->aws, AWS_EC2, "DeleteSnapshot", &p, &x, &d->err);
	xml_free(x);
	aws_params_free(&p);
	return rc;
}

/* DeleteSnapshot; 0, or -1 with why (a warning: the next look tries again). */
static int
delete_snapshot(struct hb_ctx *ctx, const struct snap *s, const char *reason, struct buf *why)
{
	struct del_call d = {.ctx = ctx, .id = s->id};
	char *summary = xasprintf("DeleteSnapshot %s (%s, started %s): %s", s->id,
	    or_unknown(s->state), or_unknown(s->start), reason);
	int rc = 0;

	aws_error_init(&d.err);
	if (eff_aws(ctx->eff, "ec2", summary, del_cb, &d) < 0 &&
	    !aws_error_is(&d.err, "InvalidSnapshot.NotFound")) {
		char *e = aws_error_str(&d.err);

		buf_printf(why, "%sDeleteSnapshot %s: %s", why->len ? "; " : "", s->id, e);
		free(e);
		rc = -1;
	}
	aws_error_free(&d.err);
	free(summary);
	return rc;
}

/* Looks at the service's snapshots and those of its volume: sets the age
 * facts, follows pending ones, prunes.  0, 1 when EC2 did not answer, -1
 * after ctx_fail (a failed snapshot, or a prune EC2 refused). */
static int
look(struct hb_ctx *ctx, struct snap_sched *s, const char *vol)
{
	struct snap *all = NULL, *more = NULL;
	size_t n = 0, nmore = 0, kept = 0, pending = 0;
	const struct snap *newest = NULL, *last = NULL;
	struct buf why, failed;
	int rc;

	buf_init(&why);
	buf_init(&failed);
	if ((rc = snap_list(ctx, "tag:" SERVICE_TAG, ctx->service, NULL, &all, &n)) != 0 ||
	    (rc = snap_list(ctx, "volume-id", vol, "completed", &more, &nmore)) != 0)
		goto out;
	/* A snapshot of the volume that lacks the tag (made by hand) counts for the age. */
	for (size_t i = 0; i < nmore; i++) {
		bool dup = false;

		for (size_t j = 0; j < n && !dup; j++)
			dup = !strcmp(all[j].id, more[i].id);
		if (!dup) {
			all = xrealloc(all, (n + 1) * sizeof(*all));
			all[n++] = more[i];
			memset(&more[i], 0, sizeof(more[i]));
		}
	}
	if (n > 1)
		qsort(all, n, sizeof(*all), by_start_desc);
	for (size_t i = 0; i < n; i++) {
		const struct snap *x = &all[i];

		if (x->id == NULL || x->state == NULL)
			continue;
		if (!strcmp(x->state, "pending")) {
			pending++;
			if (last == NULL || x->start_ms > last->start_ms)
				last = x;
			log_debug(ctx->module, "snapshot %s of %s pending (%s)", x->id,
			    or_unknown(x->volume), or_unknown(x->progress));
			continue;
		}
		if (!strcmp(x->state, "error")) {
			/* EC2 gave up on it: it holds nothing.  Told once: it is then deleted. */
			if (x->ours) {
				buf_printf(&failed, "%s%s (of %s, started %s)", failed.len ? ", " : "",
				    x->id, or_unknown(x->volume), or_unknown(x->start));
				delete_snapshot(ctx, x, "EC2 failed it (error)", &why);
			}
			continue;
		}
		if (strcmp(x->state, "completed") != 0)
			continue;
		if (newest == NULL)
			newest = x;
		if (last == NULL || x->start_ms > last->start_ms)
			last = x;
		if (!x->ours)
			continue;       /* DLM's, or made by hand: their owner's to prune */
		if ((long long)++kept <= s->keep)
			continue;
		delete_snapshot(ctx, x, "beyond keep", &why);
	}
	if (newest != NULL) {
		ctx_set_fact(ctx, FACT_SNAPSHOT_LATEST, "%s", newest->id);
		ctx_set_fact(ctx, FACT_SNAPSHOT_TIME, "%s", or_unknown(newest->start));
	}
	/* The pace survives a restart: the next one is due every after the newest. */
	if (!s->looked) {
		s->looked = true;
		s->next_due = last && last->start_ms > 0 ? last->start_ms + s->every_ms : wall_ms();
	}
	if (pending > 0) {
		s->look_delay = s->look_delay ? s->look_delay * 3 / 2 : SNAP_FOLLOW_FIRST_MS;
		if (s->look_delay > SNAP_FOLLOW_MAX_MS)
			s->look_delay = SNAP_FOLLOW_MAX_MS;
	} else
		s->look_delay = s->every_ms < SNAP_LOOK_IDLE_MS ? s->every_ms : SNAP_LOOK_IDLE_MS;
	s->next_look = mono_ms() + s->look_delay;
	if (failed.len) {
		rc = ctx_fail(ctx, "snapshot %s failed: EC2 marked it error (the next one is due as "
		    "scheduled)%s%s", failed.data, why.len ? "; " : "", why.len ? why.data : "");
		goto out;
	}
	if (why.len) {
		rc = ctx_fail(ctx, "pruning snapshots: %s", why.data);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		/* EC2 refused or did not answer: ask again later, not every round. */
		long long d = SNAP_RETRY_MS << (s->look_failures > 6 ? 6 : s->look_failures);

		s->look_failures++;
		s->next_look = mono_ms() + (d < SNAP_LOOK_IDLE_MS ? d : SNAP_LOOK_IDLE_MS);
	} else
		s->look_failures = 0;
	snaps_free(all, n);
	snaps_free(more, nmore);
	buf_free(&why);
	buf_free(&failed);
	return rc;
}

/* ---- one take ------------------------------------------------------------- */

struct take {
	struct hb_ctx *ctx;
	const char *mountpoint;  /* to freeze, or NULL */
	const char *device;      /* what it must be mounted from */
	struct aws_params p;
	struct aws_error err;
	struct xml_node *answer;
	char *freeze_why;        /* freezing failed: taken unfrozen */
	char *thaw_note;         /* the guard thawed first, or the thaw failed */
	long long frozen_ms;     /* -1: not frozen */
};

static int
take_cb(void *arg)
{
	struct take *t = arg;
	struct hb_ctx *ctx = t->ctx;
	struct freeze fz;
	int rc;

	t->frozen_ms = -1;
	if (t->mountpoint != NULL && freeze_begin(&fz, t->mountpoint, t->device, FREEZE_LIMIT_MS,
	    &t->freeze_why) == 0) {
		/* The snapshot's point in time is set when EC2 accepts the request:
		 * the freeze lasts one call, bounded by FREEZE_LIMIT_MS. */
		aws_set_deadline(ctx->aws, mono_ms() + FREEZE_LIMIT_MS);
		rc = aws_query(ctx->aws, AWS_EC2, "CreateSnapshot", &t->p, &t->answer, &t->err);
		aws_set_deadline(ctx->aws, ctx->deadline);
		t->frozen_ms = freeze_end(&fz, &t->thaw_note);
		return rc;
	}
	return aws_query(ctx->aws, AWS_EC2, "CreateSnapshot", &t->p, &t->answer, &t->err);
}

static void
tag(struct aws_params *p, size_t i, const char *k, const char *v)
{
	param_n(p, "TagSpecification.1.Tag.%zu.Key", i, k);
	param_n(p, "TagSpecification.1.Tag.%zu.Value", i, v);
}

/* CreateSnapshot of vol.  0, or -1 after ctx_fail. */
static int
take(struct hb_ctx *ctx, struct snap_sched *s, const char *vol)
{
	struct take t = {.ctx = ctx, .frozen_ms = -1};
	const char *gen = ctx_fact(ctx, FACT_FS_GENERATION);
	const char *id;
	char now[40], *summary = NULL, *e;
	int rc = -1;

	aws_params_init(&t.p);
	aws_error_init(&t.err);
	if (s->freeze) {
		t.mountpoint = ctx_fact(ctx, FACT_FS_MOUNTPOINT);
		t.device = ctx_fact(ctx, FACT_FS_DEVICE);
		if (t.mountpoint == NULL && !s->said_no_mount) {
			log_warn(ctx->module, "snapshots: freeze is on, but no filesystem module mounts "
			    "%s: snapshots are crash-consistent only", vol);
			s->said_no_mount = true;
		}
	}
	fmt_iso8601(wall_ms(), false, now, sizeof(now));
	aws_param(&t.p, "VolumeId", "%s", vol);
	aws_param(&t.p, "Description", "haboot %s: %s at %s (generation %s)", ctx->service, vol,
	    now, gen ? gen : "unknown");
	aws_param(&t.p, "TagSpecification.1.ResourceType", "snapshot");
	tag(&t.p, 1, SERVICE_TAG, ctx->service);
	tag(&t.p, 2, SNAP_VOLUME_TAG, vol);
	tag(&t.p, 3, "haboot:generation", gen ? gen : "unknown");
	tag(&t.p, 4, "haboot:time", now);
	summary = xasprintf("CreateSnapshot of %s%s%s%s", vol, t.mountpoint ? " (" : "",
	    t.mountpoint ? t.mountpoint : "", t.mountpoint ? " frozen just around the call)" : "");
	if (eff_aws(ctx->eff, "ec2", summary, take_cb, &t) < 0) {
		e = aws_error_str(&t.err);
		ctx_fail(ctx, "CreateSnapshot of %s failed: %s%s%s%s", vol, e,
		    t.frozen_ms >= 0 ? "; the filesystem was thawed" : "",
		    t.thaw_note ? ": " : "", t.thaw_note ? t.thaw_note : "");
		free(e);
		goto out;
	}
	id = xml_text(t.answer, "snapshotId");
	if (t.frozen_ms >= 0)
		log_info(ctx->module, "snapshot %s of %s started (%s); %s was frozen %lld ms",
		    or_unknown(id), vol, or_unknown(xml_text(t.answer, "status")), t.mountpoint,
		    t.frozen_ms);
	else
		log_info(ctx->module, "snapshot %s of %s started (%s), not frozen", or_unknown(id),
		    vol, or_unknown(xml_text(t.answer, "status")));
	/* Taken, but not as asked: say so (reported), and do not hide the snapshot. */
	if (t.freeze_why != NULL) {
		ctx_fail(ctx, "snapshot %s of %s taken without freezing %s (%s): crash-consistent "
		    "only", or_unknown(id), vol, t.mountpoint, t.freeze_why);
		goto out;
	}
	if (t.thaw_note != NULL) {
		ctx_fail(ctx, "snapshot %s of %s: %s", or_unknown(id), vol, t.thaw_note);
		goto out;
	}
	rc = 0;
out:
	free(summary);
	free(t.freeze_why);
	free(t.thaw_note);
	xml_free(t.answer);
	aws_params_free(&t.p);
	aws_error_free(&t.err);
	return rc;
}

int
snap_upkeep(struct hb_ctx *ctx, struct snap_sched *s)
{
	const char *vol = ctx_fact(ctx, FACT_VOLUME_ID);
	char next[40];
	long long delay;
	int rc = 0, r;

	if (vol == NULL || ctx->aws == NULL) {
		if (s->said_no_volume)
			return 0;
		s->said_no_volume = true;
		return ctx_fail(ctx, "snapshots: no volume to snapshot (the run's report names "
		    "none%s)", ctx->aws ? "" : ", and no AWS client");
	}
	if (!s->looked || mono_ms() >= s->next_look) {
		if ((r = look(ctx, s, vol)) > 0 && !s->looked)
			return 0;       /* EC2 did not answer: the schedule starts once it does */
		if (r < 0) {
			rc = -1;
			if (!s->looked) {
				/* What exists is unknown: better a snapshot now than none. */
				s->looked = true;
				s->next_due = wall_ms();
			}
		}
	}
	if (wall_ms() >= s->next_due) {
		if (take(ctx, s, vol) == 0) {
			s->failures = 0;
			s->next_due = wall_ms() + s->every_ms;
			/* Follow it from its first seconds. */
			s->look_delay = 0;
			s->next_look = mono_ms() + SNAP_FOLLOW_FIRST_MS;
		} else {
			rc = -1;
			s->failures++;
			delay = SNAP_RETRY_MS << (s->failures > 6 ? 6 : s->failures - 1);
			s->next_due = wall_ms() + (delay < s->every_ms ? delay : s->every_ms);
		}
	}
	fmt_iso8601(s->next_due, false, next, sizeof(next));
	ctx_set_fact(ctx, FACT_SNAPSHOT_NEXT, "%s", next);
	return rc;
}

void
snap_permissions(const struct snap_sched *s, struct iam_policy *p, const char *id,
    char *const *keys, char *const *vals, size_t n)
{
	const char *svc = iam_scope(p)->service;
	struct iam_stmt *st;

	if (s == NULL)
		return;
	iam_unscoped(p, "ec2:DescribeSnapshots", "snapshots: the service's snapshots, their state "
	    "and age");
	st = iam_stmt(p, "snapshots: snapshot the volume");
	iam_action(st, "ec2:CreateSnapshot");
	if (id != NULL)
		iam_resource(st, "arn:aws:ec2:*:*:volume/%s", id);
	else {
		iam_resource(st, "arn:aws:ec2:*:*:volume/*");
		for (size_t i = 0; i < n; i++) {
			char *key = xasprintf("aws:ResourceTag/%s", keys[i]);

			iam_cond(st, "StringEquals", key, "%s", vals[i]);
			free(key);
		}
	}
	if (id != NULL) {
		/* After other_az=snapshot the volume served is a copy: it carries the tag. */
		st = iam_stmt(p, "snapshots: snapshot a copy of the volume restored in another zone");
		iam_action(st, "ec2:CreateSnapshot");
		iam_resource(st, "arn:aws:ec2:*:*:volume/*");
		iam_cond(st, "StringEquals", "aws:ResourceTag/" SERVICE_TAG, "%s", svc);
	}
	st = iam_stmt(p, "snapshots: every snapshot made carries %s=%s", SERVICE_TAG, svc);
	iam_action(st, "ec2:CreateSnapshot");
	iam_resource(st, "arn:aws:ec2:*::snapshot/*");
	iam_cond(st, "StringEquals", "aws:RequestTag/" SERVICE_TAG, "%s", svc);
	st = iam_stmt(p, "snapshots: tag a snapshot as it is created, and no other");
	iam_action(st, "ec2:CreateTags");
	iam_resource(st, "arn:aws:ec2:*::snapshot/*");
	iam_cond(st, "StringEquals", "ec2:CreateAction", "CreateSnapshot");
	iam_cond(st, "StringEquals", "aws:RequestTag/" SERVICE_TAG, "%s", svc);
	st = iam_stmt(p, "snapshots: prune only what the schedule made (%s=%s and %s)",
	    SERVICE_TAG, svc, SNAP_VOLUME_TAG);
	iam_action(st, "ec2:DeleteSnapshot");
	iam_resource(st, "arn:aws:ec2:*::snapshot/*");
	iam_cond(st, "StringEquals", "aws:ResourceTag/" SERVICE_TAG, "%s", svc);
	iam_cond(st, "Null", "aws:ResourceTag/" SNAP_VOLUME_TAG, "false");
}
