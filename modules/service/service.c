/* service.c: start the service that lives on the volume once the filesystem
 * is mounted, prove it ready, keep it so, and stop it cleanly.
 *
 *   apply    the volume is still mounted and signed; the data directory on
 *            it exists with its owner and mode; init (once, on an empty data
 *            directory); then, unless the service already answers, start it
 *            (systemctl start UNIT, or the command as a detached daemon) and
 *            probe until it answers or the ready timeout passes.
 *   check    one probe: the same one that proved it ready.
 *   repair   the volume check again, then restart: stop what runs (SIGKILL
 *            after the stop timeout: it is broken) and start as apply does.
 *   release  stop it cleanly, before the filesystem is unmounted: the stop
 *            command or SIGTERM (or systemctl stop), then wait up to the
 *            stop timeout; a service that will not stop fails the release,
 *            and the volume stays mounted (DESIGN.md 6).
 *
 * Nothing here talks to AWS.  No DNS or address moves before this module
 * succeeded (DESIGN.md 8): it comes before route53 in the manifest. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "module.h"
#include "service.h"

/* Re-probing while the service starts: quick at first, then every 2 s. */
#define PROBE_PAUSE_FIRST_MS 100
#define PROBE_PAUSE_MAX_MS 2000
#define PROGRESS_EVERY_MS 5000
/* After SIGKILL, how long a process may take to go. */
#define KILL_WAIT_MS 5000

/* What one call works with: the config and who its commands run as. */
struct svc_run {
	struct svc_cfg *s;
	struct exec_as as;
	char *ready;         /* the probe, in words */
};

static void
run_free(struct svc_run *r)
{
	exec_as_free(&r->as);
	free(r->ready);
	r->ready = NULL;
}

static int
run_init(struct hb_ctx *ctx, struct svc_run *r, struct svc_cfg *s)
{
	char *why = NULL;

	memset(r, 0, sizeof(*r));
	r->s = s;
	r->ready = svc_ready_text(s);
	if (exec_as_resolve(&r->as, s->user, s->group, &why) < 0) {
		/* The image lacks the user: every instance made from it would too. */
		ctx_fail_anywhere(ctx, "%s", why);
		free(why);
		run_free(r);
		return -1;
	}
	exec_as_env(&r->as, s->env_names, s->env_values, s->nenv);
	if (s->directory != NULL)
		r->as.dir = xstrdup(s->directory);
	return 0;
}

static const char *
what(const struct svc_cfg *s)
{
	return s->unit ? s->unit : s->command[0];
}

static const char *
how_it_ended(const struct exec_result *res, char *out, size_t n)
{
	if (res->timed_out)
		snprintf(out, n, "timed out and was killed");
	else if (res->exited)
		snprintf(out, n, "exited with status %d", res->status);
	else if (res->status > 0)
		snprintf(out, n, "was killed by signal %d", res->status);
	else
		snprintf(out, n, "could not be started (installed, and on PATH?)");
	return out;
}

/* Runs argv as as (the service's user, or NULL: haboot itself) with a time
 * limit; -1 after ctx_fail naming role ("init command"), or, with
 * anywhere, ctx_fail_anywhere. */
static int
run_as(struct hb_ctx *ctx, const struct exec_as *as, char *const argv[], const char *role,
    long long limit_ms, bool anywhere)
{
	long long saved = ctx->eff->cmd_timeout_ms;
	struct exec_result res;
	char how[96], *shown, *tail;
	int rc;

	if (limit_ms < ctx->eff->cmd_timeout_ms)
		ctx->eff->cmd_timeout_ms = limit_ms > 0 ? limit_ms : 1;
	rc = eff_run_as(ctx->eff, (const char *const *)argv, as, &res);
	ctx->eff->cmd_timeout_ms = saved;
	if (rc == 0) {
		exec_result_free(&res);
		return 0;
	}
	shown = argv_to_display((const char *const *)argv);
	tail = exec_output_tail(&res.out, 400);
	if (anywhere)
		ctx_fail_anywhere(ctx, "%s `%s` %s: %s", role, shown,
		    how_it_ended(&res, how, sizeof(how)), tail);
	else
		ctx_fail(ctx, "%s `%s` %s: %s", role, shown, how_it_ended(&res, how, sizeof(how)),
		    tail);
	free(shown);
	free(tail);
	exec_result_free(&res);
	return -1;
}

