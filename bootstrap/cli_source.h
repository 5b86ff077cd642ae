/* cli_source.h: where a manifest command's manifest and instance facts come
 * from (FILE or user-data, --metadata, IMDS), shared by validate, plan, run,
 * watch and release so that each reads them alike and says alike why there
 * is none. */
#ifndef HABOOT_CLI_SOURCE_H
#define HABOOT_CLI_SOURCE_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

struct diag;
struct imds;
struct manifest;
struct metadata;

/* The options that say where the manifest and the facts come from. */
struct cli_input {
	const char *file;          /* FILE or -f FILE; NULL: user-data */
	const char *operand;       /* FILE, until cli_input_done */
	const char *metadata_file;
	const char **metadata;     /* --metadata KEY=VALUE, in order */
	size_t nmetadata;
	long long imds_timeout_ms;
	bool imdsv1;
};

enum { CLI_OPT_METADATA = 300, CLI_OPT_METADATA_FILE, CLI_OPT_IMDS_TIMEOUT, CLI_OPT_IMDSV1 };

/* Their getopt_long rows; the short options string is "-f:" (operands in
 * order, as cli.h's grammar wants). */
#define CLI_INPUT_LONGOPTS \
	{"file", required_argument, NULL, 'f'}, \
	{"metadata", required_argument, NULL, CLI_OPT_METADATA}, \
	{"metadata-file", required_argument, NULL, CLI_OPT_METADATA_FILE}, \
	{"imds-timeout", required_argument, NULL, CLI_OPT_IMDS_TIMEOUT}, \
	{"imdsv1", no_argument, NULL, CLI_OPT_IMDSV1}

void cli_input_init(struct cli_input *in);
/* One option from getopt_long (ch 1 is an operand): 0 when it was one of
 * these, 1 when it was not, EXIT_USAGE once the usage error is printed. */
int cli_input_opt(struct cli_input *in, const char *usage, int ch, const char *arg);
/* After getopt: the operands left after "--" (argv[optind..]) are taken
 * too, and the operand becomes the manifest.  0 or EXIT_USAGE. */
int cli_input_done(struct cli_input *in, const char *usage, int argc, char **argv);
void cli_input_free(struct cli_input *in);

/* A client of the instance metadata service with the options' deadline. */
struct imds *cli_open_imds(const struct cli_input *in, char **err);
/* --metadata-file, then each --metadata, then the region.  live: AWS will be
 * called (the region must be known, and a guess is warned about).  0 or
 * EXIT_USAGE after printing why. */
int cli_setup_metadata(struct metadata *md, const struct cli_input *in, bool live);

/* Where a manifest came from, and why there is none. */
struct cli_source {
	const char *name;     /* the file, "<stdin>" or "user-data" */
	char *error;          /* why no manifest came of it (printed already) */
	const char *headline; /* that, in a few words, for a status file */
	int rc;               /* its exit code: 2 invalid, 3 none or unreadable */
};

/* The manifest from FILE ("-" is standard input), else from user-data
 * through imds (cmd names the command in the hints).  NULL with *s said. */
struct manifest *cli_load(const char *file, struct imds *imds, const char *cmd,
    struct cli_source *s);
void cli_source_free(struct cli_source *s);
/* Diagnostics as one text, without the last newline. */
char *cli_diag_text(struct diag *d);

#endif
