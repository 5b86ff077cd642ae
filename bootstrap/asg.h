/* asg.h: the Auto Scaling calls haboot makes about its own instance: its
 * health (the failure policy) and its lifecycle hook.  Both go through the
 * effects layer, so plan shows them and run makes them. */
#ifndef HABOOT_ASG_H
#define HABOOT_ASG_H

#include <stdbool.h>

#include "context.h"

/* SetInstanceHealth Unhealthy for self, so the group replaces it now
 * (the run's failure policy: ShouldRespectGracePeriod false, the boot
 * itself failed).  Returns what was done, for the report (malloc'd;
 * failures are logged). */
char *asg_mark_unhealthy(struct hb_ctx *ctx, const char *self);

enum asg_health_result {
	ASG_SET,       /* the group has it: it replaces the instance */
	ASG_IN_GRACE,  /* refused: the instance is younger than the group's health
	                  check grace period; *retry_ms says when it ends */
	ASG_LATER,     /* no answer, throttled, 5xx: try again later */
	ASG_REFUSED,   /* refused for good (not in a group, no permission) */
};

/* SetInstanceHealth Unhealthy for self with ShouldRespectGracePeriod as
 * given.  Inside the grace period AWS answers ValidationError "The age of the
 * instance (986 seconds) is less than the configured grace period of 1500
 * seconds": that is ASG_IN_GRACE with *retry_ms the time left (from the
 * numbers, else a minute).  *done (malloc'd) says what happened. */
enum asg_health_result asg_set_unhealthy(struct hb_ctx *ctx, const char *self,
    bool respect_grace, char **done, long long *retry_ms);
/* The seconds of a grace-period refusal: 0 with *age and *grace, else -1. */
int asg_grace_numbers(const char *message, long long *age, long long *grace);
/* CompleteLifecycleAction CONTINUE (ok) or ABANDON for self.
 * Returns what was done, for the report (malloc'd; failures are logged). */
char *asg_complete_hook(struct hb_ctx *ctx, const char *hook, const char *group, const char *self,
    bool ok);

#endif
