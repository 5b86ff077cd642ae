/* main.c: the haboot command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/imds.h"
#include "cli_debug.h"
#include "cli_release.h"
#include "context.h"
#include "effects.h"
#include "log.h"
#include "manifest/diag.h"
#include "manifest/manifest.h"
#include "manifest/metadata.h"
#include "module.h"
#include "runner.h"
#include "status.h"
#include "util.h"
#include "watch.h"

#ifndef HABOOT_VERSION
#define HABOOT_VERSION "0.1.0-dev"
#endif

static const char usage_main[] =
"usage: haboot [--log-format text|json] [-v|-q] COMMAND [ARGS]\n"
"\n"
"haboot brings one stateful service (an NFS server first) up on one shared EBS\n"
"volume at first boot: attach the volume (fencing its old owner safely), prove\n"
"and mount the filesystem, export it, point DNS at this instance, and report.\n"
"It reads its manifest from instance user-data (IMDSv2) or from -f FILE.\n"
"\n"
"commands:\n"
"  validate [FILE|-]   check a manifest; every error as FILE:LINE:COL\n"
"  plan [-f FILE]      show, step by step, what run would do; changes nothing\n"
"  run [-f FILE]       bring the service up (the first-boot job)\n"
"  watch [-f FILE]     keep it healthy: check, repair, give up and be replaced\n"
"  release [-f FILE]   hand it over for a planned stop (the watcher does it by itself)\n"
"  status [--json]     show the last run's report\n"
"  imds [PATH]         print an instance metadata value as haboot reads it\n"
"  aws SERVICE ACTION  make one AWS API call as haboot does; print the answer\n"
"  version             print the version\n"
"  help [COMMAND]      show help for a command\n"
"\n"
"global options:\n"
"  --log-format FMT    text (default) or json lines on stderr\n"
"  -v, --verbose       debug logging\n"
"  -q, --quiet         warnings and errors only\n"
"\n"
"exit codes: 0 done, 1 a module failed, 2 usage error or invalid manifest,\n"
"            3 environment problem (no metadata, no credentials, no manifest)\n"
"\n"
"examples:\n"
"  haboot validate examples/nfs.yaml\n"
"  haboot plan -f examples/nfs.yaml --metadata az=us-west-2a\n"
"  haboot run                    # on an instance: manifest from user-data\n"
"\n"
"See haboot(8) and haboot.yaml(5).\n";

static const char usage_validate[] =
"usage: haboot validate [FILE|-]\n"
"\n"
"Checks a manifest (YAML, or gzipped YAML) and prints every problem at once as\n"
"FILE:LINE:COL: error: what is wrong and what is allowed.  With no FILE or \"-\"\n"
"it reads standard input.  Exit 0 if valid, 2 if not.\n";

static const char usage_plan[] =
"usage: haboot plan [-f FILE] [--metadata KEY=VALUE]... [--metadata-file FILE] [--json]\n"
"                   [--imds-timeout DURATION] [--imdsv1]\n"
"\n"
"Prints the numbered steps `run` would take, module by module, and changes\n"
"nothing.  With -f it works offline: instance facts come from --metadata and\n"
"--metadata-file, else from documented defaults marked \"(default)\".\n"
"Without -f it runs on the instance: the manifest comes from user-data and\n"
"the facts from the instance metadata service (IMDSv2), no defaults.\n"
"\n"
"  -f, --file FILE          manifest to plan (\"-\" for stdin)\n"
"  --metadata KEY=VALUE     an instance fact: instance-id, az, region, local-ipv4,\n"
"                           public-ipv4, mac (IMDS paths also work)\n"
"  --metadata-file FILE     KEY=VALUE lines or a JSON object of such facts\n"
"  --json                   the same plan as one JSON document\n"
"  --imds-timeout DURATION  how long to wait for IMDS (default 60s)\n"
"  --imdsv1                 allow the IMDSv1 fallback when IMDS issues no token\n";

static const char usage_run[] =
"usage: haboot run [-f FILE] [--metadata KEY=VALUE]... [--metadata-file FILE]\n"
"                  [--status-file PATH] [--imds-timeout DURATION] [--imdsv1]\n"
"\n"
"Brings the service up: runs each module's apply in the manifest's order and\n"
"records the outcome in the status file (default " STATUS_DEFAULT_PATH ").\n"
"Safe to re-run: a converged instance is left as it is.  The manifest comes\n"
"from user-data (first line \"#haboot\", gzip allowed) unless -f is given;\n"
"instance facts not given with --metadata come from IMDSv2.\n"
"\n"
"  -f, --file FILE          manifest to run instead of user-data\n"
"  --metadata KEY=VALUE     override an instance fact\n"
"  --metadata-file FILE     KEY=VALUE lines or a JSON object\n"
"  --status-file PATH       where to write the report\n"
"  --imds-timeout DURATION  how long to wait for IMDS (default 60s; it is often\n"
"                           unreachable in the first seconds of boot)\n"
"  --imdsv1                 allow the IMDSv1 fallback when IMDS issues no token\n";

static const char usage_watch[] =
"usage: haboot watch [-f FILE] [--once] [--metadata KEY=VALUE]... [--metadata-file FILE]\n"
"                    [--status-file PATH] [--imds-timeout DURATION] [--imdsv1]\n"
"\n"
"Keeps the service that run brought up healthy, until stopped (SIGTERM).\n"
"Every interval each module checks its piece: the volume is still attached\n"
"here, the filesystem mounted read-write with its signature, the NFS server\n"
"answers, DNS points here.  After `failures` failed checks in a row the module\n"
"repairs it (restart, remount, re-assert), at most `restarts` times per\n"
"`window`; then the watcher gives up: SNS report, Healthy=0 and\n"
"SetInstanceHealth Unhealthy, so the group replaces the instance.  A failure\n"
"every new instance would repeat (a missing signature) is reported and never\n"
"repaired or replaced.  A check that cannot run (AWS or IMDS down) is\n"
"\"unknown\": shown, never acted on.  The manifest's `watch:` sets the pace.\n"
"\n"
"It refuses to start unless the last run (the status file) brought this\n"
"service up on this instance.  Its state goes to watch.json beside the status\n"
"file (" WATCH_STATE_DEFAULT_PATH "); haboot status shows it.\n"
"\n"
"  -f, --file FILE          the manifest run used, instead of user-data\n"
"  --once                   one round of checks, no repair, no report; exit 0\n"
"                           healthy, 1 a check failed, 3 a check could not run\n"
"  --metadata KEY=VALUE     override an instance fact\n"
"  --metadata-file FILE     KEY=VALUE lines or a JSON object\n"
"  --status-file PATH       the run's report (default " STATUS_DEFAULT_PATH ")\n"
"  --imds-timeout DURATION  how long to wait for IMDS (default 60s)\n"
"  --imdsv1                 allow the IMDSv1 fallback when IMDS issues no token\n";

static const char usage_status[] =
"usage: haboot status [--json] [--status-file PATH]\n"
"\n"
"Shows the last run's report: outcome, each module's state, duration and\n"
"message, and the facts modules recorded (device, previous owner...).\n";

enum { OPT_LOG_FORMAT = 256, OPT_METADATA, OPT_METADATA_FILE, OPT_JSON, OPT_STATUS_FILE, OPT_HELP,
	OPT_IMDS_TIMEOUT, OPT_IMDSV1, OPT_ONCE };

enum mode { MODE_PLAN, MODE_RUN, MODE_WATCH };

struct cli {
	const char *file;
	const char *status_path;
	const char *metadata_file;
	const char **metadata;
	size_t nmetadata;
	bool json;
	long long imds_timeout_ms;
	bool imdsv1;
	bool once;
};

/* Options shared by plan and run. */
static int
parse_cmd_opts(int argc, char **argv, const char *usage, bool allow_json, bool allow_file,
    struct cli *cli)
{
	static const struct option longopts[] = {
		{"file", required_argument, NULL, 'f'},
		{"metadata", required_argument, NULL, OPT_METADATA},
		{"metadata-file", required_argument, NULL, OPT_METADATA_FILE},
		{"json", no_argument, NULL, OPT_JSON},
		{"status-file", required_argument, NULL, OPT_STATUS_FILE},
		{"imds-timeout", required_argument, NULL, OPT_IMDS_TIMEOUT},
		{"imdsv1", no_argument, NULL, OPT_IMDSV1},
		{"once", no_argument, NULL, OPT_ONCE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *why;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (!allow_file)
				return usage_error(usage, "%s takes no -f", argv[0]);
			cli->file = optarg;
			break;
		case OPT_METADATA:
			cli->metadata = xrealloc(cli->metadata, (cli->nmetadata + 1) * sizeof(char *));
			cli->metadata[cli->nmetadata++] = optarg;
			break;
		case OPT_METADATA_FILE:
			cli->metadata_file = optarg;
			break;
		case OPT_JSON:
			if (!allow_json)
				return usage_error(usage, "%s takes no --json", argv[0]);
			cli->json = true;
			break;
		case OPT_STATUS_FILE:
			cli->status_path = optarg;
			break;
		case OPT_IMDS_TIMEOUT:
			if (parse_duration(optarg, &cli->imds_timeout_ms, &why) < 0) {
				fprintf(stderr, "haboot: --imds-timeout %s: %s\n\n", optarg, why);
				fputs(usage, stderr);
				return EXIT_USAGE;
			}
			break;
		case OPT_IMDSV1:
			cli->imdsv1 = true;
			break;
		case OPT_ONCE:
			if (usage != usage_watch)
				return usage_error(usage, "%s takes no --once", argv[0]);
			cli->once = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			fputc('\n', stderr);
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error(usage, "unexpected argument \"%s\"", argv[optind]);
	return 0;
}

static struct manifest *
load_manifest(const char *path, int *rc)
{
	struct diag d;
	struct manifest *m;

	diag_init(&d, path);
	m = manifest_load_file(path, &d);
	diag_print(&d, stderr);
	if (m == NULL && d.errors > 0 && d.msgs[0].line == 0 && strstr(d.msgs[0].text, "cannot read"))
		*rc = EXIT_USAGE;
	else if (m == NULL)
		*rc = EXIT_USAGE;
	diag_free(&d);
	return m;
}

static int
cmd_validate(int argc, char **argv)
{
	const char *path = "-";
	struct manifest *m;
	int rc = EXIT_DONE;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_validate, stdout);
			return EXIT_DONE;
		}
	}
	if (argc > 2)
		return usage_error(usage_validate, "validate takes one FILE, not \"%s\"", argv[2]);
	if (argc == 2)
		path = argv[1];
	if ((m = load_manifest(path, &rc)) == NULL)
		return rc;
	printf("%s: valid haboot manifest (version %d, service \"%s\", modules:",
	    strcmp(path, "-") ? path : "<stdin>", m->version, m->name);
	for (size_t i = 0; i < m->nmods; i++)
		printf(" %s", m->mods[i].mod->name);
	printf(")\n");
	manifest_free(m);
	return EXIT_DONE;
}

