/* holders.c: processes and mount namespaces that keep a filesystem busy. */
#include "holders.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"

/* One line of mountinfo: "36 35 98:0 / /mnt/nfs rw,noatime shared:1 - ext4 ...".
 * Fills dev, the mount point (unescaped) and whether it is read-only. */
static bool
parse_line(char *line, dev_t *dev, char *target, size_t tlen, bool *ro)
{
	char *f[6], *save = NULL, *tok, *o;
	unsigned maj, min;
	int n = 0;

	for (tok = strtok_r(line, " ", &save); tok && n < 6; tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	if (n < 6 || sscanf(f[2], "%u:%u", &maj, &min) != 2)
		return false;
	*dev = makedev(maj, min);
	/* mountinfo escapes space, tab, newline and backslash as \ooo. */
	o = target;
	for (const char *s = f[4]; *s && (size_t)(o - target) + 1 < tlen;) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	if (ro != NULL)
		*ro = strcmp(f[5], "ro") == 0 || str_starts(f[5], "ro,");
	return true;
}

size_t
mounts_of(const char *mountinfo, dev_t dev, char **first)
{
	struct buf b;
	char *line, *save = NULL, target[PATH_MAX];
	size_t n = 0;
	dev_t d;

	if (first != NULL)
		*first = NULL;
	buf_init(&b);
	if (read_file(mountinfo, 16 * 1024 * 1024, &b) < 0 || b.data == NULL)
		goto out;
	for (line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (parse_line(line, &d, target, sizeof(target), NULL) && d == dev) {
			if (n++ == 0 && first != NULL)
				*first = xstrdup(target);
		}
out:
	buf_free(&b);
	return n;
}

int
mounted_at(const char *mountinfo, const char *path, dev_t *dev, bool *ro)
{
	struct buf b;
	char *line, *save = NULL, target[PATH_MAX];
	int rc = -1;
	bool r;
	dev_t d;

	buf_init(&b);
	if (read_file(mountinfo, 16 * 1024 * 1024, &b) < 0 || b.data == NULL)
		goto out;
	/* The last line for a path is the top of its stack. */
	for (line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (parse_line(line, &d, target, sizeof(target), &r) && strcmp(target, path) == 0) {
			*dev = d;
			if (ro != NULL)
				*ro = r;
			rc = 0;
		}
out:
	buf_free(&b);
	return rc;
}

static void
add(struct holders *hs, pid_t pid, const char *comm, char *how)
{
	hs->h = xrealloc(hs->h, (hs->n + 1) * sizeof(*hs->h));
	hs->h[hs->n].pid = pid;
	snprintf(hs->h[hs->n].comm, sizeof(hs->h[hs->n].comm), "%s", comm);
	hs->h[hs->n].how = how;
	hs->n++;
}

/* The link's target if the file it names lies on dev, else NULL. */
static char *
on_dev(const char *link, dev_t dev)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (stat(link, &st) < 0 || st.st_dev != dev)
		return NULL;
	if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
		return xstrdup("?");
	target[n] = '\0';
	return xstrdup(target);
}

/* Open files on dev: the first one's path and how many in all. */
static char *
open_files(pid_t pid, dev_t dev)
{
	char dir[64], link[PATH_MAX], *first = NULL, *p;
	struct dirent *e;
	size_t count = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		if ((p = on_dev(link, dev)) == NULL)
			continue;
		if (count++ == 0)
			first = p;
		else
			free(p);
	}
	closedir(d);
	if (first == NULL)
		return NULL;
	p = count > 1 ? xasprintf("open file %s (and %zu more)", first, count - 1)
	              : xasprintf("open file %s", first);
	free(first);
	return p;
}

/* A memory map of a file on dev ("maps" lines carry the device as hex MAJ:MIN). */
static char *
mapped(pid_t pid, dev_t dev)
{
	char path[64], *line, *save = NULL, *out = NULL;
	struct buf b;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	buf_init(&b);
	if (read_file(path, 64 * 1024 * 1024, &b) < 0 || b.data == NULL)
		goto done;
	for (line = strtok_r(b.data, "\n", &save); line && out == NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned maj, min;
		int at = 0;

		if (sscanf(line, "%*s %*s %*s %x:%x %*s %n", &maj, &min, &at) == 2 &&
		    makedev(maj, min) == dev)
			out = xasprintf("maps %s", at > 0 ? line + at : "a file");
	}
done:
	buf_free(&b);
	return out;
}

void
holders_find(dev_t dev, struct holders *out)
{
	char self_ns[64] = "", path[PATH_MAX], comm[32], ns[64];
	char **seen_ns = NULL;
	size_t nseen = 0;
	struct dirent *e;
	DIR *proc;
	ssize_t n;

	memset(out, 0, sizeof(out[0]));
	if ((n = readlink("/proc/self/ns/mnt", self_ns, sizeof(self_ns) - 1)) > 0)
		self_ns[n] = '\0';
	if ((proc = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(proc)) != NULL) {
		pid_t pid;
		char *how;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)atoi(e->d_name);
		if (pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		snprintf(comm, sizeof(comm), "?");
		if ((f = fopen(path, "re")) != NULL) {
			if (fgets(comm, sizeof(comm), f) != NULL)
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		static const char *const links[] = {"cwd", "root", "exe"};
		for (size_t i = 0; i < HB_ARRAY_LEN(links); i++) {
			char *t;

			snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, links[i]);
			if ((t = on_dev(path, dev)) != NULL) {
				add(out, pid, comm, xasprintf("%s %s", links[i], t));
				free(t);
			}
		}
		if ((how = open_files(pid, dev)) != NULL)
			add(out, pid, comm, how);
		if ((how = mapped(pid, dev)) != NULL)
			add(out, pid, comm, how);
		/* Another mount namespace with the filesystem mounted: named once. */
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		if ((n = readlink(path, ns, sizeof(ns) - 1)) <= 0)
			continue;
		ns[n] = '\0';
		if (strcmp(ns, self_ns) == 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < nseen && !known; i++)
			known = strcmp(seen_ns[i], ns) == 0;
		if (known)
			continue;
		seen_ns = xrealloc(seen_ns, (nseen + 1) * sizeof(char *));
		seen_ns[nseen++] = xstrdup(ns);
		snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
		char *where = NULL;
		if (mounts_of(path, dev, &where) > 0)
			add(out, pid, comm, xasprintf("has it mounted at %s in its own mount "
			    "namespace (%s)", where, ns));
		free(where);
	}
	closedir(proc);
	for (size_t i = 0; i < nseen; i++)
		free(seen_ns[i]);
	free(seen_ns);
}

char *
holders_describe(const struct holders *hs, size_t max)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < hs->n && i < max; i++)
		buf_printf(&b, "%spid %d (%s): %s", i ? "; " : "", (int)hs->h[i].pid, hs->h[i].comm,
		    hs->h[i].how);
	if (hs->n > max)
		buf_printf(&b, "; and %zu more", hs->n - max);
	if (b.len == 0)
		buf_adds(&b, "no process found");
	return buf_steal(&b);
}

void
holders_free(struct holders *hs)
{
	for (size_t i = 0; i < hs->n; i++)
		free(hs->h[i].how);
	free(hs->h);
	memset(hs, 0, sizeof(hs[0]));
}
