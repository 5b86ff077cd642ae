/* probe.c: the filesystem check's look at the files on the volume (see
 * filesystem.h), in a child process.  A hung device blocks whoever touches
 * it in the kernel, uninterruptibly (D state: not even SIGKILL ends it until
 * the I/O returns), so the watcher never touches it itself: the child does,
 * and tells through a pipe; the watcher waits for the pipe, not the child.
 *
 * The probe's write (MOUNT/.haboot/watch-probe, a line with the time) is the
 * check's measurement, made only while watching, in haboot's own directory:
 * not a change to the service, so not an effect plan would show. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filesystem.h"
#include "util.h"

static const char *const stages[] = {"", "open", "write", "fsync", "close"};

/* What the child reports. */
struct answer {
	int sig_errno;
	int sig_regular;
	int write_errno;
	int stage;
};

/* A child that did not come back: at most one is left behind at a time. */
static pid_t stuck_pid;
static long long stuck_since;

static void
child(int fd, const char *sig, const char *dir, const char *file)
{
	struct answer a = {0};
	struct stat st;
	char line[64];
	int f, n;

	if (lstat(sig, &st) < 0)
		a.sig_errno = errno;
	else
		a.sig_regular = S_ISREG(st.st_mode);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		a.write_errno = errno;
		a.stage = 1;
		goto out;
	}
	n = snprintf(line, sizeof(line), "haboot watch probe %lld\n", (long long)wall_ms());
	if ((f = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0) {
		a.write_errno = errno;
		a.stage = 1;
	} else if (write(f, line, (size_t)n) != n) {
		a.write_errno = errno ? errno : EIO;
		a.stage = 2;
		close(f);
	} else if (fsync(f) < 0) {
		a.write_errno = errno;
		a.stage = 3;
		close(f);
	} else if (close(f) < 0) {
		a.write_errno = errno;
		a.stage = 4;
	}
out:
	(void)!write(fd, &a, sizeof(a));
	_exit(0);
}

void
fs_probe_run(const char *sig, const char *dir, const char *file, long long timeout_ms,
    struct fs_probe *p)
{
	long long start = mono_ms(), deadline = start + timeout_ms;
	struct answer a;
	int pfd[2];
	pid_t pid;

	memset(p, 0, sizeof(*p));
	if (stuck_pid > 0) {
		if (waitpid(stuck_pid, NULL, WNOHANG) == 0) {
			p->stuck = true;
			p->stuck_since = stuck_since;
			return;
		}
		stuck_pid = 0;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		/* Out of processes is no verdict on the disk: say so as a failed write. */
		p->write_errno = errno;
		p->stage = "fork";
		return;
	}
	if (pid == 0) {
		close(pfd[0]);
		child(pfd[1], sig, dir, file);
	}
	close(pfd[1]);
	for (;;) {
		struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
		long long left = deadline - mono_ms();
		int r;

		if (left <= 0) {
			p->timed_out = true;
			break;
		}
		if ((r = poll(&pf, 1, (int)left)) < 0 && errno == EINTR)
			continue;
		if (r > 0 && read(pfd[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) {
			p->sig_errno = a.sig_errno;
			p->sig_regular = a.sig_regular;
			p->write_errno = a.write_errno;
			p->stage = stages[a.stage];
		} else if (r > 0) {
			/* The child died without a word (killed by someone else). */
			p->write_errno = ECHILD;
			p->stage = "the probe's answer";
		} else
			p->timed_out = true;
		break;
	}
	close(pfd[0]);
	if (p->timed_out)
		kill(pid, SIGKILL);
	/* The child exits right after it answers; one still there is stuck. */
	for (long long until = mono_ms() + 200;;) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			break;
		if (mono_ms() >= until) {
			stuck_pid = pid;
			stuck_since = wall_ms() - (mono_ms() - start);
			break;
		}
		usleep(5 * 1000);
	}
}

bool
fs_probe_stuck(long long *since)
{
	if (stuck_pid > 0 && waitpid(stuck_pid, NULL, WNOHANG) != 0)
		stuck_pid = 0;
	*since = stuck_since;
	return stuck_pid > 0;
}
