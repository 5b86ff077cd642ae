/* test_effects.c: the one door for side effects.  Record mode (plan) must
 * perform nothing at all; apply mode must perform each effect. */
#include <json-c/json.h>

#include <signal.h>
#include <sys/wait.h>

#include "unit.h"

#include "effects.h"
#include "log.h"

static int aws_calls;

static int
fake_aws_call(void *arg)
{
	aws_calls++;
	return *(int *)arg;
}

static int
quiet(void **state)
{
	(void)state;
	log_setup(LOG_FMT_TEXT, LOG_ERROR);
	return 0;
}

static void
test_record_performs_nothing(void **state)
{
	char *dir = unit_tmpdir(), *file = unit_path(dir, "exports"), *sub = unit_path(dir, "a/b");
	char *canary = unit_path(dir, "canary");
	const char *const touch[] = {"touch", canary, NULL};
	struct effects e;
	struct exec_result r;
	int rc_from_aws = 0;
	(void)state;

	eff_init(&e, EFF_RECORD);
	e.module = "exports";
	assert_int_equal(eff_write_file(&e, file, "x\n", 2, 0640), 0);
	assert_int_equal(eff_mkdir(&e, sub, 0755), 0);
	assert_int_equal(eff_run(&e, touch, &r), 0);
	/* A recorded command "succeeds" with nothing to show. */
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out.data, "");
	exec_result_free(&r);
	assert_int_equal(eff_run(&e, touch, NULL), 0);
	aws_calls = 0;
	assert_int_equal(eff_aws(&e, "ec2", "AttachVolume vol-1 to i-2 as /dev/sdf", fake_aws_call,
	    &rc_from_aws), 0);

	/* Nothing happened. */
	assert_false(unit_exists(file));
	assert_false(unit_exists(sub));
	assert_false(unit_exists(canary));
	assert_int_equal(aws_calls, 0);
	assert_int_equal(unit_count_entries(dir), 0);

	/* Everything was written down, in order, under its module. */
	assert_int_equal(e.nsteps, 5);
	assert_int_equal(e.steps[0].kind, EK_FILE);
	assert_non_null(strstr(e.steps[0].text, file));
	assert_non_null(strstr(e.steps[0].text, "2 bytes"));
	assert_non_null(strstr(e.steps[0].text, "0640"));
	assert_int_equal(e.steps[1].kind, EK_MKDIR);
	assert_non_null(strstr(e.steps[1].text, sub));
	assert_int_equal(e.steps[2].kind, EK_RUN);
	assert_true(str_starts(e.steps[2].text, "touch "));
	assert_non_null(strstr(e.steps[2].text, canary));
	assert_int_equal(e.steps[4].kind, EK_AWS);
	assert_string_equal(e.steps[4].text, "ec2 AttachVolume vol-1 to i-2 as /dev/sdf");
	for (size_t i = 0; i < e.nsteps; i++)
		assert_string_equal(e.steps[i].module, "exports");
	eff_free(&e);
	free(file);
	free(sub);
	free(canary);
	unit_rmtree(dir);
}

