/* test_cfg.c: typed reads of manifest values and the shared value checks. */
#include "unit.h"

#include "manifest/cfg.h"
#include "util.h"

struct fx {
	struct diag d;
	struct cfg c;
	struct ynode *root;
};

static struct fx *
load(const char *text)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	diag_init(&f->d, "t.yaml");
	f->c.d = &f->d;
	f->root = ytree_parse(text, strlen(text), &f->d);
	assert_non_null(f->root);
	return f;
}

static void
unload(struct fx *f)
{
	ytree_free(f->root);
	diag_free(&f->d);
	free(f);
}

/* The one message f holds, checked for a fragment and a position. */
static void
only_msg(const struct fx *f, const char *needle, int line, int col)
{
	if (f->d.n != 1)
		fail_msg("%zu messages, expected 1 containing \"%s\"", f->d.n, needle);
	if (strstr(f->d.msgs[0].text, needle) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", f->d.msgs[0].text, needle);
	assert_int_equal(f->d.msgs[0].line, line);
	assert_int_equal(f->d.msgs[0].col, col);
}

static const char *const keys[] = {"device", "timeout", "takeover", "options", NULL};

static void
test_map_unknown_keys(void **state)
{
	struct fx *f = load("device: x\ndevcie: y\nbogus: 1\ntimeout: 2\n");
	(void)state;

	assert_false(cfg_map(&f->c, f->root, "volume module", keys));
	/* Every unknown key, in one pass, each at its own position. */
	assert_int_equal(f->d.errors, 2);
	assert_int_equal(f->d.msgs[0].line, 2);
	assert_non_null(strstr(f->d.msgs[0].text, "unknown key \"devcie\" in volume module"));
	assert_non_null(strstr(f->d.msgs[0].text, "did you mean \"device\""));
	assert_int_equal(f->d.msgs[1].line, 3);
	assert_non_null(strstr(f->d.msgs[1].text, "allowed: device, timeout, takeover, options"));
	assert_null(strstr(f->d.msgs[1].text, "did you mean"));
	unload(f);

	f = load("- a\n");
	assert_false(cfg_map(&f->c, f->root, "volume module", keys));
	only_msg(f, "volume module must be a mapping", 1, 1);
	unload(f);
}

static void
test_str(void **state)
{
	struct fx *f = load("device: /dev/sdf\nnum: 60\nyes: yes\nlist: [a]\nrel: a/b\nempty:\n");
	char *s = xstrdup("default");
	(void)state;

	assert_int_equal(cfg_str(&f->c, f->root, "device", true, check_abs_path, &s), CFG_OK);
	assert_string_equal(s, "/dev/sdf"); /* the default is replaced (and freed) */
	assert_int_equal(cfg_str(&f->c, f->root, "absent", false, NULL, &s), CFG_ABSENT);
	assert_string_equal(s, "/dev/sdf");
	assert_int_equal(f->d.errors, 0);
	free(s);
	s = NULL;

	assert_int_equal(cfg_str(&f->c, f->root, "absent", true, NULL, &s), CFG_BAD);
	only_msg(f, "missing required key \"absent\"", 1, 1);
	unload(f);

	f = load("num: 60\nlist: [a]\nrel: a/b\nempty:\n");
	assert_int_equal(cfg_str(&f->c, f->root, "num", false, NULL, &s), CFG_BAD);
	only_msg(f, "num must be a string, not an integer (quote it: \"60\")", 1, 6);
	unload(f);

	f = load("list: [a]\n");
	assert_int_equal(cfg_str(&f->c, f->root, "list", false, NULL, &s), CFG_BAD);
	only_msg(f, "list must be a string, not a list", 1, 7);
	unload(f);

	f = load("rel: a/b\n");
	assert_int_equal(cfg_str(&f->c, f->root, "rel", false, check_abs_path, &s), CFG_BAD);
	only_msg(f, "rel \"a/b\": must be an absolute path", 1, 6);
	unload(f);

	f = load("empty:\n");
	assert_int_equal(cfg_str(&f->c, f->root, "empty", false, NULL, &s), CFG_BAD);
	only_msg(f, "has no value", 1, 7);
	assert_null(s);
	unload(f);
}

static void
test_missing_names_the_object(void **state)
{
	struct fx *f = load("timeout: 5s\n");
	char *s = NULL;
	(void)state;

	assert_true(cfg_map(&f->c, f->root, "volume module", keys));
	assert_int_equal(cfg_str(&f->c, f->root, "device", true, NULL, &s), CFG_BAD);
	only_msg(f, "volume module is missing required key \"device\"", 1, 1);
	unload(f);
}

static void
test_enum(void **state)
{
	static const char *const names[] = {"never", "if-owner-gone", "fence", NULL};
	struct fx *f = load("a: fence\nb: sometimes\nc: [never]\nd: 'never'\n");
	int v = -1;
	(void)state;

	assert_int_equal(cfg_enum(&f->c, f->root, "a", true, names, &v), CFG_OK);
	assert_int_equal(v, 2);
	assert_int_equal(cfg_enum(&f->c, f->root, "d", true, names, &v), CFG_OK);
	assert_int_equal(v, 0);
	assert_int_equal(cfg_enum(&f->c, f->root, "x", false, names, &v), CFG_ABSENT);
	assert_int_equal(v, 0);
	assert_int_equal(f->d.errors, 0);
	assert_int_equal(cfg_enum(&f->c, f->root, "b", true, names, &v), CFG_BAD);
	only_msg(f, "b: \"sometimes\" is not one of: never, if-owner-gone, fence", 2, 4);
	assert_int_equal(cfg_enum(&f->c, f->root, "c", true, names, &v), CFG_BAD);
	assert_int_equal(f->d.errors, 2);
	assert_int_equal(v, 0);
	unload(f);
}

static void
test_bool(void **state)
{
	struct fx *f = load("a: yes\nb: off\nc: 'true'\nd: 1\n");
	bool v = false;
	(void)state;

	assert_int_equal(cfg_bool(&f->c, f->root, "a", true, &v), CFG_OK);
	assert_true(v);
	assert_int_equal(cfg_bool(&f->c, f->root, "b", true, &v), CFG_OK);
	assert_false(v);
	assert_int_equal(cfg_bool(&f->c, f->root, "c", true, &v), CFG_BAD);
	only_msg(f, "remove the quotes", 3, 4);
	assert_int_equal(cfg_bool(&f->c, f->root, "d", true, &v), CFG_BAD);
	assert_int_equal(f->d.errors, 2);
	assert_non_null(strstr(f->d.msgs[1].text, "must be true or false, not an integer"));
	assert_false(v);
	unload(f);
}

static void
test_int(void **state)
{
	struct fx *f = load("ttl: 60\nq: \"60\"\nbig: 99999999999999999999\nneg: -1\n"
	    "f: 1.5\n");
	long long v = -7;
	(void)state;

	assert_int_equal(cfg_int(&f->c, f->root, "ttl", true, 0, 86400, &v), CFG_OK);
	assert_int_equal(v, 60);
	assert_int_equal(f->d.n, 0);
	assert_int_equal(cfg_int(&f->c, f->root, "q", true, 0, 86400, &v), CFG_BAD);
	only_msg(f, "not a string: remove the quotes", 2, 4);
	assert_int_equal(cfg_int(&f->c, f->root, "big", true, 0, 86400, &v), CFG_BAD);
	assert_int_equal(cfg_int(&f->c, f->root, "neg", true, 0, 86400, &v), CFG_BAD);
	assert_non_null(strstr(f->d.msgs[2].text, "between 0 and 86400, not -1"));
	assert_int_equal(cfg_int(&f->c, f->root, "f", true, 0, 86400, &v), CFG_BAD);
	assert_int_equal(f->d.errors, 4);
	assert_int_equal(v, 60);
	unload(f);
}

/* YAML 1.1 reads 010 as 8 and 1:30 as 90, as editors do: kept, but said
 * where it was written.  08 is no number at all. */
static void
test_int_surprises(void **state)
{
	struct fx *f = load("oct: 010\nsexa: 1:30\nzero: 0\nbad: 08\nquoted: \"010\"\n");
	long long v = -7;
	(void)state;

	assert_int_equal(cfg_int(&f->c, f->root, "oct", true, 0, 86400, &v), CFG_OK);
	assert_int_equal(v, 8);
	assert_int_equal(f->d.errors, 0);
	only_msg(f, "oct: 010 is read as 8: YAML 1.1", 1, 6);
	assert_true(f->d.msgs[0].is_warning);
	assert_non_null(strstr(f->d.msgs[0].text, "write 8 to keep that value, or 10 if you meant"));
	assert_int_equal(cfg_int(&f->c, f->root, "sexa", true, 0, 86400, &v), CFG_OK);
	assert_int_equal(v, 90);
	assert_non_null(strstr(f->d.msgs[1].text, "sexa: 1:30 is read as 90"));
	assert_int_equal(cfg_int(&f->c, f->root, "zero", true, 0, 86400, &v), CFG_OK);
	assert_int_equal(f->d.n, 2);
	assert_int_equal(cfg_int(&f->c, f->root, "bad", true, 0, 86400, &v), CFG_BAD);
	assert_non_null(strstr(f->d.msgs[2].text, "bad: 08 is not a number in YAML 1.1"));
	assert_int_equal(cfg_int(&f->c, f->root, "quoted", true, 0, 86400, &v), CFG_BAD);
	assert_non_null(strstr(f->d.msgs[3].text, "remove the quotes"));
	assert_int_equal(f->d.warnings, 2);
	assert_int_equal(f->d.errors, 2);
	unload(f);
}

static void
test_duration(void **state)
{
	struct fx *f = load("a: 90s\nb: 90\nc: 2h\nd: 5 m\ne: 1m30s\n");
	long long ms = -7;
	(void)state;

	assert_int_equal(cfg_duration(&f->c, f->root, "a", true, 1000, 3600000, &ms), CFG_OK);
	assert_int_equal(ms, 90000);
	assert_int_equal(cfg_duration(&f->c, f->root, "e", true, 1000, 3600000, &ms), CFG_OK);
	assert_int_equal(ms, 90000);
	assert_int_equal(f->d.errors, 0);
	assert_int_equal(cfg_duration(&f->c, f->root, "b", true, 1000, 3600000, &ms), CFG_BAD);
	only_msg(f, "b must be a duration with a unit such as \"90s\"", 2, 4);
	assert_int_equal(cfg_duration(&f->c, f->root, "c", true, 1000, 3600000, &ms), CFG_BAD);
	assert_non_null(strstr(f->d.msgs[1].text, "c must be between 1s and 60m, not 2h"));
	assert_int_equal(cfg_duration(&f->c, f->root, "d", true, 1000, 3600000, &ms), CFG_BAD);
	assert_non_null(strstr(f->d.msgs[2].text, "bad duration \"5 m\""));
	assert_int_equal(ms, 90000);
	unload(f);
}

static void
test_strlist(void **state)
{
	struct fx *f = load("a: [rw, sync]\nb: rw\nc: []\nd: [rw, 1, [x], ok]\n");
	char **list = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(cfg_strlist(&f->c, f->root, "a", true, 1, NULL, &list, &n), CFG_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0], "rw");
	assert_string_equal(list[1], "sync");
	assert_null(list[2]);
	assert_int_equal(f->d.errors, 0);
	/* A single string is not quietly a list of one. */
	assert_int_equal(cfg_strlist(&f->c, f->root, "b", true, 1, NULL, &list, &n), CFG_BAD);
	only_msg(f, "b must be a list", 2, 4);
	assert_int_equal(cfg_strlist(&f->c, f->root, "c", true, 1, NULL, &list, &n), CFG_BAD);
	assert_non_null(strstr(f->d.msgs[1].text, "at least 1 item"));
	/* Every bad item is reported; the earlier list is left as it was. */
	assert_int_equal(cfg_strlist(&f->c, f->root, "d", true, 1, NULL, &list, &n), CFG_BAD);
	assert_int_equal(f->d.errors, 4);
	assert_int_equal(n, 2);
	assert_string_equal(list[1], "sync");
	cfg_free_list(list, n);
	unload(f);
}

