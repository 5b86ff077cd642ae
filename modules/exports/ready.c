/* ready.c: does the NFS server answer?  A bounded TCP connect loop on
 * the NFS port, plus, for NFS-Ganesha, its log: ganesha starts and listens even
 * when it rejected every EXPORT block, so a listening port alone proves little. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exports.h"
#include "net.h"
#include "log.h"

#define LOG_SCAN_MAX (1024 * 1024)
#define LOG_LINES_MAX 5

static void
sleep_ms(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
exports_wait_ready(const char *prefix, const char *host, int port, long long timeout_ms,
    char *why, size_t whylen)
{
	long long start = mono_ms(), deadline = start + timeout_ms, next_log = start + 5000;
	long long pause = 100;
	char tbuf[32];

	fmt_duration(timeout_ms, tbuf, sizeof(tbuf));
	log_info(prefix, "waiting for the NFS server to answer on %s:%d (up to %s)", host, port,
	    tbuf);
	for (;;) {
		long long now = mono_ms(), left = deadline - now;

		if (net_probe(host, port, left < 1000 ? (left > 0 ? left : 1) : 1000, why,
		    whylen) == 0) {
			fmt_duration(mono_ms() - start, tbuf, sizeof(tbuf));
			log_info(prefix, "NFS server answers on %s:%d after %s", host, port, tbuf);
			return 0;
		}
		now = mono_ms();
		if (now >= deadline)
			return -1;
		if (now >= next_log) {
			fmt_duration(deadline - now, tbuf, sizeof(tbuf));
			log_info(prefix, "still waiting for %s:%d (%s): %s left", host, port, why, tbuf);
			next_log = now + 5000;
		}
		sleep_ms(pause < deadline - now ? pause : deadline - now);
		pause = pause * 2 > 1000 ? 1000 : pause * 2;
	}
}

long long
exports_file_size(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* Is this ganesha log line a configuration error? */
static bool
config_error_line(const char *s, size_t n)
{
	static const char *const marks[] = {
		":CONFIG :CRIT :", ":CONFIG :MAJ :", ":CONFIG :FATAL :",
		"No export entries found",
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(marks); i++)
		if (memmem(s, n, marks[i], strlen(marks[i])) != NULL)
			return true;
	return false;
}

char *
exports_ganesha_config_errors(const char *log, long long offset)
{
	struct buf data, out;
	const char *p, *end;
	int fd, lines = 0;

	if (log == NULL || (fd = open(log, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	/* A log rotated or truncated since the offset was taken is read from its start. */
	if (offset > exports_file_size(log))
		offset = 0;
	if (lseek(fd, (off_t)offset, SEEK_SET) < 0) {
		close(fd);
		return NULL;
	}
	buf_init(&data);
	buf_init(&out);
	/* A log larger than the cap is an error (EFBIG) with what was read kept. */
	(void)read_stream(fd, LOG_SCAN_MAX, &data);
	close(fd);
	for (p = data.data, end = p ? p + data.len : p; p && p < end; ) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *msg = memmem(p, (size_t)(e - p), "] ", 2);

		if (config_error_line(p, (size_t)(e - p))) {
			/* Drop the date and thread prefix: the message is what helps. */
			msg = msg ? msg + 2 : p;
			if (lines++ < LOG_LINES_MAX)
				buf_printf(&out, "%s%.*s", out.len ? "; " : "", (int)(e - msg), msg);
		}
		p = e + 1;
	}
	if (lines > LOG_LINES_MAX)
		buf_printf(&out, "; and %d more", lines - LOG_LINES_MAX);
	buf_free(&data);
	if (out.len == 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}
