/* release.c: the release engine (see release.h).  It knows modules only
 * through module.h: release and report. */
#include "release.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asg.h"
#include "aws/aws.h"
#include "aws/imds.h"
#include "awscall.h"
#include "backoff.h"
#include "iam.h"
#include "jsonkit.h"
#include "lifecycle.h"
#include "log.h"
#include "module.h"
#include "runner.h"
#include "sdnotify.h"
#include "status.h"
#include "util.h"

/* A Spot notice gives a time; the release aims to be done this much before. */
#define SPOT_MARGIN_MS (10 * 1000)
/* How often a release waiting for another one's lock looks again. */
#define LOCK_POLL_MS 200

enum step_state { ST_PENDING, ST_RUNNING, ST_OK, ST_FAILED, ST_SKIPPED };

static const char *const step_names[] = {
	[ST_PENDING] = "pending", [ST_RUNNING] = "running", [ST_OK] = "ok",
	[ST_FAILED] = "failed", [ST_SKIPPED] = "skipped",
};

struct step {
	const struct manifest_module *mm;
	enum step_state state;
	long long start;       /* wall ms */
	long long duration_ms;
	char *message;
};

struct releaser {
	const struct manifest *m;
	struct hb_ctx *ctx;
	const struct release_opts *o;
	char *path;            /* the status file itself (status_file()) */
	const char *self;
	char *reason;
	long long started;     /* wall ms */
	long long finished;
	long long deadline;    /* wall ms */
	const char *state;     /* "releasing", "released", "failed" */
	struct step *steps;    /* in the order they run: reverse manifest order */
	size_t nsteps;
	char *stopped_at, *why;
	char *hook;            /* how the lifecycle hook was answered */
	char *policy;          /* what a rebalance release asked of the group */
	struct lc_hook lc;     /* the termination hook, when known */
	pid_t beat;            /* the heartbeat process, or 0 */
};

/* ---- the status file ------------------------------------------------------- */

/* The status file a release reads and writes: the one given, else where run
 * keeps it (status.h), a link followed to the file, so the link survives the
 * file's atomic replacement. */
static char *
status_file(const char *given)
{
	char real[PATH_MAX];
	const char *path = given;

	if (path == NULL)
		path = access(STATUS_DEFAULT_PATH, F_OK) == 0 || access(STATUS_RUN_LINK, F_OK) != 0
		    ? STATUS_DEFAULT_PATH : STATUS_RUN_LINK;
	return realpath(path, real) ? xstrdup(real) : xstrdup(path);
}

static json_object *
read_status(const char *path)
{
	json_object *root = json_object_from_file(path);

	if (root != NULL && !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		root = NULL;
	}
	return root;
}

/* The release recorded in the status file, or NULL (a new reference). */
static json_object *
recorded_release(const char *path)
{
	json_object *root = read_status(path), *rel = NULL, *v;

	if (root != NULL && json_object_object_get_ex(root, "release", &v) &&
	    json_object_is_type(v, json_type_object))
		rel = json_object_get(v);
	json_object_put(root);
	return rel;
}

