/* test_status.c: the run report `haboot status` and monitoring read. */
#include <errno.h>
#include <json-c/json.h>

#include "unit.h"

#include "status.h"
#include "util.h"

static const char *
jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool
jnull(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v == NULL;
}

/* A finished run of two modules, with a message that needs escaping. */
static void
sample(struct run_status *st, struct mod_result mods[2], struct kv *facts)
{
	memset(st, 0, sizeof(*st));
	memset(mods, 0, 2 * sizeof(*mods));
	kv_init(facts);
	kv_set(facts, "volume.device", "/dev/nvme1n1", "volume");
	kv_set(facts, "filesystem.mountpoint", "/mnt/nfs", "filesystem");
	mods[0].name = "volume";
	mods[0].state = MS_OK;
	mods[0].changed = true;
	mods[0].start_wall = 1795697666000LL;
	mods[0].duration_ms = 90500;
	mods[0].message = "attached vol-1 as /dev/nvme1n1";
	mods[1].name = "filesystem";
	mods[1].state = MS_FAILED;
	mods[1].start_wall = 1795697756500LL;
	mods[1].duration_ms = 250;
	mods[1].message = "signature \".NFSMASTER\" missing\non /mnt/nfs";
	st->service = "nfs";
	st->instance = "i-0123";
	st->source = "user-data";
	st->started = 1795697666000LL;
	st->finished = 1795697756750LL;
	st->outcome = "failed";
	st->mods = mods;
	st->nmods = 2;
	st->facts = facts;
}

