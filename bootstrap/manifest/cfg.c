/* cfg.c: typed, positioned reads of manifest values. */
#include "cfg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static void
list_allowed(struct buf *b, const char *const allowed[])
{
	for (size_t i = 0; allowed[i] != NULL; i++)
		buf_printf(b, "%s%s", i ? ", " : "", allowed[i]);
}

/* Optimal string alignment distance, capped: typos are short. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[33][33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1], v = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

const char *
cfg_suggest(const char *word, const char *const names[])
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, max = strlen(word) <= 4 ? 1 : 2;

	for (size_t i = 0; names[i] != NULL; i++) {
		size_t dist = edit_distance(word, names[i]);

		/* "mount_options" is "options" with a prefix: worth naming too. */
		if (dist > max && strlen(names[i]) >= 4 && str_ends(word, names[i]))
			dist = max;
		if (dist <= max && dist < best_d) {
			best = names[i];
			best_d = dist;
		}
	}
	return best;
}

bool
cfg_map(struct cfg *c, const struct ynode *n, const char *what, const char *const allowed[])
{
	bool ok = true;

	if (n == NULL || n->kind != Y_MAP) {
		diag_err(c->d, n, "%s must be a mapping of keys to values, not %s", what, ykind_name(n));
		return false;
	}
	c->map = n;
	c->what = what;
	for (size_t i = 0; i < n->npairs; i++) {
		const struct ynode *k = n->pairs[i].key;
		const char *hint;
		bool known = false;

		if (k->kind != Y_SCALAR)
			continue; /* already reported by the tree builder */
		for (size_t j = 0; allowed[j] != NULL; j++)
			if (strcmp(allowed[j], k->str) == 0)
				known = true;
		if (!known) {
			struct buf b;

			buf_init(&b);
			list_allowed(&b, allowed);
			if ((hint = cfg_suggest(k->str, allowed)) != NULL)
				diag_err(c->d, k, "unknown key \"%s\" in %s: did you mean \"%s\"? "
				    "(allowed: %s)", k->str, what, hint, b.data);
			else
				diag_err(c->d, k, "unknown key \"%s\" in %s (allowed: %s)", k->str, what,
				    b.data);
			buf_free(&b);
			ok = false;
		}
	}
	return ok;
}

void
cfg_missing(struct cfg *c, const struct ynode *map, const char *what, const char *key,
    const char *hint)
{
	diag_err(c->d, map, "%s is missing required key \"%s\"%s%s", what, key, hint ? ": " : "",
	    hint ? hint : "");
}

/* Looks a key up; reports it missing when required. */
static const struct ynode *
lookup(struct cfg *c, const struct ynode *map, const char *key, bool required)
{
	const struct ynode *v = ymap_get(map, key);

	if (v == NULL && required) {
		if (map == c->map && c->what != NULL)
			diag_err(c->d, map, "%s is missing required key \"%s\"", c->what, key);
		else
			diag_err(c->d, map, "missing required key \"%s\"", key);
	}
	return v;
}

int
cfg_node_str(struct cfg *c, const struct ynode *n, const char *what, cfg_check_fn check, char **out)
{
	const char *why;

	if (n->kind != Y_SCALAR || n->stype != YS_STR) {
		if (n->kind == Y_SCALAR && n->stype == YS_NULL && n->str[0] == '\0')
			diag_err(c->d, n, "%s must be a string, but it has no value", what);
		else if (n->kind == Y_SCALAR)
			diag_err(c->d, n, "%s must be a string, not %s (quote it: \"%s\")", what,
			    ykind_name(n), n->str);
		else
			diag_err(c->d, n, "%s must be a string, not %s", what, ykind_name(n));
		return CFG_BAD;
	}
	if (check != NULL && (why = check(n->str)) != NULL) {
		diag_err(c->d, n, "%s \"%s\": %s", what, n->str, why);
		return CFG_BAD;
	}
	*out = xstrdup(n->str);
	return CFG_OK;
}

int
cfg_str(struct cfg *c, const struct ynode *map, const char *key, bool required, cfg_check_fn check,
    char **out)
{
	const struct ynode *v = lookup(c, map, key, required);

	if (v == NULL)
		return required ? CFG_BAD : CFG_ABSENT;
	char *prev = *out;
	int rc = cfg_node_str(c, v, key, check, out);

	if (rc == CFG_OK)
		free(prev); /* replaces a default */
	return rc;
}

