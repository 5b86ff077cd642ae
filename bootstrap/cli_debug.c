/* cli_debug.c: `haboot imds` and `haboot aws`. */
#include "cli_debug.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/imds.h"
#include "backoff.h"
#include "cli.h"
#include "log.h"
#include "manifest/manifest.h"
#include "util.h"

const char usage_imds[] =
"usage: haboot imds [--imds-timeout DURATION] [--imdsv1] [PATH | --user-data]\n"
"\n"
"Prints one value from the instance metadata service, read the way haboot\n"
"reads it (IMDSv2 token, retries under a deadline).  PATH is a meta-data key\n"
"(instance-id, placement/region, local-ipv4, iam/security-credentials/) or a\n"
"full path starting with /latest/; with no PATH it lists meta-data/.\n"
"Secret fields of role credentials are shown as \"(redacted)\".\n"
"\n"
"  --user-data              print the user-data (inflated if gzipped)\n"
"  --imds-timeout DURATION  give up after this long (default 60s)\n"
"  --imdsv1                 allow the IMDSv1 fallback (no token)\n"
"\n"
"The endpoint is http://169.254.169.254, or AWS_EC2_METADATA_SERVICE_ENDPOINT,\n"
"or http://[fd00:ec2::254] with AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6.\n"
"exit: 0 printed, 1 no such key (404), 3 IMDS unreachable, disabled or refusing.\n";

const char usage_aws[] =
"usage: haboot aws [OPTIONS] SERVICE ACTION [KEY=VALUE]...\n"
"       haboot aws [OPTIONS] route53 METHOD PATH [--body FILE]\n"
"\n"
"Makes one AWS API call exactly as haboot's modules do (credentials, region,\n"
"endpoint, SigV4 signature, retries, timeouts) and prints the raw XML answer.\n"
"An AWS error is printed as \"Code: Message\" and exits 1.\n"
"\n"
"SERVICE is ec2, sns, monitoring (or cloudwatch) or autoscaling, called with\n"
"an ACTION and its query parameters; or route53 (REST) with GET or POST and a\n"
"path that may carry a query string.\n"
"\n"
"  --body FILE              request body of a route53 POST (\"-\": stdin)\n"
"  --max-attempts N         attempts per call, retries included (default 3,\n"
"                           or AWS_MAX_ATTEMPTS)\n"
"  --timeout DURATION       limit of one attempt (default 30s)\n"
"  --repeat N               make the call N times (watch throttling, credential\n"
"                           refresh)\n"
"  --interval DURATION      pause between repeated calls (default 1s)\n"
"  --imds-timeout DURATION  IMDS deadline for role credentials and region\n"
"  --imdsv1                 allow the IMDSv1 fallback\n"
"\n"
"Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN], else\n"
"the instance role.  Region: AWS_REGION, AWS_DEFAULT_REGION, else IMDS.\n"
"Endpoints: AWS_ENDPOINT_URL_<SERVICE> (EC2, ROUTE_53, SNS, CLOUDWATCH,\n"
"AUTO_SCALING), AWS_ENDPOINT_URL, else the region's.  Add -v to log each\n"
"attempt.\n"
"\n"
"examples:\n"
"  haboot aws ec2 DescribeVolumes VolumeId.1=vol-073769c7\n"
"  haboot aws route53 GET '/2013-04-01/hostedzone/Z1/rrset?name=nfs.example.com.&type=A'\n"
"  haboot aws route53 POST /2013-04-01/hostedzone/Z1/rrset --body change.xml\n"
"exit: 0 answered, 1 AWS error or no answer, 2 usage, 3 no credentials or region.\n";

enum { OPT_IMDS_TIMEOUT = 300, OPT_IMDSV1, OPT_USER_DATA, OPT_BODY, OPT_MAX_ATTEMPTS, OPT_REPEAT,
	OPT_INTERVAL, OPT_TIMEOUT };

static void
print_body(const struct buf *b)
{
	fwrite(b->data, 1, b->len, stdout);
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		fputc('\n', stdout);
	fflush(stdout);
}

/* Role credentials shown to a person lose their secret parts. */
static void
print_redacted_creds(const struct buf *b)
{
	json_object *o = json_tokener_parse(b->data);
	static const char *const secret[] = {"SecretAccessKey", "Token"};

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		fputs("(credentials document withheld: it is not the JSON expected)\n", stdout);
		return;
	}
	for (size_t i = 0; i < HB_ARRAY_LEN(secret); i++)
		if (json_object_object_get_ex(o, secret[i], NULL))
			json_object_object_add(o, secret[i], json_object_new_string("(redacted)"));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

