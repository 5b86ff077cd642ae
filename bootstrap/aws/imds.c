/* imds.c: IMDSv2 client with token reuse, retries and a deadline. */
#include "imds.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backoff.h"
#include "http.h"
#include "log.h"

#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define IMDS_IPV6_ENDPOINT "http://[fd00:ec2::254]"
#define TOKEN_HEADER "X-aws-ec2-metadata-token"
#define TOKEN_TTL_STR "21600" /* IMDS_TOKEN_TTL_S, as the header spells it */
#define BODY_MAX (1024 * 1024)
/* Backoff between attempts: IMDS comes up within seconds, so keep probing often. */
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 2000
/* A first progress line once a wait gets long, then one every NOTE_EVERY_MS. */
#define NOTE_AFTER_MS 5000
#define NOTE_EVERY_MS 10000

struct imds {
	struct http *http;
	char *endpoint;
	bool disabled;
	bool allow_v1;
	bool v1;              /* fell back to tokenless requests */
	long long deadline_ms;
	char *token;          /* secret: never logged */
	long long token_until; /* mono ms when a fresh token is due */
	bool gave_up;         /* a call already waited its whole deadline */
	char *err;
};

/* Outcome of one attempt. */
enum try { TRY_OK, TRY_NOT_FOUND, TRY_FINAL, TRY_AGAIN, TRY_NOW };

static void
seterr(struct imds *m, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(m->err);
	m->err = buf_steal(&b);
}

static bool
env_true(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && strcasecmp(v, "true") == 0;
}

struct imds *
imds_new(char **err)
{
	struct imds *m = xcalloc(1, sizeof(*m));
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");

	*err = NULL;
	m->deadline_ms = IMDS_DEFAULT_DEADLINE_MS;
	m->disabled = env_true("AWS_EC2_METADATA_DISABLED");
	if (ep != NULL && *ep != '\0') {
		if (!str_starts(ep, "http://") && !str_starts(ep, "https://")) {
			*err = xasprintf("AWS_EC2_METADATA_SERVICE_ENDPOINT=%s is not an http:// or "
			    "https:// URL", ep);
			goto fail;
		}
		m->endpoint = xstrdup(ep);
	} else if (mode != NULL && *mode != '\0' && strcasecmp(mode, "IPv4") != 0) {
		if (strcasecmp(mode, "IPv6") != 0) {
			*err = xasprintf("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=%s: use IPv4 or IPv6",
			    mode);
			goto fail;
		}
		m->endpoint = xstrdup(IMDS_IPV6_ENDPOINT);
	} else {
		m->endpoint = xstrdup(IMDS_DEFAULT_ENDPOINT);
	}
	size_t n = strlen(m->endpoint);
	while (n > 0 && m->endpoint[n - 1] == '/')
		m->endpoint[--n] = '\0';
	if ((m->http = http_new()) == NULL) {
		*err = xstrdup("cannot initialise libcurl");
		goto fail;
	}
	return m;
fail:
	imds_free(m);
	return NULL;
}

void
imds_free(struct imds *m)
{
	if (m == NULL)
		return;
	http_free(m->http);
	if (m->token != NULL) {
		explicit_bzero(m->token, strlen(m->token));
		free(m->token);
	}
	free(m->endpoint);
	free(m->err);
	free(m);
}

void
imds_set_deadline(struct imds *m, long long ms)
{
	m->deadline_ms = ms;
}

long long
imds_deadline(const struct imds *m)
{
	return m->deadline_ms;
}

void
imds_allow_v1(struct imds *m, bool allow)
{
	m->allow_v1 = allow;
}

bool
imds_disabled(const struct imds *m)
{
	return m->disabled;
}

const char *
imds_endpoint(const struct imds *m)
{
	return m->endpoint;
}

const char *
imds_error(const struct imds *m)
{
	return m->err ? m->err : "no error";
}

static void
drop_token(struct imds *m)
{
	if (m->token != NULL) {
		explicit_bzero(m->token, strlen(m->token));
		free(m->token);
		m->token = NULL;
	}
}

/* One HTTP exchange, bounded by what is left of the deadline (but long enough
 * for a real answer even when a call has no retry budget left). */
