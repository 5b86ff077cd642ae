/* http.h: one libcurl easy handle per endpoint, reused so calls keep the
 * connection (and TLS session) alive.  TLS is always verified.  This layer
 * never logs: callers log what they may (never Authorization, security
 * tokens or IMDS tokens). */
#ifndef HABOOT_HTTP_H
#define HABOOT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define HTTP_BODY_MAX_DEFAULT (8u * 1024 * 1024)

struct http;

struct http_req {
	const char *method;            /* "GET", "PUT", "POST", ... */
	const char *url;
	const char *const *headers;    /* "Name: value" lines, NULL-terminated, or NULL */
	const void *body;              /* may be NULL */
	size_t bodylen;
	long long connect_timeout_ms;  /* 0: 5s */
	long long timeout_ms;          /* whole exchange; 0: 30s */
	size_t max_body;               /* response cap; 0: HTTP_BODY_MAX_DEFAULT */
	bool no_proxy;                 /* ignore http_proxy & co (IMDS is link-local) */
};

struct http_header {
	char *name;
	char *value;
};

struct http_resp {
	long status;                   /* 0 when no HTTP answer came */
	struct http_header *headers;
	size_t nheaders;
	struct buf body;               /* always NUL-terminated once http_do returned */
	bool transient;                /* transport failure worth retrying */
	char err[256];                 /* transport failure, "" when status > 0 */
};

/* A handle for one endpoint; NULL only if libcurl cannot start. */
struct http *http_new(void);
void http_free(struct http *h);
/* 0: an HTTP answer arrived (any status); -1: transport failure (resp->err). */
int http_do(struct http *h, const struct http_req *req, struct http_resp *resp);
void http_resp_init(struct http_resp *r);
void http_resp_free(struct http_resp *r);
/* First header of that name (case-insensitive), or NULL. */
const char *http_resp_header(const struct http_resp *r, const char *name);
/* The CA bundle TLS uses: AWS_CA_BUNDLE, else the first distribution bundle
 * that exists, else NULL (libcurl's built-in default). */
const char *http_ca_bundle(void);

#endif