/* Writes the release into the run's status file, beside what run wrote. */
static void
save(struct releaser *R)
{
	json_object *root = read_status(R->path), *rel, *steps;
	const char *text;

	if (root == NULL) {
		log_warn("release", "cannot update %s: it is gone or no longer a status file",
		    R->path);
		return;
	}
	rel = json_object_new_object();
	steps = json_object_new_array();
	json_object_object_add(rel, "state", json_object_new_string(R->state));
	json_object_object_add(rel, "reason", jk_str(R->reason));
	json_object_object_add(rel, "trigger", json_object_new_string(trigger_name(R->o->trigger)));
	json_object_object_add(rel, "pid", json_object_new_int64(getpid()));
	json_object_object_add(rel, "started", jk_time(R->started));
	json_object_object_add(rel, "deadline", jk_time(R->deadline));
	json_object_object_add(rel, "finished", jk_time(R->finished));
	json_object_object_add(rel, "duration_ms",
	    R->finished ? json_object_new_int64(R->finished - R->started) : NULL);
	json_object_object_add(rel, "stopped_at", jk_str(R->stopped_at));
	json_object_object_add(rel, "why", jk_str(R->why));
	json_object_object_add(rel, "lifecycle_hook", jk_str(R->hook));
	json_object_object_add(rel, "failure_policy", jk_str(R->policy));
	for (size_t i = 0; i < R->nsteps; i++) {
		const struct step *s = &R->steps[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(s->mm->mod->name));
		json_object_object_add(o, "state", json_object_new_string(step_names[s->state]));
		json_object_object_add(o, "start", jk_time(s->start));
		json_object_object_add(o, "duration_ms", json_object_new_int64(s->duration_ms));
		json_object_object_add(o, "message", jk_str(s->message));
		json_object_array_add(steps, o);
	}
	json_object_object_add(rel, "steps", steps);
	json_object_object_add(root, "release", rel);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	{
		char *data = xasprintf("%s\n", text);

		if (write_file_atomic(R->path, data, strlen(data), 0644) < 0)
			log_warn("release", "cannot write %s: %s", R->path,
			    strerror(errno));
		free(data);
	}
	json_object_put(root);
}

/* ---- one release at a time ------------------------------------------------- */

/* Takes the lock beside the status file, waiting up to wait_ms for a release
 * another process is making.  The descriptor, or -1 after logging why. */
static int
lock_release(const char *status_path, long long wait_ms)
{
	char *dir = xstrdup(status_path), *path = NULL;
	long long until = mono_ms() + wait_ms;
	bool said = false;
	int fd = -1;

	if (mkdir_p(dirname(dir), 0755) < 0) {
		log_error("release", "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	path = xasprintf("%s/release.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		log_error("release", "cannot open the release lock %s: %s", path, strerror(errno));
		goto out;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || mono_ms() >= until) {
			log_error("release", "another haboot release holds %s%s: not starting a "
			    "second one; haboot status shows its progress", path,
			    errno == EWOULDBLOCK ? " (still, after waiting for it)" : "");
			close(fd);
			fd = -1;
			goto out;
		}
		if (!said)
			log_info("release", "another haboot release is under way (%s): waiting for it",
			    path);
		said = true;
		sleep_ms(LOCK_POLL_MS);
	}
out:
	free(dir);
	free(path);
	return fd;
}

/* ---- the tag the next instance reads --------------------------------------- */

/* The tag is for the next instance's volume module (takeover: if-owner-gone
 * waits for an owner that says it is handing the volume over): a manifest
 * without a volume neither writes it nor is granted CreateTags. */
static bool
wants_tag(const struct manifest *m)
{
	for (size_t i = 0; i < m->nmods; i++)
		if (strcmp(m->mods[i].mod->name, "volume") == 0)
			return true;
	return false;
}

/* haboot:release on this instance.  A failure is logged, not fatal: without
 * the tag the next instance only waits its own volume timeout. */
static void
tag_self(struct releaser *R, const char *value)
{
	struct hb_ctx *ctx = R->ctx;
	struct aws_call c;

	if (ctx->aws == NULL || R->self == NULL || !wants_tag(R->m))
		return;
	aws_call_init(&c, ctx, AWS_EC2, "CreateTags");
	aws_param(&c.p, "ResourceId.1", "%s", R->self);
	aws_param(&c.p, "Tag.1.Key", "%s", RELEASE_TAG);
	aws_param(&c.p, "Tag.1.Value", "%s", value);
	if (aws_call_send(ctx, &c, "CreateTags %s %s=\"%s\"", R->self, RELEASE_TAG, value) < 0) {
		char *e = aws_error_str(&c.err);

		log_warn("release", "cannot tag %s with %s (%s): the next instance will not know "
		    "this one is handing the volume over, and waits only its own volume timeout",
		    R->self, RELEASE_TAG, e);
		free(e);
	}
	aws_call_free(&c);
}

/* ---- the lifecycle hook ------------------------------------------------------ */

/* The termination hook from the manifest; its group from the manifest or
 * from Auto Scaling.  false when there is none to answer. */
