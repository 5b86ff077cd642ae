/* iam.c: the policy builder (see iam.h).  Statements are reduced to grants,
 * (effect, action, resource, conditions), and regrouped for output: first the
 * actions each (conditions, resource) pair has, then the resources that share
 * the same actions.  A statement printed is so always exactly a set of grants
 * some module asked for: merging never widens. */
#include "iam.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct iam_cond {
	char *op, *key;
	char **vals;
	size_t nvals;
};

struct iam_stmt {
	bool deny;
	char *why;      /* "volume: attach the volume..." */
	char **actions;
	size_t nactions;
	char **res;
	size_t nres;
	struct iam_cond *conds;
	size_t nconds;
};

struct unscoped {
	char *action, *why;
};

struct iam_policy {
	struct iam_scope scope;
	char *origin;
	struct iam_stmt **stmts;
	size_t nstmts;
	struct unscoped *un;
	size_t nun;
	char **notes;
	size_t nnotes;
};

/* One output statement, built from grants. */
struct out_stmt {
	bool deny;
	const struct iam_stmt *conds;  /* whose (sorted) conditions it carries */
	const char *condkey;
	char **actions;
	size_t nactions;
	char **res;
	size_t nres;
	char **whys;
	size_t nwhys;
	char *sid;
};

/* ---- small string sets ------------------------------------------------- */

static bool
has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Adds s (copied) unless there. */
static void
add(char ***v, size_t *n, const char *s)
{
	if (has(*v, *n, s))
		return;
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

static void
free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
sort_list(char **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
}

static bool
same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* ---- building ---------------------------------------------------------- */

struct iam_policy *
iam_policy_new(const struct iam_scope *scope)
{
	struct iam_policy *p = xcalloc(1, sizeof(*p));

	if (scope != NULL)
		p->scope = *scope;
	return p;
}

const struct iam_scope *
iam_scope(const struct iam_policy *p)
{
	return &p->scope;
}

void
iam_set_origin(struct iam_policy *p, const char *origin)
{
	free(p->origin);
	p->origin = origin ? xstrdup(origin) : NULL;
}

static void
stmt_free(struct iam_stmt *s)
{
	free(s->why);
	free_list(s->actions, s->nactions);
	free_list(s->res, s->nres);
	for (size_t i = 0; i < s->nconds; i++) {
		free(s->conds[i].op);
		free(s->conds[i].key);
		free_list(s->conds[i].vals, s->conds[i].nvals);
	}
	free(s->conds);
	free(s);
}

void
iam_policy_free(struct iam_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nstmts; i++)
		stmt_free(p->stmts[i]);
	free(p->stmts);
	for (size_t i = 0; i < p->nun; i++) {
		free(p->un[i].action);
		free(p->un[i].why);
	}
	free(p->un);
	free_list(p->notes, p->nnotes);
	free(p->origin);
	free(p);
}

static char *
with_origin(const struct iam_policy *p, const char *fmt, va_list ap)
{
	struct buf b;

	buf_init(&b);
	if (p->origin != NULL)
		buf_printf(&b, "%s: ", p->origin);
	buf_vprintf(&b, fmt, ap);
	return buf_steal(&b);
}

static struct iam_stmt *
new_stmt(struct iam_policy *p, bool deny, const char *fmt, va_list ap)
{
	struct iam_stmt *s = xcalloc(1, sizeof(*s));

	s->deny = deny;
	s->why = with_origin(p, fmt, ap);
	p->stmts = xrealloc(p->stmts, (p->nstmts + 1) * sizeof(*p->stmts));
	p->stmts[p->nstmts++] = s;
	return s;
}

struct iam_stmt *
iam_stmt(struct iam_policy *p, const char *why, ...)
{
	struct iam_stmt *s;
	va_list ap;

	va_start(ap, why);
	s = new_stmt(p, false, why, ap);
	va_end(ap);
	return s;
}

struct iam_stmt *
iam_deny(struct iam_policy *p, const char *why, ...)
{
	struct iam_stmt *s;
	va_list ap;

	va_start(ap, why);
	s = new_stmt(p, true, why, ap);
	va_end(ap);
	return s;
}

void
iam_action(struct iam_stmt *s, const char *action)
{
	add(&s->actions, &s->nactions, action);
}

void
iam_resource(struct iam_stmt *s, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	add(&s->res, &s->nres, b.data);
	buf_free(&b);
}

