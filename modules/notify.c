/* notify.c: tell operators — SNS report, CloudWatch health and takeover metrics.
 * Not required by default: a failed publish never fails a healthy service. */
#include <stdlib.h>
#include <string.h>

#include "../bootstrap/util.h"
#include "module.h"

static const char *const notify_keys[] = {"sns", "metric", NULL};
static const char *const metric_keys[] = {"namespace", "name", NULL};

struct notify_cfg {
	char *sns;
	char *ns;
	char *metric;
};

static const char *
check_sns_arn(const char *s)
{
	const char *why = check_arn(s);

	if (why)
		return why;
	if (strncmp(s, "arn:aws:sns:", 12) && strncmp(s, "arn:aws-cn:sns:", 15) &&
	    strncmp(s, "arn:aws-us-gov:sns:", 19))
		return "is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)";
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
		cfg_str(c, m, "namespace", true, check_metric_part, &nc->ns);
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

const struct module module_notify = {
	.name = "notify",
	.summary = "publish the run report to SNS and health metrics to CloudWatch",
	.required_default = false,
	.parse = notify_parse,
	.plan = notify_plan,
	.apply = NULL,
	.free = notify_free,
};
