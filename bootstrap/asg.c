/* asg.c: Auto Scaling calls about this instance (see asg.h). */
#include "asg.h"

#include <stdlib.h>

#include "aws/aws.h"
#include "aws/xml.h"
#include "log.h"
#include "util.h"

/* An Auto Scaling call made through the effects layer. */
struct asg_call {
	struct aws *aws;
	const char *action;
	struct aws_params p;
	struct aws_error err;
};

static int
asg_call_do(void *arg)
{
	struct asg_call *c = arg;
	struct xml_node *x = NULL;
	int rc;

	rc = aws_query(c->aws, AWS_AUTOSCALING, c->action, &c->p, &x, &c->err);
	xml_free(x);
	return rc;
}

/* Makes the call; *why (malloc'd) says why it failed. */
static int
asg_call(struct hb_ctx *ctx, struct asg_call *c, const char *summary, char **why)
{
	*why = NULL;
	if (ctx->aws == NULL) {
		*why = xstrdup("no AWS client");
		return -1;
	}
	c->aws = ctx->aws;
	if (eff_aws(ctx->eff, "autoscaling", summary, asg_call_do, c) == 0)
		return 0;
	*why = aws_error_str(&c->err);
	return -1;
}

char *
asg_mark_unhealthy(struct hb_ctx *ctx, const char *self)
{
	struct asg_call c = {.action = "SetInstanceHealth"};
	char *summary, *why = NULL, *done;

	if (self == NULL) {
		done = xstrdup("mark-unhealthy: SetInstanceHealth not sent: this instance's id "
		    "is unknown");
		log_error("haboot", "%s", done);
		return done;
	}
	aws_params_init(&c.p);
	aws_error_init(&c.err);
	aws_param(&c.p, "InstanceId", "%s", self);
	aws_param(&c.p, "HealthStatus", "Unhealthy");
	/* The grace period is for instances still booting; this one has given up. */
	aws_param(&c.p, "ShouldRespectGracePeriod", "false");
	summary = xasprintf("SetInstanceHealth %s Unhealthy: the group replaces it now", self);
	if (asg_call(ctx, &c, summary, &why) == 0)
		done = xasprintf("mark-unhealthy: %s set Unhealthy; the group replaces it",
		    self);
	else {
		done = xasprintf("mark-unhealthy: SetInstanceHealth %s Unhealthy FAILED: %s; "
		    "the group replaces it only when its own health check fails", self, why);
		log_error("haboot", "%s", done);
	}
	free(why);
	free(summary);
	aws_params_free(&c.p);
	aws_error_free(&c.err);
	return done;
}

char *
asg_complete_hook(struct hb_ctx *ctx, const char *hook, const char *group, const char *self,
    bool ok)
{
	struct asg_call c = {.action = "CompleteLifecycleAction"};
	const char *result = ok ? "CONTINUE" : "ABANDON";
	char *summary, *why = NULL, *done;

	if (self == NULL) {
		done = xasprintf("%s %s not sent: this instance's id is unknown", hook, result);
		log_error("haboot", "lifecycle hook %s", done);
		return done;
	}
	aws_params_init(&c.p);
	aws_error_init(&c.err);
	aws_param(&c.p, "LifecycleHookName", "%s", hook);
	aws_param(&c.p, "AutoScalingGroupName", "%s", group);
	aws_param(&c.p, "LifecycleActionResult", "%s", result);
	aws_param(&c.p, "InstanceId", "%s", self);
	summary = xasprintf("CompleteLifecycleAction %s (group %s) for %s: %s", hook,
	    group, self, result);
	if (asg_call(ctx, &c, summary, &why) == 0)
		done = xasprintf("%s %s sent", hook, result);
	else {
		/* The group then waits for the hook's timeout and applies its default. */
		done = xasprintf("%s %s FAILED: %s; the group applies the hook's default "
		    "result when its heartbeat timeout ends", hook, result, why);
		log_error("haboot", "lifecycle hook %s", done);
	}
	free(why);
	free(summary);
	aws_params_free(&c.p);
	aws_error_free(&c.err);
	return done;
}
