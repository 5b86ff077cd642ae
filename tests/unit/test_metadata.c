/* test_metadata.c: instance facts from --metadata, --metadata-file (KEY=VALUE
 * or JSON), a live source, and marked offline defaults. */
#include "unit.h"

#include "manifest/metadata.h"
#include "util.h"

static void
test_set_arg(void **state)
{
	struct metadata md;
	char *why = NULL;
	(void)state;

	md_init(&md);
	assert_int_equal(md_set_arg(&md, "instance-id=i-0abc", &why), 0);
	assert_string_equal(md_get(&md, "instance-id"), "i-0abc");
	assert_string_equal(md_origin(&md, "instance-id"), "--metadata");
	/* A value may hold '=' and may be empty. */
	assert_int_equal(md_set_arg(&md, "local-hostname=a=b", &why), 0);
	assert_string_equal(md_get(&md, "local-hostname"), "a=b");
	assert_int_equal(md_set_arg(&md, "mac=", &why), 0);
	assert_string_equal(md_get(&md, "mac"), "");
	/* The last value wins. */
	assert_int_equal(md_set_arg(&md, "instance-id=i-0def", &why), 0);
	assert_string_equal(md_get(&md, "instance-id"), "i-0def");

	static const char *const bad[] = {"instance-id", "=x", "bad key=x", "k\n=x", "", "a.b=c",
	    "user-tag=x", "zone=us-west-2a"};
	for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++) {
		why = NULL;
		if (md_set_arg(&md, bad[i], &why) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(why);
		free(why);
	}
	assert_null(md_get(&md, "bad key"));
	md_free(&md);
}

/* A key haboot never reads is a typo: refused with the known keys and, when
 * one is close, a did-you-mean. */
static void
test_unknown_keys(void **state)
{
	static const char *const cases[][2] = {
		{"zone", "did you mean \"az\"?"},
		{"instance_id", "did you mean \"instance-id\"?"},
		{"local-ipv6", "did you mean \"local-ipv4\"?"},
		{"regoin", "did you mean \"region\"?"},
		{"private-ip", "did you mean \"local-ipv4\"?"},
		{"flavour", "(known: az, "},
	};
	char *why;
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		why = NULL;
		assert_int_equal(md_check_key(cases[i][0], &why), -1);
		if (strstr(why, cases[i][1]) == NULL || strstr(why, "instance-id") == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", cases[i][0], why, cases[i][1]);
		free(why);
	}
	assert_int_equal(md_check_key("placement/availability-zone", &why), 0);
	assert_int_equal(md_check_key("ip", &why), 0);
}

static void
test_region_of_az(void **state)
{
	static const char *const good[][2] = {
		{"us-west-2a", "us-west-2"}, {"eu-central-1b", "eu-central-1"},
		{"us-gov-west-1a", "us-gov-west-1"}, {"us-west-2-lax-1a", "us-west-2"},
		{"ap-southeast-4c", "ap-southeast-4"},
	};
	static const char *const bad[] = {"us-west-2", "uswest2a", "2a", "US-west-2a", "us--2a", ""};
	char *r;
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(good); i++) {
		assert_int_equal(md_region_of_az(good[i][0], &r), 0);
		assert_string_equal(r, good[i][1]);
		free(r);
	}
	for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++)
		if (md_region_of_az(bad[i], &r) != -1)
			fail_msg("took \"%s\" for a zone", bad[i]);
}

/* The region: --metadata region, else the given az's, else AWS_REGION, else
 * AWS_DEFAULT_REGION; the default zone then lies in it. */
