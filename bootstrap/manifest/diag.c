/* diag.c: gather and print manifest errors with their positions. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "yamltree.h"

void
diag_init(struct diag *d, const char *file)
{
	memset(d, 0, sizeof(*d));
	d->file = xstrdup(file == NULL || strcmp(file, "-") == 0 ? "<stdin>" : file);
}

void
diag_free(struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i].text);
	free(d->msgs);
	free(d->file);
	memset(d, 0, sizeof(*d));
}

static void
diag_vadd(struct diag *d, int line, int col, int warn, const char *fmt, va_list ap)
{
	struct buf b;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->msgs = xrealloc(d->msgs, d->cap * sizeof(*d->msgs));
	}
	buf_init(&b);
	buf_vprintf(&b, fmt, ap);
	d->msgs[d->n].line = line;
	d->msgs[d->n].col = col;
	d->msgs[d->n].is_warning = warn;
	d->msgs[d->n].text = buf_steal(&b);
	d->n++;
	if (warn)
		d->warnings++;
	else
		d->errors++;
}

void
diag_at(struct diag *d, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, line, col, 0, fmt, ap);
	va_end(ap);
}

void
diag_err(struct diag *d, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, at ? at->line : 0, at ? at->col : 0, 0, fmt, ap);
	va_end(ap);
}

void
diag_warn(struct diag *d, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(d, at ? at->line : 0, at ? at->col : 0, 1, fmt, ap);
	va_end(ap);
}

static int
msg_cmp(const void *a, const void *b)
{
	const struct diag_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return strcmp(x->text, y->text);
}

int
diag_print(struct diag *d, FILE *out)
{
	if (d->n > 1)
		qsort(d->msgs, d->n, sizeof(*d->msgs), msg_cmp);
	for (size_t i = 0; i < d->n; i++) {
		const struct diag_msg *m = &d->msgs[i];
		const char *kind = m->is_warning ? "warning" : "error";

		if (m->line > 0)
			fprintf(out, "%s:%d:%d: %s: %s\n", d->file, m->line, m->col, kind, m->text);
		else
			fprintf(out, "%s: %s: %s\n", d->file, kind, m->text);
	}
	return d->errors;
}
