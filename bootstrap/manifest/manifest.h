/* manifest.h: the haboot manifest, version 1, as typed structs. */
#ifndef HABOOT_MANIFEST_H
#define HABOOT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "util.h"

struct module;

/* EC2 user-data holds at most 16 KiB (before base64). */
#define MANIFEST_USERDATA_MAX 16384
/* A gzipped manifest may inflate to at most this. */
#define MANIFEST_INFLATED_MAX (1024 * 1024)
#define MANIFEST_VERSION 1
#define MANIFEST_MARKER "#haboot"

enum on_failure { ONF_HALT, ONF_MARK_UNHEALTHY };

/* How `haboot watch` keeps the service healthy after run brought it up. */
struct watch_cfg {
	long long interval_ms;  /* between rounds of checks */
	long long failures;     /* failed checks in a row before a repair: one is no verdict */
	long long restarts;     /* repairs within window before giving up */
	long long window_ms;
	long long backoff_ms;   /* least time between repairs; doubles after each */
	long long heartbeat_ms; /* how often the Healthy metric goes out */
	long long api_ms;       /* a module asks AWS about its piece at most this often */
};

/* How `haboot release` hands the service over on a planned stop (release.h). */
enum {
	RELEASE_ON_LIFECYCLE = 1, /* IMDS autoscaling/target-lifecycle-state says Terminated */
	RELEASE_ON_SPOT = 2,      /* IMDS spot/instance-action: a Spot interruption notice */
	RELEASE_ON_REBALANCE = 4, /* IMDS events/recommendations/rebalance */
};

struct release_cfg {
	unsigned on;            /* RELEASE_ON_* the watcher listens for */
	long long timeout_ms;   /* bound on the whole release */
	long long heartbeat_ms; /* RecordLifecycleActionHeartbeat this often while releasing */
	char *hook_name;        /* the termination lifecycle hook to complete, or NULL */
	char *hook_group;       /* its group; NULL: lifecycle_hook's, else Auto Scaling's answer */
};

struct manifest_module {
	const struct module *mod;
	void *cfg;
	bool required;
	int line, col;
};

struct manifest {
	int version;
	char *name;
	enum on_failure on_failure;
	long long deadline_ms;
	char *hook_name;  /* lifecycle hook to complete, or NULL */
	char *hook_group; /* its Auto Scaling group */
	struct watch_cfg watch;
	struct release_cfg release;
	struct manifest_module *mods;
	size_t nmods;
	bool gzipped;
	size_t raw_size;
};

/* A manifest's text as read: inflated when it came gzipped. */
struct manifest_text {
	struct buf text;   /* NUL-terminated */
	bool gzipped;
	size_t raw_size;   /* bytes before inflation */
};

void manifest_text_free(struct manifest_text *t);
/* Checks the size limit, inflates gzip, refuses NUL bytes: 0, or -1 with
 * the problem in d.  Decoding happens once; the text is then parsed as is. */
int manifest_decode(const void *data, size_t len, struct manifest_text *t, struct diag *d);
/* Whether the text starts with MANIFEST_MARKER ("#haboot"). */
bool manifest_has_marker(const struct manifest_text *t);
/* Parses decoded text; every problem goes to d. */
struct manifest *manifest_parse_text(const struct manifest_text *t, struct diag *d);
/* Decodes and parses data.  With require_marker, the first line must be
 * "#haboot" (user-data can hold other formats). */
struct manifest *manifest_parse(const void *data, size_t len, bool require_marker, struct diag *d);
/* Reads path ("-" is stdin) and parses it.  When the file cannot be read at
 * all, *unreadable (if given) is set: that is no manifest, not a bad one. */
struct manifest *manifest_load_file(const char *path, struct diag *d, bool *unreadable);
void manifest_free(struct manifest *m);
const char *on_failure_name(enum on_failure f);

#endif
