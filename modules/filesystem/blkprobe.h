/* blkprobe.h: what a block device holds, judged by its bytes alone.
 *
 * No libblkid: haboot must decide "may I format this?" from evidence it reads
 * itself.  "Blank" means provably blank: the first BLK_SPAN bytes and the last
 * BLK_SPAN bytes (where a GPT backup header and md/RAID superblocks live) are
 * all zeros.  Anything else is not blank, whether or not a signature names it. */
#ifndef HABOOT_BLKPROBE_H
#define HABOOT_BLKPROBE_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_SPAN (1024 * 1024)

enum blk_content {
	BLK_BLANK,      /* first and last MiB all zeros */
	BLK_FILESYSTEM, /* a filesystem: type, and label/UUID when it has them */
	BLK_SIGNATURE,  /* something else named: swap, LUKS, LVM2 PV, a partition table... */
	BLK_UNKNOWN,    /* non-zero bytes that no known signature explains */
};

struct blk_info {
	enum blk_content content;
	char type[24];        /* blkid's names: "ext4", "xfs", "swap", "gpt"...; "" if none */
	char label[64];       /* printable; "" if none */
	char uuid[40];        /* "" if none */
	uint64_t size;        /* bytes */
	uint64_t nonzero_at;  /* offset of the first non-zero byte seen (not blank) */
	bool journal_dirty;   /* ext3/4: the journal holds transactions to replay (its
	                         last holder did not unmount it) */
};

/* Probes an open descriptor (a block device or an image file) with pread only.
 * Returns 0, or -1 with *why malloc'd. */
int blk_probe_fd(int fd, struct blk_info *bi, char **why);
/* Opens path O_RDONLY and probes it. */
int blk_probe_path(const char *path, struct blk_info *bi, char **why);
const char *blk_content_name(enum blk_content c);
/* One phrase for messages: "an ext4 filesystem (label data, UUID 6f1...)". Malloc'd. */
char *blk_describe(const struct blk_info *bi);

#endif
