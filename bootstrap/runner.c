/* runner.c: the engine.  It knows modules only through struct module. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asg.h"
#include "console.h"
#include "aws/aws.h"
#include "log.h"
#include "module.h"
#include "status.h"
#include "util.h"

static const char *const md_shown[] = {
	"instance-id", "placement/availability-zone", "placement/region", "local-ipv4",
};

int
runner_plan(const struct manifest *m, struct hb_ctx *ctx, bool json, FILE *out)
{
	int rc = EXIT_DONE;

	ctx->service = m->name;
	for (size_t i = 0; i < m->nmods; i++) {
		const struct manifest_module *mm = &m->mods[i];

		ctx->module = mm->mod->name;
		ctx->eff->module = mm->mod->name;
		if (mm->mod->plan(ctx, mm->cfg) < 0) {
			rc = EXIT_MODULE_FAILED;
			eff_describe(ctx->eff, EK_NOTE, "cannot plan: %s",
			    ctx->message ? ctx->message : "unknown error");
		}
	}
	if (json) {
		struct buf b;

		buf_init(&b);
		buf_adds(&b, "{\"service\":");
		buf_add_json_str(&b, m->name);
		buf_printf(&b, ",\"on_failure\":\"%s\",\"deadline_ms\":%lld,",
		    on_failure_name(m->on_failure), m->deadline_ms);
		buf_adds(&b, "\"lifecycle_hook\":");
		if (m->hook_name != NULL) {
			buf_adds(&b, "{\"name\":");
			buf_add_json_str(&b, m->hook_name);
			buf_adds(&b, ",\"group\":");
			buf_add_json_str(&b, m->hook_group);
			buf_addc(&b, '}');
		} else
			buf_adds(&b, "null");
		buf_adds(&b, ",\"metadata\":{");
		for (size_t i = 0; i < HB_ARRAY_LEN(md_shown); i++) {
			const char *v = md_get(ctx->md, md_shown[i]);

			buf_printf(&b, "%s", i ? "," : "");
			buf_add_json_str(&b, md_shown[i]);
			buf_adds(&b, ":{\"value\":");
			if (v)
				buf_add_json_str(&b, v);
			else
				buf_adds(&b, "null");
			buf_adds(&b, ",\"origin\":");
			buf_add_json_str(&b, md_origin(ctx->md, md_shown[i]) ?
			    md_origin(ctx->md, md_shown[i]) : "unknown");
			buf_addc(&b, '}');
		}
		buf_adds(&b, "},\"modules\":[");
		for (size_t i = 0; i < m->nmods; i++) {
			buf_printf(&b, "%s{\"name\":\"%s\",\"required\":%s}", i ? "," : "",
			    m->mods[i].mod->name, m->mods[i].required ? "true" : "false");
		}
		buf_adds(&b, "],\"steps\":");
		eff_print_json(ctx->eff, &b);
		buf_adds(&b, "}\n");
		fputs(b.data, out);
		buf_free(&b);
		return rc;
	}
	char dl[32];
	fmt_duration(m->deadline_ms, dl, sizeof(dl));
	fprintf(out, "plan for service \"%s\": %zu module%s, on_failure=%s, deadline %s\n",
	    m->name, m->nmods, m->nmods == 1 ? "" : "s", on_failure_name(m->on_failure), dl);
	if (m->on_failure == ONF_MARK_UNHEALTHY)
		fprintf(out, "on failure: autoscaling SetInstanceHealth Unhealthy for this instance "
		    "(the group replaces it at once), then the reports run; a failure every new "
		    "instance would repeat (a missing signature, data haboot will not touch) halts "
		    "instead\n");
	else
		fprintf(out, "on failure: stop at the failing module (halt), then the reports run\n");
	if (m->hook_name != NULL)
		fprintf(out, "lifecycle hook %s (group %s): CompleteLifecycleAction CONTINUE on "
		    "success, ABANDON on failure\n", m->hook_name, m->hook_group);
	fprintf(out, "metadata:\n");
	for (size_t i = 0; i < HB_ARRAY_LEN(md_shown); i++) {
		const char *v = md_get(ctx->md, md_shown[i]);
		const char *origin = md_origin(ctx->md, md_shown[i]);

		fprintf(out, "  %-28s %s%s%s%s\n", md_shown[i], v ? v : "(unknown)",
		    origin ? "  (" : "", origin ? origin : "", origin ? ")" : "");
	}
	fputs("\n", out);
	eff_print_text(ctx->eff, out);
	fputs("\nnothing was changed: this was a plan.\n", out);
	return rc;
}

/* Reporting modules and the failure policy get this long past the deadline:
 * a run that ran out of time must still say so, and let the group replace it.
 * The default deadline (4m) plus this stays inside a 5-minute failover budget. */
