/* test_blkprobe.c: the byte-level probe that decides whether a device may be
 * formatted.  Images are sparse temp files; mkfs runs on them when installed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

#include "exec.h"
#include "filesystem/blkprobe.h"

#define MiB (1024ULL * 1024)

static char img[64];

static void
make_image(unsigned long long size)
{
	int fd;

	snprintf(img, sizeof(img), "/tmp/haboot-blkprobe-XXXXXX");
	fd = mkstemp(img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void
write_at(unsigned long long off, const void *data, size_t n)
{
	int fd = open(img, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static int
teardown(void **state)
{
	(void)state;
	if (img[0])
		unlink(img);
	img[0] = '\0';
	return 0;
}

static void
probe_ok(struct blk_info *bi)
{
	char *why = NULL;

	if (blk_probe_path(img, bi, &why) < 0)
		fail_msg("probe failed: %s", why);
	assert_null(why);
}

/* Runs a formatter on the image; false when the program is not installed. */
static bool
run(const char *const argv[])
{
	struct exec_result r;

	if (exec_argv(argv, 60000, &r) < 0)
		return false;
	if (!r.exited || r.status != 0)
		fail_msg("%s failed (%d): %s", argv[0], r.status, r.out.data);
	exec_result_free(&r);
	return true;
}

static void
test_zeros_are_blank(void **state)
{
	struct blk_info bi;

	(void)state;
	make_image(8 * MiB);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_BLANK);
	assert_int_equal(bi.size, 8 * MiB);
	assert_string_equal(bi.type, "");
}

static void
test_small_device_read_whole(void **state)
{
	struct blk_info bi;

	(void)state;
	make_image(4096);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_BLANK);
	write_at(4095, "\x01", 1);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_UNKNOWN);
	assert_int_equal(bi.nonzero_at, 4095);
}

static void
test_one_byte_at_512k_is_not_blank(void **state)
{
	struct blk_info bi;
	char *d;

	(void)state;
	make_image(8 * MiB);
	write_at(512 * 1024, "\x01", 1);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_UNKNOWN);
	assert_int_equal(bi.nonzero_at, 512 * 1024);
	d = blk_describe(&bi);
	assert_string_equal(d, "unrecognised data (first non-zero byte at offset 524288)");
	free(d);
}

static void
test_one_byte_in_last_mib_is_not_blank(void **state)
{
	struct blk_info bi;

	(void)state;
	make_image(8 * MiB);
	write_at(8 * MiB - 700 * 1024, "\x80", 1);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_UNKNOWN);
	assert_int_equal(bi.nonzero_at, 8 * MiB - 700 * 1024);
	teardown(NULL);
	make_image(8 * MiB);
	write_at(8 * MiB - 1, "\x01", 1);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_UNKNOWN);
	assert_int_equal(bi.nonzero_at, 8 * MiB - 1);
	/* Between 1 and 2 MiB, head and tail meet: no byte is left unread. */
	teardown(NULL);
	make_image(MiB + 4096);
	write_at(MiB + 100, "\x01", 1);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_UNKNOWN);
	assert_int_equal(bi.nonzero_at, MiB + 100);
}

/* The documented definition: only the first and last MiB are read. */
static void
test_blank_means_first_and_last_mib(void **state)
{
	struct blk_info bi;

	(void)state;
	make_image(16 * MiB);
	write_at(8 * MiB, "\x01", 1);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_BLANK);
}

static void
test_swap_magic_by_hand(void **state)
{
	struct blk_info bi;
	char *d;

	(void)state;
	make_image(4 * MiB);
	write_at(4096 - 10, "SWAPSPACE2", 10);
	write_at(1052, "myswap", 6);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_SIGNATURE);
	assert_string_equal(bi.type, "swap");
	assert_string_equal(bi.label, "myswap");
	d = blk_describe(&bi);
	assert_string_equal(d, "a swap area (swap) (label myswap)");
	free(d);
	/* A 64 KiB-page swap area puts its magic elsewhere. */
	teardown(NULL);
	make_image(4 * MiB);
	write_at(65536 - 10, "SWAP-SPACE", 10);
	probe_ok(&bi);
	assert_string_equal(bi.type, "swap");
}

