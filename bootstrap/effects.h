/* effects.h: the one door for side effects.
 * In record mode (plan) each call is written down and reported as done;
 * in apply mode it is logged and performed.  Modules call the same functions
 * either way and never ask which mode they are in. */
#ifndef HABOOT_EFFECTS_H
#define HABOOT_EFFECTS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "exec.h"
#include "spawn.h"
#include "util.h"

enum eff_mode { EFF_APPLY, EFF_RECORD };

/* Kinds of recorded steps, as shown by plan. */
enum eff_kind {
	EK_AWS,     /* a mutating AWS call */
	EK_READ,    /* a read-only AWS or IMDS call (plan describes; apply just does it) */
	EK_RUN,     /* a command */
	EK_FILE,    /* a file write */
	EK_MKDIR,   /* a directory */
	EK_WAIT,    /* a bounded wait */
	EK_CHECK,   /* a verification that stops the run when it fails */
	EK_NOTE,    /* a condition or decision */
};

struct eff_step {
	char *module;
	enum eff_kind kind;
	char *text;
};

struct effects {
	enum eff_mode mode;
	const char *module; /* set by the runner before each module */
	struct eff_step *steps;
	size_t nsteps, cap;
	long long cmd_timeout_ms; /* default limit for commands */
	bool quiet;               /* routine calls (the watcher's heartbeat): log at debug */
};

void eff_init(struct effects *e, enum eff_mode mode);
void eff_free(struct effects *e);
const char *eff_kind_name(enum eff_kind k);

/* Describes a step that is not itself a side effect (read, wait, check, note):
 * recorded in plan, logged at debug level in apply. */
void eff_describe(struct effects *e, enum eff_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs argv; res may be NULL.  Returns 0 when the program ran and exited 0,
 * -1 otherwise (res, when given, says how it ended). In record mode: 0. */
int eff_run(struct effects *e, const char *const argv[], struct exec_result *res);
/* The same as a user, in a directory and environment (spawn.h; NULL: haboot's). */
int eff_run_as(struct effects *e, const char *const argv[], const struct exec_as *as,
    struct exec_result *res);
/* Starts argv as a daemon detached from haboot (spawn.h: exec_spawn), its
 * output appended to log.  0 and *pid (0 in record mode), or -1 with *why
 * (caller frees). */
int eff_spawn(struct effects *e, const char *const argv[], const struct exec_as *as,
    const char *log, pid_t *pid, char **why);
/* Sends sig to process pid; what names it for plan and logs ("postgres (pid 42)"). */
int eff_kill(struct effects *e, pid_t pid, int sig, const char *what);
/* Gives path to uid:gid with mode (who names the owner for plan:
 * "postgres:postgres"); with recursive, also every file and directory
 * under it whose owner or group differs (their modes are left alone).
 * Symlinks are never followed.  The number of entries changed (0 when all
 * were right), or -1. */
int eff_chown(struct effects *e, const char *path, const char *who, uid_t uid, gid_t gid,
    mode_t mode, bool recursive);
int eff_write_file(struct effects *e, const char *path, const void *data, size_t len, mode_t mode);
/* The same for a file whose bytes are only known when it is written (a time,
 * the UUID mkfs picks): plan says what it holds instead of a size it cannot
 * know.  In record mode data may be NULL. */
int eff_write_file_about(struct effects *e, const char *path, const void *data, size_t len,
    mode_t mode, const char *about);
int eff_mkdir(struct effects *e, const char *path, mode_t mode);
/* A mutating AWS call: summary says what it does ("AttachVolume vol-1 to i-2 as /dev/sdf").
 * call(arg) performs it in apply mode. */
int eff_aws(struct effects *e, const char *service, const char *summary, int (*call)(void *arg),
    void *arg);

/* plan output */
void eff_print_text(const struct effects *e, FILE *out);
void eff_print_json(const struct effects *e, struct buf *b);

#endif
