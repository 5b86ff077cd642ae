/* kv.h: a small ordered string map (metadata values, facts modules share). */
#ifndef HABOOT_KV_H
#define HABOOT_KV_H

#include <stddef.h>

struct kv_entry {
	char *key;
	char *val;
	char *origin; /* where the value came from: "imds", "--metadata", "default", a module */
};

struct kv {
	struct kv_entry *e;
	size_t n, cap;
};

void kv_init(struct kv *kv);
void kv_free(struct kv *kv);
void kv_set(struct kv *kv, const char *key, const char *val, const char *origin);
const char *kv_get(const struct kv *kv, const char *key);
const struct kv_entry *kv_find(const struct kv *kv, const char *key);

#endif
