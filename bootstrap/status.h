/* status.h: the run report, kept in /run/haboot/status.json for `haboot status`. */
#ifndef HABOOT_STATUS_H
#define HABOOT_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "kv.h"

#define STATUS_DEFAULT_PATH "/run/haboot/status.json"

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

struct run_status {
	const char *service;
	const char *instance;
	const char *source;   /* where the manifest came from */
	long long started;    /* wall ms */
	long long finished;   /* wall ms, 0 while running */
	const char *outcome;  /* "running", "ok", "failed" */
	const char *policy;   /* what the failure policy did, or NULL */
	const char *hook;     /* how the lifecycle hook was completed, or NULL */
	struct mod_result *mods;
	size_t nmods;
	const struct kv *facts;
};

/* What watch and release take up from the last run. */
struct status_report {
	char *service, *instance, *outcome;
	struct kv facts;
};

const char *mod_state_name(enum mod_state s);
/* Reads a status file back; 0, or -1 with *why (malloc'd). */
int status_read(const char *path, struct status_report *r, char **why);
void status_report_free(struct status_report *r);
/* Writes atomically (mode 0644), creating the directory. 0 or -1 with errno. */
int status_write(const struct run_status *st, const char *path);
/* Prints a status file for people, or as it is with json; 0, or -1 with a message. */
int status_show(const char *path, bool json, FILE *out, char **why);

#endif
