/* manifest.c: validate a manifest in one pass and build typed structs. */
#include "manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "module.h"
#include "util.h"
#include "yamltree.h"

static const char *const on_failure_names[] = {"halt", "mark-unhealthy", NULL};
static const char *const top_keys[] = {
	"version", "name", "on_failure", "deadline", "lifecycle_hook", "watch", "release", "modules",
	NULL,
};
static const char *const hook_keys[] = {"name", "group", NULL};
static const char *const watch_keys[] = {
	"interval", "failures", "restarts", "window", "backoff", "heartbeat", "api_interval", NULL,
};
static const char *const release_keys[] = {"triggers", "timeout", "heartbeat", "lifecycle_hook", NULL};
static const char *const release_hook_keys[] = {"name", "group", NULL};
static const char *const release_on_names[] = {"lifecycle", "spot", "rebalance", NULL};

#define DEFAULT_DEADLINE_MS (240 * 1000)
#define S 1000LL
#define MIN (60 * S)

const char *
on_failure_name(enum on_failure f)
{
	return on_failure_names[f];
}

static const char *
check_service_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return "must be 1 to 63 characters";
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return "must start with a lowercase letter or digit";
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return "may hold only lowercase letters, digits, '-' and '_'";
	return NULL;
}

static const char *
check_hook_part(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return "must be 1 to 255 characters";
	return NULL;
}

void
manifest_free(struct manifest *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nmods; i++)
		if (m->mods[i].cfg != NULL && m->mods[i].mod->free != NULL)
			m->mods[i].mod->free(m->mods[i].cfg);
	free(m->mods);
	free(m->name);
	free(m->hook_name);
	free(m->hook_group);
	free(m->release.hook_name);
	free(m->release.hook_group);
	free(m);
}

/* One "- NAME: {...}" entry of the modules list. */
static void
parse_module_entry(struct cfg *c, struct manifest *m, const struct ynode *item)
{
	const struct ynode *key, *val;
	const struct module *mod;
	struct ynode view;
	bool required;
	void *cfg;

	if (item->kind == Y_MAP && item->npairs > 1 && item->pairs[0].key->kind == Y_SCALAR &&
	    item->pairs[1].key->kind == Y_SCALAR) {
		/* "- volume:" with its settings not indented under it. */
		const struct ynode *mk = item->pairs[0].key, *mv = item->pairs[0].val;
		const struct ynode *extra = item->pairs[1].key;

		if (module_find(extra->str) != NULL)
			diag_err(c->d, extra, "module %s sits in the same modules entry as %s: give it "
			    "an entry of its own, starting with \"- \" (\"- %s: ...\")", extra->str,
			    mk->str, extra->str);
		else if (mv->kind == Y_MAP && mv->npairs > 0 && mv->line == mk->line)
			diag_err(c->d, extra, "\"%s\" is level with \"%s\" (column %d), so YAML reads "
			    "it as a second key of this modules entry: move it into %s's settings",
			    extra->str, mk->str, mk->col, mk->str);
		else if (mv->kind == Y_MAP && mv->npairs > 0)
			diag_err(c->d, extra, "\"%s\" is level with \"%s\" (column %d), so YAML reads "
			    "it as a second key of this modules entry: indent it to column %d, with "
			    "%s's other settings", extra->str, mk->str, mk->col,
			    mv->pairs[0].key->col, mk->str);
		else
			diag_err(c->d, extra, "\"%s\" is level with \"%s\" (column %d), so YAML reads "
			    "it as a second key of this modules entry, and %s has no settings: indent "
			    "%s's settings under it, e.g. to column %d", extra->str, mk->str, mk->col,
			    mk->str, mk->str, mk->col + 2);
		return;
	}
	if (item->kind != Y_MAP || item->npairs != 1) {
		diag_err(c->d, item,
		    "each modules entry is one module name with its settings, like \"- volume: {...}\" "
		    "(found %s%s)",
		    item->kind == Y_MAP ? "a mapping with " : ykind_name(item),
		    item->kind == Y_MAP ? (item->npairs ? "several keys" : "no keys") : "");
		return;
	}
	key = item->pairs[0].key;
	val = item->pairs[0].val;
	if (key->kind != Y_SCALAR)
		return;
	if ((mod = module_find(key->str)) == NULL) {
		const char *names[16] = {NULL}, *hint;
		struct buf b;

		buf_init(&b);
		for (size_t i = 0; module_registry[i]; i++) {
			buf_printf(&b, "%s%s", i ? ", " : "", module_registry[i]->name);
			if (i + 1 < HB_ARRAY_LEN(names))
				names[i] = module_registry[i]->name;
		}
		if ((hint = cfg_suggest(key->str, names)) != NULL)
			diag_err(c->d, key, "unknown module \"%s\": did you mean \"%s\"? (known: %s)",
			    key->str, hint, b.data);
		else
			diag_err(c->d, key, "unknown module \"%s\" (known: %s)", key->str, b.data);
		buf_free(&b);
		return;
	}
	for (size_t i = 0; i < m->nmods; i++)
		if (m->mods[i].mod == mod) {
			diag_err(c->d, key,
			    "module %s appears twice (first at line %d, column %d): a manifest serves one "
			    "volume, so each module runs once",
			    mod->name, m->mods[i].line, m->mods[i].col);
			return;
		}
	if (val->kind != Y_MAP) {
		diag_err(c->d, val, "settings of module %s must be a mapping, not %s", mod->name,
		    ykind_name(val));
		return;
	}
	/* The runner owns "required"; the module sees its own keys only. */
	required = mod->required_default;
	cfg_bool(c, val, "required", false, &required);
	view = *val;
	view.pairs = xcalloc(val->npairs ? val->npairs : 1, sizeof(*view.pairs));
	view.npairs = 0;
	for (size_t i = 0; i < val->npairs; i++)
		if (val->pairs[i].key->kind != Y_SCALAR || strcmp(val->pairs[i].key->str, "required"))
			view.pairs[view.npairs++] = val->pairs[i];
	cfg = mod->parse(c, &view);
	free(view.pairs);
	if (cfg == NULL)
		return;
	m->mods = xrealloc(m->mods, (m->nmods + 1) * sizeof(*m->mods));
	m->mods[m->nmods].mod = mod;
	m->mods[m->nmods].cfg = cfg;
	m->mods[m->nmods].required = required;
	m->mods[m->nmods].line = key->line;
	m->mods[m->nmods].col = key->col;
	m->nmods++;
}

