/* cli.h: what the commands of the command line share.
 *
 * The grammar, the same for every command (haboot(8), COMMAND LINE):
 *
 *     haboot [GLOBAL OPTIONS] COMMAND [OPTIONS] [OPERANDS]
 *
 *  - options and operands come in any order; "--" ends the options;
 *  - the global options (-v, -q, --log-format) may also follow the command;
 *  - -h or --help with any command prints that command's help on stdout and
 *    exits 0, whatever else is on the line;
 *  - a command that reads a manifest takes it as FILE or as -f FILE ("-" is
 *    standard input); with neither it reads the instance's user-data;
 *  - the exit status means the same for every command (exitcode.h).
 *
 * A command is a file bootstrap/cli_NAME.c (with its header) and one row in
 * main.c's table. */
#ifndef HABOOT_CLI_H
#define HABOOT_CLI_H

#include "exitcode.h"

struct command {
	const char *name;
	/* argv[0] is the command's name; returns an exit code (exitcode.h). */
	int (*run)(int argc, char **argv);
	const char *usage;   /* the whole help; its first line is "usage: haboot NAME ..." */
	const char *summary; /* one line for `haboot help` */
};

/* "haboot: <fmt with arg>", a blank line, the usage, on stderr; returns
 * EXIT_USAGE. */
int usage_error(const char *usage, const char *fmt, const char *arg);
/* An option's DURATION value: 0, or -1 after printing the usage error. */
int cli_duration(const char *usage, const char *opt, const char *arg, long long *ms);
/* The usage error for an option getopt refused (it printed why). */
int cli_bad_option(const char *usage);

#endif
