/* effects.c: record or perform every side effect, in one place. */
#include "effects.h"

#include <errno.h>
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
	struct exec_result local;
	struct exec_result *r = res ? res : &local;
	char *shown = argv_to_display(argv);
	int rc = -1;

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
	if (exec_argv(argv, e->cmd_timeout_ms, r) < 0) {
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
	log_info(e->module, "%s %s", service, summary);
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