/* Defaults follow the reference design: check every 10 s, a few restarts,
 * then let the group replace the instance. */
static void
parse_watch(struct cfg *c, struct watch_cfg *w, const struct ynode *v)
{
	w->interval_ms = 10 * S;
	w->failures = 2;
	w->restarts = 3;
	w->window_ms = 10 * MIN;
	w->backoff_ms = 10 * S;
	w->heartbeat_ms = 1 * MIN;
	w->api_ms = 2 * MIN;
	if (v == NULL || !cfg_map(c, v, "watch", watch_keys))
		return;
	cfg_duration(c, v, "interval", false, 1 * S, 10 * MIN, &w->interval_ms);
	cfg_int(c, v, "failures", false, 1, 100, &w->failures);
	cfg_int(c, v, "restarts", false, 0, 100, &w->restarts);
	cfg_duration(c, v, "window", false, 1 * S, 24 * 60 * MIN, &w->window_ms);
	cfg_duration(c, v, "backoff", false, 0, 60 * MIN, &w->backoff_ms);
	cfg_duration(c, v, "heartbeat", false, 1 * S, 60 * MIN, &w->heartbeat_ms);
	cfg_duration(c, v, "api_interval", false, 1 * S, 60 * MIN, &w->api_ms);
}

static const char *
check_release_on(const char *s)
{
	for (size_t i = 0; release_on_names[i]; i++)
		if (strcmp(s, release_on_names[i]) == 0)
			return NULL;
	return "is not a release trigger: lifecycle (the termination lifecycle hook), spot "
	       "(a Spot interruption notice) or rebalance (a rebalance recommendation)";
}

/* Defaults: listen for the termination hook and Spot notices; a release
 * fits a Spot notice's two minutes with room to spare. */
