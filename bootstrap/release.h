/* release.h: hand the service over on a planned stop, so the next instance
 * takes it over at once instead of after a crash.
 *
 * A release runs each module's release (module.h) in reverse manifest order:
 * the reporting modules say "releasing" and why, DNS is left for the next
 * owner to move, the NFS server is stopped, the filesystem synced, marked
 * released and unmounted, the volume detached normally.  A step that cannot
 * finish safely stops the release where it is, and says why (DESIGN.md 6):
 * nothing after it runs, so a volume still mounted is never detached.  Run
 * again, a release takes up where it stopped: every step is idempotent.
 *
 * While it runs, the instance carries the tag haboot:release ("releasing
 * SERVICE until TIME"): the next instance's volume module reads it from the
 * DescribeInstances answer it already asks for, and waits for the volume
 * (bounded by TIME) instead of fencing or giving up.  A termination
 * lifecycle hook gets RecordLifecycleActionHeartbeat every `heartbeat` while
 * the release runs, and CompleteLifecycleAction CONTINUE once it is done.
 *
 * The release's progress is kept in the run's status file under "release",
 * so `haboot status` shows it and a watcher stops watching a released
 * service.  One release at a time: a lock file beside the status file. */
#ifndef HABOOT_RELEASE_H
#define HABOOT_RELEASE_H

#include <stdbool.h>
#include <stdio.h>

#include "context.h"
#include "manifest/manifest.h"
#include "triggers.h"

/* The tag a releasing instance carries (release.h above, volume/handoff.c). */
#define RELEASE_TAG "haboot:release"

struct release_opts {
	const char *status_path;   /* the run's report: facts come from it, progress goes to it */
	const char *reason;        /* why, for the reports and the status */
	enum trigger_kind trigger; /* what called for it; TRIGGER_NONE: by hand or shutdown */
	long long by_wall;         /* wall ms by which EC2 acts (a Spot notice), 0 if none */
	const char *hook_token;    /* the lifecycle action's token, when known */
	bool complete_hook;        /* CompleteLifecycleAction CONTINUE once released */
};

/* Releases the service; returns an exit code (runner.h): 0 released (or
 * already), 1 stopped at a step (safely, and said why), 3 environment. */
int release_run(const struct manifest *m, struct hb_ctx *ctx, const struct release_opts *o);

/* The watcher listens with this: every TRIGGER_POLL_MS it looks for a sign of
 * a planned stop in instance metadata (the manifest's release.triggers) and
 * releases when one comes.  release_listen returns true once the service is
 * released here, by this watcher or by another process (haboot release): the
 * watcher then stops, for there is nothing left to keep healthy. */
struct release_listener;
struct release_listener *release_listener_new(const struct manifest *m, struct hb_ctx *ctx,
    const char *status_path);
bool release_listen(struct release_listener *L);
void release_listener_free(struct release_listener *L);

/* The permissions a release needs (iam.h), for `haboot iam-policy`. */
struct iam_policy;
void release_permissions(const struct manifest *m, struct iam_policy *p);

/* Whether the status file records a release (done, under way or stopped). */
bool release_recorded(const char *status_path);
/* For `haboot status`: the release recorded in a status file, as lines. */
void release_status_show(const char *status_path, FILE *out);

#endif