int
cfg_enum(struct cfg *c, const struct ynode *map, const char *key, bool required,
    const char *const names[], int *out)
{
	const struct ynode *v = lookup(c, map, key, required);
	struct buf b;

	if (v == NULL)
		return required ? CFG_BAD : CFG_ABSENT;
	if (v->kind == Y_SCALAR && v->stype == YS_STR)
		for (int i = 0; names[i] != NULL; i++)
			if (strcmp(names[i], v->str) == 0) {
				*out = i;
				return CFG_OK;
			}
	buf_init(&b);
	list_allowed(&b, names);
	if (v->kind == Y_SCALAR)
		diag_err(c->d, v, "%s: \"%s\" is not one of: %s", key, v->str, b.data);
	else
		diag_err(c->d, v, "%s must be one of: %s (not %s)", key, b.data, ykind_name(v));
	buf_free(&b);
	return CFG_BAD;
}

int
cfg_bool(struct cfg *c, const struct ynode *map, const char *key, bool required, bool *out)
{
	const struct ynode *v = lookup(c, map, key, required);

	if (v == NULL)
		return required ? CFG_BAD : CFG_ABSENT;
	if (v->kind != Y_SCALAR || v->stype != YS_BOOL) {
		if (v->kind == Y_SCALAR && v->stype == YS_STR &&
		    (!strcasecmp(v->str, "true") || !strcasecmp(v->str, "false") ||
		    !strcasecmp(v->str, "yes") || !strcasecmp(v->str, "no")))
			diag_err(c->d, v, "%s must be true or false, not a string: remove the quotes",
			    key);
		else
			diag_err(c->d, v, "%s must be true or false, not %s", key, ykind_name(v));
		return CFG_BAD;
	}
	*out = v->bval;
	return CFG_OK;
}

/* "010" -> "10", "-007" -> "-7": the number a person who wrote it meant. */
static const char *
decimal_reading(const char *s, char *out, size_t size)
{
	const char *p = s + (*s == '-' || *s == '+');
	size_t j = 0;

	if (*s == '-')
		out[j++] = '-';
	while (*p == '0' && p[1] != '\0')
		p++;
	for (; *p && j < size - 1; p++)
		if (*p != '_')
			out[j++] = *p;
	out[j] = '\0';
	return out;
}

/* YAML 1.1, which editors and the schema test read as haboot does, reads
 * "010" as 8 and "1:30" as 90: allowed, but said, where it was written. */
static void
warn_surprising_int(struct cfg *c, const struct ynode *v, const char *key)
{
	const char *p = v->str + (v->str[0] == '-' || v->str[0] == '+');
	char dec[64];

	if (v->quoted)
		return;
	/* 07 is 7 either way: only a value that differs is worth a word. */
	if (p[0] == '0' && p[1] != '\0' && isdigit((unsigned char)p[1]) &&
	    strcmp(decimal_reading(v->str, dec, sizeof(dec)), "") != 0 &&
	    strtoll(dec, NULL, 10) != v->ival)
		diag_warn(c->d, v, "%s: %s is read as %lld: YAML 1.1 (as editors read it too) takes "
		    "a leading 0 for octal; write %lld to keep that value, or %s if you meant it "
		    "in decimal", key, v->str, v->ival, v->ival,
		    decimal_reading(v->str, dec, sizeof(dec)));
	else if (strchr(p, ':') != NULL)
		diag_warn(c->d, v, "%s: %s is read as %lld: YAML 1.1 (as editors read it too) takes "
		    "digits separated by ':' as base 60; write %lld, or quote it if it is not a "
		    "number", key, v->str, v->ival, v->ival);
}

int
cfg_int(struct cfg *c, const struct ynode *map, const char *key, bool required, long long min,
    long long max, long long *out)
{
	const struct ynode *v = lookup(c, map, key, required);

	if (v == NULL)
		return required ? CFG_BAD : CFG_ABSENT;
	if (v->kind != Y_SCALAR || v->stype != YS_INT) {
		bool digits = v->kind == Y_SCALAR && v->stype == YS_STR && v->str[0] != '\0' &&
		    strspn(v->str, "0123456789_") == strlen(v->str);

		if (digits && v->quoted)
			diag_err(c->d, v, "%s must be an integer, not a string: remove the quotes", key);
		else if (digits)
			/* 08 and 09: octal by their leading 0, but not octal digits. */
			diag_err(c->d, v, "%s: %s is not a number in YAML 1.1, which reads a leading 0 "
			    "as octal and 8 and 9 are not octal digits: write it without the leading 0",
			    key, v->str);
		else
			diag_err(c->d, v, "%s must be an integer between %lld and %lld, not %s", key, min,
			    max, ykind_name(v));
		return CFG_BAD;
	}
	warn_surprising_int(c, v, key);
	if (v->ival < min || v->ival > max) {
		diag_err(c->d, v, "%s must be between %lld and %lld, not %lld", key, min, max, v->ival);
		return CFG_BAD;
	}
	*out = v->ival;
	return CFG_OK;
}

