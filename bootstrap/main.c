/* main.c: the haboot command line: global options, then one command from
 * the table below.  The grammar every command keeps is in cli.h. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_debug.h"
#include "cli_iam.h"
#include "cli_manifest.h"
#include "cli_release.h"
#include "cli_status.h"
#include "log.h"
#include "manifest/cfg.h"
#include "manifest/manifest.h"
#include "modhelp.h"
#include "module.h"
#include "util.h"

#ifndef HABOOT_VERSION
#define HABOOT_VERSION "0.1.0-dev"
#endif

static const char usage_help[] =
"usage: haboot help [COMMAND | modules | MODULE | manifest]\n"
"\n"
"With no operand, what haboot does and its commands.  With a COMMAND, that\n"
"command's help (the same as haboot COMMAND --help).  \"modules\" lists the\n"
"modules a manifest may use; a MODULE's name shows its keys, their types,\n"
"defaults and meaning, and an example; \"manifest\" does the same for the\n"
"top-level keys.  Module help comes from the manifest's JSON Schema, compiled\n"
"into haboot, so it always matches what validate accepts.\n";

static const char usage_version[] =
"usage: haboot version\n"
"\n"
"Prints haboot's version (haboot --version does too).\n";

/* build/gen/schema_json.c: schemas/haboot.schema.json, gzipped. */
extern const unsigned char haboot_schema_gz[];
extern const unsigned long haboot_schema_gz_len;

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

/* The commands, in the order `haboot help` lists them.  A new command is a
 * file bootstrap/cli_NAME.c with its header (included above) and one row. */
static const struct command commands[] = {
	{"validate", cmd_validate, usage_validate, "check a manifest; every problem as FILE:LINE:COL"},
	{"plan", cmd_plan, usage_plan, "show what run would do, step by step; change nothing"},
	{"run", cmd_run, usage_run, "bring the service up (the boot job)"},
	{"watch", cmd_watch, usage_watch, "keep it healthy: check, repair, give up and be replaced"},
	{"release", cmd_release, usage_release, "hand it over for a planned stop (watch does it itself)"},
	{"status", cmd_status, usage_status, "the last run's report; the exit status says how it went"},
	{"imds", cmd_imds, usage_imds, "one instance metadata value, read as haboot reads it"},
	{"aws", cmd_aws, usage_aws, "one AWS API call as haboot makes it (debugging)"},
	{"iam-policy", cmd_iam_policy, usage_iam_policy, "the instance role's least-privilege IAM policy"},
	{"help", cmd_help, usage_help, "help on a command, the modules, or one module's keys"},
	{"version", cmd_version, usage_version, "print the version"},
	{NULL, NULL, NULL, NULL},
};

static void
print_main_usage(FILE *out)
{
	fputs("usage: haboot [-v | -q] [--log-format text|json] COMMAND [OPTIONS] [FILE]\n"
	    "\n"
	    "haboot brings one stateful service (an NFS server first) up on one shared EBS\n"
	    "volume at boot: attach the volume (taking it over from a dead owner safely),\n"
	    "prove and mount the filesystem, export it, point DNS at this instance, and\n"
	    "report.  It reads its manifest from FILE (or -f FILE), else from the\n"
	    "instance's user-data (IMDSv2).\n"
	    "\n"
	    "commands:\n", out);
	for (const struct command *c = commands; c->name; c++)
		fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fputs("\n"
	    "Options and FILE may come in any order; the global options may also follow\n"
	    "the command.  Every command takes -h/--help.\n"
	    "\n"
	    "global options:\n"
	    "  -v, --verbose          debug logging\n"
	    "  -q, --quiet            warnings and errors only\n"
	    "  --log-format FMT       text (default) or json lines on stderr\n"
	    "\n"
	    "exit status, for every command:\n"
	    "  0 done (status: the service is up)\n"
	    "  1 a module failed (status: the last run failed)\n"
	    "  2 usage error or invalid manifest\n"
	    "  3 environment: no manifest, no metadata, no credentials, unreadable file\n"
	    "  4 status: no report yet\n"
	    "  5 status: a run is in progress\n"
	    "\n"
	    "examples:\n"
	    "  haboot validate examples/nfs.yaml\n"
	    "  haboot plan examples/nfs.yaml --metadata az=us-west-2a\n"
	    "  haboot help volume             # the volume module's keys and an example\n"
	    "  haboot run                     # on an instance: manifest from user-data\n"
	    "  haboot status || echo \"not up: exit $?\"\n"
	    "\n"
	    "See haboot(8) and haboot.yaml(5).\n", out);
}

static const struct command *
find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static int
unknown_command(const char *name)
{
	const char *names[32], *hint;
	size_t n = 0;

	for (const struct command *c = commands; c->name && n + 1 < HB_ARRAY_LEN(names); c++)
		names[n++] = c->name;
	names[n] = NULL;
	fprintf(stderr, "haboot: unknown command \"%s\"", name);
	if ((hint = cfg_suggest(name, names)) != NULL)
		fprintf(stderr, ": did you mean \"%s\"?", hint);
	fputs(" (haboot help lists them)\n", stderr);
	return EXIT_USAGE;
}

