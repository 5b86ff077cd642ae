/* spawn.h: programs run as another user in a clean environment, and daemons
 * started detached from haboot.
 *
 * A daemon haboot starts must outlive it (haboot run exits; the watcher may
 * be restarted), so exec_spawn gives it a session of its own, stdin from
 * /dev/null, its output in a log file (never a pipe haboot reads: a child
 * holding that pipe open would hang the caller's wait for end of output),
 * no descriptor of haboot's, an empty signal mask and default signal
 * dispositions, and only the environment it was given: haboot's own holds
 * AWS credentials. */
#ifndef HABOOT_SPAWN_H
#define HABOOT_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

/* Who and where a program runs.  Built by exec_as_resolve (or zeroed: run
 * as haboot, in haboot's environment and directory). */
struct exec_as {
	bool switch_ids;     /* set uid, gid and groups below */
	uid_t uid;
	gid_t gid;
	gid_t *groups;       /* supplementary groups */
	int ngroups;
	char *who;           /* "postgres:postgres", for plan and logs; NULL: haboot's own */
	char *home, *shell;  /* from the password entry */
	char **env;          /* NULL-terminated "K=V": the whole environment; NULL: haboot's */
	char *dir;           /* working directory; NULL: unchanged (spawn: /) */
};

/* The default PATH a program started with a clean environment gets. */
#define EXEC_AS_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Fills as for user (a name or a numeric id; NULL: root) and group (a name or
 * numeric id; NULL: the user's primary group), looked up on this machine.
 * 0, or -1 with *why (caller frees) naming what is unknown. */
int exec_as_resolve(struct exec_as *as, const char *user, const char *group, char **why);
/* A clean environment: PATH, HOME, USER, LOGNAME, SHELL for the resolved
 * user, then each names[i]=values[i] (which may replace those). */
void exec_as_env(struct exec_as *as, char *const names[], char *const values[], size_t n);
void exec_as_free(struct exec_as *as);
/* In a child after fork: groups, gid, uid, then the directory.  -1 and errno;
 * *stage says which step failed.  Async-signal-safe. */
int exec_as_apply(const struct exec_as *as, const char **stage);

/* Starts argv detached (see the top of this file), its stdout and stderr
 * appended to log (created 0640 if missing).  Returns 0 and *pid once the
 * program is executing; -1 with *why (caller frees) when it could not be
 * started (the log cannot be opened, the user cannot be taken on, the
 * program is not found).  The program is haboot's child until haboot exits:
 * reap it with waitpid(WNOHANG) to learn of an early exit. */
int exec_spawn(const char *const argv[], const struct exec_as *as, const char *log, pid_t *pid,
    char **why);

/* The start time of process pid (clock ticks after boot, /proc/PID/stat),
 * which with the pid names one process across pid reuse; -1 when there is
 * no such process or it is a zombie. */
long long proc_start_time(pid_t pid);
/* Is the process pid, started at start, still running (not a zombie)?
 * Reaps it first when it is haboot's own child. */
bool proc_running(pid_t pid, long long start);

#endif
