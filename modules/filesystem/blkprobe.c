/* blkprobe.c: read a device's first and last MiB and say what they hold.
 * Offsets come from the on-disk formats (and agree with libblkid's probes);
 * naming a signature is a courtesy for the error message: any non-zero byte
 * already makes the device "not blank". */
#include "blkprobe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct probe {
	const unsigned char *head; /* bytes [0, hlen) */
	size_t hlen;
	const unsigned char *tail; /* bytes [toff, size), NULL when head covers all */
	uint64_t toff;
	uint64_t size;
};

/* The n bytes at absolute offset off, or NULL when they were not read. */
static const unsigned char *
bytes_at(const struct probe *p, uint64_t off, size_t n)
{
	if (off + n <= p->hlen)
		return p->head + off;
	if (p->tail != NULL && off >= p->toff && off + n <= p->size)
		return p->tail + (off - p->toff);
	return NULL;
}

static bool
has(const struct probe *p, uint64_t off, const char *magic, size_t n)
{
	const unsigned char *b = bytes_at(p, off, n);

	return b != NULL && memcmp(b, magic, n) == 0;
}

static uint32_t
le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint16_t
le16(const unsigned char *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

/* Copies on-disk text, stopping at NUL; unprintable bytes become '?' so a
 * label can go into a log line as it is. */
static void
copy_text(char *dst, size_t dstsz, const unsigned char *src, size_t n, bool trim_spaces)
{
	size_t i, len = 0;

	for (i = 0; i < n && src[i] != '\0' && len + 1 < dstsz; i++)
		dst[len++] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	while (trim_spaces && len > 0 && dst[len - 1] == ' ')
		len--;
	dst[len] = '\0';
}

static void
set_label(struct blk_info *bi, const unsigned char *src, size_t n, bool trim_spaces)
{
	copy_text(bi->label, sizeof(bi->label), src, n, trim_spaces);
}

static void
set_uuid(struct blk_info *bi, const unsigned char *u)
{
	static const unsigned char zero[16];

	if (memcmp(u, zero, 16) == 0)
		return;
	snprintf(bi->uuid, sizeof(bi->uuid),
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
	    u[13], u[14], u[15]);
}

/* ext2/3/4: superblock at 1024, magic 0xEF53 at 1024+56.  The type follows
 * the feature flags the way blkid does: past ext3's set means ext4. */
static bool
probe_ext(const struct probe *p, struct blk_info *bi)
{
	const unsigned char *sb = bytes_at(p, 1024, 1024);
	uint32_t compat, incompat, ro_compat;

	if (sb == NULL || le16(sb + 56) != 0xEF53)
		return false;
	compat = le32(sb + 92);
	incompat = le32(sb + 96);
	ro_compat = le32(sb + 100);
	if (incompat & 0x0008) {
		snprintf(bi->type, sizeof(bi->type), "jbd"); /* an external journal */
		bi->content = BLK_SIGNATURE;
	} else {
		const char *t = "ext2";

		if ((incompat & ~(uint32_t)(0x0002 | 0x0004 | 0x0010)) ||
		    (ro_compat & ~(uint32_t)(0x0001 | 0x0002 | 0x0004)))
			t = "ext4";
		else if (compat & 0x0004)
			t = "ext3";
		snprintf(bi->type, sizeof(bi->type), "%s", t);
		bi->content = BLK_FILESYSTEM;
		bi->journal_dirty = (incompat & 0x0004) != 0; /* RECOVER: needs_recovery */
	}
	set_uuid(bi, sb + 104);
	set_label(bi, sb + 120, 16, false);
	return true;
}

/* xfs: "XFSB" at 0; sb_uuid at 32, sb_fname (12 bytes) at 108. */
static bool
probe_xfs(const struct probe *p, struct blk_info *bi)
{
	const unsigned char *sb = bytes_at(p, 0, 120);

	if (sb == NULL || memcmp(sb, "XFSB", 4) != 0)
		return false;
	snprintf(bi->type, sizeof(bi->type), "xfs");
	bi->content = BLK_FILESYSTEM;
	set_uuid(bi, sb + 32);
	set_label(bi, sb + 108, 12, false);
	return true;
}

/* btrfs: superblock at 64 KiB, magic at +64, fsid at +32, label at +299. */
static bool
probe_btrfs(const struct probe *p, struct blk_info *bi)
{
	const unsigned char *sb = bytes_at(p, 65536, 4096);

	if (sb == NULL || memcmp(sb + 64, "_BHRfS_M", 8) != 0)
		return false;
	snprintf(bi->type, sizeof(bi->type), "btrfs");
	bi->content = BLK_FILESYSTEM;
	set_uuid(bi, sb + 32);
	set_label(bi, sb + 299, 256, false);
	return true;
}

/* LUKS1 and LUKS2: "LUKS\xba\xbe" at 0, or LUKS2's secondary header copy. */
static bool
probe_luks(const struct probe *p, struct blk_info *bi)
{
	static const uint64_t second[] = {16384, 32768, 65536, 131072, 262144, 524288};
	const unsigned char *h = NULL;

	if (has(p, 0, "LUKS\xba\xbe", 6))
		h = bytes_at(p, 0, 208);
	for (size_t i = 0; h == NULL && i < HB_ARRAY_LEN(second); i++)
		if (has(p, second[i], "SKUL\xba\xbe", 6))
			h = bytes_at(p, second[i], 208);
	if (h == NULL)
		return false;
	snprintf(bi->type, sizeof(bi->type), "crypto_LUKS");
	bi->content = BLK_SIGNATURE;
	/* The UUID is stored as text at 168 in both versions. */
	copy_text(bi->uuid, sizeof(bi->uuid), h + 168, 40, false);
	return true;
}

/* LVM2 PV: "LABELONE" in one of the first four sectors, "LVM2 001" at +24. */
static bool
probe_lvm2(const struct probe *p, struct blk_info *bi)
{
	for (uint64_t s = 0; s < 4; s++)
		if (has(p, s * 512, "LABELONE", 8) && has(p, s * 512 + 24, "LVM2 001", 8)) {
			snprintf(bi->type, sizeof(bi->type), "LVM2_member");
			bi->content = BLK_SIGNATURE;
			return true;
		}
	return false;
}

/* Linux swap and hibernation images: magic in the last 10 bytes of the first
 * page, whatever the page size was; v2 keeps a UUID at 1036 and a label at 1052. */
static bool
probe_swap(const struct probe *p, struct blk_info *bi)
{
	static const uint64_t pages[] = {4096, 8192, 16384, 32768, 65536};
	static const char *const susp[] = {"S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001"};

	for (size_t i = 0; i < HB_ARRAY_LEN(pages); i++) {
		uint64_t m = pages[i] - 10;

		if (has(p, m, "SWAPSPACE2", 10) || has(p, m, "SWAP-SPACE", 10)) {
			snprintf(bi->type, sizeof(bi->type), "swap");
			bi->content = BLK_SIGNATURE;
			if (has(p, m, "SWAPSPACE2", 10)) {
				set_uuid(bi, bytes_at(p, 1036, 16));
				set_label(bi, bytes_at(p, 1052, 16), 16, false);
			}
			return true;
		}
		for (size_t j = 0; j < HB_ARRAY_LEN(susp); j++)
			if (has(p, m, susp[j], strlen(susp[j]))) {
				snprintf(bi->type, sizeof(bi->type), "swsuspend");
				bi->content = BLK_SIGNATURE;
				return true;
			}
	}
	return false;
}

/* md RAID: 1.1 at 0, 1.2 at 4 KiB, 0.90 and 1.0 near the end of the device. */
static bool
probe_md(const struct probe *p, struct blk_info *bi)
{
	static const char magic[4] = {(char)0xfc, 0x4e, 0x2b, (char)0xa9};
	uint64_t offs[4] = {0, 4096, 0, 0};
	size_t n = 2;

	if (p->size >= 2 * 65536)
		offs[n++] = (p->size & ~(uint64_t)65535) - 65536;
	if (p->size >= 16 * 512)
		offs[n++] = (((p->size >> 9) - 16) & ~(uint64_t)7) << 9;
	for (size_t i = 0; i < n; i++)
		if (has(p, offs[i], magic, 4)) {
			snprintf(bi->type, sizeof(bi->type), "linux_raid_member");
			bi->content = BLK_SIGNATURE;
			return true;
		}
	return false;
}

/* Filesystems and containers that only need naming. */
static bool
probe_misc(const struct probe *p, struct blk_info *bi)
{
	static const unsigned char bcache[16] = {0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca,
	    0x82, 0x65, 0xf5, 0x7f, 0x48, 0xba, 0x6d, 0x81};
	const unsigned char *b;
	const char *t = NULL;
	enum blk_content c = BLK_FILESYSTEM;

	if (has(p, 32769, "CD001", 5)) {
		t = "iso9660";
		if ((b = bytes_at(p, 32768 + 40, 32)) != NULL)
			set_label(bi, b, 32, true);
	} else if (has(p, 0, "hsqs", 4) || has(p, 0, "sqsh", 4))
		t = "squashfs";
	else if ((b = bytes_at(p, 1024, 4)) != NULL && le32(b) == 0xF2F52010)
		t = "f2fs";
	else if (has(p, 65536 + 52, "ReIsEr", 6))
		t = "reiserfs";
	else if (has(p, 32768, "JFS1", 4))
		t = "jfs";
	else if (has(p, 4096 + 24, (const char *)bcache, 16)) {
		t = "bcache";
		c = BLK_SIGNATURE;
	}
	if (t == NULL)
		return false;
	snprintf(bi->type, sizeof(bi->type), "%s", t);
	bi->content = c;
	return true;
}

/* Boot-sector formats (NTFS, exFAT, FAT, BitLocker) before the bare MBR they resemble. */
static bool
probe_bootsector(const struct probe *p, struct blk_info *bi)
{
	const unsigned char *bs = bytes_at(p, 0, 512);
	const char *t = NULL;
	enum blk_content c = BLK_FILESYSTEM;

	if (bs == NULL)
		return false;
	if (memcmp(bs + 3, "NTFS    ", 8) == 0)
		t = "ntfs";
	else if (memcmp(bs + 3, "EXFAT   ", 8) == 0)
		t = "exfat";
	else if (memcmp(bs + 3, "-FVE-FS-", 8) == 0) {
		t = "BitLocker";
		c = BLK_SIGNATURE;
	} else if (bs[510] == 0x55 && bs[511] == 0xAA && memcmp(bs + 82, "FAT32   ", 8) == 0) {
		t = "vfat";
		set_label(bi, bs + 71, 11, true);
		snprintf(bi->uuid, sizeof(bi->uuid), "%02X%02X-%02X%02X", bs[70], bs[69], bs[68],
		    bs[67]);
	} else if (bs[510] == 0x55 && bs[511] == 0xAA && memcmp(bs + 54, "FAT", 3) == 0) {
		t = "vfat";
		set_label(bi, bs + 43, 11, true);
		snprintf(bi->uuid, sizeof(bi->uuid), "%02X%02X-%02X%02X", bs[42], bs[41], bs[40],
		    bs[39]);
	}
	if (t == NULL)
		return false;
	snprintf(bi->type, sizeof(bi->type), "%s", t);
	bi->content = c;
	return true;
}

/* Partition tables: GPT (primary at LBA 1, or its backup in the last sector),
 * then an MBR's boot signature. */
static bool
probe_ptable(const struct probe *p, struct blk_info *bi)
{
	const char *t = NULL;

	if (has(p, 512, "EFI PART", 8) || has(p, 4096, "EFI PART", 8) ||
	    (p->size >= 512 && has(p, p->size - 512, "EFI PART", 8)) ||
	    (p->size >= 4096 && has(p, p->size - 4096, "EFI PART", 8)))
		t = "gpt";
	else if (has(p, 510, "\x55\xaa", 2))
		t = "dos";
	if (t == NULL)
		return false;
	snprintf(bi->type, sizeof(bi->type), "%s", t);
	bi->content = BLK_SIGNATURE;
	return true;
}

static bool (*const probes[])(const struct probe *, struct blk_info *) = {
	probe_xfs, probe_ext, probe_btrfs, probe_luks, probe_lvm2, probe_md, probe_swap,
	probe_misc, probe_bootsector, probe_ptable,
};

static const struct {
	const char *type, *phrase;
} phrases[] = {
	{"jbd", "an ext3/ext4 external journal"},
	{"crypto_LUKS", "a LUKS encrypted volume"},
	{"LVM2_member", "an LVM2 physical volume"},
	{"linux_raid_member", "an md RAID member"},
	{"swap", "a swap area"},
	{"swsuspend", "a hibernation image"},
	{"bcache", "a bcache device"},
	{"BitLocker", "a BitLocker volume"},
	{"gpt", "a GPT partition table"},
	{"dos", "an MBR (dos) partition table"},
};

static int
pread_full(int fd, unsigned char *b, size_t n, uint64_t off, char **why)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, b + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = xasprintf("cannot read at offset %llu: %s",
			    (unsigned long long)(off + done), strerror(errno));
			return -1;
		}
		if (r == 0) {
			*why = xasprintf("short read at offset %llu (the device shrank?)",
			    (unsigned long long)(off + done));
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static bool
first_nonzero(const unsigned char *b, size_t n, size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0) {
			*at = i;
			return true;
		}
	return false;
}