static int
module_help(const char *topic)
{
	struct buf schema;
	const char *why;
	char *err = NULL;
	int rc = EXIT_DONE;

	buf_init(&schema);
	if (gunzip(haboot_schema_gz, haboot_schema_gz_len, MANIFEST_INFLATED_MAX, &schema, &why) < 0) {
		fprintf(stderr, "haboot: help: the schema compiled into haboot: %s\n", why);
		rc = EXIT_ENVIRONMENT;
	} else if (modhelp_print(schema.data, topic, stdout, &err) < 0) {
		fprintf(stderr, "haboot: help: %s\n", err);
		rc = EXIT_USAGE;
	}
	free(err);
	buf_free(&schema);
	return rc;
}

static int
no_help(const char *topic)
{
	const char *names[64], *hint;
	size_t n = 0;

	for (const struct command *c = commands; c->name && n + 3 < HB_ARRAY_LEN(names); c++)
		names[n++] = c->name;
	for (size_t i = 0; module_registry[i] && n + 3 < HB_ARRAY_LEN(names); i++)
		names[n++] = module_registry[i]->name;
	names[n++] = "modules";
	names[n++] = "manifest";
	names[n] = NULL;
	if ((hint = cfg_suggest(topic, names)) != NULL) {
		fprintf(stderr, "haboot: no help on \"%s\": did you mean \"%s\"?\n", topic, hint);
		return EXIT_USAGE;
	}
	return usage_error(usage_help, "no help on \"%s\": give a command, \"modules\", "
	    "\"manifest\" or a module's name", topic);
}

static int
cmd_help(int argc, char **argv)
{
	const struct command *c;
	const char *topic;

	if (argc > 2)
		return usage_error(usage_help, "help takes one topic, not also \"%s\"", argv[2]);
	if (argc < 2) {
		print_main_usage(stdout);
		return EXIT_DONE;
	}
	topic = argv[1];
	if ((c = find_command(topic)) != NULL) {
		fputs(c->usage, stdout);
		return EXIT_DONE;
	}
	if (strcmp(topic, "modules") == 0) {
		puts("modules (a manifest lists them under modules:, run in the order written):");
		for (size_t i = 0; module_registry[i]; i++)
			printf("  %-11s %s\n", module_registry[i]->name, module_registry[i]->summary);
		puts("\nhaboot help MODULE shows a module's keys, types, defaults and an example.");
		return EXIT_DONE;
	}
	if (module_find(topic) != NULL || strcmp(topic, "manifest") == 0)
		return module_help(topic);
	return no_help(topic);
}

static int
cmd_version(int argc, char **argv)
{
	if (argc > 1)
		return usage_error(usage_version, "version takes no operand (\"%s\")", argv[1]);
	printf("haboot %s\n", HABOOT_VERSION);
	return EXIT_DONE;
}

/* Takes the global options out of argv wherever they stand (before "--"),
 * so `haboot run -v` works as `haboot -v run` does.  0, or an exit code. */
static int
global_options(int *argc, char **argv, enum log_format *fmt, enum log_level *lvl)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
			*lvl = LOG_DEBUG;
		else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
			*lvl = LOG_WARN;
		else if (!strcmp(a, "--log-format") || str_starts(a, "--log-format=")) {
			if (a[12] == '=')
				val = a + 13;
			else if (i + 1 < *argc)
				val = argv[++i];
			if (val != NULL && !strcmp(val, "json"))
				*fmt = LOG_FMT_JSON;
			else if (val != NULL && !strcmp(val, "text"))
				*fmt = LOG_FMT_TEXT;
			else {
				fprintf(stderr, "haboot: --log-format is text or json, not \"%s\"\n",
				    val ? val : "");
				return EXIT_USAGE;
			}
		} else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* -h or --help anywhere before "--": the command's help, and nothing else. */
static bool
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	enum log_format fmt = LOG_FMT_TEXT;
	enum log_level lvl = LOG_INFO;
	const struct command *c;
	int rc;

	if ((rc = global_options(&argc, argv, &fmt, &lvl)) != 0)
		return rc;
	log_setup(fmt, lvl);
	if (argc < 2) {
		print_main_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		print_main_usage(stdout);
		return EXIT_DONE;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))
		return cmd_version(1, argv + 1);
	if (argv[1][0] == '-') {
		fprintf(stderr, "haboot: unknown option \"%s\" before the command\n\n", argv[1]);
		print_main_usage(stderr);
		return EXIT_USAGE;
	}
	if ((c = find_command(argv[1])) == NULL)
		return unknown_command(argv[1]);
	if (wants_help(argc - 1, argv + 1)) {
		fputs(c->usage, stdout);
		return EXIT_DONE;
	}
	return c->run(argc - 1, argv + 1);
}