static void
test_strmap(void **state)
{
	struct fx *f = load("tags: {Name: nfs, Env: prod}\nempty: {}\nbad: {Name: 1, '': x}\n");
	char **k = NULL, **v = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(cfg_strmap(&f->c, f->root, "tags", true, &k, &v, &n), CFG_OK);
	assert_int_equal(n, 2);
	assert_string_equal(k[0], "Name");
	assert_string_equal(v[0], "nfs");
	assert_string_equal(k[1], "Env");
	assert_string_equal(v[1], "prod");
	cfg_free_list(k, n);
	cfg_free_list(v, n);
	assert_int_equal(cfg_strmap(&f->c, f->root, "empty", true, &k, &v, &n), CFG_BAD);
	only_msg(f, "an empty mapping", 2, 8);
	assert_int_equal(cfg_strmap(&f->c, f->root, "bad", true, &k, &v, &n), CFG_BAD);
	assert_int_equal(f->d.errors, 3);
	cfg_free_list(k, n);
	cfg_free_list(v, n);
	unload(f);
}

struct check_case {
	const char *s;
	bool ok;
};

static void
run_checks(cfg_check_fn fn, const char *name, const struct check_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *why = fn(c[i].s);

		if (c[i].ok && why != NULL)
			fail_msg("%s rejected \"%s\": %s", name, c[i].s, why);
		if (!c[i].ok && why == NULL)
			fail_msg("%s accepted \"%s\"", name, c[i].s);
	}
}

