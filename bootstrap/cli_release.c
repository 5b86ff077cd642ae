/* cli_release.c: `haboot release`. */
#include "cli_release.h"

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
#include "exec.h"
#include "log.h"
#include "manifest/diag.h"
#include "manifest/manifest.h"
#include "manifest/metadata.h"
#include "release.h"
#include "runner.h"
#include "status.h"
#include "triggers.h"
#include "util.h"

const char usage_release[] =
"usage: haboot release [FILE | -f FILE] [--reason TEXT] [--on-shutdown]\n"
"                      [--lifecycle-token TOKEN] [--metadata KEY=VALUE]...\n"
"                      [--metadata-file FILE] [--status-file PATH]\n"
"                      [--imds-timeout DURATION] [--imdsv1]\n"
"\n"
"Hands the service that run brought up over to the next instance, for a\n"
"planned stop.  In reverse manifest order: the reporting modules say\n"
"\"releasing\" and why; DNS is left for the next owner to move; the NFS server\n"
"is stopped (exports `stop:`); the filesystem is synced, marked released in\n"
"its generation record and unmounted, waiting up to `unmount_wait` for the\n"
"processes that hold it (named in the log), never lazily, never by force; the\n"
"volume is detached normally.  A step that cannot finish safely stops the\n"
"release there and says why: run it again once fixed, it takes up where it\n"
"stopped.  While it runs this instance carries the tag haboot:release, so the\n"
"next instance waits for the volume instead of giving up on it.\n"
"\n"
"The watcher (haboot watch) releases by itself when the group terminates this\n"
"instance (termination lifecycle hook), on a Spot interruption notice and, if\n"
"the manifest asks, on a rebalance recommendation: see release: in\n"
"haboot.yaml(5).  When instance metadata says the group is terminating this\n"
"instance, the hook named in release: lifecycle_hook is completed with\n"
"CONTINUE once the release is done.\n"
"\n"
"  -f, --file FILE          the manifest run used (the same as giving FILE);\n"
"                           with neither, the instance's user-data\n"
"  --reason TEXT            why, for the reports (default \"by hand\")\n"
"  --on-shutdown            release only if the machine is shutting down\n"
"                           (systemd's state is \"stopping\", or shutdown.target is\n"
"                           queued); otherwise do nothing and exit 0.  This is what\n"
"                           haboot-release.service runs when systemd stops it, so\n"
"                           stopping or restarting that unit (a package upgrade)\n"
"                           hands nothing over\n"
"  --lifecycle-token TOKEN  the lifecycle action's token (from the hook's\n"
"                           notification): complete that action once released\n"
"  --metadata KEY=VALUE     override an instance fact\n"
"  --metadata-file FILE     KEY=VALUE lines or a JSON object\n"
"  --status-file PATH       the run's report (default " STATUS_DEFAULT_PATH ");\n"
"                           the release is recorded in it, and haboot status shows it\n"
"  --imds-timeout DURATION  how long to wait for IMDS (default 60s)\n"
"  --imdsv1                 allow the IMDSv1 fallback when IMDS issues no token\n"
"\n"
"exit: 0 released (or already), 1 stopped at a step (safely: the message says\n"
"where and why), 2 usage or invalid manifest, 3 environment (no report of a run\n"
"here, no metadata or credentials, another release under way).\n";

enum { OPT_REASON = 400, OPT_ON_SHUTDOWN, OPT_TOKEN, OPT_METADATA, OPT_METADATA_FILE,
	OPT_STATUS_FILE, OPT_IMDS_TIMEOUT, OPT_IMDSV1 };

struct rcli {
	const char *file, *reason, *token, *status_path, *metadata_file;
	const char **metadata;
	size_t nmetadata;
	bool on_shutdown, imdsv1;
	long long imds_timeout_ms;
};

