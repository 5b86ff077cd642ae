/* test_util.c: durations, buffers, atomic files, gzip. */
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <zlib.h>

#include "unit.h"

#include "util.h"
#include "unit_gzip.h"

static void
test_duration_accepted(void **state)
{
	static const struct {
		const char *s;
		long long ms;
	} ok[] = {
		{"90s", 90000}, {"5m", 300000}, {"1m30s", 90000}, {"250ms", 250},
		{"1h", 3600000}, {"0s", 0}, {"2m500ms", 120500}, {"24h", 86400000},
		{"1h1m1s1ms", 3661001},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(ok); i++) {
		long long ms = -7;
		const char *why = NULL;

		if (parse_duration(ok[i].s, &ms, &why) != 0)
			fail_msg("\"%s\" rejected: %s", ok[i].s, why);
		if (ms != ok[i].ms)
			fail_msg("\"%s\" is %lld ms, expected %lld", ok[i].s, ms, ok[i].ms);
	}
}

static void
test_duration_rejected(void **state)
{
	static const char *const bad[] = {
		"90", "5 m", "-1s", "", " 5s", "5s ", "1.5s", "5M", "5sec", "s", "1m30",
		"+5s", "0x10s", "25h", "24h1ms", "99999999999s", "10000000000ms",
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++) {
		long long ms = -7;
		const char *why = NULL;

		if (parse_duration(bad[i], &ms, &why) == 0)
			fail_msg("\"%s\" accepted as %lld ms", bad[i], ms);
		assert_non_null(why);
		assert_int_equal(ms, -7); /* untouched on error */
	}
}

static void
test_duration_reasons(void **state)
{
	long long ms;
	const char *why;
	(void)state;

	/* A bare number is the common mistake: the message must name the units. */
	assert_int_equal(parse_duration("90", &ms, &why), -1);
	assert_non_null(strstr(why, "90s"));
	assert_int_equal(parse_duration("", &ms, &why), -1);
	assert_non_null(strstr(why, "empty"));
	assert_int_equal(parse_duration("99999999999s", &ms, &why), -1);
	assert_non_null(strstr(why, "too large"));
	assert_int_equal(parse_duration("48h", &ms, &why), -1);
	assert_non_null(strstr(why, "24h"));
}

/* Many parts, each under the per-number cap, must not overflow the sum
 * (a gzipped manifest inflates to 1 MiB, room for thousands of parts). */
static void
test_duration_many_parts_no_overflow(void **state)
{
	struct buf b;
	long long ms = -7;
	const char *why = NULL;
	(void)state;

	buf_init(&b);
	for (int i = 0; i < 4000; i++)
		buf_adds(&b, "1000000000h");
	assert_int_equal(parse_duration(b.data, &ms, &why), -1);
	assert_non_null(why);
	assert_int_equal(ms, -7);
	buf_free(&b);
}

static void
test_fmt_duration(void **state)
{
	static const struct {
		long long ms;
		const char *s;
	} cases[] = {
		{250, "250ms"}, {0, "0ms"}, {1500, "1.5s"}, {45000, "45s"}, {90000, "1m30s"},
		{300000, "5m"}, {3600000, "60m"},
	};
	char out[32];
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		fmt_duration(cases[i].ms, out, sizeof(out));
		assert_string_equal(out, cases[i].s);
	}
	/* What fmt_duration prints for whole seconds parses back to the same value. */
	for (long long ms = 0; ms <= 3 * 3600000LL; ms += 7000) {
		long long back;
		const char *why;

		fmt_duration(ms, out, sizeof(out));
		if (strchr(out, '.') != NULL)
			continue;
		assert_int_equal(parse_duration(out, &back, &why), 0);
		assert_int_equal(back, ms);
	}
}

static void
test_buf(void **state)
{
	struct buf b;
	char *s;
	(void)state;

	buf_init(&b);
	s = buf_steal(&b); /* an empty buffer still gives a string */
	assert_string_equal(s, "");
	free(s);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_true(str_starts(b.data, "0,1,2,"));
	assert_true(str_ends(b.data, "998,999,"));
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_add(&b, "a\0b", 3); /* binary-safe length */
	assert_int_equal(b.len, 3);
	assert_int_equal(b.data[3], '\0');
	buf_free(&b);
	assert_null(b.data);
}

