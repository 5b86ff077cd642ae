/* cli_status.c: `haboot status`. */
#include "cli_status.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "release.h"
#include "status.h"
#include "util.h"
#include "watch.h"

const char usage_status[] =
"usage: haboot status [--json] [--history] [--status-file PATH]\n"
"\n"
"Shows the last run's report: outcome, where a failed run stopped, each\n"
"module's state, duration and message, and the facts modules recorded (the\n"
"device, the previous owner).  The report is " STATUS_DEFAULT_PATH "\n"
"(" STATUS_RUN_LINK " links to it); it survives reboots.  When haboot watch\n"
"runs, its state follows (with --json, under \"watch\"): each module's last\n"
"check, its time and result, and the restarts used.\n"
"\n"
"  --json                the report as it is (JSON)\n"
"  --history             one line for each of the last runs, oldest first\n"
"                        (" STATUS_HISTORY_DIR ")\n"
"  --status-file PATH    read the report run wrote with --status-file PATH\n"
"\n"
"exit: 0 the last run brought the service up (and the watcher, if any, has\n"
"      not given up), 1 it failed, was interrupted, was handed over (haboot\n"
"      release), or the watcher gave up or halted, 3 the report cannot be read,\n"
"      4 no report yet, 5 a run is in progress.\n";

enum { OPT_JSON = 256, OPT_HISTORY, OPT_STATUS_FILE };

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"history", no_argument, NULL, OPT_HISTORY},
		{"status-file", required_argument, NULL, OPT_STATUS_FILE},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool json = false, history = false;
	struct status_report r;
	char *why = NULL, *state;
	bool watched, down;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_HISTORY:
			history = true;
			break;
		case OPT_STATUS_FILE:
			path = optarg;
			break;
		default:
			return cli_bad_option(usage_status);
		}
	}
	if (optind < argc)
		return usage_error(usage_status, "status takes no operand (\"%s\")", argv[optind]);
	if (history && (json || path != NULL))
		return usage_error(usage_status, "%s", "--history lists " STATUS_HISTORY_DIR
		    ": give it alone");
	if (history) {
		if (status_show_history(STATUS_HISTORY_DIR, stdout, &why) == 0)
			return EXIT_DONE;
		fprintf(stderr, "haboot: status: %s\n", why);
		rc = errno == ENOENT ? EXIT_NO_REPORT : EXIT_ENVIRONMENT;
		free(why);
		return rc;
	}
	if (status_load(path, &r, &why) < 0) {
		fprintf(stderr, "haboot: status: %s\n", why);
		rc = errno == ENOENT ? EXIT_NO_REPORT : EXIT_ENVIRONMENT;
		free(why);
		return rc;
	}
	state = watch_state_path(path);
	watched = access(state, F_OK) == 0;
	if (json && watched) {
		if (watch_status_json(r.path, state, stdout, &why) < 0) {
			fprintf(stderr, "haboot: status: %s\n", why);
			free(why);
			status_show(&r, json, stdout);
		}
	} else
		status_show(&r, json, stdout);
	if (!json && watched) {
		fputc('\n', stdout);
		if (watch_state_show(state, false, stdout, &why) < 0) {
			fprintf(stderr, "haboot: status: %s\n", why);
			free(why);
		}
	}
	/* Released: handed over (or being handed over), so not up here. */
	down = (watched && watch_state_down(state)) || release_recorded(r.path);
	free(state);
	switch (down ? SV_FAILED : status_judge(&r)) {
	case SV_OK:
		rc = EXIT_DONE;
		break;
	case SV_RUNNING:
		rc = EXIT_RUNNING;
		break;
	default:
		rc = EXIT_MODULE_FAILED;
		break;
	}
	status_report_free(&r);
	return rc;
}
