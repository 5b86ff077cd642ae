/* test_manifest.c: the manifest as ops write it: the example, gzip, the
 * user-data size limit, and every error reported in one pass. */
#include <zlib.h>

#include "unit.h"

#include "manifest/manifest.h"
#include "util.h"
#include "unit_gzip.h"
#include "module.h"

#define EXAMPLE "examples/nfs.yaml"

static const char *const minimal =
    "#haboot\n"
    "version: 1\n"
    "name: db\n"
    "modules:\n"
    "  - volume: {id: vol-0123abcd, device: /dev/sdf}\n";

static bool
has_msg(const struct diag *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->msgs[i].text, needle) != NULL)
			return true;
	return false;
}

static void
check_example(const struct manifest *m)
{
	static const char *const order[] = {"volume", "filesystem", "exports", "route53", "notify"};

	assert_int_equal(m->version, 1);
	assert_string_equal(m->name, "nfs");
	assert_int_equal(m->on_failure, ONF_MARK_UNHEALTHY);
	assert_int_equal(m->deadline_ms, 4 * 60 * 1000);
	assert_int_equal(m->nmods, HB_ARRAY_LEN(order));
	for (size_t i = 0; i < m->nmods; i++) {
		assert_string_equal(m->mods[i].mod->name, order[i]);
		assert_non_null(m->mods[i].cfg);
	}
	/* Positions of module entries, for runtime messages. */
	assert_int_equal(m->mods[0].line, 10);
	assert_int_equal(m->mods[0].col, 5);
}

static void
test_example_file(void **state)
{
	struct diag d;
	struct manifest *m;
	(void)state;

	diag_init(&d, EXAMPLE);
	m = manifest_load_file(EXAMPLE, &d, NULL);
	if (m == NULL) {
		diag_print(&d, stderr);
		fail_msg("%s does not parse", EXAMPLE);
	}
	assert_int_equal(d.errors, 0);
	check_example(m);
	assert_false(m->gzipped);
	manifest_free(m);
	diag_free(&d);
}

static void
test_gzip_accepted(void **state)
{
	struct buf raw, gz;
	struct diag d;
	struct manifest *m;
	(void)state;

	buf_init(&raw);
	buf_init(&gz);
	assert_int_equal(read_file(EXAMPLE, 1 << 20, &raw), 0);
	gzip_bytes(raw.data, raw.len, &gz);
	diag_init(&d, "user-data");
	/* User-data with its "#haboot" marker inside the gzip. */
	m = manifest_parse(gz.data, gz.len, true, &d);
	assert_non_null(m);
	assert_true(m->gzipped);
	assert_int_equal(m->raw_size, gz.len);
	check_example(m);
	manifest_free(m);
	diag_free(&d);
	buf_free(&raw);
	buf_free(&gz);
}

/* Text of exactly n bytes: minimal padded with a comment. */
static char *
sized_manifest(size_t n)
{
	size_t base = strlen(minimal);
	char *p = malloc(n + 1);

	assert_true(n > base + 2);
	assert_non_null(p);
	memcpy(p, minimal, base);
	p[base] = '#';
	memset(p + base + 1, 'x', n - base - 2);
	p[n - 1] = '\n';
	p[n] = '\0';
	return p;
}

static void
test_size_limit(void **state)
{
	char *at = sized_manifest(MANIFEST_USERDATA_MAX), *over = sized_manifest(16385);
	struct buf gz;
	struct diag d;
	struct manifest *m;
	(void)state;

	assert_int_equal(MANIFEST_USERDATA_MAX, 16384);
	diag_init(&d, "m.yaml");
	m = manifest_parse(at, strlen(at), true, &d);
	assert_non_null(m); /* 16384 bytes is what EC2 takes */
	manifest_free(m);
	diag_free(&d);

	diag_init(&d, "m.yaml");
	m = manifest_parse(over, strlen(over), true, &d);
	assert_null(m);
	assert_int_equal(d.errors, 1);
	assert_true(has_msg(&d, "16385 bytes"));
	assert_true(has_msg(&d, "gzip it"));
	diag_free(&d);

	/* Gzipped, it fits. */
	buf_init(&gz);
	gzip_bytes(over, strlen(over), &gz);
	diag_init(&d, "m.yaml");
	m = manifest_parse(gz.data, gz.len, true, &d);
	assert_non_null(m);
	assert_true(m->gzipped);
	manifest_free(m);
	diag_free(&d);
	buf_free(&gz);
	free(at);
	free(over);
}

