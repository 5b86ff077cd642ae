/* sigv4.c: canonical request, string to sign, derived key, signature. */
#include "sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/sha256.h"

static const char hexdigits[] = "0123456789abcdef";

static void
hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[SHA256_LEN];

	sha256(p, n, md);
	hex(md, sizeof(md), out);
}

static void
hmac(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
	hmac_sha256(key, klen, msg, mlen, out);
}

void
sigv4_uri_encode(struct buf *out, const char *s, size_t n, int keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    (keep_slash && c == '/'))
			buf_addc(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
}

void
sigv4_amz_date(long long wall, char out[17])
{
	time_t t = (time_t)(wall / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

struct pair {
	const char *k, *v;
	size_t klen, vlen;
};

static int
cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->k, y->k, n);

	if (c != 0 || x->klen != y->klen)
		return c != 0 ? c : (x->klen < y->klen ? -1 : 1);
	n = x->vlen < y->vlen ? x->vlen : y->vlen;
	c = memcmp(x->v, y->v, n);
	if (c != 0 || x->vlen == y->vlen)
		return c;
	return x->vlen < y->vlen ? -1 : 1;
}

/* The query as sent (already encoded), pairs sorted by key then value. */
static void
canonical_query(const char *q, struct buf *out)
{
	struct pair *pairs = NULL;
	size_t n = 0;
	const char *p = q;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);

		pairs = xrealloc(pairs, (n + 1) * sizeof(*pairs));
		pairs[n].k = p;
		pairs[n].klen = eq ? (size_t)(eq - p) : len;
		pairs[n].v = eq ? eq + 1 : p + len;
		pairs[n].vlen = eq ? len - pairs[n].klen - 1 : 0;
		n++;
		p = amp ? amp + 1 : NULL;
	}
	if (n > 1)
		qsort(pairs, n, sizeof(*pairs), cmp_pair);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(out, '&');
		buf_add(out, pairs[i].k, pairs[i].klen);
		buf_addc(out, '=');
		buf_add(out, pairs[i].v, pairs[i].vlen);
	}
	free(pairs);
}

struct lheader {
	char *name;   /* lower case */
	char *value;  /* trimmed, inner runs of spaces collapsed */
};

static int
cmp_lheader(const void *a, const void *b)
{
	return strcmp(((const struct lheader *)a)->name, ((const struct lheader *)b)->name);
}

static void
sorted_headers(const struct sigv4_req *r, struct lheader *hs)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *v = r->headers[i].value;
		struct buf b;

		hs[i].name = xstrdup(r->headers[i].name);
		for (char *c = hs[i].name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		buf_init(&b);
		while (*v == ' ' || *v == '\t')
			v++;
		for (; *v; v++) {
			if (*v == ' ' || *v == '\t') {
				while (v[1] == ' ' || v[1] == '\t')
					v++;
				if (v[1] == '\0')
					break;
				buf_addc(&b, ' ');
			} else
				buf_addc(&b, *v);
		}
		hs[i].value = buf_steal(&b);
	}
	qsort(hs, r->nheaders, sizeof(*hs), cmp_lheader);
}

static void
build(const struct sigv4_req *r, struct buf *cr, struct buf *signed_names)
{
	struct lheader *hs = xcalloc(r->nheaders ? r->nheaders : 1, sizeof(*hs));
	char payload[65];

	buf_adds(cr, r->method);
	buf_addc(cr, '\n');
	/* Services other than S3 sign the path percent-encoded once more. */
	const char *path = r->path && *r->path ? r->path : "/";
	sigv4_uri_encode(cr, path, strlen(path), 1);
	buf_addc(cr, '\n');
	canonical_query(r->query ? r->query : "", cr);
	buf_addc(cr, '\n');
	sorted_headers(r, hs);
	for (size_t i = 0; i < r->nheaders; i++) {
		buf_printf(cr, "%s:%s\n", hs[i].name, hs[i].value);
		if (i)
			buf_addc(signed_names, ';');
		buf_adds(signed_names, hs[i].name);
	}
	buf_addc(cr, '\n');
	buf_add(cr, signed_names->data ? signed_names->data : "", signed_names->len);
	buf_addc(cr, '\n');
	sha256_hex(r->body ? r->body : "", r->body ? r->bodylen : 0, payload);
	buf_adds(cr, payload);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(hs[i].name);
		free(hs[i].value);
	}
	free(hs);
}

void
sigv4_canonical_request(const struct sigv4_req *r, struct buf *out)
{
	struct buf names;

	buf_init(&names);
	build(r, out, &names);
	buf_free(&names);
}

void
sigv4_authorization(const struct sigv4_req *r, struct buf *out)
{
	struct buf cr, names, sts, scope, kdate_key;
	unsigned char k[32], k2[32], sig[32];
	char crhash[65], sighex[65], day[9];

	buf_init(&cr);
	buf_init(&names);
	buf_init(&sts);
	buf_init(&scope);
	buf_init(&kdate_key);
	build(r, &cr, &names);
	sha256_hex(cr.data, cr.len, crhash);
	memcpy(day, r->amz_date, 8);
	day[8] = '\0';
	buf_printf(&scope, "%s/%s/%s/aws4_request", day, r->region, r->service);
	buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope.data, crhash);

	buf_printf(&kdate_key, "AWS4%s", r->secret_key);
	hmac(kdate_key.data, kdate_key.len, day, strlen(day), k);
	hmac(k, sizeof(k), r->region, strlen(r->region), k2);
	hmac(k2, sizeof(k2), r->service, strlen(r->service), k);
	hmac(k, sizeof(k), "aws4_request", strlen("aws4_request"), k2);
	hmac(k2, sizeof(k2), sts.data, sts.len, sig);
	hex(sig, sizeof(sig), sighex);

	buf_printf(out, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
	    r->access_key, scope.data, names.data ? names.data : "", sighex);

	/* The secret and everything derived from it leave no copy behind. */
	explicit_bzero(kdate_key.data, kdate_key.len);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(k2, sizeof(k2));
	buf_free(&kdate_key);
	buf_free(&cr);
	buf_free(&names);
	buf_free(&sts);
	buf_free(&scope);
}
