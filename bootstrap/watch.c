/* watch.c: the watcher (see watch.h).  It knows modules only through
 * module.h: check, repair, upkeep and report. */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asg.h"
#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/imds.h"
#include "jsonkit.h"
#include "log.h"
#include "module.h"
#include "release.h"
#include "runner.h"
#include "sdnotify.h"
#include "status.h"
#include "util.h"

/* How long one module's check, or repair, may take: a hung device or server
 * must not stop the watcher (the systemd watchdog would kill it).  Checks
 * bound their own probes well inside this (a write probe, an RPC). */
#define CHECK_LIMIT_MS (30 * 1000)
#define REPAIR_LIMIT_MS (120 * 1000)
/* What the repairs did, kept for the report: the latest this many bytes. */
#define TRIED_MAX 2000

/* The watcher's state, as haboot status shows it:
 *   starting  no round has ended with every check known and passing yet
 *   healthy   every check passes (one that cannot run is shown as unknown)
 *   suspect   a check failed, fewer times in a row than `failures`: no verdict
 *   failing   a verdict: the module is being repaired (Healthy=0)
 *   gave-up   repairs spent: reported, SetInstanceHealth Unhealthy asked
 *   halted    a failure every new instance would repeat: reported, no more
 *   stopping  a signal ended the watcher */
enum wstate { W_STARTING, W_HEALTHY, W_SUSPECT, W_FAILING, W_GAVE_UP, W_HALTED, W_STOPPING };

static const char *const wstate_names[] = {
	[W_STARTING] = "starting", [W_HEALTHY] = "healthy", [W_SUSPECT] = "suspect",
	[W_FAILING] = "failing", [W_GAVE_UP] = "gave-up", [W_HALTED] = "halted",
	[W_STOPPING] = "stopping",
};

static const char *const health_names[] = {
	[HEALTH_OK] = "ok", [HEALTH_FAILED] = "failed", [HEALTH_UNKNOWN] = "unknown",
};

/* One module as the watcher sees it. */
struct wmod {
	const struct manifest_module *mm;
	bool checked;
	enum health health;
	bool anywhere;          /* the last failure is one every instance would repeat */
	long long at;           /* wall ms of the last check */
	long long took_ms;
	char *message;
	long long fails;        /* failed checks in a row */
	long long failing_since; /* wall ms of the first failed check of this streak, 0 none */
	long long failed_round; /* the round it came in */
	long long *repairs;     /* mono ms of the repairs still inside the window */
	size_t nrepairs;
	long long repairs_total;
	long long next_repair;  /* mono ms: the backoff */
	long long backoff_ms;   /* the next repair's backoff; back to the manifest's once
	                           the window holds no repair */
	char *tried;            /* what the repairs did, for the report */
	bool needs_new;         /* its repair said only a new instance can help */
};

struct watcher {
	const struct manifest *m;
	struct hb_ctx *ctx;
	const struct watch_opts *o;
	struct wmod *w;
	enum wstate state;
	const char *self;       /* this instance's id: IMDS, else the run's report */
	long long started;      /* wall ms */
	long long rounds;
	long long last_round;   /* wall ms */
	long long next_heartbeat; /* mono ms */
	long long watchdog_ms;
	bool reported_down;     /* Healthy=0 was told; a recovery is worth telling */
	char *verdict;          /* why the watcher gave up or halted */
	char *policy;           /* what SetInstanceHealth did */
	/* SetInstanceHealth to send again (refused inside the group's grace
	 * period, or not answered): mono ms, 0 none; and its wall time. */
	long long policy_retry, policy_retry_wall;
};

/* The signal that stops the watcher, written by the handler to a pipe the
 * sleep between rounds polls: no race between a check and a sleep. */
static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	stop_signal = sig;
	if (sig_pipe[1] >= 0)
		(void)!write(sig_pipe[1], &c, 1);
	errno = saved;
}

static int
signals_setup(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return 0;
}

static void
signals_restore(void)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	for (int i = 0; i < 2; i++)
		if (sig_pipe[i] >= 0) {
			close(sig_pipe[i]);
			sig_pipe[i] = -1;
		}
}

/* Sleeps ms, or less when a signal arrives; true when it did. */
static bool
sleep_or_signal(long long ms)
{
	long long until = mono_ms() + ms;

	while (!stop_signal) {
		long long left = until - mono_ms();
		struct pollfd p = {.fd = sig_pipe[0], .events = POLLIN};

		if (left <= 0)
			break;
		if (poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) > 0) {
			char c;

			while (read(sig_pipe[0], &c, 1) > 0)
				;
		}
	}
	return stop_signal != 0;
}

/* ---- the state file ------------------------------------------------------ */

