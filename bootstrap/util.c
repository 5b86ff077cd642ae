/* util.c: buffers, durations, clocks, atomic files, gzip. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static void
oom(void)
{
	fputs("haboot: out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom();
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_steal(&b);
}

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

static void
buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	if (need < b->len)
		oom();
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *
buf_steal(struct buf *b)
{
	char *p;

	if (b->data == NULL)
		return xstrdup("");
	p = b->data;
	buf_init(b);
	return p;
}

int
parse_duration(const char *s, long long *ms, const char **why)
{
	long long total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0') {
		*why = "empty duration";
		return -1;
	}
	while (*p) {
		long long v = 0, mult;

		if (!isdigit((unsigned char)*p)) {
			*why = "a duration is a number with a unit, like 90s, 5m, 1h or 250ms";
			return -1;
		}
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p - '0');
			if (v > 1000000000LL) {
				*why = "duration is too large";
				return -1;
			}
			p++;
		}
		if (strncmp(p, "ms", 2) == 0) {
			mult = 1;
			p += 2;
		} else if (*p == 's') {
			mult = 1000;
			p++;
		} else if (*p == 'm') {
			mult = 60000;
			p++;
		} else if (*p == 'h') {
			mult = 3600000;
			p++;
		} else {
			*why = "missing or unknown unit: use ms, s, m or h (e.g. 90s, 5m)";
			return -1;
		}
		total += v * mult;
		/* Checked per part: each is at most 3.6e15 ms, so the sum cannot
		 * overflow before it passes 24h, however many parts follow. */
		if (total > 24LL * 3600000) {
			*why = "duration is longer than 24h";
			return -1;
		}
	}
	*ms = total;
	return 0;
}

void
fmt_duration(long long ms, char *out, size_t n)
{
	if (ms < 1000)
		snprintf(out, n, "%lldms", ms);
	else if (ms < 60000 && ms % 1000)
		snprintf(out, n, "%.1fs", (double)ms / 1000.0);
	else if (ms < 60000)
		snprintf(out, n, "%llds", ms / 1000);
	else if (ms % 60000 == 0)
		snprintf(out, n, "%lldm", ms / 60000);
	else
		snprintf(out, n, "%lldm%llds", ms / 60000, (ms % 60000) / 1000);
}

long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
fmt_iso8601(long long wall, bool with_ms, char *out, size_t n)
{
	time_t t = (time_t)(wall / 1000);
	struct tm tm;
	char base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (with_ms)
		snprintf(out, n, "%s.%03lldZ", base, wall % 1000);
	else
		snprintf(out, n, "%sZ", base);
}

int
read_stream(int fd, size_t max, struct buf *out)
{
	char chunk[8192];

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		if (out->len + (size_t)r > max) {
			errno = EFBIG;
			return -1;
		}
		buf_add(out, chunk, (size_t)r);
	}
	if (out->data == NULL)
		buf_add(out, "", 0);
	return 0;
}

int
read_file(const char *path, size_t max, struct buf *out)
{
	int fd, rc, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = read_stream(fd, max, out);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	/* EEXIST is success only for a directory: a file at a mountpoint is not one. */
	struct stat st;
	if (stat(tmp, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int
write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *p = data;
	int fd = -1, dfd = -1, rc = -1, saved = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.haboot-XXXXXX", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0)
		return -1;
	if (fchmod(fd, mode) < 0)
		goto out;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto out;
	if (close(fd) < 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out;
	/* The rename is durable only once the directory entry is. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return rc;
}

bool
is_gzip(const void *p, size_t n)
{
	const unsigned char *u = p;

	return n >= 2 && u[0] == 0x1f && u[1] == 0x8b;
}

int
gunzip(const void *in, size_t inlen, size_t max, struct buf *out, const char **why)
{
	z_stream zs;
	unsigned char chunk[16384];
	int zr, rc = -1;

	memset(&zs, 0, sizeof(zs));
	/* 16+MAX_WBITS: expect a gzip header, not raw zlib. */
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		*why = "cannot initialise zlib";
		return -1;
	}
	zs.next_in = (unsigned char *)(uintptr_t)in;
	zs.avail_in = (uInt)inlen;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			*why = "corrupt gzip data";
			goto out;
		}
		size_t got = sizeof(chunk) - zs.avail_out;
		if (out->len + got > max) {
			*why = "gzip data inflates past the size limit";
			goto out;
		}
		buf_add(out, chunk, got);
		if (zr != Z_STREAM_END && zs.avail_in == 0 && got == 0) {
			*why = "truncated gzip data";
			goto out;
		}
	} while (zr != Z_STREAM_END);
	rc = 0;
out:
	inflateEnd(&zs);
	return rc;
}

bool
str_starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool
str_ends(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

void
buf_add_json_str(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': buf_adds(b, "\\\""); break;
		case '\\': buf_adds(b, "\\\\"); break;
		case '\n': buf_adds(b, "\\n"); break;
		case '\r': buf_adds(b, "\\r"); break;
		case '\t': buf_adds(b, "\\t"); break;
		default:
			if (*p < 0x20)
				buf_printf(b, "\\u%04x", *p);
			else
				buf_addc(b, (char)*p);
		}
	}
	buf_addc(b, '"');
}
