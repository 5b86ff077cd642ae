/* test_iam.c: the policy builder merges statements without granting anything
 * no statement asked for, prints the same policy whatever the order things
 * were declared in, and escapes what it prints; refused permissions read as
 * such from AWS's error answers. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "aws/aws.h"
#include "iam.h"

static struct iam_policy *
sample(bool reversed)
{
	struct iam_policy *p = iam_policy_new(NULL);
	struct iam_stmt *s;

	for (int k = 0; k < 2; k++) {
		if ((k == 0) != reversed) {
			s = iam_stmt(p, "attach");
			iam_action(s, "ec2:AttachVolume");
			iam_resource(s, "arn:aws:ec2:*:*:volume/vol-1");
			s = iam_stmt(p, "detach");
			iam_action(s, "ec2:DetachVolume");
			iam_resource(s, "arn:aws:ec2:*:*:volume/vol-1");
		} else {
			s = iam_stmt(p, "self");
			iam_action(s, "ec2:DetachVolume");
			iam_resource(s, "arn:aws:ec2:*:*:instance/*");
			iam_cond(s, "StringEquals", "aws:ARN", "%s", "${ec2:SourceInstanceARN}");
			iam_unscoped(p, "ec2:DescribeVolumes", "no resource");
		}
	}
	return p;
}

static void
test_merge_is_exact_and_ordered(void **state)
{
	struct iam_policy *a = sample(false), *b = sample(true);
	char *ja = iam_policy_json(a), *jb = iam_policy_json(b);

	(void)state;
	assert_string_equal(ja, jb);
	/* Same resource, no conditions: one statement with both actions. */
	assert_non_null(strstr(ja, "\"Sid\": \"Ec2AttachVolumeDetachVolumeOnVolume\""));
	/* The instance grant has a condition: it stays apart, DetachVolume only. */
	assert_non_null(strstr(ja, "\"Sid\": \"Ec2DetachVolumeOnInstance\""));
	assert_null(strstr(ja, "\"ec2:AttachVolume\",\n        \"ec2:DetachVolume\"\n      ],\n"
	    "      \"Resource\": [\n        \"arn:aws:ec2:*:*:instance"));
	assert_non_null(strstr(ja, "\"aws:ARN\": \"${ec2:SourceInstanceARN}\""));
	assert_int_equal(iam_policy_caveats(a), 1);
	free(ja);
	free(jb);
	iam_policy_free(a);
	iam_policy_free(b);
}

static void
test_no_cross_product(void **state)
{
	struct iam_policy *p = iam_policy_new(NULL);
	struct iam_stmt *s;
	char *j;

	(void)state;
	/* A on r1, B on r2: never one statement "A,B on r1,r2". */
	s = iam_stmt(p, "a");
	iam_action(s, "svc:A");
	iam_resource(s, "arn:aws:svc:::r1");
	s = iam_stmt(p, "b");
	iam_action(s, "svc:B");
	iam_resource(s, "arn:aws:svc:::r2");
	/* C on r1 and on r2: one statement with both resources. */
	s = iam_stmt(p, "c");
	iam_action(s, "svc:C");
	iam_resource(s, "arn:aws:svc:::r2");
	s = iam_stmt(p, "c again");
	iam_action(s, "svc:C");
	iam_resource(s, "arn:aws:svc:::r1");
	j = iam_policy_json(p);
	assert_non_null(strstr(j, "\"svc:A\",\n        \"svc:C\"\n      ],\n      \"Resource\": [\n"
	    "        \"arn:aws:svc:::r1\"\n      ]"));
	assert_non_null(strstr(j, "\"svc:B\",\n        \"svc:C\"\n      ],\n      \"Resource\": [\n"
	    "        \"arn:aws:svc:::r2\"\n      ]"));
	free(j);
	iam_policy_free(p);
}

static void
test_values_are_escaped_and_listed(void **state)
{
	struct iam_policy *p = iam_policy_new(NULL);
	struct iam_stmt *s;
	char *j;

	(void)state;
	s = iam_stmt(p, "tag");
	iam_action(s, "ec2:AttachVolume");
	iam_resource(s, "arn:aws:ec2:*:*:volume/*");
	iam_cond(s, "StringEquals", "aws:ResourceTag/Name", "%s", "a \"quoted\" name");
	iam_cond(s, "ForAllValues:StringEquals", "k", "%s", "z");
	iam_cond(s, "ForAllValues:StringEquals", "k", "%s", "a");
	iam_cond(s, "ForAllValues:StringEquals", "k", "%s", "a");
	j = iam_policy_json(p);
	assert_non_null(strstr(j, "\"a \\\"quoted\\\" name\""));
	assert_non_null(strstr(j, "\"k\": [\n            \"a\",\n            \"z\"\n          ]"));
	free(j);
	iam_policy_free(p);
}

static void
test_denied_errors(void **state)
{
	struct aws_error e;
	char *s;
	const char *ec2 = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You "
	    "are not authorized to perform this operation. Encoded authorization failure message: "
	    "AbC-d_e</Message></Error></Errors><RequestID>r</RequestID></Response>";
	const char *r53 = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
	    "<Message>User: arn:aws:sts::1:assumed-role/r/i-1 is not authorized to perform: "
	    "route53:GetChange on resource: arn:aws:route53:::change/C1 because no identity-based "
	    "policy allows the route53:GetChange action</Message></Error></ErrorResponse>";

	(void)state;
	aws_error_init(&e);
	aws_parse_error(403, ec2, strlen(ec2), NULL, &e);
	e.action = strdup("ec2:AttachVolume");
	assert_true(aws_error_denied(&e));
	assert_false(aws_error_retryable(&e));
	s = aws_error_str(&e);
	assert_non_null(strstr(s, "permission denied (UnauthorizedOperation)"));
	assert_non_null(strstr(s, "may not call ec2:AttachVolume"));
	assert_non_null(strstr(s, "aws sts decode-authorization-message --encoded-message AbC-d_e"));
	free(s);
	aws_error_free(&e);
	aws_parse_error(403, r53, strlen(r53), NULL, &e);
	s = aws_error_str(&e);
	assert_non_null(strstr(s, "(arn:aws:sts::1:assumed-role/r/i-1) may not call "
	    "route53:GetChange on arn:aws:route53:::change/C1: no statement of the role's policy "
	    "allows it"));
	free(s);
	aws_error_free(&e);
	const char *inuse = "<Response><Errors><Error><Code>VolumeInUse</Code></Error></Errors>"
	    "</Response>";
	aws_parse_error(400, inuse, strlen(inuse), NULL, &e);
	assert_false(aws_error_denied(&e));
	aws_error_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_is_exact_and_ordered),
		cmocka_unit_test(test_no_cross_product),
		cmocka_unit_test(test_values_are_escaped_and_listed),
		cmocka_unit_test(test_denied_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