static void
test_write_read_round_trip(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "run/haboot/status.json");
	struct run_status st;
	struct mod_result mods[2];
	struct kv facts;
	json_object *root, *arr, *m, *v;
	struct stat sb;
	char *text;
	(void)state;

	sample(&st, mods, &facts);
	/* The directory is created; the file is 0644 so monitoring can read it. */
	assert_int_equal(status_write(&st, path), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	text = unit_slurp(path);
	root = json_tokener_parse(text);
	assert_non_null(root);
	assert_string_equal(jstr(root, "service"), "nfs");
	assert_string_equal(jstr(root, "instance"), "i-0123");
	assert_string_equal(jstr(root, "source"), "user-data");
	assert_string_equal(jstr(root, "outcome"), "failed");
	assert_string_equal(jstr(root, "started"), "2026-11-26T12:54:26.000Z");
	assert_string_equal(jstr(root, "finished"), "2026-11-26T12:55:56.750Z");
	assert_true(json_object_object_get_ex(root, "duration_ms", &v));
	assert_int_equal(json_object_get_int64(v), 90750);
	assert_true(json_object_object_get_ex(root, "version", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(root, "modules", &arr));
	assert_int_equal(json_object_array_length(arr), 2);
	m = json_object_array_get_idx(arr, 0);
	assert_string_equal(jstr(m, "name"), "volume");
	assert_string_equal(jstr(m, "state"), "ok");
	assert_true(json_object_object_get_ex(m, "changed", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(m, "duration_ms", &v));
	assert_int_equal(json_object_get_int64(v), 90500);
	m = json_object_array_get_idx(arr, 1);
	assert_string_equal(jstr(m, "state"), "failed");
	assert_string_equal(jstr(m, "message"), "signature \".NFSMASTER\" missing\non /mnt/nfs");
	assert_true(json_object_object_get_ex(root, "facts", &v));
	assert_string_equal(jstr(v, "volume.device"), "/dev/nvme1n1");
	assert_string_equal(jstr(v, "filesystem.mountpoint"), "/mnt/nfs");
	json_object_put(root);
	free(text);

	/* Rewritten while running: finished and duration are null, no temp left. */
	st.finished = 0;
	st.outcome = "running";
	mods[1].state = MS_RUNNING;
	mods[1].message = NULL;
	assert_int_equal(status_write(&st, path), 0);
	text = unit_slurp(path);
	root = json_tokener_parse(text);
	assert_non_null(root);
	assert_string_equal(jstr(root, "outcome"), "running");
	assert_true(jnull(root, "finished"));
	assert_true(jnull(root, "duration_ms"));
	assert_true(json_object_object_get_ex(root, "modules", &arr));
	assert_true(jnull(json_object_array_get_idx(arr, 1), "message"));
	json_object_put(root);
	free(text);
	char *sub = unit_path(dir, "run/haboot");
	assert_int_equal(unit_count_entries(sub), 1);
	free(sub);
	kv_free(&facts);
	free(path);
	unit_rmtree(dir);
}

/* Reads a report through the API the watch engine uses; prints it. */
static char *
show(const char *path, bool json, struct status_report *r)
{
	char *out = NULL, *why = NULL;
	size_t outlen = 0;
	FILE *f;

	if (status_load(path, r, &why) != 0)
		fail_msg("status_load %s: %s", path, why);
	f = open_memstream(&out, &outlen);
	assert_non_null(f);
	status_show(r, json, f);
	fclose(f);
	return out;
}

static void
test_show_text(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "status.json");
	struct run_status st;
	struct mod_result mods[2];
	struct status_report r;
	struct kv facts;
	char *out;
	(void)state;

	sample(&st, mods, &facts);
	assert_int_equal(status_write(&st, path), 0);
	out = show(path, false, &r);
	assert_non_null(strstr(out, "service   nfs\n"));
	assert_non_null(strstr(out, "instance  i-0123\n"));
	assert_non_null(strstr(out, "outcome   failed\n"));
	assert_non_null(strstr(out, "started   2026-11-26T12:54:26.000Z\n"));
	assert_non_null(strstr(out, "manifest  user-data\n"));
	assert_non_null(strstr(out, "\nvolume       ok            1m30s  attached vol-1 as /dev/nvme1n1\n"));
	assert_non_null(strstr(out, "\nfilesystem   failed        250ms  signature"));
	assert_non_null(strstr(out, "volume.device"));
	/* What the watch engine reads: the verdict and the facts. */
	assert_int_equal(status_judge(&r), SV_FAILED);
	assert_string_equal(status_report_fact(&r, FACT_VOLUME_DEVICE), "/dev/nvme1n1");
	assert_string_equal(status_report_fact(&r, FACT_FS_MOUNTPOINT), "/mnt/nfs");
	assert_null(status_report_fact(&r, FACT_ROUTE53_NAME));
	assert_int_equal(r.nmods, 2);
	assert_string_equal(r.mods[1].state, "failed");
	assert_true(r.mods[0].changed);
	free(out);

	/* --json prints the file as it is. */
	status_report_free(&r);
	out = show(path, true, &r);
	char *file = unit_slurp(path);
	assert_string_equal(out, file);
	free(file);
	free(out);
	status_report_free(&r);
	kv_free(&facts);
	free(path);
	unit_rmtree(dir);
}

/* running, judged now: this process is alive; a dead pid or another boot's
 * report is a run that never finished. */
static void
test_judge(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "status.json"), *text;
	struct run_status st;
	struct mod_result mods[2];
	struct status_report r;
	struct kv facts;
	(void)state;

	sample(&st, mods, &facts);
	st.finished = 0;
	st.outcome = "running";
	assert_int_equal(status_write(&st, path), 0);
	free(show(path, false, &r));
	assert_int_equal(r.pid, (long long)getpid());
	assert_int_equal(status_judge(&r), SV_RUNNING);
	status_report_free(&r);

	unit_write(path, "{\"outcome\": \"running\", \"pid\": 2147483646}");
	free(show(path, false, &r));
	assert_int_equal(status_judge(&r), SV_INTERRUPTED);
	status_report_free(&r);

	text = xasprintf("{\"outcome\": \"running\", \"pid\": %ld, \"boot_id\": \"another-boot\"}",
	    (long)getpid());
	unit_write(path, text);
	free(text);
	char *out = show(path, false, &r);
	assert_int_equal(status_judge(&r), SV_INTERRUPTED);
	assert_non_null(strstr(out, "outcome   interrupted"));
	free(out);
	status_report_free(&r);

	unit_write(path, "{\"outcome\": \"ok\"}");
	free(show(path, false, &r));
	assert_int_equal(status_judge(&r), SV_OK);
	status_report_free(&r);
	kv_free(&facts);
	free(path);
	unit_rmtree(dir);
}

/* The standard layout: the report, a link to it, a history of the last
 * STATUS_HISTORY_KEEP finished runs (a running one is not history). */
