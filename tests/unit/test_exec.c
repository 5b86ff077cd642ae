/* test_exec.c: argv runner: exit codes, captured output, timeouts that take
 * the whole process group down, and no shell anywhere. */
#include <errno.h>
#include <signal.h>

#include "unit.h"

#include "exec.h"
#include "util.h"

static void
test_exit_codes(void **state)
{
	const char *const t[] = {"true", NULL};
	const char *const f[] = {"false", NULL};
	const char *const three[] = {"sh", "-c", "exit 3", NULL};
	struct exec_result r;
	(void)state;

	assert_int_equal(exec_argv(t, 5000, &r), 0);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.timed_out, 0);
	exec_result_free(&r);
	assert_int_equal(exec_argv(f, 5000, &r), 0);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 1);
	exec_result_free(&r);
	assert_int_equal(exec_argv(three, 0, &r), 0);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 3);
	exec_result_free(&r);
}

static void
test_killed_by_signal(void **state)
{
	const char *const argv[] = {"sh", "-c", "kill -TERM $$", NULL};
	struct exec_result r;
	(void)state;

	assert_int_equal(exec_argv(argv, 5000, &r), 0);
	assert_int_equal(r.exited, 0);
	assert_int_equal(r.timed_out, 0);
	assert_int_equal(r.status, SIGTERM);
	exec_result_free(&r);
}

static void
test_output_capture(void **state)
{
	const char *const argv[] = {"sh", "-c", "echo out; echo err >&2; printf tail", NULL};
	const char *const cat[] = {"cat", NULL};
	struct exec_result r;
	(void)state;

	assert_int_equal(exec_argv(argv, 5000, &r), 0);
	assert_string_equal(r.out.data, "out\nerr\ntail");
	assert_int_equal(r.out.len, 12);
	exec_result_free(&r);
	/* stdin is /dev/null: a program reading it ends at once, with no output. */
	assert_int_equal(exec_argv(cat, 5000, &r), 0);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 0);
	assert_non_null(r.out.data);
	assert_string_equal(r.out.data, "");
	exec_result_free(&r);
}

static void
test_output_capped(void **state)
{
	const char *const argv[] = {"head", "-c", "3000000", "/dev/zero", NULL};
	struct exec_result r;
	(void)state;

	/* The child is drained to the end (not blocked on a full pipe) and the
	 * kept output is bounded. */
	assert_int_equal(exec_argv(argv, 20000, &r), 0);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.timed_out, 0);
	assert_true(r.out.len > 0);
	assert_true(r.out.len <= 256 * 1024);
	exec_result_free(&r);
}

/* Whether pid is gone (or a zombie no one reaped yet). */
static bool
dead(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp != NULL && (rp[2] == 'Z' || rp[2] == 'X');
}

static void
test_timeout_kills_children(void **state)
{
	/* The child starts a grandchild, says its pid, and waits forever. */
	const char *const argv[] = {"sh", "-c", "sleep 300 & echo $!; wait", NULL};
	struct exec_result r;
	long long t0 = mono_ms(), took;
	pid_t grandchild;
	(void)state;

	/* 1s: time enough for the shell to start on a loaded machine. */
	assert_int_equal(exec_argv(argv, 1000, &r), 0);
	took = mono_ms() - t0;
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.exited, 0);
	assert_int_equal(r.status, SIGKILL);
	assert_true(took >= 1000);
	assert_true(took < 6000);
	grandchild = (pid_t)atoi(r.out.data);
	assert_true(grandchild > 1);
	for (int i = 0; i < 100 && !dead(grandchild); i++)
		usleep(20 * 1000);
	if (!dead(grandchild)) {
		kill(grandchild, SIGKILL);
		fail_msg("grandchild %d survived the timeout", (int)grandchild);
	}
	exec_result_free(&r);
}

/* A child that closes its output and keeps running is still bound by the
 * timeout: end of output is not end of the program. */
static void
test_timeout_after_output_closed(void **state)
{
	const char *const argv[] = {"sh", "-c", "echo bye; exec >/dev/null 2>&1; sleep 30", NULL};
	struct exec_result r;
	long long t0 = mono_ms(), took;
	(void)state;

	assert_int_equal(exec_argv(argv, 1000, &r), 0);
	took = mono_ms() - t0;
	assert_true(took < 6000);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.exited, 0);
	assert_string_equal(r.out.data, "bye\n");
	exec_result_free(&r);
}

