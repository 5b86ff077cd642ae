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

const struct module module_notify = {
	.name = "notify",
	.summary = "publish the run report to SNS and health metrics to CloudWatch",
	.required_default = false,
	.parse = notify_parse,
	.plan = notify_plan,
	.apply = NULL,
	.free = notify_free,
};
