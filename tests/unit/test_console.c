/* test_console.c: the serial console summary is wrapped, never cut. */
#include "unit.h"

#include "console.h"
#include "util.h"

/* The words of the wrapped text, rejoined, are the message's words. */
static void
assert_whole(const char *wrapped, const char *msg)
{
	struct buf words;
	char *copy = xstrdup(wrapped), *save = NULL;

	buf_init(&words);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		assert_true(strlen(line) <= CONSOLE_WIDTH);
		assert_true(str_starts(line, "haboot: "));
		line += strlen("haboot:");
		while (*line == ' ')
			line++;
		buf_printf(&words, "%s%s", words.len ? " " : "", line);
	}
	assert_string_equal(words.data, msg);
	buf_free(&words);
	free(copy);
}

static void
test_long_message_is_wrapped_not_cut(void **state)
{
	const char *msg = "mark-unhealthy: SetInstanceHealth i-0abc Unhealthy FAILED: NoCredentials: "
	    "no credentials: AWS_ACCESS_KEY_ID is not set, and IMDS is disabled "
	    "(AWS_EC2_METADATA_DISABLED=true), so there is no instance role to ask; the group "
	    "replaces it only when its own health check fails";
	struct buf b;
	(void)state;

	buf_init(&b);
	console_wrap(&b, msg);
	assert_whole(b.data, msg);
	/* Continuation lines are indented under the first. */
	assert_non_null(strstr(b.data, "\nhaboot:   "));
	buf_free(&b);
}

static void
test_a_word_longer_than_a_line(void **state)
{
	char word[300];
	struct buf b;
	(void)state;

	memset(word, 'x', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	buf_init(&b);
	console_wrap(&b, word);
	for (char *p = b.data, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		assert_true((size_t)(nl - p) <= CONSOLE_WIDTH);
	/* Every x is there. */
	size_t n = 0;
	for (char *p = b.data; *p; p++)
		n += *p == 'x';
	assert_int_equal(n, sizeof(word) - 1);
	buf_free(&b);
}

static void
test_short_and_multiline(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b);
	console_wrap(&b, "nfs ok");
	assert_string_equal(b.data, "haboot: nfs ok\n");
	buf_reset(&b);
	console_wrap(&b, "m.yaml:4:5: error: one\nm.yaml:6:1: error: two");
	assert_string_equal(b.data, "haboot: m.yaml:4:5: error: one\nhaboot:   m.yaml:6:1: error: two\n");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_message_is_wrapped_not_cut),
		cmocka_unit_test(test_a_word_longer_than_a_line),
		cmocka_unit_test(test_short_and_multiline),
	};

	return cmocka_run_group_tests_name("console", tests, NULL, NULL);
}
