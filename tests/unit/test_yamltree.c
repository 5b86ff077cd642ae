/* test_yamltree.c: scalar resolution as PyYAML does it, rejected YAML
 * features, and the positions error messages point at. */
#include <limits.h>

#include "unit.h"

#include "manifest/diag.h"
#include "manifest/yamltree.h"
#include "util.h"

/* Parses text; the caller frees both. */
static struct ynode *
parse(const char *text, struct diag *d)
{
	diag_init(d, "t.yaml");
	return ytree_parse(text, strlen(text), d);
}

/* True if some message of d contains needle. */
static bool
has_msg(const struct diag *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->msgs[i].text, needle) != NULL)
			return true;
	return false;
}

/* The value of "v: TEXT" as the tree resolves it. */
struct want {
	const char *text;
	enum yscalar type;
	long long ival; /* for YS_INT, and YS_BOOL as 0/1 */
};

static void
check_scalar(const struct want *w)
{
	struct diag d;
	char *doc = xasprintf("v: %s\n", w->text);
	struct ynode *root = parse(doc, &d);
	const struct ynode *v;

	if (root == NULL)
		fail_msg("\"%s\" did not parse", w->text);
	v = ymap_get(root, "v");
	assert_non_null(v);
	assert_int_equal(v->kind, Y_SCALAR);
	if (v->stype != w->type)
		fail_msg("\"%s\" resolved to %s, expected type %d", w->text, ykind_name(v), w->type);
	if (w->type == YS_INT && v->ival != w->ival)
		fail_msg("\"%s\" is %lld, expected %lld", w->text, v->ival, w->ival);
	if (w->type == YS_BOOL && v->bval != (w->ival != 0))
		fail_msg("\"%s\" is %d, expected %lld", w->text, v->bval, w->ival);
	ytree_free(root);
	diag_free(&d);
	free(doc);
}

/* What PyYAML's safe_load gives for each (checked against PyYAML 6). */
static void
test_scalars_bool(void **state)
{
	static const struct want w[] = {
		{"yes", YS_BOOL, 1}, {"Yes", YS_BOOL, 1}, {"YES", YS_BOOL, 1}, {"on", YS_BOOL, 1},
		{"On", YS_BOOL, 1}, {"true", YS_BOOL, 1}, {"True", YS_BOOL, 1}, {"no", YS_BOOL, 0},
		{"No", YS_BOOL, 0}, {"off", YS_BOOL, 0}, {"OFF", YS_BOOL, 0}, {"false", YS_BOOL, 0},
		{"FALSE", YS_BOOL, 0},
		/* not YAML 1.1 booleans: strings */
		{"y", YS_STR, 0}, {"n", YS_STR, 0}, {"yEs", YS_STR, 0}, {"tRUE", YS_STR, 0},
		{"'yes'", YS_STR, 0}, {"\"on\"", YS_STR, 0},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(w); i++)
		check_scalar(&w[i]);
}

static void
test_scalars_int(void **state)
{
	static const struct want w[] = {
		{"60", YS_INT, 60}, {"0", YS_INT, 0}, {"-5", YS_INT, -5}, {"+12", YS_INT, 12},
		{"010", YS_INT, 8}, {"0x1f", YS_INT, 31}, {"0b101", YS_INT, 5},
		{"1_000", YS_INT, 1000}, {"1:30", YS_INT, 90}, {"190:20:30", YS_INT, 685230},
		{"-1:30", YS_INT, -90},
		/* strings to YAML 1.1 */
		{"08", YS_STR, 0}, {"0o7", YS_STR, 0}, {"\"60\"", YS_STR, 0}, {"'010'", YS_STR, 0},
		{"0:30", YS_STR, 0}, {"1:60", YS_STR, 0}, {"60s", YS_STR, 0}, {"12abc", YS_STR, 0},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(w); i++)
		check_scalar(&w[i]);
}

