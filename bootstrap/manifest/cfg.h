/* cfg.h: typed reads of manifest nodes for the manifest and module parsers.
 * Each accessor reports its own problem at the node's position and returns
 * CFG_ABSENT, CFG_OK or CFG_BAD, so a parser checks every key in one pass. */
#ifndef HABOOT_CFG_H
#define HABOOT_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "facts.h"
#include "kv.h"
#include "yamltree.h"

enum { CFG_BAD = -1, CFG_ABSENT = 0, CFG_OK = 1 };

/* A value check: returns NULL if s is fine, else why it is not. */
typedef const char *(*cfg_check_fn)(const char *s);

struct cfg {
	struct diag *d;
	/* The mapping cfg_map last checked and its name, so a missing key is
	 * reported as "volume module is missing required key ...". */
	const struct ynode *map;
	const char *what;
	/* Facts a module's settings fix before anything runs (the filesystem's
	 * mountpoint), for the cross-module checks of modules written after it;
	 * NULL when parsing a module alone. */
	struct kv *facts;
};

/* Checks node is a mapping and has only allowed keys (NULL-terminated).
 * what names the object in messages ("volume module"). */
bool cfg_map(struct cfg *c, const struct ynode *n, const char *what, const char *const allowed[]);
/* Reports a missing required key at the map's position. */
void cfg_missing(struct cfg *c, const struct ynode *map, const char *what, const char *key,
    const char *hint);

int cfg_str(struct cfg *c, const struct ynode *map, const char *key, bool required,
    cfg_check_fn check, char **out);
int cfg_enum(struct cfg *c, const struct ynode *map, const char *key, bool required,
    const char *const names[], int *out);
int cfg_bool(struct cfg *c, const struct ynode *map, const char *key, bool required, bool *out);
int cfg_int(struct cfg *c, const struct ynode *map, const char *key, bool required, long long min,
    long long max, long long *out);
int cfg_duration(struct cfg *c, const struct ynode *map, const char *key, bool required,
    long long min_ms, long long max_ms, long long *out_ms);
/* A list of strings (a single string is not accepted: be explicit). */
int cfg_strlist(struct cfg *c, const struct ynode *map, const char *key, bool required,
    size_t min_items, cfg_check_fn check, char ***out, size_t *nout);
/* A mapping of string to string (tags). */
int cfg_strmap(struct cfg *c, const struct ynode *map, const char *key, bool required,
    char ***keys, char ***vals, size_t *n);

/* A scalar node read as a string, with the node's own type checked. */
int cfg_node_str(struct cfg *c, const struct ynode *n, const char *what, cfg_check_fn check,
    char **out);

void cfg_free_list(char **list, size_t n);

/* A fact this module's settings fix, for later modules' checks. */
void cfg_set_fact(struct cfg *c, enum fact f, const char *val, const struct ynode *at);
/* The fact as an earlier module fixed it, or NULL; *where is "line N". */
const char *cfg_fact(const struct cfg *c, enum fact f, const char **where);
/* The name in names (NULL-terminated) that word is a likely typo of, or NULL. */
const char *cfg_suggest(const char *word, const char *const names[]);

/* Shared value checks. */
const char *check_abs_path(const char *s);
const char *check_rel_name(const char *s);
const char *check_cidr_or_host(const char *s);
const char *check_dns_name(const char *s);
const char *check_nonempty(const char *s);
const char *check_ipv4(const char *s);
const char *check_ipv6(const char *s);
const char *check_arn(const char *s);

#endif