static bool
find_hook(struct releaser *R)
{
	const struct release_cfg *rc = &R->m->release;
	char *why = NULL;

	if (rc->hook_name == NULL || R->self == NULL)
		return false;
	R->lc.name = xstrdup(rc->hook_name);
	R->lc.self = R->self;
	R->lc.token = R->o->hook_token;
	if (rc->hook_group != NULL)
		R->lc.group = xstrdup(rc->hook_group);
	else if (R->m->hook_group != NULL)
		R->lc.group = xstrdup(R->m->hook_group);
	else if (lc_group_of(R->ctx, R->self, &R->lc.group, NULL, &why) < 0) {
		log_error("release", "the termination hook %s cannot be answered: this instance's "
		    "group is unknown (%s); name it in the manifest (release: lifecycle_hook: "
		    "{group: ...})", rc->hook_name, why);
		free(why);
		lc_hook_free(&R->lc);
		return false;
	}
	return true;
}

/* A process of its own keeps the hook alive however long a step blocks (a
 * server that takes a minute to stop, a busy mount): it has its own AWS
 * client, so it shares no connection with the release. */
static pid_t
heartbeat_start(struct releaser *R)
{
	struct hb_ctx *parent = R->ctx, ctx;
	struct metadata md;
	struct imds *imds = NULL;
	long long every = R->m->release.heartbeat_ms;
	char *err = NULL, *why = NULL;
	pid_t pid;

	if ((pid = fork()) < 0) {
		log_warn("release", "cannot start the lifecycle heartbeat: %s", strerror(errno));
		return 0;
	}
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	ctx_init(&ctx);
	md_init(&md);
	for (size_t i = 0; i < parent->md->values.n; i++)
		kv_set(&md.values, parent->md->values.e[i].key, parent->md->values.e[i].val,
		    parent->md->values.e[i].origin);
	if (parent->md->fetch != NULL && (imds = imds_new(&err)) != NULL) {
		md.fetch = imds_md_fetch;
		md.fetch_arg = imds;
	}
	ctx.md = &md;
	ctx.eff = parent->eff;
	ctx.module = "release";
	if ((ctx.aws = aws_new(imds, &md, &err)) == NULL) {
		log_warn("release", "lifecycle heartbeat: %s", err);
		_exit(1);
	}
	for (;;) {
		sleep_ms(every);
		if (getppid() == 1)
			_exit(0);
		aws_set_deadline(ctx.aws, mono_ms() + every);
		if (lc_heartbeat(&ctx, &R->lc, &why) == 0)
			log_info("release", "lifecycle hook %s: heartbeat sent (the group waits "
			    "another heartbeat timeout)", R->lc.name);
		else
			log_warn("release", "lifecycle hook %s: heartbeat FAILED: %s", R->lc.name, why);
		free(why);
		why = NULL;
	}
}

static void
heartbeat_stop(struct releaser *R)
{
	if (R->beat <= 0)
		return;
	kill(R->beat, SIGTERM);
	while (waitpid(R->beat, NULL, 0) < 0 && errno == EINTR)
		;
	R->beat = 0;
}

/* ---- reports ------------------------------------------------------------- */

static void
report(struct releaser *R, enum hb_event_kind kind, const char *summary, const char *detail)
{
	struct hb_ctx *ctx = R->ctx;
	struct hb_event ev = {.kind = kind, .healthy = false, .summary = summary,
	    .detail = detail, .module = R->stopped_at};
	long long saved = ctx->deadline;

	/* A report goes out even when the release's time is spent. */
	if (ctx_time_left(ctx) < 30 * 1000) {
		ctx->deadline = mono_ms() + 30 * 1000;
		if (ctx->aws != NULL)
			aws_set_deadline(ctx->aws, ctx->deadline);
	}
	for (size_t i = 0; i < R->m->nmods; i++) {
		const struct module *mod = R->m->mods[i].mod;

		if (mod->report == NULL)
			continue;
		ctx->module = mod->name;
		ctx->eff->module = mod->name;
		free(ctx->message);
		ctx->message = NULL;
		if (mod->report(ctx, R->m->mods[i].cfg, &ev) < 0)
			log_warn(mod->name, "could not report: %s",
			    ctx->message ? ctx->message : "unknown error");
	}
	ctx->deadline = saved;
	if (ctx->aws != NULL)
		aws_set_deadline(ctx->aws, saved);
}

