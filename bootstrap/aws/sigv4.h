/* sigv4.h: AWS Signature Version 4 for header-signed requests, computed the
 * way botocore's SigV4Auth does (tests/integration/test_aws_client.py proves
 * the two equal on every request shape haboot sends). */
#ifndef HABOOT_SIGV4_H
#define HABOOT_SIGV4_H

#include <stddef.h>

#include "util.h"

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_req {
	const char *method;
	const char *path;        /* as sent, e.g. "/2013-04-01/hostedzone/Z1/rrset" */
	const char *query;       /* as sent, without '?', already percent-encoded; "" none */
	const struct sigv4_header *headers; /* every header to sign, host and x-amz-date included */
	size_t nheaders;
	const void *body;
	size_t bodylen;
	const char *amz_date;    /* "20260101T000000Z", equal to the X-Amz-Date header */
	const char *region;
	const char *service;     /* signing name: ec2, route53, sns, monitoring, autoscaling */
	const char *access_key;
	const char *secret_key;
};

/* Appends the Authorization header value to out.  Never logs. */
void sigv4_authorization(const struct sigv4_req *r, struct buf *out);
/* The canonical request, for tests and --debug comparisons (holds no secret). */
void sigv4_canonical_request(const struct sigv4_req *r, struct buf *out);
/* RFC 3986 percent-encoding of everything but A-Z a-z 0-9 - _ . ~ */
void sigv4_uri_encode(struct buf *out, const char *s, size_t n, int keep_slash);
/* "20260101T000000Z" for the given wall time (ms since the epoch). */
void sigv4_amz_date(long long wall, char out[17]);

#endif
