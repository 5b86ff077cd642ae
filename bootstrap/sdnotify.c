/* sdnotify.c: see sdnotify.h; the protocol is sd_notify(3)'s. */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
sd_notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	size_t n;
	ssize_t w;
	int fd, rc = -1;

	if (path == NULL || *path == '\0')
		return 0;
	/* "@name" is an abstract socket; anything else must be an absolute path. */
	if ((path[0] != '/' && path[0] != '@') || (n = strlen(path)) >= sizeof(sa.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	if (w == (ssize_t)strlen(state))
		rc = 0;
	close(fd);
	return rc;
}

long long
sd_watchdog_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	long long us;

	if (usec == NULL)
		return 0;
	if (pid != NULL && strtoll(pid, NULL, 10) != (long long)getpid())
		return 0;
	errno = 0;
	us = strtoll(usec, &end, 10);
	if (errno || *end != '\0' || us <= 0)
		return 0;
	return us / 1000 > 0 ? us / 1000 : 1;
}
