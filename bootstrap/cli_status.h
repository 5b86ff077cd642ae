/* cli_status.h: `haboot status`, the last run's report with an exit status
 * a script can rely on. */
#ifndef HABOOT_CLI_STATUS_H
#define HABOOT_CLI_STATUS_H

extern const char usage_status[];

int cmd_status(int argc, char **argv);

#endif