static void
test_luks_magic_by_hand(void **state)
{
	static const char uuid[] = "0e1b6fd2-7f7a-4b5e-9d1c-1a2b3c4d5e6f";
	struct blk_info bi;

	(void)state;
	make_image(4 * MiB);
	write_at(0, "LUKS\xba\xbe\x00\x02", 8);
	write_at(168, uuid, sizeof(uuid) - 1);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_SIGNATURE);
	assert_string_equal(bi.type, "crypto_LUKS");
	assert_string_equal(bi.uuid, uuid);
	/* The primary header wiped, LUKS2's secondary copy still names it. */
	teardown(NULL);
	make_image(4 * MiB);
	write_at(16384, "SKUL\xba\xbe\x00\x02", 8);
	probe_ok(&bi);
	assert_string_equal(bi.type, "crypto_LUKS");
}

static void
test_lvm_md_btrfs_by_hand(void **state)
{
	struct blk_info bi;

	(void)state;
	make_image(4 * MiB);
	write_at(512, "LABELONE", 8);
	write_at(512 + 24, "LVM2 001", 8);
	probe_ok(&bi);
	assert_string_equal(bi.type, "LVM2_member");
	assert_int_equal(bi.content, BLK_SIGNATURE);

	teardown(NULL);
	make_image(4 * MiB);
	write_at(4096, "\xfc\x4e\x2b\xa9", 4);
	probe_ok(&bi);
	assert_string_equal(bi.type, "linux_raid_member");

	/* md 0.90 keeps its superblock 64 KiB before the last 64 KiB boundary. */
	teardown(NULL);
	make_image(4 * MiB);
	write_at(4 * MiB - 65536, "\xfc\x4e\x2b\xa9", 4);
	probe_ok(&bi);
	assert_string_equal(bi.type, "linux_raid_member");

	teardown(NULL);
	make_image(4 * MiB);
	write_at(65536 + 64, "_BHRfS_M", 8);
	write_at(65536 + 299, "bt", 2);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_FILESYSTEM);
	assert_string_equal(bi.type, "btrfs");
	assert_string_equal(bi.label, "bt");
}

static void
test_partition_tables(void **state)
{
	struct blk_info bi;

	(void)state;
	make_image(8 * MiB);
	write_at(446, "\x00\x00\x02\x00\xee", 5);
	write_at(510, "\x55\xaa", 2);
	write_at(512, "EFI PART", 8);
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_SIGNATURE);
	assert_string_equal(bi.type, "gpt");

	/* Only the backup GPT header survives, in the last sector. */
	teardown(NULL);
	make_image(8 * MiB);
	write_at(8 * MiB - 512, "EFI PART", 8);
	probe_ok(&bi);
	assert_string_equal(bi.type, "gpt");

	teardown(NULL);
	make_image(8 * MiB);
	write_at(446, "\x80\x00\x02\x00\x83", 5);
	write_at(510, "\x55\xaa", 2);
	probe_ok(&bi);
	assert_string_equal(bi.type, "dos");
}

static void
test_iso_and_fat_by_hand(void **state)
{
	struct blk_info bi;

	(void)state;
	make_image(4 * MiB);
	write_at(32769, "CD001", 5);
	write_at(32768 + 40, "MYDISC                          ", 32);
	probe_ok(&bi);
	assert_string_equal(bi.type, "iso9660");
	assert_string_equal(bi.label, "MYDISC");

	teardown(NULL);
	make_image(4 * MiB);
	write_at(3, "NTFS    ", 8);
	write_at(510, "\x55\xaa", 2);
	probe_ok(&bi);
	assert_string_equal(bi.type, "ntfs");
	assert_int_equal(bi.content, BLK_FILESYSTEM);
}

static void
test_mkfs_ext4(void **state)
{
	static const char uuid[] = "3c0a6d0e-52a4-4b8e-8c55-6b1f5a9e0d11";
	const char *argv[] = {"mkfs.ext4", "-q", "-F", "-L", "unitdata", "-U", uuid, img, NULL};
	struct blk_info bi;
	char *d;

	(void)state;
	make_image(64 * MiB);
	if (!run(argv))
		skip();
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_FILESYSTEM);
	assert_string_equal(bi.type, "ext4");
	assert_string_equal(bi.label, "unitdata");
	assert_string_equal(bi.uuid, uuid);
	d = blk_describe(&bi);
	assert_string_equal(d, "an ext4 filesystem (label unitdata, UUID "
	    "3c0a6d0e-52a4-4b8e-8c55-6b1f5a9e0d11)");
	free(d);
}