static void
test_save_layout_and_history(void **state)
{
	char *dir = unit_tmpdir(), *sdir = unit_path(dir, "var/lib/haboot");
	char *link = unit_path(dir, "run/haboot/status.json"), *why = NULL, *hist, *text, target[512];
	struct run_status st;
	struct mod_result mods[2];
	struct kv facts;
	ssize_t n;
	(void)state;

	sample(&st, mods, &facts);
	/* An older version's report where the link goes is replaced by the link. */
	char *rundir = unit_path(dir, "run/haboot");
	assert_int_equal(mkdir_p(rundir, 0755), 0);
	free(rundir);
	unit_write(link, "{\"outcome\": \"old\"}");
	st.finished = 0;
	st.outcome = "running";
	if (status_save_at(&st, sdir, link, &why) != 0)
		fail_msg("%s", why);
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	char *report = unit_path(sdir, "status.json");
	assert_string_equal(target, report);
	hist = unit_path(sdir, "history");
	assert_false(unit_exists(hist));

	for (int i = 0; i < STATUS_HISTORY_KEEP + 3; i++) {
		st.started = 1795697666000LL + i * 60000LL;
		st.finished = st.started + 1000;
		st.outcome = i % 2 ? "failed" : "ok";
		if (status_save_at(&st, sdir, link, &why) != 0)
			fail_msg("%s", why);
	}
	assert_int_equal(unit_count_entries(hist), STATUS_HISTORY_KEEP);
	/* The oldest went; the newest is there, named by its start and outcome. */
	char *oldest = unit_path(hist, "20261126T125426.000Z-ok.json");
	char *newest = unit_path(hist, "20261126T130626.000Z-ok.json");
	assert_false(unit_exists(oldest));
	assert_true(unit_exists(newest));
	text = unit_slurp(link);
	assert_non_null(strstr(text, "\"outcome\": \"ok\""));
	free(text);

	FILE *f = open_memstream(&text, &(size_t){0});
	assert_int_equal(status_show_history(hist, f, &why), 0);
	fclose(f);
	assert_non_null(strstr(text, "2026-11-26T13:06:26.000Z ok"));
	assert_null(strstr(text, "12:54:26"));
	free(text);
	free(oldest);
	free(newest);
	free(report);
	free(hist);
	free(link);
	free(sdir);
	kv_free(&facts);
	unit_rmtree(dir);
}

/* A status file that is a device (/dev/null) is written to, never replaced. */
static void
test_device_path_is_not_replaced(void **state)
{
	struct run_status st;
	struct mod_result mods[2];
	struct kv facts;
	struct stat sb;
	(void)state;

	sample(&st, mods, &facts);
	assert_int_equal(status_write(&st, "/dev/null"), 0);
	assert_int_equal(stat("/dev/null", &sb), 0);
	assert_true(S_ISCHR(sb.st_mode));
	kv_free(&facts);
}

static void
test_show_errors(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "status.json"), *why = NULL, *out;
	struct status_report r;
	(void)state;

	assert_int_equal(status_load(path, &r, &why), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(why, "no report yet"));
	assert_true(str_starts(why, path));
	free(why);
	why = NULL;
	unit_write(path, "{\"service\": \"nfs\", ");
	assert_int_equal(status_load(path, &r, &why), -1);
	assert_int_not_equal(errno, ENOENT);
	assert_non_null(strstr(why, "not a haboot status file"));
	free(why);
	why = NULL;
	unit_write(path, "[1, 2]");
	assert_int_equal(status_load(path, &r, &why), -1);
	free(why);
	why = NULL;
	/* Odd but valid JSON shows what it can, without crashing. */
	unit_write(path, "{\"modules\": [1, \"x\", {\"name\": 5, \"duration_ms\": \"y\"}], "
	    "\"facts\": {\"a\": 1}}");
	free(show(path, false, &r));
	status_report_free(&r);
	/* A fact that is JSON null is left out, never printed through "%s" as NULL. */
	unit_write(path, "{\"facts\": {\"volume.previous_owner\": null}}");
	out = show(path, false, &r);
	assert_null(strstr(out, "(null)"));
	free(out);
	status_report_free(&r);
	free(path);
	unit_rmtree(dir);
}

static void
test_state_names(void **state)
{
	(void)state;
	assert_string_equal(mod_state_name(MS_PENDING), "pending");
	assert_string_equal(mod_state_name(MS_RUNNING), "running");
	assert_string_equal(mod_state_name(MS_OK), "ok");
	assert_string_equal(mod_state_name(MS_FAILED), "failed");
	assert_string_equal(mod_state_name(MS_WARNED), "warned");
	assert_string_equal(mod_state_name(MS_SKIPPED), "skipped");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_round_trip),
		cmocka_unit_test(test_show_text),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_save_layout_and_history),
		cmocka_unit_test(test_device_path_is_not_replaced),
		cmocka_unit_test(test_show_errors),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
