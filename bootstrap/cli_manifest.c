/* cli_manifest.c: validate, plan and run: where the manifest and the
 * instance facts come from, and what a run leaves behind when it cannot
 * even start. */
#include "cli_manifest.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "aws/imds.h"
#include "cli.h"
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

enum { OPT_METADATA = 256, OPT_METADATA_FILE, OPT_JSON, OPT_STATUS_FILE, OPT_IMDS_TIMEOUT,
	OPT_IMDSV1, OPT_ONCE };

/* What each command accepts beyond the manifest and the IMDS options. */
enum { TAKES_METADATA = 1, TAKES_JSON = 2, TAKES_STATUS_FILE = 4, TAKES_ONCE = 8 };

struct mopts {
	const char *cmd;
	const char *usage;
	const char *file;        /* FILE or -f FILE; NULL: user-data */
	const char *status_path; /* NULL: the standard place */
	const char *metadata_file;
	const char **metadata;
	size_t nmetadata;
	bool json;
	long long imds_timeout_ms;
	bool imdsv1;
	bool once;
};

static int
parse_opts(int argc, char **argv, const char *usage, unsigned takes, struct mopts *o)
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
		{NULL, 0, NULL, 0},
	};
	const char *pos = NULL;
	int ch;

	memset(o, 0, sizeof(*o));
	o->cmd = argv[0];
	o->usage = usage;
	o->imds_timeout_ms = IMDS_DEFAULT_DEADLINE_MS;
	/* 0 resets GNU getopt; without "+" it takes options after operands too. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "-f:", longopts, NULL)) != -1) {
		switch (ch) {
		case 1:
			/* An operand: the manifest, once. */
			if (pos != NULL)
				return usage_error(usage, "give one manifest, not also \"%s\"", optarg);
			pos = optarg;
			break;
		case 'f':
			if (o->file != NULL)
				return usage_error(usage, "give one manifest, not also \"%s\"", optarg);
			o->file = optarg;
			break;
		case OPT_METADATA:
			if (!(takes & TAKES_METADATA))
				return usage_error(usage, "%s takes no --metadata", o->cmd);
			o->metadata = xrealloc(o->metadata, (o->nmetadata + 1) * sizeof(char *));
			o->metadata[o->nmetadata++] = optarg;
			break;
		case OPT_METADATA_FILE:
			if (!(takes & TAKES_METADATA))
				return usage_error(usage, "%s takes no --metadata-file", o->cmd);
			o->metadata_file = optarg;
			break;
		case OPT_JSON:
			if (!(takes & TAKES_JSON))
				return usage_error(usage, "%s takes no --json", o->cmd);
			o->json = true;
			break;
		case OPT_STATUS_FILE:
			if (!(takes & TAKES_STATUS_FILE))
				return usage_error(usage, "%s takes no --status-file", o->cmd);
			o->status_path = optarg;
			break;
		case OPT_IMDS_TIMEOUT:
			if (cli_duration(usage, "--imds-timeout", optarg, &o->imds_timeout_ms) < 0)
				return EXIT_USAGE;
			break;
		case OPT_IMDSV1:
			o->imdsv1 = true;
			break;
		case OPT_ONCE:
			if (!(takes & TAKES_ONCE))
				return usage_error(usage, "%s takes no --once", o->cmd);
			o->once = true;
			break;
		default:
			return cli_bad_option(usage);
		}
	}
	for (; optind < argc; optind++) {
		/* After "--": operands only. */
		if (pos != NULL)
			return usage_error(usage, "give one manifest, not also \"%s\"", argv[optind]);
		pos = argv[optind];
	}
	if (pos != NULL && o->file != NULL)
		return usage_error(usage, "give the manifest once, as FILE or as -f FILE, not both "
		    "(\"%s\")", pos);
	if (pos != NULL)
		o->file = pos;
	return 0;
}

static void
mopts_free(struct mopts *o)
{
	free(o->metadata);
}

/* Diagnostics as one text: printed on stderr, kept for the status file. */
static char *
diag_text(struct diag *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return xstrdup("(out of memory)");
	diag_print(d, f);
	fclose(f);
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	return text;
}