static void
test_scalars_other(void **state)
{
	static const struct want w[] = {
		{"10.10.10.10", YS_STR, 0}, {"10.0.0.0/24", YS_STR, 0}, {"1.5", YS_FLOAT, 0},
		{".5", YS_FLOAT, 0}, {"1.0e+3", YS_FLOAT, 0}, {".inf", YS_FLOAT, 0},
		{"-.Inf", YS_FLOAT, 0}, {".NaN", YS_FLOAT, 0}, {"1:30.5", YS_FLOAT, 0},
		/* PyYAML's float needs a dot: 1e3 is a string */
		{"1e3", YS_STR, 0},
		/* dates and timestamps are not strings */
		{"2026-01-01", YS_FLOAT, 0}, {"2001-12-14t21:59:43.10-05:00", YS_FLOAT, 0},
		{"2001-12-14 21:59:43.10 -5", YS_FLOAT, 0}, {"'2026-01-01'", YS_STR, 0},
		{"2026-1-1", YS_STR, 0},
		{"~", YS_NULL, 0}, {"null", YS_NULL, 0}, {"NULL", YS_NULL, 0}, {"", YS_NULL, 0},
		{"''", YS_STR, 0}, {"nULL", YS_STR, 0},
		{"vol-0123abcd", YS_STR, 0}, {"/dev/sdf", YS_STR, 0}, {"2001:db8::1", YS_STR, 0},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(w); i++)
		check_scalar(&w[i]);
}

/* An integer past 64 bits is an integer still, saturated, never UB. */
static void
test_scalars_huge_int(void **state)
{
	static const struct want w[] = {
		{"99999999999999999999", YS_INT, LLONG_MAX},
		{"99999999999999999999:20:30", YS_INT, LLONG_MAX},
		{"1:00:00:00:00:00:00:00:00:00:00:00:00", YS_INT, LLONG_MAX},
		{"-99999999999999999999", YS_INT, -LLONG_MAX},
		{"0x7fffffffffffffffff", YS_INT, LLONG_MAX},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(w); i++)
		check_scalar(&w[i]);
}

static void
test_block_and_quoted_are_strings(void **state)
{
	struct diag d;
	struct ynode *root = parse("a: |\n  yes\nb: >-\n  010\nc: \"1:30\"\n", &d);
	(void)state;

	assert_non_null(root);
	assert_int_equal(ymap_get(root, "a")->stype, YS_STR);
	assert_string_equal(ymap_get(root, "a")->str, "yes\n");
	assert_int_equal(ymap_get(root, "b")->stype, YS_STR);
	assert_string_equal(ymap_get(root, "b")->str, "010");
	assert_int_equal(ymap_get(root, "c")->stype, YS_STR);
	ytree_free(root);
	diag_free(&d);
}

static void
test_positions(void **state)
{
	struct diag d;
	struct ynode *root = parse("#haboot\nversion: 1\nmodules:\n  - volume:\n"
	    "      device: /dev/sdf\n      tags: {Name: nfs}\n", &d);
	const struct ynode *mods, *vol, *dev, *tags;
	(void)state;

	assert_non_null(root);
	assert_int_equal(root->kind, Y_MAP);
	assert_int_equal(root->line, 2);
	assert_int_equal(root->col, 1);
	assert_int_equal(root->pairs[0].key->line, 2);
	assert_int_equal(root->pairs[0].val->col, 10);
	mods = ymap_get(root, "modules");
	assert_int_equal(mods->kind, Y_SEQ);
	assert_int_equal(mods->line, 4);
	assert_int_equal(mods->col, 3);
	assert_int_equal(mods->nitems, 1);
	vol = ymap_get(mods->items[0], "volume");
	assert_non_null(vol);
	assert_int_equal(vol->line, 5);
	assert_int_equal(vol->col, 7);
	dev = ymap_get(vol, "device");
	assert_string_equal(dev->str, "/dev/sdf");
	assert_int_equal(dev->line, 5);
	assert_int_equal(dev->col, 15);
	tags = ymap_get(vol, "tags");
	assert_int_equal(tags->kind, Y_MAP);
	assert_int_equal(tags->line, 6);
	assert_int_equal(tags->col, 13);
	assert_int_equal(ymap_get(tags, "Name")->col, 20);
	assert_null(ymap_get(vol, "nosuch"));
	assert_null(ymap_get(mods, "volume")); /* not a mapping */
	ytree_free(root);
	diag_free(&d);
}

