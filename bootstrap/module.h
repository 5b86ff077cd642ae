/* module.h: the contract every module keeps.  The runner knows modules only
 * through this table; adding a module is one file and one registry line. */
#ifndef HABOOT_MODULE_H
#define HABOOT_MODULE_H

#include <stdbool.h>

#include "context.h"
#include "manifest/cfg.h"

struct module {
	const char *name;
	const char *summary;      /* one line for --help and docs */
	bool required_default;    /* may a failure be only a warning by default? */
	/* Also runs when the run has failed (after the failure policy's first
	 * step), reading the outcome from ctx->run: reports, not convergence. */
	bool runs_after_failure;
	/* Reads the module's mapping (runner keys such as "required" removed);
	 * reports every problem through c; returns the config or NULL. */
	void *(*parse)(struct cfg *c, const struct ynode *node);
	/* Describes, through ctx->eff in record mode, what apply would do. */
	int (*plan)(struct hb_ctx *ctx, void *cfg);
	/* Converges this machine; 0 or -1 (after ctx_fail). */
	int (*apply)(struct hb_ctx *ctx, void *cfg);
	/* Optional health check for a running service; 0 healthy. */
	int (*check)(struct hb_ctx *ctx, void *cfg);
	void (*free)(void *cfg);
};

const struct module *module_find(const char *name);
/* NULL-terminated, in documentation order. */
extern const struct module *const module_registry[];

#endif