static int
run_cmd(struct hb_ctx *ctx, struct svc_run *r, char *const argv[], const char *role,
    long long limit_ms, bool anywhere)
{
	return run_as(ctx, &r->as, argv, role, limit_ms, anywhere);
}

/* systemctl runs as haboot, in haboot's environment: user is the unit's
 * business (its User=), and only root may start units. */
static int
systemctl(struct hb_ctx *ctx, const char *verb, const char *unit, const char *role,
    long long limit_ms)
{
	char *argv[] = {"systemctl", (char *)verb, (char *)unit, NULL};

	return run_as(ctx, NULL, argv, role, limit_ms, false);
}

/* ---- the volume ---------------------------------------------------------- */

static bool
is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strcmp(dir, "/") == 0 ||
	    (strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

/* The service starts only on the proven volume: the filesystem module's
 * mountpoint still a mount point, its signature file on it now, the data
 * directory under it.  Looked at again here, not trusted from a fact: the
 * volume may have gone between modules, or since run (watch's repair). */
static int
prove_volume(struct hb_ctx *ctx, const struct svc_cfg *s)
{
	const char *mnt = ctx_fact(ctx, FACT_FS_MOUNTPOINT), *sig = ctx_fact(ctx, FACT_FS_SIGNATURE);
	char rmnt[PATH_MAX], *parent = NULL;
	struct stat mst, pst, sst;
	int rc = -1;

	if (mnt == NULL || sig == NULL)
		return ctx_fail_anywhere(ctx, "nothing proves the volume %s lives on: put the "
		    "filesystem module (with its signature) before service in the manifest",
		    what(s));
	if (realpath(mnt, rmnt) == NULL || stat(rmnt, &mst) < 0 || !S_ISDIR(mst.st_mode))
		return ctx_fail(ctx, "the volume's mountpoint %s is gone (%s): refusing to start "
		    "%s", mnt, strerror(errno ? errno : ENOTDIR), what(s));
	parent = xasprintf("%s/..", rmnt);
	if (strcmp(rmnt, "/") != 0 && stat(parent, &pst) == 0 && pst.st_dev == mst.st_dev &&
	    pst.st_ino != mst.st_ino) {
		ctx_fail(ctx, "%s is no longer a mount point (the volume was unmounted?): refusing "
		    "to start %s on what is under it", mnt, what(s));
		goto out;
	}
	if (stat(sig, &sst) < 0 || !S_ISREG(sst.st_mode) || sst.st_dev != mst.st_dev) {
		ctx_fail_anywhere(ctx, "signature file %s is missing from the volume mounted at %s: "
		    "refusing to start %s on a volume not proven to be the right one", sig, mnt,
		    what(s));
		goto out;
	}
	if (s->data != NULL && !is_under(s->data, mnt)) {
		ctx_fail_anywhere(ctx, "data directory %s is not on the volume mounted at %s: "
		    "haboot starts the service only on its proven volume", s->data, mnt);
		goto out;
	}
	rc = 0;
out:
	free(parent);
	return rc;
}

/* ---- the data directory -------------------------------------------------- */

static bool
dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (d == NULL)
		return false;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/* The owner of the data directory: data.owner, else the service's user,
 * else root. */
static int
data_owner(struct hb_ctx *ctx, const struct svc_cfg *s, struct exec_as *o)
{
	char *why = NULL;

	if (exec_as_resolve(o, s->data_owner ? s->data_owner : "0", s->data_group, &why) < 0) {
		ctx_fail_anywhere(ctx, "data directory %s: %s", s->data, why);
		free(why);
		return -1;
	}
	return 0;
}

/* Creates the data directory if missing, proves it is on the volume, gives
 * it its owner and mode, and runs init when it was empty. */
static int
apply_data(struct hb_ctx *ctx, struct svc_run *r)
{
	const struct svc_cfg *s = r->s;
	const char *mnt = ctx_fact(ctx, FACT_FS_MOUNTPOINT);
	char *parent = NULL, real[PATH_MAX], rmnt[PATH_MAX];
	struct exec_as o;
	struct stat st, mst;
	bool empty;
	int n, rc = -1;

	memset(&o, 0, sizeof(o));
	if (s->data == NULL)
		return 0;
	if (data_owner(ctx, s, &o) < 0)
		goto out;
	if (lstat(s->data, &st) < 0) {
		parent = xstrdup(s->data);
		if (eff_mkdir(ctx->eff, dirname(parent), 0755) < 0 ||
		    eff_mkdir(ctx->eff, s->data, (mode_t)s->data_mode) < 0) {
			ctx_fail(ctx, "cannot create data directory %s: %s", s->data, strerror(errno));
			goto out;
		}
		ctx->changed = true;
	} else if (!S_ISDIR(st.st_mode)) {
		ctx_fail_anywhere(ctx, "data directory %s exists but is not a directory%s: refusing "
		    "to use it", s->data, S_ISLNK(st.st_mode) ? " (a symlink)" : "");
		goto out;
	}
	/* A symlink on the way would put the data off the volume. */
	if (realpath(s->data, real) == NULL || realpath(mnt, rmnt) == NULL ||
	    stat(real, &st) < 0 || stat(rmnt, &mst) < 0 || !is_under(real, rmnt) ||
	    st.st_dev != mst.st_dev) {
		ctx_fail_anywhere(ctx, "data directory %s does not resolve to a directory on the "
		    "volume mounted at %s: refusing to use it", s->data, mnt);
		goto out;
	}
	empty = dir_empty(s->data);
	if ((n = eff_chown(ctx->eff, s->data, o.who, o.uid, o.gid, (mode_t)s->data_mode,
	    s->data_recursive)) < 0) {
		ctx_fail(ctx, "cannot give data directory %s to %s with mode %04llo: %s", s->data,
		    o.who, s->data_mode, strerror(errno));
		goto out;
	}
	if (n > 0)
		ctx->changed = true;
	if (s->init != NULL && empty) {
		log_info(ctx->module, "data directory %s is empty: running init", s->data);
		/* A failed init on the volume's empty directory would fail the same
		 * on any instance. */
		if (run_cmd(ctx, r, s->init, "init command", ctx_time_left(ctx), true) < 0)
			goto out;
		ctx->changed = true;
	}
	rc = 0;
out:
	exec_as_free(&o);
	free(parent);
	return rc;
}

/* ---- readiness ----------------------------------------------------------- */

static void
pause_ms(long long ms)
{
	if (ms > 0)
		usleep((useconds_t)(ms * 1000));
}

/* Probes until the service answers or the ready timeout (bounded by the
 * run's deadline) passes.  *p is the daemon just started (pid 0: none):
 * when it exits before it answers, that is the answer, at once.  A command
 * that exits 0 forked its daemon and went (pg_ctl start): probing goes on. */
static int
wait_ready(struct hb_ctx *ctx, struct svc_run *r, struct svc_proc *p, long long log_off)
{
	const struct svc_cfg *s = r->s;
	long long t0 = mono_ms(), limit = s->ready_timeout_ms, left = ctx_time_left(ctx);
	long long deadline, next_log = t0 + PROGRESS_EVERY_MS, pause = PROBE_PAUSE_FIRST_MS;
	char why[400], t[32];
	char *tail;

	if (left < limit)
		limit = left > 1000 ? left : 1000;
	deadline = t0 + limit;
	fmt_duration(limit, t, sizeof(t));
	log_info(ctx->module, "waiting until %s (up to %s)", r->ready, t);
	for (;;) {
		long long now = mono_ms(), rest = deadline - now;
		int status;

		/* Each probe gets at least a second: one starved at the deadline
		 * would hide why the ones before it failed. */
		if (rest < 1000)
			rest = 1000;
		if (svc_probe(s, &r->as, rest < SVC_CHECK_TIMEOUT_MS ? rest : SVC_CHECK_TIMEOUT_MS,
		    why, sizeof(why)) == 0) {
			fmt_duration(mono_ms() - t0, t, sizeof(t));
			log_info(ctx->module, "ready after %s: %s", t, r->ready);
			ctx_set_fact(ctx, FACT_SERVICE_READY, "%s, after %s", r->ready, t);
			return 0;
		}
		if (p->pid > 0 && waitpid(p->pid, &status, WNOHANG) == p->pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				log_info(ctx->module, "%s exited 0 (it started its daemon and left): "
				    "probing on", s->command[0]);
				p->pid = 0;
			} else {
				tail = svc_log_tail(s->log, log_off);
				ctx_fail(ctx, "%s %s %d before it was ready; %s says: %s", s->command[0],
				    WIFEXITED(status) ? "exited with status" : "was killed by signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), s->log,
				    tail);
				free(tail);
				p->pid = 0;
				return -1;
			}
		} else if (p->pid > 0 && !proc_running(p->pid, p->start)) {
			/* Not our child (started by an earlier run), and gone. */
			ctx_fail(ctx, "%s (pid %d) exited before it was ready", s->command[0],
			    (int)p->pid);
			p->pid = 0;
			return -1;
		}
		now = mono_ms();
		if (now >= deadline) {
			fmt_duration(limit, t, sizeof(t));
			tail = s->log ? svc_log_tail(s->log, log_off) : NULL;
			ctx_fail(ctx, "%s did not become ready within %s: %s (last probe: %s)%s%s%s%s",
			    what(s), t, r->ready, why, tail ? "; " : "", tail ? s->log : "",
			    tail ? " says: " : "", tail ? tail : "");
			free(tail);
			return -1;
		}
		if (now >= next_log) {
			fmt_duration(deadline - now, t, sizeof(t));
			log_info(ctx->module, "not ready yet (%s): %s left", why, t);
			next_log = now + PROGRESS_EVERY_MS;
		}
		pause_ms(pause < deadline - now ? pause : deadline - now);
		pause = pause * 2 > PROBE_PAUSE_MAX_MS ? PROBE_PAUSE_MAX_MS : pause * 2;
	}
}

