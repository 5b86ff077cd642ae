/* triggers.h: the signs, in instance metadata, that this instance is about to
 * go away on purpose, so the service should be handed over now (release.h).
 *
 *   lifecycle  /latest/meta-data/autoscaling/target-lifecycle-state becomes
 *              "Terminated": the group is terminating this instance (scale-in,
 *              instance refresh, a replacement) and a termination lifecycle
 *              hook holds it in Terminating:Wait for us.
 *   spot       /latest/meta-data/spot/instance-action: 404 until EC2 decides
 *              to interrupt this Spot instance, then {"action": "terminate",
 *              "time": "...Z"}, about two minutes ahead.
 *   rebalance  /latest/meta-data/events/recommendations/rebalance: 404 until
 *              EC2 sees this Spot instance at elevated risk of interruption,
 *              then {"noticeTime": "...Z"} (an early, optional sign).
 *
 * AWS advises checking every 5 seconds; a look that fails (IMDS down,
 * throttled), or an answer that is not the notice AWS documents, is no sign:
 * it is logged and the next look decides. */
#ifndef HABOOT_TRIGGERS_H
#define HABOOT_TRIGGERS_H

#include <stdbool.h>

#define TRIGGER_POLL_MS 5000
#define TRIGGER_LIFECYCLE_PATH "/latest/meta-data/autoscaling/target-lifecycle-state"
#define TRIGGER_SPOT_PATH "/latest/meta-data/spot/instance-action"
#define TRIGGER_REBALANCE_PATH "/latest/meta-data/events/recommendations/rebalance"

struct imds;

enum trigger_kind { TRIGGER_NONE, TRIGGER_LIFECYCLE, TRIGGER_SPOT, TRIGGER_REBALANCE };

struct trigger {
	enum trigger_kind kind;
	char *why;         /* "autoscaling/target-lifecycle-state is Terminated" */
	long long by_wall; /* wall ms by which EC2 acts (a Spot notice's time), 0 if none */
};

struct triggers {
	struct imds *imds;
	unsigned on;       /* RELEASE_ON_* (manifest.h) */
	long long next;    /* mono ms of the next look */
	bool failing;      /* the last look failed (logged once per streak) */
	bool odd;          /* an answer that is no notice was logged */
};

void triggers_init(struct triggers *t, struct imds *imds, unsigned on);
/* Looks when a look is due: 1 with *out (trigger_free it) when this instance
 * is going away, else 0. */
int triggers_poll(struct triggers *t, struct trigger *out);
/* One look now, whatever the schedule. */
int triggers_look(struct triggers *t, struct trigger *out);
/* The lifecycle state alone ("InService", "Terminated"), or NULL when IMDS
 * has none (not in a group) or cannot say.  Caller frees. */
char *triggers_lifecycle_state(struct imds *imds);
void trigger_free(struct trigger *t);
const char *trigger_name(enum trigger_kind k);

#endif
