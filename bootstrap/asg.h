/* asg.h: the Auto Scaling calls haboot makes about its own instance: its
 * health (the failure policy) and its lifecycle hook.  Both go through the
 * effects layer, so plan shows them and run makes them. */
#ifndef HABOOT_ASG_H
#define HABOOT_ASG_H

#include <stdbool.h>

#include "context.h"

/* SetInstanceHealth Unhealthy for self, so the group replaces it now.
 * Returns what was done, for the report (malloc'd; failures are logged). */
char *asg_mark_unhealthy(struct hb_ctx *ctx, const char *self);
/* CompleteLifecycleAction CONTINUE (ok) or ABANDON for self.
 * Returns what was done, for the report (malloc'd; failures are logged). */
char *asg_complete_hook(struct hb_ctx *ctx, const char *hook, const char *group, const char *self,
    bool ok);

#endif
