/* lifecycle.c: heartbeat and completion of the termination lifecycle hook. */
#include "lifecycle.h"

#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "aws/xml.h"
#include "awscall.h"
#include "log.h"
#include "util.h"

/* The parameters every lifecycle action call names it by. */
static void
lc_params(struct aws_call *c, const struct lc_hook *h)
{
	aws_param(&c->p, "LifecycleHookName", "%s", h->name);
	aws_param(&c->p, "AutoScalingGroupName", "%s", h->group);
	if (h->token != NULL)
		aws_param(&c->p, "LifecycleActionToken", "%s", h->token);
	else
		aws_param(&c->p, "InstanceId", "%s", h->self);
}

int
lc_group_of(struct hb_ctx *ctx, const char *self, char **group, char **state, char **why)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const char *g, *s;
	int rc = -1;

	*group = NULL;
	if (state != NULL)
		*state = NULL;
	*why = NULL;
	if (ctx->aws == NULL || self == NULL) {
		*why = xstrdup(ctx->aws == NULL ? "no AWS client" : "this instance's id is unknown");
		return -1;
	}
	aws_params_init(&p);
	aws_error_init(&err);
	aws_param(&p, "InstanceIds.member.1", "%s", self);
	if (aws_query(ctx->aws, AWS_AUTOSCALING, "DescribeAutoScalingInstances", &p, &x,
	    &err) < 0) {
		*why = aws_error_str(&err);
		goto out;
	}
	g = xml_text(x, "DescribeAutoScalingInstancesResult/AutoScalingInstances/member/"
	    "AutoScalingGroupName");
	s = xml_text(x, "DescribeAutoScalingInstancesResult/AutoScalingInstances/member/"
	    "LifecycleState");
	if (g == NULL || *g == '\0') {
		*why = xasprintf("%s is in no Auto Scaling group (DescribeAutoScalingInstances "
		    "does not know it)", self);
		goto out;
	}
	*group = xstrdup(g);
	if (state != NULL && s != NULL)
		*state = xstrdup(s);
	rc = 0;
out:
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return rc;
}

int
lc_heartbeat(struct hb_ctx *ctx, const struct lc_hook *h, char **why)
{
	struct aws_call c;
	int rc;

	aws_call_init(&c, ctx, AWS_AUTOSCALING, "RecordLifecycleActionHeartbeat");
	lc_params(&c, h);
	rc = aws_call_send(ctx, &c, "RecordLifecycleActionHeartbeat %s (group %s) for %s: still "
	    "releasing", h->name, h->group, h->self);
	*why = rc < 0 ? aws_error_str(&c.err) : NULL;
	aws_call_free(&c);
	return rc;
}

char *
lc_complete(struct hb_ctx *ctx, const struct lc_hook *h, const char *result, bool *ok)
{
	struct aws_call c;
	char *why = NULL, *done;

	aws_call_init(&c, ctx, AWS_AUTOSCALING, "CompleteLifecycleAction");
	lc_params(&c, h);
	aws_param(&c.p, "LifecycleActionResult", "%s", result);
	*ok = aws_call_send(ctx, &c, "CompleteLifecycleAction %s (group %s) for %s%s: %s",
	    h->name, h->group, h->self, h->token ? " by its token" : "", result) == 0;
	if (*ok)
		done = xasprintf("%s %s sent", h->name, result);
	else {
		why = aws_error_str(&c.err);
		done = xasprintf("%s %s FAILED: %s; the group finishes the transition when the "
		    "hook's heartbeat timeout ends", h->name, result, why);
		log_error("release", "lifecycle hook %s", done);
	}
	free(why);
	aws_call_free(&c);
	return done;
}

void
lc_hook_free(struct lc_hook *h)
{
	free(h->name);
	free(h->group);
	memset(h, 0, sizeof(h[0]));
}