/* ---- start and stop ------------------------------------------------------ */

/* SIGKILL when SIGTERM was not enough (a repair, a start that failed). */
static bool
kill_hard(struct hb_ctx *ctx, const struct svc_proc *p, const char *name)
{
	char *who = xasprintf("%s (pid %d)", name, (int)p->pid);
	bool gone;

	eff_kill(ctx->eff, p->pid, SIGKILL, who);
	gone = svc_proc_wait_gone(p, KILL_WAIT_MS);
	free(who);
	return gone;
}

/* A start that did not become ready leaves nothing running on the volume. */
static void
stop_failed_start(struct hb_ctx *ctx, const struct svc_cfg *s, const struct svc_proc *p)
{
	char *who, *m;

	if (p->pid <= 0 || !proc_running(p->pid, p->start))
		return;
	who = xasprintf("%s (pid %d)", s->command[0], (int)p->pid);
	eff_kill(ctx->eff, p->pid, SIGTERM, who);
	if (!svc_proc_wait_gone(p, KILL_WAIT_MS))
		kill_hard(ctx, p, s->command[0]);
	m = xasprintf("%s; haboot stopped what it started (pid %d)", ctx->message, (int)p->pid);
	free(ctx->message);
	ctx->message = m;
	free(who);
}

/* The start itself, through the effects layer (plan shows these steps):
 * systemctl VERB UNIT, or the command spawned detached and its pid file.
 * *p is the daemon started (pid 0: none known), *log_off where its log
 * began. */