static void
test_settle_region(void **state)
{
	struct metadata md;
	char *why = NULL, *warn = NULL;
	(void)state;

	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	md_init(&md);
	md.offline_defaults = 1;
	assert_int_equal(md_settle_region(&md, true, &why, &warn), 0);
	assert_string_equal(md_get(&md, "region"), "us-east-1");
	assert_string_equal(md_origin(&md, "region"), "default");
	md_free(&md);

	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	md_init(&md);
	md.offline_defaults = 1;
	assert_int_equal(md_settle_region(&md, true, &why, &warn), 0);
	assert_null(warn);
	assert_string_equal(md_get(&md, "region"), "eu-west-1");
	assert_string_equal(md_origin(&md, "region"), "AWS_DEFAULT_REGION");
	assert_string_equal(md_get(&md, "az"), "eu-west-1a");
	assert_string_equal(md_origin(&md, "az"), "default");
	md_free(&md);

	setenv("AWS_REGION", "eu-north-1", 1);
	md_init(&md);
	assert_int_equal(md_settle_region(&md, true, &why, &warn), 0);
	assert_string_equal(md_get(&md, "region"), "eu-north-1");
	assert_string_equal(md_origin(&md, "region"), "AWS_REGION");
	md_free(&md);

	/* The zone given beats the environment, which is then named in a warning. */
	md_init(&md);
	assert_int_equal(md_set_arg(&md, "az=us-west-2b", &why), 0);
	assert_int_equal(md_settle_region(&md, true, &why, &warn), 0);
	assert_string_equal(md_get(&md, "region"), "us-west-2");
	assert_string_equal(md_origin(&md, "region"), "from az us-west-2b");
	assert_non_null(warn);
	assert_non_null(strstr(warn, "AWS_REGION=eu-north-1"));
	free(warn);
	md_free(&md);

	/* A region and a zone given that disagree are an error. */
	md_init(&md);
	assert_int_equal(md_set_arg(&md, "az=us-west-2b", &why), 0);
	assert_int_equal(md_set_arg(&md, "region=eu-west-1", &why), 0);
	assert_int_equal(md_settle_region(&md, true, &why, &warn), -1);
	assert_non_null(strstr(why, "lies in region us-west-2, not in region eu-west-1"));
	free(why);
	md_free(&md);
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
}

static void
test_aliases(void **state)
{
	struct metadata md;
	char *why = NULL;
	(void)state;

	md_init(&md);
	assert_int_equal(md_set_arg(&md, "az=us-west-2a", &why), 0);
	assert_int_equal(md_set_arg(&md, "region=us-west-2", &why), 0);
	assert_int_equal(md_set_arg(&md, "ip=10.0.0.5", &why), 0);
	/* Stored under the IMDS path, readable by either name. */
	assert_string_equal(md_get(&md, "placement/availability-zone"), "us-west-2a");
	assert_string_equal(md_get(&md, "az"), "us-west-2a");
	assert_string_equal(md_get(&md, "availability-zone"), "us-west-2a");
	assert_string_equal(md_get(&md, "placement/region"), "us-west-2");
	assert_string_equal(md_get(&md, "local-ipv4"), "10.0.0.5");
	assert_int_equal(md.values.n, 3);
	assert_string_equal(md_canonical("az"), "placement/availability-zone");
	assert_string_equal(md_canonical("local-ipv4"), "local-ipv4");
	assert_true(md_known_key("local-ipv4"));
	assert_true(md_known_key("ip"));
	assert_true(md_known_key("public-ipv4"));
	assert_false(md_known_key("bogus"));
	assert_false(md_known_key("iam/security-credentials/role"));
	md_free(&md);
}

static void
test_file_key_value(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "md.env"), *why = NULL;
	struct metadata md;
	(void)state;

	unit_write(path, "# facts for a test run\n"
	    "instance-id=i-0123\n"
	    "\n"
	    "   az=us-west-2b   \n"
	    "local-ipv4=10.1.2.3\r\n"
	    "  # indented comment\n");
	md_init(&md);
	if (md_load_file(&md, path, &why) != 0)
		fail_msg("%s", why);
	assert_string_equal(md_get(&md, "instance-id"), "i-0123");
	assert_string_equal(md_get(&md, "placement/availability-zone"), "us-west-2b");
	assert_string_equal(md_get(&md, "local-ipv4"), "10.1.2.3");
	assert_string_equal(md_origin(&md, "az"), path);
	assert_int_equal(md.values.n, 3);
	md_free(&md);
	free(path);
	unit_rmtree(dir);
}

/* The error names the file and the line that is wrong, counting blank lines. */
static void
test_file_error_line(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "md.env"), *why = NULL, *want;
	struct metadata md;
	(void)state;

	unit_write(path, "instance-id=i-0123\n\n\n# comment\nnot a pair\n");
	md_init(&md);
	assert_int_equal(md_load_file(&md, path, &why), -1);
	want = xasprintf("%s:5: ", path);
	if (!str_starts(why, want))
		fail_msg("\"%s\" does not start with \"%s\"", why, want);
	free(want);
	free(why);
	md_free(&md);
	free(path);
	unit_rmtree(dir);
}