/* What is kept of a long output is its beginning, without holes. */
static void
test_output_cap_is_a_prefix(void **state)
{
	const char *const argv[] = {"sh", "-c",
	    "i=0; while [ $i -lt 40000 ]; do echo \"line $i\"; i=$((i+1)); done", NULL};
	struct exec_result r;
	struct buf want;
	(void)state;

	assert_int_equal(exec_argv(argv, 60000, &r), 0);
	assert_int_equal(r.status, 0);
	buf_init(&want);
	for (int i = 0; i < 40000; i++)
		buf_printf(&want, "line %d\n", i);
	assert_true(want.len > 256 * 1024);
	assert_int_equal(r.out.len, 256 * 1024);
	assert_memory_equal(r.out.data, want.data, r.out.len);
	buf_free(&want);
	exec_result_free(&r);
}

static void
test_missing_program(void **state)
{
	const char *const missing[] = {"haboot-no-such-program", "x", NULL};
	const char *const abs[] = {"/nonexistent/bin/prog", NULL};
	char *dir = unit_tmpdir(), *plain = unit_path(dir, "script");
	const char *const notexec[] = {plain, NULL};
	struct exec_result r;
	(void)state;

	unit_write(plain, "#!/bin/sh\nexit 0\n");
	assert_int_equal(chmod(plain, 0644), 0);

	errno = 0;
	assert_int_equal(exec_argv(missing, 5000, &r), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(exec_argv(abs, 5000, &r), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(exec_argv(notexec, 5000, &r), -1);
	assert_int_equal(errno, EACCES);
	free(plain);
	unit_rmtree(dir);
}

static void
test_no_shell(void **state)
{
	char *dir = unit_tmpdir(), *canary = unit_path(dir, "canary");
	char *sub = xasprintf("$(touch %s)", canary), *semi = xasprintf("; touch %s", canary);
	char *tick = xasprintf("`touch %s`", canary);
	const char *const argv[] = {"printf", "%s|", sub, semi, tick, "*", "$HOME", NULL};
	struct exec_result r;
	char *want;
	(void)state;

	assert_int_equal(exec_argv(argv, 5000, &r), 0);
	assert_int_equal(r.status, 0);
	/* Each argument arrives as written; nothing was run, nothing expanded. */
	want = xasprintf("%s|%s|%s|*|$HOME|", sub, semi, tick);
	assert_string_equal(r.out.data, want);
	assert_false(unit_exists(canary));
	exec_result_free(&r);
	free(want);
	free(sub);
	free(semi);
	free(tick);
	free(canary);
	unit_rmtree(dir);
}

static void
test_argv_to_display(void **state)
{
	const char *const a[] = {"mkfs.ext4", "-L", "my data", "/dev/xvdf", NULL};
	const char *const b[] = {"echo", "it's", "", "$(x)", "a;b", NULL};
	char *s;
	(void)state;

	s = argv_to_display(a);
	assert_string_equal(s, "mkfs.ext4 -L 'my data' /dev/xvdf");
	free(s);
	s = argv_to_display(b);
	assert_string_equal(s, "echo 'it'\\''s' '' '$(x)' 'a;b'");
	free(s);
}

/* A failure message carries the end of the output, on one line. */
static void
test_output_tail(void **state)
{
	struct buf b;
	char *s;
	(void)state;

	buf_init(&b);
	s = exec_output_tail(&b, 10);
	assert_string_equal(s, "(no output)");
	free(s);
	buf_adds(&b, "first\nsecond\x1b[0m\n\n  ");
	s = exec_output_tail(&b, 100);
	assert_string_equal(s, "first | second[0m");
	free(s);
	s = exec_output_tail(&b, 6);   /* the end counts, trailing blanks do not */
	assert_string_equal(s, "...nd[0m");
	free(s);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_output_capture),
		cmocka_unit_test(test_output_capped),
		cmocka_unit_test(test_timeout_kills_children),
		cmocka_unit_test(test_timeout_after_output_closed),
		cmocka_unit_test(test_output_cap_is_a_prefix),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_no_shell),
		cmocka_unit_test(test_argv_to_display),
		cmocka_unit_test(test_output_tail),
	};

	return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