static void
test_gzip_too_big_says_shorten(void **state)
{
	/* Random-looking text does not compress below the limit. */
	struct buf text, gz;
	struct diag d;
	unsigned x = 12345;
	(void)state;

	buf_init(&text);
	buf_init(&gz);
	buf_adds(&text, minimal);
	buf_adds(&text, "#");
	for (int i = 0; i < 40000; i++) {
		x = x * 1103515245u + 12345u;
		buf_addc(&text, (char)('!' + (x >> 16) % 90));
	}
	buf_addc(&text, '\n');
	gzip_bytes(text.data, text.len, &gz);
	assert_true(gz.len > MANIFEST_USERDATA_MAX);
	diag_init(&d, "m.yaml");
	assert_null(manifest_parse(gz.data, gz.len, false, &d));
	assert_int_equal(d.errors, 1);
	assert_true(has_msg(&d, "gzipped"));
	assert_true(has_msg(&d, "shorten it"));
	assert_false(has_msg(&d, "gzip it"));
	diag_free(&d);
	buf_free(&text);
	buf_free(&gz);
}

static void
test_gzip_corrupt(void **state)
{
	struct buf gz;
	struct diag d;
	(void)state;

	buf_init(&gz);
	gzip_bytes(minimal, strlen(minimal), &gz);

	/* Truncated. */
	diag_init(&d, "m.yaml");
	assert_null(manifest_parse(gz.data, gz.len - 12, false, &d));
	assert_int_equal(d.errors, 1);
	assert_true(has_msg(&d, "gzipped manifest"));
	diag_free(&d);

	/* Only the magic. */
	diag_init(&d, "m.yaml");
	assert_null(manifest_parse("\x1f\x8b", 2, false, &d));
	assert_int_equal(d.errors, 1);
	assert_true(has_msg(&d, "gzipped manifest"));
	diag_free(&d);

	/* Flipped bits in the deflate stream (the CRC catches what inflate does not). */
	for (size_t i = 10; i < gz.len; i += 7) {
		struct buf bad;

		buf_init(&bad);
		buf_add(&bad, gz.data, gz.len);
		bad.data[i] ^= 0x5a;
		diag_init(&d, "m.yaml");
		assert_null(manifest_parse(bad.data, bad.len, false, &d));
		assert_true(d.errors >= 1);
		diag_free(&d);
		buf_free(&bad);
	}
	buf_free(&gz);
}

static void
test_gzip_bomb(void **state)
{
	size_t n = 8 * 1024 * 1024;
	char *spaces = malloc(n);
	struct buf gz;
	struct diag d;
	(void)state;

	assert_non_null(spaces);
	memset(spaces, ' ', n);
	buf_init(&gz);
	gzip_bytes(spaces, n, &gz);
	assert_true(gz.len <= MANIFEST_USERDATA_MAX);
	diag_init(&d, "m.yaml");
	assert_null(manifest_parse(gz.data, gz.len, false, &d));
	assert_true(has_msg(&d, "size limit"));
	diag_free(&d);
	buf_free(&gz);
	free(spaces);
}

