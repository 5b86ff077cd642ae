/* metadata.h: instance facts (instance-id, AZ, region, addresses).
 * Keys are IMDS meta-data paths ("placement/availability-zone").  Values come
 * from --metadata / --metadata-file, from IMDS through a fetch hook, or from
 * clearly marked defaults when planning offline. */
#ifndef HABOOT_METADATA_H
#define HABOOT_METADATA_H

#include <stdbool.h>

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
/* "KEY=VALUE"; short aliases az, region, instance-id, ip are accepted.  A key
 * haboot never reads is refused, naming the known ones.  *why is malloc'd. */
int md_set_arg(struct metadata *md, const char *arg, char **why);
/* KEY=VALUE lines (# comments) or a JSON object of strings. */
int md_load_file(struct metadata *md, const char *path, char **why);
/* The value, or NULL when unknown (after trying the live source, then defaults). */
const char *md_get(struct metadata *md, const char *key);
const char *md_origin(struct metadata *md, const char *key);
/* Canonical key for an alias, or the key itself. */
const char *md_canonical(const char *key);
/* Whether key is a metadata key a manifest may reference (route53 value). */
int md_known_key(const char *key);
/* 0 for a known key (or alias); -1 with *why (malloc'd): the known keys and
 * a did-you-mean. */
int md_check_key(const char *key, char **why);
/* The region an availability zone lies in (us-west-2a: us-west-2); 0, or -1
 * when az is not a zone name.  *region is malloc'd. */
int md_region_of_az(const char *az, char **region);
/* Settles the region from what was given: --metadata region (or the file),
 * else the region of a given az, else (offline, where no IMDS can say where
 * the instance is) AWS_REGION, else AWS_DEFAULT_REGION: the command line
 * beats the environment, as the AWS CLI's --region does.  A given region and
 * az that disagree are an error: 0, or -1 with *why.  When the environment
 * names another region than the one settled (AWS calls still go there),
 * *warn says so.  Both malloc'd. */
int md_settle_region(struct metadata *md, bool offline, char **why, char **warn);

#endif
