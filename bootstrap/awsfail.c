/* awsfail.c: ctx_fail for AWS errors, scoped by the error (see awsfail.h). */
#include "awsfail.h"

#include <stdarg.h>
#include <stdlib.h>

#include "util.h"

int
ctx_fail_aws(struct hb_ctx *ctx, const struct aws_error *err, const char *fmt, ...)
{
	char *why = aws_error_str(err);
	struct buf what;
	va_list ap;

	buf_init(&what);
	va_start(ap, fmt);
	buf_vprintf(&what, fmt, ap);
	va_end(ap);
	if (aws_error_denied(err))
		ctx_fail_anywhere(ctx, "%s: %s", what.data, why);
	else
		ctx_fail(ctx, "%s: %s", what.data, why);
	free(why);
	buf_free(&what);
	return -1;
}