static void
parse_release(struct cfg *c, struct release_cfg *r, const struct ynode *v)
{
	const struct ynode *h, *on;
	char **names = NULL;
	size_t n = 0;

	r->on = RELEASE_ON_LIFECYCLE | RELEASE_ON_SPOT;
	r->timeout_ms = 3 * MIN;
	r->heartbeat_ms = 20 * S; /* under any hook's HeartbeatTimeout (30 s at least) */
	if (v == NULL || !cfg_map(c, v, "release", release_keys))
		return;
	if (cfg_strlist(c, v, "triggers", false, 0, check_release_on, &names, &n) == CFG_OK) {
		on = ymap_get(v, "triggers");
		r->on = 0;
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; release_on_names[k]; k++) {
				if (strcmp(names[i], release_on_names[k]) != 0)
					continue;
				if (r->on & (1u << k))
					diag_err(c->d, on->items[i], "release trigger \"%s\" is listed "
					    "twice", names[i]);
				r->on |= 1u << k;
			}
	}
	cfg_free_list(names, n);
	cfg_duration(c, v, "timeout", false, 10 * S, 60 * MIN, &r->timeout_ms);
	cfg_duration(c, v, "heartbeat", false, 1 * S, 60 * MIN, &r->heartbeat_ms);
	if ((h = ymap_get(v, "lifecycle_hook")) != NULL &&
	    cfg_map(c, h, "release lifecycle_hook", release_hook_keys)) {
		cfg_str(c, h, "name", true, check_hook_part, &r->hook_name);
		cfg_str(c, h, "group", false, check_hook_part, &r->hook_group);
	}
}

/* A module that must follow others (module.h: after) comes after them. */
static void
check_order(struct cfg *c, const struct manifest *m)
{
	for (size_t i = 0; i < m->nmods; i++) {
		const struct module *mod = m->mods[i].mod;

		for (size_t k = 0; mod->after != NULL && mod->after[k] != NULL; k++)
			for (size_t j = i + 1; j < m->nmods; j++)
				if (strcmp(m->mods[j].mod->name, mod->after[k]) == 0)
					diag_at(c->d, m->mods[i].line, m->mods[i].col, "module %s must come "
					    "after %s (line %d): the modules run in the order written, and %s "
					    "needs what %s has done; move it below", mod->name, mod->after[k],
					    m->mods[j].line, mod->name, mod->after[k]);
	}
}

static void
parse_top(struct cfg *c, struct manifest *m, const struct ynode *root)
{
	const struct ynode *v, *mods;
	long long version = 0;
	int onf = ONF_HALT;

	if (!cfg_map(c, root, "the manifest", top_keys) && root->kind != Y_MAP)
		return;
	v = ymap_get(root, "version");
	if (v == NULL)
		diag_err(c->d, root, "missing required key \"version\": add \"version: %d\" at the top",
		    MANIFEST_VERSION);
	else if (v->kind != Y_SCALAR || v->stype != YS_INT)
		diag_err(c->d, v, "version must be the integer %d, not %s", MANIFEST_VERSION,
		    ykind_name(v));
	else if ((version = v->ival) != MANIFEST_VERSION)
		diag_err(c->d, v, "unsupported manifest version %lld: this haboot reads version %d",
		    version, MANIFEST_VERSION);
	m->version = (int)version;
	cfg_str(c, root, "name", true, check_service_name, &m->name);
	if (cfg_enum(c, root, "on_failure", false, on_failure_names, &onf) == CFG_OK)
		m->on_failure = (enum on_failure)onf;
	m->deadline_ms = DEFAULT_DEADLINE_MS;
	cfg_duration(c, root, "deadline", false, 10 * 1000, 3600 * 1000, &m->deadline_ms);
	if ((v = ymap_get(root, "lifecycle_hook")) != NULL &&
	    cfg_map(c, v, "lifecycle_hook", hook_keys)) {
		cfg_str(c, v, "name", true, check_hook_part, &m->hook_name);
		cfg_str(c, v, "group", true, check_hook_part, &m->hook_group);
	}
	parse_watch(c, &m->watch, ymap_get(root, "watch"));
	parse_release(c, &m->release, ymap_get(root, "release"));
	mods = ymap_get(root, "modules");
	if (mods == NULL) {
		diag_err(c->d, root, "missing required key \"modules\": list the modules to run, "
		    "e.g. \"modules: [{volume: {...}}]\"");
		return;
	}
	if (mods->kind != Y_SEQ || mods->nitems == 0) {
		diag_err(c->d, mods, "modules must be a non-empty list, not %s",
		    mods->kind == Y_SEQ ? "an empty list" : ykind_name(mods));
		return;
	}
	for (size_t i = 0; i < mods->nitems; i++)
		parse_module_entry(c, m, mods->items[i]);
	check_order(c, m);
}