int
blk_probe_fd(int fd, struct blk_info *bi, char **why)
{
	struct probe p;
	struct stat st;
	unsigned char *head = NULL, *tail = NULL;
	size_t at;
	int rc = -1;

	memset(bi, 0, sizeof(*bi));
	memset(&p, 0, sizeof(p));
	if (fstat(fd, &st) < 0) {
		*why = xasprintf("cannot stat: %s", strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &p.size) < 0) {
			*why = xasprintf("cannot read the device size: %s", strerror(errno));
			return -1;
		}
	} else if (S_ISREG(st.st_mode)) {
		p.size = (uint64_t)st.st_size;
	} else {
		*why = xstrdup("is neither a block device nor an image file");
		return -1;
	}
	if (p.size == 0) {
		*why = xstrdup("has no bytes at all (size 0): is the volume attached?");
		return -1;
	}
	bi->size = p.size;
	p.hlen = p.size < BLK_SPAN ? (size_t)p.size : BLK_SPAN;
	head = xmalloc(p.hlen);
	if (pread_full(fd, head, p.hlen, 0, why) < 0)
		goto out;
	p.head = head;
	if (p.size > p.hlen) {
		/* The last MiB, not overlapping the head: GPT backup, md 0.90/1.0. */
		p.toff = p.size - BLK_SPAN > p.hlen ? p.size - BLK_SPAN : p.hlen;
		tail = xmalloc((size_t)(p.size - p.toff));
		if (pread_full(fd, tail, (size_t)(p.size - p.toff), p.toff, why) < 0)
			goto out;
		p.tail = tail;
	}
	if (first_nonzero(head, p.hlen, &at))
		bi->nonzero_at = at;
	else if (tail != NULL && first_nonzero(tail, (size_t)(p.size - p.toff), &at))
		bi->nonzero_at = p.toff + at;
	else {
		bi->content = BLK_BLANK;
		rc = 0;
		goto out;
	}
	bi->content = BLK_UNKNOWN;
	for (size_t i = 0; i < HB_ARRAY_LEN(probes); i++)
		if (probes[i](&p, bi))
			break;
	rc = 0;
