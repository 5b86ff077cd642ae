/* module.h: the contract every module keeps.  The engine knows modules only
 * through this table; adding a module is one file (or folder) in modules/
 * and one line in modules/registry.c, which provides module_registry.
 *
 * A service has a lifetime, and a module takes part in each stage of it:
 *
 *   run      plan / apply     converge this machine, in manifest order
 *   watch    check / repair   keep it so: check every interval; a failed
 *                             check gets a bounded number of repairs, then
 *                             the watcher gives up (reports, Healthy=0, and
 *                             SetInstanceHealth when a new instance can help)
 *            upkeep           periodic duties that are not health (snapshots)
 *   release  release          hand over on a planned stop, in reverse order
 *   report   report           tell operators of an event (reporting modules)
 *
 * Each module states its steps once: plan, apply and check read the machine
 * through the same observation code (what is mounted, what the server
 * answers), and every change goes through ctx->eff, so plan shows it. */
#ifndef HABOOT_MODULE_H
#define HABOOT_MODULE_H

#include <stdbool.h>

#include "context.h"
#include "iam.h"
#include "manifest/cfg.h"

/* How a check came out. */
enum health {
	HEALTH_OK,
	/* The piece is broken (the server does not answer, the mount is
	 * read-only): the watcher may repair it. */
	HEALTH_FAILED,
	/* The check could not run (IMDS or AWS unreachable, throttled, a
	 * deadline): reported, but never a verdict on its own (DESIGN.md 9). */
	HEALTH_UNKNOWN,
};

/* A moment of the service's life that reporting modules tell of. */
enum hb_event_kind {
	EV_HEARTBEAT,      /* periodic: healthy says what the Healthy metric is */
	EV_GAVE_UP,        /* repairs spent; the instance asks to be replaced */
	EV_HALTED,         /* a failure every instance would repeat: alert, no replacement */
	EV_RECOVERED,      /* healthy again after failed checks */
	EV_RELEASING,      /* a planned stop began (detail says why) */
	EV_RELEASED,       /* handed over cleanly */
	EV_RELEASE_FAILED, /* stopped half way, safely; detail says where and why */
	EV_WARNING,        /* something operators should know that is not a health
	                      failure (a snapshot that failed) */
};

struct hb_event {
	enum hb_event_kind kind;
	bool healthy;        /* the service's health as the event leaves it */
	const char *module;  /* the module concerned, or NULL */
	const char *summary; /* one line: "exports: NFS server does not answer" */
	const char *detail;  /* the body: what failed, what was tried, what next */
};

/* repair: nothing here can help; a new instance can (see struct module). */
#define REPAIR_NEW_INSTANCE 1

struct module {
	const char *name;
	const char *summary;      /* one line for --help and docs */
	bool required_default;    /* may a failure be only a warning by default? */
	/* Also runs when the run has failed (after the failure policy's first
	 * step), reading the outcome from ctx->run: reports, not convergence. */
	bool runs_after_failure;
	/* Calls AWS: a run whose required modules do checks for credentials
	 * and a region before anything starts, and stops once if it has none. */
	bool needs_aws;
	/* Modules that, when the manifest has them, must come before this one
	 * (NULL-terminated, or NULL); the manifest is refused otherwise, and run
	 * does not apply this module unless each of them succeeded in the run,
	 * even one marked required: false.  DNS and the floating address follow
	 * the data path (DESIGN.md invariant 8). */
	const char *const *after;
	/* Reads the module's mapping (runner keys such as "required" removed);
	 * reports every problem through c; returns the config or NULL.  The
	 * config is the module's own for the manifest's lifetime: state a
	 * module keeps between watch ticks (when it last asked the API) may
	 * live in it. */
	void *(*parse)(struct cfg *c, const struct ynode *node);
	/* Describes, through ctx->eff in record mode, what apply would do. */
	int (*plan)(struct hb_ctx *ctx, void *cfg);
	/* Converges this machine; 0 or -1 (after ctx_fail or ctx_fail_anywhere).
	 * Every module has one (test_manifest holds the registry to it). */
	int (*apply)(struct hb_ctx *ctx, void *cfg);
	/* Is this module's piece still as apply left it?  Cheap and local first,
	 * rate-limiting its own API calls.  Reads only; says why through
	 * ctx_result (ok) or ctx_fail/ctx_fail_anywhere (failed or unknown).
	 * NULL: nothing to check. */
	enum health (*check)(struct hb_ctx *ctx, void *cfg);
	/* After a failed check: bring the piece back (restart the server,
	 * remount, re-assert DNS) through ctx->eff.  Never by an action DESIGN.md
	 * forbids (format, force-detach, steal).  0 when done (the next check
	 * judges it), -1 when it failed (it counts against the restarts
	 * allowed), REPAIR_NEW_INSTANCE when nothing on this instance can help
	 * (a filesystem with errors wants fsck at boot): the watcher gives up at
	 * once.  NULL: only a new instance can help. */
	int (*repair)(struct hb_ctx *ctx, void *cfg);
	/* Periodic duties that are not health, such as snapshots; called every
	 * watch tick after the checks, keeping its own schedule.  A failure is
	 * reported (EV_WARNING), never a health failure.  NULL: none. */
	int (*upkeep)(struct hb_ctx *ctx, void *cfg);
	/* Hands this module's piece over on a planned stop (run in reverse
	 * manifest order).  Idempotent: a release interrupted and run again
	 * finishes.  A step that cannot finish safely fails and the release
	 * stops there (DESIGN.md 6).  NULL: nothing to release. */
	int (*release)(struct hb_ctx *ctx, void *cfg);
	/* Reporting modules: tell operators of ev (SNS, metrics).  0 or -1. */
	int (*report)(struct hb_ctx *ctx, void *cfg, const struct hb_event *ev);
	/* The IAM permissions every AWS call above needs (plan, apply, check,
	 * repair, upkeep, release, report), for `haboot iam-policy`: one
	 * statement per kind of call, as narrow as the manifest allows (iam.h):
	 *
	 *	s = iam_stmt(p, "snapshot the volume (upkeep)");
	 *	iam_action(s, "ec2:CreateSnapshot");
	 *	iam_resource(s, "arn:aws:ec2:*:*:volume/%s", c->id);
	 *
	 * A call AWS cannot scope goes through iam_unscoped() with the reason;
	 * a grant wider than it could be says why with iam_note().  Add the
	 * lines with the call: the simulator enforces the generated policy in
	 * the tests, so a call without its permission fails them.  Required:
	 * a module that makes no AWS call says so with iam_no_permissions. */
	void (*permissions)(const void *cfg, struct iam_policy *p);
	void (*free)(void *cfg);
};

const struct module *module_find(const char *name);
/* NULL-terminated, in documentation order (modules/registry.c). */
extern const struct module *const module_registry[];
/* The modules that put the service on this instance (volume, filesystem,
 * exports, service): those that point clients here name it as their
 * "after" list (DESIGN.md invariant 8; modules/registry.c). */
extern const char *const module_serving_path[];

#endif
