/* log.c: timestamped lines on stderr; JSON lines with --log-format json. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "util.h"

static enum log_format log_fmt = LOG_FMT_TEXT;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_setup(enum log_format fmt, enum log_level min)
{
	log_fmt = fmt;
	log_min = min;
}

enum log_level
log_min_level(void)
{
	return log_min;
}

void
hlog(enum log_level lvl, const char *prefix, const char *fmt, ...)
{
	struct buf msg, line;
	char ts[40];
	va_list ap;

	if (lvl < log_min)
		return;
	buf_init(&msg);
	buf_init(&line);
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	fmt_iso8601(wall_ms(), true, ts, sizeof(ts));
	if (log_fmt == LOG_FMT_JSON) {
		buf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":", ts,
		    level_names[lvl]);
		buf_add_json_str(&line, prefix ? prefix : "haboot");
		buf_adds(&line, ",\"msg\":");
		buf_add_json_str(&line, msg.data ? msg.data : "");
		buf_adds(&line, "}\n");
	} else {
		buf_printf(&line, "%s %-5s %s: %s\n", ts, level_names[lvl],
		    prefix ? prefix : "haboot", msg.data ? msg.data : "");
	}
	/* One write per line so concurrent writers never interleave mid-line. */
	fwrite(line.data, 1, line.len, stderr);
	fflush(stderr);
	buf_free(&msg);
	buf_free(&line);
}
