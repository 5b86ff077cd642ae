/* asg.c: Auto Scaling calls about this instance (see asg.h). */
#include "asg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "awscall.h"
#include "log.h"
#include "util.h"

int
asg_grace_numbers(const char *message, long long *age, long long *grace)
{
	const char *a, *g;

	if (message == NULL || (a = strstr(message, "age of the instance (")) == NULL ||
	    (g = strstr(message, "grace period of ")) == NULL)
		return -1;
	if (sscanf(a + strlen("age of the instance ("), "%lld", age) != 1 ||
	    sscanf(g + strlen("grace period of "), "%lld", grace) != 1 || *age < 0 || *grace < 0)
		return -1;
	return 0;
}

enum asg_health_result
asg_set_unhealthy(struct hb_ctx *ctx, const char *self, bool respect_grace, char **done,
    long long *retry_ms)
{
	struct aws_call c;
	enum asg_health_result r = ASG_REFUSED;
	char *why = NULL;
	long long age, grace;

	*retry_ms = 0;
	if (self == NULL) {
		*done = xstrdup("SetInstanceHealth not sent: this instance's id is unknown");
		log_error("haboot", "%s", *done);
		return ASG_REFUSED;
	}
	aws_call_init(&c, ctx, AWS_AUTOSCALING, "SetInstanceHealth");
	aws_param(&c.p, "InstanceId", "%s", self);
	aws_param(&c.p, "HealthStatus", "Unhealthy");
	aws_param(&c.p, "ShouldRespectGracePeriod", respect_grace ? "true" : "false");
	if (aws_call_send(ctx, &c, "SetInstanceHealth %s Unhealthy%s: the group replaces it",
	    self, respect_grace ? " (respecting the group's health check grace period)" : "")
	    == 0) {
		*done = xasprintf("%s set Unhealthy; the group replaces it", self);
		r = ASG_SET;
		goto out;
	}
	why = aws_error_str(&c.err);
	if (aws_error_is(&c.err, "ValidationError") && c.err.message != NULL &&
	    strstr(c.err.message, "grace period") != NULL) {
		if (asg_grace_numbers(c.err.message, &age, &grace) == 0 && grace > age)
			*retry_ms = (grace - age + 1) * 1000;
		else
			*retry_ms = 60 * 1000;
		*done = xasprintf("SetInstanceHealth %s Unhealthy refused inside the group's health "
		    "check grace period (%s): sent again when it ends, in %llds", self, why,
		    *retry_ms / 1000);
		log_warn("haboot", "%s", *done);
		r = ASG_IN_GRACE;
	} else {
		*done = xasprintf("SetInstanceHealth %s Unhealthy FAILED: %s; the group replaces "
		    "it only when its own health check fails", self, why);
		log_error("haboot", "%s", *done);
		r = aws_error_retryable(&c.err) ? ASG_LATER : ASG_REFUSED;
	}
out:
	free(why);
	aws_call_free(&c);
	return r;
}

char *
asg_mark_unhealthy(struct hb_ctx *ctx, const char *self)
{
	char *done = NULL, *out;
	long long retry;

	/* The grace period is for instances still booting; this one has given up. */
	asg_set_unhealthy(ctx, self, false, &done, &retry);
	out = xasprintf("mark-unhealthy: %s", done);
	free(done);
	return out;
}

char *
asg_complete_hook(struct hb_ctx *ctx, const char *hook, const char *group, const char *self,
    bool ok)
{
	struct aws_call c;
	const char *result = ok ? "CONTINUE" : "ABANDON";
	char *why = NULL, *done;

	if (self == NULL) {
		done = xasprintf("%s %s not sent: this instance's id is unknown", hook, result);
		log_error("haboot", "lifecycle hook %s", done);
		return done;
	}
	aws_call_init(&c, ctx, AWS_AUTOSCALING, "CompleteLifecycleAction");
	aws_param(&c.p, "LifecycleHookName", "%s", hook);
	aws_param(&c.p, "AutoScalingGroupName", "%s", group);
	aws_param(&c.p, "LifecycleActionResult", "%s", result);
	aws_param(&c.p, "InstanceId", "%s", self);
	if (aws_call_send(ctx, &c, "CompleteLifecycleAction %s (group %s) for %s: %s", hook,
	    group, self, result) == 0)
		done = xasprintf("%s %s sent", hook, result);
	else {
		why = aws_error_str(&c.err);
		/* The group then waits for the hook's timeout and applies its default. */
		done = xasprintf("%s %s FAILED: %s; the group applies the hook's default "
		    "result when its heartbeat timeout ends", hook, result, why);
		log_error("haboot", "lifecycle hook %s", done);
	}
	free(why);
	aws_call_free(&c);
	return done;
}
