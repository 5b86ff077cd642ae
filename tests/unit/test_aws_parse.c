/* test_aws_parse.c: AWS error answers become "Code: Message" with the right
 * retry decision, and IMDS role credentials parse (or are refused) safely. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "aws/aws.h"
#include "aws/creds.h"

static void
parse(long status, const char *body, const char *hdr_rid, struct aws_error *e)
{
	aws_error_init(e);
	aws_parse_error(status, body, strlen(body), hdr_rid, e);
}

static void
test_ec2_error_shape(void **state)
{
	struct aws_error e;
	char *s;

	(void)state;
	parse(400, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
	    "<Code>InvalidVolume.NotFound</Code><Message>The volume 'vol-1' does not exist."
	    "</Message></Error></Errors><RequestID>req-1</RequestID></Response>", NULL, &e);
	assert_int_equal(e.kind, AWS_ERR_API);
	assert_int_equal(e.status, 400);
	s = aws_error_str(&e);
	assert_string_equal(s, "InvalidVolume.NotFound: The volume 'vol-1' does not exist.");
	free(s);
	assert_string_equal(e.request_id, "req-1");
	assert_true(aws_error_is(&e, "InvalidVolume.NotFound"));
	assert_false(aws_error_retryable(&e));
	aws_error_free(&e);

	parse(503, "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request "
	    "limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>", NULL,
	    &e);
	assert_true(aws_error_retryable(&e));
	aws_error_free(&e);
	/* Throttling is retried whatever the status says. */
	parse(400, "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>x"
	    "</Message></Error></Errors></Response>", NULL, &e);
	assert_true(aws_error_retryable(&e));
	aws_error_free(&e);
	parse(412, "<Response><Errors><Error><Code>DryRunOperation</Code><Message>Request would "
	    "have succeeded, but DryRun flag is set.</Message></Error></Errors></Response>", NULL, &e);
	assert_false(aws_error_retryable(&e));
	aws_error_free(&e);
}

static void
test_query_error_shape(void **state)
{
	struct aws_error e;
	char *s;

	(void)state;
	parse(400, "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>"
	    "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
	    "<RequestId>sns-req</RequestId></ErrorResponse>", "hdr-req", &e);
	s = aws_error_str(&e);
	assert_string_equal(s, "Throttling: Rate exceeded");
	free(s);
	assert_string_equal(e.request_id, "sns-req");
	assert_true(aws_error_retryable(&e));
	aws_error_free(&e);

	parse(403, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
	    "x is not authorized</Message></Error></ErrorResponse>", "hdr-req", &e);
	assert_string_equal(e.code, "AccessDenied");
	assert_string_equal(e.request_id, "hdr-req");
	assert_false(aws_error_retryable(&e));
	aws_error_free(&e);

	parse(400, "<ErrorResponse><Error><Code>PriorRequestNotComplete</Code><Message>wait"
	    "</Message></Error></ErrorResponse>", NULL, &e);
	assert_true(aws_error_retryable(&e));
	aws_error_free(&e);
}

static void
test_route53_invalid_change_batch(void **state)
{
	struct aws_error e;
	char *s;

	(void)state;
	parse(400, "<InvalidChangeBatch xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
	    "<Messages><Message>Tried to delete resource record set [name='a.example.com.', "
	    "type='A'] but it was not found</Message><Message>second</Message></Messages>"
	    "<RequestId>r53</RequestId></InvalidChangeBatch>", NULL, &e);
	s = aws_error_str(&e);
	assert_string_equal(s, "InvalidChangeBatch: Tried to delete resource record set "
	    "[name='a.example.com.', type='A'] but it was not found; second");
	free(s);
	assert_string_equal(e.request_id, "r53");
	assert_false(aws_error_retryable(&e));
	aws_error_free(&e);
}

static void
test_not_xml(void **state)
{
	struct aws_error e;

	(void)state;
	parse(502, "<html><body>Bad Gateway</body></html>", NULL, &e);
	assert_string_equal(e.code, "HTTP502");
	assert_non_null(strstr(e.message, "Bad Gateway"));
	assert_true(aws_error_retryable(&e));
	aws_error_free(&e);
	parse(400, "", "rid", &e);
	assert_string_equal(e.code, "HTTP400");
	assert_string_equal(e.message, "HTTP 400 with an empty body");
	assert_string_equal(e.request_id, "rid");
	assert_false(aws_error_retryable(&e));
	aws_error_free(&e);
	parse(429, "garbage \x01\x02 body", NULL, &e);
	assert_true(aws_error_retryable(&e));
	assert_null(strchr(e.message, '\x01'));
	aws_error_free(&e);
}

static void
test_imds_credentials(void **state)
{
	struct creds c = {0};
	char *err = NULL;

	(void)state;
	assert_int_equal(creds_parse_imds_json("{\n  \"Code\" : \"Success\",\n  \"Type\" : "
	    "\"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAX\",\n  \"SecretAccessKey\" : \"sec\",\n  "
	    "\"Token\" : \"tok\",\n  \"Expiration\" : \"2026-01-01T06:00:00Z\"\n}", &c, &err), 0);
	assert_string_equal(c.access_key, "ASIAX");
	assert_string_equal(c.secret_key, "sec");
	assert_string_equal(c.session_token, "tok");
	assert_true(c.expires == 1767247200000LL);
	creds_clear(&c);
	assert_null(c.access_key);

	assert_int_equal(creds_parse_imds_json("{\"Code\":\"AssumeRoleUnauthorizedAccess\","
	    "\"Message\":\"denied\"}", &c, &err), -1);
	assert_non_null(strstr(err, "AssumeRoleUnauthorizedAccess"));
	free(err);
	assert_int_equal(creds_parse_imds_json("{\"AccessKeyId\":\"a\"}", &c, &err), -1);
	free(err);
	assert_int_equal(creds_parse_imds_json("not json", &c, &err), -1);
	free(err);
	assert_int_equal(creds_parse_imds_json("{\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"b\","
	    "\"Expiration\":\"tomorrow\"}", &c, &err), -1);
	assert_non_null(strstr(err, "tomorrow"));
	free(err);
	assert_null(c.access_key);

	assert_true(creds_parse_time("2026-01-01T00:00:00Z") == 1767225600000LL);
	assert_true(creds_parse_time("2026-01-01T00:00:00.123Z") == 1767225600000LL);
	assert_true(creds_parse_time("2026-01-01T00:00:00+00:00") == 1767225600000LL);
	assert_true(creds_parse_time("2026-01-01T00:00:00+02:00") == -1);
	assert_true(creds_parse_time("2026-01-01") == -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec2_error_shape),
		cmocka_unit_test(test_query_error_shape),
		cmocka_unit_test(test_route53_invalid_change_batch),
		cmocka_unit_test(test_not_xml),
		cmocka_unit_test(test_imds_credentials),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