int
cfg_duration(struct cfg *c, const struct ynode *map, const char *key, bool required,
    long long min_ms, long long max_ms, long long *out_ms)
{
	const struct ynode *v = lookup(c, map, key, required);
	const char *why;
	long long ms;
	char lo[32], hi[32];

	if (v == NULL)
		return required ? CFG_BAD : CFG_ABSENT;
	if (v->kind != Y_SCALAR || v->stype != YS_STR) {
		diag_err(c->d, v, "%s must be a duration with a unit such as \"90s\" or \"5m\", not %s",
		    key, ykind_name(v));
		return CFG_BAD;
	}
	if (parse_duration(v->str, &ms, &why) < 0) {
		diag_err(c->d, v, "%s: bad duration \"%s\": %s", key, v->str, why);
		return CFG_BAD;
	}
	if (ms < min_ms || ms > max_ms) {
		fmt_duration(min_ms, lo, sizeof(lo));
		fmt_duration(max_ms, hi, sizeof(hi));
		diag_err(c->d, v, "%s must be between %s and %s, not %s", key, lo, hi, v->str);
		return CFG_BAD;
	}
	*out_ms = ms;
	return CFG_OK;
}

void
cfg_set_fact(struct cfg *c, enum fact f, const char *val, const struct ynode *at)
{
	char where[32];

	if (c->facts == NULL || val == NULL)
		return;
	snprintf(where, sizeof(where), "line %d", at ? at->line : 0);
	kv_set(c->facts, fact_name(f), val, where);
}

const char *
cfg_fact(const struct cfg *c, enum fact f, const char **where)
{
	const struct kv_entry *e;

	if (c->facts == NULL || (e = kv_find(c->facts, fact_name(f))) == NULL)
		return NULL;
	*where = e->origin;
	return e->val;
}

void
cfg_free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int
cfg_strlist(struct cfg *c, const struct ynode *map, const char *key, bool required,
    size_t min_items, cfg_check_fn check, char ***out, size_t *nout)
{
	const struct ynode *v = lookup(c, map, key, required);
	char **list;
	size_t n = 0;
	int rc = CFG_OK;

	if (v == NULL)
		return required ? CFG_BAD : CFG_ABSENT;
	if (v->kind != Y_SEQ) {
		diag_err(c->d, v, "%s must be a list (e.g. [a, b]), not %s", key, ykind_name(v));
		return CFG_BAD;
	}
	if (v->nitems < min_items) {
		diag_err(c->d, v, "%s needs at least %zu item%s", key, min_items, min_items == 1 ? "" : "s");
		return CFG_BAD;
	}
	list = xcalloc(v->nitems + 1, sizeof(*list));
	for (size_t i = 0; i < v->nitems; i++) {
		char *s = NULL;

		if (cfg_node_str(c, v->items[i], key, check, &s) != CFG_OK)
			rc = CFG_BAD;
		else
			list[n++] = s;
	}
	if (rc != CFG_OK) {
		cfg_free_list(list, n);
		return rc;
	}
	cfg_free_list(*out, *nout);
	*out = list;
	*nout = n;
	return CFG_OK;
}

int
cfg_strmap(struct cfg *c, const struct ynode *map, const char *key, bool required, char ***keys,
    char ***vals, size_t *n)
{
	const struct ynode *v = lookup(c, map, key, required);
	int rc = CFG_OK;

	if (v == NULL)
		return required ? CFG_BAD : CFG_ABSENT;
	if (v->kind != Y_MAP || v->npairs == 0) {
		diag_err(c->d, v, "%s must be a non-empty mapping of names to values, not %s", key,
		    v->kind == Y_MAP ? "an empty mapping" : ykind_name(v));
		return CFG_BAD;
	}
	*keys = xcalloc(v->npairs, sizeof(char *));
	*vals = xcalloc(v->npairs, sizeof(char *));
	*n = 0;
	for (size_t i = 0; i < v->npairs; i++) {
		char *k = NULL, *s = NULL;

		char *kwhat = xasprintf("a key in %s", key), *vwhat = NULL;
		int krc = cfg_node_str(c, v->pairs[i].key, kwhat, check_nonempty, &k);

		if (krc == CFG_OK)
			vwhat = xasprintf("%s.%s", key, k);
		if (krc != CFG_OK ||
		    cfg_node_str(c, v->pairs[i].val, vwhat, NULL, &s) != CFG_OK) {
			free(kwhat);
			free(vwhat);
			free(k);
			rc = CFG_BAD;
			continue;
		}
		free(kwhat);
		free(vwhat);
		(*keys)[*n] = k;
		(*vals)[*n] = s;
		(*n)++;
	}
	return rc;
}

