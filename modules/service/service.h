/* service.h: the service module's parts: the manifest (parse.c), readiness
 * probes (ready.c), the processes it starts and stops (proc.c), and the
 * module itself (service.c). */
#ifndef HABOOT_SERVICE_H
#define HABOOT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "context.h"
#include "manifest/cfg.h"
#include "spawn.h"

enum svc_how { SVC_UNIT, SVC_COMMAND };
enum svc_ready { READY_PORT, READY_COMMAND, READY_HTTP };

#define SVC_LOG_DEFAULT "/var/log/haboot/service.log"
#define SVC_PIDFILE_DEFAULT "/run/haboot/service.pid"
#define SVC_READY_HOST "127.0.0.1"
#define SVC_READY_TIMEOUT_MS (90 * 1000)
#define SVC_STOP_TIMEOUT_MS (90 * 1000)
#define SVC_DATA_MODE 0700
/* A watch check is one probe, bounded by this. */
#define SVC_CHECK_TIMEOUT_MS (10 * 1000)

struct svc_cfg {
	int how;
	char *unit;                   /* as written; systemctl adds .service */
	char **command;
	size_t ncommand;
	char *user, *group;           /* who every command of the service runs as */
	char **env_names, **env_values;
	size_t nenv;
	char *directory;
	char *log, *pidfile;          /* command only */
	char **init;                  /* run once on an empty data directory */
	size_t ninit;
	char **stop;                  /* command only; default SIGTERM to the pid */
	size_t nstop;
	long long stop_timeout_ms;
	char *data;                   /* the data directory on the volume, or NULL */
	char *data_owner, *data_group;
	long long data_mode;
	bool data_recursive;
	int ready;
	char *ready_host;
	long long ready_port;
	char **ready_cmd;
	size_t nready_cmd;
	char *ready_url;
	long long ready_timeout_ms;
};

/* parse.c */
void *svc_parse(struct cfg *c, const struct ynode *n);
void svc_free(void *p);
/* "127.0.0.1:5432 accepts a TCP connection", for plan and messages.  Caller frees. */
char *svc_ready_text(const struct svc_cfg *s);

/* ready.c: one probe; 0 when the service answered, else -1 and why. */
int svc_probe(const struct svc_cfg *s, const struct exec_as *as, long long timeout_ms,
    char *why, size_t whylen);

/* proc.c: the daemon haboot started (command), kept in the pid file as "PID START". */
struct svc_proc {
	pid_t pid;
	long long start;
};
/* The pid file's process if it is still that process and running; else pid 0. */
void svc_proc_read(const struct svc_cfg *s, struct svc_proc *p);
int svc_proc_write(struct hb_ctx *ctx, const struct svc_cfg *s, pid_t pid);
/* Waits until p is gone, up to ms; true when it is. */
bool svc_proc_wait_gone(const struct svc_proc *p, long long ms);
/* The end of path from offset, on one line, for a failure message.  Caller frees. */
char *svc_log_tail(const char *path, long long offset);
long long svc_file_size(const char *path);

#endif
