/* runner.h: plan and run a manifest's modules in the order written. */
#ifndef HABOOT_RUNNER_H
#define HABOOT_RUNNER_H

#include <stdbool.h>
#include <stdio.h>

#include "context.h"
#include "exitcode.h"
#include "iam.h"
#include "manifest/manifest.h"

struct run_opts {
	/* Where the report goes; NULL: the standard place, with history (status.h). */
	const char *status_path;
	const char *source;      /* where the manifest came from, for the report */
};

/* A run that stopped before any module ran: no manifest, an invalid one, no
 * credentials.  It leaves the same traces as any other failed boot. */
struct early_failure {
	const char *stage;      /* "manifest", "metadata", "credentials" */
	const char *headline;   /* a few words: "invalid manifest in user-data" */
	const char *message;    /* what is wrong and what to do (the whole text) */
	const char *service;    /* the manifest's name when known, or NULL */
	const char *instance;   /* this instance's id when known, or NULL */
	long long started;      /* wall ms the run began, or 0 */
	int exit_code;
};

/* Records every module's plan through ctx->eff (record mode) and prints it. */
int runner_plan(const struct manifest *m, struct hb_ctx *ctx, bool json, FILE *out);
/* Whether the run needs AWS before it starts: a required module that calls
 * it, or a failure policy or lifecycle hook that does.  *who (malloc'd)
 * names the first reason. */
bool runner_needs_aws(const struct manifest *m, char **who);
/* Writes the status file and the console summary of an early failure;
 * returns f->exit_code. */
int runner_report_early(const struct run_opts *o, const struct early_failure *f);
/* Applies every module; writes the status file as it goes.  Returns an exit code. */
int runner_run(const struct manifest *m, struct hb_ctx *ctx, const struct run_opts *o);
/* The IAM permissions of the engine's own calls: SetInstanceHealth (on_failure:
 * mark-unhealthy, and haboot watch giving up) and CompleteLifecycleAction
 * (lifecycle_hook).  Modules declare theirs. */
void runner_permissions(const struct manifest *m, struct iam_policy *p);

#endif