static int
launch(struct hb_ctx *ctx, struct svc_run *r, const char *verb, struct svc_proc *p,
    long long *log_off)
{
	struct svc_cfg *s = r->s;
	long long limit;
	char *why = NULL, *dir;
	int rc = -1;

	p->pid = 0;
	p->start = -1;
	*log_off = 0;
	if (s->how == SVC_UNIT) {
		/* systemctl waits for the unit's own start (Type=notify, forking). */
		limit = s->ready_timeout_ms < ctx_time_left(ctx) ? s->ready_timeout_ms :
		    ctx_time_left(ctx);
		return systemctl(ctx, verb, s->unit, strcmp(verb, "start") ? "restarting the unit:" :
		    "starting the unit:", limit);
	}
	dir = xstrdup(s->log);
	if (eff_mkdir(ctx->eff, dirname(dir), 0755) < 0) {
		ctx_fail(ctx, "cannot create the directory of %s: %s", s->log, strerror(errno));
		goto out;
	}
	*log_off = svc_file_size(s->log);
	if (eff_spawn(ctx->eff, (const char *const *)s->command, &r->as, s->log, &p->pid,
	    &why) < 0) {
		ctx_fail(ctx, "cannot start %s: %s", s->command[0], why);
		goto out;
	}
	p->start = p->pid > 0 ? proc_start_time(p->pid) : -1;
	if (p->pid > 0)
		ctx_set_fact(ctx, FACT_SERVICE_PID, "%d", (int)p->pid);
	if (svc_proc_write(ctx, s, p->pid) < 0) {
		stop_failed_start(ctx, s, p);
		goto out;
	}
	rc = 0;
out:
	free(dir);
	free(why);
	return rc;
}

