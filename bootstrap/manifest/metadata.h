/* metadata.h: instance facts (instance-id, AZ, region, addresses).
 * Keys are IMDS meta-data paths ("placement/availability-zone").  Values come
 * from --metadata / --metadata-file, from IMDS through a fetch hook, or from
 * clearly marked defaults when planning offline. */
#ifndef HABOOT_METADATA_H
#define HABOOT_METADATA_H

#include "kv.h"

struct metadata {
	struct kv values;
	/* Live source, tried for keys not set: 0 and *out malloc'd, or -1. */
	int (*fetch)(void *arg, const char *key, char **out);
	void *fetch_arg;
	int offline_defaults; /* fall back to marked defaults (plan without IMDS) */
};

void md_init(struct metadata *md);
void md_free(struct metadata *md);
/* "KEY=VALUE"; short aliases az, region, instance-id, ip are accepted. */
int md_set_arg(struct metadata *md, const char *arg, const char **why);
/* KEY=VALUE lines (# comments) or a JSON object of strings. */
int md_load_file(struct metadata *md, const char *path, char **why);
/* The value, or NULL when unknown (after trying the live source, then defaults). */
const char *md_get(struct metadata *md, const char *key);
const char *md_origin(struct metadata *md, const char *key);
/* Canonical key for an alias, or the key itself. */
const char *md_canonical(const char *key);
/* Whether key is a metadata key a manifest may reference (route53 value). */
int md_known_key(const char *key);

#endif