static char *
steps_text(const struct releaser *R)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < R->nsteps; i++) {
		const struct step *s = &R->steps[i];
		char d[32] = "-";

		if (s->state == ST_OK || s->state == ST_FAILED)
			fmt_duration(s->duration_ms, d, sizeof(d));
		buf_printf(&b, "  %-11s %-8s %8s  %s\n", s->mm->mod->name, step_names[s->state], d,
		    s->message ? s->message : "");
	}
	return buf_steal(&b);
}

/* ---- the steps ------------------------------------------------------------- */

static void
set_deadline(struct hb_ctx *ctx, long long mono)
{
	ctx->deadline = mono;
	if (ctx->aws != NULL)
		aws_set_deadline(ctx->aws, mono);
}

static int
run_step(struct releaser *R, struct step *s)
{
	struct hb_ctx *ctx = R->ctx;
	const struct module *mod = s->mm->mod;
	long long t0 = mono_ms(), left = R->deadline - wall_ms();
	int rc;

	ctx->module = mod->name;
	ctx->eff->module = mod->name;
	ctx->changed = false;
	ctx->scope = FAIL_HERE;
	free(ctx->message);
	ctx->message = NULL;
	s->start = wall_ms();
	s->state = ST_RUNNING;
	save(R);
	set_deadline(ctx, t0 + (left > 0 ? left : 1));
	if (mod->release == NULL) {
		/* route53: the record stays; the next owner points it at itself once it
		 * serves.  notify: it reports through its report hook instead. */
		if (mod->report != NULL)
			ctx_result(ctx, "reports the release (releasing, then its outcome)");
		else
			ctx_result(ctx, "left as it is: the next owner takes it over");
		rc = 0;
	} else if (left <= 0)
		rc = ctx_fail(ctx, "the release's time ran out before this step (release timeout "
		    "%llds%s)", R->m->release.timeout_ms / 1000,
		    R->o->by_wall ? ", or the Spot notice's time" : "");
	else
		rc = mod->release(ctx, s->mm->cfg);
	s->duration_ms = mono_ms() - t0;
	free(s->message);
	s->message = xstrdup(ctx->message ? ctx->message : rc == 0 ? "done" : "failed");
	s->state = rc == 0 ? ST_OK : ST_FAILED;
	save(R);
	return rc;
}

/* ---- the release ------------------------------------------------------------ */

/* Takes up run's facts: the device, the mountpoint, the volume.  A status
 * file of another service or instance is refused. */
static int
take_up(struct releaser *R)
{
	struct status_report r;
	char *why = NULL;
	int rc = EXIT_ENVIRONMENT;

	if (status_load(R->path, &r, &why) < 0) {
		log_error("release", "refusing to release: %s", why);
		free(why);
		return rc;
	}
	if (r.service == NULL || strcmp(r.service, R->m->name) != 0)
		log_error("release", "refusing to release %s: %s reports service \"%s\"",
		    R->m->name, R->path, r.service ? r.service : "?");
	else if (R->self != NULL && r.instance != NULL && strcmp(R->self, r.instance) != 0)
		log_error("release", "refusing to release %s: %s was written on %s, not on this "
		    "instance (%s)", R->m->name, R->path, r.instance, R->self);
	else {
		if (r.outcome == NULL || strcmp(r.outcome, "ok") != 0)
			log_warn("release", "the last run of %s %s: releasing what it brought up",
			    R->m->name, r.outcome && !strcmp(r.outcome, "running") ?
			    "has not finished (or died)" : "failed");
		for (size_t i = 0; i < r.facts.n; i++)
			if (fact_by_name(r.facts.e[i].key) >= 0)
				kv_set(&R->ctx->facts, r.facts.e[i].key, r.facts.e[i].val, "run");
		rc = EXIT_DONE;
	}
	status_report_free(&r);
	return rc;
}

