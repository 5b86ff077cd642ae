/* lifecycle.h: the termination lifecycle hook a release answers.  While the
 * hook holds this instance in Terminating:Wait the group waits for haboot:
 * RecordLifecycleActionHeartbeat buys another HeartbeatTimeout while a release
 * runs long, and CompleteLifecycleAction CONTINUE lets the group terminate the
 * instance as soon as the volume is handed over.  The action is named by its
 * LifecycleActionToken when one is known, else by the instance id. */
#ifndef HABOOT_LIFECYCLE_H
#define HABOOT_LIFECYCLE_H

#include <stdbool.h>

#include "context.h"

struct lc_hook {
	char *name;        /* LifecycleHookName */
	char *group;       /* AutoScalingGroupName */
	const char *self;  /* this instance */
	const char *token; /* LifecycleActionToken, or NULL */
};

/* This instance's group, as Auto Scaling knows it (DescribeAutoScalingInstances):
 * 0 with *group (and *state, its lifecycle state, when asked), or -1 with *why
 * (all malloc'd). */
int lc_group_of(struct hb_ctx *ctx, const char *self, char **group, char **state, char **why);
/* RecordLifecycleActionHeartbeat through ctx->eff: 0, or -1 with *why (malloc'd). */
int lc_heartbeat(struct hb_ctx *ctx, const struct lc_hook *h, char **why);
/* CompleteLifecycleAction with result ("CONTINUE" or "ABANDON") through
 * ctx->eff.  Returns what was done, for the report (malloc'd); *ok says
 * whether Auto Scaling took it. */
char *lc_complete(struct hb_ctx *ctx, const struct lc_hook *h, const char *result, bool *ok);
void lc_hook_free(struct lc_hook *h);

#endif
