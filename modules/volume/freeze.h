/* freeze.h: freeze a filesystem for the moment a snapshot is requested, and
 * make sure it is thawed whatever happens (DESIGN.md invariant 7).
 *
 * A frozen filesystem stays frozen when the process that froze it dies: the
 * kernel keeps FIFREEZE on the superblock, not on the file descriptor, and
 * every write to it (the NFS server's, so every client's) hangs.  So the
 * thaw cannot rest on this process alone.  freeze_begin forks a guard first;
 * the guard waits on a pipe:
 *   - "thawed" from haboot: it exits, touching nothing;
 *   - end of file (haboot died, however: SIGKILL, a crash, the OOM killer)
 *     or SIGTERM/SIGINT/SIGHUP (its service being stopped): it thaws at once;
 *   - nothing for FREEZE_LIMIT_MS + FREEZE_GUARD_SLACK_MS (haboot hangs or is
 *     stopped): it thaws.
 * The guard is its own session (setsid), so a kill aimed at haboot's process
 * group spares it; it keeps only the mountpoint and the pipe open. */
#ifndef HABOOT_VOLUME_FREEZE_H
#define HABOOT_VOLUME_FREEZE_H

#include <stdbool.h>
#include <sys/types.h>

/* How long a freeze may last: the CreateSnapshot call is bounded by it.  EC2
 * answers in well under a second; NFS clients ride out a stall of seconds. */
#define FREEZE_LIMIT_MS 10000LL
/* The guard's own deadline comes this much later: haboot thaws first when
 * it can, and says so. */
#define FREEZE_GUARD_SLACK_MS 5000LL

struct freeze {
	int fd;           /* the mountpoint, for the ioctls */
	int tell;         /* our end of the guard's pipe */
	pid_t guard;
	long long t0;     /* mono ms, frozen since */
};

/* Forks the guard, then freezes the filesystem mounted at path, only if it
 * is mounted from device (its st_rdev), or, device NULL, is a mount point at
 * all: a mountpoint left unmounted must not freeze the filesystem under it
 * (the root one).  0 when frozen; -1 with *why (malloc'd) when not (nothing
 * is left frozen). */
int freeze_begin(struct freeze *f, const char *path, const char *device, long long limit_ms,
    char **why);
/* Thaws, tells the guard and reaps it; always.  Returns how long the
 * filesystem was frozen (ms).  *note (malloc'd) says when the guard had
 * thawed it already or haboot's own thaw failed (the guard then thaws). */
long long freeze_end(struct freeze *f, char **note);

#endif