int
cmd_imds(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"user-data", no_argument, NULL, OPT_USER_DATA},
		{"imds-timeout", required_argument, NULL, OPT_IMDS_TIMEOUT},
		{"imdsv1", no_argument, NULL, OPT_IMDSV1},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	long long deadline = IMDS_DEFAULT_DEADLINE_MS;
	bool user_data = false, v1 = false;
	const char *path = "";
	struct imds *m = NULL;
	struct buf b, inflated;
	char *err = NULL;
	int ch, r, rc = EXIT_ENVIRONMENT;

	buf_init(&b);
	buf_init(&inflated);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_USER_DATA:
			user_data = true;
			break;
		case OPT_IMDS_TIMEOUT:
			if (cli_duration(usage_imds, "--imds-timeout", optarg, &deadline) < 0)
				return EXIT_USAGE;
			break;
		case OPT_IMDSV1:
			v1 = true;
			break;
		case 'h':
			fputs(usage_imds, stdout);
			return EXIT_DONE;
		default:
			fputc('\n', stderr);
			fputs(usage_imds, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc)
		return usage_error(usage_imds, "imds takes one PATH, not also \"%s\"", argv[optind]);
	if (user_data && *path)
		return usage_error(usage_imds, "give a PATH or --user-data, not both (\"%s\")", path);
	if ((m = imds_new(&err)) == NULL) {
		fprintf(stderr, "haboot: imds: %s\n", err);
		goto out;
	}
	imds_set_deadline(m, deadline);
	imds_allow_v1(m, v1);
	r = user_data ? imds_user_data(m, &b) : imds_get(m, path, &b);
	if (r == IMDS_NOT_FOUND) {
		fprintf(stderr, "haboot: imds: %s\n", user_data ?
		    "this instance has no user-data (HTTP 404)" : imds_error(m));
		rc = EXIT_MODULE_FAILED;
		goto out;
	}
	if (r != IMDS_OK) {
		fprintf(stderr, "haboot: imds: %s\n", imds_error(m));
		goto out;
	}
	if (user_data && is_gzip(b.data, b.len)) {
		const char *why;

		if (gunzip(b.data, b.len, MANIFEST_INFLATED_MAX, &inflated, &why) < 0) {
			fprintf(stderr, "haboot: imds: gzipped user-data: %s\n", why);
			goto out;
		}
		print_body(&inflated);
	} else if (strstr(path, "security-credentials/") != NULL &&
	    !str_ends(path, "security-credentials/")) {
		print_redacted_creds(&b);
	} else {
		print_body(&b);
	}
	rc = EXIT_DONE;
out:
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	buf_free(&inflated);
	free(err);
	imds_free(m);
	return rc;
}

