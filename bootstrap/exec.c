/* exec.c: fork/exec with a pipe and a deadline; no shell anywhere. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

#define EXEC_OUTPUT_MAX (256 * 1024)
/* After SIGKILL, how long to wait for the child to go.  One stuck in the
 * kernel (D state: a hung disk) cannot die until the I/O returns, and a
 * long-lived watcher must not stop with it: it is left behind and reaped
 * later (exec_reap). */
#define KILL_WAIT_MS (5 * 1000)
#define ABANDONED_MAX 64

static pid_t abandoned[ABANDONED_MAX];

void
exec_reap(void)
{
	for (size_t i = 0; i < ABANDONED_MAX; i++)
		if (abandoned[i] > 0 && waitpid(abandoned[i], NULL, WNOHANG) != 0)
			abandoned[i] = 0;
}

static void
abandon(pid_t pid)
{
	for (size_t i = 0; i < ABANDONED_MAX; i++)
		if (abandoned[i] <= 0) {
			abandoned[i] = pid;
			return;
		}
	/* Full: 64 children stuck in the kernel; this one stays a zombie once it dies. */
}

void
exec_result_free(struct exec_result *res)
{
	buf_free(&res->out);
}

char *
exec_output_tail(const struct buf *out, size_t max)
{
	const char *s = out->data ? out->data : "";
	size_t n = out->len, start;
	struct buf b;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	start = n > max ? n - max : 0;
	buf_init(&b);
	if (start > 0)
		buf_adds(&b, "...");
	for (size_t i = start; i < n; i++) {
		if (s[i] == '\n')
			buf_adds(&b, " | ");
		else if (s[i] != '\t' && (unsigned char)s[i] < 0x20)
			continue;
		else
			buf_addc(&b, s[i]);
	}
	if (b.len == 0)
		buf_adds(&b, "(no output)");
	return buf_steal(&b);
}

char *
argv_to_display(const char *const argv[])
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; argv[i] != NULL; i++) {
		const char *a = argv[i];
		bool quote = *a == '\0' || strpbrk(a, " \t\n\"'\\$`*?;&|<>(){}") != NULL;

		if (i)
			buf_addc(&b, ' ');
		if (!quote) {
			buf_adds(&b, a);
			continue;
		}
		buf_addc(&b, '\'');
		for (const char *p = a; *p; p++) {
			if (*p == '\'')
				buf_adds(&b, "'\\''");
			else
				buf_addc(&b, *p);
		}
		buf_addc(&b, '\'');
	}
	return buf_steal(&b);
}

int
exec_argv(const char *const argv[], long long timeout_ms, struct exec_result *res)
{
	return exec_argv_as(argv, NULL, timeout_ms, res);
}

int
exec_argv_as(const char *const argv[], const struct exec_as *as, long long timeout_ms,
    struct exec_result *res)
{
	int pfd[2], errpipe[2], wstatus = 0;
	pid_t pid;
	long long deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
	bool killed = false;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	/* A second pipe reports an exec failure (errno) back to the parent. */
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if ((pid = fork()) < 0) {
		int saved = errno;

		close(pfd[0]);
		close(pfd[1]);
		close(errpipe[0]);
		close(errpipe[1]);
		errno = saved;
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		/* Start the child in its own process group so a timeout kills its children too. */
		setpgid(0, 0);
		/* A program started by the watcher (a restarted NFS server) must not
		 * inherit signals the watcher holds back. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		const char *stage;
		if (exec_as_apply(as, &stage) == 0)
			execvp(argv[0], (char *const *)(uintptr_t)argv);
		int e = errno;
		(void)!write(errpipe[1], &e, sizeof(e));
		_exit(127);
	}
	close(pfd[1]);
	close(errpipe[1]);
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int wait_ms = -1;
		char chunk[4096];

		if (deadline) {
			long long left = deadline - mono_ms();

			if (left <= 0) {
				kill(-pid, SIGKILL);
				kill(pid, SIGKILL);
				killed = true;
				break;
			}
			wait_ms = left > 1000 ? 1000 : (int)left;
		}
		int pr = poll(&p, 1, wait_ms);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		ssize_t r = read(pfd[0], chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		/* Keep the first EXEC_OUTPUT_MAX bytes whole; drain the rest so the
		 * child never blocks on a full pipe. */
		if (res->out.len < EXEC_OUTPUT_MAX)
			buf_add(&res->out, chunk, (size_t)r < EXEC_OUTPUT_MAX - res->out.len ?
			    (size_t)r : EXEC_OUTPUT_MAX - res->out.len);
	}
	close(pfd[0]);
	/* End of output is not the end of the child: one that closed stdout and
	 * goes on running is still held to the deadline. */
	for (long long gone_by = killed ? mono_ms() + KILL_WAIT_MS : 0;;) {
		pid_t w = waitpid(pid, &wstatus, deadline || killed ? WNOHANG : 0);

		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (w == 0 && killed && mono_ms() >= gone_by) {
			abandon(pid);
			wstatus = 0;
			break;
		}
		if (w == 0 && !killed && mono_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = true;
			gone_by = mono_ms() + KILL_WAIT_MS;
		} else if (w == 0)
			usleep(10 * 1000);
	}
	int child_errno = 0;
	ssize_t er = read(errpipe[0], &child_errno, sizeof(child_errno));
	close(errpipe[0]);
	if (er == (ssize_t)sizeof(child_errno)) {
		exec_result_free(res);
		errno = child_errno;
		return -1;
	}
	if (res->out.data == NULL)
		buf_add(&res->out, "", 0);
	res->timed_out = killed;
	if (!killed && WIFEXITED(wstatus)) {
		res->exited = 1;
		res->status = WEXITSTATUS(wstatus);
	} else {
		res->exited = 0;
		res->status = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : -1;
	}
	return 0;
}
