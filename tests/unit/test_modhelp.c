/* test_modhelp.c: module help is read from whatever the schema holds, so a
 * module added to schemas/mkschema.py has its help with no C change. */
#include "unit.h"

#include "modhelp.h"
#include "util.h"

/* A module no haboot build knows, described only by the schema. */
static const char widget_schema[] =
    "{\"$defs\": {\"widget_entry\": {}, \"widget\": {"
    "\"description\": \"Turn the widget.\","
    "\"type\": \"object\", \"required\": [\"speed\"],"
    "\"properties\": {"
    "  \"speed\": {\"description\": \"How fast.\", \"type\": \"integer\", \"minimum\": 1,"
    "             \"maximum\": 9},"
    "  \"mode\": {\"description\": \"Which way.\", \"enum\": [\"cw\", \"ccw\"], \"default\": \"cw\"},"
    "  \"every\": {\"description\": \"How often.\", \"type\": \"string\","
    "             \"pattern\": \"^([0-9]+(ms|s|m|h))+$(?![\\\\s\\\\S])\", \"default\": \"5m\"},"
    "  \"names\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "  \"when\": {\"description\": \"A word YAML would misread.\", \"type\": \"string\","
    "            \"default\": \"yes\"}},"
    "\"examples\": [{\"speed\": 3, \"names\": [\"a\", \"on\"], \"when\": \"010\","
    "               \"tags\": {\"k\": \"v: w\"}}]}}}";

static char *
help(const char *schema, const char *topic, int *rc)
{
	char *out = NULL, *why = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	*rc = modhelp_print(schema, topic, f, &why);
	fclose(f);
	if (*rc != 0) {
		free(out);
		return why;
	}
	free(why);
	return out;
}

static void
test_a_module_only_the_schema_knows(void **state)
{
	int rc;
	char *out = help(widget_schema, "widget", &rc);
	(void)state;

	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "widget module\n  Turn the widget.\n"));
	assert_non_null(strstr(out, "\n  speed (integer 1..9, required)\n      How fast.\n"));
	assert_non_null(strstr(out, "\n  mode (cw | ccw, default cw)\n"));
	assert_non_null(strstr(out, "\n  every (duration, default 5m)\n"));
	assert_non_null(strstr(out, "\n  names (list of strings)\n"));
	/* Values that YAML 1.1 would read as something else are quoted. */
	assert_non_null(strstr(out, "\n  when (string, default \"yes\")\n"));
	assert_non_null(strstr(out, "  - widget:\n      speed: 3\n      names: [a, \"on\"]\n"
	    "      when: \"010\"\n      tags: {k: \"v: w\"}\n"));
	free(out);
}

static void
test_unknown_topics(void **state)
{
	int rc;
	char *why;
	(void)state;

	why = help(widget_schema, "gadget", &rc);
	assert_int_equal(rc, -1);
	assert_string_equal(why, "the manifest schema has no module \"gadget\"");
	free(why);
	why = help(widget_schema, "widget_entry", &rc);
	assert_int_equal(rc, -1);
	free(why);
	why = help("{not json", "widget", &rc);
	assert_int_equal(rc, -1);
	free(why);
}

/* The real schema, as the build compiles it in. */
static void
test_the_shipped_schema(void **state)
{
	char *schema = unit_slurp("schemas/haboot.schema.json"), *out;
	static const char *const mods[] = {"volume", "filesystem", "exports", "route53", "notify",
		"manifest"};
	int rc;
	(void)state;

	assert_non_null(schema);
	for (size_t i = 0; i < HB_ARRAY_LEN(mods); i++) {
		out = help(schema, mods[i], &rc);
		if (rc != 0)
			fail_msg("%s: %s", mods[i], out);
		assert_non_null(strstr(out, "\nexample"));
		free(out);
	}
	out = help(schema, "volume", &rc);
	assert_non_null(strstr(out, "  takeover (never | if-owner-gone | fence, default if-owner-gone)\n"));
	assert_non_null(strstr(out, "  device (string, required)\n"));
	free(out);
	free(schema);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_module_only_the_schema_knows),
		cmocka_unit_test(test_unknown_topics),
		cmocka_unit_test(test_the_shipped_schema),
	};

	return cmocka_run_group_tests_name("modhelp", tests, NULL, NULL);
}