/* Where a manifest comes from, and why there is none. */
struct source {
	const char *name;    /* the file, or "user-data" */
	char *error;         /* why no manifest came of it (printed already) */
	const char *headline;
	int rc;
};

/* A manifest file that cannot be read is no manifest at all, as with
 * user-data that holds none: an environment problem (3).  One that reads but
 * is wrong is an invalid manifest (2). */
static struct manifest *
load_file(const char *path, struct source *s)
{
	struct manifest *m;
	struct diag d;
	bool unreadable;

	s->name = strcmp(path, "-") ? path : "<stdin>";
	diag_init(&d, path);
	m = manifest_load_file(path, &d, &unreadable);
	s->error = diag_text(&d);
	if (*s->error != '\0')
		fprintf(stderr, "%s\n", s->error);
	if (m == NULL) {
		s->rc = unreadable ? EXIT_ENVIRONMENT : EXIT_USAGE;
		s->headline = unreadable ? "cannot read the manifest" : "invalid manifest";
	} else {
		free(s->error);
		s->error = NULL;
	}
	diag_free(&d);
	return m;
}

static void
source_fail(struct source *s, int rc, const char *headline, char *msg)
{
	fprintf(stderr, "haboot: %s\n", msg);
	s->error = msg;
	s->rc = rc;
	s->headline = headline;
}

/* The user-data manifest: 404 and a user-data of another kind (a cloud-init
 * script) both mean "no manifest", an environment problem, not a bad manifest. */
static struct manifest *
load_user_data(struct imds *imds, const char *cmd, struct source *s)
{
	struct manifest *m = NULL;
	struct manifest_text t;
	struct buf raw;
	struct diag d;
	int r;

	s->name = "user-data";
	buf_init(&raw);
	buf_init(&t.text);
	diag_init(&d, "user-data");
	if ((r = imds_user_data(imds, &raw)) == IMDS_NOT_FOUND) {
		source_fail(s, EXIT_ENVIRONMENT, "no manifest in user-data", xasprintf("no manifest "
		    "in user-data: this instance has no user-data (IMDS at %s answered 404); put a "
		    "manifest whose first line is \"%s\" in the launch template's user-data, or "
		    "give the manifest as a FILE (haboot %s FILE)", imds_endpoint(imds), MANIFEST_MARKER,
		    cmd));
		goto out;
	}
	if (r != IMDS_OK) {
		source_fail(s, EXIT_ENVIRONMENT, "cannot read user-data", xasprintf("cannot read the "
		    "manifest from user-data: %s%s%s%s", imds_error(imds), imds_disabled(imds) ?
		    ": give the manifest as a FILE (haboot " : "", imds_disabled(imds) ? cmd : "",
		    imds_disabled(imds) ? " FILE)" : ""));
		goto out;
	}
	/* Decoded once: the marker is looked for in, and the manifest parsed
	 * from, the same text. */
	if (manifest_decode(raw.data, raw.len, &t, &d) < 0) {
		char *msg = diag_text(&d);

		source_fail(s, EXIT_ENVIRONMENT, "unreadable user-data", xasprintf("user-data is not "
		    "a manifest haboot can read: %s", msg));
		free(msg);
		goto out;
	}
	if (!manifest_has_marker(&t)) {
		source_fail(s, EXIT_ENVIRONMENT, "no manifest in user-data", xasprintf("no manifest "
		    "in user-data: its %zu bytes%s do not start with \"%s\" (another tool's "
		    "user-data?); make \"%s\" its first line, or give the manifest as a FILE "
		    "(haboot %s FILE)", raw.len, t.gzipped ? " (gzipped)" : "", MANIFEST_MARKER,
		    MANIFEST_MARKER, cmd));
		goto out;
	}
	m = manifest_parse_text(&t, &d);
	s->error = diag_text(&d);
	if (*s->error != '\0')
		fprintf(stderr, "%s\n", s->error);
	if (m == NULL) {
		s->rc = EXIT_USAGE;
		s->headline = "invalid manifest in user-data";
	} else {
		free(s->error);
		s->error = NULL;
	}
out:
	diag_free(&d);
	buf_free(&raw);
	manifest_text_free(&t);
	return m;
}

