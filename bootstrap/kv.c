/* kv.c: ordered string map; lookups are linear, maps hold a few dozen entries. */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void
kv_init(struct kv *kv)
{
	memset(kv, 0, sizeof(*kv));
}

void
kv_free(struct kv *kv)
{
	for (size_t i = 0; i < kv->n; i++) {
		free(kv->e[i].key);
		free(kv->e[i].val);
		free(kv->e[i].origin);
	}
	free(kv->e);
	kv_init(kv);
}

const struct kv_entry *
kv_find(const struct kv *kv, const char *key)
{
	for (size_t i = 0; i < kv->n; i++)
		if (strcmp(kv->e[i].key, key) == 0)
			return &kv->e[i];
	return NULL;
}

const char *
kv_get(const struct kv *kv, const char *key)
{
	const struct kv_entry *e = kv_find(kv, key);

	return e ? e->val : NULL;
}

void
kv_set(struct kv *kv, const char *key, const char *val, const char *origin)
{
	for (size_t i = 0; i < kv->n; i++)
		if (strcmp(kv->e[i].key, key) == 0) {
			free(kv->e[i].val);
			free(kv->e[i].origin);
			kv->e[i].val = xstrdup(val);
			kv->e[i].origin = xstrdup(origin ? origin : "");
			return;
		}
	if (kv->n == kv->cap) {
		kv->cap = kv->cap ? kv->cap * 2 : 16;
		kv->e = xrealloc(kv->e, kv->cap * sizeof(*kv->e));
	}
	kv->e[kv->n].key = xstrdup(key);
	kv->e[kv->n].val = xstrdup(val);
	kv->e[kv->n].origin = xstrdup(origin ? origin : "");
	kv->n++;
}
