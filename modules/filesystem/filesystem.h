/* filesystem.h: the filesystem module's configuration and its record on the
 * volume, shared by its parts (filesystem.c: prove, fsck, mount; release.c:
 * sync and unmount for a planned stop; holders.c: who keeps it busy). */
#ifndef HABOOT_FILESYSTEM_H
#define HABOOT_FILESYSTEM_H

#include <stdbool.h>
#include <stddef.h>

#include "context.h"

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
};

/* release.c (module.h: release). */
int fs_release(struct hb_ctx *ctx, void *cfg);

#endif
