/* watch.h: keep the service healthy after run brought it up.
 *
 * Every interval each module checks its own piece (module.h: check).  One
 * failed check is no verdict: after `failures` in a row the module repairs
 * it (restart, remount, re-assert), at most `restarts` times in `window`,
 * with a backoff between repairs.  Once that budget is spent the watcher
 * gives up: the reporting modules tell operators (SNS, Healthy=0) and the
 * instance asks its group to be replaced (SetInstanceHealth Unhealthy).
 * A failure every new instance would repeat (ctx_fail_anywhere) is never
 * repaired or replaced: it is reported and the watcher halts.  A check that
 * cannot run is "unknown": shown, never escalated (DESIGN.md invariant 9). */
#ifndef HABOOT_WATCH_H
#define HABOOT_WATCH_H

#include <stdbool.h>
#include <stdio.h>

#include "context.h"
#include "manifest/manifest.h"

#define WATCH_STATE_DEFAULT_PATH "/run/haboot/watch.json"

struct watch_opts {
	const char *status_path; /* the run's report: must say the service is up */
	const char *state_path;  /* where the watcher keeps its own state */
	const char *source;      /* where the manifest came from */
	bool once;               /* one round of checks, no repair, no report, printed
	                            on stdout (the state file is left alone), then exit:
	                            0 healthy, 1 a check failed, 3 a check could not run */
};

/* Watches until a signal stops it (SIGTERM, SIGINT) or, with once, for one
 * round.  Returns an exit code (runner.h). */
int watch_run(const struct manifest *m, struct hb_ctx *ctx, const struct watch_opts *o);

/* The watcher's state file beside a run report: /run/haboot/watch.json for
 * the default report, else watch.json in the report's directory.  Caller frees. */
char *watch_state_path(const char *status_path);
/* Prints the watcher's state file for `haboot status`; 0, or -1 when there
 * is none (errno ENOENT) or it cannot be read (*why). */
int watch_state_show(const char *path, bool json, FILE *out, char **why);
/* Has the watcher given up or halted (the service is down)? */
bool watch_state_down(const char *path);
/* The run's report as JSON with the watcher's state under "watch". */
int watch_status_json(const char *status_path, const char *state_path, FILE *out, char **why);

#endif