void
iam_cond(struct iam_stmt *s, const char *op, const char *key, const char *fmt, ...)
{
	struct iam_cond *c = NULL;
	struct buf b;
	va_list ap;

	for (size_t i = 0; i < s->nconds && c == NULL; i++)
		if (!strcmp(s->conds[i].op, op) && !strcmp(s->conds[i].key, key))
			c = &s->conds[i];
	if (c == NULL) {
		s->conds = xrealloc(s->conds, (s->nconds + 1) * sizeof(*s->conds));
		c = &s->conds[s->nconds++];
		memset(c, 0, sizeof(*c));
		c->op = xstrdup(op);
		c->key = xstrdup(key);
	}
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	add(&c->vals, &c->nvals, b.data);
	buf_free(&b);
}

void
iam_unscoped(struct iam_policy *p, const char *action, const char *why)
{
	for (size_t i = 0; i < p->nun; i++)
		if (!strcmp(p->un[i].action, action))
			return;
	p->un = xrealloc(p->un, (p->nun + 1) * sizeof(*p->un));
	p->un[p->nun].action = xstrdup(action);
	p->un[p->nun].why = p->origin ? xasprintf("%s: %s", p->origin, why) : xstrdup(why);
	p->nun++;
}

void
iam_note(struct iam_policy *p, const char *fmt, ...)
{
	char *s;
	va_list ap;

	va_start(ap, fmt);
	s = with_origin(p, fmt, ap);
	va_end(ap);
	if (!has(p->notes, p->nnotes, s)) {
		p->notes = xrealloc(p->notes, (p->nnotes + 1) * sizeof(*p->notes));
		p->notes[p->nnotes++] = s;
	} else
		free(s);
}

void
iam_no_permissions(const void *cfg, struct iam_policy *p)
{
	(void)cfg;
	(void)p;
}

size_t
iam_policy_caveats(const struct iam_policy *p)
{
	return p->nun + p->nnotes;
}

/* ---- output ------------------------------------------------------------ */

static int
cmp_cond(const void *a, const void *b)
{
	const struct iam_cond *x = a, *y = b;
	int c = strcmp(x->op, y->op);

	return c ? c : strcmp(x->key, y->key);
}

/* Conditions in one canonical order; "" when there are none. */
static char *
cond_key(struct iam_stmt *s)
{
	struct buf b;

	if (s->nconds > 1)
		qsort(s->conds, s->nconds, sizeof(*s->conds), cmp_cond);
	buf_init(&b);
	buf_adds(&b, "");
	for (size_t i = 0; i < s->nconds; i++) {
		sort_list(s->conds[i].vals, s->conds[i].nvals);
		buf_printf(&b, "%s\x1f%s", s->conds[i].op, s->conds[i].key);
		for (size_t j = 0; j < s->conds[i].nvals; j++)
			buf_printf(&b, "\x1f%s", s->conds[i].vals[j]);
		buf_addc(&b, '\x1e');
	}
	return buf_steal(&b);
}

struct grant {
	bool deny;
	const char *action, *resource, *condkey, *why;
	const struct iam_stmt *stmt;
};

static void
add_grant(struct grant **g, size_t *n, const struct grant *x)
{
	*g = xrealloc(*g, (*n + 1) * sizeof(**g));
	(*g)[(*n)++] = *x;
}

/* First pass: per (effect, conditions, resource), the actions granted. */
struct by_res {
	bool deny;
	const char *condkey, *resource;
	const struct iam_stmt *stmt;
	char **actions;
	size_t nactions;
	char **whys;
	size_t nwhys;
};

static int
cmp_out(const void *a, const void *b)
{
	const struct out_stmt *x = a, *y = b;
	int c;

	if (x->deny != y->deny)
		return x->deny ? 1 : -1;
	if ((c = strcmp(x->actions[0], y->actions[0])) != 0)
		return c;
	if (x->nactions != y->nactions)
		return x->nactions < y->nactions ? -1 : 1;
	if ((c = strcmp(x->condkey, y->condkey)) != 0)
		return c;
	return strcmp(x->res[0], y->res[0]);
}

