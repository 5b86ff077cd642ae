/* status.c: write, keep and read back the run report. */
#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonkit.h"
#include "release.h"
#include "util.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

static const char *const state_names[] = {
	[MS_PENDING] = "pending", [MS_RUNNING] = "running", [MS_OK] = "ok",
	[MS_FAILED] = "failed", [MS_WARNED] = "warned", [MS_SKIPPED] = "skipped",
};

const char *
mod_state_name(enum mod_state s)
{
	return state_names[s];
}

/* This boot's id: a "running" report from another boot is not running. */
static char *
boot_id(void)
{
	struct buf b;
	char *id = NULL;

	buf_init(&b);
	if (read_file(BOOT_ID_PATH, 128, &b) == 0) {
		while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
			b.data[--b.len] = '\0';
		if (b.len > 0)
			id = xstrdup(b.data);
	}
	buf_free(&b);
	return id;
}

static char *
status_json(const struct run_status *st)
{
	json_object *root = json_object_new_object(), *mods = json_object_new_array();
	json_object *facts = json_object_new_object();
	char *bid = boot_id(), *text;

	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "service", jk_str(st->service));
	json_object_object_add(root, "instance", jk_str(st->instance));
	json_object_object_add(root, "source", jk_str(st->source));
	json_object_object_add(root, "outcome", jk_str(st->outcome));
	json_object_object_add(root, "stage", jk_str(st->stage));
	json_object_object_add(root, "message", jk_str(st->message));
	json_object_object_add(root, "failure_policy", jk_str(st->policy));
	json_object_object_add(root, "lifecycle_hook", jk_str(st->hook));
	json_object_object_add(root, "started", jk_time(st->started));
	json_object_object_add(root, "finished", jk_time(st->finished));
	json_object_object_add(root, "duration_ms",
	    st->finished ? json_object_new_int64(st->finished - st->started) : NULL);
	json_object_object_add(root, "pid", json_object_new_int64((long long)getpid()));
	json_object_object_add(root, "boot_id", jk_str(bid));
	for (size_t i = 0; i < st->nmods; i++) {
		const struct mod_result *r = &st->mods[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(r->name));
		json_object_object_add(o, "state", json_object_new_string(state_names[r->state]));
		json_object_object_add(o, "changed", json_object_new_boolean(r->changed));
		json_object_object_add(o, "start", jk_time(r->start_wall));
		json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
		json_object_object_add(o, "message", jk_str(r->message));
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
	text = xasprintf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	free(bid);
	return text;
}

/* A device (/dev/null, a tty) is written to, never renamed over. */
static int
write_in_place(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd, rc = 0;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -1;
	while (len > 0) {
		ssize_t w = write(fd, text, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = -1;
			break;
		}
		text += w;
		len -= (size_t)w;
	}
	close(fd);
	return rc;
}

int
status_write(const struct run_status *st, const char *path)
{
	char dir[PATH_MAX], *text = status_json(st);
	struct stat sb;
	int rc = -1;

	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
		rc = write_in_place(path, text);
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir_p(dirname(dir), 0755) < 0)
		goto out;
	rc = write_file_atomic(path, text, strlen(text), 0644);
out:
	free(text);
	return rc;
}

/* link -> target, replacing a report an older version left there with one
 * rename. */