static void
test_json_str(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b);
	buf_add_json_str(&b, "say \"hi\"\\\n\t\x01/é");
	assert_string_equal(b.data, "\"say \\\"hi\\\"\\\\\\n\\t\\u0001/é\"");
	buf_free(&b);
}

static void
test_iso8601(void **state)
{
	char out[40];
	(void)state;

	fmt_iso8601(0, false, out, sizeof(out));
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	fmt_iso8601(1795697666123LL, true, out, sizeof(out));
	assert_string_equal(out, "2026-11-26T12:54:26.123Z");
}

static void
test_write_atomic_mode_and_content(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "exports");
	struct stat st;
	char *text;
	mode_t old = umask(077);
	(void)state;

	/* The mode is what the caller asked for, whatever the umask. */
	assert_int_equal(write_file_atomic(path, "one\n", 4, 0644), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	text = unit_slurp(path);
	assert_string_equal(text, "one\n");
	free(text);

	/* Replacing: new content and new mode, and nothing else left behind. */
	assert_int_equal(write_file_atomic(path, "two\n", 4, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = unit_slurp(path);
	assert_string_equal(text, "two\n");
	free(text);
	assert_int_equal(unit_count_entries(dir), 1);

	/* An empty file is a file. */
	assert_int_equal(write_file_atomic(path, "", 0, 0640), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	umask(old);
	free(path);
	unit_rmtree(dir);
}

static void
test_write_atomic_missing_dir(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "no/such/file");
	(void)state;

	errno = 0;
	assert_int_equal(write_file_atomic(path, "x", 1, 0644), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(unit_count_entries(dir), 0);
	free(path);
	unit_rmtree(dir);
}

/* Writing into a directory we may not write: fails, old file intact, no temp
 * file.  Root ignores directory modes, so a root run drops to nobody in a
 * child process first. */
static void
test_write_atomic_readonly_dir(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "status.json");
	char *text;
	pid_t pid;
	int ws;
	(void)state;

	unit_write(path, "old\n");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(chmod(dir, 0555), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(10);
		errno = 0;
		if (write_file_atomic(path, "new\n", 4, 0644) != -1)
			_exit(11);
		_exit(errno == EACCES ? 0 : 12);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	text = unit_slurp(path);
	assert_string_equal(text, "old\n");
	free(text);
	assert_int_equal(unit_count_entries(dir), 1);
	free(path);
	unit_rmtree(dir);
}

/* A write that fails half-way (the file-size limit stands in for a full
 * disk): the old file is intact and the temp file is gone. */
static void
test_write_atomic_fails_midway(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "exports");
	struct rlimit saved, small;
	char *big = malloc(64 * 1024), *text;
	void (*oldsig)(int);
	int rc, err;
	(void)state;

	assert_non_null(big);
	memset(big, 'x', 64 * 1024);
	unit_write(path, "old\n");
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	small = saved;
	small.rlim_cur = 4096;
	oldsig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	rc = write_file_atomic(path, big, 64 * 1024, 0644);
	err = errno;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(rc, -1);
	assert_int_equal(err, EFBIG);
	text = unit_slurp(path);
	assert_string_equal(text, "old\n");
	free(text);
	assert_int_equal(unit_count_entries(dir), 1);
	free(big);
	free(path);
	unit_rmtree(dir);
}

static void
test_read_file_cap(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "f");
	struct buf b;
	(void)state;

	unit_write(path, "0123456789");
	buf_init(&b);
	assert_int_equal(read_file(path, 10, &b), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	buf_reset(&b);
	errno = 0;
	assert_int_equal(read_file(path, 9, &b), -1);
	assert_int_equal(errno, EFBIG);
	buf_free(&b);
	/* An empty file reads as an empty string, not NULL. */
	unit_write(path, "");
	assert_int_equal(read_file(path, 10, &b), 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	errno = 0;
	assert_int_equal(read_file("/nonexistent/haboot", 10, &b), -1);
	assert_int_equal(errno, ENOENT);
	buf_free(&b);
	free(path);
	unit_rmtree(dir);
}

static void
test_mkdir_p(void **state)
{
	char *dir = unit_tmpdir(), *deep = unit_path(dir, "a/b/c"), *file = unit_path(dir, "f");
	struct stat st;
	(void)state;

	assert_int_equal(mkdir_p(deep, 0755), 0);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mkdir_p(deep, 0755), 0); /* already there: fine */
	unit_write(file, "x");
	char *under = unit_path(file, "sub");
	assert_int_equal(mkdir_p(under, 0755), -1); /* a file is in the way */
	free(under);
	/* A file where the directory should be is not a directory. */
	errno = 0;
	assert_int_equal(mkdir_p(file, 0755), -1);
	assert_int_equal(errno, ENOTDIR);
	free(deep);
	free(file);
	unit_rmtree(dir);
}

static void
test_gunzip(void **state)
{
	const char *text = "#haboot\nversion: 1\n";
	struct buf gz, out;
	const char *why = NULL;
	(void)state;

	buf_init(&gz);
	buf_init(&out);
	gzip_bytes(text, strlen(text), &gz);
	assert_true(is_gzip(gz.data, gz.len));
	assert_false(is_gzip(text, strlen(text)));
	assert_false(is_gzip("\x1f", 1));
	assert_int_equal(gunzip(gz.data, gz.len, 1024, &out, &why), 0);
	assert_string_equal(out.data, text);

	/* Truncated: an error, not a short manifest. */
	buf_reset(&out);
	why = NULL;
	assert_int_equal(gunzip(gz.data, gz.len / 2, 1024, &out, &why), -1);
	assert_non_null(why);

	/* Corrupt deflate data. */
	gz.data[12] ^= 0x55;
	gz.data[13] ^= 0xaa;
	buf_reset(&out);
	why = NULL;
	assert_int_equal(gunzip(gz.data, gz.len, 1024, &out, &why), -1);
	assert_non_null(why);
	buf_free(&gz);
	buf_free(&out);
}

static void
test_gunzip_limit(void **state)
{
	size_t n = 4 * 1024 * 1024;
	char *zeros = calloc(1, n);
	struct buf gz, out;
	const char *why = NULL;
	(void)state;

	assert_non_null(zeros);
	buf_init(&gz);
	buf_init(&out);
	gzip_bytes(zeros, n, &gz);
	assert_true(gz.len < 16384); /* a bomb fits in user-data */
	assert_int_equal(gunzip(gz.data, gz.len, 1024 * 1024, &out, &why), -1);
	assert_non_null(strstr(why, "limit"));
	assert_true(out.len <= 1024 * 1024);
	buf_free(&gz);
	buf_free(&out);
	free(zeros);
}

static void
test_str_helpers(void **state)
{
	char *s;
	(void)state;

	assert_true(str_starts("vol-123", "vol-"));
	assert_false(str_starts("vo", "vol-"));
	assert_true(str_ends("a.yaml", ".yaml"));
	assert_false(str_ends("yaml", ".yaml"));
	s = xasprintf("%s-%d", "i", 42);
	assert_string_equal(s, "i-42");
	free(s);
	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_accepted),
		cmocka_unit_test(test_duration_rejected),
		cmocka_unit_test(test_duration_reasons),
		cmocka_unit_test(test_duration_many_parts_no_overflow),
		cmocka_unit_test(test_fmt_duration),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_write_atomic_mode_and_content),
		cmocka_unit_test(test_write_atomic_missing_dir),
		cmocka_unit_test(test_write_atomic_readonly_dir),
		cmocka_unit_test(test_write_atomic_fails_midway),
		cmocka_unit_test(test_read_file_cap),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_gunzip),
		cmocka_unit_test(test_gunzip_limit),
		cmocka_unit_test(test_str_helpers),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