/* "ec2:AttachVolume" -> "Ec2AttachVolume" parts for a statement id. */
static void
sid_for(struct out_stmt *o, char **used, size_t nused)
{
	struct buf b;
	const char *colon = strchr(o->actions[0], ':');

	buf_init(&b);
	if (colon != NULL) {
		buf_addc(&b, (char)(o->actions[0][0] >= 'a' && o->actions[0][0] <= 'z'
		    ? o->actions[0][0] - 'a' + 'A' : o->actions[0][0]));
		buf_add(&b, o->actions[0] + 1, (size_t)(colon - o->actions[0] - 1));
	}
	for (size_t i = 0; i < o->nactions; i++) {
		const char *name = strchr(o->actions[i], ':');

		name = name ? name + 1 : o->actions[i];
		if (i > 0 && b.len + strlen(name) > 60) {
			buf_adds(&b, "Etc");
			break;
		}
		for (const char *c = name; *c; c++)
			if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			    (*c >= '0' && *c <= '9'))
				buf_addc(&b, *c);
	}
	/* An ARN's resource type ("instance") as "OnInstance": two statements of one
	 * action then differ by what they act on. */
	const char *r = o->res[0];
	for (int colons = 0; *r && colons < 5; r++)
		colons += *r == ':';
	size_t tlen = strcspn(r, "/:");
	if (*r && r[tlen] != '\0') {
		buf_adds(&b, "On");
		buf_addc(&b, (char)(*r >= 'a' && *r <= 'z' ? *r - 'a' + 'A' : *r));
		for (size_t i = 1; i < tlen; i++)
			if ((r[i] >= 'A' && r[i] <= 'Z') || (r[i] >= 'a' && r[i] <= 'z') ||
			    (r[i] >= '0' && r[i] <= '9'))
				buf_addc(&b, r[i]);
	}
	if (o->deny)
		buf_adds(&b, "Deny");
	if (has(used, nused, b.data)) {
		size_t base = b.len;

		for (int k = 2;; k++) {
			b.len = base;
			b.data[base] = '\0';
			buf_printf(&b, "%d", k);
			if (!has(used, nused, b.data))
				break;
		}
	}
	o->sid = buf_steal(&b);
}

/* Builds the output statements; the caller frees them with free_out(). */
static struct out_stmt *
build(struct iam_policy *p, size_t *nout)
{
	struct grant *g = NULL;
	struct by_res *br = NULL;
	struct out_stmt *out = NULL;
	char **keys = NULL, **sids = NULL;
	size_t ng = 0, nbr = 0, n = 0, nkeys = 0, nsids = 0;
	static struct iam_stmt none;

	for (size_t i = 0; i < p->nstmts; i++) {
		struct iam_stmt *s = p->stmts[i];
		char *k = cond_key(s);

		keys = xrealloc(keys, (nkeys + 1) * sizeof(*keys));
		keys[nkeys++] = k;
		for (size_t a = 0; a < s->nactions; a++)
			for (size_t r = 0; r < s->nres; r++)
				add_grant(&g, &ng, &(struct grant){s->deny, s->actions[a], s->res[r], k,
				    s->why, s});
	}
	for (size_t i = 0; i < p->nun; i++)
		add_grant(&g, &ng, &(struct grant){false, p->un[i].action, "*", "", p->un[i].why,
		    &none});
	for (size_t i = 0; i < ng; i++) {
		struct by_res *x = NULL;

		for (size_t j = 0; j < nbr && x == NULL; j++)
			if (br[j].deny == g[i].deny && !strcmp(br[j].condkey, g[i].condkey) &&
			    !strcmp(br[j].resource, g[i].resource))
				x = &br[j];
		if (x == NULL) {
			br = xrealloc(br, (nbr + 1) * sizeof(*br));
			x = &br[nbr++];
			memset(x, 0, sizeof(*x));
			x->deny = g[i].deny;
			x->condkey = g[i].condkey;
			x->resource = g[i].resource;
			x->stmt = g[i].stmt;
		}
		add(&x->actions, &x->nactions, g[i].action);
		add(&x->whys, &x->nwhys, g[i].why);
	}
	for (size_t j = 0; j < nbr; j++)
		sort_list(br[j].actions, br[j].nactions);
	for (size_t j = 0; j < nbr; j++) {
		struct out_stmt *o = NULL;

		for (size_t k = 0; k < n && o == NULL; k++)
			if (out[k].deny == br[j].deny && !strcmp(out[k].condkey, br[j].condkey) &&
			    same_list(out[k].actions, out[k].nactions, br[j].actions, br[j].nactions))
				o = &out[k];
		if (o == NULL) {
			out = xrealloc(out, (n + 1) * sizeof(*out));
			o = &out[n++];
			memset(o, 0, sizeof(*o));
			o->deny = br[j].deny;
			o->condkey = xstrdup(br[j].condkey);
			o->conds = br[j].stmt;
			for (size_t a = 0; a < br[j].nactions; a++)
				add(&o->actions, &o->nactions, br[j].actions[a]);
		}
		add(&o->res, &o->nres, br[j].resource);
		for (size_t w = 0; w < br[j].nwhys; w++)
			add(&o->whys, &o->nwhys, br[j].whys[w]);
	}
	for (size_t k = 0; k < n; k++)
		sort_list(out[k].res, out[k].nres);
	if (n > 1)
		qsort(out, n, sizeof(*out), cmp_out);
	for (size_t k = 0; k < n; k++) {
		sid_for(&out[k], sids, nsids);
		sids = xrealloc(sids, (nsids + 1) * sizeof(*sids));
		sids[nsids++] = out[k].sid;
	}
	free(sids);
	for (size_t j = 0; j < nbr; j++) {
		free_list(br[j].actions, br[j].nactions);
		free_list(br[j].whys, br[j].nwhys);
	}
	free(br);
	free(g);
	free_list(keys, nkeys);
	*nout = n;
	return out;
}

