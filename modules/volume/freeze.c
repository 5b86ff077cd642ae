/* freeze.c: FIFREEZE/FITHAW with a guard process (see freeze.h). */
#include "volume/freeze.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define GUARD_FD 3    /* the mountpoint, in the guard */
#define GUARD_PIPE 4  /* the pipe from haboot, in the guard */
#define THAWED 'T'    /* haboot thawed it: the guard touches nothing */

static volatile sig_atomic_t guard_told;

static void
guard_signal(int sig)
{
	(void)sig;
	guard_told = 1;
}

/* The guard: after fork, so only async-signal-safe calls (poll, read,
 * ioctl, write, _exit).  msg is written to stderr if it has to thaw. */
static void __attribute__((noreturn))
guard_main(int fd, int rd, long long ms, const char *msg, size_t msglen)
{
	struct sigaction sa;
	sigset_t none;
	long long deadline;
	int a, b, null;

	/* haboot's handlers write to descriptors about to be closed. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guard_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	/* Keep only stderr, the mountpoint and the pipe. */
	a = fcntl(fd, F_DUPFD, 64);
	b = fcntl(rd, F_DUPFD, 64);
	if (a >= 0 && b >= 0 && dup2(a, GUARD_FD) == GUARD_FD && dup2(b, GUARD_PIPE) == GUARD_PIPE) {
		fd = GUARD_FD;
		rd = GUARD_PIPE;
		(void)close_range(GUARD_PIPE + 1, ~0U, 0);
	}
	if ((null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2 && null != fd && null != rd)
			close(null);
	}
	deadline = mono_ms() + ms;
	while (!guard_told) {
		long long left = deadline - mono_ms();
		struct pollfd p = {.fd = rd, .events = POLLIN};
		char c;
		ssize_t n;
		int r;

		if (left <= 0)
			break;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0)
			continue;
		n = read(rd, &c, 1);
		if (n == 1 && c == THAWED)
			_exit(0);
		if (n < 0 && errno == EINTR)
			continue;
		break;          /* end of file: haboot is gone, or asks for a thaw */
	}
	if (ioctl(fd, FITHAW, 0) == 0) {
		(void)!write(2, msg, msglen);
		_exit(2);
	}
	_exit(errno == EINVAL ? 0 : 1);  /* EINVAL: not frozen (any more) */
}

/* Is fd (path, opened) the root of a filesystem mounted from device? */
static char *
not_the_volume(int fd, const char *path, const char *device)
{
	struct stat m, d;
	char *parent;
	int r;

	if (fstat(fd, &m) < 0)
		return xasprintf("cannot stat %s: %s", path, strerror(errno));
	if (device != NULL) {
		if (stat(device, &d) < 0)
			return xasprintf("cannot stat %s: %s", device, strerror(errno));
		if (!S_ISBLK(d.st_mode) || d.st_rdev != m.st_dev)
			return xasprintf("%s is not mounted from %s (any more)", path, device);
		return NULL;
	}
	parent = xasprintf("%s/..", path);
	r = stat(parent, &d);
	free(parent);
	if (r == 0 && d.st_dev == m.st_dev)
		return xasprintf("%s is not a mount point", path);
	return NULL;
}

int
freeze_begin(struct freeze *f, const char *path, const char *device, long long limit_ms,
    char **why)
{
	int p[2] = {-1, -1}, status;
	char *msg = NULL;

	memset(f, 0, sizeof(*f));
	f->fd = f->tell = -1;
	f->guard = -1;
	*why = NULL;
	if ((f->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		*why = xasprintf("cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	if ((*why = not_the_volume(f->fd, path, device)) != NULL)
		goto fail;
	if (pipe2(p, O_CLOEXEC) < 0) {
		*why = xasprintf("pipe: %s", strerror(errno));
		goto fail;
	}
	/* Written by the guard if it has to thaw; formatted before the fork. */
	msg = xasprintf("haboot: freeze guard: thawed %s: haboot did not finish its snapshot "
	    "call in time, or stopped, or died\n", path);
	if ((f->guard = fork()) < 0) {
		*why = xasprintf("fork: %s", strerror(errno));
		goto fail;
	}
	if (f->guard == 0) {
		close(p[1]);
		guard_main(f->fd, p[0], limit_ms + FREEZE_GUARD_SLACK_MS, msg, strlen(msg));
	}
	free(msg);
	msg = NULL;
	close(p[0]);
	p[0] = -1;
	f->tell = p[1];
	p[1] = -1;
	/* Frozen only once the guard stands by. */
	if (ioctl(f->fd, FIFREEZE, 0) < 0) {
		*why = xasprintf("FIFREEZE %s: %s", path, errno == EBUSY
		    ? "frozen already by someone else: left as it is" : strerror(errno));
		(void)!write(f->tell, (char[]){THAWED}, 1);
		goto fail;
	}
	f->t0 = mono_ms();
	log_info("volume", "froze %s (guard %d thaws it after %lld ms at the latest)", path,
	    (int)f->guard, limit_ms + FREEZE_GUARD_SLACK_MS);
	return 0;
fail:
	free(msg);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (f->tell >= 0)
		close(f->tell);
	if (f->guard > 0)
		while (waitpid(f->guard, &status, 0) < 0 && errno == EINTR)
			;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = f->tell = -1;
	f->guard = -1;
	return -1;
}

long long
freeze_end(struct freeze *f, char **note)
{
	long long took;
	int status, e = 0;

	*note = NULL;
	if (ioctl(f->fd, FITHAW, 0) == 0)
		(void)!write(f->tell, (char[]){THAWED}, 1);
	else if ((e = errno) == EINVAL)
		/* Not frozen: the guard thawed it first (haboot was stopped past
		 * its deadline). */
		*note = xasprintf("the freeze guard had thawed it already, after %lld ms",
		    mono_ms() - f->t0);
	else
		*note = xasprintf("FITHAW failed (%s): the freeze guard thaws it", strerror(e));
	took = mono_ms() - f->t0;
	/* Closing without "thawed" makes the guard thaw at once if still needed. */
	close(f->tell);
	while (waitpid(f->guard, &status, 0) < 0 && errno == EINTR)
		;
	close(f->fd);
	f->fd = f->tell = -1;
	f->guard = -1;
	return took;
}