static int
parse_opts(int argc, char **argv, struct rcli *c)
{
	static const struct option longopts[] = {
		{"file", required_argument, NULL, 'f'},
		{"reason", required_argument, NULL, OPT_REASON},
		{"on-shutdown", no_argument, NULL, OPT_ON_SHUTDOWN},
		{"lifecycle-token", required_argument, NULL, OPT_TOKEN},
		{"metadata", required_argument, NULL, OPT_METADATA},
		{"metadata-file", required_argument, NULL, OPT_METADATA_FILE},
		{"status-file", required_argument, NULL, OPT_STATUS_FILE},
		{"imds-timeout", required_argument, NULL, OPT_IMDS_TIMEOUT},
		{"imdsv1", no_argument, NULL, OPT_IMDSV1},
		{NULL, 0, NULL, 0},
	};
	const char *pos = NULL;
	int ch;

	/* The grammar of cli.h: options and the manifest in any order. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "-f:", longopts, NULL)) != -1) {
		switch (ch) {
		case 1:
			if (pos != NULL)
				return usage_error(usage_release, "give one manifest, not also \"%s\"",
				    optarg);
			pos = optarg;
			break;
		case 'f':
			if (c->file != NULL)
				return usage_error(usage_release, "give one manifest, not also \"%s\"",
				    optarg);
			c->file = optarg;
			break;
		case OPT_REASON:
			if (*optarg == '\0')
				return usage_error(usage_release, "--reason needs some text%s", "");
			c->reason = optarg;
			break;
		case OPT_ON_SHUTDOWN:
			c->on_shutdown = true;
			break;
		case OPT_TOKEN:
			c->token = optarg;
			break;
		case OPT_METADATA:
			c->metadata = xrealloc(c->metadata, (c->nmetadata + 1) * sizeof(char *));
			c->metadata[c->nmetadata++] = optarg;
			break;
		case OPT_METADATA_FILE:
			c->metadata_file = optarg;
			break;
		case OPT_STATUS_FILE:
			c->status_path = optarg;
			break;
		case OPT_IMDS_TIMEOUT:
			if (cli_duration(usage_release, "--imds-timeout", optarg,
			    &c->imds_timeout_ms) < 0)
				return EXIT_USAGE;
			break;
		case OPT_IMDSV1:
			c->imdsv1 = true;
			break;
		default:
			return cli_bad_option(usage_release);
		}
	}
	for (; optind < argc; optind++) {
		if (pos != NULL)
			return usage_error(usage_release, "give one manifest, not also \"%s\"",
			    argv[optind]);
		pos = argv[optind];
	}
	if (pos != NULL && c->file != NULL)
		return usage_error(usage_release, "give the manifest once, as FILE or as -f FILE, "
		    "not both (\"%s\")", pos);
	if (pos != NULL)
		c->file = pos;
	return 0;
}

/* Is systemd taking the machine down?  1 yes, 0 no, -1 cannot tell (*seen
 * says what was found).  "stopping" is systemd's state once shutdown.target
 * is queued (systemctl(1), is-system-running); a shutdown that began before
 * boot finished shows only as that queued job. */
static int
shutting_down(char **seen)
{
	const char *state[] = {"systemctl", "is-system-running", NULL};
	const char *jobs[] = {"systemctl", "list-jobs", "--no-legend", "--no-pager", NULL};
	struct exec_result r;
	char *line, *save = NULL;
	int rc = -1;

	*seen = NULL;
	if (exec_argv(state, 10 * 1000, &r) < 0) {
		*seen = xasprintf("cannot run systemctl: %s", strerror(errno));
		return -1;
	}
	if (r.out.data != NULL) {
		size_t n = strcspn(r.out.data, "\n");

		*seen = xasprintf("systemd's state is \"%.*s\"", (int)n, r.out.data);
		if (n == strlen("stopping") && strncmp(r.out.data, "stopping", n) == 0)
			rc = 1;
		else if (n > 0)
			rc = 0;
	}
	exec_result_free(&r);
	if (rc == 1 || exec_argv(jobs, 10 * 1000, &r) < 0)
		return rc;
	for (line = r.out.data ? strtok_r(r.out.data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		if (strstr(line, " shutdown.target ") && strstr(line, " start")) {
			free(*seen);
			*seen = xasprintf("shutdown.target is queued (%s)", line);
			rc = 1;
			break;
		}
	exec_result_free(&r);
	return rc;
}

static int
setup_metadata(struct metadata *md, const struct rcli *c)
{
	char *why = NULL, *warn = NULL;
	int rc = EXIT_USAGE;

	if (c->metadata_file && md_load_file(md, c->metadata_file, &why) < 0) {
		fprintf(stderr, "haboot: --metadata-file %s\n", why);
		goto out;
	}
	for (size_t i = 0; i < c->nmetadata; i++)
		if (md_set_arg(md, c->metadata[i], &why) < 0) {
			fprintf(stderr, "haboot: --metadata %s: %s\n", c->metadata[i], why);
			goto out;
		}
	if (md_settle_region(md, false, &why, &warn) < 0) {
		fprintf(stderr, "haboot: %s\n", why);
		goto out;
	}
	if (warn != NULL)
		log_warn("haboot", "%s", warn);
	rc = 0;
out:
	free(why);
	free(warn);
	return rc;
}

/* The manifest run used: FILE, else user-data.  NULL with *rc set. */
static struct manifest *
load(const struct rcli *c, struct imds *imds, int *rc)
{
	struct manifest *m = NULL;
	struct manifest_text t;
	struct buf raw;
	struct diag d;
	bool unreadable = false;
	int r;

	buf_init(&raw);
	buf_init(&t.text);
	diag_init(&d, c->file ? c->file : "user-data");
	*rc = EXIT_ENVIRONMENT;
	if (c->file != NULL)
		m = manifest_load_file(c->file, &d, &unreadable);
	else if ((r = imds_user_data(imds, &raw)) != IMDS_OK) {
		fprintf(stderr, "haboot: no manifest: %s; give the manifest as a FILE\n",
		    r == IMDS_NOT_FOUND ? "this instance has no user-data" : imds_error(imds));
		goto out;
	} else if (manifest_decode(raw.data, raw.len, &t, &d) == 0) {
		if (!manifest_has_marker(&t)) {
			fprintf(stderr, "haboot: no manifest in user-data (its first line is not "
			    "\"%s\"); give the manifest as a FILE\n", MANIFEST_MARKER);
			goto out;
		}
		m = manifest_parse_text(&t, &d);
	}
	diag_print(&d, stderr);
	if (m != NULL)
		*rc = EXIT_DONE;
	else if (!unreadable && (c->file != NULL || d.errors > 0))
		*rc = EXIT_USAGE;
out:
	diag_free(&d);
	buf_free(&raw);
	manifest_text_free(&t);
	return m;
}

int
cmd_release(int argc, char **argv)
{
	struct rcli c = {.reason = "by hand", .imds_timeout_ms = IMDS_DEFAULT_DEADLINE_MS};
	struct release_opts o;
	struct manifest *m = NULL;
	struct metadata md;
	struct effects eff;
	struct hb_ctx ctx;
	struct imds *imds = NULL;
	char *err = NULL, *seen = NULL, *lstate = NULL, *reason = NULL;
	int rc;

	md_init(&md);
	eff_init(&eff, EFF_APPLY);
	ctx_init(&ctx);
	if ((rc = parse_opts(argc, argv, &c)) != 0)
		goto out;
	if ((rc = setup_metadata(&md, &c)) != 0)
		goto out;
	if (c.on_shutdown) {
		int s = shutting_down(&seen);

		if (s <= 0) {
			/* A stop or restart of the unit by hand or by a package upgrade
			 * must not hand the volume away: only a shutdown does. */
			log_info("release", "not releasing: this machine is not shutting down (%s); "
			    "the service stays here. To hand it over, run haboot release",
			    seen ? seen : "systemd did not say");
			rc = EXIT_DONE;
			goto out;
		}
		c.reason = "the machine is shutting down";
		log_info("release", "%s: releasing", seen);
	}
	if ((imds = imds_new(&err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	imds_set_deadline(imds, c.imds_timeout_ms);
	imds_allow_v1(imds, c.imdsv1);
	md.fetch = imds_md_fetch;
	md.fetch_arg = imds;
	if ((m = load(&c, imds, &rc)) == NULL)
		goto out;
	ctx.md = &md;
	ctx.eff = &eff;
	if ((ctx.aws = aws_new(imds, &md, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.status_path = c.status_path;
	o.hook_token = c.token;
	/* By hand while the group terminates this instance: answer its hook too. */
	lstate = c.on_shutdown ? NULL : triggers_lifecycle_state(imds);
	o.complete_hook = c.token != NULL || (lstate != NULL && !strcmp(lstate, "Terminated"));
	o.reason = c.reason;
	if (c.on_shutdown)
		o.reason = reason = xasprintf("%s (%s)", c.reason, seen);
	rc = release_run(m, &ctx, &o);
out:
	manifest_free(m);
	aws_free(ctx.aws);
	ctx.aws = NULL;
	ctx_free(&ctx);
	eff_free(&eff);
	md_free(&md);
	imds_free(imds);
	free(c.metadata);
	free(err);
	free(seen);
	free(lstate);
	free(reason);
	return rc;
}