static struct imds *
open_imds(const struct mopts *o, char **err)
{
	struct imds *imds;

	if ((imds = imds_new(err)) == NULL)
		return NULL;
	imds_set_deadline(imds, o->imds_timeout_ms);
	imds_allow_v1(imds, o->imdsv1);
	return imds;
}

/* --metadata and --metadata-file, then the region.  live: AWS will be called. */
static int
setup_metadata(struct metadata *md, const struct mopts *o, bool live)
{
	char *why = NULL, *warn = NULL;
	int rc = EXIT_USAGE;

	if (o->metadata_file && md_load_file(md, o->metadata_file, &why) < 0) {
		fprintf(stderr, "haboot: --metadata-file %s\n", why);
		goto out;
	}
	for (size_t i = 0; i < o->nmetadata; i++)
		if (md_set_arg(md, o->metadata[i], &why) < 0) {
			fprintf(stderr, "haboot: --metadata %s: %s\n", o->metadata[i], why);
			goto out;
		}
	if (md_settle_region(md, !live, &why, &warn) < 0) {
		fprintf(stderr, "haboot: %s\n", why);
		goto out;
	}
	if (live && warn != NULL)
		log_warn("haboot", "%s", warn);
	rc = 0;
out:
	free(why);
	free(warn);
	return rc;
}

int
cmd_validate(int argc, char **argv)
{
	struct mopts o;
	struct manifest *m = NULL;
	struct imds *imds = NULL;
	struct source s = {0};
	char *err = NULL;
	int rc;

	if ((rc = parse_opts(argc, argv, usage_validate, 0, &o)) != 0)
		goto out;
	if (o.file != NULL)
		m = load_file(o.file, &s);
	else if ((imds = open_imds(&o, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	} else
		m = load_user_data(imds, o.cmd, &s);
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
	free(s.error);
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
		if (o->file != NULL)
			*msg = xasprintf("%s (%s needs AWS).  To see what run would do without "
			    "credentials: haboot plan %s", err, who, o->file);
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
	struct source s = {0};
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
	live = o.file == NULL;
	if ((rc = setup_metadata(&md, &o, live)) != 0)
		goto out;
	if (live) {
		if ((imds = open_imds(&o, &err)) == NULL) {
			fprintf(stderr, "haboot: %s\n", err);
			rc = EXIT_ENVIRONMENT;
			goto out;
		}
		md.fetch = imds_md_fetch;
		md.fetch_arg = imds;
		m = load_user_data(imds, o.cmd, &s);
	} else
		m = load_file(o.file, &s);
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
	free(s.error);
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
	struct source s = {0};
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
	if ((rc = setup_metadata(&md, &o, true)) != 0)
		goto out;
	/* From here on every failure is a failed boot: it leaves a report. */
	ro.status_path = o.status_path;
	ro.source = o.file ? o.file : "user-data";
	ef.started = started;
	if ((imds = open_imds(&o, &err)) == NULL) {
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
	m = o.file ? load_file(o.file, &s) : load_user_data(imds, o.cmd, &s);
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
	free(s.error);
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
	struct source s = {0};
	char *err = NULL, *state = NULL;
	int rc;

	md_init(&md);
	eff_init(&eff, EFF_APPLY);
	ctx_init(&ctx);
	if ((rc = parse_opts(argc, argv, usage_watch,
	    TAKES_METADATA | TAKES_STATUS_FILE | TAKES_ONCE, &o)) != 0)
		goto out;
	if ((rc = setup_metadata(&md, &o, true)) != 0)
		goto out;
	if ((imds = open_imds(&o, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	md.fetch = imds_md_fetch;
	md.fetch_arg = imds;
	m = o.file ? load_file(o.file, &s) : load_user_data(imds, o.cmd, &s);
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
		    .source = o.file ? o.file : "user-data", .once = o.once};

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
	free(s.error);
	free(err);
	free(state);
	mopts_free(&o);
	return rc;
}