/* A value given by --metadata keeps that origin when a file is read later. */
static void
test_file_origin(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "md.env"), *why = NULL;
	struct metadata md;
	char *w = NULL;
	(void)state;

	unit_write(path, "instance-id=i-file\n");
	md_init(&md);
	assert_int_equal(md_set_arg(&md, "az=us-west-2a", &w), 0);
	assert_int_equal(md_load_file(&md, path, &why), 0);
	assert_string_equal(md_origin(&md, "az"), "--metadata");
	assert_string_equal(md_origin(&md, "instance-id"), path);
	md_free(&md);
	free(path);
	unit_rmtree(dir);
}

static void
test_file_json(void **state)
{
	char *dir = unit_tmpdir(), *path = unit_path(dir, "md.json"), *why = NULL;
	struct metadata md;
	(void)state;

	unit_write(path, "  {\"instance-id\": \"i-0json\", \"az\": \"eu-west-1c\",\n"
	    "   \"local-ipv4\": \"10.9.8.7\"}\n");
	md_init(&md);
	if (md_load_file(&md, path, &why) != 0)
		fail_msg("%s", why);
	assert_string_equal(md_get(&md, "instance-id"), "i-0json");
	assert_string_equal(md_get(&md, "placement/availability-zone"), "eu-west-1c");
	assert_string_equal(md_get(&md, "ip"), "10.9.8.7");
	assert_string_equal(md_origin(&md, "instance-id"), path);
	md_free(&md);

	static const char *const bad[][2] = {
		{"{\"instance-id\": 5}", "\"instance-id\" is not a string"},
		{"{\"instance-id\": \"i-1\"", "not a JSON object"},
		{"{\"mac\": {\"b\": \"c\"}}", "\"mac\" is not a string"},
		{"{\"zone\": \"us-west-2a\"}", "unknown metadata key \"zone\": did you mean \"az\"?"},
	};
	for (size_t i = 0; i < HB_ARRAY_LEN(bad); i++) {
		unit_write(path, bad[i][0]);
		md_init(&md);
		why = NULL;
		assert_int_equal(md_load_file(&md, path, &why), -1);
		if (strstr(why, bad[i][1]) == NULL || !str_starts(why, path))
			fail_msg("\"%s\": does not name the file and \"%s\"", why, bad[i][1]);
		free(why);
		md_free(&md);
	}
	free(path);
	unit_rmtree(dir);
}

static void
test_file_missing(void **state)
{
	struct metadata md;
	char *why = NULL;
	(void)state;

	md_init(&md);
	assert_int_equal(md_load_file(&md, "/nonexistent/md.env", &why), -1);
	assert_string_equal(why, "/nonexistent/md.env: No such file or directory");
	free(why);
	md_free(&md);
}

static int fetches;

static int
fake_imds(void *arg, const char *key, char **out)
{
	(void)arg;
	fetches++;
	if (strcmp(key, "instance-id") == 0) {
		*out = xstrdup("i-0live");
		return 0;
	}
	return -1;
}

static void
test_live_and_defaults(void **state)
{
	struct metadata md;
	char *why = NULL;
	(void)state;

	md_init(&md);
	assert_null(md_get(&md, "instance-id")); /* nothing known, nothing invented */

	/* A live source is asked once per key; a given value is never overridden. */
	md.fetch = fake_imds;
	fetches = 0;
	assert_string_equal(md_get(&md, "instance-id"), "i-0live");
	assert_string_equal(md_get(&md, "instance-id"), "i-0live");
	assert_int_equal(fetches, 1);
	assert_string_equal(md_origin(&md, "instance-id"), "imds");
	assert_null(md_get(&md, "local-ipv4"));
	assert_int_equal(md_set_arg(&md, "az=us-west-2c", &why), 0);
	fetches = 0;
	assert_string_equal(md_get(&md, "az"), "us-west-2c");
	assert_int_equal(fetches, 0);

	/* Offline plan: documented placeholder values, marked as defaults. */
	md.fetch = NULL;
	md.offline_defaults = 1;
	assert_string_equal(md_get(&md, "local-ipv4"), "192.0.2.10");
	assert_string_equal(md_origin(&md, "local-ipv4"), "default");
	assert_string_equal(md_get(&md, "az"), "us-west-2c");
	assert_null(md_get(&md, "no/such/key"));
	md_free(&md);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_arg),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_region_of_az),
		cmocka_unit_test(test_settle_region),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_file_key_value),
		cmocka_unit_test(test_file_error_line),
		cmocka_unit_test(test_file_origin),
		cmocka_unit_test(test_file_json),
		cmocka_unit_test(test_file_missing),
		cmocka_unit_test(test_live_and_defaults),
	};

	return cmocka_run_group_tests_name("metadata", tests, NULL, NULL);
}