const char *
check_nonempty(const char *s)
{
	return *s ? NULL : "must not be empty";
}

const char *
check_abs_path(const char *s)
{
	if (s[0] != '/')
		return "must be an absolute path (starting with /)";
	if (strstr(s, "/../") || str_ends(s, "/..") || strstr(s, "//"))
		return "must be a clean path (no \"..\" or \"//\")";
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return "must not contain spaces or control characters";
	if (strlen(s) > 1 && str_ends(s, "/"))
		return "must not end with /";
	return NULL;
}

const char *
check_rel_name(const char *s)
{
	if (*s == '\0')
		return "must not be empty";
	if (s[0] == '/')
		return "must be relative to the mountpoint (no leading /)";
	if (strcmp(s, "..") == 0 || str_starts(s, "../") || strstr(s, "/../") || str_ends(s, "/.."))
		return "must stay inside the mountpoint (no \"..\")";
	for (const char *p = s; *p; p++)
		if (iscntrl((unsigned char)*p))
			return "must not contain control characters";
	return NULL;
}

const char *
check_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1 ? NULL : "is not an IPv4 address";
}

const char *
check_ipv6(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1 ? NULL : "is not an IPv6 address";
}

const char *
check_dns_name(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 254 || (len == 254 && s[253] != '.'))
		return "must be a DNS name of 1 to 253 characters";
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return "has an empty label (\"..\" or a leading dot)";
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '*')
			return "may hold only letters, digits, '-', '_', '*' and dots";
		if (++label > 63)
			return "has a label longer than 63 characters";
	}
	return NULL;
}

const char *
check_cidr_or_host(const char *s)
{
	char addr[64];
	const char *slash = strchr(s, '/');

	if (strcmp(s, "*") == 0)
		return NULL;
	if (strchr(s, ',') != NULL)
		return "holds a comma: give each client its own item of the list";
	if (slash != NULL) {
		char *end;
		long bits;
		size_t alen = (size_t)(slash - s);

		if (alen == 0 || alen >= sizeof(addr))
			return "is not a CIDR block like 10.0.0.0/24";
		memcpy(addr, s, alen);
		addr[alen] = '\0';
		/* Digits only: strtol alone would take " 24", "+24" and "-0". */
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || !isdigit((unsigned char)slash[1]) || strlen(slash + 1) > 3 ||
		    (slash[1] == '0' && slash[2] != '\0'))
			return "has a bad prefix length: write it as a plain number, like /24";
		if (check_ipv4(addr) == NULL)
			return bits >= 0 && bits <= 32 ? NULL : "prefix length must be 0..32 for IPv4";
		if (check_ipv6(addr) == NULL)
			return bits >= 0 && bits <= 128 ? NULL : "prefix length must be 0..128 for IPv6";
		return "is not a CIDR block like 10.0.0.0/24";
	}
	if (check_ipv4(s) == NULL || check_ipv6(s) == NULL)
		return NULL;
	/* All digits and dots is a mistyped IPv4 address (10.0.0.256), never a
	 * host name: no top-level domain is numeric. */
	if (strspn(s, "0123456789.") == strlen(s))
		return "is not an IPv4 address (four numbers 0..255, like 10.0.0.5)";
	/* A host name or a wildcard pattern such as *.example.com. */
	if (check_dns_name(s) == NULL)
		return NULL;
	return "is not an address, a CIDR block, a host name or \"*\"";
}

const char *
check_arn(const char *s)
{
	/* arn:partition:service:region:account:resource */
	int colons = 0;

	if (!str_starts(s, "arn:"))
		return "is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)";
	for (const char *p = s; *p; p++)
		colons += *p == ':';
	if (colons < 5)
		return "is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)";
	return NULL;
}
