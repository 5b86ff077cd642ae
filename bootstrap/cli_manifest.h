/* cli_manifest.h: the commands that read a manifest: validate, plan, run. */
#ifndef HABOOT_CLI_MANIFEST_H
#define HABOOT_CLI_MANIFEST_H

extern const char usage_validate[];
extern const char usage_plan[];
extern const char usage_run[];
extern const char usage_watch[];

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_watch(int argc, char **argv);

#endif
