/* runner.c: the engine.  It knows modules only through struct module. */
#include "runner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../modules/module.h"
#include "log.h"
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
		buf_printf(&b, ",\"on_failure\":\"%s\",\"deadline_ms\":%lld,\"metadata\":{",
		    on_failure_name(m->on_failure), m->deadline_ms);
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

static void
save_status(const struct run_status *st, const char *path)
{
	if (path != NULL && status_write(st, path) < 0)
		log_warn("status", "cannot write %s: %s", path, strerror(errno));
}

int
runner_run(const struct manifest *m, struct hb_ctx *ctx, const struct run_opts *o)
{
	struct run_status st;
	struct mod_result *res = xcalloc(m->nmods ? m->nmods : 1, sizeof(*res));
	int rc = EXIT_DONE;
	bool failed = false;

	memset(&st, 0, sizeof(st));
	ctx->service = m->name;
	ctx->deadline = mono_ms() + m->deadline_ms;
	st.service = m->name;
	st.instance = md_get(ctx->md, "instance-id");
	st.source = o->source;
	st.started = wall_ms();
	st.outcome = "running";
	st.mods = res;
	st.nmods = m->nmods;
	st.facts = &ctx->facts;
	for (size_t i = 0; i < m->nmods; i++)
		res[i].name = m->mods[i].mod->name;
	save_status(&st, o->status_path);
	log_info("haboot", "running %s: %zu modules", m->name, m->nmods);

	for (size_t i = 0; i < m->nmods; i++) {
		const struct manifest_module *mm = &m->mods[i];
		struct mod_result *r = &res[i];
		long long t0 = mono_ms();
		int mrc;

		if (failed) {
			r->state = MS_SKIPPED;
			r->message = xstrdup("skipped: an earlier module failed");
			continue;
		}
		ctx->module = mm->mod->name;
		ctx->eff->module = mm->mod->name;
		ctx->changed = false;
		free(ctx->message);
		ctx->message = NULL;
		r->state = MS_RUNNING;
		r->start_wall = wall_ms();
		save_status(&st, o->status_path);
		if (ctx_time_left(ctx) == 0)
			mrc = ctx_fail(ctx, "the run's deadline passed before this module started");
		else if (mm->mod->apply == NULL)
			mrc = ctx_fail(ctx, "module %s: apply not implemented yet", mm->mod->name);
		else
			mrc = mm->mod->apply(ctx, mm->cfg);
		r->duration_ms = mono_ms() - t0;
		r->changed = ctx->changed;
		r->message = ctx->message ? xstrdup(ctx->message) : NULL;
		if (mrc == 0) {
			r->state = MS_OK;
		} else if (!mm->required) {
			r->state = MS_WARNED;
			log_warn(mm->mod->name, "failed, but the module is not required: going on");
		} else {
			r->state = MS_FAILED;
			failed = true;
			rc = EXIT_MODULE_FAILED;
		}
		save_status(&st, o->status_path);
	}
	st.finished = wall_ms();
	st.outcome = failed ? "failed" : "ok";
	save_status(&st, o->status_path);
	char dur[32];
	fmt_duration(st.finished - st.started, dur, sizeof(dur));
	if (failed)
		log_error("haboot", "%s failed after %s (on_failure=%s)", m->name, dur,
		    on_failure_name(m->on_failure));
	else
		log_info("haboot", "%s is up: %zu modules in %s", m->name, m->nmods, dur);
	for (size_t i = 0; i < m->nmods; i++)
		free(res[i].message);
	free(res);
	return rc;
}
