/* effects.c: record or perform every side effect, in one place. */
#include "effects.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

static const char *const kind_names[] = {
	[EK_AWS] = "aws", [EK_READ] = "read", [EK_RUN] = "run", [EK_FILE] = "file",
	[EK_MKDIR] = "mkdir", [EK_WAIT] = "wait", [EK_CHECK] = "check", [EK_NOTE] = "note",
};

const char *
eff_kind_name(enum eff_kind k)
{
	return kind_names[k];
}

void
eff_init(struct effects *e, enum eff_mode mode)
{
	memset(e, 0, sizeof(*e));
	e->mode = mode;
	e->cmd_timeout_ms = 10 * 60 * 1000;
}

void
eff_free(struct effects *e)
{
	for (size_t i = 0; i < e->nsteps; i++) {
		free(e->steps[i].module);
		free(e->steps[i].text);
	}
	free(e->steps);
	memset(e, 0, sizeof(*e));
}

static void
record(struct effects *e, enum eff_kind kind, char *text)
{
	if (e->nsteps == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 16;
		e->steps = xrealloc(e->steps, e->cap * sizeof(*e->steps));
	}
	e->steps[e->nsteps].module = xstrdup(e->module ? e->module : "haboot");
	e->steps[e->nsteps].kind = kind;
	e->steps[e->nsteps].text = text;
	e->nsteps++;
}

void
eff_describe(struct effects *e, enum eff_kind kind, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (e->mode == EFF_RECORD)
		record(e, kind, buf_steal(&b));
	else {
		log_debug(e->module, "%s: %s", kind_names[kind], b.data);
		buf_free(&b);
	}
}

int
eff_run(struct effects *e, const char *const argv[], struct exec_result *res)
{
	return eff_run_as(e, argv, NULL, res);
}

/* " (as postgres:postgres, in /srv/pg, environment LANG, PGTZ)": names only,
 * an environment value may be a secret. */
static void
describe_as(struct buf *b, const struct exec_as *as, bool with_env)
{
	const char *sep = " (";

	if (as == NULL)
		return;
	if (as->who != NULL && as->switch_ids) {
		buf_printf(b, "%sas %s", sep, as->who);
		sep = ", ";
	}
	if (as->dir != NULL) {
		buf_printf(b, "%sin %s", sep, as->dir);
		sep = ", ";
	}
	if (with_env && as->env != NULL) {
		buf_printf(b, "%senvironment", sep);
		for (char **p = as->env; *p; p++)
			buf_printf(b, "%s%.*s", p == as->env ? " " : ", ", (int)strcspn(*p, "="), *p);
		sep = ", ";
	}
	if (strcmp(sep, ", ") == 0)
		buf_addc(b, ')');
}

int
eff_run_as(struct effects *e, const char *const argv[], const struct exec_as *as,
    struct exec_result *res)
{
	struct exec_result local;
	struct exec_result *r = res ? res : &local;
	char *shown;
	struct buf b;
	int rc = -1;

	buf_init(&b);
	shown = argv_to_display(argv);
	buf_adds(&b, shown);
	free(shown);
	describe_as(&b, as, false);
	shown = buf_steal(&b);

	if (e->mode == EFF_RECORD) {
		record(e, EK_RUN, shown);
		if (res) {
			memset(res, 0, sizeof(*res));
			buf_init(&res->out);
			buf_add(&res->out, "", 0);
			res->exited = 1;
		}
		return 0;
	}
	log_info(e->module, "running %s", shown);
	if (exec_argv_as(argv, as, e->cmd_timeout_ms, r) < 0) {
		log_error(e->module, "cannot run %s: %s", argv[0], strerror(errno));
		free(shown);
		return -1;
	}
	if (r->exited && r->status == 0)
		rc = 0;
	else if (r->timed_out)
		log_error(e->module, "%s timed out and was killed", argv[0]);
	else if (r->exited)
		log_debug(e->module, "%s exited with status %d", argv[0], r->status);
	else
		log_error(e->module, "%s was killed by signal %d", argv[0], r->status);
	if (res == NULL)
		exec_result_free(&local);
	free(shown);
	return rc;
}

int
eff_spawn(struct effects *e, const char *const argv[], const struct exec_as *as,
    const char *log, pid_t *pid, char **why)
{
	char *shown = argv_to_display(argv);
	struct buf b;
	int rc = 0;

	buf_init(&b);
	buf_printf(&b, "start %s detached", shown);
	describe_as(&b, as, true);
	buf_printf(&b, ", output to %s", log);
	free(shown);
	*why = NULL;
	*pid = 0;
	if (e->mode == EFF_RECORD) {
		record(e, EK_RUN, buf_steal(&b));
		return 0;
	}
	log_info(e->module, "%s", b.data);
	if ((rc = exec_spawn(argv, as, log, pid, why)) < 0)
		log_error(e->module, "%s", *why);
	else
		log_info(e->module, "started %s as pid %d", argv[0], (int)*pid);
	buf_free(&b);
	return rc;
}

