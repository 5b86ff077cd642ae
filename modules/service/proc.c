/* proc.c: the daemon haboot started, across haboot's own runs.  run starts
 * it and exits; watch and release, later processes, find it again through
 * the pid file, which holds the pid and the process's start time: a pid
 * alone could name an unrelated process after the daemon died and the pid
 * was reused, and haboot must never signal that one. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service.h"

#define TAIL_MAX 600

void
svc_proc_read(const struct svc_cfg *s, struct svc_proc *p)
{
	struct buf b;
	long long pid = 0, start = -1;

	memset(p, 0, sizeof(*p));
	if (s->pidfile == NULL)
		return;
	buf_init(&b);
	if (read_file(s->pidfile, 256, &b) == 0 && sscanf(b.data, "%lld %lld", &pid, &start) == 2 &&
	    pid > 1 && pid < 1LL << 31 && proc_running((pid_t)pid, start)) {
		p->pid = (pid_t)pid;
		p->start = start;
	}
	buf_free(&b);
}

int
svc_proc_write(struct hb_ctx *ctx, const struct svc_cfg *s, pid_t pid)
{
	char *dir = xstrdup(s->pidfile), *text;
	int rc = -1;

	text = xasprintf("%d %lld\n", (int)pid, pid > 0 ? proc_start_time(pid) : 0);
	if (eff_mkdir(ctx->eff, dirname(dir), 0755) < 0 ||
	    eff_write_file(ctx->eff, s->pidfile, text, strlen(text), 0644) < 0) {
		ctx_fail(ctx, "cannot record the service's pid in %s: %s", s->pidfile,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(dir);
	free(text);
	return rc;
}

bool
svc_proc_wait_gone(const struct svc_proc *p, long long ms)
{
	long long end = mono_ms() + ms;

	while (proc_running(p->pid, p->start)) {
		if (mono_ms() >= end)
			return false;
		usleep(50 * 1000);
	}
	return true;
}

long long
svc_file_size(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

char *
svc_log_tail(const char *path, long long offset)
{
	struct buf data, out;
	long long size = svc_file_size(path);
	int fd;

	buf_init(&out);
	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return xstrdup("(no log)");
	/* A log truncated since the offset was taken is read from its end. */
	if (offset > size)
		offset = 0;
	if (size - offset > TAIL_MAX)
		offset = size - TAIL_MAX;
	buf_init(&data);
	if (lseek(fd, (off_t)offset, SEEK_SET) >= 0)
		(void)read_stream(fd, TAIL_MAX, &data);
	close(fd);
	if (offset > 0 && data.len > 0)
		buf_adds(&out, "...");
	for (size_t i = 0, n = data.len; i < n; i++) {
		char ch = data.data[i];

		if (ch == '\n') {
			if (i + 1 < n)
				buf_adds(&out, " | ");
		} else
			buf_addc(&out, (unsigned char)ch < ' ' ? ' ' : ch);
	}
	if (out.len == 0)
		buf_adds(&out, "(nothing)");
	buf_free(&data);
	return buf_steal(&out);
}