static void
releaser_free(struct releaser *R)
{
	for (size_t i = 0; i < R->nsteps; i++)
		free(R->steps[i].message);
	free(R->steps);
	free(R->reason);
	free(R->stopped_at);
	free(R->why);
	free(R->hook);
	free(R->policy);
	free(R->path);
	lc_hook_free(&R->lc);
}

/* The hook answered for a release made earlier (by hand, then the group
 * terminated the instance), or after this one. */
static void
answer_hook(struct releaser *R, bool released)
{
	bool ok;

	if (!R->o->complete_hook && R->o->trigger != TRIGGER_LIFECYCLE)
		return;
	if (R->lc.name == NULL) {
		if (R->m->release.hook_name == NULL)
			R->hook = xstrdup("no termination hook named (release: lifecycle_hook): the "
			    "group terminates this instance when its own hook times out");
		return;
	}
	R->ctx->module = "release";
	R->ctx->eff->module = "release";
	if (!released) {
		R->hook = xasprintf("%s not completed: the release stopped at %s; the group keeps "
		    "this instance in Terminating:Wait until the hook's heartbeat timeout ends, "
		    "then terminates it. Fix the cause and run haboot release to finish and "
		    "complete the hook at once", R->lc.name, R->stopped_at ? R->stopped_at : "?");
		return;
	}
	set_deadline(R->ctx, mono_ms() + 30 * 1000);
	R->hook = lc_complete(R->ctx, &R->lc, "CONTINUE", &ok);
}

static long long
release_deadline(const struct releaser *R)
{
	long long d = R->started + R->m->release.timeout_ms;

	if (R->o->by_wall > 0 && R->o->by_wall - SPOT_MARGIN_MS < d)
		d = R->o->by_wall - SPOT_MARGIN_MS;
	/* Past the notice already: the steps still get a little time each. */
	if (d < R->started + 10 * 1000)
		d = R->started + 10 * 1000;
	return d;
}

static void
watchdog_extend(const struct releaser *R)
{
	char *msg;

	/* In the watcher, a release may block longer than its watchdog period. */
	if (sd_watchdog_ms() <= 0)
		return;
	msg = xasprintf("WATCHDOG_USEC=%lld\nWATCHDOG=1",
	    (R->deadline - wall_ms() + 120 * 1000) * 1000);
	sd_notify_send(msg);
	free(msg);
}

