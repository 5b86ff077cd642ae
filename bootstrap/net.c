/* net.c: TCP dialing with a deadline (net.h). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* host:port as a socket address; its length, or 0 when host is no literal. */
static socklen_t
address(const char *host, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return sizeof(*v4);
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return sizeof(*v6);
	}
	return 0;
}

int
net_dial(const char *host, int port, long long deadline, char *why, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sslen, elen = sizeof(int);
	long long t0 = mono_ms(), left;
	int fd = -1, err = 0, r;

	if ((sslen = address(host, port, &ss)) == 0) {
		snprintf(why, n, "%s is not an IP address", host);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(why, n, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sslen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		snprintf(why, n, "connect: %s", strerror(errno));
		goto fail;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		if ((left = deadline - mono_ms()) <= 0) {
			snprintf(why, n, "no answer to a TCP connect within %lldms", mono_ms() - t0);
			goto fail;
		}
		if ((r = poll(&p, 1, left > 60000 ? 60000 : (int)left)) > 0)
			break;
		if (r < 0 && errno != EINTR) {
			snprintf(why, n, "poll: %s", strerror(errno));
			goto fail;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err == 0)
		return fd;
	snprintf(why, n, "connect: %s", strerror(err));
fail:
	close(fd);
	return -1;
}

int
net_probe(const char *host, int port, long long timeout_ms, char *why, size_t n)
{
	int fd = net_dial(host, port, mono_ms() + (timeout_ms > 0 ? timeout_ms : 1), why, n);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}