static int
setup_metadata(struct metadata *md, const struct cli *cli)
{
	const char *why;
	char *fwhy = NULL;

	if (cli->metadata_file && md_load_file(md, cli->metadata_file, &fwhy) < 0) {
		fprintf(stderr, "haboot: --metadata-file %s\n", fwhy);
		free(fwhy);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < cli->nmetadata; i++)
		if (md_set_arg(md, cli->metadata[i], &why) < 0) {
			fprintf(stderr, "haboot: --metadata %s: %s\n", cli->metadata[i], why);
			return EXIT_USAGE;
		}
	return 0;
}

/* The user-data manifest: 404 and a user-data of another kind (a cloud-init
 * script) both mean "no manifest", an environment problem, not a bad manifest. */
static struct manifest *
load_user_data(struct imds *imds, int *rc)
{
	struct manifest *m = NULL;
	struct buf raw, text;
	struct diag d;
	const char *why;
	int r;

	buf_init(&raw);
	buf_init(&text);
	diag_init(&d, "user-data");
	*rc = EXIT_ENVIRONMENT;
	if ((r = imds_user_data(imds, &raw)) == IMDS_NOT_FOUND) {
		fprintf(stderr, "haboot: no manifest in user-data: this instance has no user-data "
		    "(IMDS at %s answered 404); put a manifest whose first line is \"%s\" in the "
		    "launch template's user-data, or pass -f FILE\n", imds_endpoint(imds),
		    MANIFEST_MARKER);
		goto out;
	}
	if (r != IMDS_OK) {
		fprintf(stderr, "haboot: cannot read the manifest from user-data: %s\n",
		    imds_error(imds));
		goto out;
	}
	if (is_gzip(raw.data, raw.len) &&
	    gunzip(raw.data, raw.len, MANIFEST_INFLATED_MAX, &text, &why) < 0) {
		fprintf(stderr, "haboot: user-data is gzipped but does not inflate: %s\n", why);
		goto out;
	}
	const struct buf *t = text.data ? &text : &raw;
	if (t->len < strlen(MANIFEST_MARKER) ||
	    memcmp(t->data, MANIFEST_MARKER, strlen(MANIFEST_MARKER)) != 0) {
		fprintf(stderr, "haboot: no manifest in user-data: its %zu bytes do not start with "
		    "\"%s\" (another tool's user-data?); pass -f FILE, or make \"%s\" the first "
		    "line\n", raw.len, MANIFEST_MARKER, MANIFEST_MARKER);
		goto out;
	}
	m = manifest_parse(raw.data, raw.len, true, &d);
	diag_print(&d, stderr);
	if (m == NULL)
		*rc = EXIT_USAGE;
	else
		*rc = EXIT_DONE;
out:
	diag_free(&d);
	buf_free(&raw);
	buf_free(&text);
	return m;
}

