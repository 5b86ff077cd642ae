/* status.h: the run report: where it is kept, how `run` writes it, and how
 * `haboot status` and the watch engine read it back.
 *
 * Layout (as cloud-init keeps /var/lib/cloud/data/status.json):
 *   /var/lib/haboot/status.json         the latest report; survives reboots
 *   /var/lib/haboot/history/NAME.json   the last STATUS_HISTORY_KEEP finished ones
 *   /run/haboot/status.json             a symlink to the latest, where
 *                                       earlier versions kept the report
 * Every file is written atomically (temp file, fsync, rename). */
#ifndef HABOOT_STATUS_H
#define HABOOT_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "facts.h"
#include "kv.h"

#define STATUS_DIR "/var/lib/haboot"
#define STATUS_DEFAULT_PATH STATUS_DIR "/status.json"
#define STATUS_HISTORY_DIR STATUS_DIR "/history"
#define STATUS_HISTORY_KEEP 10
#define STATUS_RUN_LINK "/run/haboot/status.json"

enum mod_state { MS_PENDING, MS_RUNNING, MS_OK, MS_FAILED, MS_WARNED, MS_SKIPPED };

struct mod_result {
	const char *name;
	enum mod_state state;
	bool changed;
	long long start_wall; /* ms since the epoch */
	long long duration_ms;
	char *message;
	bool anywhere;        /* failed in a way every instance would repeat */
};

/* The report as run writes it. */
struct run_status {
	const char *service;  /* NULL when the manifest was never read */
	const char *instance;
	const char *source;   /* where the manifest came from */
	long long started;    /* wall ms */
	long long finished;   /* wall ms, 0 while running */
	const char *outcome;  /* "running", "ok", "failed" */
	/* Where a failed run stopped: "manifest", "metadata", "credentials" (before
	 * any module ran), or "modules"; NULL while running or when ok. */
	const char *stage;
	const char *message;  /* why it failed, for a failure before the modules */
	const char *policy;   /* what the failure policy did, or NULL */
	const char *hook;     /* how the lifecycle hook was completed, or NULL */
	struct mod_result *mods;
	size_t nmods;
	const struct kv *facts;
};

const char *mod_state_name(enum mod_state s);
/* Writes st to path atomically (mode 0644), creating the directory.  A path
 * that is a device (/dev/null) is written in place, never replaced.  0, or
 * -1 with errno. */
int status_write(const struct run_status *st, const char *path);
/* Writes st where run keeps it: path, or with path NULL the standard place
 * (STATUS_DEFAULT_PATH and the STATUS_RUN_LINK symlink); a finished report
 * is also added to the history (standard place only), which keeps the newest
 * STATUS_HISTORY_KEEP.  0, or -1 with *why (malloc'd). */
int status_save(const struct run_status *st, const char *path, char **why);
/* The standard layout under dir (dir/status.json, dir/history/), with link
 * (or NULL) pointing at the report: status_save(st, NULL) is
 * status_save_at(st, STATUS_DIR, STATUS_RUN_LINK). */
int status_save_at(const struct run_status *st, const char *dir, const char *link, char **why);

/* A report read back. */
struct status_module {
	char *name, *state, *message;
	bool changed;
	long long duration_ms;
};

struct status_report {
	char *path;           /* the file it was read from */
	char *text;           /* the file as it is */
	char *service, *instance, *source, *outcome, *stage, *message, *policy, *hook;
	char *started, *finished; /* ISO 8601, or NULL */
	long long duration_ms;
	long long pid;        /* the haboot that wrote it, 0 unknown */
	char *boot_id;        /* the boot it was written in, or NULL */
	struct status_module *mods;
	size_t nmods;
	struct kv facts;      /* keyed by fact_name() */
};

/* What a report says of the run, judged now. */
enum status_verdict {
	SV_OK,          /* finished: the service came up */
	SV_FAILED,      /* finished: it failed */
	SV_RUNNING,     /* a run is in progress */
	SV_INTERRUPTED, /* "running", but its haboot is gone (killed, or another boot) */
};

/* Reads the report at path, or with path NULL the standard place (falling
 * back to STATUS_RUN_LINK as older versions wrote it).  0; or -1 with *why
 * (malloc'd) and errno ENOENT when there is no report at all. */
int status_load(const char *path, struct status_report *r, char **why);
void status_report_free(struct status_report *r);
/* A fact the last run recorded (the device, the mountpoint), or NULL. */
const char *status_report_fact(const struct status_report *r, enum fact f);
enum status_verdict status_judge(const struct status_report *r);
const char *status_verdict_name(enum status_verdict v);
/* The report for people, or as it is with json. */
void status_show(const struct status_report *r, bool json, FILE *out);
/* One line per report in the history directory, oldest first: 0, or -1
 * with *why (malloc'd) and errno ENOENT when there is no history. */
int status_show_history(const char *dir, FILE *out, char **why);

#endif