#define REPORT_GRACE_MS (30 * 1000)

struct runner {
	const struct manifest *m;
	struct hb_ctx *ctx;
	const struct run_opts *o;
	struct run_status st;
	struct mod_result *res;
	char *policy;   /* what the failure policy did */
	char *hook;     /* how the lifecycle hook was completed */
	bool save_warned;
};

/* The report is rewritten as the run goes; a status file that cannot be
 * written is said once, not at every module. */
static void
save_status(struct runner *R)
{
	char *why = NULL;

	if (status_save(&R->st, R->o->status_path, &why) < 0 && !R->save_warned) {
		log_warn("status", "%s", why);
		R->save_warned = true;
	}
	free(why);
}

/* Bounds everything a module starts (commands, AWS retries) by the deadline. */
static void
set_deadline(struct hb_ctx *ctx, long long mono_deadline)
{
	ctx->deadline = mono_deadline;
	if (ctx->aws != NULL)
		aws_set_deadline(ctx->aws, mono_deadline);
}

/* A module listed in another's "after" must have succeeded before that one
 * applies (module.h).  The runner skips everything after a required failure;
 * this covers a module marked required: false that failed, so DNS or an
 * address never points at an instance whose export does not answer
 * (DESIGN.md invariant 8). */
static int
needs_done(struct runner *R, size_t i)
{
	const struct module *mod = R->m->mods[i].mod;

	for (size_t j = 0; j < i; j++) {
		const struct mod_result *r = &R->res[j];

		if (r->state == MS_OK)
			continue;
		for (size_t k = 0; mod->after != NULL && mod->after[k] != NULL; k++)
			if (strcmp(r->name, mod->after[k]) == 0)
				return ctx_fail(R->ctx, "module %s %s in this run, and %s acts only "
				    "once it succeeded: not pointing clients at an instance whose "
				    "service is not proven (DESIGN.md invariant 8)", r->name,
				    mod_state_name(r->state), mod->name);
	}
	return 0;
}

static void
run_module(struct runner *R, size_t i)
{
	struct hb_ctx *ctx = R->ctx;
	const struct manifest_module *mm = &R->m->mods[i];
	struct mod_result *r = &R->res[i];
	long long t0 = mono_ms(), saved_deadline = ctx->deadline;
	long long saved_cmd = ctx->eff->cmd_timeout_ms, left;
	int mrc;

	ctx->module = mm->mod->name;
	ctx->eff->module = mm->mod->name;
	ctx->changed = false;
	ctx->scope = FAIL_HERE;
	free(ctx->message);
	ctx->message = NULL;
	free(r->message);
	r->message = NULL;
	r->state = MS_RUNNING;
	r->start_wall = wall_ms();
	save_status(R);
	/* A report goes out even when the deadline is all but gone. */
	if (mm->mod->runs_after_failure && ctx_time_left(ctx) < REPORT_GRACE_MS)
		set_deadline(ctx, t0 + REPORT_GRACE_MS);
	left = ctx_time_left(ctx);
	if (left < ctx->eff->cmd_timeout_ms)
		ctx->eff->cmd_timeout_ms = left > 0 ? left : 1;
	if (left == 0) {
		char dl[32];

		fmt_duration(R->m->deadline_ms, dl, sizeof(dl));
		mrc = ctx_fail(ctx, "deadline passed before this module started (the run's "
		    "deadline is %s: raise \"deadline\" in the manifest if the modules need "
		    "longer)", dl);
	} else if ((mrc = needs_done(R, i)) == 0)
		mrc = mm->mod->apply(ctx, mm->cfg);
	/* A module that ran past the deadline failed because of it, whatever it says. */
	if (mrc != 0 && ctx_time_left(ctx) == 0 &&
	    (ctx->message == NULL || !str_starts(ctx->message, "deadline passed"))) {
		char *m = xasprintf("deadline passed: %s", ctx->message ? ctx->message : "stopped");

		free(ctx->message);
		ctx->message = m;
		log_error(mm->mod->name, "the run's deadline passed while this module ran");
	}
	ctx->eff->cmd_timeout_ms = saved_cmd;
	if (ctx->deadline != saved_deadline)
		set_deadline(ctx, saved_deadline);
	r->duration_ms = mono_ms() - t0;
	r->changed = ctx->changed;
	r->message = ctx->message ? xstrdup(ctx->message) : NULL;
	r->anywhere = mrc != 0 && ctx->scope == FAIL_ANYWHERE;
	if (mrc == 0)
		r->state = MS_OK;
	else if (!mm->required) {
		r->state = MS_WARNED;
		log_warn(mm->mod->name, "failed, but the module is not required: going on");
	} else
		r->state = MS_FAILED;
	save_status(R);
}

/* A few short lines for the serial console, which GetConsoleOutput shows
 * without SSH: outcome, each module's state and time, the first error. */
