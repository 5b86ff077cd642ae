/* notify.c: tell operators — SNS report, CloudWatch health and takeover metrics.
 * Not required by default: a failed publish never fails a healthy service.
 * It runs after a failure too (runs_after_failure) and reads the run's
 * outcome from ctx->run, so the runner never needs to know it. */
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "module.h"
#include "status.h"
#include "util.h"

#define SUBJECT_MAX 99    /* SNS refuses subjects of 100 characters or more */
#define TAKEOVER_METRIC "TakeoverSeconds"

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

/* "haboot nfs on i-0abc: ok"; ASCII, one line, under 100 characters.  A
 * long service name is what gets shortened: the outcome must survive. */
static char *
subject(struct hb_ctx *ctx, const struct outcome *oc)
{
	const char *svc = ctx->service ? ctx->service : "service";
	char *tail = xasprintf(" on %s: %s%s", oc->self ? oc->self : "unknown instance",
	    oc->failed ? "FAILED at " : "ok", oc->failed ? oc->failed->name : "");
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

/* Publish the report; on failure *why says what went wrong. */
static int
publish(struct hb_ctx *ctx, const struct notify_cfg *nc, const struct outcome *oc,
    struct buf *done, struct buf *why)
{
	struct nf_call c = {.aws = ctx->aws, .svc = AWS_SNS, .action = "Publish"};
	char *subj = subject(ctx, oc), *msg = report(ctx, oc), *summary;
	const char *attrs[][2] = {
		{"service", ctx->service ? ctx->service : "unknown"},
		{"instance", oc->self ? oc->self : "unknown"},
		{"outcome", oc->failed ? "failed" : "ok"},
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
		aws_param(&c.p, "MessageDeduplicationId", "%s-%lld-%s", oc->self ? oc->self : "i",
		    ctx->run ? ctx->run->started : 0LL, oc->failed ? "failed" : "ok");
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
	free(subj);
	free(msg);
	aws_params_free(&c.p);
	aws_error_free(&c.err);
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
	summary = xasprintf("PutMetricData %s: %s=%s%s%s (Service=%s%s%s)", nc->ns, nc->metric,
	    health, !oc->failed && ctx->run ? ", " TAKEOVER_METRIC "=" : "",
	    !oc->failed && ctx->run ? secs : "", service, oc->self ? ", InstanceId=" : "",
	    oc->self ? oc->self : "");
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

/* ---- release events (module.h: report) --------------------------------- */

static const char *
release_outcome(enum hb_event_kind k)
{
	return k == EV_RELEASING ? "releasing" : k == EV_RELEASED ? "released" : "release-failed";
}

/* "haboot nfs on i-0abc: releasing", one ASCII line under 100 characters. */
static char *
release_subject(struct hb_ctx *ctx, const char *self, enum hb_event_kind k)
{
	const char *svc = ctx->service ? ctx->service : "service";
	const char *what = k == EV_RELEASING ? "releasing" : k == EV_RELEASED ? "released" :
	    "RELEASE STOPPED";
	int room = SUBJECT_MAX - (int)strlen("haboot  on : ") - (int)strlen(self) -
	    (int)strlen(what);
	char *s = xasprintf("haboot %.*s on %s: %s", room > 3 ? room : 3, svc, self, what);

	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	if (strlen(s) > SUBJECT_MAX)
		s[SUBJECT_MAX] = '\0';
	return s;
}

/* A planned stop goes to SNS only: Healthy describes a serving instance, and
 * the next owner's run reports it when it serves. */
static int
report_release(struct hb_ctx *ctx, const struct notify_cfg *nc, const struct hb_event *ev)
{
	struct nf_call c = {.aws = ctx->aws, .svc = AWS_SNS, .action = "Publish"};
	const char *self = md_get(ctx->md, "instance-id");
	const char *zone = md_get(ctx->md, "placement/availability-zone");
	const char *outcome = release_outcome(ev->kind);
	char *subj, *msg, *summary;
	int rc = -1;

	if (nc->sns == NULL) {
		ctx_result(ctx, "no sns topic: the release (%s) is told to no one", outcome);
		return 0;
	}
	self = self ? self : "unknown instance";
	subj = release_subject(ctx, self, ev->kind);
	msg = xasprintf("service:   %s\ninstance:  %s%s%s%s\nevent:     %s\n\n%s\n\n%s",
	    ctx->service ? ctx->service : "?", self, zone ? " (" : "", zone ? zone : "",
	    zone ? ")" : "", outcome, ev->summary ? ev->summary : "", ev->detail ? ev->detail : "");
	aws_params_init(&c.p);
	aws_error_init(&c.err);
	aws_param(&c.p, "TopicArn", "%s", nc->sns);
	aws_param(&c.p, "Subject", "%s", subj);
	aws_param(&c.p, "Message", "%s", msg);
	aws_param(&c.p, "MessageAttributes.entry.1.Name", "service");
	aws_param(&c.p, "MessageAttributes.entry.1.Value.DataType", "String");
	aws_param(&c.p, "MessageAttributes.entry.1.Value.StringValue", "%s",
	    ctx->service ? ctx->service : "unknown");
	aws_param(&c.p, "MessageAttributes.entry.2.Name", "instance");
	aws_param(&c.p, "MessageAttributes.entry.2.Value.DataType", "String");
	aws_param(&c.p, "MessageAttributes.entry.2.Value.StringValue", "%s", self);
	aws_param(&c.p, "MessageAttributes.entry.3.Name", "outcome");
	aws_param(&c.p, "MessageAttributes.entry.3.Value.DataType", "String");
	aws_param(&c.p, "MessageAttributes.entry.3.Value.StringValue", "%s", outcome);
	if (str_ends(nc->sns, ".fifo")) {
		aws_param(&c.p, "MessageGroupId", "%s", ctx->service ? ctx->service : "haboot");
		aws_param(&c.p, "MessageDeduplicationId", "%s-%s-%lld", self, outcome, wall_ms());
	}
	summary = xasprintf("Publish to %s: \"%s\"", nc->sns, subj);
	if (ctx->aws == NULL)
		ctx_fail(ctx, "release report not published to %s: no AWS client", nc->sns);
	else if (eff_aws(ctx->eff, "sns", summary, nf_call_do, &c) == 0) {
		ctx_result(ctx, "%s published to %s (message %s)", outcome, nc->sns,
		    c.message_id ? c.message_id : "?");
		rc = 0;
	} else {
		char *e = aws_error_str(&c.err);

		ctx_fail(ctx, "release report not published to %s: %s", nc->sns, e);
		free(e);
	}
	free(c.message_id);
	free(summary);
	free(subj);
	free(msg);
	aws_params_free(&c.p);
	aws_error_free(&c.err);
	return rc;
}

/* The watcher's events (heartbeats, gave-up...) are the watch issue's; this
 * hook answers the release's and leaves the others to it. */
static int
notify_report(struct hb_ctx *ctx, void *p, const struct hb_event *ev)
{
	switch (ev->kind) {
	case EV_RELEASING:
	case EV_RELEASED:
	case EV_RELEASE_FAILED:
		return report_release(ctx, p, ev);
	default:
		return 0;
	}
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

const struct module module_notify = {
	.name = "notify",
	.summary = "publish the run report to SNS and health metrics to CloudWatch",
	.required_default = false,
	.needs_aws = true,
	.runs_after_failure = true,
	.parse = notify_parse,
	.plan = notify_plan,
	.apply = notify_apply,
	.report = notify_report,
	.permissions = notify_permissions,
	.free = notify_free,
};
