/* context.h: what a module sees while it plans or applies. */
#ifndef HABOOT_CONTEXT_H
#define HABOOT_CONTEXT_H

#include <stdbool.h>

#include "effects.h"
#include "facts.h"
#include "kv.h"
#include "manifest/metadata.h"

struct aws;
struct run_status;
struct watch_cfg;

/* Whom a failure belongs to.  HERE: this instance (the device never
 * appeared, the server will not start): a new instance may well succeed, so
 * the failure policy may ask the group for one.  ANYWHERE: the volume's data,
 * the manifest or the account (the signature is missing, the volume holds
 * something unknown, a permission is denied): every new instance would fail
 * the same way, so haboot alerts and halts instead of replacing instances in
 * a loop. */
enum fail_scope { FAIL_HERE, FAIL_ANYWHERE };

struct hb_ctx {
	const char *service;   /* manifest name */
	const char *module;    /* the module now running (log prefix) */
	struct metadata *md;
	struct effects *eff;
	struct aws *aws;       /* NULL when planning offline */
	struct kv facts;       /* values modules hand on, keyed by fact_name() */
	/* The run so far (each module's state, duration, message), for modules
	 * that report it; NULL when planning. */
	const struct run_status *run;
	long long deadline;    /* mono_ms() bound of the whole run, 0 none */
	char *message;         /* the current module's outcome, for the status file */
	bool changed;          /* the current module changed something */
	enum fail_scope scope; /* of the current module's failure (ctx_fail: HERE) */
	/* While watching (else NULL): the manifest's watch settings, whose
	 * api_interval bounds how often a check asks AWS (ctx_api_due). */
	const struct watch_cfg *watch;
	/* A check must look afresh, not trust an API answer it keeps: the
	 * watcher asks this before it repairs a later module. */
	bool fresh;
	/* Outcomes are logged at debug (a watcher's round after round of
	 * checks): the watcher logs what changed. */
	bool quiet;
};

void ctx_init(struct hb_ctx *ctx);
void ctx_free(struct hb_ctx *ctx);
/* Records why the module failed (also logged); returns -1 for "return ctx_fail(...)".
 * The failure is this instance's (FAIL_HERE). */
int ctx_fail(struct hb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a failure every instance would repeat (FAIL_ANYWHERE). */
int ctx_fail_anywhere(struct hb_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Records the module's outcome message (logged at info). */
void ctx_result(struct hb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Facts (facts.h): values later modules, watch and the report read. */
void ctx_set_fact(struct hb_ctx *ctx, enum fact f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ctx_fact(struct hb_ctx *ctx, enum fact f);
/* Milliseconds left before the run's deadline (a large number when none). */
long long ctx_time_left(struct hb_ctx *ctx);
/* A check's rate limit for its own AWS calls: true when one may go out now
 * (the slot *next_ms, kept in the module's config, is then booked one
 * api_interval ahead); always true when ctx->fresh or *next_ms is 0. */
bool ctx_api_due(struct hb_ctx *ctx, long long *next_ms);

#endif