/* Starts the service and waits until it is ready; a start that does not
 * get there leaves nothing running. */
static int
start(struct hb_ctx *ctx, struct svc_run *r, const char *verb)
{
	struct svc_proc p;
	long long log_off;

	if (launch(ctx, r, verb, &p, &log_off) < 0)
		return -1;
	if (wait_ready(ctx, r, &p, log_off) == 0)
		return 0;
	if (r->s->how == SVC_COMMAND)
		stop_failed_start(ctx, r->s, &p);
	return -1;
}

/* Waits until the service no longer answers, up to ms (no pid to watch). */
static bool
wait_silent(struct svc_run *r, long long ms)
{
	long long end = mono_ms() + ms;
	char why[400];

	while (svc_probe(r->s, &r->as, 1000, why, sizeof(why)) == 0) {
		if (mono_ms() >= end)
			return false;
		pause_ms(200);
	}
	return true;
}

/* Stops the command-started service.  force (a repair): SIGKILL after the
 * stop timeout, and a service haboot cannot find is simply started again.
 * Without force (release), whatever cannot be stopped cleanly fails. */
static int
stop_command(struct hb_ctx *ctx, struct svc_run *r, bool force, char *done, size_t donelen)
{
	struct svc_cfg *s = r->s;
	struct svc_proc p;
	long long limit = s->stop_timeout_ms, t0 = mono_ms();
	char t[32], why[400], *who = NULL, *stop_err = NULL;
	int rc = -1;

	if (ctx_time_left(ctx) < limit)
		limit = ctx_time_left(ctx) > 1000 ? ctx_time_left(ctx) : 1000;
	fmt_duration(limit, t, sizeof(t));
	svc_proc_read(s, &p);
	who = xasprintf("%s (pid %d)", s->command[0], (int)p.pid);
	snprintf(done, donelen, "%s was not running", s->command[0]);
	/* A release run again after it stopped the service finishes here: no
	 * process to wait for, nothing answers (a stop command would only fail). */
	if (!force && p.pid == 0 && svc_probe(s, &r->as, 2000, why, sizeof(why)) != 0) {
		rc = 0;
		goto out;
	}
	if (s->stop != NULL) {
		if (run_cmd(ctx, r, s->stop, "stop command", limit, false) < 0) {
			if (!force && p.pid == 0)
				goto out;
			/* The process may go anyway; if it does not, this is why. */
			stop_err = xstrdup(ctx->message);
		}
		if (p.pid == 0 && !force && !wait_silent(r, limit - (mono_ms() - t0))) {
			ctx_fail(ctx, "%s still answers %s after its stop command: %s; the volume "
			    "stays mounted", what(s), t, r->ready);
			goto out;
		}
		snprintf(done, donelen, "stopped %s with its stop command", s->command[0]);
	} else if (p.pid > 0) {
		if (eff_kill(ctx->eff, p.pid, SIGTERM, who) < 0 && !force) {
			ctx_fail(ctx, "cannot stop %s: %s", who, strerror(errno));
			goto out;
		}
		snprintf(done, donelen, "stopped %s with SIGTERM", who);
	} else if (!force) {
		ctx_fail(ctx, "%s still answers (%s) but haboot knows no process of it to stop "
		    "(its command left a daemon behind, or something else started it): set "
		    "stop: {command: [...]} so it can be stopped before the volume is unmounted",
		    what(s), r->ready);
		goto out;
	}
	if (p.pid > 0 && !svc_proc_wait_gone(&p, limit - (mono_ms() - t0))) {
		if (!force) {
			ctx_fail(ctx, "%s still runs %s after it was asked to stop%s%s%s: the "
			    "volume stays mounted; stop it by hand (kill %d) and release again", who,
			    t, stop_err ? " (" : "", stop_err ? stop_err : "", stop_err ? ")" : "",
			    (int)p.pid);
			goto out;
		}
		if (!kill_hard(ctx, &p, s->command[0])) {
			ctx_fail(ctx, "%s survives SIGKILL: cannot restart it", who);
			goto out;
		}
		snprintf(done, donelen, "killed %s (it did not stop within %s)", who, t);
	}
	rc = 0;
out:
	free(who);
	free(stop_err);
	return rc;
}