static void
free_out(struct out_stmt *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)out[i].condkey);
		free_list(out[i].actions, out[i].nactions);
		free_list(out[i].res, out[i].nres);
		free_list(out[i].whys, out[i].nwhys);
		free(out[i].sid);
	}
	free(out);
}

static void
json_list(struct buf *b, char *const *v, size_t n, const char *indent)
{
	buf_adds(b, "[");
	for (size_t i = 0; i < n; i++) {
		buf_printf(b, "%s\n%s  ", i ? "," : "", indent);
		buf_add_json_str(b, v[i]);
	}
	buf_printf(b, "\n%s]", indent);
}

static void
json_conds(struct buf *b, const struct iam_stmt *s)
{
	size_t i = 0;

	buf_adds(b, "{");
	while (i < s->nconds) {
		const char *op = s->conds[i].op;

		buf_printf(b, "%s\n        ", i ? "," : "");
		buf_add_json_str(b, op);
		buf_adds(b, ": {");
		for (size_t first = i; i < s->nconds && !strcmp(s->conds[i].op, op); i++) {
			const struct iam_cond *c = &s->conds[i];

			buf_printf(b, "%s\n          ", i > first ? "," : "");
			buf_add_json_str(b, c->key);
			buf_adds(b, ": ");
			if (c->nvals == 1)
				buf_add_json_str(b, c->vals[0]);
			else
				json_list(b, c->vals, c->nvals, "          ");
		}
		buf_adds(b, "\n        }");
	}
	buf_adds(b, "\n      }");
}

char *
iam_policy_json(struct iam_policy *p)
{
	struct out_stmt *out;
	struct buf b;
	size_t n;

	out = build(p, &n);
	buf_init(&b);
	buf_adds(&b, "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [");
	for (size_t i = 0; i < n; i++) {
		const struct out_stmt *o = &out[i];

		buf_printf(&b, "%s\n    {\n      \"Sid\": ", i ? "," : "");
		buf_add_json_str(&b, o->sid);
		buf_printf(&b, ",\n      \"Effect\": \"%s\",\n      \"Action\": ",
		    o->deny ? "Deny" : "Allow");
		json_list(&b, o->actions, o->nactions, "      ");
		buf_adds(&b, ",\n      \"Resource\": ");
		json_list(&b, o->res, o->nres, "      ");
		if (o->conds->nconds > 0) {
			buf_adds(&b, ",\n      \"Condition\": ");
			json_conds(&b, o->conds);
		}
		buf_adds(&b, "\n    }");
	}
	buf_adds(&b, "\n  ]\n}\n");
	free_out(out, n);
	return buf_steal(&b);
}

void
iam_policy_explain(struct iam_policy *p, FILE *f)
{
	struct out_stmt *out;
	size_t n;

	out = build(p, &n);
	fprintf(f, "%zu statement%s:\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		const struct out_stmt *o = &out[i];
		const struct iam_stmt *s = o->conds;

		fprintf(f, "\n%s (%s)\n", o->sid, o->deny ? "Deny" : "Allow");
		for (size_t a = 0; a < o->nactions; a++)
			fprintf(f, "  %s\n", o->actions[a]);
		for (size_t r = 0; r < o->nres; r++)
			fprintf(f, "  on %s\n", o->res[r]);
		for (size_t c = 0; c < s->nconds; c++) {
			fprintf(f, "  if %s %s ", s->conds[c].key, s->conds[c].op);
			for (size_t v = 0; v < s->conds[c].nvals; v++)
				fprintf(f, "%s%s", v ? " or " : "", s->conds[c].vals[v]);
			fputc('\n', f);
		}
		for (size_t w = 0; w < o->nwhys; w++)
			fprintf(f, "  - %s\n", o->whys[w]);
	}
	iam_policy_explain_caveats(p, f);
	free_out(out, n);
}

void
iam_policy_explain_caveats(const struct iam_policy *p, FILE *f)
{
	if (p->nun > 0) {
		fprintf(f, "\nnot scoped to a resource (AWS offers no resource-level permission "
		    "for them), so on \"*\":\n");
		for (size_t i = 0; i < p->nun; i++)
			fprintf(f, "  %s: %s\n", p->un[i].action, p->un[i].why);
	}
	if (p->nnotes > 0) {
		fprintf(f, "\nwider than it could be:\n");
		for (size_t i = 0; i < p->nnotes; i++)
			fprintf(f, "  - %s\n", p->notes[i]);
	}
}
