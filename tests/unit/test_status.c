/* test_status.c: the run report `haboot status` and monitoring read. */
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

static void
test_show_text(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "status.json"), *why = NULL;
	struct run_status st;
	struct mod_result mods[2];
	struct kv facts;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;
	(void)state;

	sample(&st, mods, &facts);
	assert_int_equal(status_write(&st, path), 0);
	f = open_memstream(&out, &outlen);
	assert_non_null(f);
	assert_int_equal(status_show(path, false, f, &why), 0);
	fclose(f);
	assert_non_null(strstr(out, "service   nfs\n"));
	assert_non_null(strstr(out, "instance  i-0123\n"));
	assert_non_null(strstr(out, "outcome   failed\n"));
	assert_non_null(strstr(out, "started   2026-11-26T12:54:26.000Z\n"));
	assert_non_null(strstr(out, "manifest  user-data\n"));
	assert_non_null(strstr(out, "\nvolume       ok            1m30s  attached vol-1 as /dev/nvme1n1\n"));
	assert_non_null(strstr(out, "\nfilesystem   failed        250ms  signature"));
	assert_non_null(strstr(out, "volume.device"));
	free(out);

	/* --json prints the file as it is. */
	out = NULL;
	f = open_memstream(&out, &outlen);
	assert_int_equal(status_show(path, true, f, &why), 0);
	fclose(f);
	char *file = unit_slurp(path);
	assert_string_equal(out, file);
	free(file);
	free(out);
	kv_free(&facts);
	free(path);
	unit_rmtree(dir);
}

static void
test_show_errors(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "status.json"), *why = NULL;
	FILE *f = fopen("/dev/null", "w");
	(void)state;

	assert_non_null(f);
	assert_int_equal(status_show(path, false, f, &why), -1);
	assert_non_null(strstr(why, "no status yet"));
	assert_true(str_starts(why, path));
	free(why);
	why = NULL;
	unit_write(path, "{\"service\": \"nfs\", ");
	assert_int_equal(status_show(path, false, f, &why), -1);
	assert_non_null(strstr(why, "not a haboot status file"));
	free(why);
	why = NULL;
	unit_write(path, "[1, 2]");
	assert_int_equal(status_show(path, true, f, &why), -1);
	free(why);
	why = NULL;
	/* Odd but valid JSON shows what it can, without crashing. */
	unit_write(path, "{\"modules\": [1, \"x\", {\"name\": 5, \"duration_ms\": \"y\"}], "
	    "\"facts\": {\"a\": 1}}");
	assert_int_equal(status_show(path, false, f, &why), 0);
	fclose(f);
	/* A fact that is JSON null prints as "-", never as "(null)" (UB in printf). */
	unit_write(path, "{\"facts\": {\"volume.previous_owner\": null}}");
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(status_show(path, false, f, &why), 0);
	{
		char out[2048] = "";
		size_t n;

		rewind(f);
		n = fread(out, 1, sizeof(out) - 1, f);
		out[n] = '\0';
		assert_non_null(strstr(out, "volume.previous_owner"));
		assert_null(strstr(out, "(null)"));
	}
	fclose(f);
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
		cmocka_unit_test(test_show_errors),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