static void
test_mkfs_ext2_ext3(void **state)
{
	const char *ext2[] = {"mkfs.ext2", "-q", "-F", img, NULL};
	const char *ext3[] = {"mkfs.ext3", "-q", "-F", img, NULL};
	struct blk_info bi;

	(void)state;
	make_image(32 * MiB);
	if (!run(ext2))
		skip();
	probe_ok(&bi);
	assert_string_equal(bi.type, "ext2");
	assert_string_equal(bi.label, "");
	if (!run(ext3))
		skip();
	probe_ok(&bi);
	assert_string_equal(bi.type, "ext3");
}

static void
test_mkfs_xfs(void **state)
{
	static const char uuid[] = "9b7e2f40-1d3c-4a55-b6e7-0c9d8e7f6a5b";
	const char *argv[] = {"mkfs.xfs", "-q", "-f", "-L", "unitxfs", "-m", "uuid=9b7e2f40-1d3c-"
	    "4a55-b6e7-0c9d8e7f6a5b", img, NULL};
	struct blk_info bi;

	(void)state;
	make_image(320 * MiB);
	if (!run(argv))
		skip();
	probe_ok(&bi);
	assert_int_equal(bi.content, BLK_FILESYSTEM);
	assert_string_equal(bi.type, "xfs");
	assert_string_equal(bi.label, "unitxfs");
	assert_string_equal(bi.uuid, uuid);
}

static void
test_mkswap(void **state)
{
	const char *argv[] = {"mkswap", "-L", "sw1", "-U", "11111111-2222-3333-4444-555555555555",
	    img, NULL};
	struct blk_info bi;

	(void)state;
	make_image(8 * MiB);
	if (!run(argv))
		skip();
	probe_ok(&bi);
	assert_string_equal(bi.type, "swap");
	assert_string_equal(bi.label, "sw1");
	assert_string_equal(bi.uuid, "11111111-2222-3333-4444-555555555555");
}

static void
test_errors_name_the_device(void **state)
{
	struct blk_info bi;
	char *why = NULL;

	(void)state;
	assert_int_equal(blk_probe_path("/nonexistent/haboot-dev", &bi, &why), -1);
	assert_non_null(strstr(why, "/nonexistent/haboot-dev"));
	free(why);
	why = NULL;
	make_image(0);
	assert_int_equal(blk_probe_path(img, &bi, &why), -1);
	assert_non_null(strstr(why, img));
	assert_non_null(strstr(why, "size 0"));
	free(why);
	why = NULL;
	assert_int_equal(blk_probe_path("/dev/null", &bi, &why), -1);
	assert_non_null(strstr(why, "neither a block device nor an image file"));
	free(why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_zeros_are_blank, teardown),
		cmocka_unit_test_teardown(test_small_device_read_whole, teardown),
		cmocka_unit_test_teardown(test_one_byte_at_512k_is_not_blank, teardown),
		cmocka_unit_test_teardown(test_one_byte_in_last_mib_is_not_blank, teardown),
		cmocka_unit_test_teardown(test_blank_means_first_and_last_mib, teardown),
		cmocka_unit_test_teardown(test_swap_magic_by_hand, teardown),
		cmocka_unit_test_teardown(test_luks_magic_by_hand, teardown),
		cmocka_unit_test_teardown(test_lvm_md_btrfs_by_hand, teardown),
		cmocka_unit_test_teardown(test_partition_tables, teardown),
		cmocka_unit_test_teardown(test_iso_and_fat_by_hand, teardown),
		cmocka_unit_test_teardown(test_mkfs_ext4, teardown),
		cmocka_unit_test_teardown(test_mkfs_ext2_ext3, teardown),
		cmocka_unit_test_teardown(test_mkfs_xfs, teardown),
		cmocka_unit_test_teardown(test_mkswap, teardown),
		cmocka_unit_test_teardown(test_errors_name_the_device, teardown),
	};

	return cmocka_run_group_tests_name("blkprobe", tests, NULL, NULL);
}