static void
test_checks(void **state)
{
	static const struct check_case abs_path[] = {
		{"/", true}, {"/mnt/nfs", true}, {"/a.b/c-d_e", true}, {"mnt", false},
		{"", false}, {"/mnt/../etc", false}, {"/mnt/..", false}, {"/mnt//nfs", false},
		{"/mnt/", false}, {"/mnt nfs", false}, {"/mnt\tx", false},
	};
	static const struct check_case rel[] = {
		{".NFSMASTER", true}, {"sig/.ok", true}, {"", false}, {"/abs", false}, {"..", false},
		{"../x", false}, {"a/../../x", false}, {"a/..", false}, {"a\nb", false},
	};
	static const struct check_case cidr[] = {
		{"10.0.0.0/24", true}, {"10.10.10.5", true}, {"*", true}, {"0.0.0.0/0", true},
		{"2001:db8::/32", true}, {"host.example.com", true}, {"*.example.com", true},
		{"10.0.0.0/33", false}, {"10.0.0.0/", false}, {"10.0.0.0/ 24", false},
		{"10.0.0.0/+24", false}, {"10.0.0.0/-0", false}, {"10.0.0.0/024", false},
		{"10.10.10.300", false}, {"2001:db8::/129", false}, {"/24", false},
		{"a b", false}, {"", false},
	};
	static const struct check_case dns[] = {
		{"nfs.example.com", true}, {"nfs.example.com.", true}, {"a", true}, {"", false},
		{"a..b", false}, {".a", false}, {"a b.com", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", false},
	};
	static const struct check_case ip[] = {
		{"10.0.0.1", true}, {"255.255.255.255", true}, {"10.0.0", false},
		{"10.0.0.256", false}, {"::1", false},
	};
	(void)state;

	run_checks(check_abs_path, "check_abs_path", abs_path, HB_ARRAY_LEN(abs_path));
	run_checks(check_rel_name, "check_rel_name", rel, HB_ARRAY_LEN(rel));
	run_checks(check_cidr_or_host, "check_cidr_or_host", cidr, HB_ARRAY_LEN(cidr));
	run_checks(check_dns_name, "check_dns_name", dns, HB_ARRAY_LEN(dns));
	run_checks(check_ipv4, "check_ipv4", ip, HB_ARRAY_LEN(ip));
	assert_null(check_ipv6("2001:db8::1"));
	assert_non_null(check_ipv6("10.0.0.1"));
	assert_null(check_nonempty("x"));
	assert_non_null(check_nonempty(""));
	assert_null(check_arn("arn:aws:sns:us-west-2:123456789012:t"));
	assert_non_null(check_arn("arn:aws:sns"));
	assert_non_null(check_arn("sns:us-west-2:123456789012:t"));
}

static void
test_suggest(void **state)
{
	static const char *const names[] = {"mountpoint", "options", "signature", "fsck", NULL};
	(void)state;

	assert_string_equal(cfg_suggest("mountpiont", names), "mountpoint");
	assert_string_equal(cfg_suggest("signatur", names), "signature");
	assert_string_equal(cfg_suggest("mount_options", names), "options");
	assert_string_equal(cfg_suggest("fsk", names), "fsck");
	assert_null(cfg_suggest("label", names));
	assert_null(cfg_suggest("", names));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_unknown_keys),
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_missing_names_the_object),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_int_surprises),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_strlist),
		cmocka_unit_test(test_strmap),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_suggest),
	};

	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
