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
#include "cli_source.h"
#include "context.h"
#include "effects.h"
#include "exec.h"
#include "log.h"
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

enum { OPT_REASON = 400, OPT_ON_SHUTDOWN, OPT_TOKEN, OPT_STATUS_FILE };

struct rcli {
	struct cli_input in;   /* the manifest and the facts */
	const char *reason, *token, *status_path;
	bool on_shutdown;
};

static int
parse_opts(int argc, char **argv, struct rcli *c)
{
	static const struct option longopts[] = {
		CLI_INPUT_LONGOPTS,
		{"reason", required_argument, NULL, OPT_REASON},
		{"on-shutdown", no_argument, NULL, OPT_ON_SHUTDOWN},
		{"lifecycle-token", required_argument, NULL, OPT_TOKEN},
		{"status-file", required_argument, NULL, OPT_STATUS_FILE},
		{NULL, 0, NULL, 0},
	};
	int ch, r;

	/* The grammar of cli.h: options and the manifest in any order. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "-f:", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_REASON:
			if (*optarg == '\0')
				return usage_error(usage_release, "--reason needs some text%s", "");
			c->reason = optarg;
			continue;
		case OPT_ON_SHUTDOWN:
			c->on_shutdown = true;
			continue;
		case OPT_TOKEN:
			c->token = optarg;
			continue;
		case OPT_STATUS_FILE:
			c->status_path = optarg;
			continue;
		}
		if ((r = cli_input_opt(&c->in, usage_release, ch, optarg)) == 1)
			return cli_bad_option(usage_release);
		if (r != 0)
			return r;
	}
	return cli_input_done(&c->in, usage_release, argc, argv);
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

int
cmd_release(int argc, char **argv)
{
	struct rcli c = {.reason = "by hand"};
	struct cli_source s = {0};
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
	cli_input_init(&c.in);
	if ((rc = parse_opts(argc, argv, &c)) != 0)
		goto out;
	if ((rc = cli_setup_metadata(&md, &c.in, true)) != 0)
		goto out;
	if (c.on_shutdown) {
		int down = shutting_down(&seen);

		if (down <= 0) {
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
	if ((imds = cli_open_imds(&c.in, &err)) == NULL) {
		fprintf(stderr, "haboot: %s\n", err);
		rc = EXIT_ENVIRONMENT;
		goto out;
	}
	md.fetch = imds_md_fetch;
	md.fetch_arg = imds;
	if ((m = cli_load(c.in.file, imds, argv[0], &s)) == NULL) {
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
	cli_input_free(&c.in);
	cli_source_free(&s);
	free(err);
	free(seen);
	free(lstate);
	free(reason);
	return rc;
}
