/* devwatch.c: device events from the kernel (see devwatch.h for why
 * inotify for block devices and rtnetlink for network interfaces). */
#include "devwatch.h"

#include <errno.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Node creation, and links udev renames into place. */
#define DW_MASK (IN_CREATE | IN_MOVED_TO)

struct devwatch {
	unsigned kinds;
	int ino;                   /* inotify, or -1 */
	int nl;                    /* rtnetlink, or -1 */
	int wd_dev, wd_disk, wd_byid;
	char dev[1024];            /* "/dev" */
};

bool
devwatch_disabled(void)
{
	const char *v = getenv("HABOOT_DEVICE_EVENTS");

	return v != NULL && (!strcasecmp(v, "off") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "false") || !strcmp(v, "0"));
}

/* /dev/disk and /dev/disk/by-id exist only once udev made them: watch each
 * as soon as it is there. */
static void
arm_subdirs(struct devwatch *w)
{
	char p[1024 + 16];

	if (w->wd_disk < 0) {
		snprintf(p, sizeof(p), "%s/disk", w->dev);
		w->wd_disk = inotify_add_watch(w->ino, p, DW_MASK | IN_ONLYDIR);
	}
	if (w->wd_disk >= 0 && w->wd_byid < 0) {
		snprintf(p, sizeof(p), "%s/disk/by-id", w->dev);
		w->wd_byid = inotify_add_watch(w->ino, p, DW_MASK | IN_ONLYDIR);
	}
}

struct devwatch *
devwatch_start(unsigned kinds, const char *dev, const char **why)
{
	struct devwatch *w;
	struct sockaddr_nl sa;

	*why = NULL;
	if (devwatch_disabled()) {
		*why = "device events are off (HABOOT_DEVICE_EVENTS)";
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->kinds = kinds;
	w->ino = w->nl = w->wd_dev = w->wd_disk = w->wd_byid = -1;
	snprintf(w->dev, sizeof(w->dev), "%s", dev ? dev : "/dev");
	if (kinds & DEVWATCH_BLOCK) {
		if ((w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
			*why = "inotify is unavailable";
			goto fail;
		}
		if ((w->wd_dev = inotify_add_watch(w->ino, w->dev, DW_MASK | IN_ONLYDIR)) < 0) {
			*why = "the device directory cannot be watched (inotify)";
			goto fail;
		}
		arm_subdirs(w);
	}
	if (kinds & DEVWATCH_NETIF) {
		w->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
		memset(&sa, 0, sizeof(sa));
		sa.nl_family = AF_NETLINK;
		sa.nl_groups = RTMGRP_LINK;
		if (w->nl < 0 || bind(w->nl, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			*why = "rtnetlink link events are unavailable";
			goto fail;
		}
	}
	return w;
fail:
	devwatch_stop(w);
	return NULL;
}

void
devwatch_stop(struct devwatch *w)
{
	if (w == NULL)
		return;
	if (w->ino >= 0)
		close(w->ino);
	if (w->nl >= 0)
		close(w->nl);
	free(w);
}

/* A block device, or a link that leads to one (by-id, Amazon Linux's /dev/sdf). */
static bool
is_block(const char *dir, const char *name)
{
	char p[1024 + 16 + NAME_MAX + 2];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 && S_ISBLK(st.st_mode);
}

static void
set_name(char *name, size_t namelen, const char *s)
{
	if (name != NULL && namelen > 0 && name[0] == '\0')
		snprintf(name, namelen, "%s", s);
}

/* Reads what inotify has: 1 if a block device appeared, 0 if nothing did,
 * -1 if the watch broke. */
static int
read_inotify(struct devwatch *w, char *name, size_t namelen)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	char dir[1024 + 16];
	int found = 0;
	ssize_t n;

	while ((n = read(w->ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				/* Events were lost: say something happened, the caller looks. */
				set_name(name, namelen, "");
				found = 1;
				continue;
			}
			if (ev->mask & IN_IGNORED) {
				if (ev->wd == w->wd_dev)
					return -1;
				if (ev->wd == w->wd_disk)
					w->wd_disk = w->wd_byid = -1;
				if (ev->wd == w->wd_byid)
					w->wd_byid = -1;
				continue;
			}
			if (ev->len == 0)
				continue;
			if (ev->wd == w->wd_dev)
				snprintf(dir, sizeof(dir), "%s", w->dev);
			else if (ev->wd == w->wd_disk)
				snprintf(dir, sizeof(dir), "%s/disk", w->dev);
			else if (ev->wd == w->wd_byid)
				snprintf(dir, sizeof(dir), "%s/disk/by-id", w->dev);
			else
				continue;
			if (ev->mask & IN_ISDIR) {
				arm_subdirs(w);
				continue;
			}
			if (is_block(dir, ev->name)) {
				set_name(name, namelen, ev->name);
				found = 1;
			}
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -1;
	return found;
}

/* Reads what rtnetlink has: 1 if a link appeared or changed, 0 if not, -1 broken. */
static int
read_netlink(struct devwatch *w, char *name, size_t namelen)
{
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	int found = 0;
	ssize_t n;

	for (;;) {
		unsigned int len;

		n = recv(w->nl, buf, sizeof(buf), 0);
		if (n < 0 && errno == ENOBUFS) {
			/* The socket overflowed: events were lost. */
			set_name(name, namelen, "");
			found = 1;
			continue;
		}
		if (n <= 0)
			break;
		len = (unsigned int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		    h = NLMSG_NEXT(h, len)) {
			struct ifinfomsg *ifi = NLMSG_DATA(h);
			int alen;

			if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
				continue;
			found = 1;
			alen = (int)IFLA_PAYLOAD(h);
			for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == IFLA_IFNAME)
					set_name(name, namelen, (const char *)RTA_DATA(a));
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -1;
	return found;
}

int
devwatch_wait(struct devwatch *w, long long timeout_ms, char *name, size_t namelen)
{
	long long end = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct pollfd pf[2];
	int r;

	if (name != NULL && namelen > 0)
		name[0] = '\0';
	for (;;) {
		long long left = end - mono_ms();
		nfds_t n = 0;

		if (w->ino >= 0)
			pf[n++] = (struct pollfd){.fd = w->ino, .events = POLLIN};
		if (w->nl >= 0)
			pf[n++] = (struct pollfd){.fd = w->nl, .events = POLLIN};
		r = poll(pf, n, left > 0 ? (int)(left < INT_MAX ? left : INT_MAX) : 0);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r > 0) {
			int found = 0, f;

			if (w->ino >= 0) {
				if ((f = read_inotify(w, name, namelen)) < 0)
					return -1;
				found |= f;
			}
			if (w->nl >= 0) {
				if ((f = read_netlink(w, name, namelen)) < 0)
					return -1;
				found |= f;
			}
			if (found)
				return 1;
		}
		if (mono_ms() >= end)
			return 0;
	}
}
