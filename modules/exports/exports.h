/* exports.h: the exports module's parts (parse in exports.c, file rendering in
 * render.c, volume proof in guard.c, readiness in ready.c). */
#ifndef HABOOT_EXPORTS_H
#define HABOOT_EXPORTS_H

#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "module.h"
#include "util.h"

enum exports_server { SERVER_KERNEL, SERVER_GANESHA };

/* The first line of every file haboot writes: a file without it is not
 * haboot's and is never overwritten. */
#define EXPORTS_MARKER "# Managed by haboot: edits are lost on its next run."

/* Where NFSv4 client records go, under the volume's mountpoint, so that the
 * server taking the volume over can let clients reclaim their state. */
#define EXPORTS_RECOVERY_DIR ".haboot/nfs-recovery"

/* Defaults (see the comments in render.c for why these values). */
#define EXPORTS_CHECK_HOST "127.0.0.1"
#define EXPORTS_CHECK_PORT 2049
#define EXPORTS_CHECK_TIMEOUT_MS (30 * 1000)
#define EXPORTS_GANESHA_LOG "/var/log/ganesha/ganesha.log"
#define EXPORTS_LEASE_S 60
#define EXPORTS_GRACE_S 90

struct nfs_export {
	char *path;
	char **clients;
	size_t nclients;
	char **options;
	size_t noptions;
	long long fsid;
	int line; /* where the export is in the manifest, for messages */
};

struct exports_cfg {
	int server;
	struct nfs_export *ex;
	size_t nex;
	char **restart;
	size_t nrestart;
	char **stop;      /* stops the server cleanly for a release (release.c) */
	size_t nstop;
	char *config;
	char *signature;  /* proof of the volume when no filesystem module ran */
	char *check_host; /* readiness check: TCP connect to host:port */
	long long check_port;
	long long check_timeout_ms;
	char *check_log;  /* ganesha log scanned for config errors, or NULL */
	bool check_log_set;
	long long lease_s, grace_s;
};

/* exports.c: what the machine holds for this module, read the same way by
 * plan, apply and check: haboot's file as it is, and as the manifest wants it. */
struct exports_view {
	char *recovery;     /* ganesha's RecoveryRoot */
	struct buf want;    /* the file as rendered from the manifest */
	struct buf have;    /* the file as it is (when exists) */
	bool exists, same;
};
/* 0, or -1 after ctx_fail (the file is not haboot's, or unreadable). */
int exports_observe(struct hb_ctx *ctx, const struct exports_cfg *x, struct exports_view *v);
void exports_view_free(struct exports_view *v);

/* check.c: the watcher's check: the server answers RPCs for each NFS version
 * it serves (and MOUNT for v3), and lists the exports. */
enum health exports_check(struct hb_ctx *ctx, void *cfg);
/* Do `exportfs -v` lines (out) list path as an export?  (Pure; unit-tested.) */
bool exports_listed(const char *exportfs_out, const char *path);

/* render.c */
/* NULL if opt (already known to exportfs) can be honoured by NFS-Ganesha, else why not. */
const char *exports_ganesha_refuses(const char *opt);
/* NULL if the options of one export agree with each other, else why not (static or in why). */
const char *exports_options_conflict(char *const opts[], size_t n, char *why, size_t whylen);
/* The whole file haboot owns for x, byte for byte the same for the same input.
 * recovery is ganesha's NFSv4 RecoveryRoot (unused for the kernel). */
void exports_render(const struct exports_cfg *x, const char *recovery, struct buf *out);
/* Where ganesha's RecoveryRoot goes: under the filesystem module's mountpoint,
 * else under the first export's path.  Caller frees. */
char *exports_recovery_root(const struct exports_cfg *x, const char *mountpoint);
/* Does data start with the marker line? */
bool exports_is_ours(const char *data, size_t len);

/* guard.c: invariant 4.  0 when every export path lies on a volume
 * whose signature file is there right now; else -1 after ctx_fail. */
int exports_prove_volume(struct hb_ctx *ctx, const struct exports_cfg *x);

/* release.c: stop serving for a planned stop (module.h: release). */
int exports_release(struct hb_ctx *ctx, void *cfg);

/* ready.c (one connect attempt: net_probe, net.h) */
/* Connects until accepted or timeout_ms passes, logging progress; 0 or -1 and why. */
int exports_wait_ready(const char *prefix, const char *host, int port, long long timeout_ms,
    char *why, size_t whylen);
/* Lines of log past offset that report a ganesha configuration error, joined
 * with "; " (NULL if none).  Caller frees. */
char *exports_ganesha_config_errors(const char *log, long long offset);
/* Size of a file, or 0 when it cannot be read. */
long long exports_file_size(const char *path);

#endif
