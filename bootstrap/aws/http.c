/* http.c: a small libcurl easy-handle wrapper. */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef HABOOT_VERSION
#define HABOOT_VERSION "0.1.0-dev"
#endif

struct http {
	CURL *curl;
};

struct sink {
	struct http_resp *resp;
	size_t max;
	bool overflow;
};

/* Amazon Linux, Debian/Ubuntu, RHEL, then BSD-style: the static binary runs on
 * all of them, and libcurl's compiled-in path is only the build host's. */
static const char *const ca_bundles[] = {
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
};

const char *
http_ca_bundle(void)
{
	const char *env = getenv("AWS_CA_BUNDLE");

	if (env != NULL && *env != '\0')
		return env;
	for (size_t i = 0; i < HB_ARRAY_LEN(ca_bundles); i++)
		if (access(ca_bundles[i], R_OK) == 0)
			return ca_bundles[i];
	return NULL;
}

struct http *
http_new(void)
{
	static bool global_done;
	struct http *h;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		global_done = true;
	}
	h = xcalloc(1, sizeof(*h));
	if ((h->curl = curl_easy_init()) == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	free(h);
}

void
http_resp_init(struct http_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body);
}

static void
clear_headers(struct http_resp *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

void
http_resp_free(struct http_resp *r)
{
	clear_headers(r);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
}

const char *
http_resp_header(const struct http_resp *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	if (s->resp->body.len + len > s->max) {
		s->overflow = true;
		return 0;
	}
	buf_add(&s->resp->body, p, len);
	return len;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	struct http_resp *r = s->resp;
	size_t len = size * n;
	const char *colon;

	/* A new status line (after 100 Continue or a proxy's answer) starts over. */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		clear_headers(r);
		return len;
	}
	if ((colon = memchr(p, ':', len)) == NULL || r->nheaders >= 200)
		return len;
	size_t nlen = (size_t)(colon - p);
	const char *v = colon + 1, *end = p + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	r->headers = xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
	r->headers[r->nheaders].name = xstrndup(p, nlen);
	r->headers[r->nheaders].value = xstrndup(v, (size_t)(end - v));
	r->nheaders++;
	return len;
}

/* Failures where the same request may well work a moment later. */
static bool
transient(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool
has_header(const char *const *hdrs, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; hdrs && hdrs[i]; i++)
		if (strncasecmp(hdrs[i], name, n) == 0 && hdrs[i][n] == ':')
			return true;
	return false;
}

int
http_do(struct http *h, const struct http_req *req, struct http_resp *resp)
{
	struct curl_slist *hl = NULL, *tmp;
	char errbuf[CURL_ERROR_SIZE];
	struct sink sink = {.resp = resp};
	const char *ca;
	CURLcode cc;
	int rc = -1;

	http_resp_free(resp);
	http_resp_init(resp);
	sink.max = req->max_body ? req->max_body : HTTP_BODY_MAX_DEFAULT;
	errbuf[0] = '\0';
	/* Reset keeps live connections and caches, drops every option. */
	curl_easy_reset(h->curl);
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		if ((tmp = curl_slist_append(hl, req->headers[i])) == NULL)
			goto fail_alloc;
		hl = tmp;
	}
	/* No "Expect: 100-continue" round trip, and no Content-Type we did not choose. */
	if ((tmp = curl_slist_append(hl, "Expect:")) == NULL)
		goto fail_alloc;
	hl = tmp;
	if (!has_header(req->headers, "Content-Type")) {
		if ((tmp = curl_slist_append(hl, "Content-Type:")) == NULL)
			goto fail_alloc;
		hl = tmp;
	}
	curl_easy_setopt(h->curl, CURLOPT_URL, req->url);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if ((ca = http_ca_bundle()) != NULL)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "haboot/" HABOOT_VERSION);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 5000));
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS,
	    (long)(req->timeout_ms > 0 ? req->timeout_ms : 30000));
	if (req->no_proxy)
		curl_easy_setopt(h->curl, CURLOPT_PROXY, "");
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &sink);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, errbuf);
	if (strcmp(req->method, "GET") == 0 && req->body == NULL) {
		curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h->curl, CURLOPT_NOBODY, 1L);
	} else {
		/* POSTFIELDS sends the body (or Content-Length: 0); the verb is ours. */
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body ? req->bodylen : 0));
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		if (strcmp(req->method, "POST") != 0)
			curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, req->method);
	}
	cc = curl_easy_perform(h->curl);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
		rc = 0;
	} else if (sink.overflow) {
		snprintf(resp->err, sizeof(resp->err), "answer larger than %zu bytes", sink.max);
	} else {
		/* TLS libraries word it their own way ("Cert verify failed:
		 * BADCERT_NOT_TRUSTED"): say what it means, the same for all. */
		snprintf(resp->err, sizeof(resp->err), "%s%s",
		    cc == CURLE_PEER_FAILED_VERIFICATION ? "server certificate not verified: " :
		    cc == CURLE_SSL_CACERT_BADFILE ? "CA certificate bundle unreadable: " : "",
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		resp->transient = transient(cc);
	}
	goto out;
fail_alloc:
	snprintf(resp->err, sizeof(resp->err), "out of memory building the request");
out:
	/* The handle must not keep pointers into this call's stack or list. */
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	if (resp->body.data == NULL)
		buf_add(&resp->body, "", 0);
	return rc;
}