/* What the Healthy metric says: 1 until a verdict (one failed check is none). */
static bool
healthy_now(const struct watcher *W)
{
	return W->state == W_STARTING || W->state == W_HEALTHY || W->state == W_SUSPECT;
}

/* The facts modules set while watching (upkeep: the newest snapshot), not
 * those taken up from the run's report. */
static json_object *
watch_facts(const struct watcher *W)
{
	json_object *o = json_object_new_object();
	const struct kv *f = &W->ctx->facts;

	for (size_t i = 0; i < f->n; i++)
		if (f->e[i].origin == NULL || strcmp(f->e[i].origin, "run") != 0)
			json_object_object_add(o, f->e[i].key, json_object_new_string(f->e[i].val));
	return o;
}

static void
save_state(struct watcher *W)
{
	const struct watch_cfg *c = &W->m->watch;
	json_object *root = json_object_new_object(), *mods = json_object_new_array();
	char dir[PATH_MAX];
	const char *text;

	if (W->o->state_path == NULL)
		goto out;
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "service", jk_str(W->m->name));
	json_object_object_add(root, "instance", jk_str(W->self));
	json_object_object_add(root, "pid", json_object_new_int64(getpid()));
	json_object_object_add(root, "state", json_object_new_string(wstate_names[W->state]));
	json_object_object_add(root, "healthy", json_object_new_boolean(healthy_now(W)));
	json_object_object_add(root, "started", jk_time(W->started));
	json_object_object_add(root, "last_round", jk_time(W->last_round));
	json_object_object_add(root, "rounds", json_object_new_int64(W->rounds));
	json_object_object_add(root, "interval_ms", json_object_new_int64(c->interval_ms));
	json_object_object_add(root, "restarts_allowed", json_object_new_int64(c->restarts));
	json_object_object_add(root, "window_ms", json_object_new_int64(c->window_ms));
	json_object_object_add(root, "verdict", jk_str(W->verdict));
	json_object_object_add(root, "failure_policy", jk_str(W->policy));
	json_object_object_add(root, "failure_policy_retry",
	    W->policy_retry ? jk_time(W->policy_retry_wall) : NULL);
	for (size_t i = 0; i < W->m->nmods; i++) {
		const struct wmod *w = &W->w[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(w->mm->mod->name));
		json_object_object_add(o, "checked", json_object_new_boolean(w->mm->mod->check != NULL));
		json_object_object_add(o, "health",
		    w->checked ? json_object_new_string(health_names[w->health]) : NULL);
		json_object_object_add(o, "at", jk_time(w->at));
		json_object_object_add(o, "duration_ms", json_object_new_int64(w->took_ms));
		json_object_object_add(o, "message", jk_str(w->message));
		json_object_object_add(o, "failures_in_a_row", json_object_new_int64(w->fails));
		json_object_object_add(o, "failing_since", jk_time(w->failing_since));
		json_object_object_add(o, "failed_round",
		    w->failed_round ? json_object_new_int64(w->failed_round) : NULL);
		json_object_object_add(o, "restarts_in_window",
		    json_object_new_int64((int64_t)w->nrepairs));
		json_object_object_add(o, "restarts_total", json_object_new_int64(w->repairs_total));
		json_object_array_add(mods, o);
	}
	json_object_object_add(root, "modules", mods);
	json_object_object_add(root, "facts", watch_facts(W));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	snprintf(dir, sizeof(dir), "%s", W->o->state_path);
	if (mkdir_p(dirname(dir), 0755) < 0 ||
	    write_file_atomic(W->o->state_path, text, strlen(text), 0644) < 0)
		log_warn("watch", "cannot write %s: %s", W->o->state_path, strerror(errno));
out:
	json_object_put(root);
}

static const char *
jget(json_object *o, const char *key, const char *dflt)
{
	const char *s = jk_get_str(o, key);

	return s != NULL ? s : dflt;
}

char *
watch_state_path(const char *status_path)
{
	char *dir, *p;

	if (status_path == NULL || strcmp(status_path, STATUS_DEFAULT_PATH) == 0)
		return xstrdup(WATCH_STATE_DEFAULT_PATH);
	dir = xstrdup(status_path);
	p = xasprintf("%s/watch.json", dirname(dir));
	free(dir);
	return p;
}

/* The watcher's facts; the snapshot's age as of now, the data a zone loss
 * would cost. */
static void
show_facts(json_object *root, FILE *out)
{
	json_object *facts;
	const char *t;
	long long at;
	char age[32];

	if (!json_object_object_get_ex(root, "facts", &facts) ||
	    !json_object_is_type(facts, json_type_object) || json_object_object_length(facts) == 0)
		return;
	fputc('\n', out);
	if ((t = jget(facts, fact_name(FACT_SNAPSHOT_TIME), NULL)) != NULL &&
	    (at = creds_parse_time(t)) > 0) {
		fmt_duration(wall_ms() - at, age, sizeof(age));
		fprintf(out, "snapshot  %s, %s old (started %s): a restore in another zone now lacks "
		    "writes since then\n", jget(facts, fact_name(FACT_SNAPSHOT_LATEST), "?"), age, t);
	}
	json_object_object_foreach(facts, k, v)
		fprintf(out, "%-28s %s\n", k, v ? json_object_get_string(v) : "-");
}

