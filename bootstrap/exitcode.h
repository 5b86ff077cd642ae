/* exitcode.h: what haboot's exit status means, for every command alike
 * (haboot(8), EXIT STATUS).  Scripts and systemd units depend on these: a
 * meaning is never changed, only added. */
#ifndef HABOOT_EXITCODE_H
#define HABOOT_EXITCODE_H

enum {
	EXIT_DONE = 0,          /* done; status: the last run brought the service up */
	EXIT_MODULE_FAILED = 1, /* a required module failed (status: the last run failed) */
	EXIT_USAGE = 2,         /* usage error or invalid manifest */
	EXIT_ENVIRONMENT = 3,   /* no metadata, no credentials, no manifest, unreadable file */
	EXIT_NO_REPORT = 4,     /* status: no run has left a report yet */
	EXIT_RUNNING = 5,       /* status: a run is in progress */
};

#endif
