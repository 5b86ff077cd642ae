/* context.c: module outcome, facts and deadline bookkeeping. */
#include "context.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "manifest/manifest.h"
#include "util.h"

void
ctx_init(struct hb_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	kv_init(&ctx->facts);
}

void
ctx_free(struct hb_ctx *ctx)
{
	kv_free(&ctx->facts);
	free(ctx->message);
	ctx->message = NULL;
}

/* Sets the module's outcome message and logs it at lvl. */
static void
set_message(struct hb_ctx *ctx, enum log_level lvl, const char *fmt, va_list ap)
{
	struct buf b;

	buf_init(&b);
	buf_vprintf(&b, fmt, ap);
	hlog(lvl, ctx->module, "%s", b.data);
	free(ctx->message);
	ctx->message = buf_steal(&b);
}

int
ctx_fail(struct hb_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(ctx, ctx->quiet ? LOG_DEBUG : LOG_ERROR, fmt, ap);
	va_end(ap);
	ctx->scope = FAIL_HERE;
	return -1;
}

int
ctx_fail_anywhere(struct hb_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(ctx, ctx->quiet ? LOG_DEBUG : LOG_ERROR, fmt, ap);
	va_end(ap);
	ctx->scope = FAIL_ANYWHERE;
	return -1;
}

void
ctx_result(struct hb_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(ctx, ctx->quiet ? LOG_DEBUG : LOG_INFO, fmt, ap);
	va_end(ap);
}

void
ctx_set_fact(struct hb_ctx *ctx, enum fact f, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	kv_set(&ctx->facts, fact_name(f), b.data, ctx->module);
	buf_free(&b);
}

const char *
ctx_fact(struct hb_ctx *ctx, enum fact f)
{
	return kv_get(&ctx->facts, fact_name(f));
}

long long
ctx_time_left(struct hb_ctx *ctx)
{
	if (ctx->deadline == 0)
		return 24LL * 3600 * 1000;
	long long left = ctx->deadline - mono_ms();
	return left > 0 ? left : 0;
}

bool
ctx_api_due(struct hb_ctx *ctx, long long *next_ms)
{
	long long now = mono_ms();

	if (!ctx->fresh && *next_ms != 0 && now < *next_ms)
		return false;
	*next_ms = now + (ctx->watch != NULL ? ctx->watch->api_ms : 60 * 1000);
	return true;
}
