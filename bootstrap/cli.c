/* cli.c: the pieces every command's option parsing shares. */
#include "cli.h"

#include <stdio.h>

#include "util.h"

int
usage_error(const char *usage, const char *fmt, const char *arg)
{
	fputs("haboot: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n\n", stderr);
	fputs(usage, stderr);
	return EXIT_USAGE;
}

int
cli_duration(const char *usage, const char *opt, const char *arg, long long *ms)
{
	const char *why;

	if (parse_duration(arg, ms, &why) < 0) {
		fprintf(stderr, "haboot: %s %s: %s (a duration is like 250ms, 90s, 5m)\n\n", opt, arg,
		    why);
		fputs(usage, stderr);
		return -1;
	}
	return 0;
}

int
cli_bad_option(const char *usage)
{
	fputc('\n', stderr);
	fputs(usage, stderr);
	return EXIT_USAGE;
}
