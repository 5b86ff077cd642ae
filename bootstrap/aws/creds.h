/* creds.h: AWS credentials, as the SDKs look for them: the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then the
 * instance role from IMDS, fetched again five minutes before it expires.
 * Secrets are zeroed when dropped and never logged. */
#ifndef HABOOT_CREDS_H
#define HABOOT_CREDS_H

#include <stdbool.h>

struct imds;

struct creds {
	char *access_key;
	char *secret_key;
	char *session_token;  /* NULL for long-term keys */
	long long expires;    /* wall ms; 0 never */
};

struct creds_src {
	struct imds *imds;    /* borrowed; NULL: environment only */
	struct creds cur;
	bool have;
	bool from_env;
	long long refresh_at; /* wall ms at which to fetch again; 0 never */
	char *role;
	char *desc;           /* "environment", "instance role nfs-role" */
};

void creds_src_init(struct creds_src *s, struct imds *imds);
void creds_src_free(struct creds_src *s);
/* Current credentials, fetched or refreshed as needed: 0, or -1 with *err
 * (malloc'd, no secret in it). */
int creds_get(struct creds_src *s, const struct creds **out, char **err);
/* AWS said the token expired: fetch again on the next creds_get. */
void creds_invalidate(struct creds_src *s);
/* Parses IMDS's security-credentials document; 0 or -1 with *err. */
int creds_parse_imds_json(const char *json, struct creds *c, char **err);
void creds_clear(struct creds *c);
/* "2026-01-01T06:00:00Z" to wall ms; -1 when malformed. */
long long creds_parse_time(const char *s);

#endif