int
eff_kill(struct effects *e, pid_t pid, int sig, const char *what)
{
	const char *name = sigabbrev_np(sig);

	if (e->mode == EFF_RECORD) {
		record(e, EK_RUN, xasprintf("send SIG%s to %s", name ? name : "?", what));
		return 0;
	}
	log_info(e->module, "sending SIG%s to %s", name ? name : "?", what);
	if (kill(pid, sig) < 0) {
		log_error(e->module, "cannot signal %s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

/* nftw has no argument for its callback: the one chown walk in progress. */
static struct {
	uid_t uid;
	gid_t gid;
	int changed;
	int err;
	const char *module;
} own_walk;

static int
own_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	if (ftw->level == 0 || (st->st_uid == own_walk.uid && st->st_gid == own_walk.gid))
		return 0;
	if (lchown(path, own_walk.uid, own_walk.gid) < 0) {
		own_walk.err = errno;
		log_error(own_walk.module, "cannot chown %s: %s", path, strerror(errno));
		return 1;
	}
	own_walk.changed++;
	return 0;
}

int
eff_chown(struct effects *e, const char *path, const char *who, uid_t uid, gid_t gid,
    mode_t mode, bool recursive)
{
	struct stat st;
	int changed = 0;

	if (e->mode == EFF_RECORD) {
		record(e, EK_FILE, xasprintf("chown %s %s%s, mode %04o", who, path,
		    recursive ? " and everything under it owned otherwise" : "", (unsigned)mode));
		return 0;
	}
	if (lstat(path, &st) < 0) {
		log_error(e->module, "cannot chown %s: %s", path, strerror(errno));
		return -1;
	}
	/* A symlink could point off the volume: never followed, never owned. */
	if (!S_ISDIR(st.st_mode)) {
		log_error(e->module, "cannot chown %s: not a directory", path);
		errno = ENOTDIR;
		return -1;
	}
	if (st.st_uid != uid || st.st_gid != gid) {
		log_info(e->module, "chown %s %s", who, path);
		if (lchown(path, uid, gid) < 0) {
			log_error(e->module, "cannot chown %s: %s", path, strerror(errno));
			return -1;
		}
		changed++;
	}
	if ((st.st_mode & 07777) != mode) {
		log_info(e->module, "chmod %04o %s (was %04o)", (unsigned)mode, path,
		    (unsigned)(st.st_mode & 07777));
		if (chmod(path, mode) < 0) {
			log_error(e->module, "cannot chmod %s: %s", path, strerror(errno));
			return -1;
		}
		changed++;
	}
	if (recursive) {
		own_walk.uid = uid;
		own_walk.gid = gid;
		own_walk.changed = 0;
		own_walk.err = 0;
		own_walk.module = e->module;
		if (nftw(path, own_one, 16, FTW_PHYS | FTW_MOUNT) != 0) {
			errno = own_walk.err ? own_walk.err : errno;
			return -1;
		}
		if (own_walk.changed > 0)
			log_info(e->module, "chown %s: %d entries under %s", who, own_walk.changed, path);
		changed += own_walk.changed;
	}
	return changed;
}

int
eff_write_file(struct effects *e, const char *path, const void *data, size_t len, mode_t mode)
{
	if (e->mode == EFF_RECORD) {
		record(e, EK_FILE, xasprintf("write %s (%zu bytes, mode %04o)", path, len,
		    (unsigned)mode));
		return 0;
	}
	log_info(e->module, "writing %s (%zu bytes, mode %04o)", path, len, (unsigned)mode);
	if (write_file_atomic(path, data, len, mode) < 0) {
		log_error(e->module, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
eff_write_file_about(struct effects *e, const char *path, const void *data, size_t len,
    mode_t mode, const char *about)
{
	if (e->mode == EFF_RECORD) {
		record(e, EK_FILE, xasprintf("write %s (mode %04o): %s", path, (unsigned)mode, about));
		return 0;
	}
	return eff_write_file(e, path, data, len, mode);
}

int
eff_mkdir(struct effects *e, const char *path, mode_t mode)
{
	struct stat st;

	if (e->mode == EFF_RECORD) {
		record(e, EK_MKDIR, xasprintf("create directory %s (mode %04o) if missing", path,
		    (unsigned)mode));
		return 0;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	log_info(e->module, "creating directory %s", path);
	if (mkdir_p(path, mode) < 0) {
		log_error(e->module, "cannot create directory %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
eff_aws(struct effects *e, const char *service, const char *summary, int (*call)(void *arg),
    void *arg)
{
	if (e->mode == EFF_RECORD) {
		record(e, EK_AWS, xasprintf("%s %s", service, summary));
		return 0;
	}
	hlog(e->quiet ? LOG_DEBUG : LOG_INFO, e->module, "%s %s", service, summary);
	return call(arg);
}

void
eff_print_text(const struct effects *e, FILE *out)
{
	const char *cur = NULL;
	int n = 0;

	for (size_t i = 0; i < e->nsteps; i++) {
		const struct eff_step *s = &e->steps[i];

		if (cur == NULL || strcmp(cur, s->module) != 0) {
			fprintf(out, "%s%s:\n", cur ? "\n" : "", s->module);
			cur = s->module;
		}
		fprintf(out, "  %2d. %-5s %s\n", ++n, kind_names[s->kind], s->text);
	}
}

void
eff_print_json(const struct effects *e, struct buf *b)
{
	buf_addc(b, '[');
	for (size_t i = 0; i < e->nsteps; i++) {
		const struct eff_step *s = &e->steps[i];

		buf_printf(b, "%s{\"step\":%zu,\"module\":", i ? "," : "", i + 1);
		buf_add_json_str(b, s->module);
		buf_printf(b, ",\"kind\":\"%s\",\"action\":", kind_names[s->kind]);
		buf_add_json_str(b, s->text);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
}
