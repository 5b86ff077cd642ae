/* status.c: write and show the run report. */
#include "status.h"

#include <errno.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>

#include "release.h"
#include "util.h"

static const char *const state_names[] = {
	[MS_PENDING] = "pending", [MS_RUNNING] = "running", [MS_OK] = "ok",
	[MS_FAILED] = "failed", [MS_WARNED] = "warned", [MS_SKIPPED] = "skipped",
};

const char *
mod_state_name(enum mod_state s)
{
	return state_names[s];
}

static json_object *
jstr_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *
jtime(long long wall)
{
	char ts[40];

	if (wall == 0)
		return NULL;
	fmt_iso8601(wall, true, ts, sizeof(ts));
	return json_object_new_string(ts);
}

int
status_write(const struct run_status *st, const char *path)
{
	json_object *root = json_object_new_object(), *mods = json_object_new_array();
	json_object *facts = json_object_new_object();
	char dir[PATH_MAX];
	int rc = -1;

	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "service", jstr_or_null(st->service));
	json_object_object_add(root, "instance", jstr_or_null(st->instance));
	json_object_object_add(root, "source", jstr_or_null(st->source));
	json_object_object_add(root, "outcome", jstr_or_null(st->outcome));
	json_object_object_add(root, "failure_policy", jstr_or_null(st->policy));
	json_object_object_add(root, "lifecycle_hook", jstr_or_null(st->hook));
	json_object_object_add(root, "started", jtime(st->started));
	json_object_object_add(root, "finished", jtime(st->finished));
	json_object_object_add(root, "duration_ms",
	    st->finished ? json_object_new_int64(st->finished - st->started) : NULL);
	for (size_t i = 0; i < st->nmods; i++) {
		const struct mod_result *r = &st->mods[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(r->name));
		json_object_object_add(o, "state", json_object_new_string(state_names[r->state]));
		json_object_object_add(o, "changed", json_object_new_boolean(r->changed));
		json_object_object_add(o, "start", jtime(r->start_wall));
		json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
		json_object_object_add(o, "message", jstr_or_null(r->message));
		if (r->state == MS_FAILED || r->state == MS_WARNED)
			json_object_object_add(o, "failure_scope",
			    json_object_new_string(r->anywhere ? "anywhere" : "here"));
		json_object_array_add(mods, o);
	}
	json_object_object_add(root, "modules", mods);
	if (st->facts != NULL)
		for (size_t i = 0; i < st->facts->n; i++)
			json_object_object_add(facts, st->facts->e[i].key,
			    json_object_new_string(st->facts->e[i].val));
	json_object_object_add(root, "facts", facts);

	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir_p(dirname(dir), 0755) < 0)
		goto out;
	struct buf b;
	buf_init(&b);
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	rc = write_file_atomic(path, b.data, b.len, 0644);
	buf_free(&b);
out:
	json_object_put(root);
	return rc;
}

static const char *
jget_str(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return dflt;
}

static char *
jdup(json_object *o, const char *key)
{
	const char *v = jget_str(o, key, NULL);

	return v ? xstrdup(v) : NULL;
}

int
status_read(const char *path, struct status_report *r, char **why)
{
	json_object *root = NULL, *facts;
	struct buf b;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	kv_init(&r->facts);
	buf_init(&b);
	if (read_file(path, 4 * 1024 * 1024, &b) < 0) {
		*why = errno == ENOENT
		    ? xasprintf("%s: no report: haboot run has not run on this machine since boot "
		          "(or --status-file points elsewhere)", path)
		    : xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}
	if ((root = json_tokener_parse(b.data)) == NULL ||
	    !json_object_is_type(root, json_type_object)) {
		*why = xasprintf("%s: not a haboot status file (invalid JSON)", path);
		goto out;
	}
	r->service = jdup(root, "service");
	r->instance = jdup(root, "instance");
	r->outcome = jdup(root, "outcome");
	if (json_object_object_get_ex(root, "facts", &facts) &&
	    json_object_is_type(facts, json_type_object)) {
		json_object_object_foreach(facts, k, v)
			if (v != NULL && json_object_is_type(v, json_type_string))
				kv_set(&r->facts, k, json_object_get_string(v), "status");
	}
	rc = 0;
out:
	json_object_put(root);
	buf_free(&b);
	return rc;
}

void
status_report_free(struct status_report *r)
{
	free(r->service);
	free(r->instance);
	free(r->outcome);
	kv_free(&r->facts);
	memset(r, 0, sizeof(*r));
}

int
status_show(const char *path, bool json, FILE *out, char **why)
{
	struct buf b;
	json_object *root = NULL, *mods, *facts;
	int rc = -1;

	buf_init(&b);
	if (read_file(path, 4 * 1024 * 1024, &b) < 0) {
		*why = errno == ENOENT
		    ? xasprintf("%s: no status yet (haboot has not run on this machine, or "
		          "--status-file points elsewhere)", path)
		    : xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}
	if ((root = json_tokener_parse(b.data)) == NULL ||
	    !json_object_is_type(root, json_type_object)) {
		*why = xasprintf("%s: not a haboot status file (invalid JSON)", path);
		goto out;
	}
	if (json) {
		fputs(b.data, out);
		rc = 0;
		goto out;
	}
	fprintf(out, "service   %s\n", jget_str(root, "service", "?"));
	fprintf(out, "instance  %s\n", jget_str(root, "instance", "?"));
	fprintf(out, "outcome   %s\n", jget_str(root, "outcome", "?"));
	fprintf(out, "started   %s\n", jget_str(root, "started", "?"));
	fprintf(out, "finished  %s\n", jget_str(root, "finished", "-"));
	if (jget_str(root, "failure_policy", NULL) != NULL)
		fprintf(out, "policy    %s\n", jget_str(root, "failure_policy", NULL));
	if (jget_str(root, "lifecycle_hook", NULL) != NULL)
		fprintf(out, "hook      %s\n", jget_str(root, "lifecycle_hook", NULL));
	fprintf(out, "manifest  %s\n\n", jget_str(root, "source", "?"));
	fprintf(out, "%-12s %-8s %10s  %s\n", "MODULE", "STATE", "DURATION", "MESSAGE");
	if (json_object_object_get_ex(root, "modules", &mods) &&
	    json_object_is_type(mods, json_type_array))
		for (size_t i = 0; i < json_object_array_length(mods); i++) {
			json_object *m = json_object_array_get_idx(mods, i), *d;
			char dur[32] = "-";

			if (json_object_object_get_ex(m, "duration_ms", &d))
				fmt_duration(json_object_get_int64(d), dur, sizeof(dur));
			fprintf(out, "%-12s %-8s %10s  %s\n", jget_str(m, "name", "?"),
			    jget_str(m, "state", "?"), dur, jget_str(m, "message", ""));
		}
	if (json_object_object_get_ex(root, "facts", &facts) &&
	    json_object_is_type(facts, json_type_object) && json_object_object_length(facts) > 0) {
		fputs("\n", out);
		json_object_object_foreach(facts, k, v)
			fprintf(out, "%-28s %s\n", k, v ? json_object_get_string(v) : "-");
	}
	release_status_show(path, out);
	rc = 0;
out:
	json_object_put(root);
	buf_free(&b);
	return rc;
}