out:
	free(head);
	free(tail);
	return rc;
}

int
blk_probe_path(const char *path, struct blk_info *bi, char **why)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*why = xasprintf("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	rc = blk_probe_fd(fd, bi, why);
	if (rc < 0) {
		char *w = xasprintf("%s %s", path, *why);

		free(*why);
		*why = w;
	}
	close(fd);
	return rc;
}

const char *
blk_content_name(enum blk_content c)
{
	static const char *const names[] = {
		[BLK_BLANK] = "blank", [BLK_FILESYSTEM] = "filesystem",
		[BLK_SIGNATURE] = "signature", [BLK_UNKNOWN] = "unknown data",
	};

	return names[c];
}

char *
blk_describe(const struct blk_info *bi)
{
	struct buf b;
	const char *phrase = NULL;

	buf_init(&b);
	switch (bi->content) {
	case BLK_BLANK:
		buf_adds(&b, "nothing (blank: its first and last MiB are all zeros)");
		break;
	case BLK_UNKNOWN:
		buf_printf(&b, "unrecognised data (first non-zero byte at offset %llu)",
		    (unsigned long long)bi->nonzero_at);
		break;
	case BLK_FILESYSTEM:
		buf_printf(&b, "%s %s filesystem", strchr("aeiouxn", bi->type[0]) ? "an" : "a",
		    bi->type);
		break;
	case BLK_SIGNATURE:
		for (size_t i = 0; i < HB_ARRAY_LEN(phrases); i++)
			if (strcmp(phrases[i].type, bi->type) == 0)
				phrase = phrases[i].phrase;
		buf_printf(&b, "%s (%s)", phrase ? phrase : "a signature", bi->type);
		break;
	}
	if (bi->label[0] && bi->uuid[0])
		buf_printf(&b, " (label %s, UUID %s)", bi->label, bi->uuid);
	else if (bi->label[0])
		buf_printf(&b, " (label %s)", bi->label);
	else if (bi->uuid[0])
		buf_printf(&b, " (UUID %s)", bi->uuid);
	return buf_steal(&b);
}