static void
test_marker(void **state)
{
	struct diag d;
	struct manifest *m;
	const char *no_marker = minimal + strlen("#haboot\n");
	(void)state;

	diag_init(&d, "user-data");
	assert_null(manifest_parse(no_marker, strlen(no_marker), true, &d));
	assert_true(has_msg(&d, "first line must be \"#haboot\""));
	diag_free(&d);
	/* -f FILE needs no marker. */
	diag_init(&d, "m.yaml");
	m = manifest_parse(no_marker, strlen(no_marker), false, &d);
	assert_non_null(m);
	manifest_free(m);
	diag_free(&d);
	/* A cloud-config script is not mistaken for a manifest. */
	diag_init(&d, "user-data");
	assert_null(manifest_parse("#cloud-config\nruncmd: []\n", 25, true, &d));
	assert_int_equal(d.errors, 1);
	diag_free(&d);
}

static void
test_missing_version(void **state)
{
	static const char *const cases[][2] = {
		{"name: db\nmodules:\n  - volume: {id: vol-0123abcd, device: /dev/sdf}\n",
		    "missing required key \"version\""},
		{"version: 2\nname: db\nmodules:\n  - volume: {id: vol-0123abcd, device: /dev/sdf}\n",
		    "unsupported manifest version 2"},
		{"version: '1'\nname: db\nmodules:\n  - volume: {id: vol-0123abcd, device: /dev/sdf}\n",
		    "version must be the integer 1"},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		struct diag d;

		diag_init(&d, "m.yaml");
		assert_null(manifest_parse(cases[i][0], strlen(cases[i][0]), false, &d));
		assert_int_equal(d.errors, 1);
		if (!has_msg(&d, cases[i][1]))
			fail_msg("no \"%s\" in: %s", cases[i][1], d.msgs[0].text);
		diag_free(&d);
	}
}

/* Nine mistakes, one per line: nine errors, sorted by line, in one pass. */
static void
test_all_errors_in_one_pass(void **state)
{
	static const char text[] =
	    "version: 2\n"                                                       /* 1 */
	    "name: Bad Name\n"                                                   /* 2 */
	    "on_failure: sometimes\n"                                            /* 3 */
	    "deadline: 90\n"                                                     /* 4 */
	    "extra: 1\n"                                                         /* 5 */
	    "modules:\n"                                                         /* 6 */
	    "  - volume: {id: vol-0123abcd, device: /dev/sda}\n"                 /* 7 */
	    "  - filesystem: {mountpoint: mnt, signature: .NFSMASTER}\n"         /* 8 */
	    "  - nosuch: {}\n"                                                   /* 9 */
	    "  - route53: {zone: Z1G9ZB2OW5990Z, name: nfs.example.com., ttl: \"60\"}\n";
	static const int lines[] = {1, 2, 3, 4, 5, 7, 8, 9, 10};
	struct diag d;
	FILE *out;
	char *printed = NULL;
	size_t plen = 0;
	(void)state;

	diag_init(&d, "m.yaml");
	assert_null(manifest_parse(text, strlen(text), false, &d));
	out = open_memstream(&printed, &plen);
	assert_non_null(out);
	assert_int_equal(diag_print(&d, out), 9);
	fclose(out);
	assert_int_equal(d.errors, 9);
	assert_int_equal(d.n, 9);
	for (size_t i = 0; i < HB_ARRAY_LEN(lines); i++)
		assert_int_equal(d.msgs[i].line, lines[i]); /* printed sorted */
	/* FILE:LINE:COL: error: ... */
	assert_true(str_starts(printed, "m.yaml:1:10: error: unsupported manifest version 2"));
	assert_non_null(strstr(printed, "\nm.yaml:7:40: error: device \"/dev/sda\""));
	assert_non_null(strstr(printed, "\nm.yaml:9:5: error: unknown module \"nosuch\""));
	free(printed);
	diag_free(&d);
}