int
release_run(const struct manifest *m, struct hb_ctx *ctx, const struct release_opts *o)
{
	struct releaser R;
	json_object *prev;
	const char *pstate;
	char until[40], *tag = NULL, *summary = NULL, *detail = NULL, *steps = NULL;
	int lock = -1, rc = EXIT_MODULE_FAILED;

	memset(&R, 0, sizeof(R));
	R.m = m;
	R.ctx = ctx;
	R.o = o;
	R.self = md_get(ctx->md, "instance-id");
	ctx->service = m->name;
	R.path = status_file(o->status_path);
	if ((lock = lock_release(R.path, m->release.timeout_ms)) < 0) {
		free(R.path);
		return EXIT_ENVIRONMENT;
	}
	if ((rc = take_up(&R)) != EXIT_DONE)
		goto out;
	find_hook(&R);
	prev = recorded_release(R.path);
	pstate = jk_get_str(prev, "state");
	if (pstate != NULL && strcmp(pstate, "released") == 0) {
		log_info("release", "%s was already released here (%s, at %s): nothing to do",
		    m->name, jk_get_str(prev, "reason") ? jk_get_str(prev, "reason") : "?",
		    jk_get_str(prev, "finished") ? jk_get_str(prev, "finished") : "?");
		json_object_put(prev);
		R.started = wall_ms();
		answer_hook(&R, true);
		if (R.hook != NULL)
			log_info("release", "lifecycle hook: %s", R.hook);
		rc = EXIT_DONE;
		goto out;
	}
	if (pstate != NULL && strcmp(pstate, "failed") == 0)
		R.reason = xasprintf("%s (resuming a release that stopped at %s)", o->reason,
		    jk_get_str(prev, "stopped_at") ? jk_get_str(prev, "stopped_at") : "?");
	else if (pstate != NULL)
		R.reason = xasprintf("%s (resuming a release that was interrupted)", o->reason);
	else
		R.reason = xstrdup(o->reason);
	json_object_put(prev);
	R.started = wall_ms();
	R.deadline = release_deadline(&R);
	R.state = "releasing";
	R.nsteps = m->nmods;
	R.steps = xcalloc(m->nmods ? m->nmods : 1, sizeof(*R.steps));
	for (size_t i = 0; i < m->nmods; i++)
		R.steps[i].mm = &m->mods[m->nmods - 1 - i];
	save(&R);
	fmt_iso8601(R.deadline, false, until, sizeof(until));
	log_warn("release", "releasing %s: %s; %zu modules in reverse order, done by %s", m->name,
	    R.reason, m->nmods, until);
	sd_notify_send("STATUS=releasing: handing the volume over");
	watchdog_extend(&R);
	ctx->module = "release";
	ctx->eff->module = "release";
	set_deadline(ctx, mono_ms() + 30 * 1000);
	tag = xasprintf("releasing %s until %s", m->name, until);
	tag_self(&R, tag);
	if (R.lc.name != NULL && (o->trigger == TRIGGER_LIFECYCLE || o->complete_hook))
		R.beat = heartbeat_start(&R);
	summary = xasprintf("releasing: %s", R.reason);
	{
		struct buf plan;

		buf_init(&plan);
		for (size_t i = 0; i < R.nsteps; i++)
			buf_printf(&plan, "%s%s", i ? ", " : "", R.steps[i].mm->mod->name);
		detail = xasprintf("steps, in reverse manifest order: %s; to be done by %s (a step "
		    "that cannot finish safely stops the release there, and says why)\n",
		    plan.data ? plan.data : "none", until);
		buf_free(&plan);
	}
	report(&R, EV_RELEASING, summary, detail);
	for (size_t i = 0; i < R.nsteps; i++) {
		if (run_step(&R, &R.steps[i]) == 0)
			continue;
		R.stopped_at = xstrdup(R.steps[i].mm->mod->name);
		R.why = xstrdup(R.steps[i].message);
		for (size_t k = i + 1; k < R.nsteps; k++) {
			R.steps[k].state = ST_SKIPPED;
			R.steps[k].message = xasprintf("not run: the release stopped at %s",
			    R.stopped_at);
		}
		break;
	}
	heartbeat_stop(&R);
	R.finished = wall_ms();
	ctx->module = "release";
	ctx->eff->module = "release";
	set_deadline(ctx, mono_ms() + 30 * 1000);
	free(tag);
	fmt_iso8601(R.finished, false, until, sizeof(until));
	tag = R.stopped_at ? xasprintf("failed at %s %s", R.stopped_at, until)
	                   : xasprintf("released %s", until);
	tag_self(&R, tag);
	answer_hook(&R, R.stopped_at == NULL);
	if (R.stopped_at == NULL && o->trigger == TRIGGER_REBALANCE) {
		/* The recommendation is no termination: ask for the replacement now. */
		R.policy = asg_mark_unhealthy(ctx, R.self);
	}
	/* The outcome is recorded whole (hook and policy included) before it is told. */
	R.state = R.stopped_at ? "failed" : "released";
	save(&R);
	free(summary);
	free(detail);
	steps = steps_text(&R);
	if (R.stopped_at == NULL) {
		summary = xasprintf("released: handed over cleanly in %.1fs",
		    (double)(R.finished - R.started) / 1000.0);
		detail = xasprintf("reason: %s\n\nsteps:\n%s%s%s%s%s", R.reason, steps,
		    R.hook ? "\nlifecycle hook: " : "", R.hook ? R.hook : "",
		    R.policy ? "\n" : "", R.policy ? R.policy : "");
		report(&R, EV_RELEASED, summary, detail);
		log_info("release", "%s released in %.1fs%s%s", m->name,
		    (double)(R.finished - R.started) / 1000.0, R.hook ? "; lifecycle hook " : "",
		    R.hook ? R.hook : "");
		rc = EXIT_DONE;
	} else {
		summary = xasprintf("release stopped at %s: %s", R.stopped_at, R.why);
		detail = xasprintf("reason: %s\nthe release stopped safely at %s and did nothing "
		    "after it (a mounted volume is never detached):\n  %s\n\nsteps:\n%s%s%s\n"
		    "Fix the cause and run `haboot release` again: it takes up where it stopped.\n",
		    R.reason, R.stopped_at, R.why, steps, R.hook ? "\nlifecycle hook: " : "",
		    R.hook ? R.hook : "");
		report(&R, EV_RELEASE_FAILED, summary, detail);
		log_error("release", "%s: release stopped at %s (%s); %s", m->name, R.stopped_at,
		    R.why, R.hook ? R.hook : "run haboot release again once the cause is fixed");
		rc = EXIT_MODULE_FAILED;
	}
out:
	heartbeat_stop(&R);
	free(tag);
	free(summary);
	free(detail);
	free(steps);
	releaser_free(&R);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* ---- the watcher's ear -------------------------------------------------------- */

struct release_listener {
	const struct manifest *m;
	struct hb_ctx *ctx;
	char *status_path;
	struct triggers t;
	bool done;
};

struct release_listener *
release_listener_new(const struct manifest *m, struct hb_ctx *ctx, const char *status_path)
{
	struct release_listener *L = xcalloc(1, sizeof(*L));
	struct imds *imds = NULL;
	char ev[64] = "";

	L->m = m;
	L->ctx = ctx;
	L->status_path = status_file(status_path);
	/* The IMDS client the watcher reads its metadata with, when it has one. */
	if (ctx->md != NULL && ctx->md->fetch == imds_md_fetch)
		imds = ctx->md->fetch_arg;
	triggers_init(&L->t, imds, m->release.on);
	for (int k = 0; k < 3; k++)
		if (m->release.on & (1u << k))
			snprintf(ev + strlen(ev), sizeof(ev) - strlen(ev), "%s%s", *ev ? ", " : "",
			    trigger_name((enum trigger_kind)(k + 1)));
	if (imds == NULL || m->release.on == 0)
		log_info("release", "not listening for a planned stop (%s): release by hand or at "
		    "shutdown only", imds == NULL ? "no instance metadata service" :
		    "release.triggers is empty");
	else
		log_info("release", "listening for a planned stop every %ds: %s", TRIGGER_POLL_MS /
		    1000, ev);
	return L;
}

bool
release_listen(struct release_listener *L)
{
	struct release_opts o;
	struct trigger t;
	json_object *rel;
	const char *state;

	if (L == NULL)
		return false;
	if (L->done)
		return true;
	/* A release made by another process (haboot release, at shutdown). */
	rel = recorded_release(L->status_path);
	if ((state = jk_get_str(rel, "state")) != NULL) {
		log_info("watch", "%s is %s here (%s): the watcher stops, there is nothing left "
		    "to keep healthy", L->m->name, state, jk_get_str(rel, "reason") ?
		    jk_get_str(rel, "reason") : "by another haboot");
		L->done = true;
	}
	json_object_put(rel);
	if (L->done || triggers_poll(&L->t, &t) == 0)
		return L->done;
	memset(&o, 0, sizeof(o));
	o.status_path = L->status_path;
	o.reason = t.why;
	o.trigger = t.kind;
	o.by_wall = t.by_wall;
	o.complete_hook = t.kind == TRIGGER_LIFECYCLE;
	release_run(L->m, L->ctx, &o);
	trigger_free(&t);
	/* Released or stopped half way: either way nothing is to be repaired now
	 * (a repair would undo what the release did). */
	L->done = true;
	return true;
}

void
release_listener_free(struct release_listener *L)
{
	if (L != NULL)
		free(L->status_path);
	free(L);
}

/* ---- haboot iam-policy ---------------------------------------------------------- */

void
release_permissions(const struct manifest *m, struct iam_policy *p)
{
	const char *group = m->release.hook_group ? m->release.hook_group :
	    m->hook_group ? m->hook_group : iam_scope(p)->group;
	struct iam_stmt *s;

	iam_set_origin(p, "release");
	if (!wants_tag(m))
		goto hook;
	/* Only this tag, only on this instance: the role can write no other tag
	 * (aws:autoscaling:groupName, which fence trusts, is Auto Scaling's). */
	s = iam_stmt(p, "tag this instance " RELEASE_TAG " while it hands the volume over, so "
	    "the next instance waits for it");
	iam_action(s, "ec2:CreateTags");
	iam_resource(s, "arn:aws:ec2:*:*:instance/*");
	iam_cond(s, "StringEquals", "aws:ARN", "${ec2:SourceInstanceARN}");
	iam_cond(s, "ForAllValues:StringEquals", "aws:TagKeys", RELEASE_TAG);
hook:
	if (m->release.hook_name == NULL)
		return;
	s = iam_stmt(p, "keep the termination hook %s alive while releasing, then complete it "
	    "(CONTINUE)", m->release.hook_name);
	iam_action(s, "autoscaling:RecordLifecycleActionHeartbeat");
	iam_action(s, "autoscaling:CompleteLifecycleAction");
	if (group != NULL)
		iam_resource(s, "arn:aws:autoscaling:*:*:autoScalingGroup:*:"
		    "autoScalingGroupName/%s", group);
	else {
		iam_resource(s, "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*");
		iam_note(p, "the termination hook may be answered in any Auto Scaling group of the "
		    "account: name its group (release: lifecycle_hook: {group: ...}, or --group)");
	}
	if (m->release.hook_group == NULL && m->hook_group == NULL)
		iam_unscoped(p, "autoscaling:DescribeAutoScalingInstances", "find the group of the "
		    "termination hook, which the manifest does not name (Describe calls take no "
		    "resource; name it in release: lifecycle_hook to drop this)");
}

/* ---- haboot status ------------------------------------------------------------ */

bool
release_recorded(const char *status_path)
{
	json_object *rel = recorded_release(status_path);
	bool yes = jk_get_str(rel, "state") != NULL;

	json_object_put(rel);
	return yes;
}

void
release_status_show(const char *status_path, FILE *out)
{
	json_object *rel = recorded_release(status_path), *steps;
	char d[32];

	if (rel == NULL)
		return;
	fprintf(out, "\nrelease   %s (%s)\n", jk_get_str(rel, "state") ? jk_get_str(rel, "state") : "?",
	    jk_get_str(rel, "reason") ? jk_get_str(rel, "reason") : "?");
	fprintf(out, "          started %s, finished %s\n", jk_get_str(rel, "started") ?
	    jk_get_str(rel, "started") : "?", jk_get_str(rel, "finished") ? jk_get_str(rel, "finished") : "-");
	if (jk_get_str(rel, "stopped_at") != NULL)
		fprintf(out, "stopped   at %s: %s\n", jk_get_str(rel, "stopped_at"),
		    jk_get_str(rel, "why") ? jk_get_str(rel, "why") : "?");
	if (jk_get_str(rel, "lifecycle_hook") != NULL)
		fprintf(out, "hook      %s\n", jk_get_str(rel, "lifecycle_hook"));
	if (jk_get_str(rel, "failure_policy") != NULL)
		fprintf(out, "policy    %s\n", jk_get_str(rel, "failure_policy"));
	if (json_object_object_get_ex(rel, "steps", &steps) &&
	    json_object_is_type(steps, json_type_array))
		for (size_t i = 0; i < json_object_array_length(steps); i++) {
			json_object *s = json_object_array_get_idx(steps, i), *v;

			snprintf(d, sizeof(d), "-");
			if (json_object_object_get_ex(s, "duration_ms", &v) && jk_get_str(s, "start"))
				fmt_duration(json_object_get_int64(v), d, sizeof(d));
			fprintf(out, "  %-11s %-8s %8s  %s\n", jk_get_str(s, "name") ? jk_get_str(s, "name") : "?",
			    jk_get_str(s, "state") ? jk_get_str(s, "state") : "?", d,
			    jk_get_str(s, "message") ? jk_get_str(s, "message") : "");
		}
	json_object_put(rel);
}