int
watch_state_show(const char *path, bool json, FILE *out, char **why)
{
	json_object *root = NULL, *mods;
	struct buf b;
	char d[32];
	int rc = -1;

	buf_init(&b);
	if (read_file(path, 4 * 1024 * 1024, &b) < 0) {
		*why = xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}
	if ((root = json_tokener_parse(b.data)) == NULL ||
	    !json_object_is_type(root, json_type_object)) {
		*why = xasprintf("%s: not a haboot watch state file (invalid JSON)", path);
		goto out;
	}
	rc = 0;
	if (json) {
		fputs(b.data, out);
		goto out;
	}
	fmt_duration(jk_get_int(root, "interval_ms"), d, sizeof(d));
	{
		json_object *h;
		bool healthy = json_object_object_get_ex(root, "healthy", &h) &&
		    json_object_get_boolean(h);

		fprintf(out, "watch     %s (Healthy=%d), pid %lld, since %s: %lld rounds every %s, "
		    "last %s\n", jget(root, "state", "?"), healthy, jk_get_int(root, "pid"),
		    jget(root, "started", "?"), jk_get_int(root, "rounds"), d,
		    jget(root, "last_round", "-"));
	}
	if (jget(root, "verdict", NULL) != NULL)
		fprintf(out, "verdict   %s\n", jget(root, "verdict", NULL));
	if (jget(root, "failure_policy", NULL) != NULL)
		fprintf(out, "policy    %s\n", jget(root, "failure_policy", NULL));
	fmt_duration(jk_get_int(root, "window_ms"), d, sizeof(d));
	fprintf(out, "\n%-12s %-8s %-24s %7s %8s  %s\n", "MODULE", "HEALTH", "CHECKED", "TOOK",
	    "RESTARTS", "MESSAGE");
	if (json_object_object_get_ex(root, "modules", &mods) &&
	    json_object_is_type(mods, json_type_array))
		for (size_t i = 0; i < json_object_array_length(mods); i++) {
			json_object *m = json_object_array_get_idx(mods, i), *c;
			char r[32], took[32];
			bool checked = json_object_object_get_ex(m, "checked", &c) &&
			    json_object_get_boolean(c);

			snprintf(r, sizeof(r), "%lld/%lld", jk_get_int(m, "restarts_in_window"),
			    jk_get_int(root, "restarts_allowed"));
			fmt_duration(jk_get_int(m, "duration_ms"), took, sizeof(took));
			if (!checked) {
				fprintf(out, "%-12s %-8s %-24s %7s %8s  %s\n", jget(m, "name", "?"), "-",
				    "-", "-", "-", "nothing to check");
				continue;
			}
			fprintf(out, "%-12s %-8s %-24s %7s %8s  ", jget(m, "name", "?"),
			    jget(m, "health", "-"), jget(m, "at", "-"), jget(m, "at", NULL) ? took : "-",
			    r);
			if (jget(m, "failing_since", NULL) != NULL)
				fprintf(out, "failing since %s (%lld in a row): ",
				    jget(m, "failing_since", NULL), jk_get_int(m, "failures_in_a_row"));
			fprintf(out, "%s\n", jget(m, "message", ""));
		}
	fprintf(out, "(RESTARTS: repairs in the last %s / allowed)\n", d);
	show_facts(root, out);
out:
	json_object_put(root);
	buf_free(&b);
	return rc;
}

bool
watch_state_down(const char *path)
{
	json_object *root = json_object_from_file(path);
	const char *st = root ? jget(root, "state", "") : "";
	bool down = !strcmp(st, "gave-up") || !strcmp(st, "halted");

	json_object_put(root);
	return down;
}