static int
exchange(struct imds *m, const char *method, const char *path, const char *header,
    long long left, size_t max, struct http_resp *r)
{
	char *url = xasprintf("%s%s", m->endpoint, path);
	const char *hdrs[2] = {header, NULL};
	long long total = left < 1000 ? 1000 : left > 3000 ? 3000 : left;
	struct http_req rq = {
		.method = method,
		.url = url,
		.headers = header ? hdrs : NULL,
		.connect_timeout_ms = total < 1000 ? total : 1000,
		.timeout_ms = total,
		.max_body = max,
		.no_proxy = true,
	};
	long long t0 = mono_ms();
	int rc;

	rc = http_do(m->http, &rq, r);
	if (rc == 0)
		log_debug("imds", "%s %s: HTTP %ld (%lldms)", method, path, r->status, mono_ms() - t0);
	else
		log_debug("imds", "%s %s: %s (%lldms)", method, path, r->err, mono_ms() - t0);
	free(url);
	return rc;
}

static enum try
fetch_token(struct imds *m, long long left, struct buf *why)
{
	struct http_resp r;
	enum try t = TRY_FINAL;
	size_t n;

	http_resp_init(&r);
	if (exchange(m, "PUT", "/latest/api/token",
	    "X-aws-ec2-metadata-token-ttl-seconds: " TOKEN_TTL_STR, left, 4096,
	    &r) < 0) {
		buf_reset(why);
		buf_printf(why, "%s", r.err);
		t = TRY_AGAIN;
		goto out;
	}
	switch (r.status) {
	case 200:
		n = r.body.len;
		while (n > 0 && isspace((unsigned char)r.body.data[n - 1]))
			n--;
		if (n == 0) {
			seterr(m, "IMDS at %s answered the token request with an empty token",
			    m->endpoint);
			goto out;
		}
		drop_token(m);
		m->token = xstrndup(r.body.data, n);
		/* Renew a minute early so no request carries an expiring token. */
		m->token_until = mono_ms() + (IMDS_TOKEN_TTL_S - 60) * 1000LL;
		t = TRY_OK;
		break;
	case 403:
	case 404:
	case 405:
		if (m->allow_v1) {
			log_warn("imds", "IMDS at %s issued no session token (HTTP %ld): using IMDSv1 "
			    "as --imdsv1 allows", m->endpoint, r.status);
			m->v1 = true;
			t = TRY_OK;
			break;
		}
		seterr(m, "IMDS at %s issued no session token (HTTP %ld to PUT /latest/api/token): "
		    "haboot needs IMDSv2 (set the instance's metadata options to http-tokens "
		    "required or optional, or pass --imdsv1 to allow the IMDSv1 fallback)",
		    m->endpoint, r.status);
		break;
	case 429:
		buf_reset(why);
		buf_printf(why, "HTTP 429 (throttled) on the token request");
		t = TRY_AGAIN;
		break;
	default:
		if (r.status >= 500) {
			buf_reset(why);
			buf_printf(why, "HTTP %ld on the token request", r.status);
			t = TRY_AGAIN;
			break;
		}
		seterr(m, "IMDS at %s rejected the token request with HTTP %ld", m->endpoint,
		    r.status);
	}
out:
	if (r.body.data != NULL)
		explicit_bzero(r.body.data, r.body.len);
	http_resp_free(&r);
	return t;
}

static enum try
try_once(struct imds *m, const char *path, long long left, size_t max, struct buf *out,
    struct buf *why, bool *refreshed)
{
	struct http_resp r;
	char *hdr = NULL;
	enum try t = TRY_FINAL;

	http_resp_init(&r);
	if (!m->v1 && (m->token == NULL || mono_ms() >= m->token_until)) {
		if ((t = fetch_token(m, left, why)) != TRY_OK)
			goto out;
		t = TRY_FINAL;
	}
	if (m->token != NULL && !m->v1)
		hdr = xasprintf(TOKEN_HEADER ": %s", m->token);
	if (exchange(m, "GET", path, hdr, left, max, &r) < 0) {
		buf_reset(why);
		buf_printf(why, "%s", r.err);
		t = TRY_AGAIN;
		goto out;
	}
	switch (r.status) {
	case 200:
		buf_reset(out);
		buf_add(out, r.body.data, r.body.len);
		t = TRY_OK;
		break;
	case 404:
		seterr(m, "IMDS has no %s (HTTP 404)", path);
		t = TRY_NOT_FOUND;
		break;
	case 401:
		if (m->v1) {
			seterr(m, "IMDS at %s requires a session token (HTTP 401 for %s) but issued "
			    "none", m->endpoint, path);
			break;
		}
		if (!*refreshed) {
			/* Expired or revoked: one fresh token, at once. */
			log_debug("imds", "HTTP 401 for %s: fetching a new session token", path);
			drop_token(m);
			*refreshed = true;
			t = TRY_NOW;
			break;
		}
		seterr(m, "IMDS at %s rejected a fresh session token (HTTP 401 for %s)",
		    m->endpoint, path);
		break;
	case 403:
		seterr(m, "IMDS at %s refused %s (HTTP 403 Forbidden): the instance metadata "
		    "service may be turned off for this instance (aws ec2 "
		    "modify-instance-metadata-options --http-endpoint enabled), or a proxy "
		    "header reached it", m->endpoint, path);
		break;
	case 429:
		buf_reset(why);
		buf_printf(why, "HTTP 429 (throttled)");
		t = TRY_AGAIN;
		break;
	default:
		if (r.status >= 500) {
			buf_reset(why);
			buf_printf(why, "HTTP %ld", r.status);
			t = TRY_AGAIN;
			break;
		}
		seterr(m, "IMDS at %s answered HTTP %ld for %s", m->endpoint, r.status, path);
	}
out:
	if (hdr != NULL) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	http_resp_free(&r);
	return t;
}

