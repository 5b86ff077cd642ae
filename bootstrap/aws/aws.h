/* aws.h: the AWS API client haboot's modules use.
 * Every request is signed with SigV4.  Query-protocol services (EC2, SNS,
 * CloudWatch, Auto Scaling) take Action=...&Version=... form posts; Route 53
 * is REST-XML.  Retries follow the SDKs' standard mode: throttling errors, 5xx
 * and transient connection failures are retried with full-jitter exponential
 * backoff (base 100 ms, cap 20 s) for at most 3 attempts (AWS_MAX_ATTEMPTS);
 * other 4xx answers are final.  Each call is logged at debug level (service,
 * action, status, duration); credentials, tokens and signatures never are.
 *
 * Environment (as the AWS SDKs read it): AWS_REGION, AWS_DEFAULT_REGION,
 * AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> (EC2, ROUTE_53, SNS, CLOUDWATCH,
 * AUTO_SCALING), AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, AWS_MAX_ATTEMPTS,
 * AWS_CA_BUNDLE, and the credential variables of creds.h. */
#ifndef HABOOT_AWS_H
#define HABOOT_AWS_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"
#include "xml.h"

struct imds;
struct metadata;

enum aws_service { AWS_EC2, AWS_ROUTE53, AWS_SNS, AWS_MONITORING, AWS_AUTOSCALING, AWS_NSERVICES };

enum aws_err_kind {
	AWS_ERR_NONE,
	AWS_ERR_API,      /* AWS answered with an error (code and message from its body) */
	AWS_ERR_NETWORK,  /* no answer, even after retries */
	AWS_ERR_LOCAL,    /* nothing was sent: no credentials, bad configuration */
};

struct aws_error {
	enum aws_err_kind kind;
	long status;       /* HTTP status; 0 when no answer */
	char *code;        /* "InvalidVolume.NotFound", "ConnectionError", "NoCredentials" */
	char *message;     /* "The volume 'vol-1' does not exist." */
	char *request_id;
	char *action;      /* "ec2:AttachVolume" for a query call AWS refused, else NULL */
	int attempts;
};

void aws_error_init(struct aws_error *e);
void aws_error_free(struct aws_error *e);
/* "InvalidVolume.NotFound: The volume 'vol-1' does not exist." (malloc'd) */
char *aws_error_str(const struct aws_error *e);
bool aws_error_is(const struct aws_error *e, const char *code);
/* AWS refused the call for want of a permission (UnauthorizedOperation,
 * AccessDenied...): every instance with this role would be refused alike.
 * aws_error_str() then names the action, the resource and what to do. */
bool aws_error_denied(const struct aws_error *e);
/* Fills e from an error answer (any of the AWS XML error shapes, or not XML). */
void aws_parse_error(long status, const char *body, size_t len, const char *request_id,
    struct aws_error *e);
/* Whether standard-mode retries apply to this error. */
bool aws_error_retryable(const struct aws_error *e);

/* Parameters of a query-protocol call, sent in the order added. */
struct aws_params {
	char **key, **val;
	size_t n, cap;
};
void aws_params_init(struct aws_params *p);
void aws_params_free(struct aws_params *p);
void aws_param(struct aws_params *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct aws;

/* A client; nothing is looked up or sent until the first call.  imds may be
 * NULL (environment credentials only), md may be NULL.  NULL with *err
 * (malloc'd) for a bad setting. */
struct aws *aws_new(struct imds *imds, struct metadata *md, char **err);
void aws_free(struct aws *a);
/* Settles the region (AWS_REGION, AWS_DEFAULT_REGION, then md's or IMDS's
 * placement/region) and the endpoints (AWS_ENDPOINT_URL_<SERVICE>,
 * AWS_ENDPOINT_URL, else the region's); the first call does it too.
 * 0, or -1 with *err (malloc'd). */
int aws_resolve(struct aws *a, char **err);
/* Fetches the credentials now (the environment's, or the instance role's),
 * so a run can find out before it starts that it has none: 0, or -1 with
 * *err (malloc'd, no secret in it). */
int aws_credentials(struct aws *a, char **err);
/* NULL until resolved. */
const char *aws_region(const struct aws *a);
const char *aws_endpoint(const struct aws *a, enum aws_service s);
/* Attempts per call, retries included (>= 1). */
void aws_set_max_attempts(struct aws *a, int n);
/* No retry wait runs past this mono_ms() bound (0: none). */
void aws_set_deadline(struct aws *a, long long mono_deadline);
void aws_set_timeouts(struct aws *a, long long connect_ms, long long total_ms);
/* Signs with this X-Amz-Date ("20260101T000000Z") instead of the clock: only
 * for `haboot aws` under HABOOT_SIGV4_FIXED_DATE, to compare signatures. */
void aws_set_fixed_date(struct aws *a, const char *amz_date);

/* "ec2", "route53", "sns", "monitoring" (or "cloudwatch"), "autoscaling"; -1 unknown. */
int aws_service_find(const char *name);
const char *aws_service_name(enum aws_service s);
bool aws_service_is_rest(enum aws_service s);

/* A query-protocol call.  0 with the answer, or -1 with *err filled. */
int aws_query_raw(struct aws *a, enum aws_service s, const char *action,
    const struct aws_params *p, struct buf *out, struct aws_error *err);
int aws_query(struct aws *a, enum aws_service s, const char *action, const struct aws_params *p,
    struct xml_node **out, struct aws_error *err);
/* A REST-XML call: path with an optional query string
 * ("/2013-04-01/hostedzone/Z1/rrset?name=nfs.example.com.&type=A"), and an
 * XML body or NULL.  The path and query are normalised (percent-encoded). */
int aws_rest_raw(struct aws *a, enum aws_service s, const char *method, const char *path_query,
    const char *body, struct buf *out, struct aws_error *err);
int aws_rest(struct aws *a, enum aws_service s, const char *method, const char *path_query,
    const char *body, struct xml_node **out, struct aws_error *err);

#endif
