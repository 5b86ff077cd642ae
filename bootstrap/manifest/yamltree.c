/* yamltree.c: libyaml events to a positioned tree, with PyYAML's resolution. */
#include "yamltree.h"

#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "diag.h"
#include "util.h"

#define YTREE_MAX_DEPTH 64

/* YAML 1.1 implicit resolvers, as PyYAML registers them (resolver.py). */
static const char *const re_bool =
    "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$";
static const char *const re_float =
    "^([-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+][0-9]+)?"
    "|\\.[0-9][0-9_]*([eE][-+][0-9]+)?"
    "|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*"
    "|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$";
static const char *const re_int =
    "^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
    "|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$";
static const char *const re_null = "^(~|null|Null|NULL|)$";
static const char *const re_time =
    "^([0-9]{4}-[0-9]{2}-[0-9]{2}"
    "|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\\.[0-9]*)?"
    "([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)$";

/* The five patterns are compiled once per process and kept: a manifest has
 * hundreds of scalars and the binary runs once per boot. */
struct cached_re {
	const char *src;
	regex_t rx;
	bool ready;
};
static struct cached_re re_cache[5];

static bool
scalar_matches(const char *re, const char *s)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(re_cache); i++) {
		struct cached_re *c = &re_cache[i];

		if (c->ready && c->src != re)
			continue;
		if (!c->ready) {
			if (regcomp(&c->rx, re, REG_EXTENDED | REG_NOSUB) != 0)
				return false;
			c->src = re;
			c->ready = true;
		}
		return regexec(&c->rx, s, 0, NULL, 0) == 0;
	}
	return false;
}

/* v * mul + add, saturating at LLONG_MAX: PyYAML reads a bigint there, and
 * every haboot integer has a range far below it, so the range check still
 * rejects the value; overflowing would be undefined behaviour. */
static long long
mul_add_sat(long long v, long long mul, long long add)
{
	long long r;

	if (__builtin_mul_overflow(v, mul, &r) || __builtin_add_overflow(r, add, &r))
		return LLONG_MAX;
	return r;
}

