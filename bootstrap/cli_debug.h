/* cli_debug.h: `haboot imds` and `haboot aws`, the debugging commands that
 * drive haboot's own IMDS and AWS clients (ops use them on an instance; the
 * integration tests use them against the simulator). */
#ifndef HABOOT_CLI_DEBUG_H
#define HABOOT_CLI_DEBUG_H

extern const char usage_imds[];
extern const char usage_aws[];

int cmd_imds(int argc, char **argv);
int cmd_aws(int argc, char **argv);

#endif