int
watch_status_json(const char *status_path, const char *state_path, FILE *out, char **why)
{
	json_object *run = NULL, *state = NULL;
	int rc = -1;

	if ((run = json_object_from_file(status_path)) == NULL ||
	    !json_object_is_type(run, json_type_object)) {
		*why = xasprintf("%s: %s", status_path, errno == ENOENT ? "no status yet" :
		    "not a haboot status file");
		goto out;
	}
	if ((state = json_object_from_file(state_path)) == NULL ||
	    !json_object_is_type(state, json_type_object)) {
		*why = xasprintf("%s: not a haboot watch state file", state_path);
		goto out;
	}
	json_object_object_add(run, "watch", json_object_get(state));
	fprintf(out, "%s\n", json_object_to_json_string_ext(run, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	rc = 0;
out:
	json_object_put(run);
	json_object_put(state);
	return rc;
}

/* ---- reports ------------------------------------------------------------- */

/* Tells every reporting module; a failed report is a warning, never a verdict. */
static void
report(struct watcher *W, enum hb_event_kind kind, bool healthy, const char *module,
    const char *summary, const char *detail)
{
	struct hb_ctx *ctx = W->ctx;
	struct hb_event ev = {.kind = kind, .healthy = healthy, .module = module,
	    .summary = summary, .detail = detail};

	ctx->deadline = mono_ms() + CHECK_LIMIT_MS;
	if (ctx->aws != NULL)
		aws_set_deadline(ctx->aws, ctx->deadline);
	/* A heartbeat a minute is routine: logged when it fails. */
	ctx->quiet = ctx->eff->quiet = kind == EV_HEARTBEAT;
	for (size_t i = 0; i < W->m->nmods; i++) {
		const struct module *mod = W->m->mods[i].mod;

		if (mod->report == NULL)
			continue;
		ctx->module = mod->name;
		ctx->eff->module = mod->name;
		if (mod->report(ctx, W->m->mods[i].cfg, &ev) < 0)
			log_warn(mod->name, "could not report: %s",
			    ctx->message ? ctx->message : "unknown error");
	}
	ctx->quiet = ctx->eff->quiet = false;
	if (kind != EV_HEARTBEAT)
		W->next_heartbeat = mono_ms() + W->m->watch.heartbeat_ms;
	W->reported_down = !healthy;
}

/* ---- one round ------------------------------------------------------------- */

static void
set_message(struct wmod *w, const char *msg)
{
	free(w->message);
	w->message = msg ? xstrdup(msg) : NULL;
}

/* Before a module's step (check, repair, upkeep): its name on the log and
 * effects, a clean outcome, and the step's bound on everything it starts
 * (commands, AWS retries).  The watchdog hears from us before each step, so
 * only a step stuck past its bound lets it fire. */
static void
enter(struct watcher *W, struct wmod *w, long long limit_ms)
{
	struct hb_ctx *ctx = W->ctx;

	sd_notify_send("WATCHDOG=1");
	ctx->module = w->mm->mod->name;
	ctx->eff->module = w->mm->mod->name;
	ctx->changed = false;
	ctx->scope = FAIL_HERE;
	free(ctx->message);
	ctx->message = NULL;
	ctx->deadline = mono_ms() + limit_ms;
	ctx->eff->cmd_timeout_ms = limit_ms;
	if (ctx->aws != NULL)
		aws_set_deadline(ctx->aws, ctx->deadline);
}

static void
check_one(struct watcher *W, struct wmod *w, bool fresh)
{
	struct hb_ctx *ctx = W->ctx;
	long long t0;
	enum health h;

	enter(W, w, CHECK_LIMIT_MS);
	ctx->fresh = fresh;
	ctx->quiet = true;
	t0 = mono_ms();
	h = w->mm->mod->check(ctx, w->mm->cfg);
	ctx->fresh = false;
	ctx->quiet = false;
	w->took_ms = mono_ms() - t0;
	w->at = wall_ms();
	/* The log tells what changed, and every failure: not every pass. */
	if (h == HEALTH_FAILED)
		log_warn(w->mm->mod->name, "check failed (%lld in a row): %s", w->fails + 1,
		    ctx->message ? ctx->message : "failed");
	else if (h == HEALTH_UNKNOWN && (!w->checked || w->health != HEALTH_UNKNOWN))
		log_warn(w->mm->mod->name, "check could not run: %s",
		    ctx->message ? ctx->message : "unknown");
	else if (h == HEALTH_OK && (!w->checked || w->health != HEALTH_OK))
		log_info(w->mm->mod->name, "%s%s", w->fails > 0 || w->health == HEALTH_UNKNOWN ?
		    "healthy again: " : "", ctx->message ? ctx->message : "ok");
	w->checked = true;
	w->health = h;
	w->anywhere = h == HEALTH_FAILED && ctx->scope == FAIL_ANYWHERE;
	set_message(w, ctx->message);
	if (h == HEALTH_FAILED) {
		if (w->fails++ == 0 && w->failing_since == 0) {
			w->failing_since = w->at;
			w->failed_round = W->rounds + 1;
		}
	} else if (h == HEALTH_OK) {
		w->fails = 0;
		w->failing_since = 0;
		w->failed_round = 0;
	}
	/* unknown: neither a failure nor a success; the count stands. */
}

/* Repairs still allowed in the window, after forgetting older ones.  With
 * none left in the window the backoff starts over. */
static long long
budget_left(struct watcher *W, struct wmod *w)
{
	long long now = mono_ms();
	size_t k = 0;

	for (size_t i = 0; i < w->nrepairs; i++)
		if (now - w->repairs[i] < W->m->watch.window_ms)
			w->repairs[k++] = w->repairs[i];
	w->nrepairs = k;
	if (k == 0)
		w->backoff_ms = W->m->watch.backoff_ms;
	return W->m->watch.restarts - (long long)w->nrepairs;
}

/* Returns the repair's result (module.h). */
static int
repair_one(struct watcher *W, struct wmod *w)
{
	struct hb_ctx *ctx = W->ctx;
	const char *name = w->mm->mod->name;
	char bo[32];
	int rc;

	enter(W, w, REPAIR_LIMIT_MS);
	log_warn(name, "repairing after %lld failed check%s (repair %zu of %lld in the window): "
	    "%s", w->fails, w->fails == 1 ? "" : "s", w->nrepairs + 1, W->m->watch.restarts,
	    w->message ? w->message : "failed");
	rc = w->mm->mod->repair(ctx, w->mm->cfg);
	if (rc == REPAIR_NEW_INSTANCE) {
		/* Nothing was tried that could count against the budget. */
		w->needs_new = true;
		log_error(name, "no repair on this instance: %s",
		    ctx->message ? ctx->message : "only a new instance can help");
		set_message(w, ctx->message ? ctx->message : w->message);
		return rc;
	}
	w->repairs = xrealloc(w->repairs, (w->nrepairs + 1) * sizeof(*w->repairs));
	w->repairs[w->nrepairs++] = mono_ms();
	w->repairs_total++;
	/* Backoff: the next repair waits longer, so a flapping service is not
	 * restarted in a tight loop. */
	w->next_repair = mono_ms() + w->backoff_ms;
	fmt_duration(w->backoff_ms, bo, sizeof(bo));
	w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : 0;
	{
		char *line = xasprintf("%s%s%s: %s", w->tried ? w->tried : "", w->tried ? "; " : "",
		    rc == 0 ? "repaired" : "repair failed", ctx->message ? ctx->message : "-");
		size_t n = strlen(line);

		/* A watcher lives for months: keep what the report needs, the latest. */
		if (n > TRIED_MAX) {
			char *cut = xasprintf("...%s", line + n - TRIED_MAX);

			free(line);
			line = cut;
		}
		free(w->tried);
		w->tried = line;
	}
	if (rc == 0)
		log_info(name, "repair done (%s); the next check judges it; next repair no sooner "
		    "than in %s", ctx->message ? ctx->message : "-", bo);
	else
		log_error(name, "repair failed: %s", ctx->message ? ctx->message : "-");
	/* The repair found what every instance would find (a blank device where
	 * the filesystem was): that is the verdict now. */
	if (rc != 0 && ctx->scope == FAIL_ANYWHERE) {
		w->anywhere = true;
		set_message(w, ctx->message);
	}
	/* The next check starts afresh: the repair deserves a fair look. */
	w->fails = 0;
	return rc;
}

static char *
describe_failure(const struct watcher *W, const struct wmod *w, const char *what)
{
	struct buf b;
	char win[32], ts[40];

	buf_init(&b);
	fmt_duration(W->m->watch.window_ms, win, sizeof(win));
	buf_printf(&b, "service:   %s\ninstance:  %s\n", W->m->name, W->self ? W->self : "unknown");
	if (w->failing_since) {
		fmt_iso8601(w->failing_since, false, ts, sizeof(ts));
		buf_printf(&b, "failing since: %s\n", ts);
	}
	buf_printf(&b, "\nwhat failed: %s: %s\n", w->mm->mod->name,
	    w->message ? w->message : "check failed");
	buf_printf(&b, "what was tried: %s\n", w->tried ? w->tried : w->mm->mod->repair ?
	    "nothing yet" : "nothing: this module has no repair (only a new instance can help)");
	buf_printf(&b, "restarts: %zu in the last %s (allowed %lld), %lld since the watcher "
	    "started\n", w->nrepairs, win, W->m->watch.restarts, w->repairs_total);
	buf_printf(&b, "what now: %s\n", what);
	buf_adds(&b, "\nmodules:\n");
	for (size_t i = 0; i < W->m->nmods; i++) {
		const struct wmod *o = &W->w[i];

		if (o->mm->mod->check == NULL)
			continue;
		buf_printf(&b, "  %-11s %-8s %s\n", o->mm->mod->name,
		    o->checked ? health_names[o->health] : "-", o->message ? o->message : "");
	}
	return buf_steal(&b);
}

/* Asks the group for a new instance, respecting its health check grace
 * period: an instance younger than it stays (the operator set that floor; a
 * replacement loop is slowed by it), and the call goes out again when it
 * ends, as it does after no answer.  W->policy says what happened. */
static void
ask_replacement(struct watcher *W)
{
	enum asg_health_result r;
	long long retry = 0;
	char *done = NULL, ts[40];

	W->ctx->module = "watch";
	W->ctx->eff->module = "watch";
	W->ctx->deadline = mono_ms() + CHECK_LIMIT_MS;
	if (W->ctx->aws != NULL)
		aws_set_deadline(W->ctx->aws, W->ctx->deadline);
	r = asg_set_unhealthy(W->ctx, W->self, true, &done, &retry);
	free(W->policy);
	W->policy_retry = 0;
	if (r == ASG_LATER)
		retry = W->m->watch.api_ms;
	if (r == ASG_IN_GRACE || r == ASG_LATER) {
		W->policy_retry = mono_ms() + retry;
		W->policy_retry_wall = wall_ms() + retry;
		fmt_iso8601(W->policy_retry_wall, false, ts, sizeof(ts));
		W->policy = xasprintf("%s%s (again at %s)", done,
		    r == ASG_LATER ? "; trying again" : "", ts);
	} else
		W->policy = xstrdup(done);
	free(done);
}

/* The budget is spent, or nothing here can repair it: ask for a new instance. */
static void
give_up(struct watcher *W, struct wmod *w)
{
	char *summary, *detail;

	W->state = W_GAVE_UP;
	free(W->verdict);
	W->verdict = xasprintf("%s: %s; %s", w->mm->mod->name, w->message ? w->message : "failed",
	    w->mm->mod->repair == NULL ? "nothing on this instance can repair it" :
	    w->needs_new ? "only a new instance can help" :
	    w->tried == NULL ? "no repair is allowed (watch.restarts is 0)" :
	    "the repairs allowed in the window did not help");
	log_error("watch", "giving up: %s", W->verdict);
	ask_replacement(W);
	summary = xasprintf("%s failed; gave up, instance marked unhealthy", w->mm->mod->name);
	detail = describe_failure(W, w, W->policy);
	report(W, EV_GAVE_UP, false, w->mm->mod->name, summary, detail);
	free(summary);
	free(detail);
}

/* A failure every new instance would repeat: tell, and stop repairing. */
static void
halt(struct watcher *W, struct wmod *w)
{
	char *summary, *detail;

	W->state = W_HALTED;
	free(W->verdict);
	W->verdict = xasprintf("%s: %s; every new instance would fail the same way, so this one "
	    "is not replaced: fix the cause (the watcher sees when it is fixed)", w->mm->mod->name,
	    w->message ? w->message : "failed");
	log_error("watch", "halted: %s", W->verdict);
	summary = xasprintf("%s failed in a way a new instance would repeat; halted",
	    w->mm->mod->name);
	detail = describe_failure(W, w, "no repair and no replacement: an operator must act");
	report(W, EV_HALTED, false, w->mm->mod->name, summary, detail);
	free(summary);
	free(detail);
}

/* Before a module is repaired, the modules before it look again afresh
 * (API answers they keep are not trusted): a repair acts on fresh facts, and
 * never on a later piece while an earlier one is broken (re-asserting DNS
 * while the volume went to another instance).  False when one failed. */
static bool
earlier_fine(struct watcher *W, struct wmod *w)
{
	for (struct wmod *e = W->w; e < w; e++) {
		if (e->mm->mod->check == NULL)
			continue;
		check_one(W, e, true);
		if (e->health == HEALTH_FAILED) {
			log_warn("watch", "not repairing %s: %s fails on a fresh look (%s)",
			    w->mm->mod->name, e->mm->mod->name, e->message ? e->message : "failed");
			return false;
		}
	}
	return true;
}

/* Decides what the first failing module gets: nothing yet, a repair, or the end. */
static void
escalate(struct watcher *W, struct wmod *w)
{
	if (w->anywhere) {
		if (W->state != W_HALTED)
			halt(W, w);
		return;
	}
	if (W->state == W_GAVE_UP || W->state == W_HALTED)
		return;
	if (w->fails < W->m->watch.failures) {
		/* One failed probe is no verdict. */
		if (W->state != W_FAILING)
			W->state = W_SUSPECT;
		return;
	}
	W->state = W_FAILING;
	if (w->mm->mod->repair != NULL && budget_left(W, w) > 0) {
		if (mono_ms() < w->next_repair || !earlier_fine(W, w))
			return;
		if (repair_one(W, w) == REPAIR_NEW_INSTANCE)
			give_up(W, w);
		else if (w->anywhere)
			halt(W, w);
		return;
	}
	give_up(W, w);
}

static void
recovered(struct watcher *W)
{
	bool was_down = W->state == W_GAVE_UP || W->state == W_HALTED || W->state == W_FAILING;

	if (was_down || W->state == W_SUSPECT)
		log_info("watch", "the service is healthy again");
	W->state = W_HEALTHY;
	free(W->verdict);
	W->verdict = NULL;
	if (W->policy_retry) {
		W->policy_retry = 0;
		free(W->policy);
		W->policy = xstrdup("SetInstanceHealth not sent again: the service recovered first");
	}
	if (was_down && W->reported_down)
		report(W, EV_RECOVERED, true, NULL, "healthy again", "every check passes again");
}

static void
round_once(struct watcher *W)
{
	struct wmod *first = NULL;
	bool unknown = false;

	exec_reap();
	for (size_t i = 0; i < W->m->nmods && !stop_signal; i++) {
		struct wmod *w = &W->w[i];

		if (w->mm->mod->check == NULL)
			continue;
		check_one(W, w, false);
		if (w->health == HEALTH_FAILED && first == NULL)
			first = w;
		if (w->health == HEALTH_UNKNOWN)
			unknown = true;
	}
	W->rounds++;
	W->last_round = wall_ms();
	/* The first failing module in manifest order is what gets repaired: a
	 * later module's failure (the server, when the mount went read-only) is
	 * most often its consequence.  One round only (--once) just looks. */
	if (W->o->once) {
		/* A look, not the watcher: the state file stays the running
		 * watcher's; the round goes to standard output. */
		W->state = first ? W_FAILING : unknown ? W_STARTING : W_HEALTHY;
		for (size_t i = 0; i < W->m->nmods; i++) {
			const struct wmod *w = &W->w[i];

			if (w->checked)
				printf("%-12s %-8s %s\n", w->mm->mod->name, health_names[w->health],
				    w->message ? w->message : "");
		}
		return;
	}
	if (first != NULL)
		escalate(W, first);
	else if (!unknown)
		recovered(W);
	/* else: a check that cannot run leaves the last verdict standing. */
	if (W->state == W_GAVE_UP && W->policy_retry && mono_ms() >= W->policy_retry)
		ask_replacement(W);
	for (size_t i = 0; i < W->m->nmods && !stop_signal; i++) {
		struct wmod *w = &W->w[i];

		if (w->mm->mod->upkeep == NULL)
			continue;
		enter(W, w, REPAIR_LIMIT_MS);
		if (w->mm->mod->upkeep(W->ctx, w->mm->cfg) < 0)
			report(W, EV_WARNING, healthy_now(W), w->mm->mod->name,
			    W->ctx->message ? W->ctx->message : "upkeep failed", W->ctx->message);
	}
	if (mono_ms() >= W->next_heartbeat) {
		bool healthy = healthy_now(W);

		W->next_heartbeat = mono_ms() + W->m->watch.heartbeat_ms;
		report(W, EV_HEARTBEAT, healthy, NULL, healthy ? "healthy" : "unhealthy", NULL);
	}
	save_state(W);
}

/* ---- start and end --------------------------------------------------------- */

/* How long the watcher's start waits for IMDS to say which instance this is;
 * without an answer, run's report says (take_up). */
#define SELF_LOOK_MS 3000

/* This instance's id from IMDS, asked briefly: a watcher restarted, or a look
 * with --once, during an IMDS outage must not stall a minute on it. */
static const char *
self_from_imds(struct hb_ctx *ctx)
{
	struct imds *imds = ctx->md->fetch == imds_md_fetch ? ctx->md->fetch_arg : NULL;
	long long saved;
	const char *id;

	if (imds == NULL)
		return md_get(ctx->md, "instance-id");
	saved = imds_deadline(imds);
	if (saved > SELF_LOOK_MS)
		imds_set_deadline(imds, SELF_LOOK_MS);
	id = md_get(ctx->md, "instance-id");
	imds_set_deadline(imds, saved);
	return id;
}

/* watch takes up where run left off: the same service, on this instance, up. */
static int
take_up(struct watcher *W)
{
	struct status_report r;
	const char *self = self_from_imds(W->ctx);
	const char *where = W->o->status_path ? W->o->status_path : STATUS_DEFAULT_PATH;
	char *why = NULL;
	int rc = EXIT_ENVIRONMENT;

	if (status_load(W->o->status_path, &r, &why) < 0) {
		log_error("watch", "refusing to watch: no report of a run to take up from: %s", why);
		free(why);
		return rc;
	}
	if (r.service == NULL || strcmp(r.service, W->m->name) != 0)
		log_error("watch", "refusing to watch %s: %s reports service \"%s\"; run this "
		    "manifest first (haboot run)", W->m->name, where, r.service ? r.service : "?");
	else if (self != NULL && r.instance != NULL && strcmp(self, r.instance) != 0)
		log_error("watch", "refusing to watch %s: %s was written on %s, not on this "
		    "instance (%s)", W->m->name, where, r.instance, self);
	else if (status_judge(&r) != SV_OK)
		log_error("watch", "refusing to watch %s: its last run %s (%s): a service run has "
		    "not brought up cannot be kept up; see haboot status", W->m->name,
		    status_verdict_name(status_judge(&r)), where);
	else {
		/* The facts run found (the device, the mountpoint) are what is watched. */
		for (size_t i = 0; i < r.facts.n; i++)
			if (fact_by_name(r.facts.e[i].key) >= 0)
				kv_set(&W->ctx->facts, r.facts.e[i].key, r.facts.e[i].val, "run");
		/* Metadata that cannot be read now is what run read on this instance. */
		if (self == NULL && r.instance != NULL) {
			log_warn("watch", "IMDS does not say which instance this is now: taking %s "
			    "from run's report (%s)", r.instance, where);
			kv_set(&W->ctx->md->values, "instance-id", r.instance, "run's report");
		}
		W->self = md_get(W->ctx->md, "instance-id");
		rc = EXIT_DONE;
	}
	status_report_free(&r);
	return rc;
}

static void
watcher_free(struct watcher *W)
{
	for (size_t i = 0; i < W->m->nmods; i++) {
		free(W->w[i].message);
		free(W->w[i].repairs);
		free(W->w[i].tried);
	}
	free(W->w);
	free(W->verdict);
	free(W->policy);
}

int
watch_run(const struct manifest *m, struct hb_ctx *ctx, const struct watch_opts *o)
{
	struct watcher W;
	struct release_listener *L = NULL;
	bool released = false;
	char iv[32], *st;
	int rc;

	memset(&W, 0, sizeof(W));
	W.m = m;
	W.ctx = ctx;
	W.o = o;
	W.started = wall_ms();
	W.w = xcalloc(m->nmods ? m->nmods : 1, sizeof(*W.w));
	for (size_t i = 0; i < m->nmods; i++) {
		W.w[i].mm = &m->mods[i];
		W.w[i].backoff_ms = m->watch.backoff_ms;
	}
	ctx->service = m->name;
	ctx->watch = &m->watch;
	if ((rc = take_up(&W)) != EXIT_DONE)
		goto out;
	if (signals_setup() < 0) {
		log_error("watch", "cannot set up signal handling: %s", strerror(errno));
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	W.watchdog_ms = sd_watchdog_ms();
	fmt_duration(m->watch.interval_ms, iv, sizeof(iv));
	if (W.watchdog_ms > 0 && W.watchdog_ms / 2 < m->watch.interval_ms)
		log_warn("watch", "the systemd watchdog (WatchdogSec) is shorter than twice the "
		    "watch interval (%s): the watcher pings it between checks too", iv);
	log_info("watch", "watching %s every %s (%lld failed checks in a row before a repair, "
	    "%lld repairs per window)", m->name, iv, m->watch.failures, m->watch.restarts);
	if (!o->once)
		save_state(&W);
	/* A planned stop (lifecycle hook, Spot notice) ends the watch: release.c. */
	if (!o->once)
		L = release_listener_new(m, ctx, o->status_path);
	for (;;) {
		if ((released = release_listen(L)))
			break;
		round_once(&W);
		if (W.rounds == 1)
			sd_notify_send("READY=1");
		st = xasprintf("STATUS=%s: %s", wstate_names[W.state],
		    W.verdict ? W.verdict : "every check passes");
		sd_notify_send(st);
		free(st);
		sd_notify_send("WATCHDOG=1");
		if (o->once || stop_signal)
			break;
		/* Sleep in slices so the watchdog is fed however long the interval. */
		for (long long left = m->watch.interval_ms; left > 0 && !stop_signal &&
		    !(released = release_listen(L));) {
			long long slice = W.watchdog_ms > 0 && W.watchdog_ms / 2 < left ?
			    W.watchdog_ms / 2 : left;

			if (slice > TRIGGER_POLL_MS)
				slice = TRIGGER_POLL_MS;
			sleep_or_signal(slice);
			left -= slice;
			sd_notify_send("WATCHDOG=1");
		}
		if (stop_signal || released)
			break;
	}
	if (stop_signal || released) {
		log_info("watch", "stopping on %s", released ?
		    "a release (haboot status shows it)" : strsignal(stop_signal));
		sd_notify_send("STOPPING=1");
		W.state = W_STOPPING;
		save_state(&W);
	}
	if (o->once)
		rc = W.state == W_HEALTHY ? EXIT_DONE : W.state == W_FAILING ? EXIT_MODULE_FAILED :
		    EXIT_ENVIRONMENT;
	else
		rc = EXIT_DONE;
out:
	release_listener_free(L);
	signals_restore();
	stop_signal = 0;
	ctx->watch = NULL;
	watcher_free(&W);
	return rc;
}