static void
test_duplicate_keys(void **state)
{
	struct diag d;
	struct ynode *root = parse("a: 1\nb:\n  c: 2\n  c: 3\na: 4\n", &d);
	(void)state;

	assert_null(root);
	assert_int_equal(d.errors, 2); /* both duplicates, in one pass */
	assert_true(has_msg(&d, "duplicate key \"c\" (first at line 3, column 3)"));
	assert_true(has_msg(&d, "duplicate key \"a\" (first at line 1, column 1)"));
	for (size_t i = 0; i < d.n; i++) {
		if (strstr(d.msgs[i].text, "\"c\"")) {
			assert_int_equal(d.msgs[i].line, 4);
			assert_int_equal(d.msgs[i].col, 3);
		} else {
			assert_int_equal(d.msgs[i].line, 5);
			assert_int_equal(d.msgs[i].col, 1);
		}
	}
	diag_free(&d);

	/* Same text quoted or not is the same key. */
	root = parse("a: 1\n\"a\": 2\n", &d);
	assert_null(root);
	assert_int_equal(d.errors, 1);
	diag_free(&d);
}

static void
test_anchors_aliases_tags_merge_rejected(void **state)
{
	static const struct {
		const char *text, *msg;
		int line, col;
	} cases[] = {
		{"a: &x 1\nb: 2\n", "anchors and aliases", 1, 4},
		{"a: 1\nb: *x\n", "aliases (*x)", 2, 4},
		{"a: &x [1]\nb: *x\n", "anchors and aliases", 1, 4},
		{"a: !!str 1\n", "tags", 1, 4},
		{"a: !custom 1\n", "tags", 1, 4},
		{"base: {x: 1}\nm:\n  <<: {y: 2}\n", "merge keys", 3, 3},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		struct diag d;
		struct ynode *root = parse(cases[i].text, &d);

		if (root != NULL)
			fail_msg("accepted: %s", cases[i].text);
		if (!has_msg(&d, cases[i].msg))
			fail_msg("no \"%s\" message for: %s", cases[i].msg, cases[i].text);
		assert_int_equal(d.msgs[0].line, cases[i].line);
		assert_int_equal(d.msgs[0].col, cases[i].col);
		diag_free(&d);
	}
}

static void
test_bad_keys_and_documents(void **state)
{
	struct diag d;
	struct ynode *root;
	(void)state;

	root = parse("? [a, b]\n: 1\n", &d);
	assert_null(root);
	assert_true(has_msg(&d, "a key must be a plain string"));
	diag_free(&d);

	root = parse("a: 1\n---\nb: 2\n", &d);
	assert_null(root);
	assert_true(has_msg(&d, "one YAML document"));
	assert_int_equal(d.msgs[0].line, 2);
	diag_free(&d);

	/* An empty file and a comment-only file are "empty", not a crash. */
	root = parse("", &d);
	assert_null(root);
	assert_true(has_msg(&d, "empty"));
	diag_free(&d);
	root = parse("#haboot\n# nothing else\n", &d);
	assert_null(root);
	assert_true(has_msg(&d, "empty"));
	diag_free(&d);

	/* A NUL smuggled in through an escape. */
	root = parse("a: \"x\\0y\"\n", &d);
	assert_null(root);
	assert_true(has_msg(&d, "NUL"));
	diag_free(&d);
}

static void
test_syntax_error_position(void **state)
{
	struct diag d;
	struct ynode *root = parse("a: 1\nb: [1, 2\nc: 3\n", &d);
	(void)state;

	/* An unclosed "[": said at the bracket, with the fix. */
	assert_null(root);
	assert_int_equal(d.errors, 1);
	assert_true(has_msg(&d, "this \"[\" is not closed"));
	assert_int_equal(d.msgs[0].line, 2);
	assert_int_equal(d.msgs[0].col, 4);
	diag_free(&d);

	root = parse("a: 1\n  b: 2\n", &d);
	assert_null(root);
	assert_true(has_msg(&d, "\"b\" is indented more than \"a\" on line 1"));
	assert_int_equal(d.msgs[0].line, 2);
	assert_int_equal(d.msgs[0].col, 3);
	diag_free(&d);
}

