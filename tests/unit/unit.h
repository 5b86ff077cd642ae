/* unit.h: what every cmocka unit test includes, and the few helpers they share
 * (a scratch directory per test, whole-file reads, directory listings). */
#ifndef HABOOT_UNIT_H
#define HABOOT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp); free with unit_rmtree. */
static inline char *
unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	size_t n = strlen(base) + sizeof("/haboot-unit-XXXXXX");
	char *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/haboot-unit-XXXXXX", base);
	assert_non_null(mkdtemp(p));
	return p;
}

static inline int
unit_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	/* A test may have made a directory read-only: make it writable to empty it. */
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path);
}

/* Removes dir and everything in it, then frees the name. */
static inline void
unit_rmtree(char *dir)
{
	if (dir == NULL)
		return;
	chmod(dir, 0700);
	nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* "dir/name" in a malloc'd string. */
static inline char *
unit_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Writes a whole file (test setup, not the code under test). */
static inline void
unit_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* A whole file as a malloc'd string, or NULL when it cannot be read. */
static inline char *
unit_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *p = NULL;
	size_t len = 0;

	if (f == NULL)
		return NULL;
	FILE *m = open_memstream(&p, &len);
	int c;

	assert_non_null(m);
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(f);
	fclose(m);
	return p;
}

/* Number of entries in dir, "." and ".." excluded. */
static inline int
unit_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static inline int
unit_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

#endif