/* ---- the module ---------------------------------------------------------- */

static void
plan_data(struct hb_ctx *ctx, const struct svc_cfg *s)
{
	struct effects *e = ctx->eff;
	struct exec_as o;
	char *parent, *why = NULL;

	if (s->data == NULL)
		return;
	if (exec_as_resolve(&o, s->data_owner ? s->data_owner : "0", s->data_group, &why) < 0) {
		eff_describe(e, EK_CHECK, "%s; run will stop here", why);
		free(why);
		return;
	}
	parent = xstrdup(s->data);
	eff_mkdir(e, dirname(parent), 0755);
	eff_mkdir(e, s->data, (mode_t)s->data_mode);
	eff_describe(e, EK_CHECK, "%s resolves to a directory on the volume (no symlink off it)",
	    s->data);
	eff_chown(e, s->data, o.who, o.uid, o.gid, (mode_t)s->data_mode, s->data_recursive);
	free(parent);
	exec_as_free(&o);
}

static int
svc_plan(struct hb_ctx *ctx, void *cfg)
{
	struct svc_cfg *s = cfg;
	struct effects *e = ctx->eff;
	const char *mnt = ctx_fact(ctx, FACT_FS_MOUNTPOINT);
	struct svc_run r;
	struct svc_proc p;
	long long log_off;
	char t[32];
	int rc = -1;

	if (mnt != NULL)
		eff_describe(e, EK_CHECK, "the volume is still mounted at %s with %s on it; else "
		    "stop", mnt, ctx_fact(ctx, FACT_FS_SIGNATURE));
	else
		eff_describe(e, EK_NOTE, "no filesystem module before service: run will refuse to "
		    "start %s on an unproven volume", what(s));
	if (run_init(ctx, &r, s) < 0) {
		eff_describe(e, EK_CHECK, "%s; run will stop here", ctx->message);
		return -1;
	}
	plan_data(ctx, s);
	if (s->init != NULL) {
		eff_describe(e, EK_NOTE, "only if %s is empty (a blank volume's first boot):", s->data);
		eff_run_as(e, (const char *const *)s->init, &r.as, NULL);
	}
	eff_describe(e, EK_NOTE, "if %s already: nothing to start", r.ready);
	if (launch(ctx, &r, "start", &p, &log_off) < 0)
		goto out;
	fmt_duration(s->ready_timeout_ms, t, sizeof(t));
	eff_describe(e, EK_WAIT, "until %s (up to %s, probing again with backoff)%s", r.ready, t,
	    s->how == SVC_COMMAND ? "; else stop what was started" : "");
	rc = 0;
out:
	run_free(&r);
	return rc;
}

static int
svc_apply(struct hb_ctx *ctx, void *cfg)
{
	struct svc_cfg *s = cfg;
	struct svc_run r;
	struct svc_proc p = {0, -1};
	char why[400], t[32];
	long long t0 = mono_ms();
	int rc = -1;

	if (run_init(ctx, &r, s) < 0)
		return -1;
	if (prove_volume(ctx, s) < 0 || apply_data(ctx, &r) < 0)
		goto out;
	svc_proc_read(s, &p);
	if (svc_probe(s, &r.as, 2000, why, sizeof(why)) == 0) {
		if (p.pid > 0)
			ctx_set_fact(ctx, FACT_SERVICE_PID, "%d", (int)p.pid);
		ctx_set_fact(ctx, FACT_SERVICE_READY, "%s, already", r.ready);
		ctx_result(ctx, "%s already serves: %s%s", what(s), r.ready,
		    p.pid > 0 ? " (started by an earlier run)" : "");
		rc = 0;
		goto out;
	}
	if (p.pid > 0) {
		/* Started earlier and not answering yet (a long crash recovery):
		 * a second copy on the same data would be worse.  Wait for it. */
		log_info(ctx->module, "%s (pid %d) runs but does not answer yet (%s)", s->command[0],
		    (int)p.pid, why);
		if (wait_ready(ctx, &r, &p, svc_file_size(s->log)) < 0)
			goto out;
		ctx_set_fact(ctx, FACT_SERVICE_PID, "%d", (int)p.pid);
		ctx_result(ctx, "%s (pid %d, started by an earlier run) is ready: %s", s->command[0],
		    (int)p.pid, r.ready);
		rc = 0;
		goto out;
	}
	ctx->changed = true;
	if (start(ctx, &r, "start") < 0)
		goto out;
	fmt_duration(mono_ms() - t0, t, sizeof(t));
	if (s->how == SVC_UNIT)
		ctx_result(ctx, "started unit %s; ready in %s: %s", s->unit, t, r.ready);
	else
		ctx_result(ctx, "started %s (pid %s, output to %s); ready in %s: %s", s->command[0],
		    ctx_fact(ctx, FACT_SERVICE_PID), s->log, t, r.ready);
	rc = 0;
out:
	run_free(&r);
	return rc;
}