static void
test_modules_list(void **state)
{
	static const char *const cases[][2] = {
		{"version: 1\nname: db\n", "missing required key \"modules\""},
		{"version: 1\nname: db\nmodules: []\n", "non-empty list"},
		{"version: 1\nname: db\nmodules:\n  - volume: {id: vol-0123abcd, device: /dev/sdf}\n"
		    "  - volume: {id: vol-0123abcd, device: /dev/sdg}\n", "appears twice"},
		{"version: 1\nname: db\nmodules:\n  - volum: {}\n", "did you mean \"volume\""},
		{"version: 1\nname: db\nmodules:\n  - {volume: {}, filesystem: {}}\n",
		    "module filesystem sits in the same modules entry as volume"},
		{"version: 1\nname: db\nmodules:\n  - volume:\n    id: vol-0123abcd\n",
		    "\"id\" is level with \"volume\" (column 5)"},
		{"version: 1\nname: db\nmodules:\n  - volume:\n      id: vol-0123abcd\n"
		    "    device: /dev/sdf\n", "indent it to column 7, with volume's other settings"},
		{"version: 1\nname: db\nmodules:\n  - [volume]\n", "one module name with its settings"},
		{"version: 1\nname: db\nmodules:\n  - volume: [a]\n", "must be a mapping"},
		{"- a\n- b\n", "must be a mapping"},
	};
	(void)state;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		struct diag d;

		diag_init(&d, "m.yaml");
		assert_null(manifest_parse(cases[i][0], strlen(cases[i][0]), false, &d));
		if (!has_msg(&d, cases[i][1]))
			fail_msg("case %zu: no \"%s\" (first: %s)", i, cases[i][1],
			    d.n ? d.msgs[0].text : "no message");
		diag_free(&d);
	}
}

static void
test_required_flag(void **state)
{
	static const char text[] =
	    "version: 1\nname: db\nmodules:\n"
	    "  - volume: {id: vol-0123abcd, device: /dev/sdf}\n"
	    "  - notify: {sns: 'arn:aws:sns:us-west-2:123456789012:t', required: no}\n";
	struct diag d;
	struct manifest *m;
	(void)state;

	diag_init(&d, "m.yaml");
	m = manifest_parse(text, strlen(text), false, &d);
	assert_non_null(m);
	assert_int_equal(m->nmods, 2);
	assert_true(m->mods[0].required);
	assert_false(m->mods[1].required);
	assert_int_equal(m->on_failure, ONF_HALT);
	assert_int_equal(m->deadline_ms, 240000);
	manifest_free(m);
	diag_free(&d);
}

static void
test_binary_and_unreadable(void **state)
{
	struct diag d;
	(void)state;

	diag_init(&d, "m.yaml");
	assert_null(manifest_parse("version: 1\0\n", 12, false, &d));
	assert_true(has_msg(&d, "NUL byte"));
	diag_free(&d);

	diag_init(&d, "/nonexistent/m.yaml");
	{
		bool unreadable = false;

		assert_null(manifest_load_file("/nonexistent/m.yaml", &d, &unreadable));
		assert_true(unreadable);
	}
	assert_true(has_msg(&d, "cannot read"));
	diag_free(&d);

	diag_init(&d, "m.yaml");
	assert_null(manifest_parse("", 0, false, &d));
	assert_true(has_msg(&d, "empty"));
	diag_free(&d);
}

/* The runner applies every module without asking: each must have parse and
 * apply (module.h). */
static void
test_every_module_can_apply(void **state)
{
	(void)state;
	for (size_t i = 0; module_registry[i] != NULL; i++) {
		assert_non_null(module_registry[i]->parse);
		assert_non_null(module_registry[i]->apply);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_gzip_accepted),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_gzip_too_big_says_shorten),
		cmocka_unit_test(test_gzip_corrupt),
		cmocka_unit_test(test_gzip_bomb),
		cmocka_unit_test(test_marker),
		cmocka_unit_test(test_missing_version),
		cmocka_unit_test(test_all_errors_in_one_pass),
		cmocka_unit_test(test_modules_list),
		cmocka_unit_test(test_required_flag),
		cmocka_unit_test(test_binary_and_unreadable),
		cmocka_unit_test(test_every_module_can_apply),
	};

	return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
