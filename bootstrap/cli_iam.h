/* cli_iam.h: `haboot iam-policy`, the instance role's least-privilege policy. */
#ifndef HABOOT_CLI_IAM_H
#define HABOOT_CLI_IAM_H

extern const char usage_iam_policy[];

int cmd_iam_policy(int argc, char **argv);

#endif
