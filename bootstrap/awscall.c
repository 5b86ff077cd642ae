/* awscall.c: an AWS change through the effects layer (awscall.h). */
#include "awscall.h"

#include <stdarg.h>
#include <string.h>

#include "aws/xml.h"
#include "effects.h"
#include "util.h"

void
aws_call_init(struct aws_call *c, struct hb_ctx *ctx, enum aws_service svc, const char *action)
{
	memset(c, 0, sizeof(*c));
	c->svc = svc;
	c->action = action;
	c->aws = ctx->aws;
	aws_params_init(&c->p);
	aws_error_init(&c->err);
}

static int
call(void *arg)
{
	struct aws_call *c = arg;
	struct xml_node *x = NULL;
	int rc;

	if (c->aws == NULL) {
		c->err.code = xstrdup("NoClient");
		c->err.message = xstrdup("no AWS client (no region or credentials)");
		return -1;
	}
	rc = aws_query(c->aws, c->svc, c->action, &c->p, &x, &c->err);
	xml_free(x);
	return rc;
}

int
aws_call_send(struct hb_ctx *ctx, struct aws_call *c, const char *fmt, ...)
{
	struct buf sum;
	va_list ap;
	int rc;

	buf_init(&sum);
	va_start(ap, fmt);
	buf_vprintf(&sum, fmt, ap);
	va_end(ap);
	rc = eff_aws(ctx->eff, aws_service_name(c->svc), sum.data, call, c);
	buf_free(&sum);
	return rc;
}

void
aws_call_free(struct aws_call *c)
{
	aws_params_free(&c->p);
	aws_error_free(&c->err);
}