static void
console_report(const struct runner *R, const char *zone, long long took)
{
	const char *self = R->st.instance;
	struct buf b, line;
	char d[32];
	const struct mod_result *bad = NULL;

	buf_init(&b);
	buf_init(&line);
	for (size_t i = 0; i < R->st.nmods && bad == NULL; i++)
		if (R->res[i].state == MS_FAILED)
			bad = &R->res[i];
	fmt_duration(took, d, sizeof(d));
	buf_printf(&line, "haboot: %s %s in %s on %s%s%s%s:", R->st.service,
	    bad ? "FAILED" : "ok", d, self ? self : "this instance", zone ? " (" : "",
	    zone ? zone : "", zone ? ")" : "");
	for (size_t i = 0; i < R->st.nmods; i++) {
		const struct mod_result *r = &R->res[i];
		char item[128];

		fmt_duration(r->duration_ms, d, sizeof(d));
		if (r->state == MS_SKIPPED || r->state == MS_PENDING)
			snprintf(item, sizeof(item), " %s %s", r->name, mod_state_name(r->state));
		else
			snprintf(item, sizeof(item), " %s %s %s", r->name, mod_state_name(r->state), d);
		if (line.len + strlen(item) + 1 > CONSOLE_WIDTH) {
			buf_printf(&b, "%s\n", line.data);
			buf_reset(&line);
			buf_adds(&line, "haboot:");
		}
		buf_printf(&line, "%s%s", item, i + 1 < R->st.nmods ? "," : "");
	}
	buf_printf(&b, "%s\n", line.data);
	if (bad != NULL) {
		char *m = xasprintf("%s: %s", bad->name, bad->message ? bad->message : "failed");

		console_wrap(&b, m);
		free(m);
	}
	if (R->policy != NULL)
		console_wrap(&b, R->policy);
	if (R->hook != NULL) {
		char *m = xasprintf("lifecycle hook: %s", R->hook);

		console_wrap(&b, m);
		free(m);
	}
	console_write(b.data);
	buf_free(&b);
	buf_free(&line);
}

bool
runner_needs_aws(const struct manifest *m, char **who)
{
	*who = NULL;
	if (m->on_failure == ONF_MARK_UNHEALTHY)
		*who = xstrdup("on_failure: mark-unhealthy");
	else if (m->hook_name != NULL)
		*who = xstrdup("lifecycle_hook");
	for (size_t i = 0; i < m->nmods && *who == NULL; i++)
		if (m->mods[i].mod->needs_aws && m->mods[i].required)
			*who = xasprintf("module %s", m->mods[i].mod->name);
	return *who != NULL;
}

int
runner_report_early(const struct run_opts *o, const struct early_failure *f)
{
	struct run_status st;
	struct buf b;
	char *why = NULL, *head;
	long long now = wall_ms();

	memset(&st, 0, sizeof(st));
	st.service = f->service;
	st.instance = f->instance;
	st.source = o->source;
	st.started = f->started ? f->started : now;
	st.finished = now;
	st.outcome = "failed";
	st.stage = f->stage;
	st.message = f->message;
	if (status_save(&st, o->status_path, &why) < 0)
		log_warn("status", "%s", why);
	free(why);
	buf_init(&b);
	head = xasprintf("%s FAILED before any module ran, on %s: %s", f->service ? f->service :
	    "haboot", f->instance ? f->instance : "this instance", f->headline);
	console_wrap(&b, head);
	if (f->message != NULL)
		console_wrap(&b, f->message);
	console_write(b.data);
	buf_free(&b);
	free(head);
	return f->exit_code;
}

