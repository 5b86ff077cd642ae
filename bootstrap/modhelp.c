/* modhelp.c: a module's keys, types, defaults and example, read from the
 * manifest's JSON Schema. */
#include "modhelp.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define WIDTH 78
#define DURATION_PATTERN "^([0-9]+(ms|s|m|h))+$"

struct helper {
	json_object *root;
	struct buf out;
};

static json_object *
get(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, key, &v))
		return v;
	return NULL;
}

static const char *
get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* "#/$defs/client" -> the schema's $defs.client; other nodes as they are. */
static json_object *
deref(struct helper *h, json_object *o)
{
	const char *ref = get_str(o, "$ref");

	if (ref != NULL && str_starts(ref, "#/$defs/"))
		return get(get(h->root, "$defs"), ref + strlen("#/$defs/"));
	return o;
}

/* ---- values as YAML -------------------------------------------------------- */

/* Whether s needs quotes to read back as the same string in YAML 1.1. */
static bool
needs_quotes(const char *s, bool flow)
{
	static const char *const words[] = {"yes", "no", "true", "false", "on", "off", "null", "y",
		"n", "~", ".inf", "-.inf", "+.inf", ".nan"};
	size_t n = strlen(s);

	if (n == 0 || isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
		return true;
	/* Indicators that start something other than a plain scalar. */
	if (strchr("!&*?|>'\"%@`#,[]{}", s[0]) != NULL)
		return true;
	if ((s[0] == '-' || s[0] == ':') && (s[1] == '\0' || s[1] == ' '))
		return true;
	for (size_t i = 0; i < HB_ARRAY_LEN(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	/* Numbers, dates, times and sexagesimals all read as something else. */
	if (strspn(s, "0123456789.:_+-eExXoObB") == n)
		return true;
	for (const char *p = s; *p; p++) {
		if ((p[0] == ':' && (p[1] == ' ' || p[1] == '\0')) || (p[0] == ' ' && p[1] == '#'))
			return true;
		if (flow && strchr(",[]{}:", *p) != NULL)
			return true;
		if ((unsigned char)*p < ' ')
			return true;
	}
	return false;
}

static void
yaml_scalar(struct buf *b, json_object *v, bool flow)
{
	const char *s;

	if (v == NULL) {
		buf_adds(b, "null");
		return;
	}
	if (!json_object_is_type(v, json_type_string)) {
		buf_adds(b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		return;
	}
	s = json_object_get_string(v);
	if (needs_quotes(s, flow))
		buf_add_json_str(b, s);
	else
		buf_adds(b, s);
}

static bool
is_scalar(json_object *v)
{
	return v == NULL || (!json_object_is_type(v, json_type_object) &&
	    !json_object_is_type(v, json_type_array));
}

/* A flow collection ([a, b], {k: v}) of scalars or of such collections. */
static bool
flowable(json_object *v, int depth)
{
	if (is_scalar(v))
		return true;
	if (depth > 1)
		return false;
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!flowable(json_object_array_get_idx(v, i), depth + 1))
				return false;
		return true;
	}
	json_object_object_foreach(v, k, val) {
		(void)k;
		if (!flowable(val, depth + 1))
			return false;
	}
	return true;
}

static void
yaml_flow(struct buf *b, json_object *v)
{
	bool first = true;

	if (is_scalar(v)) {
		yaml_scalar(b, v, true);
		return;
	}
	if (json_object_is_type(v, json_type_array)) {
		buf_addc(b, '[');
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			buf_adds(b, i ? ", " : "");
			yaml_flow(b, json_object_array_get_idx(v, i));
		}
		buf_addc(b, ']');
		return;
	}
	buf_addc(b, '{');
	json_object_object_foreach(v, k, val) {
		buf_printf(b, "%s%s: ", first ? "" : ", ", k);
		yaml_flow(b, val);
		first = false;
	}
	buf_addc(b, '}');
}

/* A mapping's keys at indent, in block style; small values in flow style. */
static void
yaml_block(struct buf *b, json_object *map, int indent)
{
	json_object_object_foreach(map, k, v) {
		buf_printf(b, "%*s%s:", indent, "", k);
		if (is_scalar(v)) {
			buf_addc(b, ' ');
			yaml_scalar(b, v, false);
			buf_addc(b, '\n');
		} else if (flowable(v, 0) &&
		    strlen(json_object_to_json_string(v)) + indent + strlen(k) < WIDTH - 10) {
			buf_addc(b, ' ');
			yaml_flow(b, v);
			buf_addc(b, '\n');
		} else if (json_object_is_type(v, json_type_array)) {
			buf_addc(b, '\n');
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				json_object *item = json_object_array_get_idx(v, i);

				buf_printf(b, "%*s- ", indent + 2, "");
				/* Items holding collections are written out in block style. */
				if (flowable(item, 1)) {
					yaml_flow(b, item);
					buf_addc(b, '\n');
				} else {
					/* The item's keys line up after "- ". */
					struct buf sub;

					buf_init(&sub);
					yaml_block(&sub, item, indent + 4);
					buf_adds(b, sub.data + indent + 4);
					buf_free(&sub);
				}
			}
		} else {
			buf_addc(b, '\n');
			yaml_block(b, v, indent + 2);
		}
	}
}

