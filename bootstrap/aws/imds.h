/* imds.h: the EC2 instance metadata service, IMDSv2.
 * One session token (TTL 21600 s) is fetched once and reused; a 401 fetches a
 * new one once; a 403 stops at once; connection errors, 5xx and 429 are retried
 * with capped, jittered backoff under a deadline, because IMDS is often not
 * reachable in the first seconds of boot.  Tokens are never logged.
 *
 * Environment (as the AWS SDKs read it):
 *   AWS_EC2_METADATA_DISABLED=true            no IMDS at all
 *   AWS_EC2_METADATA_SERVICE_ENDPOINT=URL     default http://169.254.169.254
 *   AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6   http://[fd00:ec2::254] */
#ifndef HABOOT_IMDS_H
#define HABOOT_IMDS_H

#include <stdbool.h>

#include "util.h"

#define IMDS_DEFAULT_DEADLINE_MS (60 * 1000)
#define IMDS_TOKEN_TTL_S 21600

enum {
	IMDS_OK = 0,
	IMDS_NOT_FOUND = 1,  /* 404: the key (or user-data) does not exist */
	IMDS_ERROR = -1,     /* imds_error() says why */
};

struct imds;

/* Reads the environment; NULL with *err (malloc'd) for a bad setting. */
struct imds *imds_new(char **err);
void imds_free(struct imds *m);
/* Budget of one call, retries included (default IMDS_DEFAULT_DEADLINE_MS). */
void imds_set_deadline(struct imds *m, long long ms);
long long imds_deadline(const struct imds *m);
/* Allow falling back to IMDSv1 (no token) when IMDS issues no token. */
void imds_allow_v1(struct imds *m, bool allow);
const char *imds_endpoint(const struct imds *m);
/* AWS_EC2_METADATA_DISABLED is set: every call fails at once. */
bool imds_disabled(const struct imds *m);
/* Why the last call failed (or was not found). */
const char *imds_error(const struct imds *m);

/* A meta-data key ("instance-id", "placement/region"); a path starting with
 * '/' is taken as it is ("/latest/dynamic/instance-identity/document"). */
int imds_get(struct imds *m, const char *key, struct buf *out);
/* Raw user-data (possibly gzipped); IMDS_NOT_FOUND when there is none. */
int imds_user_data(struct imds *m, struct buf *out);
/* The metadata fetch hook (struct metadata): arg is a struct imds. */
int imds_md_fetch(void *arg, const char *key, char **out);

#endif