static int
call(struct imds *m, const char *path, size_t max, struct buf *out)
{
	long long t0 = mono_ms(), deadline, next_note, now;
	struct buf why;
	bool refreshed = false;
	int attempt = 0, rc = IMDS_ERROR;
	char budget[32], waited[32], left_s[32];

	buf_init(&why);
	if (m->disabled) {
		/* Callers add the remedy that fits what they were reading. */
		seterr(m, "IMDS is disabled (AWS_EC2_METADATA_DISABLED=true)");
		goto out;
	}
	/* After one call waited out its deadline, later ones try once: a boot
	 * must not stall a full deadline per metadata key. */
	deadline = t0 + (m->gave_up ? 0 : m->deadline_ms);
	next_note = t0 + NOTE_AFTER_MS;
	for (;;) {
		enum try t = try_once(m, path, deadline - mono_ms(), max, out, &why, &refreshed);

		if (t == TRY_OK) {
			m->gave_up = false;
			rc = IMDS_OK;
			break;
		}
		if (t == TRY_NOT_FOUND) {
			rc = IMDS_NOT_FOUND;
			break;
		}
		if (t == TRY_FINAL)
			break;
		if (t == TRY_NOW)
			continue;
		now = mono_ms();
		if (now >= deadline) {
			fmt_duration(m->gave_up ? now - t0 : m->deadline_ms, budget, sizeof(budget));
			seterr(m, "IMDS at %s did not answer %s within %s (last error: %s); on EC2 "
			    "check the instance's metadata options (http-endpoint enabled, "
			    "http-put-response-hop-limit), elsewhere set "
			    "AWS_EC2_METADATA_SERVICE_ENDPOINT or AWS_EC2_METADATA_DISABLED=true",
			    m->endpoint, path, budget, why.data);
			m->gave_up = true;
			break;
		}
		long long delay = backoff_equal_jitter(attempt++, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
		if (delay > deadline - now)
			delay = deadline - now;
		/* Say so before a sleep that crosses the mark, not after: the answer
		 * may come right after the sleep and the wait would go unexplained. */
		if (now + delay >= next_note) {
			fmt_duration(now - t0, waited, sizeof(waited));
			fmt_duration(deadline - now, left_s, sizeof(left_s));
			log_info("imds", "IMDS at %s not answering yet (%s); waited %s, giving up in %s",
			    m->endpoint, why.data, waited, left_s);
			next_note = now + NOTE_EVERY_MS;
		}
		sleep_ms(delay);
	}
out:
	buf_free(&why);
	return rc;
}

int
imds_get(struct imds *m, const char *key, struct buf *out)
{
	char *path = key[0] == '/' ? xstrdup(key) : xasprintf("/latest/meta-data/%s", key);
	int rc = call(m, path, BODY_MAX, out);

	free(path);
	return rc;
}

int
imds_user_data(struct imds *m, struct buf *out)
{
	return call(m, "/latest/user-data", BODY_MAX, out);
}

int
imds_md_fetch(void *arg, const char *key, char **out)
{
	struct imds *m = arg;
	struct buf b;
	int rc;

	buf_init(&b);
	rc = imds_get(m, key, &b);
	if (rc == IMDS_OK) {
		size_t n = b.len;

		while (n > 0 && isspace((unsigned char)b.data[n - 1]))
			n--;
		*out = xstrndup(b.data, n);
	} else if (rc == IMDS_NOT_FOUND) {
		log_debug("imds", "%s", imds_error(m));
	} else if (m->disabled) {
		log_warn("imds", "cannot read %s: %s: give it with --metadata %s=VALUE", key,
		    imds_error(m), key);
	} else {
		log_warn("imds", "cannot read %s: %s", key, imds_error(m));
	}
	buf_free(&b);
	return rc == IMDS_OK ? 0 : -1;
}