void
manifest_text_free(struct manifest_text *t)
{
	buf_free(&t->text);
}

int
manifest_decode(const void *data, size_t len, struct manifest_text *t, struct diag *d)
{
	const char *why;

	buf_init(&t->text);
	t->gzipped = is_gzip(data, len);
	t->raw_size = len;
	if (len > MANIFEST_USERDATA_MAX) {
		diag_at(d, 0, 0,
		    "the manifest is %zu bytes%s; EC2 user-data holds at most %d bytes: %s", len,
		    t->gzipped ? " gzipped" : "", MANIFEST_USERDATA_MAX,
		    t->gzipped ? "shorten it" : "gzip it (gzip -9) or shorten it");
		return -1;
	}
	if (t->gzipped) {
		if (gunzip(data, len, MANIFEST_INFLATED_MAX, &t->text, &why) < 0) {
			diag_at(d, 0, 0, "gzipped manifest: %s", why);
			return -1;
		}
	} else
		buf_add(&t->text, data, len);
	if (t->text.data == NULL)
		buf_adds(&t->text, "");
	if (memchr(t->text.data, '\0', t->text.len) != NULL) {
		diag_at(d, 0, 0, "the manifest holds a NUL byte: it is not a text file");
		return -1;
	}
	return 0;
}

bool
manifest_has_marker(const struct manifest_text *t)
{
	size_t n = strlen(MANIFEST_MARKER);

	return t->text.len >= n && memcmp(t->text.data, MANIFEST_MARKER, n) == 0;
}

struct manifest *
manifest_parse_text(const struct manifest_text *t, struct diag *d)
{
	struct manifest *m = NULL;
	struct ynode *root;
	struct kv facts;
	struct cfg c = {.d = d, .facts = &facts};

	if ((root = ytree_parse(t->text.data, t->text.len, d)) == NULL)
		return NULL;
	kv_init(&facts);
	m = xcalloc(1, sizeof(*m));
	m->gzipped = t->gzipped;
	m->raw_size = t->raw_size;
	parse_top(&c, m, root);
	if (d->errors > 0) {
		manifest_free(m);
		m = NULL;
	}
	kv_free(&facts);
	ytree_free(root);
	return m;
}

struct manifest *
manifest_parse(const void *data, size_t len, bool require_marker, struct diag *d)
{
	struct manifest_text t;
	struct manifest *m = NULL;

	if (manifest_decode(data, len, &t, d) < 0)
		goto out;
	if (require_marker && !manifest_has_marker(&t)) {
		diag_at(d, 1, 1, "not a haboot manifest: its first line must be \"%s\"",
		    MANIFEST_MARKER);
		goto out;
	}
	m = manifest_parse_text(&t, d);
out:
	manifest_text_free(&t);
	return m;
}

struct manifest *
manifest_load_file(const char *path, struct diag *d, bool *unreadable)
{
	struct buf b;
	struct manifest *m = NULL;
	int rc;

	buf_init(&b);
	if (unreadable != NULL)
		*unreadable = false;
	/* Read a little past the limit so the size error can say how big it is. */
	if (strcmp(path, "-") == 0)
		rc = read_stream(STDIN_FILENO, 64 * 1024 * 1024, &b);
	else
		rc = read_file(path, 64 * 1024 * 1024, &b);
	if (rc < 0 && errno == EFBIG) {
		diag_at(d, 0, 0, "the manifest is over 64 MiB; EC2 user-data holds at most %d bytes",
		    MANIFEST_USERDATA_MAX);
		goto out;
	}
	if (rc < 0) {
		diag_at(d, 0, 0, "cannot read the manifest: %s", strerror(errno));
		if (unreadable != NULL)
			*unreadable = true;
		goto out;
	}
	m = manifest_parse(b.data, b.len, false, d);
out:
	buf_free(&b);
	return m;
}
