/* creds.c: environment keys or the instance role's rotating keys. */
#include "creds.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imds.h"
#include "jsonkit.h"
#include "log.h"
#include "util.h"

/* Fetch again this long before Expiration (IMDS itself rotates role keys
 * well before that, so a fresh fetch is a fresh key). */
#define REFRESH_BEFORE_MS (5 * 60 * 1000LL)

static void
free_secret(char **p)
{
	if (*p != NULL) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void
creds_clear(struct creds *c)
{
	free_secret(&c->access_key);
	free_secret(&c->secret_key);
	free_secret(&c->session_token);
	c->expires = 0;
}

void
creds_src_init(struct creds_src *s, struct imds *imds)
{
	memset(s, 0, sizeof(*s));
	s->imds = imds;
}

void
creds_src_free(struct creds_src *s)
{
	creds_clear(&s->cur);
	free(s->role);
	free(s->desc);
	memset(s, 0, sizeof(*s));
}

void
creds_invalidate(struct creds_src *s)
{
	if (!s->from_env)
		s->have = false;
}

long long
creds_parse_time(const char *s)
{
	struct tm tm;
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	s += n;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			;
	if (strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000;
}

int
creds_parse_imds_json(const char *json, struct creds *c, char **err)
{
	json_object *o = json_tokener_parse(json);
	const char *code, *ak, *sk, *tok, *exp;
	int rc = -1;

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		*err = xstrdup("the credentials document is not a JSON object");
		goto out;
	}
	code = jk_get_str(o, "Code");
	if (code != NULL && strcmp(code, "Success") != 0) {
		const char *msg = jk_get_str(o, "Message");

		*err = xasprintf("IMDS reports Code=%s%s%s", code, msg ? ": " : "", msg ? msg : "");
		goto out;
	}
	ak = jk_get_str(o, "AccessKeyId");
	sk = jk_get_str(o, "SecretAccessKey");
	tok = jk_get_str(o, "Token");
	exp = jk_get_str(o, "Expiration");
	if (ak == NULL || sk == NULL || !*ak || !*sk) {
		*err = xstrdup("the credentials document lacks AccessKeyId or SecretAccessKey");
		goto out;
	}
	long long when = 0;
	if (exp != NULL && (when = creds_parse_time(exp)) < 0) {
		*err = xasprintf("the credentials document has a malformed Expiration \"%s\"", exp);
		goto out;
	}
	creds_clear(c);
	c->access_key = xstrdup(ak);
	c->secret_key = xstrdup(sk);
	c->session_token = tok && *tok ? xstrdup(tok) : NULL;
	c->expires = when;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

static int
from_env(struct creds_src *s, char **err)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	bool have_ak = ak && *ak, have_sk = sk && *sk;

	if (!have_ak && !have_sk)
		return 1;
	if (!have_ak || !have_sk) {
		*err = xasprintf("%s is set but %s is not: set both, or neither to use the "
		    "instance role", have_ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		    have_ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -1;
	}
	creds_clear(&s->cur);
	s->cur.access_key = xstrdup(ak);
	s->cur.secret_key = xstrdup(sk);
	s->cur.session_token = tok && *tok ? xstrdup(tok) : NULL;
	s->have = true;
	s->from_env = true;
	s->refresh_at = 0;
	free(s->desc);
	s->desc = xstrdup("environment");
	return 0;
}

static int
from_role(struct creds_src *s, char **err)
{
	struct buf b;
	struct creds c = {0};
	char *path = NULL, *why = NULL;
	int rc = -1, r;

	buf_init(&b);
	if (s->role == NULL) {
		if (imds_disabled(s->imds)) {
			*err = xstrdup("no credentials: AWS_ACCESS_KEY_ID is not set, and IMDS is "
			    "disabled (AWS_EC2_METADATA_DISABLED=true), so there is no instance role to "
			    "ask: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN "
			    "for temporary keys), or run on an instance whose launch template has an "
			    "instance profile");
			goto out;
		}
		r = imds_get(s->imds, "iam/security-credentials/", &b);
		if (r == IMDS_NOT_FOUND) {
			*err = xstrdup("no credentials: AWS_ACCESS_KEY_ID is not set and this instance "
			    "has no IAM role (IMDS iam/security-credentials/ is 404): attach an "
			    "instance profile to the instance or launch template");
			goto out;
		}
		if (r != IMDS_OK) {
			*err = xasprintf("no credentials: AWS_ACCESS_KEY_ID is not set and the "
			    "instance role is unreadable: %s", imds_error(s->imds));
			goto out;
		}
		/* One role per instance profile: the first line names it. */
		size_t n = strcspn(b.data, "\r\n");
		while (n > 0 && isspace((unsigned char)b.data[n - 1]))
			n--;
		if (n == 0) {
			*err = xstrdup("no credentials: IMDS lists no role under "
			    "iam/security-credentials/: attach an instance profile with a role");
			goto out;
		}
		s->role = xstrndup(b.data, n);
	}
	path = xasprintf("iam/security-credentials/%s", s->role);
	r = imds_get(s->imds, path, &b);
	if (r != IMDS_OK) {
		*err = xasprintf("cannot read the credentials of instance role %s: %s", s->role,
		    imds_error(s->imds));
		/* The role may have been swapped: list the roles again next time. */
		if (r == IMDS_NOT_FOUND) {
			free(s->role);
			s->role = NULL;
		}
		goto out;
	}
	if (creds_parse_imds_json(b.data, &c, &why) < 0) {
		*err = xasprintf("instance role %s: %s", s->role, why);
		goto out;
	}
	creds_clear(&s->cur);
	s->cur = c;
	memset(&c, 0, sizeof(c));
	s->have = true;
	s->from_env = false;
	free(s->desc);
	s->desc = xasprintf("instance role %s", s->role);
	s->refresh_at = 0;
	if (s->cur.expires > 0) {
		long long now = wall_ms(), life = s->cur.expires - now;
		/* Keys handed out with less than twice the margin left would otherwise
		 * be fetched again before every call: refresh those at half-life. */
		long long margin = life / 2 < REFRESH_BEFORE_MS ? life / 2 : REFRESH_BEFORE_MS;

		s->refresh_at = s->cur.expires - (margin > 0 ? margin : 0);
		char when[40];
		fmt_iso8601(s->cur.expires, false, when, sizeof(when));
		log_debug("aws", "credentials of instance role %s expire at %s", s->role, when);
	}
	rc = 0;
out:
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	creds_clear(&c);
	free(path);
	free(why);
	return rc;
}

int
creds_get(struct creds_src *s, const struct creds **out, char **err)
{
	int r;

	*err = NULL;
	if (s->have && (s->refresh_at == 0 || wall_ms() < s->refresh_at)) {
		*out = &s->cur;
		return 0;
	}
	if (!s->have && (r = from_env(s, err)) <= 0) {
		if (r < 0)
			return -1;
		*out = &s->cur;
		return 0;
	}
	if (s->imds == NULL) {
		*err = xstrdup("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
		    "run on an instance with an IAM role (IMDS is not in use here)");
		return -1;
	}
	if (from_role(s, err) < 0) {
		/* Keys not yet expired still work: use them, and try again next call. */
		if (s->have && s->cur.expires > wall_ms()) {
			log_warn("aws", "cannot refresh credentials (%s): using the current ones "
			    "until they expire", *err);
			free(*err);
			*err = NULL;
			*out = &s->cur;
			return 0;
		}
		s->have = false;
		return -1;
	}
	*out = &s->cur;
	return 0;
}
