/* filesystem.h: the filesystem module's parts: its steps and the one
 * observation plan, apply and check read the machine through
 * (filesystem.c), the watcher's check and repair (check.c), the write probe
 * (probe.c), the device's bytes (blkprobe.h), the release (release.c: sync,
 * mark the generation record released, unmount; holders.c: who keeps it
 * busy). */
#ifndef HABOOT_FILESYSTEM_H
#define HABOOT_FILESYSTEM_H

#include <stdbool.h>
#include <sys/types.h>

#include "blkprobe.h"
#include "module.h"

enum fs_type { FS_EXT4, FS_XFS };
enum fs_format { FORMAT_NEVER, FORMAT_IF_BLANK };

/* The takeover generation record: who holds the volume, since when, who did
 * before, and whether that holder released it cleanly (a planned handoff). */
#define GEN_DIR ".haboot"
#define GEN_FILE ".haboot/generation"

struct fs_cfg {
	char *device; /* NULL: the volume module's device */
	char *mountpoint;
	int type;
	int format;
	bool fsck;
	char **options;
	size_t noptions;
	char *signature;
	char *label;
	long long unmount_wait_ms; /* a release waits this long for busy processes */
	/* Kept between watch rounds: the device number the volume is mounted
	 * from, as the first check found it (0 until then). */
	dev_t watch_rdev;
};

/* One line of /proc/self/mountinfo. */
struct mnt_entry {
	dev_t dev;
	char *target, *fstype, *source;
	bool ro;        /* this mount, or its filesystem (superblock), is read-only */
};

/* What one apply, repair or check knows as it goes. */
struct fs_run {
	struct fs_cfg *f;
	const char *type;  /* the wanted type's name */
	const char *dev;   /* device path */
	char *who;         /* "/dev/xvdf (vol-1)" for messages */
	const char *vol;   /* the volume id, else the device path */
	dev_t rdev;
	char *mnt;         /* the mountpoint as the kernel names it */
	char *sig;         /* mnt/signature */
	struct blk_info bi;
	bool formatted;
	bool log_dirty;    /* xfs: its log had to be replayed (its last holder crashed) */
	bool mounted;      /* by this run */
	bool ro;           /* mounted read-only right now */
	bool repairing;    /* a watch repair: never format, the same device only */
	bool changed_before_mount; /* ctx->changed before this run mounted it */
	struct buf done;   /* what this run did, for the result line */
};

/* What the machine holds for the module: read, never changed. */
struct fs_view {
	bool dev_present;       /* the device node is there (r->rdev is its number) */
	struct mnt_entry here;  /* the top mount at the mountpoint, if any */
	struct mnt_entry other; /* where else the device is mounted, when not here */
	bool mounted;           /* the device is what is mounted at the mountpoint */
	bool probed;            /* r->bi holds what the device's bytes say */
	int sig;                /* mounted and looked: 1 there, 0 missing, -1 not a file */
};

/* How much fs_observe reads.  The watcher's check reads only what cannot
 * hang on a dead disk (stat of the node, the mount table); the device's
 * bytes and the files on it are read by plan and apply, and by the check's
 * probe child. */
enum fs_observe_depth { FSO_MOUNTS, FSO_ALL };

void fs_run_init(struct hb_ctx *ctx, struct fs_run *r, struct fs_cfg *f, const char *dev);
void fs_run_free(struct fs_run *r);
/* The device the module uses: the volume module's proven one, or `device:`.
 * 0, or -1 after ctx_fail. */
int fs_resolve_device(struct hb_ctx *ctx, const struct fs_cfg *f, bool planning,
    const char **dev);
/* 0 with v filled, or -1 after ctx_fail. */
int fs_observe(struct hb_ctx *ctx, struct fs_run *r, enum fs_observe_depth depth,
    struct fs_view *v);
void fs_view_free(struct fs_view *v);
/* Another device at the mountpoint, or this device mounted elsewhere: -1
 * after ctx_fail; else 0. */
int fs_conflicts(struct hb_ctx *ctx, const struct fs_run *r, const struct fs_view *v);
/* apply's steps from the observation on (the repair's too, with r->repairing). */
int fs_converge(struct hb_ctx *ctx, struct fs_run *r, struct fs_view *v);
/* mount -o remount,rw, unless the kernel counted errors on the filesystem
 * (it wants fsck).  0, or -1 after ctx_fail. */
int fs_remount_rw(struct hb_ctx *ctx, struct fs_run *r);
/* The ext4 error count the kernel keeps for the device (0 for other
 * filesystems or when unknown), and its first error in words (malloc'd or NULL). */
long long fs_error_count(dev_t dev, char **first);

/* release.c (module.h: release). */
int fs_release(struct hb_ctx *ctx, void *cfg);

/* check.c */
enum health fs_check(struct hb_ctx *ctx, void *cfg);
int fs_repair(struct hb_ctx *ctx, void *cfg);

/* probe.c: the signature and a small write + fsync under the mountpoint, in
 * a child process under a deadline.  A child stuck in the kernel (a hung
 * device) is left behind; the next probe reports it stuck instead of
 * starting another. */
struct fs_probe {
	bool timed_out;       /* no answer within the deadline */
	bool stuck;           /* an earlier probe's child is still stuck */
	long long stuck_since; /* wall ms it started */
	int sig_errno;        /* lstat of the signature: 0 or errno */
	bool sig_regular;
	int write_errno;      /* the write, fsync or close: 0 or errno */
	const char *stage;    /* where the write failed: "open", "write", "fsync", "close" */
};
void fs_probe_run(const char *sig, const char *dir, const char *file, long long timeout_ms,
    struct fs_probe *p);
/* Is a probe's child still stuck (since *since, wall ms)? */
bool fs_probe_stuck(long long *since);

#endif