/* ---- types ------------------------------------------------------------------- */

static void type_of(struct helper *h, json_object *p, struct buf *t);

static void
enum_of(json_object *e, struct buf *t)
{
	for (size_t i = 0; i < json_object_array_length(e); i++) {
		buf_adds(t, i ? " | " : "");
		yaml_scalar(t, json_object_array_get_idx(e, i), false);
	}
}

static void
type_of(struct helper *h, json_object *p, struct buf *t)
{
	json_object *e, *alts;
	const char *type, *pattern;

	p = deref(h, p);
	if ((e = get(p, "enum")) != NULL && json_object_is_type(e, json_type_array)) {
		enum_of(e, t);
		return;
	}
	if ((alts = get(p, "oneOf")) != NULL && get(p, "type") == NULL &&
	    json_object_is_type(alts, json_type_array)) {
		/* "string, or list of strings"; alternatives of one type are said once. */
		struct buf seen;

		buf_init(&seen);
		for (size_t i = 0; i < json_object_array_length(alts); i++) {
			struct buf one;

			buf_init(&one);
			type_of(h, json_object_array_get_idx(alts, i), &one);
			buf_printf(&one, "\x1f");
			if (seen.data == NULL || strstr(seen.data, one.data) == NULL) {
				buf_adds(&seen, one.data);
				one.data[--one.len] = '\0';
				buf_printf(t, "%s%s", i ? ", or " : "", one.data);
			}
			buf_free(&one);
		}
		buf_free(&seen);
		return;
	}
	type = get_str(p, "type");
	pattern = get_str(p, "pattern");
	if (type == NULL)
		buf_adds(t, "value");
	else if (!strcmp(type, "string") && pattern && str_starts(pattern, DURATION_PATTERN))
		buf_adds(t, "duration");
	else if (!strcmp(type, "integer")) {
		json_object *lo = get(p, "minimum"), *hi = get(p, "maximum");

		buf_adds(t, "integer");
		if (lo != NULL && hi != NULL)
			buf_printf(t, " %lld..%lld", (long long)json_object_get_int64(lo),
			    (long long)json_object_get_int64(hi));
	} else if (!strcmp(type, "array")) {
		struct buf item;

		/* "list of strings", "list of mappings", "list of never | ro" */
		buf_init(&item);
		type_of(h, get(p, "items"), &item);
		buf_printf(t, "list of %s%s", item.data, !strcmp(item.data, "string") ||
		    !strcmp(item.data, "mapping") || !strcmp(item.data, "integer") ? "s" : "");
		buf_free(&item);
	} else if (!strcmp(type, "object")) {
		json_object *ap = get(p, "additionalProperties");

		if (get(p, "properties") != NULL)
			buf_adds(t, "mapping");
		else if (ap != NULL && json_object_is_type(ap, json_type_object)) {
			struct buf val;

			buf_init(&val);
			type_of(h, ap, &val);
			buf_printf(t, "mapping of names to %s%s", val.data, !strcmp(val.data, "string") ?
			    "s" : "");
			buf_free(&val);
		} else
			buf_adds(t, "mapping");
	} else
		buf_adds(t, type);
}

/* ---- keys ---------------------------------------------------------------------- */

