/* util.h: small helpers every layer uses (buffers, durations, files, time). */
#ifndef HABOOT_UTIL_H
#define HABOOT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure is not a recoverable state for a boot runner: abort loudly. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
char *buf_steal(struct buf *b);

/* Durations: "90s", "5m", "1h", "250ms", "1m30s". Returns 0 and sets *ms,
 * or -1 with a static reason in *why. */
int parse_duration(const char *s, long long *ms, const char **why);
/* Human form of a duration in ms: "1m30s", "250ms". */
void fmt_duration(long long ms, char *out, size_t n);

/* Clocks. */
long long mono_ms(void);
long long wall_ms(void);
/* ISO 8601 UTC, "2026-11-26T12:54:26Z" (ms form adds ".123"). */
void fmt_iso8601(long long wall, bool with_ms, char *out, size_t n);

/* Files. read_file caps at max bytes (returns -1, errno=EFBIG past it). */
int read_file(const char *path, size_t max, struct buf *out);
int read_stream(int fd, size_t max, struct buf *out);
/* Atomic replace: temp file in the same directory, fsync, rename, fsync dir. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int mkdir_p(const char *path, mode_t mode);

/* gzip/zlib detection and inflation (user-data may be gzipped). */
bool is_gzip(const void *p, size_t n);
int gunzip(const void *in, size_t inlen, size_t max, struct buf *out, const char **why);

bool str_starts(const char *s, const char *prefix);
bool str_ends(const char *s, const char *suffix);
/* JSON string escaping into b (with the surrounding quotes). */
void buf_add_json_str(struct buf *b, const char *s);

#endif
