/* diag.h: collected manifest diagnostics, "FILE:LINE:COL: error: ...".
 * All problems of a manifest are gathered in one pass and printed sorted by
 * position, so ops fix everything in one edit. */
#ifndef HABOOT_DIAG_H
#define HABOOT_DIAG_H

#include <stdio.h>

struct ynode;

struct diag_msg {
	int line, col;
	int is_warning;
	char *text;
};

struct diag {
	char *file; /* name shown in messages ("-" is "<stdin>") */
	struct diag_msg *msgs;
	size_t n, cap;
	int errors, warnings;
};

void diag_init(struct diag *d, const char *file);
void diag_free(struct diag *d);
void diag_at(struct diag *d, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_err(struct diag *d, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warn(struct diag *d, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints every message sorted by position; returns the error count. */
int diag_print(struct diag *d, FILE *out);

#endif