static long long
int_value(const char *s)
{
	char clean[128];
	size_t j = 0;
	int neg = 0;
	long long v = 0;

	for (const char *p = s; *p && j < sizeof(clean) - 1; p++)
		if (*p != '_')
			clean[j++] = *p;
	clean[j] = '\0';
	const char *p = clean;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strchr(p, ':') != NULL) {
		/* sexagesimal: 1:30 is 90 */
		char tmp[128], *save = NULL;

		snprintf(tmp, sizeof(tmp), "%s", p);
		for (char *tok = strtok_r(tmp, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
			v = mul_add_sat(v, 60, strtoll(tok, NULL, 10));
	} else if (strncmp(p, "0b", 2) == 0)
		v = strtoll(p + 2, NULL, 2);
	else if (strncmp(p, "0x", 2) == 0)
		v = strtoll(p + 2, NULL, 16);
	else if (p[0] == '0' && p[1] != '\0')
		v = strtoll(p + 1, NULL, 8);
	else
		v = strtoll(p, NULL, 10);
	return neg ? -v : v;
}

static void
resolve_plain(struct ynode *n)
{
	const char *s = n->str;

	if (scalar_matches(re_bool, s)) {
		n->stype = YS_BOOL;
		n->bval = strchr("yYtToO", s[0]) != NULL && strcmp(s, "off") && strcmp(s, "Off") &&
		    strcmp(s, "OFF");
	} else if (scalar_matches(re_float, s)) {
		n->stype = YS_FLOAT;
	} else if (scalar_matches(re_int, s)) {
		n->stype = YS_INT;
		n->ival = int_value(s);
	} else if (scalar_matches(re_null, s)) {
		n->stype = YS_NULL;
	} else if (scalar_matches(re_time, s)) {
		/* A date is not a string to YAML 1.1 loaders; call it a float-like "other". */
		n->stype = YS_FLOAT;
	} else {
		n->stype = YS_STR;
	}
}

const char *
ykind_name(const struct ynode *n)
{
	if (n == NULL)
		return "nothing";
	switch (n->kind) {
	case Y_MAP:
		return "a mapping";
	case Y_SEQ:
		return "a list";
	case Y_SCALAR:
		switch (n->stype) {
		case YS_STR: return "a string";
		case YS_NULL: return "null";
		case YS_BOOL: return "a boolean";
		case YS_INT: return "an integer";
		case YS_FLOAT: return "a number or date";
		}
	}
	return "something else";
}

void
ytree_free(struct ynode *n)
{
	if (n == NULL)
		return;
	free(n->str);
	for (size_t i = 0; i < n->npairs; i++) {
		ytree_free(n->pairs[i].key);
		ytree_free(n->pairs[i].val);
	}
	free(n->pairs);
	for (size_t i = 0; i < n->nitems; i++)
		ytree_free(n->items[i]);
	free(n->items);
	free(n);
}

const struct ynode *
ymap_get(const struct ynode *map, const char *key)
{
	if (map == NULL || map->kind != Y_MAP)
		return NULL;
	for (size_t i = 0; i < map->npairs; i++) {
		const struct ynode *k = map->pairs[i].key;

		if (k->kind == Y_SCALAR && strcmp(k->str, key) == 0)
			return map->pairs[i].val;
	}
	return NULL;
}

struct builder {
	yaml_parser_t parser;
	struct diag *d;
	int failed;
	const char *text; /* the document, for explaining libyaml's errors */
	size_t len;
};

static struct ynode *
node_new(enum ykind kind, const yaml_mark_t *m)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

/* ---- libyaml's errors, said as what went wrong and how to fix it ---------- */

/* Line n (1-based) of the document: its start and length, or NULL. */
static const char *
text_line(const struct builder *b, int n, size_t *len)
{
	const char *p = b->text, *end = b->text + b->len;

	for (int i = 1; i < n && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			return NULL;
		p = nl + 1;
	}
	if (p >= end && n > 1)
		return NULL;
	{
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		*len = nl ? (size_t)(nl - p) : (size_t)(end - p);
	}
	return p;
}

/* Where the line's key starts (1-based column, after any "- "), and its
 * name; 0 for a blank line, a comment, or a line with no key. */
static int
line_key(const struct builder *b, int n, char *name, size_t size)
{
	size_t len, i = 0, k;
	const char *l = text_line(b, n, &len);

	if (l == NULL)
		return 0;
	while (i < len && (l[i] == ' ' || (l[i] == '-' && i + 1 < len && l[i + 1] == ' ')))
		i++;
	if (i >= len || l[i] == '#' || l[i] == '\t')
		return 0;
	for (k = i; k < len && l[k] != ':' && l[k] != ' '; k++)
		;
	if (k >= len || l[k] != ':')
		return 0;
	snprintf(name, size, "%.*s", (int)(k - i) > 40 ? 40 : (int)(k - i), l + i);
	return (int)i + 1;
}

/* The nearest key above line n, and the nearest one above that which is
 * indented less: the two levels a mis-indented key could belong to. */
static void
levels_above(const struct builder *b, int n, int col, int *in, int *in_line, char *in_name,
    int *out, int *out_line, char *out_name)
{
	char name[48];
	int c;

	*in = *out = 0;
	for (int l = n - 1; l >= 1; l--) {
		if ((c = line_key(b, l, name, sizeof(name))) == 0)
			continue;
		if (c > col && (*in == 0 || c < *in) && *out == 0) {
			*in = c;
			*in_line = l;
			snprintf(in_name, 48, "%s", name);
		} else if (c < col) {
			*out = c;
			*out_line = l;
			snprintf(out_name, 48, "%s", name);
			return;
		}
	}
}

static bool
is_tab_error(const struct builder *b, const yaml_parser_t *p)
{
	return p->problem_mark.index < b->len && b->text[p->problem_mark.index] == '\t' &&
	    (strstr(p->problem, "cannot start any token") != NULL ||
	    strstr(p->problem, "tab") != NULL);
}

static void
explain(struct builder *b)
{
	const yaml_parser_t *p = &b->parser;
	const char *problem = p->problem ? p->problem : "unknown problem";
	const char *context = p->context ? p->context : "";
	int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
	int cline = (int)p->context_mark.line + 1, ccol = (int)p->context_mark.column + 1;
	char key[48], prev[48], in_name[48], out_name[48];
	int kc, pl, pc, in, in_line = 0, out, out_line = 0;

	if (is_tab_error(b, p)) {
		diag_at(b->d, line, col, "a tab character: YAML indents with spaces only; replace "
		    "the tab with spaces");
		return;
	}
	if (strstr(problem, "mapping values are not allowed") != NULL &&
	    (kc = line_key(b, line, key, sizeof(key))) > 0) {
		if (kc + (int)strlen(key) < col) {
			/* "name: a: b": a second ": " on the line is part of the value. */
			diag_at(b->d, line, col, "the value of \"%s\" holds \": \": quote the value "
			    "(\"...\") or remove the space after the colon", key);
			return;
		}
		/* The line just above at the same indent, with no colon: the key
		 * there lacks one, and YAML ran it into this line. */
		for (pl = line - 1; pl >= 1; pl--) {
			size_t len, ind;
			const char *l = text_line(b, pl, &len);

			if (l == NULL)
				break;
			ind = strspn(l, " ");
			if (ind >= len || l[ind] == '#')
				continue;
			if (line_key(b, pl, prev, sizeof(prev)) == 0 && (int)ind + 1 == kc) {
				diag_at(b->d, pl, kc, "\"%.*s\" is not a \"key: value\" pair: a key needs "
				    "a colon and a space after it", (int)(len - ind), l + ind);
				return;
			}
			break;
		}
		for (pl = line - 1; pl >= 1 && (pc = line_key(b, pl, prev, sizeof(prev))) == 0; pl--)
			;
		if (pl >= 1 && pc < kc) {
			diag_at(b->d, line, kc, "\"%s\" is indented more than \"%s\" on line %d, so "
			    "YAML reads it as more of %s's value: indent it to column %d, like \"%s\", "
			    "if it is a key beside it", key, prev, pl, prev, pc, prev);
			return;
		}
	}
	if (strstr(problem, "expected key") != NULL || strstr(problem, "<block end>") != NULL) {
		if ((kc = line_key(b, line, key, sizeof(key))) == 0) {
			kc = col;
			snprintf(key, sizeof(key), "this line");
		}
		levels_above(b, line, kc, &in, &in_line, in_name, &out, &out_line, out_name);
		if (in > 0 && out > 0) {
			diag_at(b->d, line, kc, "mis-indented key \"%s\" at column %d: indent it to "
			    "column %d to put it beside \"%s\" (line %d), or to column %d beside "
			    "\"%s\" (line %d); YAML indents with spaces, the same for every key of "
			    "a mapping", key, kc, in, in_name, in_line, out, out_name, out_line);
			return;
		}
	}
	if (strstr(problem, "could not find expected ':'") != NULL && cline < line) {
		size_t len = 0, skip = (size_t)(ccol - 1);
		const char *l = text_line(b, cline, &len);

		if (l == NULL || skip > len) {
			l = "";
			len = skip = 0;
		}
		diag_at(b->d, cline, ccol, "\"%.*s\" is not a \"key: value\" pair: a key needs a "
		    "colon and a space after it", (int)(len - skip), l + skip);
		return;
	}
	if (strstr(context, "quoted scalar") != NULL) {
		diag_at(b->d, cline, ccol, "this quoted string is never closed: add the closing "
		    "quote on line %d", cline);
		return;
	}
	if (strstr(context, "flow mapping") != NULL || strstr(context, "flow sequence") != NULL) {
		bool map = strstr(context, "mapping") != NULL;

		diag_at(b->d, cline, ccol, "this \"%c\" is not closed where it should be (YAML "
		    "stopped at line %d, column %d): close it with \"%c\", and separate its items "
		    "with \", \"", map ? '{' : '[', line, col, map ? '}' : ']');
		return;
	}
	diag_at(b->d, line, col, "YAML syntax: %s%s%s", problem, *context ? " " : "", context);
}

static int
next_event(struct builder *b, yaml_event_t *ev)
{
	if (yaml_parser_parse(&b->parser, ev))
		return 0;
	explain(b);
	b->failed = 1;
	return -1;
}

static struct ynode *build_node(struct builder *b, yaml_event_t *ev, int depth);

static int
reject_extras(struct builder *b, const yaml_mark_t *m, const yaml_char_t *anchor,
    const yaml_char_t *tag, int implicit)
{
	if (anchor != NULL) {
		diag_at(b->d, (int)m->line + 1, (int)m->column + 1,
		    "anchors and aliases (&%s) are not supported in a haboot manifest: write the value out",
		    (const char *)anchor);
		b->failed = 1;
		return -1;
	}
	if (tag != NULL && !implicit) {
		diag_at(b->d, (int)m->line + 1, (int)m->column + 1,
		    "YAML tags (%s) are not supported in a haboot manifest", (const char *)tag);
		b->failed = 1;
		return -1;
	}
	return 0;
}

static struct ynode *
build_map(struct builder *b, yaml_event_t *start, int depth)
{
	struct ynode *n = node_new(Y_MAP, &start->start_mark);
	size_t cap = 0;

	for (;;) {
		yaml_event_t ev;
		struct ynode *k, *v;

		if (next_event(b, &ev) < 0)
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return n;
		}
		k = build_node(b, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (k == NULL)
			goto fail;
		if (next_event(b, &ev) < 0) {
			ytree_free(k);
			goto fail;
		}
		v = build_node(b, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (v == NULL) {
			ytree_free(k);
			goto fail;
		}
		if (k->kind != Y_SCALAR) {
			diag_err(b->d, k, "a key must be a plain string, not %s", ykind_name(k));
			b->failed = 1;
		} else if (!strcmp(k->str, "<<") && k->stype == YS_STR) {
			diag_err(b->d, k, "YAML merge keys (<<) are not supported in a haboot manifest");
			b->failed = 1;
		} else {
			const struct ynode *prev = NULL;

			for (size_t i = 0; i < n->npairs; i++)
				if (n->pairs[i].key->kind == Y_SCALAR &&
				    strcmp(n->pairs[i].key->str, k->str) == 0)
					prev = n->pairs[i].key;
			if (prev != NULL) {
				diag_err(b->d, k, "duplicate key \"%s\" (first at line %d, column %d)",
				    k->str, prev->line, prev->col);
				b->failed = 1;
			}
		}
		if (n->npairs == cap) {
			cap = cap ? cap * 2 : 8;
			n->pairs = xrealloc(n->pairs, cap * sizeof(*n->pairs));
		}
		n->pairs[n->npairs].key = k;
		n->pairs[n->npairs].val = v;
		n->npairs++;
	}
fail:
	ytree_free(n);
	return NULL;
}

static struct ynode *
build_seq(struct builder *b, yaml_event_t *start, int depth)
{
	struct ynode *n = node_new(Y_SEQ, &start->start_mark);
	size_t cap = 0;

	for (;;) {
		yaml_event_t ev;
		struct ynode *item;

		if (next_event(b, &ev) < 0)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return n;
		}
		item = build_node(b, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (item == NULL)
			goto fail;
		if (n->nitems == cap) {
			cap = cap ? cap * 2 : 8;
			n->items = xrealloc(n->items, cap * sizeof(*n->items));
		}
		n->items[n->nitems++] = item;
	}
fail:
	ytree_free(n);
	return NULL;
}

static struct ynode *
build_node(struct builder *b, yaml_event_t *ev, int depth)
{
	struct ynode *n;

	if (depth > YTREE_MAX_DEPTH) {
		diag_at(b->d, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		    "nesting deeper than %d levels", YTREE_MAX_DEPTH);
		b->failed = 1;
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (reject_extras(b, &ev->start_mark, ev->data.scalar.anchor, ev->data.scalar.tag,
		        ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit) < 0)
			return NULL;
		n = node_new(Y_SCALAR, &ev->start_mark);
		n->len = ev->data.scalar.length;
		n->str = xstrndup((const char *)ev->data.scalar.value, n->len);
		if (strlen(n->str) != n->len) {
			diag_err(b->d, n, "a string holds a NUL byte");
			b->failed = 1;
		}
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			resolve_plain(n);
		else {
			n->stype = YS_STR;
			n->quoted = true;
		}
		return n;
	case YAML_MAPPING_START_EVENT:
		if (reject_extras(b, &ev->start_mark, ev->data.mapping_start.anchor,
		        ev->data.mapping_start.tag, ev->data.mapping_start.implicit) < 0)
			return NULL;
		return build_map(b, ev, depth);
	case YAML_SEQUENCE_START_EVENT:
		if (reject_extras(b, &ev->start_mark, ev->data.sequence_start.anchor,
		        ev->data.sequence_start.tag, ev->data.sequence_start.implicit) < 0)
			return NULL;
		return build_seq(b, ev, depth);
	case YAML_ALIAS_EVENT:
		diag_at(b->d, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		    "aliases (*%s) are not supported in a haboot manifest: write the value out",
		    (const char *)ev->data.alias.anchor);
		b->failed = 1;
		return NULL;
	default:
		diag_at(b->d, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
		    "unexpected YAML structure");
		b->failed = 1;
		return NULL;
	}
}

struct ynode *
ytree_parse(const char *data, size_t len, struct diag *d)
{
	struct builder b;
	struct ynode *root = NULL;
	yaml_event_t ev;
	int stage = 0; /* 0 stream start, 1 doc start, 2 root, 3 doc end, 4 stream end */

	memset(&b, 0, sizeof(b));
	b.d = d;
	b.text = data;
	b.len = len;
	if (!yaml_parser_initialize(&b.parser)) {
		diag_at(d, 0, 0, "cannot initialise the YAML parser");
		return NULL;
	}
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)data, len);
	while (!b.failed) {
		if (next_event(&b, &ev) < 0)
			break;
		yaml_event_type_t t = ev.type;

		if (t == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (t == YAML_DOCUMENT_START_EVENT) {
			if (stage >= 2) {
				diag_at(d, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				    "a manifest is one YAML document; remove the second \"---\"");
				b.failed = 1;
			}
			stage = 1;
		} else if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT ||
		    t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT) {
			root = build_node(&b, &ev, 0);
			stage = 2;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&b.parser);
	if (b.failed) {
		ytree_free(root);
		return NULL;
	}
	if (root == NULL)
		diag_at(d, 1, 1, "the manifest is empty");
	return root;
}