int
runner_run(const struct manifest *m, struct hb_ctx *ctx, const struct run_opts *o)
{
	struct runner R;
	long long t0 = mono_ms();
	size_t failed_at = m->nmods;
	const char *self, *zone;
	int rc = EXIT_DONE;

	memset(&R, 0, sizeof(R));
	R.m = m;
	R.ctx = ctx;
	R.o = o;
	R.res = xcalloc(m->nmods ? m->nmods : 1, sizeof(*R.res));
	ctx->service = m->name;
	ctx->run = &R.st;
	set_deadline(ctx, t0 + m->deadline_ms);
	self = md_get(ctx->md, "instance-id");
	R.st.service = m->name;
	R.st.instance = self;
	R.st.source = o->source;
	R.st.started = wall_ms();
	R.st.outcome = "running";
	R.st.mods = R.res;
	R.st.nmods = m->nmods;
	R.st.facts = &ctx->facts;
	for (size_t i = 0; i < m->nmods; i++)
		R.res[i].name = m->mods[i].mod->name;
	save_status(&R);
	log_info("haboot", "running %s: %zu modules", m->name, m->nmods);

	for (size_t i = 0; i < m->nmods; i++) {
		if (failed_at < m->nmods) {
			if (!m->mods[i].mod->runs_after_failure) {
				R.res[i].state = MS_SKIPPED;
				R.res[i].message = xasprintf("skipped: %s failed",
				    m->mods[failed_at].mod->name);
			}
			continue;
		}
		run_module(&R, i);
		if (R.res[i].state == MS_FAILED)
			failed_at = i;
	}

	if (failed_at < m->nmods) {
		rc = EXIT_MODULE_FAILED;
		ctx->module = "haboot";
		ctx->eff->module = "haboot";
		/* Past the deadline the policy still gets its grace, to be carried out. */
		if (ctx_time_left(ctx) < REPORT_GRACE_MS)
			set_deadline(ctx, mono_ms() + REPORT_GRACE_MS);
		R.st.outcome = "failed";
		R.st.stage = "modules";
		log_error("haboot", "%s failed at %s; on_failure=%s", m->name,
		    m->mods[failed_at].mod->name, on_failure_name(m->on_failure));
		/* Replacement first: the failover budget is what the service loses.
		 * But not when every new instance would fail the same way: the group
		 * would replace instances in a loop, each one touching the volume. */
		if (m->on_failure == ONF_MARK_UNHEALTHY && R.res[failed_at].anywhere)
			R.policy = xasprintf("halt: %s failed in a way every new instance would "
			    "repeat, so this instance is not marked unhealthy (the group would replace "
			    "instances in a loop); fix the cause, then run haboot again or replace the "
			    "instance", m->mods[failed_at].mod->name);
		else if (m->on_failure == ONF_MARK_UNHEALTHY)
			R.policy = asg_mark_unhealthy(ctx, self);
		else
			R.policy = xasprintf("halt: stopped at %s; later modules skipped",
			    m->mods[failed_at].mod->name);
		R.st.policy = R.policy;
		save_status(&R);
		/* Reports run now, even those that ran before the failure: they told
		 * of a run still going, and the failure must be told too. */
		for (size_t i = 0; i < m->nmods; i++)
			if (m->mods[i].mod->runs_after_failure)
				run_module(&R, i);
	}
	if (m->hook_name != NULL) {
		ctx->module = "haboot";
		ctx->eff->module = "haboot";
		R.hook = asg_complete_hook(ctx, m->hook_name, m->hook_group, self,
		    failed_at == m->nmods);
		R.st.hook = R.hook;
	}
	R.st.finished = wall_ms();
	R.st.outcome = failed_at < m->nmods ? "failed" : "ok";
	save_status(&R);
	zone = md_get(ctx->md, "placement/availability-zone");
	console_report(&R, zone, mono_ms() - t0);
	char dur[32];
	fmt_duration(mono_ms() - t0, dur, sizeof(dur));
	if (failed_at < m->nmods)
		log_error("haboot", "%s failed after %s at %s (%s)", m->name, dur,
		    m->mods[failed_at].mod->name, R.policy);
	else
		log_info("haboot", "%s is up: %zu modules in %s", m->name, m->nmods, dur);
	ctx->run = NULL;
	for (size_t i = 0; i < m->nmods; i++)
		free(R.res[i].message);
	free(R.res);
	free(R.policy);
	free(R.hook);
	return rc;
}

/* arn:...:autoScalingGroup:UUID:autoScalingGroupName/NAME: the UUID is the
 * group's own, unknown until it exists, so it is a wildcard. */
static void
group_resource(struct iam_policy *p, struct iam_stmt *s, const char *group)
{
	if (group != NULL) {
		iam_resource(s, "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/%s",
		    group);
		return;
	}
	iam_resource(s, "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*");
	iam_note(p, "SetInstanceHealth may act in any Auto Scaling group of the account: pass "
	    "--group NAME (the service's group), or name it in lifecycle_hook, to allow one");
}

void
runner_permissions(const struct manifest *m, struct iam_policy *p)
{
	struct iam_stmt *s;

	iam_set_origin(p, "haboot");
	/* haboot watch gives up by asking for a new instance whatever on_failure says. */
	s = iam_stmt(p, "have the group replace this instance when it cannot serve (%swatch, "
	    "once its repairs are spent)", m->on_failure == ONF_MARK_UNHEALTHY ?
	    "on_failure: mark-unhealthy at boot; " : "");
	iam_action(s, "autoscaling:SetInstanceHealth");
	group_resource(p, s, iam_scope(p)->group);
	if (m->hook_name != NULL) {
		s = iam_stmt(p, "lifecycle_hook: complete %s (CONTINUE once serving, ABANDON on "
		    "failure)", m->hook_name);
		iam_action(s, "autoscaling:CompleteLifecycleAction");
		group_resource(p, s, m->hook_group);
	}
}
