/* notify.c: tell operators — SNS report, CloudWatch health and takeover metrics.
 * Not required by default: a failed publish never fails a healthy service.
 * It runs after a failure too (runs_after_failure) and reads the run's
 * outcome from ctx->run, so the runner never needs to know it. */
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "aws/creds.h"
#include "module.h"
#include "status.h"
#include "util.h"

#define SUBJECT_MAX 99    /* SNS refuses subjects of 100 characters or more */
#define TAKEOVER_METRIC "TakeoverSeconds"
#define SNAPSHOT_AGE_METRIC "SnapshotAgeSeconds"

static const char *const notify_keys[] = {"sns", "metric", NULL};
static const char *const metric_keys[] = {"namespace", "name", NULL};

struct notify_cfg {
	char *sns;
	char *ns;
	char *metric;
};

static bool
all_of(const char *s, size_t n, const char *set)
{
	return n > 0 && strspn(s, set) >= n;
}

/* arn:PARTITION:sns:REGION:ACCOUNT:TOPIC, every part checked: a typo here
 * surfaces only when a takeover tries to tell someone. */
static const char *
check_sns_arn(const char *s)
{
	static const char *const partitions[] = {"arn:aws:sns:", "arn:aws-cn:sns:",
	    "arn:aws-us-gov:sns:", NULL};
	const char *region = NULL, *account, *topic;
	size_t n;

	if (check_arn(s) != NULL)
		return "is not an ARN: an SNS topic ARN is arn:aws:sns:REGION:ACCOUNT:TOPIC";
	for (size_t i = 0; partitions[i] != NULL; i++)
		if (str_starts(s, partitions[i]))
			region = s + strlen(partitions[i]);
	if (region == NULL)
		return "is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC; "
		       "partition aws, aws-cn or aws-us-gov)";
	account = strchr(region, ':') + 1;
	topic = strchr(account, ':') + 1;
	if (!all_of(region, (size_t)(account - 1 - region), "abcdefghijklmnopqrstuvwxyz0123456789-"))
		return "has a bad region: write it like us-west-2";
	if (topic - 1 - account != 12 || !all_of(account, 12, "0123456789"))
		return "has a bad account: it is 12 digits";
	n = strlen(topic);
	if (str_ends(topic, ".fifo"))
		n -= strlen(".fifo");
	if (strlen(topic) > 256 || !all_of(topic, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_"))
		return "has a bad topic name: 1 to 256 letters, digits, '-' and '_' "
		       "(a FIFO topic ends in .fifo)";
	return NULL;
}

static const char *
check_metric_part(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return "must be 1 to 255 characters";
	if (s[0] == ':')
		return "must not start with ':'";
	return NULL;
}

static const char *
check_metric_namespace(const char *s)
{
	const char *why = check_metric_part(s);

	if (why != NULL)
		return why;
	/* PutMetricData refuses the namespaces AWS services publish in. */
	if (str_starts(s, "AWS/"))
		return "must not start with \"AWS/\" (reserved for AWS services)";
	if (!all_of(s, strlen(s), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789.-_/#:"))
		return "may hold only letters, digits and . - _ / # :";
	return NULL;
}

static void
notify_free(void *p)
{
	struct notify_cfg *nc = p;

	if (nc == NULL)
		return;
	free(nc->sns);
	free(nc->ns);
	free(nc->metric);
	free(nc);
}

static void *
notify_parse(struct cfg *c, const struct ynode *n)
{
	struct notify_cfg *nc = xcalloc(1, sizeof(*nc));
	int errors = c->d->errors;
	const struct ynode *m;

	cfg_map(c, n, "notify module", notify_keys);
	cfg_str(c, n, "sns", false, check_sns_arn, &nc->sns);
	if ((m = ymap_get(n, "metric")) != NULL && cfg_map(c, m, "metric", metric_keys)) {
		cfg_str(c, m, "namespace", true, check_metric_namespace, &nc->ns);
		cfg_str(c, m, "name", true, check_metric_part, &nc->metric);
	}
	if (!ymap_get(n, "sns") && !ymap_get(n, "metric"))
		diag_err(c->d, n, "notify module needs \"sns\", \"metric\" or both");
	if (c->d->errors > errors) {
		notify_free(nc);
		return NULL;
	}
	return nc;
}

static int
notify_plan(struct hb_ctx *ctx, void *p)
{
	struct notify_cfg *nc = p;
	struct effects *e = ctx->eff;
	const char *self = md_get(ctx->md, "instance-id");

	if (nc->sns) {
		char *s = xasprintf("Publish to %s: run report (service, instance, zone, outcome, "
		    "module durations, previous volume holder, errors)", nc->sns);
		eff_aws(e, "sns", s, NULL, NULL);
		free(s);
	}
	if (nc->metric) {
		char *s = xasprintf("PutMetricData %s %s = 1 healthy / 0 not, and TakeoverSeconds "
		    "(dimensions Service=%s, InstanceId=%s)", nc->ns, nc->metric, ctx->service, self);
		eff_aws(e, "cloudwatch", s, NULL, NULL);
		free(s);
	}
	eff_describe(e, EK_NOTE, "runs on failure too; a failed notification is a warning");
	return 0;
}


/* ---- apply ------------------------------------------------------------ */

/* What the report says, gathered from the run so far. */
struct outcome {
	const struct mod_result *failed;   /* first required module that failed */
	size_t pending;                    /* modules still to run after this one */
	const char *self, *zone, *ip, *previous;
	double seconds;                    /* since the run started */
};

static void
gather(struct hb_ctx *ctx, struct outcome *oc)
{
	const struct run_status *run = ctx->run;
	const char *prev;

	memset(oc, 0, sizeof(*oc));
	oc->self = md_get(ctx->md, "instance-id");
	oc->zone = md_get(ctx->md, "placement/availability-zone");
	oc->ip = md_get(ctx->md, "local-ipv4");
	if ((prev = ctx_fact(ctx, FACT_VOLUME_PREVIOUS_OWNER)) == NULL)
		prev = ctx_fact(ctx, FACT_FS_PREVIOUS_HOLDER);
	oc->previous = prev;
	if (run == NULL)
		return;
	oc->seconds = (double)(wall_ms() - run->started) / 1000.0;
	for (size_t i = 0; i < run->nmods; i++) {
		if (run->mods[i].state == MS_FAILED && oc->failed == NULL)
			oc->failed = &run->mods[i];
		if (run->mods[i].state == MS_PENDING)
			oc->pending++;
	}
}

/* "haboot nfs on i-0abc: WHAT"; ASCII, one line, under 100 characters.  A
 * long service name is what gets shortened: what happened must survive. */
static char *
make_subject(struct hb_ctx *ctx, const char *self, const char *what)
{
	const char *svc = ctx->service ? ctx->service : "service";
	char *tail = xasprintf(" on %s: %s", self ? self : "unknown instance", what);
	int room = SUBJECT_MAX - (int)strlen("haboot ") - (int)strlen(tail);
	char *s;

	if ((int)strlen(svc) <= room)
		s = xasprintf("haboot %s%s", svc, tail);
	else
		s = xasprintf("haboot %.*s...%s", room > 3 ? room - 3 : 0, svc, tail);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	if (strlen(s) > SUBJECT_MAX)
		s[SUBJECT_MAX] = '\0';
	free(tail);
	return s;
}

static char *
subject(struct hb_ctx *ctx, const struct outcome *oc)
{
	char *what = xasprintf("%s%s", oc->failed ? "FAILED at " : "ok",
	    oc->failed ? oc->failed->name : "");
	char *s = make_subject(ctx, oc->self, what);

	free(what);
	return s;
}

static char *
report(struct hb_ctx *ctx, const struct outcome *oc)
{
	const struct run_status *run = ctx->run;
	struct buf b;
	char ts[40], d[32];

	buf_init(&b);
	buf_printf(&b, "service:   %s\n", ctx->service ? ctx->service : "?");
	buf_printf(&b, "instance:  %s", oc->self ? oc->self : "unknown");
	if (oc->zone || oc->ip)
		buf_printf(&b, " (%s%s%s)", oc->zone ? oc->zone : "", oc->zone && oc->ip ? ", " : "",
		    oc->ip ? oc->ip : "");
	buf_printf(&b, "\noutcome:   %s%s", oc->failed ? "FAILED at " : "ok",
	    oc->failed ? oc->failed->name : "");
	if (!oc->failed && oc->pending)
		buf_printf(&b, " so far (%zu module%s still to run)", oc->pending,
		    oc->pending == 1 ? "" : "s");
	buf_addc(&b, '\n');
	if (run != NULL) {
		fmt_iso8601(run->started, false, ts, sizeof(ts));
		buf_printf(&b, "started:   %s (%.1fs ago)\n", ts, oc->seconds);
	}
	buf_printf(&b, "previous volume holder: %s\n", oc->previous ? oc->previous : "unknown");
	if (ctx_fact(ctx, FACT_VOLUME_DATA_AS_OF) != NULL)
		buf_printf(&b, "DATA AGE:  %ss: the volume was restored in this zone from a snapshot "
		    "taken %s (%s); writes made after that time are not on it\n",
		    ctx_fact(ctx, FACT_VOLUME_DATA_AGE) ? ctx_fact(ctx, FACT_VOLUME_DATA_AGE) : "?",
		    ctx_fact(ctx, FACT_VOLUME_DATA_AS_OF),
		    ctx_fact(ctx, FACT_VOLUME_RESTORED_FROM) ? ctx_fact(ctx, FACT_VOLUME_RESTORED_FROM)
		    : "?");
	if (run != NULL && run->policy != NULL)
		buf_printf(&b, "failure policy: %s\n", run->policy);
	if (run != NULL && run->nmods > 0) {
		buf_adds(&b, "\nmodules:\n");
		for (size_t i = 0; i < run->nmods; i++) {
			const struct mod_result *r = &run->mods[i];

			/* This module's own line would only say "running". */
			if (r->state == MS_RUNNING)
				continue;
			fmt_duration(r->duration_ms, d, sizeof(d));
			buf_printf(&b, "  %-11s %-8s %8s  %s\n", r->name, mod_state_name(r->state),
			    r->state == MS_PENDING || r->state == MS_SKIPPED ? "-" : d,
			    r->message ? r->message : "");
		}
		bool errors = false;
		for (size_t i = 0; i < run->nmods; i++) {
			const struct mod_result *r = &run->mods[i];

			if (r->state != MS_FAILED && r->state != MS_WARNED)
				continue;
			if (!errors)
				buf_adds(&b, "\nerrors:\n");
			errors = true;
			buf_printf(&b, "  %s: %s\n", r->name, r->message ? r->message : "failed");
		}
	}
	if (run != NULL && run->facts != NULL && run->facts->n > 0) {
		buf_adds(&b, "\nfacts:\n");
		for (size_t i = 0; i < run->facts->n; i++)
			buf_printf(&b, "  %s = %s\n", run->facts->e[i].key, run->facts->e[i].val);
	}
	return buf_steal(&b);
}

/* One query-protocol call made through eff_aws. */
struct nf_call {
	struct aws *aws;
	enum aws_service svc;
	const char *action;
	struct aws_params p;
	struct aws_error err;
	char *message_id;       /* Publish's answer */
};

static int
nf_call_do(void *arg)
{
	struct nf_call *c = arg;
	struct xml_node *x = NULL;
	const char *id;

	if (aws_query(c->aws, c->svc, c->action, &c->p, &x, &c->err) < 0)
		return -1;
	if ((id = xml_text(x, "PublishResult/MessageId")) != NULL)
		c->message_id = xstrdup(id);
	xml_free(x);
	return 0;
}

/* Publishes subj and msg with the attributes subscriptions filter on
 * (service, instance, outcome); dedup tells a FIFO topic's retries apart. */
static int
sns_publish(struct hb_ctx *ctx, const struct notify_cfg *nc, const char *self, const char *subj,
    const char *msg, const char *outcome, const char *dedup, struct buf *done, struct buf *why)
{
	struct nf_call c = {.aws = ctx->aws, .svc = AWS_SNS, .action = "Publish"};
	char *summary;
	const char *attrs[][2] = {
		{"service", ctx->service ? ctx->service : "unknown"},
		{"instance", self ? self : "unknown"},
		{"outcome", outcome},
	};
	int rc;

	aws_params_init(&c.p);
	aws_error_init(&c.err);
	aws_param(&c.p, "TopicArn", "%s", nc->sns);
	aws_param(&c.p, "Subject", "%s", subj);
	aws_param(&c.p, "Message", "%s", msg);
	/* Attributes let subscriptions filter: only failures to the pager. */
	for (size_t i = 0; i < HB_ARRAY_LEN(attrs); i++) {
		char k[64];

		snprintf(k, sizeof(k), "MessageAttributes.entry.%zu.Name", i + 1);
		aws_param(&c.p, k, "%s", attrs[i][0]);
		snprintf(k, sizeof(k), "MessageAttributes.entry.%zu.Value.DataType", i + 1);
		aws_param(&c.p, k, "String");
		snprintf(k, sizeof(k), "MessageAttributes.entry.%zu.Value.StringValue", i + 1);
		aws_param(&c.p, k, "%s", attrs[i][1]);
	}
	/* A FIFO topic wants a group, and an id so a retried publish is not doubled. */
	if (str_ends(nc->sns, ".fifo")) {
		aws_param(&c.p, "MessageGroupId", "%s", ctx->service ? ctx->service : "haboot");
		aws_param(&c.p, "MessageDeduplicationId", "%s-%s", self ? self : "i", dedup);
	}
	summary = xasprintf("Publish to %s: \"%s\"", nc->sns, subj);
	if (ctx->aws == NULL) {
		buf_printf(why, "report not published to %s: no AWS client", nc->sns);
		rc = -1;
	} else if ((rc = eff_aws(ctx->eff, "sns", summary, nf_call_do, &c)) == 0)
		buf_printf(done, "report published to %s (message %s)", nc->sns,
		    c.message_id ? c.message_id : "?");
	else {
		char *e = aws_error_str(&c.err);

		buf_printf(why, "report not published to %s: %s", nc->sns, e);
		free(e);
	}
	free(c.message_id);
	free(summary);
	aws_params_free(&c.p);
	aws_error_free(&c.err);
	return rc;
}

/* Publish the run's report; on failure *why says what went wrong. */
static int
publish(struct hb_ctx *ctx, const struct notify_cfg *nc, const struct outcome *oc,
    struct buf *done, struct buf *why)
{
	char *subj = subject(ctx, oc), *msg = report(ctx, oc);
	char *dedup = xasprintf("%lld-%s", ctx->run ? ctx->run->started : 0LL,
	    oc->failed ? "failed" : "ok");
	int rc = sns_publish(ctx, nc, oc->self, subj, msg, oc->failed ? "failed" : "ok", dedup,
	    done, why);

	free(dedup);
	free(subj);
	free(msg);
	return rc;
}

static void
datum(struct aws_params *p, int n, const char *name, const char *value, const char *unit,
    const char *service, const char *self)
{
	char k[64];
	int d = 0;

	snprintf(k, sizeof(k), "MetricData.member.%d.MetricName", n);
	aws_param(p, k, "%s", name);
	snprintf(k, sizeof(k), "MetricData.member.%d.Value", n);
	aws_param(p, k, "%s", value);
	if (unit != NULL) {
		snprintf(k, sizeof(k), "MetricData.member.%d.Unit", n);
		aws_param(p, k, "%s", unit);
	}
	snprintf(k, sizeof(k), "MetricData.member.%d.Dimensions.member.%d.Name", n, ++d);
	aws_param(p, k, "Service");
	snprintf(k, sizeof(k), "MetricData.member.%d.Dimensions.member.%d.Value", n, d);
	aws_param(p, k, "%s", service);
	if (self != NULL) {
		snprintf(k, sizeof(k), "MetricData.member.%d.Dimensions.member.%d.Name", n, ++d);
		aws_param(p, k, "InstanceId");
		snprintf(k, sizeof(k), "MetricData.member.%d.Dimensions.member.%d.Value", n, d);
		aws_param(p, k, "%s", self);
	}
}

/* Metrics read from facts other modules set: the age of the newest
 * completed snapshot (the data a zone loss would cost).  Returns the next
 * datum number. */
static int
fact_metrics(struct hb_ctx *ctx, struct aws_params *p, int n, const char *service,
    const char *self, struct buf *what)
{
	const char *t = ctx_fact(ctx, FACT_SNAPSHOT_TIME);
	long long at = t ? creds_parse_time(t) : -1;
	char v[32];

	if (at <= 0)
		return n;
	snprintf(v, sizeof(v), "%lld", (wall_ms() - at) / 1000);
	if (self != NULL)
		datum(p, ++n, SNAPSHOT_AGE_METRIC, v, "Seconds", service, self);
	datum(p, ++n, SNAPSHOT_AGE_METRIC, v, "Seconds", service, NULL);
	buf_printf(what, ", " SNAPSHOT_AGE_METRIC "=%s", v);
	return n;
}

/* Health 1/0 and, after a good run, how long the takeover took.  Each is sent
 * per instance and per service alone: an alarm on the service's series
 * survives the instance being replaced. */
static int
put_metrics(struct hb_ctx *ctx, const struct notify_cfg *nc, const struct outcome *oc,
    struct buf *done, struct buf *why)
{
	struct nf_call c = {.aws = ctx->aws, .svc = AWS_MONITORING, .action = "PutMetricData"};
	const char *service = ctx->service ? ctx->service : "unknown";
	const char *health = oc->failed ? "0" : "1";
	char secs[32] = "", *summary;
	struct buf more;
	int n = 0, rc;

	aws_params_init(&c.p);
	aws_error_init(&c.err);
	aws_param(&c.p, "Namespace", "%s", nc->ns);
	if (oc->self != NULL)
		datum(&c.p, ++n, nc->metric, health, NULL, service, oc->self);
	datum(&c.p, ++n, nc->metric, health, NULL, service, NULL);
	/* A failed run took nothing over: its duration would only blur the series. */
	if (!oc->failed && ctx->run != NULL) {
		snprintf(secs, sizeof(secs), "%.3f", oc->seconds);
		if (oc->self != NULL)
			datum(&c.p, ++n, TAKEOVER_METRIC, secs, "Seconds", service, oc->self);
		datum(&c.p, ++n, TAKEOVER_METRIC, secs, "Seconds", service, NULL);
	}
	buf_init(&more);
	n = fact_metrics(ctx, &c.p, n, service, oc->self, &more);
	summary = xasprintf("PutMetricData %s: %s=%s%s%s%s (Service=%s%s%s)", nc->ns, nc->metric,
	    health, !oc->failed && ctx->run ? ", " TAKEOVER_METRIC "=" : "",
	    !oc->failed && ctx->run ? secs : "", more.data ? more.data : "", service,
	    oc->self ? ", InstanceId=" : "", oc->self ? oc->self : "");
	buf_free(&more);
	if (ctx->aws == NULL) {
		buf_printf(why, "metrics not sent to %s: no AWS client", nc->ns);
		rc = -1;
	} else if ((rc = eff_aws(ctx->eff, "cloudwatch", summary, nf_call_do, &c)) == 0)
		buf_printf(done, "%s%s %s=%s sent", done->len ? "; " : "", nc->ns, nc->metric, health);
	else {
		char *e = aws_error_str(&c.err);

		buf_printf(why, "%smetrics not sent to %s: %s", why->len ? "; " : "", nc->ns, e);
		free(e);
	}
	free(summary);
	aws_params_free(&c.p);
	aws_error_free(&c.err);
	return rc;
}

/* The Healthy metric alone (the watcher's heartbeat and events), per
 * instance and per service, as apply sends it. */
static int
put_health(struct hb_ctx *ctx, const struct notify_cfg *nc, const char *self, bool healthy,
    struct buf *done, struct buf *why)
{
	struct nf_call c = {.aws = ctx->aws, .svc = AWS_MONITORING, .action = "PutMetricData"};
	const char *service = ctx->service ? ctx->service : "unknown";
	const char *v = healthy ? "1" : "0";
	char *summary;
	int n = 0, rc;

	aws_params_init(&c.p);
	aws_error_init(&c.err);
	aws_param(&c.p, "Namespace", "%s", nc->ns);
	if (self != NULL)
		datum(&c.p, ++n, nc->metric, v, NULL, service, self);
	datum(&c.p, ++n, nc->metric, v, NULL, service, NULL);
	summary = xasprintf("PutMetricData %s: %s=%s (Service=%s%s%s)", nc->ns, nc->metric, v,
	    service, self ? ", InstanceId=" : "", self ? self : "");
	if (ctx->aws == NULL) {
		buf_printf(why, "%smetric not sent to %s: no AWS client", why->len ? "; " : "",
		    nc->ns);
		rc = -1;
	} else if ((rc = eff_aws(ctx->eff, "cloudwatch", summary, nf_call_do, &c)) == 0)
		buf_printf(done, "%s%s %s=%s sent", done->len ? "; " : "", nc->ns, nc->metric, v);
	else {
		char *e = aws_error_str(&c.err);

		buf_printf(why, "%smetric not sent to %s: %s", why->len ? "; " : "", nc->ns, e);
		free(e);
	}
	free(summary);
	aws_params_free(&c.p);
	aws_error_free(&c.err);
	return rc;
}

static const char *const event_names[] = {
	[EV_HEARTBEAT] = "heartbeat", [EV_GAVE_UP] = "gave-up", [EV_HALTED] = "halted",
	[EV_RECOVERED] = "recovered", [EV_RELEASING] = "releasing", [EV_RELEASED] = "released",
	[EV_RELEASE_FAILED] = "release-failed", [EV_WARNING] = "warning",
};

/* What a subject says of an event, after "haboot SERVICE on INSTANCE: ". */
static char *
event_what(const struct hb_event *ev)
{
	const char *m = ev->module ? ev->module : "?";

	switch (ev->kind) {
	case EV_GAVE_UP:
		return xasprintf("GAVE UP at %s, asks to be replaced", m);
	case EV_HALTED:
		return xasprintf("HALTED at %s, an operator must act", m);
	case EV_RECOVERED:
		return xstrdup("healthy again");
	case EV_RELEASING:
		return xstrdup("releasing the service");
	case EV_RELEASED:
		return xstrdup("released the service");
	case EV_RELEASE_FAILED:
		return xasprintf("release FAILED at %s", m);
	case EV_WARNING:
		return xasprintf("warning from %s", m);
	default:
		return xstrdup(ev->healthy ? "healthy" : "unhealthy");
	}
}

/* The watcher's events (module.h): each heartbeat is the Healthy metric
 * (1/0, the Service dimension as apply sends it) for an alarm or the group
 * to act on; any other event is an SNS message saying what failed and what
 * was tried, with Healthy=0 when the service is not healthy.  A failed
 * publish is this module's failure, which the watcher logs as a warning:
 * never a verdict on the service. */
static int heartbeat(struct hb_ctx *ctx, const struct notify_cfg *nc, bool healthy);

static int
notify_report(struct hb_ctx *ctx, void *p, const struct hb_event *ev)
{
	struct notify_cfg *nc = p;
	const char *self = md_get(ctx->md, "instance-id");
	struct buf done, why, msg;
	char *what = NULL, *subj = NULL, *dedup = NULL, ts[40];
	int bad = 0;

	/* Healthy, and the metrics modules keep in facts (SnapshotAgeSeconds). */
	if (ev->kind == EV_HEARTBEAT)
		return nc->metric ? heartbeat(ctx, nc, ev->healthy) : 0;
	buf_init(&done);
	buf_init(&why);
	buf_init(&msg);
	if (ev->kind != EV_HEARTBEAT && nc->sns != NULL) {
		what = event_what(ev);
		subj = make_subject(ctx, self, what);
		fmt_iso8601(wall_ms(), false, ts, sizeof(ts));
		buf_printf(&msg, "%s\n\nevent:     %s at %s\nhealthy:   %s\n", ev->summary ?
		    ev->summary : what, event_names[ev->kind], ts, ev->healthy ? "yes" : "no");
		if (ev->detail != NULL)
			buf_printf(&msg, "\n%s", ev->detail);
		dedup = xasprintf("%s-%s", event_names[ev->kind], ts);
		if (sns_publish(ctx, nc, self, subj, msg.data, ev->healthy ? "ok" : "failed", dedup,
		    &done, &why) < 0)
			bad++;
	}
	if (nc->metric != NULL && (ev->kind == EV_HEARTBEAT || !ev->healthy ||
	    ev->kind == EV_RECOVERED) && put_health(ctx, nc, self, ev->healthy, &done, &why) < 0)
		bad++;
	if (bad)
		ctx_fail(ctx, "%s", why.data);
	else
		ctx_result(ctx, "%s", done.data ? done.data : "nothing to send");
	free(what);
	free(subj);
	free(dedup);
	buf_free(&done);
	buf_free(&why);
	buf_free(&msg);
	return bad ? -1 : 0;
}

static int
notify_apply(struct hb_ctx *ctx, void *p)
{
	struct notify_cfg *nc = p;
	struct outcome oc;
	struct buf done, why;
	int bad = 0;

	buf_init(&done);
	buf_init(&why);
	gather(ctx, &oc);
	/* Both are tried whatever the other did: either alone still tells someone. */
	if (nc->sns != NULL && publish(ctx, nc, &oc, &done, &why) < 0)
		bad++;
	if (nc->metric != NULL && put_metrics(ctx, nc, &oc, &done, &why) < 0)
		bad++;
	if (bad)
		ctx_fail(ctx, "%s%s%s%s", why.data, done.len ? " (" : "", done.len ? done.data : "",
		    done.len ? ")" : "");
	else
		ctx_result(ctx, "%s", done.data ? done.data : "nothing to send");
	buf_free(&done);
	buf_free(&why);
	return bad ? -1 : 0;
}

static void
notify_permissions(const void *cfg, struct iam_policy *p)
{
	const struct notify_cfg *nc = cfg;
	struct iam_stmt *s;

	if (nc->sns != NULL) {
		s = iam_stmt(p, "publish the run report to the topic");
		iam_action(s, "sns:Publish");
		iam_resource(s, "%s", nc->sns);
	}
	if (nc->metric != NULL) {
		/* PutMetricData has no resource: the namespace condition scopes it. */
		s = iam_stmt(p, "send %s and " TAKEOVER_METRIC " to CloudWatch, in namespace %s only "
		    "(PutMetricData takes no resource)", nc->metric, nc->ns);
		iam_action(s, "cloudwatch:PutMetricData");
		iam_resource(s, "*");
		iam_cond(s, "StringEquals", "cloudwatch:namespace", "%s", nc->ns);
	}
}

/* ---- watch events (module.h: report) ------------------------------------ */

/* The watcher's heartbeat: Healthy as the event says, and the metrics read
 * from facts (SnapshotAgeSeconds). */
static int
heartbeat(struct hb_ctx *ctx, const struct notify_cfg *nc, bool healthy)
{
	struct nf_call c = {.aws = ctx->aws, .svc = AWS_MONITORING, .action = "PutMetricData"};
	const char *service = ctx->service ? ctx->service : "unknown";
	const char *self = md_get(ctx->md, "instance-id");
	const char *h = healthy ? "1" : "0";
	struct buf more;
	char *summary;
	int n = 0, rc;

	aws_params_init(&c.p);
	aws_error_init(&c.err);
	buf_init(&more);
	aws_param(&c.p, "Namespace", "%s", nc->ns);
	if (self != NULL)
		datum(&c.p, ++n, nc->metric, h, NULL, service, self);
	datum(&c.p, ++n, nc->metric, h, NULL, service, NULL);
	n = fact_metrics(ctx, &c.p, n, service, self, &more);
	summary = xasprintf("PutMetricData %s: %s=%s%s (Service=%s)", nc->ns, nc->metric, h,
	    more.data ? more.data : "", service);
	if (ctx->aws == NULL)
		rc = ctx_fail(ctx, "metrics not sent to %s: no AWS client", nc->ns);
	else if ((rc = eff_aws(ctx->eff, "cloudwatch", summary, nf_call_do, &c)) < 0) {
		char *e = aws_error_str(&c.err);

		ctx_fail(ctx, "metrics not sent to %s: %s", nc->ns, e);
		free(e);
	}
	free(summary);
	buf_free(&more);
	aws_params_free(&c.p);
	aws_error_free(&c.err);
	return rc;
}

const struct module module_notify = {
	.name = "notify",
	.summary = "publish the run report to SNS and health metrics to CloudWatch",
	.required_default = false,
	.needs_aws = true,
	.runs_after_failure = true,
	.parse = notify_parse,
	.plan = notify_plan,
	.apply = notify_apply,
	.permissions = notify_permissions,
	.report = notify_report,
	.free = notify_free,
};
