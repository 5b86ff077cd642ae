/* context.h: what a module sees while it plans or applies. */
#ifndef HABOOT_CONTEXT_H
#define HABOOT_CONTEXT_H

#include <stdbool.h>

#include "effects.h"
#include "kv.h"
#include "manifest/metadata.h"

struct aws;
struct run_status;

struct hb_ctx {
	const char *service;   /* manifest name */
	const char *module;    /* the module now running (log prefix) */
	struct metadata *md;
	struct effects *eff;
	struct aws *aws;       /* NULL when planning offline */
	struct kv facts;       /* values modules hand on: "volume.device", ... */
	/* The run so far (each module's state, duration, message), for modules
	 * that report it; NULL when planning. */
	const struct run_status *run;
	long long deadline;    /* mono_ms() bound of the whole run, 0 none */
	char *message;         /* the current module's outcome, for the status file */
	bool changed;          /* the current module changed something */
};

void ctx_init(struct hb_ctx *ctx);
void ctx_free(struct hb_ctx *ctx);
/* Records why the module failed (also logged); returns -1 for "return ctx_fail(...)". */
int ctx_fail(struct hb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records the module's outcome message (logged at info). */
void ctx_result(struct hb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Facts: "module.key" values later modules and the report read. */
void ctx_set_fact(struct hb_ctx *ctx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ctx_fact(struct hb_ctx *ctx, const char *key);
/* Milliseconds left before the run's deadline (a large number when none). */
long long ctx_time_left(struct hb_ctx *ctx);

#endif
