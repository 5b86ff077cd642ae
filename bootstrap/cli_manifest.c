/* cli_manifest.c: validate, plan, run and watch, and what a run leaves behind
 * when it cannot even start (the manifest and the facts: cli_source.c). */
#include "cli_manifest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "aws/imds.h"
#include "cli.h"
#include "cli_source.h"
#include "context.h"
#include "effects.h"
#include "log.h"
#include "manifest/manifest.h"
#include "manifest/metadata.h"
#include "module.h"
#include "runner.h"
#include "status.h"
#include "util.h"
#include "watch.h"

const char usage_validate[] =
"usage: haboot validate [FILE | -f FILE] [--imds-timeout DURATION] [--imdsv1]\n"
"\n"
"Checks a manifest (YAML, or gzipped YAML) and prints every problem at once as\n"
"FILE:LINE:COL: error: what is wrong and how to fix it.  Warnings (an integer\n"
"written with a leading zero) are printed the same way and do not fail it.\n"
"FILE \"-\" is standard input; with no FILE it checks this instance's user-data.\n"
"\n"
"  -f, --file FILE          the manifest (the same as giving FILE)\n"
"  --imds-timeout DURATION  how long to wait for IMDS, without FILE (default 60s)\n"
"  --imdsv1                 allow the IMDSv1 fallback when IMDS issues no token\n"
"\n"
"exit: 0 valid, 2 invalid, 3 no manifest (FILE unreadable, no user-data).\n";

const char usage_plan[] =
"usage: haboot plan [FILE | -f FILE] [--metadata KEY=VALUE]... [--metadata-file FILE]\n"
"                   [--json] [--imds-timeout DURATION] [--imdsv1]\n"
"\n"
"Prints the numbered steps `run` would take, module by module, and changes\n"
"nothing.  With FILE it works offline: instance facts come from --metadata and\n"
"--metadata-file, the region also from AWS_REGION or AWS_DEFAULT_REGION or the\n"
"zone given, and the rest from defaults marked \"(default)\".  With no FILE it\n"
"runs on the instance: the manifest comes from user-data and the facts from\n"
"the instance metadata service (IMDSv2); it also reads what EC2 and Route53\n"
"hold now and asks EC2 (DryRun) whether the role may attach, detach and stop.\n"
"\n"
"  -f, --file FILE          the manifest (the same as giving FILE; \"-\": stdin)\n"
"  --metadata KEY=VALUE     an instance fact: instance-id, az, region, local-ipv4,\n"
"                           public-ipv4, ipv6, mac, local-hostname (haboot help run)\n"
"  --metadata-file FILE     KEY=VALUE lines or a JSON object of such facts\n"
"  --json                   the same plan as one JSON document\n"
"  --imds-timeout DURATION  how long to wait for IMDS (default 60s)\n"
"  --imdsv1                 allow the IMDSv1 fallback when IMDS issues no token\n"
"\n"
"exit: 0 planned, 1 a module cannot plan, 2 usage or invalid manifest,\n"
"      3 no manifest, no metadata, or (on an instance) no credentials.\n";

const char usage_run[] =
"usage: haboot run [FILE | -f FILE] [--metadata KEY=VALUE]... [--metadata-file FILE]\n"
"                  [--status-file PATH] [--imds-timeout DURATION] [--imdsv1]\n"
"\n"
"Brings the service up: runs each module in the manifest's order.  Safe to run\n"
"again: a converged instance is left as it is.  The manifest comes from\n"
"user-data (first line \"#haboot\", gzip allowed) unless FILE is given; instance\n"
"facts not given with --metadata come from IMDSv2.  Before any module runs, it\n"
"checks that it has AWS credentials and a region when the manifest needs AWS.\n"
"\n"
"Every run, including one that fails before any module ran (no manifest, an\n"
"invalid one, no credentials), leaves its report in " STATUS_DEFAULT_PATH "\n"
"(history in " STATUS_HISTORY_DIR "; " STATUS_RUN_LINK " links to it)\n"
"and a short summary on the serial console (/dev/console, or HABOOT_CONSOLE).\n"
"\n"
"  -f, --file FILE          the manifest (the same as giving FILE)\n"
"  --metadata KEY=VALUE     an instance fact instead of IMDS's; keys: instance-id,\n"
"                           az (placement/availability-zone), region\n"
"                           (placement/region), local-ipv4 (ip), public-ipv4, ipv6,\n"
"                           mac, local-hostname, public-hostname\n"
"  --metadata-file FILE     KEY=VALUE lines or a JSON object of such facts\n"
"  --status-file PATH       write the report to PATH only (no history, no link)\n"
"  --imds-timeout DURATION  how long to wait for IMDS (default 60s; it is often\n"
"                           unreachable in the first seconds of boot)\n"
"  --imdsv1                 allow the IMDSv1 fallback when IMDS issues no token\n"
"\n"
"exit: 0 the service is up, 1 a module failed, 2 usage or invalid manifest,\n"
"      3 environment: no manifest, no metadata, no credentials or region.\n";

