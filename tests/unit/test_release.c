/* test_release.c: the parts of a release that read text: the manifest's
 * release section, the owner's haboot:release tag the next instance trusts
 * (only "releasing ... until" a time to come), and the mountinfo reader that
 * decides what is mounted where (escapes, stacked mounts). */
#include <sys/sysmacros.h>

#include "unit.h"

#include "aws/xml.h"
#include "filesystem/holders.h"
#include "manifest/manifest.h"
#include "util.h"
#include "volume/handoff.h"

static struct manifest *
parse(const char *text, struct diag *d)
{
	diag_init(d, "m.yaml");
	return manifest_parse(text, strlen(text), false, d);
}

static void
test_release_defaults_and_keys(void **state)
{
	struct diag d;
	struct manifest *m;
	(void)state;

	m = parse("version: 1\nname: a\nmodules: [{volume: {id: vol-0123abcd, device: /dev/sdf}}]\n",
	    &d);
	assert_non_null(m);
	assert_int_equal(m->release.on, RELEASE_ON_LIFECYCLE | RELEASE_ON_SPOT);
	assert_int_equal(m->release.timeout_ms, 3 * 60 * 1000);
	assert_int_equal(m->release.heartbeat_ms, 20 * 1000);
	assert_null(m->release.hook_name);
	manifest_free(m);
	diag_free(&d);

	m = parse("version: 1\nname: a\nrelease: {triggers: [rebalance], timeout: 90s, "
	    "heartbeat: 20s, lifecycle_hook: {name: h, group: g}}\n"
	    "modules: [{volume: {id: vol-0123abcd, device: /dev/sdf}}]\n", &d);
	assert_non_null(m);
	assert_int_equal(m->release.on, RELEASE_ON_REBALANCE);
	assert_int_equal(m->release.timeout_ms, 90 * 1000);
	assert_int_equal(m->release.heartbeat_ms, 20 * 1000);
	assert_string_equal(m->release.hook_name, "h");
	assert_string_equal(m->release.hook_group, "g");
	manifest_free(m);
	diag_free(&d);

	/* Listening for nothing is allowed: release by hand and at shutdown. */
	m = parse("version: 1\nname: a\nrelease: {triggers: []}\n"
	    "modules: [{volume: {id: vol-0123abcd, device: /dev/sdf}}]\n", &d);
	assert_non_null(m);
	assert_int_equal(m->release.on, 0);
	manifest_free(m);
	diag_free(&d);
}

static void
test_release_errors(void **state)
{
	struct diag d;
	(void)state;

	assert_null(parse("version: 1\nname: a\nrelease: {triggers: [spot, spot], timeout: 1s}\n"
	    "modules: [{volume: {id: vol-0123abcd, device: /dev/sdf}}]\n", &d));
	assert_int_equal(d.errors, 2);
	diag_free(&d);
}

/* A DescribeInstances item with one tag. */
static struct xml_node *
instance_with_tag(const char *key, const char *value)
{
	char *doc = xasprintf("<item><instanceId>i-1</instanceId><tagSet><item><key>Name</key>"
	    "<value>x</value></item><item><key>%s</key><value>%s</value></item></tagSet></item>",
	    key, value);
	char *err = NULL;
	struct xml_node *x = xml_parse(doc, strlen(doc), &err);

	assert_non_null(x);
	free(doc);
	return x;
}

static void
test_releasing_tag(void **state)
{
	char soon[40], past[40], *v;
	struct xml_node *x;
	long long until;
	(void)state;

	fmt_iso8601(wall_ms() + 60 * 1000, false, soon, sizeof(soon));
	fmt_iso8601(wall_ms() - 60 * 1000, false, past, sizeof(past));
	v = xasprintf("releasing nfs until %s", soon);
	x = instance_with_tag("haboot:release", v);
	until = handoff_releasing_until(x);
	assert_true(until > wall_ms() && until <= wall_ms() + 61 * 1000);
	xml_free(x);
	free(v);
	/* A release that is over, that failed, or whose time passed: nothing to wait for. */
	v = xasprintf("releasing nfs until %s", past);
	x = instance_with_tag("haboot:release", v);
	assert_int_equal(handoff_releasing_until(x), 0);
	xml_free(x);
	free(v);
	x = instance_with_tag("haboot:release", "released 2026-01-01T00:00:00Z");
	assert_int_equal(handoff_releasing_until(x), 0);
	xml_free(x);
	x = instance_with_tag("haboot:release", "releasing nfs until tomorrow");
	assert_int_equal(handoff_releasing_until(x), 0);
	xml_free(x);
	v = xasprintf("releasing nfs until %s", soon);
	x = instance_with_tag("haboot:releasing", v);
	assert_int_equal(handoff_releasing_until(x), 0);
	xml_free(x);
	free(v);
	assert_int_equal(handoff_releasing_until(NULL), 0);
}

static void
test_mountinfo(void **state)
{
	char *dir = unit_tmpdir(), *path = xasprintf("%s/mountinfo", dir), *first = NULL;
	const char *text =
	    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	    "36 22 7:3 / /mnt/my\\040nfs rw,noatime shared:2 - ext4 /dev/xvdf rw\n"
	    "37 22 7:3 / /srv/bind rw shared:3 - ext4 /dev/xvdf rw\n"
	    "38 36 7:4 / /mnt/my\\040nfs ro,noatime shared:4 - ext4 /dev/xvdg ro\n"
	    "garbage\n";
	dev_t d;
	bool ro;
	(void)state;

	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
	assert_int_equal(mounts_of(path, makedev(7, 3), &first), 2);
	assert_string_equal(first, "/mnt/my nfs");
	free(first);
	assert_int_equal(mounts_of(path, makedev(7, 9), &first), 0);
	assert_null(first);
	/* The top of the stack at a path is what is mounted there. */
	assert_int_equal(mounted_at(path, "/mnt/my nfs", &d, &ro), 0);
	assert_true(d == makedev(7, 4) && ro);
	assert_int_equal(mounted_at(path, "/srv/bind", &d, &ro), 0);
	assert_true(d == makedev(7, 3) && !ro);
	assert_int_equal(mounted_at(path, "/mnt", &d, NULL), -1);
	assert_int_equal(mounted_at("/nonexistent/mountinfo", "/", &d, NULL), -1);
	unlink(path);
	free(path);
	unit_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_defaults_and_keys),
		cmocka_unit_test(test_release_errors),
		cmocka_unit_test(test_releasing_tag),
		cmocka_unit_test(test_mountinfo),
	};

	return cmocka_run_group_tests_name("release", tests, NULL, NULL);
}
