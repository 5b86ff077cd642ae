/* exec.h: run a program from an argv array (never a shell), capture its output. */
#ifndef HABOOT_EXEC_H
#define HABOOT_EXEC_H

#include "util.h"

struct exec_result {
	int exited;      /* 1 if it exited, 0 if killed by a signal or timed out */
	int status;      /* exit code, or the signal number */
	int timed_out;
	struct buf out;  /* stdout and stderr interleaved, capped */
};

/* Runs argv[0] (PATH search) with stdin from /dev/null; kills it after timeout_ms
 * (0: no limit).  Returns 0 if it ran (check res->exited/status), -1 if it could
 * not be started (errno set). */
int exec_argv(const char *const argv[], long long timeout_ms, struct exec_result *res);
/* The same as a user, in a directory and environment (spawn.h); as NULL:
 * haboot's own. */
struct exec_as;
int exec_argv_as(const char *const argv[], const struct exec_as *as, long long timeout_ms,
    struct exec_result *res);
void exec_result_free(struct exec_result *res);
/* Reaps children a timeout killed that had not died yet (stuck in the
 * kernel): a long-lived process calls it now and then. */
void exec_reap(void);
/* The last max bytes of a command's output on one line, for a message:
 * lines joined by " | ", control characters dropped, "..." in front when cut,
 * "(no output)" when there is none.  Caller frees. */
char *exec_output_tail(const struct buf *out, size_t max);
/* "mkfs.ext4 -L data /dev/xvdf", quoting arguments that need it, for logs. */
char *argv_to_display(const char *const argv[]);

#endif