static int
keep_link(const char *target, const char *link, char **why)
{
	char cur[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
	ssize_t n;

	n = readlink(link, cur, sizeof(cur) - 1);
	if (n > 0) {
		cur[n] = '\0';
		if (strcmp(cur, target) == 0)
			return 0;
	}
	snprintf(dir, sizeof(dir), "%s", link);
	snprintf(tmp, sizeof(tmp), "%s.haboot-%ld", link, (long)getpid());
	if (mkdir_p(dirname(dir), 0755) < 0 ||
	    (unlink(tmp) < 0 && errno != ENOENT) || symlink(target, tmp) < 0 ||
	    rename(tmp, link) < 0) {
		*why = xasprintf("cannot link %s to %s: %s", link, target, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The history's report names, sorted: oldest first (names start with the
 * run's start time). */
static int
history_names(const char *dir, char ***names, size_t *n)
{
	DIR *d;
	struct dirent *e;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !str_ends(e->d_name, ".json"))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*names = xrealloc(*names, cap * sizeof(char *));
		}
		(*names)[(*n)++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof(char *), cmp_names);
	return 0;
}

static int
add_to_history(const struct run_status *st, const char *hdir, char **why)
{
	char ts[40], *name, *path, **names;
	size_t n;
	int rc = -1;

	/* 2026-12-07T13:08:08.714Z -> 20261207T130808.714Z: sortable, no colons. */
	fmt_iso8601(st->started, true, ts, sizeof(ts));
	name = xstrdup(ts);
	for (char *s = ts, *d = name; ; s++) {
		if (*s == '-' || *s == ':')
			continue;
		if ((*d++ = *s) == '\0')
			break;
	}
	path = xasprintf("%s/%s-%s.json", hdir, name, st->outcome);
	if (mkdir_p(hdir, 0755) < 0 || status_write(st, path) < 0) {
		*why = xasprintf("cannot add %s to the history: %s", path, strerror(errno));
		goto out;
	}
	if (history_names(hdir, &names, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (i + STATUS_HISTORY_KEEP < n) {
				char *old = xasprintf("%s/%s", hdir, names[i]);

				unlink(old);
				free(old);
			}
			free(names[i]);
		}
		free(names);
	}
	rc = 0;
out:
	free(name);
	free(path);
	return rc;
}

int
status_save_at(const struct run_status *st, const char *dir, const char *link, char **why)
{
	char *path = xasprintf("%s/status.json", dir), *hdir = xasprintf("%s/history", dir);
	int rc = -1;

	*why = NULL;
	if (status_write(st, path) < 0) {
		*why = xasprintf("cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (link != NULL && keep_link(path, link, why) < 0)
		goto out;
	if (st->finished != 0 && add_to_history(st, hdir, why) < 0)
		goto out;
	rc = 0;
out:
	free(path);
	free(hdir);
	return rc;
}

int
status_save(const struct run_status *st, const char *path, char **why)
{
	*why = NULL;
	if (path == NULL)
		return status_save_at(st, STATUS_DIR, STATUS_RUN_LINK, why);
	if (status_write(st, path) == 0)
		return 0;
	*why = xasprintf("cannot write %s: %s", path, strerror(errno));
	return -1;
}

/* ---- reading it back ------------------------------------------------------ */

static char *
jdup(json_object *o, const char *key)
{
	json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return xstrdup(json_object_get_string(v));
	return NULL;
}

static int
load_one(const char *path, struct status_report *r, char **why)
{
	json_object *root = NULL, *mods, *facts;
	struct buf b;
	int rc = -1, saved;

	buf_init(&b);
	if (read_file(path, 4 * 1024 * 1024, &b) < 0) {
		saved = errno;
		*why = saved == ENOENT
		    ? xasprintf("%s: no report yet (haboot has not run on this machine, or "
		          "--status-file points elsewhere)", path)
		    : xasprintf("%s: %s", path, strerror(saved));
		errno = saved;
		goto out;
	}
	if ((root = json_tokener_parse(b.data)) == NULL ||
	    !json_object_is_type(root, json_type_object)) {
		*why = xasprintf("%s: not a haboot status file (invalid JSON)", path);
		errno = EINVAL;
		goto out;
	}
	r->path = xstrdup(path);
	r->text = buf_steal(&b);
	r->service = jdup(root, "service");
	r->instance = jdup(root, "instance");
	r->source = jdup(root, "source");
	r->outcome = jdup(root, "outcome");
	r->stage = jdup(root, "stage");
	r->message = jdup(root, "message");
	r->policy = jdup(root, "failure_policy");
	r->hook = jdup(root, "lifecycle_hook");
	r->started = jdup(root, "started");
	r->finished = jdup(root, "finished");
	r->pid = jk_get_int(root, "pid");
	r->duration_ms = jk_get_int(root, "duration_ms");
	r->boot_id = jdup(root, "boot_id");
	if (json_object_object_get_ex(root, "modules", &mods) &&
	    json_object_is_type(mods, json_type_array)) {
		size_t n = json_object_array_length(mods);

		r->mods = xcalloc(n ? n : 1, sizeof(*r->mods));
		for (size_t i = 0; i < n; i++) {
			json_object *m = json_object_array_get_idx(mods, i), *v;
			struct status_module *sm = &r->mods[r->nmods];

			if (!json_object_is_type(m, json_type_object))
				continue;
			sm->name = jdup(m, "name");
			sm->state = jdup(m, "state");
			sm->message = jdup(m, "message");
			sm->duration_ms = jk_get_int(m, "duration_ms");
			sm->changed = json_object_object_get_ex(m, "changed", &v) &&
			    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
			r->nmods++;
		}
	}
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

int
status_load(const char *path, struct status_report *r, char **why)
{
	memset(r, 0, sizeof(*r));
	kv_init(&r->facts);
	*why = NULL;
	if (path != NULL)
		return load_one(path, r, why);
	if (load_one(STATUS_DEFAULT_PATH, r, why) == 0 || errno != ENOENT)
		return r->path ? 0 : -1;
	/* A report an older haboot left in /run, before it kept one in /var/lib. */
	free(*why);
	*why = NULL;
	if (load_one(STATUS_RUN_LINK, r, why) == 0)
		return 0;
	if (errno == ENOENT) {
		free(*why);
		*why = xasprintf("no report yet in %s: haboot has not run on this machine",
		    STATUS_DEFAULT_PATH);
		errno = ENOENT;
	}
	return -1;
}

void
status_report_free(struct status_report *r)
{
	char **s[] = {&r->path, &r->text, &r->service, &r->instance, &r->source, &r->outcome,
	    &r->stage, &r->message, &r->policy, &r->hook, &r->started, &r->finished, &r->boot_id};

	for (size_t i = 0; i < HB_ARRAY_LEN(s); i++)
		free(*s[i]);
	for (size_t i = 0; i < r->nmods; i++) {
		free(r->mods[i].name);
		free(r->mods[i].state);
		free(r->mods[i].message);
	}
	free(r->mods);
	kv_free(&r->facts);
	memset(r, 0, sizeof(*r));
}

const char *
status_report_fact(const struct status_report *r, enum fact f)
{
	return kv_get(&r->facts, fact_name(f));
}

enum status_verdict
status_judge(const struct status_report *r)
{
	if (r->outcome != NULL && strcmp(r->outcome, "ok") == 0)
		return SV_OK;
	if (r->outcome == NULL || strcmp(r->outcome, "running") != 0)
		return SV_FAILED;
	/* Written in another boot, or by a process that is gone: it never finished. */
	char *now = boot_id();
	bool other_boot = now != NULL && r->boot_id != NULL && strcmp(now, r->boot_id) != 0;

	free(now);
	if (other_boot)
		return SV_INTERRUPTED;
	if (r->pid > 0 && kill((pid_t)r->pid, 0) < 0 && errno == ESRCH)
		return SV_INTERRUPTED;
	return SV_RUNNING;
}

const char *
status_verdict_name(enum status_verdict v)
{
	static const char *const names[] = {
		[SV_OK] = "ok", [SV_FAILED] = "failed", [SV_RUNNING] = "running",
		[SV_INTERRUPTED] = "interrupted",
	};

	return names[v];
}

static const char *
or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

void
status_show(const struct status_report *r, bool json, FILE *out)
{
	enum status_verdict v = status_judge(r);

	if (json) {
		fputs(r->text, out);
		return;
	}
	fprintf(out, "service   %s\n", or(r->service, "?"));
	fprintf(out, "instance  %s\n", or(r->instance, "?"));
	if (v == SV_INTERRUPTED)
		fprintf(out, "outcome   interrupted: the run never finished (haboot pid %lld is "
		    "gone, or the machine rebooted)\n", r->pid);
	else
		fprintf(out, "outcome   %s\n", or(r->outcome, "?"));
	if (r->stage != NULL && strcmp(r->stage, "modules") != 0)
		fprintf(out, "failed    before any module ran (%s): %s\n", r->stage,
		    or(r->message, "?"));
	fprintf(out, "started   %s\n", or(r->started, "?"));
	fprintf(out, "finished  %s\n", or(r->finished, "-"));
	if (r->policy != NULL)
		fprintf(out, "policy    %s\n", r->policy);
	if (r->hook != NULL)
		fprintf(out, "hook      %s\n", r->hook);
	fprintf(out, "manifest  %s\n", or(r->source, "?"));
	fprintf(out, "report    %s\n", r->path);
	if (r->nmods > 0) {
		fprintf(out, "\n%-12s %-8s %10s  %s\n", "MODULE", "STATE", "DURATION", "MESSAGE");
		for (size_t i = 0; i < r->nmods; i++) {
			const struct status_module *m = &r->mods[i];
			char dur[32];

			fmt_duration(m->duration_ms, dur, sizeof(dur));
			fprintf(out, "%-12s %-8s %10s  %s\n", or(m->name, "?"), or(m->state, "?"), dur,
			    or(m->message, ""));
		}
	}
	if (r->facts.n > 0) {
		fputs("\n", out);
		for (size_t i = 0; i < r->facts.n; i++)
			fprintf(out, "%-28s %s\n", r->facts.e[i].key, r->facts.e[i].val);
	}
	release_status_show(r->path, out);
}

int
status_show_history(const char *dir, FILE *out, char **why)
{
	char **names;
	size_t n;

	*why = NULL;
	if (history_names(dir, &names, &n) < 0) {
		int saved = errno;

		*why = saved == ENOENT ? xasprintf("%s: no history yet (no run has finished here)", dir)
		    : xasprintf("%s: %s", dir, strerror(saved));
		errno = saved;
		return -1;
	}
	fprintf(out, "%-24s %-8s %-20s %10s  %s\n", "STARTED", "OUTCOME", "INSTANCE", "DURATION",
	    "WHERE IT STOPPED");
	for (size_t i = 0; i < n; i++) {
		struct status_report r;
		char *path = xasprintf("%s/%s", dir, names[i]), *w = NULL;

		if (status_load(path, &r, &w) == 0) {
			const char *where = "";
			char dur[32] = "-";

			for (size_t j = 0; j < r.nmods; j++)
				if (r.mods[j].state != NULL && strcmp(r.mods[j].state, "failed") == 0) {
					where = r.mods[j].name ? r.mods[j].name : "?";
					break;
				}
			if (r.stage != NULL && strcmp(r.stage, "modules") != 0)
				where = r.stage;
			if (r.finished != NULL)
				fmt_duration(r.duration_ms, dur, sizeof(dur));
			fprintf(out, "%-24s %-8s %-20s %10s  %s\n", or(r.started, "?"), or(r.outcome, "?"),
			    or(r.instance, "?"), dur, where);
			status_report_free(&r);
		} else
			fprintf(out, "%s: %s\n", names[i], w);
		free(w);
		free(path);
		free(names[i]);
	}
	free(names);
	return 0;
}