static enum health
svc_check(struct hb_ctx *ctx, void *cfg)
{
	struct svc_cfg *s = cfg;
	struct svc_run r;
	struct svc_proc p;
	long long limit = SVC_CHECK_TIMEOUT_MS;
	char why[400];
	enum health h = HEALTH_FAILED;

	if (run_init(ctx, &r, s) < 0)
		return HEALTH_FAILED;
	if (ctx_time_left(ctx) < limit)
		limit = ctx_time_left(ctx);
	if (svc_probe(s, &r.as, limit, why, sizeof(why)) == 0) {
		ctx_result(ctx, "%s answers: %s", what(s), r.ready);
		h = HEALTH_OK;
		goto out;
	}
	svc_proc_read(s, &p);
	if (s->how == SVC_COMMAND && p.pid == 0)
		ctx_fail(ctx, "%s does not answer (%s), and the process haboot started is gone",
		    what(s), why);
	else
		ctx_fail(ctx, "%s does not answer: %s", what(s), why);
out:
	run_free(&r);
	return h;
}

static int
svc_repair(struct hb_ctx *ctx, void *cfg)
{
	struct svc_cfg *s = cfg;
	struct svc_run r;
	char done[200], t[32];
	long long t0 = mono_ms();
	int rc = -1;

	if (run_init(ctx, &r, s) < 0)
		return -1;
	/* Never restart onto a volume that is gone: the service would serve an
	 * empty directory (DESIGN.md 9: a repair never makes things worse). */
	if (prove_volume(ctx, s) < 0)
		goto out;
	if (s->how == SVC_COMMAND) {
		if (stop_command(ctx, &r, true, done, sizeof(done)) < 0 || start(ctx, &r, "start") < 0)
			goto out;
	} else {
		snprintf(done, sizeof(done), "systemctl restart %s", s->unit);
		if (start(ctx, &r, "restart") < 0)
			goto out;
	}
	fmt_duration(mono_ms() - t0, t, sizeof(t));
	ctx_result(ctx, "restarted %s (%s); ready in %s: %s", what(s), done, t, r.ready);
	rc = 0;
out:
	run_free(&r);
	return rc;
}

static int
svc_release(struct hb_ctx *ctx, void *cfg)
{
	struct svc_cfg *s = cfg;
	struct svc_run r;
	char done[200], t[32];
	long long t0 = mono_ms();
	int rc = -1;

	if (run_init(ctx, &r, s) < 0)
		return -1;
	if (s->how == SVC_UNIT) {
		if (systemctl(ctx, "stop", s->unit, "stopping the unit:", s->stop_timeout_ms) < 0) {
			char *m = xasprintf("%s; the volume stays mounted", ctx->message);

			free(ctx->message);
			ctx->message = m;
			goto out;
		}
		snprintf(done, sizeof(done), "stopped unit %s", s->unit);
	} else if (stop_command(ctx, &r, false, done, sizeof(done)) < 0)
		goto out;
	fmt_duration(mono_ms() - t0, t, sizeof(t));
	ctx_result(ctx, "%s in %s", done, t);
	rc = 0;
out:
	run_free(&r);
	return rc;
}

const struct module module_service = {
	.name = "service",
	.summary = "start the service on the volume (systemd unit or command) and prove it ready",
	.required_default = true,
	.parse = svc_parse,
	.plan = svc_plan,
	.apply = svc_apply,
	.check = svc_check,
	.repair = svc_repair,
	.release = svc_release,
	.permissions = iam_no_permissions, /* no AWS call */
	.free = svc_free,
};