/* libyaml's messages, translated: what went wrong, how to fix it, and the
 * line where the mistake is (not where libyaml noticed it). */
static void
test_syntax_errors_explained(void **state)
{
	static const struct {
		const char *text, *says;
		int line, col;
	} cases[] = {
		{"a:\n  b: 1\n c: 2\n", "mis-indented key \"c\" at column 2: indent it to column 3 "
		    "to put it beside \"b\" (line 2), or to column 1 beside \"a\" (line 1)", 3, 2},
		{"a:\n\tb: 1\n", "a tab character: YAML indents with spaces only", 2, 1},
		{"a:\n  b: 1\n  \tc: 2\n", "a tab character", 3, 3},
		{"a:\n  b c\n  d: 1\n", "\"b c\" is not a \"key: value\" pair", 2, 3},
		{"a: x: y\n", "the value of \"a\" holds \": \": quote the value", 1, 5},
		{"a: \"x\nb: 1\n", "this quoted string is never closed", 1, 4},
		{"a: {b: 1\nc: 2\n", "this \"{\" is not closed", 1, 4},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		struct diag d;

		assert_null(parse(cases[i].text, &d));
		if (d.n != 1 || strstr(d.msgs[0].text, cases[i].says) == NULL)
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, d.n ? d.msgs[0].text : "",
			    cases[i].says);
		if (d.msgs[0].line != cases[i].line || d.msgs[0].col != cases[i].col)
			fail_msg("case %zu: at %d:%d, not %d:%d", i, d.msgs[0].line, d.msgs[0].col,
			    cases[i].line, cases[i].col);
		diag_free(&d);
	}
}

static void
test_nesting_limit(void **state)
{
	struct buf b;
	struct diag d;
	struct ynode *root;
	(void)state;

	buf_init(&b);
	for (int i = 0; i < 10000; i++)
		buf_addc(&b, '[');
	for (int i = 0; i < 10000; i++)
		buf_addc(&b, ']');
	diag_init(&d, "t.yaml");
	root = ytree_parse(b.data, b.len, &d);
	assert_null(root);
	assert_true(has_msg(&d, "nesting deeper"));
	diag_free(&d);

	/* Twenty levels is fine. */
	buf_reset(&b);
	for (int i = 0; i < 20; i++)
		buf_addc(&b, '[');
	buf_adds(&b, "x");
	for (int i = 0; i < 20; i++)
		buf_addc(&b, ']');
	diag_init(&d, "t.yaml");
	root = ytree_parse(b.data, b.len, &d);
	assert_non_null(root);
	assert_int_equal(d.errors, 0);
	ytree_free(root);
	diag_free(&d);
	buf_free(&b);
}

static void
test_kind_names(void **state)
{
	struct diag d;
	struct ynode *root = parse("m: {}\ns: []\nt: x\nb: on\ni: 1\nf: 1.5\nn: ~\n", &d);
	(void)state;

	assert_non_null(root);
	assert_string_equal(ykind_name(ymap_get(root, "m")), "a mapping");
	assert_string_equal(ykind_name(ymap_get(root, "s")), "a list");
	assert_string_equal(ykind_name(ymap_get(root, "t")), "a string");
	assert_string_equal(ykind_name(ymap_get(root, "b")), "a boolean");
	assert_string_equal(ykind_name(ymap_get(root, "i")), "an integer");
	assert_string_equal(ykind_name(ymap_get(root, "f")), "a number or date");
	assert_string_equal(ykind_name(ymap_get(root, "n")), "null");
	assert_string_equal(ykind_name(NULL), "nothing");
	ytree_free(root);
	diag_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars_bool),
		cmocka_unit_test(test_scalars_int),
		cmocka_unit_test(test_scalars_other),
		cmocka_unit_test(test_scalars_huge_int),
		cmocka_unit_test(test_block_and_quoted_are_strings),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_anchors_aliases_tags_merge_rejected),
		cmocka_unit_test(test_bad_keys_and_documents),
		cmocka_unit_test(test_syntax_error_position),
		cmocka_unit_test(test_syntax_errors_explained),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests_name("yamltree", tests, NULL, NULL);
}