static int
cmd_plan_or_run(int argc, char **argv, enum mode mode)
{
	bool is_run = mode != MODE_PLAN;
	const char *usage = mode == MODE_RUN ? usage_run : mode == MODE_WATCH ? usage_watch :
	    usage_plan;
	struct cli cli = {.status_path = STATUS_DEFAULT_PATH,
	    .imds_timeout_ms = IMDS_DEFAULT_DEADLINE_MS};
	struct manifest *m = NULL;
	struct metadata md;
	struct effects eff;
	struct hb_ctx ctx;
	struct imds *imds = NULL;
	char *err = NULL;
	bool live;
	int rc;

	md_init(&md);
	eff_init(&eff, is_run ? EFF_APPLY : EFF_RECORD);
	ctx_init(&ctx);
	if ((rc = parse_cmd_opts(argc, argv, usage, !is_run, true, &cli)) != 0) {
		rc = rc < 0 ? EXIT_DONE : rc;
		goto out;
	}
	if ((rc = setup_metadata(&md, &cli)) != 0)
		goto out;
	/* run always works on the instance; plan does when no -f names a manifest.
	 * Nothing reaches IMDS or AWS until a value is needed. */
	live = is_run || cli.file == NULL;
	if (live) {
		if ((imds = imds_new(&err)) == NULL) {
			fprintf(stderr, "haboot: %s\n", err);
			rc = EXIT_ENVIRONMENT;
			goto out;
		}
		imds_set_deadline(imds, cli.imds_timeout_ms);
		imds_allow_v1(imds, cli.imdsv1);
		md.fetch = imds_md_fetch;
		md.fetch_arg = imds;
	}
	if (cli.file == NULL)
		m = load_user_data(imds, &rc);
	else
		m = load_manifest(cli.file, &rc);
	if (m == NULL)
		goto out;
	md.offline_defaults = !live;
	ctx.md = &md;
	ctx.eff = &eff;
	if (live && (ctx.aws = aws_new(imds, &md, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	if (mode == MODE_WATCH) {
		char *state = watch_state_path(cli.status_path);
		struct watch_opts o = {.status_path = cli.status_path, .state_path = state,
		    .source = cli.file ? cli.file : "user-data", .once = cli.once};

		rc = watch_run(m, &ctx, &o);
		free(state);
	} else if (is_run) {
		struct run_opts o = {.status_path = cli.status_path,
		    .source = cli.file ? cli.file : "user-data"};

		rc = runner_run(m, &ctx, &o);
	} else {
		rc = runner_plan(m, &ctx, cli.json, stdout);
	}
out:
	manifest_free(m);
	aws_free(ctx.aws);
	ctx.aws = NULL;
	ctx_free(&ctx);
	eff_free(&eff);
	md_free(&md);
	imds_free(imds);
	free(cli.metadata);
	free(err);
	return rc;
}

static int
cmd_status(int argc, char **argv)
{
	struct cli cli = {.status_path = STATUS_DEFAULT_PATH};
	char *why = NULL, *state;
	bool watched;
	int rc;

	if ((rc = parse_cmd_opts(argc, argv, usage_status, true, false, &cli)) != 0)
		return rc < 0 ? EXIT_DONE : rc;
	if (cli.metadata || cli.metadata_file)
		return usage_error(usage_status, "%s takes no --metadata", "status");
	/* The watcher's state, when it has run, comes with the run's report. */
	state = watch_state_path(cli.status_path);
	watched = access(state, F_OK) == 0;
	if ((cli.json && watched ? watch_status_json(cli.status_path, state, stdout, &why) :
	    status_show(cli.status_path, cli.json, stdout, &why)) < 0) {
		fprintf(stderr, "haboot: status: %s\n", why);
		free(why);
		free(state);
		return EXIT_ENVIRONMENT;
	}
	if (!cli.json && watched) {
		fputc('\n', stdout);
		if (watch_state_show(state, false, stdout, &why) < 0) {
			fprintf(stderr, "haboot: status: %s\n", why);
			free(why);
		}
	}
	free(state);
	return EXIT_DONE;
}

static int
cmd_help(int argc, char **argv)
{
	const char *topic = argc > 1 ? argv[1] : NULL;

	if (topic == NULL)
		fputs(usage_main, stdout);
	else if (!strcmp(topic, "validate"))
		fputs(usage_validate, stdout);
	else if (!strcmp(topic, "plan"))
		fputs(usage_plan, stdout);
	else if (!strcmp(topic, "run"))
		fputs(usage_run, stdout);
	else if (!strcmp(topic, "status"))
		fputs(usage_status, stdout);
	else if (!strcmp(topic, "watch"))
		fputs(usage_watch, stdout);
	else if (!strcmp(topic, "release"))
		fputs(usage_release, stdout);
	else if (!strcmp(topic, "imds"))
		fputs(usage_imds, stdout);
	else if (!strcmp(topic, "aws"))
		fputs(usage_aws, stdout);
	else if (!strcmp(topic, "modules")) {
		puts("modules (run in the order the manifest lists them):");
		for (size_t i = 0; module_registry[i]; i++)
			printf("  %-11s %s\n", module_registry[i]->name, module_registry[i]->summary);
	} else
		return usage_error(usage_main, "no help on \"%s\" (try: haboot help)", topic);
	return EXIT_DONE;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"log-format", required_argument, NULL, OPT_LOG_FORMAT},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	enum log_format fmt = LOG_FMT_TEXT;
	enum log_level lvl = LOG_INFO;
	int ch;

	while ((ch = getopt_long(argc, argv, "+vqhV", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_LOG_FORMAT:
			if (!strcmp(optarg, "json"))
				fmt = LOG_FMT_JSON;
			else if (!strcmp(optarg, "text"))
				fmt = LOG_FMT_TEXT;
			else
				return usage_error(usage_main, "--log-format is text or json, not \"%s\"",
				    optarg);
			break;
		case 'v':
			lvl = LOG_DEBUG;
			break;
		case 'q':
			lvl = LOG_WARN;
			break;
		case 'h':
			fputs(usage_main, stdout);
			return EXIT_DONE;
		case 'V':
			printf("haboot %s\n", HABOOT_VERSION);
			return EXIT_DONE;
		default:
			fputc('\n', stderr);
			fputs(usage_main, stderr);
			return EXIT_USAGE;
		}
	}
	log_setup(fmt, lvl);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[0], "validate"))
		return cmd_validate(argc, argv);
	if (!strcmp(argv[0], "plan"))
		return cmd_plan_or_run(argc, argv, MODE_PLAN);
	if (!strcmp(argv[0], "run"))
		return cmd_plan_or_run(argc, argv, MODE_RUN);
	if (!strcmp(argv[0], "watch"))
		return cmd_plan_or_run(argc, argv, MODE_WATCH);
	if (!strcmp(argv[0], "status"))
		return cmd_status(argc, argv);
	if (!strcmp(argv[0], "release"))
		return cmd_release(argc, argv);
	if (!strcmp(argv[0], "imds"))
		return cmd_imds(argc, argv);
	if (!strcmp(argv[0], "aws"))
		return cmd_aws(argc, argv);
	if (!strcmp(argv[0], "version")) {
		printf("haboot %s\n", HABOOT_VERSION);
		return EXIT_DONE;
	}
	if (!strcmp(argv[0], "help"))
		return cmd_help(argc, argv);
	return usage_error(usage_main, "unknown command \"%s\"", argv[0]);
}
