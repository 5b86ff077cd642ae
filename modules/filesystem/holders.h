/* holders.h: who keeps a filesystem busy, so a release can name them and
 * wait for them instead of unmounting lazily or by force.
 *
 * A process holds a filesystem (device number dev) when one of its open
 * files, its working directory, its root, its executable or a memory map lies
 * on it (/proc/PID/fd, cwd, root, exe, maps), or when its mount namespace,
 * another than ours, has the filesystem mounted (/proc/PID/mountinfo): a
 * container or a daemon with PrivateTmp keeps a mount alive where `umount`
 * here cannot see it. */
#ifndef HABOOT_HOLDERS_H
#define HABOOT_HOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct holder {
	pid_t pid;
	char comm[32];  /* /proc/PID/comm */
	char *how;      /* "cwd /mnt/nfs/a", "open file /mnt/nfs/x (2 more)" ... */
};

struct holders {
	struct holder *h;
	size_t n;
};

/* Every process but this one that holds the filesystem dev. */
void holders_find(dev_t dev, struct holders *out);
/* "pid 123 (sleep): cwd /mnt/nfs; pid 456 ..." naming at most max; malloc'd. */
char *holders_describe(const struct holders *hs, size_t max);
void holders_free(struct holders *hs);

/* Mount points of dev in a mountinfo file ("/proc/self/mountinfo"): the
 * number found, the first one in *first (malloc'd) when asked. */
size_t mounts_of(const char *mountinfo, dev_t dev, char **first);
/* The device mounted at path (the top of its stack) in mountinfo: 0 and *dev,
 * or -1 when nothing is mounted there. */
int mounted_at(const char *mountinfo, const char *path, dev_t *dev, bool *ro);

#endif