/* Words of text, wrapped at WIDTH, each line indented. */
static void
wrap(struct buf *b, const char *text, int indent)
{
	const char *p = text;

	while (*p != '\0') {
		size_t room = (size_t)(WIDTH - indent), n = strlen(p);

		if (n > room) {
			n = room;
			while (n > 0 && p[n] != ' ')
				n--;
			if (n == 0)
				n = strcspn(p, " ");
		}
		buf_printf(b, "%*s%.*s\n", indent, "", (int)n, p);
		p += n;
		while (*p == ' ')
			p++;
	}
}

static bool
in_list(json_object *list, const char *name)
{
	if (list == NULL || !json_object_is_type(list, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *v = json_object_array_get_idx(list, i);

		if (json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), name))
			return true;
	}
	return false;
}

/* Each key of def: "name (type, required | default X)", then its description. */
static void
keys(struct helper *h, json_object *def, int indent)
{
	json_object *props = get(def, "properties"), *req = get(def, "required");

	if (props == NULL)
		return;
	json_object_object_foreach(props, name, p0) {
		json_object *p = deref(h, p0), *dflt = get(p0, "default"), *items, *sub = NULL;
		const char *desc = get_str(p0, "description");
		struct buf t;

		if (dflt == NULL)
			dflt = get(p, "default");
		if (desc == NULL)
			desc = get_str(p, "description");
		buf_init(&t);
		type_of(h, p0, &t);
		buf_printf(&h->out, "%*s%s (%s", indent, "", name, t.data);
		if (in_list(req, name))
			buf_adds(&h->out, ", required");
		else if (dflt != NULL) {
			buf_adds(&h->out, ", default ");
			yaml_scalar(&h->out, dflt, false);
		}
		buf_adds(&h->out, ")\n");
		if (desc != NULL)
			wrap(&h->out, desc, indent + 4);
		/* Nested mappings (check, metric, each export) list their own keys. */
		if (get(p, "properties") != NULL)
			sub = p;
		else if ((items = deref(h, get(p, "items"))) != NULL && get(items, "properties") != NULL)
			sub = items;
		if (sub != NULL)
			keys(h, sub, indent + 4);
		buf_free(&t);
	}
}

static json_object *
first_example(json_object *def)
{
	json_object *ex = get(def, "examples");

	if (ex == NULL || !json_object_is_type(ex, json_type_array) ||
	    json_object_array_length(ex) == 0)
		return NULL;
	return json_object_array_get_idx(ex, 0);
}

int
modhelp_print(const char *schema_json, const char *topic, FILE *out, char **why)
{
	struct helper h = {0};
	json_object *def, *ex;
	bool top = strcmp(topic, "manifest") == 0;
	const char *desc;
	int rc = -1;

	*why = NULL;
	buf_init(&h.out);
	if ((h.root = json_tokener_parse(schema_json)) == NULL) {
		*why = xstrdup("the schema compiled into haboot is not JSON");
		goto out;
	}
	def = top ? h.root : get(get(h.root, "$defs"), topic);
	if (def == NULL || str_ends(topic, "_entry") || get(def, "properties") == NULL) {
		*why = xasprintf("the manifest schema has no module \"%s\"", topic);
		goto out;
	}
	desc = get_str(def, "description");
	buf_printf(&h.out, "%s%s\n", top ? "the manifest" : topic, top ? " (version 1)" :
	    " module");
	if (desc != NULL)
		wrap(&h.out, desc, 2);
	buf_adds(&h.out, "\nkeys:\n");
	keys(&h, def, 2);
	if ((ex = first_example(def)) != NULL) {
		if (top) {
			buf_adds(&h.out, "\nexample:\n");
			yaml_block(&h.out, ex, 2);
		} else {
			json_object *wrapper = json_object_new_object();

			buf_adds(&h.out, "\nexample, as an entry of the manifest's modules list:\n");
			json_object_object_add(wrapper, topic, json_object_get(ex));
			buf_adds(&h.out, "  - ");
			{
				struct buf sub;

				buf_init(&sub);
				yaml_block(&sub, wrapper, 4);
				buf_adds(&h.out, sub.data + 4);
				buf_free(&sub);
			}
			json_object_put(wrapper);
		}
	}
	fputs(h.out.data, out);
	rc = 0;
out:
	json_object_put(h.root);
	buf_free(&h.out);
	return rc;
}