const char usage_watch[] =
"usage: haboot watch [FILE | -f FILE] [--once] [--metadata KEY=VALUE]...\n"
"                    [--metadata-file FILE] [--status-file PATH]\n"
"                    [--imds-timeout DURATION] [--imdsv1]\n"
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
"It refuses to start unless the last run's report says run brought this\n"
"service up on this instance.  Its state goes to watch.json beside the report\n"
"(" WATCH_STATE_DEFAULT_PATH "); haboot status shows it.\n"
"\n"
"  -f, --file FILE          the manifest run used (the same as giving FILE)\n"
"  --once                   one round of checks, printed; no repair, no report,\n"
"                           the state file left alone\n"
"  --metadata KEY=VALUE     override an instance fact (haboot help run)\n"
"  --metadata-file FILE     KEY=VALUE lines or a JSON object\n"
"  --status-file PATH       the run's report (default " STATUS_DEFAULT_PATH ")\n"
"  --imds-timeout DURATION  how long to wait for IMDS (default 60s)\n"
"  --imdsv1                 allow the IMDSv1 fallback when IMDS issues no token\n"
"\n"
"exit: 0 stopped by a signal (--once: healthy), 1 (--once) a check failed,\n"
"      2 usage or invalid manifest, 3 environment: no report of a good run, no\n"
"      manifest, no metadata (--once: a check could not run).\n";

enum { OPT_JSON = 256, OPT_STATUS_FILE, OPT_ONCE };

/* What each command accepts beyond the manifest and the IMDS options. */
enum { TAKES_METADATA = 1, TAKES_JSON = 2, TAKES_STATUS_FILE = 4, TAKES_ONCE = 8 };

struct mopts {
	const char *cmd;
	const char *usage;
	struct cli_input in;     /* the manifest and the facts: in.file NULL is user-data */
	const char *status_path; /* NULL: the standard place */
	bool json;
	bool once;
};