static void
test_apply_performs(void **state)
{
	char *dir = unit_tmpdir(), *file = unit_path(dir, "exports"), *sub = unit_path(dir, "a/b");
	char *canary = unit_path(dir, "canary"), *text;
	const char *const touch[] = {"touch", canary, NULL};
	const char *const echo[] = {"echo", "hello", NULL};
	struct effects e;
	struct exec_result r;
	struct stat st;
	int rc_from_aws = 0;
	(void)state;

	eff_init(&e, EFF_APPLY);
	e.module = "exports";
	assert_int_equal(eff_write_file(&e, file, "x\n", 2, 0640), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	text = unit_slurp(file);
	assert_string_equal(text, "x\n");
	free(text);
	assert_int_equal(eff_mkdir(&e, sub, 0755), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(eff_mkdir(&e, sub, 0755), 0); /* there already: fine */
	assert_int_equal(eff_run(&e, touch, NULL), 0);
	assert_true(unit_exists(canary));
	assert_int_equal(eff_run(&e, echo, &r), 0);
	assert_string_equal(r.out.data, "hello\n");
	exec_result_free(&r);
	aws_calls = 0;
	assert_int_equal(eff_aws(&e, "ec2", "AttachVolume", fake_aws_call, &rc_from_aws), 0);
	rc_from_aws = -1;
	assert_int_equal(eff_aws(&e, "ec2", "AttachVolume", fake_aws_call, &rc_from_aws), -1);
	assert_int_equal(aws_calls, 2);
	/* Apply keeps no plan. */
	assert_int_equal(e.nsteps, 0);
	eff_free(&e);
	free(file);
	free(sub);
	free(canary);
	unit_rmtree(dir);
}

static void
test_apply_failures(void **state)
{
	char *dir = unit_tmpdir(), *file = unit_path(dir, "missing/exports");
	const char *const f[] = {"sh", "-c", "echo broken; exit 4", NULL};
	const char *const missing[] = {"haboot-no-such-program", NULL};
	const char *const slow[] = {"sleep", "30", NULL};
	struct effects e;
	struct exec_result r;
	long long t0;
	(void)state;

	eff_init(&e, EFF_APPLY);
	e.module = "filesystem";
	assert_int_equal(eff_run(&e, f, &r), -1);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 4);
	assert_string_equal(r.out.data, "broken\n");
	exec_result_free(&r);
	assert_int_equal(eff_run(&e, f, NULL), -1);
	assert_int_equal(eff_run(&e, missing, &r), -1);
	assert_int_equal(eff_run(&e, missing, NULL), -1);
	/* The command limit applies to every command. */
	e.cmd_timeout_ms = 200;
	t0 = mono_ms();
	assert_int_equal(eff_run(&e, slow, &r), -1);
	assert_true(mono_ms() - t0 < 5000);
	assert_int_equal(r.timed_out, 1);
	exec_result_free(&r);
	/* A mountpoint that is a file is not a directory to mount on. */
	char *plain = unit_path(dir, "plain");
	unit_write(plain, "x");
	assert_int_equal(eff_mkdir(&e, plain, 0755), -1);
	unlink(plain);
	free(plain);
	/* A write into a missing directory fails and leaves nothing. */
	assert_int_equal(eff_write_file(&e, file, "x", 1, 0644), -1);
	assert_int_equal(unit_count_entries(dir), 0);
	eff_free(&e);
	free(file);
	unit_rmtree(dir);
}

static void
test_describe(void **state)
{
	struct effects e;
	(void)state;

	eff_init(&e, EFF_RECORD);
	eff_describe(&e, EK_WAIT, "until %s is attached (up to %ds)", "vol-1", 120);
	assert_int_equal(e.nsteps, 1);
	assert_int_equal(e.steps[0].kind, EK_WAIT);
	assert_string_equal(e.steps[0].text, "until vol-1 is attached (up to 120s)");
	assert_string_equal(e.steps[0].module, "haboot"); /* no module set */
	eff_free(&e);

	eff_init(&e, EFF_APPLY);
	eff_describe(&e, EK_NOTE, "nothing to record");
	assert_int_equal(e.nsteps, 0);
	eff_free(&e);
	assert_string_equal(eff_kind_name(EK_AWS), "aws");
	assert_string_equal(eff_kind_name(EK_CHECK), "check");
}

static void
test_plan_output(void **state)
{
	const char *const mkfs[] = {"mkfs.ext4", "-L", "my \"data\"", "/dev/xvdf", NULL};
	struct effects e;
	struct buf b;
	char *text = NULL;
	size_t tlen = 0;
	FILE *out;
	json_object *root, *step, *v;
	(void)state;

	eff_init(&e, EFF_RECORD);
	e.module = "volume";
	eff_aws(&e, "ec2", "AttachVolume vol-1", NULL, NULL);
	e.module = "filesystem";
	eff_run(&e, mkfs, NULL);
	eff_describe(&e, EK_CHECK, "signature .NFSMASTER exists");

	out = open_memstream(&text, &tlen);
	assert_non_null(out);
	eff_print_text(&e, out);
	fclose(out);
	assert_string_equal(text,
	    "volume:\n"
	    "   1. aws   ec2 AttachVolume vol-1\n"
	    "\n"
	    "filesystem:\n"
	    "   2. run   mkfs.ext4 -L 'my \"data\"' /dev/xvdf\n"
	    "   3. check signature .NFSMASTER exists\n");
	free(text);

	/* JSON plan: valid JSON, quotes escaped, steps numbered from 1. */
	buf_init(&b);
	eff_print_json(&e, &b);
	root = json_tokener_parse(b.data);
	assert_non_null(root);
	assert_true(json_object_is_type(root, json_type_array));
	assert_int_equal(json_object_array_length(root), 3);
	step = json_object_array_get_idx(root, 1);
	assert_true(json_object_object_get_ex(step, "step", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(step, "module", &v));
	assert_string_equal(json_object_get_string(v), "filesystem");
	assert_true(json_object_object_get_ex(step, "kind", &v));
	assert_string_equal(json_object_get_string(v), "run");
	assert_true(json_object_object_get_ex(step, "action", &v));
	assert_string_equal(json_object_get_string(v), "mkfs.ext4 -L 'my \"data\"' /dev/xvdf");
	json_object_put(root);
	buf_free(&b);
	eff_free(&e);
}


/* The service module's effects: plan shows a detached start, a signal and an
 * ownership change, and does none of them; apply does each. */
static void
test_daemon_signal_and_owner_effects(void **state)
{
	char *dir = unit_tmpdir(), *data = unit_path(dir, "data"), *log = unit_path(dir, "d.log");
	char *inner = unit_path(dir, "data/inner"), *file = unit_path(dir, "data/inner/f");
	char *link = unit_path(dir, "link"), *why = NULL;
	const char *const argv[] = {"sleep", "30", NULL};
	struct effects e;
	struct stat st;
	pid_t pid = -1;
	(void)state;

	eff_init(&e, EFF_RECORD);
	e.module = "service";
	assert_int_equal(eff_spawn(&e, argv, NULL, log, &pid, &why), 0);
	assert_int_equal(pid, 0);
	assert_int_equal(eff_kill(&e, 1, SIGTERM, "init (pid 1)"), 0);
	assert_int_equal(eff_chown(&e, data, "nobody:nogroup", 65534, 65534, 0700, true), 0);
	assert_false(unit_exists(log));
	assert_false(unit_exists(data));
	assert_int_equal(e.nsteps, 3);
	assert_int_equal(e.steps[0].kind, EK_RUN);
	assert_non_null(strstr(e.steps[0].text, "start sleep 30 detached"));
	assert_non_null(strstr(e.steps[0].text, log));
	assert_string_equal(e.steps[1].text, "send SIGTERM to init (pid 1)");
	assert_int_equal(e.steps[2].kind, EK_FILE);
	assert_non_null(strstr(e.steps[2].text, "chown nobody:nogroup"));
	assert_non_null(strstr(e.steps[2].text, "mode 0700"));
	eff_free(&e);

	eff_init(&e, EFF_APPLY);
	e.module = "service";
	assert_int_equal(eff_spawn(&e, argv, NULL, log, &pid, &why), 0);
	assert_true(pid > 0);
	assert_int_equal(eff_kill(&e, pid, SIGTERM, "sleep"), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(eff_kill(&e, pid, SIGTERM, "sleep"), -1); /* gone */
	if (getuid() == 0) {
		assert_int_equal(mkdir(data, 0755), 0);
		assert_int_equal(mkdir(inner, 0755), 0);
		unit_write(file, "x");
		/* Not recursive: the directory only, owner and mode. */
		assert_int_equal(eff_chown(&e, data, "65534:65534", 65534, 65534, 0700, false), 2);
		assert_int_equal(stat(data, &st), 0);
		assert_int_equal(st.st_uid, 65534);
		assert_int_equal(st.st_mode & 07777, 0700);
		assert_int_equal(stat(file, &st), 0);
		assert_int_equal(st.st_uid, 0);
		/* Already right: nothing to change. */
		assert_int_equal(eff_chown(&e, data, "65534:65534", 65534, 65534, 0700, false), 0);
		/* Recursive: what is owned otherwise below it, modes left alone. */
		assert_int_equal(eff_chown(&e, data, "65534:65534", 65534, 65534, 0700, true), 2);
		assert_int_equal(stat(file, &st), 0);
		assert_int_equal(st.st_uid, 65534);
		assert_int_equal(st.st_mode & 07777, 0644);
		/* A symlink is never followed or owned. */
		assert_int_equal(symlink(data, link), 0);
		assert_int_equal(eff_chown(&e, link, "0:0", 0, 0, 0700, false), -1);
		assert_int_equal(stat(data, &st), 0);
		assert_int_equal(st.st_uid, 65534);
	}
	eff_free(&e);
	free(data);
	free(log);
	free(inner);
	free(file);
	free(link);
	unit_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_performs_nothing),
		cmocka_unit_test(test_apply_performs),
		cmocka_unit_test(test_apply_failures),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_plan_output),
		cmocka_unit_test(test_daemon_signal_and_owner_effects),
	};

	return cmocka_run_group_tests_name("effects", tests, quiet, NULL);
}
