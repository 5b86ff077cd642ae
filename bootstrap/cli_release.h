/* cli_release.h: `haboot release`, the planned handover by hand (maintenance)
 * and at shutdown (haboot-release.service's ExecStop). */
#ifndef HABOOT_CLI_RELEASE_H
#define HABOOT_CLI_RELEASE_H

extern const char usage_release[];

int cmd_release(int argc, char **argv);

#endif