static bool
valid_amz_date(const char *s)
{
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool
http_method(const char *s)
{
	return !strcmp(s, "GET") || !strcmp(s, "POST") || !strcmp(s, "DELETE") ||
	    !strcmp(s, "PUT") || !strcmp(s, "HEAD");
}

int
cmd_aws(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"body", required_argument, NULL, OPT_BODY},
		{"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
		{"repeat", required_argument, NULL, OPT_REPEAT},
		{"interval", required_argument, NULL, OPT_INTERVAL},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"imds-timeout", required_argument, NULL, OPT_IMDS_TIMEOUT},
		{"imdsv1", no_argument, NULL, OPT_IMDSV1},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	long long deadline = IMDS_DEFAULT_DEADLINE_MS, interval = 1000, timeout = 0;
	const char *body_file = NULL, *fixed;
	long attempts = 0, repeat = 1;
	bool v1 = false;
	struct imds *m = NULL;
	struct aws *a = NULL;
	struct aws_params p;
	struct aws_error e;
	struct buf body, out;
	char *err = NULL, *end;
	int ch, svc, rc = EXIT_USAGE;

	aws_params_init(&p);
	aws_error_init(&e);
	buf_init(&body);
	buf_init(&out);
	/* Options may follow the operands (--body after the path); 0 resets GNU getopt. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_BODY:
			body_file = optarg;
			break;
		case OPT_MAX_ATTEMPTS:
			attempts = strtol(optarg, &end, 10);
			if (*end != '\0' || attempts < 1 || attempts > 20) {
				rc = usage_error(usage_aws, "--max-attempts %s: give a number from 1 to 20",
				    optarg);
				goto out;
			}
			break;
		case OPT_REPEAT:
			repeat = strtol(optarg, &end, 10);
			if (*end != '\0' || repeat < 1 || repeat > 10000) {
				rc = usage_error(usage_aws, "--repeat %s: give a number from 1 to 10000",
				    optarg);
				goto out;
			}
			break;
		case OPT_INTERVAL:
			if (cli_duration(usage_aws, "--interval", optarg, &interval) < 0)
				goto out;
			break;
		case OPT_TIMEOUT:
			if (cli_duration(usage_aws, "--timeout", optarg, &timeout) < 0)
				goto out;
			if (timeout < 100) {
				rc = usage_error(usage_aws, "--timeout %s: give at least 100ms", optarg);
				goto out;
			}
			break;
		case OPT_IMDS_TIMEOUT:
			if (cli_duration(usage_aws, "--imds-timeout", optarg, &deadline) < 0)
				goto out;
			break;
		case OPT_IMDSV1:
			v1 = true;
			break;
		case 'h':
			fputs(usage_aws, stdout);
			rc = EXIT_DONE;
			goto out;
		default:
			fputc('\n', stderr);
			fputs(usage_aws, stderr);
			goto out;
		}
	}
	if (argc - optind < 2) {
		rc = usage_error(usage_aws, "%s", "aws needs a SERVICE and an ACTION (or METHOD PATH)");
		goto out;
	}
	const char *sname = argv[optind], *action = argv[optind + 1];
	if ((svc = aws_service_find(sname)) < 0) {
		rc = usage_error(usage_aws, "unknown service \"%s\" (known: ec2, route53, sns, "
		    "monitoring, autoscaling)", sname);
		goto out;
	}
	bool rest = aws_service_is_rest((enum aws_service)svc);
	const char *path = NULL;
	if (rest) {
		if (!http_method(action) || argc - optind != 3) {
			rc = usage_error(usage_aws, "%s is a REST API: give METHOD PATH, like route53 GET "
			    "/2013-04-01/hostedzone/Z1/rrset", sname);
			goto out;
		}
		path = argv[optind + 2];
		if (body_file != NULL) {
			int r = strcmp(body_file, "-") == 0 ? read_stream(STDIN_FILENO, 1 << 20, &body)
			    : read_file(body_file, 1 << 20, &body);

			if (r < 0) {
				fprintf(stderr, "haboot: aws: --body %s: %s\n", body_file, strerror(errno));
				goto out;
			}
		}
	} else {
		if (body_file != NULL) {
			rc = usage_error(usage_aws, "--body is for route53; %s takes KEY=VALUE parameters",
			    sname);
			goto out;
		}
		for (int i = optind + 2; i < argc; i++) {
			const char *eq = strchr(argv[i], '=');

			if (eq == NULL || eq == argv[i]) {
				rc = usage_error(usage_aws, "parameter \"%s\" is not KEY=VALUE", argv[i]);
				goto out;
			}
			char *k = xstrndup(argv[i], (size_t)(eq - argv[i]));
			aws_param(&p, k, "%s", eq + 1);
			free(k);
		}
	}
	rc = EXIT_ENVIRONMENT;
	if ((m = imds_new(&err)) == NULL || (a = aws_new(m, NULL, &err)) == NULL) {
		fprintf(stderr, "haboot: aws: %s\n", err);
		goto out;
	}
	imds_set_deadline(m, deadline);
	imds_allow_v1(m, v1);
	if (attempts > 0)
		aws_set_max_attempts(a, (int)attempts);
	if (timeout > 0)
		aws_set_timeouts(a, timeout < 5000 ? timeout : 5000, timeout);
	/* For signature tests only: a fixed X-Amz-Date makes signatures comparable. */
	if ((fixed = getenv("HABOOT_SIGV4_FIXED_DATE")) != NULL && *fixed != '\0') {
		if (!valid_amz_date(fixed)) {
			fprintf(stderr, "haboot: aws: HABOOT_SIGV4_FIXED_DATE=%s is not like "
			    "20260101T000000Z\n", fixed);
			rc = EXIT_USAGE;
			goto out;
		}
		log_warn("aws", "signing with the fixed date %s (HABOOT_SIGV4_FIXED_DATE): AWS "
		    "rejects such requests once the date is 15 minutes old", fixed);
		aws_set_fixed_date(a, fixed);
	}
	for (long i = 0; i < repeat; i++) {
		int r;

		if (i > 0)
			sleep_ms(interval);
		if (rest)
			r = aws_rest_raw(a, (enum aws_service)svc, action, path,
			    body_file ? (body.data ? body.data : "") : NULL, &out, &e);
		else
			r = aws_query_raw(a, (enum aws_service)svc, action, &p, &out, &e);
		if (r < 0) {
			char *msg = aws_error_str(&e);

			fprintf(stderr, "haboot: aws: %s %s: %s", sname, rest ? path : action, msg);
			if (e.kind == AWS_ERR_API)
				fprintf(stderr, " (HTTP %ld%s%s, %d attempt%s)", e.status,
				    e.request_id ? ", request id " : "", e.request_id ? e.request_id : "",
				    e.attempts, e.attempts == 1 ? "" : "s");
			else if (e.kind == AWS_ERR_NETWORK)
				fprintf(stderr, " (%d attempt%s)", e.attempts, e.attempts == 1 ? "" : "s");
			fputc('\n', stderr);
			free(msg);
			rc = e.kind == AWS_ERR_LOCAL ? EXIT_ENVIRONMENT : EXIT_MODULE_FAILED;
			goto out;
		}
		print_body(&out);
	}
	rc = EXIT_DONE;
out:
	aws_params_free(&p);
	aws_error_free(&e);
	buf_free(&body);
	buf_free(&out);
	free(err);
	aws_free(a);
	imds_free(m);
	return rc;
}
