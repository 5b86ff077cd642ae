/* cli_debug.h: `haboot imds` and `haboot aws`, the debugging commands that
 * drive haboot's own IMDS and AWS clients (ops use them on an instance; the
 * integration tests use them against the simulator). */
#ifndef HABOOT_CLI_DEBUG_H
#define HABOOT_CLI_DEBUG_H

extern const char usage_imds[];
extern const char usage_aws[];

/* "haboot: <fmt with arg>", a blank line, the usage; returns the usage exit code. */
int usage_error(const char *usage, const char *fmt, const char *arg);

int cmd_imds(int argc, char **argv);
int cmd_aws(int argc, char **argv);

#endif
