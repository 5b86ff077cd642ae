/* devwatch.h: hear from the kernel that a device appeared, instead of
 * asking an API over and over whether it has.
 *
 * Block devices: inotify on /dev (and /dev/disk/by-id once udev makes it).
 * The kernel's devtmpfs creates a node the moment a disk is attached, udev
 * or not, and inotify reports it; it is the very file the caller then
 * opens, so an event never comes before what it announces.  Kernel uevents
 * (NETLINK_KOBJECT_UEVENT) were the alternative: they also need no udev, but
 * reach only network namespaces of the initial user namespace, and announce
 * a device before udev has given its node its final name and links.  (On
 * the test machines a loop device's uevent comes from losetup, not when a
 * node for it appears, so tests could not prove a uevent path: they prove
 * this one, with nodes made by mknod in a namespace's own /dev.)
 *
 * Network interfaces (an ENI attached): there is no /dev node, so rtnetlink
 * (NETLINK_ROUTE, RTMGRP_LINK) of the caller's network namespace.
 *
 * Events only shorten a wait: a caller keeps looking by itself every few
 * seconds, since an event can be missed (queue overflow, a watch refused).
 * HABOOT_DEVICE_EVENTS=off turns them off (devwatch_start returns NULL). */
#ifndef HABOOT_DEVWATCH_H
#define HABOOT_DEVWATCH_H

#include <stdbool.h>
#include <stddef.h>

enum devwatch_kind {
	DEVWATCH_BLOCK = 1, /* a block device node (or a link to one) appeared or changed */
	DEVWATCH_NETIF = 2, /* a network interface appeared or changed */
};

struct devwatch;

/* Starts watching for the kinds asked (an OR of devwatch_kind).  dev is the
 * directory of block device nodes, NULL for "/dev" (tests use their own).
 * NULL when events are off or unavailable; *why (static) then says which. */
struct devwatch *devwatch_start(unsigned kinds, const char *dev, const char **why);

/* Waits at most timeout_ms (0: only looks) for an event of a kind watched.
 * 1: one came, and name (if given) holds what appeared ("nvme1n1", "eth1"),
 *    pending events of the same burst are drained with it;
 * 0: none within the time;
 * -1: the watch broke; the caller carries on by polling (devwatch_stop it). */
int devwatch_wait(struct devwatch *w, long long timeout_ms, char *name, size_t namelen);

void devwatch_stop(struct devwatch *w);

/* True when HABOOT_DEVICE_EVENTS says off (off, no, false or 0). */
bool devwatch_disabled(void);

#endif
