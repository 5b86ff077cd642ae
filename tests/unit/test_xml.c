/* test_xml.c: the expat tree haboot reads every AWS answer with: namespaces
 * stripped, paths found depth first, hostile input refused within limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "aws/xml.h"
#include "util.h"

static struct xml_node *
parse_ok(const char *s)
{
	char *err = NULL;
	struct xml_node *root = xml_parse(s, strlen(s), &err);

	if (root == NULL)
		fail_msg("parse failed: %s", err ? err : "(no reason)");
	assert_null(err);
	return root;
}

static char *
parse_err(const char *s, size_t len)
{
	char *err = NULL;
	struct xml_node *root = xml_parse(s, len, &err);

	assert_null(root);
	assert_non_null(err);
	return err;
}

static const char describe_volumes[] =
"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
"<DescribeVolumesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
"  <requestId>6a7f2c4e-1111-2222-3333-444455556666</requestId>\n"
"  <volumeSet>\n"
"    <item>\n"
"      <volumeId>vol-1</volumeId>\n"
"      <status>available</status>\n"
"      <attachmentSet/>\n"
"    </item>\n"
"    <item>\n"
"      <volumeId>vol-2</volumeId>\n"
"      <status>in-use</status>\n"
"      <attachmentSet>\n"
"        <item><instanceId>i-old</instanceId><status>attached</status></item>\n"
"      </attachmentSet>\n"
"    </item>\n"
"  </volumeSet>\n"
"</DescribeVolumesResponse>\n";

static void
test_namespace_stripped_and_paths(void **state)
{
	struct xml_node *root = parse_ok(describe_volumes);

	(void)state;
	assert_string_equal(root->name, "DescribeVolumesResponse");
	assert_string_equal(xml_text(root, "requestId"), "6a7f2c4e-1111-2222-3333-444455556666");
	assert_string_equal(xml_text(root, "volumeSet/item/volumeId"), "vol-1");
	/* Depth first with backtracking: the first item has no attachment. */
	assert_string_equal(xml_text(root, "volumeSet/item/attachmentSet/item/instanceId"), "i-old");
	assert_string_equal(xml_text(root, "*/*/status"), "available");
	assert_null(xml_find(root, "volumeSet/item/nosuch"));
	assert_null(xml_text(root, "volumeSet/item/volumeId/deeper"));
	assert_ptr_equal(xml_find(root, ""), root);
	/* Containers hold only blanks: their text is "". */
	assert_string_equal(xml_find(root, "volumeSet")->text, "");
	assert_string_equal(xml_find(root, "volumeSet/item/attachmentSet")->text, "");
	assert_ptr_equal(xml_find(root, "volumeSet")->parent, root);
	xml_free(root);
}

static void
test_iterate_children(void **state)
{
	struct xml_node *root = parse_ok(describe_volumes);
	const struct xml_node *set = xml_child(root, "volumeSet"), *it;
	const char *ids[2] = {0};
	size_t n = 0;

	(void)state;
	assert_non_null(set);
	for (it = xml_next(set, "item", NULL); it; it = xml_next(set, "item", it)) {
		assert_true(n < 2);
		ids[n++] = xml_text(it, "volumeId");
	}
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], "vol-1");
	assert_string_equal(ids[1], "vol-2");
	/* NULL name: every child, in document order. */
	it = xml_next(root, NULL, NULL);
	assert_string_equal(it->name, "requestId");
	it = xml_next(root, NULL, it);
	assert_string_equal(it->name, "volumeSet");
	assert_null(xml_next(root, NULL, it));
	assert_null(xml_child(root, "volumeId"));
	assert_null(xml_next(NULL, "x", NULL));
	assert_null(xml_find(NULL, "x"));
	xml_free(root);
}

static void
test_text_entities_cdata_prefixes(void **state)
{
	struct xml_node *root = parse_ok(
	    "<r:Root xmlns:r=\"urn:x\"><r:Msg>The volume &apos;vol-1&apos; &amp; &lt;x&gt;</r:Msg>"
	    "<Plain><![CDATA[<not a tag>]]></Plain><Sp>  keep  </Sp><U>caf\xc3\xa9</U>"
	    "<Attr a=\"1\">v</Attr></r:Root>");

	(void)state;
	assert_string_equal(root->name, "Root");
	assert_string_equal(xml_text(root, "Msg"), "The volume 'vol-1' & <x>");
	assert_string_equal(xml_text(root, "Plain"), "<not a tag>");
	assert_string_equal(xml_text(root, "Sp"), "  keep  ");
	assert_string_equal(xml_text(root, "U"), "caf\xc3\xa9");
	assert_string_equal(xml_text(root, "Attr"), "v");
	xml_free(root);
}

static void
test_malformed_is_an_error_with_line(void **state)
{
	char *err;

	(void)state;
	err = parse_err("<a>\n<b></a>", 11);
	assert_non_null(strstr(err, "line 2"));
	free(err);
	err = parse_err("", 0);
	free(err);
	err = parse_err("not xml at all", 14);
	free(err);
	/* Truncated answers (a dropped connection) must not parse as complete. */
	err = parse_err("<a><b>x</b>", 11);
	free(err);
	/* A NUL inside the document. */
	err = parse_err("<a>x\0y</a>", 10);
	free(err);
}

static void
test_dtd_and_entities_refused(void **state)
{
	static const char laughs[] =
	    "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
	    "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n"
	    "<lolz>&lol2;</lolz>";
	static const char external[] =
	    "<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r>x</r>";
	char *err;

	(void)state;
	err = parse_err(laughs, strlen(laughs));
	assert_non_null(strstr(err, "DTD"));
	free(err);
	err = parse_err(external, strlen(external));
	assert_non_null(strstr(err, "DTD"));
	free(err);
}

static void
test_depth_and_size_capped(void **state)
{
	struct buf b;
	char *err;
	struct xml_node *root;

	(void)state;
	buf_init(&b);
	for (int i = 0; i < XML_MAX_DEPTH; i++)
		buf_adds(&b, "<d>");
	for (int i = 0; i < XML_MAX_DEPTH; i++)
		buf_adds(&b, "</d>");
	root = xml_parse(b.data, b.len, &err);
	assert_non_null(root);   /* exactly the limit is fine */
	xml_free(root);

	buf_reset(&b);
	for (int i = 0; i < XML_MAX_DEPTH + 1; i++)
		buf_adds(&b, "<d>");
	for (int i = 0; i < XML_MAX_DEPTH + 1; i++)
		buf_adds(&b, "</d>");
	err = parse_err(b.data, b.len);
	assert_non_null(strstr(err, "nested too deeply"));
	free(err);

	buf_reset(&b);
	buf_adds(&b, "<r>");
	for (int i = 0; i < XML_MAX_NODES; i++)
		buf_adds(&b, "<i/>");
	buf_adds(&b, "</r>");
	err = parse_err(b.data, b.len);
	assert_non_null(strstr(err, "too many elements"));
	free(err);

	/* The size check comes before any parsing: the length alone decides. */
	err = parse_err(b.data, (size_t)XML_MAX_INPUT + 1);
	assert_non_null(strstr(err, "limit"));
	free(err);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_namespace_stripped_and_paths),
		cmocka_unit_test(test_iterate_children),
		cmocka_unit_test(test_text_entities_cdata_prefixes),
		cmocka_unit_test(test_malformed_is_an_error_with_line),
		cmocka_unit_test(test_dtd_and_entities_refused),
		cmocka_unit_test(test_depth_and_size_capped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