static int
parse_opts(int argc, char **argv, const char *usage, unsigned takes, struct mopts *o)
{
	static const struct option longopts[] = {
		CLI_INPUT_LONGOPTS,
		{"json", no_argument, NULL, OPT_JSON},
		{"status-file", required_argument, NULL, OPT_STATUS_FILE},
		{"once", no_argument, NULL, OPT_ONCE},
		{NULL, 0, NULL, 0},
	};
	int ch, r;

	memset(o, 0, sizeof(*o));
	o->cmd = argv[0];
	o->usage = usage;
	cli_input_init(&o->in);
	/* 0 resets GNU getopt; without "+" it takes options after operands too. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "-f:", longopts, NULL)) != -1) {
		switch (ch) {
		case CLI_OPT_METADATA:
		case CLI_OPT_METADATA_FILE:
			if (!(takes & TAKES_METADATA))
				return usage_error(usage, "%s takes no --metadata or --metadata-file",
				    o->cmd);
			break;
		case OPT_JSON:
			if (!(takes & TAKES_JSON))
				return usage_error(usage, "%s takes no --json", o->cmd);
			o->json = true;
			continue;
		case OPT_STATUS_FILE:
			if (!(takes & TAKES_STATUS_FILE))
				return usage_error(usage, "%s takes no --status-file", o->cmd);
			o->status_path = optarg;
			continue;
		case OPT_ONCE:
			if (!(takes & TAKES_ONCE))
				return usage_error(usage, "%s takes no --once", o->cmd);
			o->once = true;
			continue;
		}
		if ((r = cli_input_opt(&o->in, usage, ch, optarg)) == 1)
			return cli_bad_option(usage);
		if (r != 0)
			return r;
	}
	return cli_input_done(&o->in, usage, argc, argv);
}

static void
mopts_free(struct mopts *o)
{
	cli_input_free(&o->in);
}

int
cmd_validate(int argc, char **argv)
{
	struct mopts o;
	struct manifest *m = NULL;
	struct imds *imds = NULL;
	struct cli_source s = {0};
	char *err = NULL;
	int rc;

	if ((rc = parse_opts(argc, argv, usage_validate, 0, &o)) != 0)
		goto out;
	if (o.in.file != NULL)
		m = cli_load(o.in.file, NULL, o.cmd, &s);
	else if ((imds = cli_open_imds(&o.in, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	} else
		m = cli_load(NULL, imds, o.cmd, &s);
	if (m == NULL) {
		rc = s.rc;
		goto out;
	}
	printf("%s: valid haboot manifest (version %d, service \"%s\", modules:", s.name,
	    m->version, m->name);
	for (size_t i = 0; i < m->nmods; i++)
		printf(" %s", m->mods[i].mod->name);
	printf(")\n");
	rc = EXIT_DONE;
out:
	manifest_free(m);
	imds_free(imds);
	cli_source_free(&s);
	free(err);
	mopts_free(&o);
	return rc;
}

/* The instance id for an early report: only what is known without waiting
 * again for a metadata service that may be down. */
static const char *
known_instance(struct metadata *md, bool may_ask)
{
	if (may_ask)
		return md_get(md, "instance-id");
	return kv_get(&md->values, "instance-id");
}

/* AWS, before anything starts: a region and credentials, when the manifest
 * needs them.  Said once, here, rather than by every module that calls AWS. */
static int
preflight_aws(const struct manifest *m, struct aws *aws, const struct mopts *o, char **msg,
    const char **headline)
{
	char *who = NULL, *err = NULL;
	int rc = 0;

	/* Only modules that are not required need AWS: they say so themselves. */
	if (!runner_needs_aws(m, &who))
		goto out;
	if (aws_resolve(aws, &err) < 0) {
		*headline = "no AWS region";
		*msg = xasprintf("no AWS region, which %s needs: %s", who, err);
		rc = -1;
	} else if (aws_credentials(aws, &err) < 0) {
		*headline = "no AWS credentials";
		if (o->in.file != NULL)
			*msg = xasprintf("%s (%s needs AWS).  To see what run would do without "
			    "credentials: haboot plan %s", err, who, o->in.file);
		else
			*msg = xasprintf("%s (%s needs AWS)", err, who);
		rc = -1;
	}
out:
	free(who);
	free(err);
	return rc;
}

int
cmd_plan(int argc, char **argv)
{
	struct mopts o;
	struct manifest *m = NULL;
	struct metadata md;
	struct effects eff;
	struct hb_ctx ctx;
	struct imds *imds = NULL;
	struct cli_source s = {0};
	char *err = NULL, *msg = NULL;
	const char *headline = NULL;
	bool live;
	int rc;

	md_init(&md);
	eff_init(&eff, EFF_RECORD);
	ctx_init(&ctx);
	if ((rc = parse_opts(argc, argv, usage_plan, TAKES_METADATA | TAKES_JSON, &o)) != 0)
		goto out;
	/* With a FILE, plan works offline; without, on the instance.  Nothing
	 * reaches IMDS or AWS until a value is needed. */
	live = o.in.file == NULL;
	if ((rc = cli_setup_metadata(&md, &o.in, live)) != 0)
		goto out;
	if (live) {
		if ((imds = cli_open_imds(&o.in, &err)) == NULL) {
			fprintf(stderr, "haboot: %s\n", err);
			rc = EXIT_ENVIRONMENT;
			goto out;
		}
		md.fetch = imds_md_fetch;
		md.fetch_arg = imds;
	}
	m = cli_load(o.in.file, imds, o.cmd, &s);
	if (m == NULL) {
		rc = s.rc;
		goto out;
	}
	md.offline_defaults = !live;
	ctx.md = &md;
	ctx.eff = &eff;
	if (live && (ctx.aws = aws_new(imds, &md, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	/* On the instance, plan meets what run would meet first. */
	if (live && preflight_aws(m, ctx.aws, &o, &msg, &headline) < 0) {
		fprintf(stderr, "haboot: %s; run would stop there, before any module\n", msg);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	rc = runner_plan(m, &ctx, o.json, stdout);
out:
	manifest_free(m);
	aws_free(ctx.aws);
	ctx.aws = NULL;
	ctx_free(&ctx);
	eff_free(&eff);
	md_free(&md);
	imds_free(imds);
	cli_source_free(&s);
	free(err);
	free(msg);
	mopts_free(&o);
	return rc;
}

int
cmd_run(int argc, char **argv)
{
	struct mopts o;
	struct manifest *m = NULL;
	struct metadata md;
	struct effects eff;
	struct hb_ctx ctx;
	struct imds *imds = NULL;
	struct cli_source s = {0};
	struct early_failure ef = {0};
	struct run_opts ro = {0};
	char *err = NULL, *msg = NULL;
	const char *headline = NULL;
	long long started = wall_ms();
	int rc;

	md_init(&md);
	eff_init(&eff, EFF_APPLY);
	ctx_init(&ctx);
	if ((rc = parse_opts(argc, argv, usage_run, TAKES_METADATA | TAKES_STATUS_FILE, &o)) != 0)
		goto out;
	if ((rc = cli_setup_metadata(&md, &o.in, true)) != 0)
		goto out;
	/* From here on every failure is a failed boot: it leaves a report. */
	ro.status_path = o.status_path;
	ro.source = o.in.file ? o.in.file : "user-data";
	ef.started = started;
	if ((imds = cli_open_imds(&o.in, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		ef.stage = "metadata";
		ef.headline = "bad metadata service setting";
		ef.message = err;
		ef.exit_code = EXIT_ENVIRONMENT;
		rc = runner_report_early(&ro, &ef);
		goto out;
	}
	md.fetch = imds_md_fetch;
	md.fetch_arg = imds;
	m = cli_load(o.in.file, imds, o.cmd, &s);
	if (m == NULL) {
		ef.stage = "manifest";
		ef.headline = s.headline;
		ef.message = s.error;
		ef.instance = known_instance(&md, false);
		ef.exit_code = s.rc;
		rc = runner_report_early(&ro, &ef);
		goto out;
	}
	ctx.md = &md;
	ctx.eff = &eff;
	if ((ctx.aws = aws_new(imds, &md, &err)) == NULL) {
		msg = xstrdup(err);
		headline = "bad AWS setting";
	} else
		preflight_aws(m, ctx.aws, &o, &msg, &headline);
	if (msg != NULL) {
		fprintf(stderr, "haboot: %s\n", msg);
		ef.stage = "aws";
		ef.headline = headline;
		ef.message = msg;
		ef.service = m->name;
		ef.instance = known_instance(&md, !imds_disabled(imds));
		ef.exit_code = EXIT_ENVIRONMENT;
		rc = runner_report_early(&ro, &ef);
		goto out;
	}
	rc = runner_run(m, &ctx, &ro);
out:
	manifest_free(m);
	aws_free(ctx.aws);
	ctx.aws = NULL;
	ctx_free(&ctx);
	eff_free(&eff);
	md_free(&md);
	imds_free(imds);
	cli_source_free(&s);
	free(err);
	free(msg);
	mopts_free(&o);
	return rc;
}

/* watch takes up where run left off, with the same manifest and facts. */
int
cmd_watch(int argc, char **argv)
{
	struct mopts o;
	struct manifest *m = NULL;
	struct metadata md;
	struct effects eff;
	struct hb_ctx ctx;
	struct imds *imds = NULL;
	struct cli_source s = {0};
	char *err = NULL, *state = NULL;
	int rc;

	md_init(&md);
	eff_init(&eff, EFF_APPLY);
	ctx_init(&ctx);
	if ((rc = parse_opts(argc, argv, usage_watch,
	    TAKES_METADATA | TAKES_STATUS_FILE | TAKES_ONCE, &o)) != 0)
		goto out;
	if ((rc = cli_setup_metadata(&md, &o.in, true)) != 0)
		goto out;
	if ((imds = cli_open_imds(&o.in, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	md.fetch = imds_md_fetch;
	md.fetch_arg = imds;
	m = cli_load(o.in.file, imds, o.cmd, &s);
	if (m == NULL) {
		rc = s.rc;
		goto out;
	}
	ctx.md = &md;
	ctx.eff = &eff;
	if ((ctx.aws = aws_new(imds, &md, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	state = watch_state_path(o.status_path);
	{
		struct watch_opts wo = {.status_path = o.status_path, .state_path = state,
		    .source = o.in.file ? o.in.file : "user-data", .once = o.once};

		rc = watch_run(m, &ctx, &wo);
	}
out:
	manifest_free(m);
	aws_free(ctx.aws);
	ctx.aws = NULL;
	ctx_free(&ctx);
	eff_free(&eff);
	md_free(&md);
	imds_free(imds);
	cli_source_free(&s);
	free(err);
	free(state);
	mopts_free(&o);
	return rc;
}
