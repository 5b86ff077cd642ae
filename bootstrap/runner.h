/* runner.h: plan and run a manifest's modules in the order written. */
#ifndef HABOOT_RUNNER_H
#define HABOOT_RUNNER_H

#include <stdbool.h>
#include <stdio.h>

#include "context.h"
#include "iam.h"
#include "manifest/manifest.h"

/* Exit codes, documented in haboot(8). */
enum {
	EXIT_DONE = 0,
	EXIT_MODULE_FAILED = 1,
	EXIT_USAGE = 2,     /* usage error or invalid manifest */
	EXIT_ENVIRONMENT = 3, /* no metadata, no credentials, no manifest in user-data */
};

struct run_opts {
	const char *status_path;
	const char *source;      /* where the manifest came from, for the report */
};

/* Records every module's plan through ctx->eff (record mode) and prints it. */
int runner_plan(const struct manifest *m, struct hb_ctx *ctx, bool json, FILE *out);
/* Applies every module; writes the status file as it goes.  Returns an exit code. */
int runner_run(const struct manifest *m, struct hb_ctx *ctx, const struct run_opts *o);
/* The IAM permissions of the engine's own calls: SetInstanceHealth (on_failure:
 * mark-unhealthy, and haboot watch giving up) and CompleteLifecycleAction
 * (lifecycle_hook).  Modules declare theirs. */
void runner_permissions(const struct manifest *m, struct iam_policy *p);

#endif
