/* release.c: the exports module's part of a release: stop serving.
 *
 * The manifest's `stop:` command stops the server the way its init system
 * does (systemctl stop nfs-ganesha: ganesha's clean shutdown; nfs-server:
 * rpc.nfsd 0).  Writes it acknowledged were committed to the filesystem
 * (sync exports, COMMIT); the filesystem step syncs and unmounts after this.
 * Then the server must stop answering on the check port: one that still
 * answers may still write, so the release stops here and nothing is
 * unmounted under it.  Stopping a stopped server changes nothing, so a
 * release run again passes this step at once. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exports.h"
#include "log.h"
#include "module.h"
#include "net.h"

/* How often the port is tried once the stop command returned. */
#define GONE_POLL_MS 100

/* Waits until nothing answers on the check port: 0, or -1 when it still does. */
static int
wait_gone(const struct exports_cfg *x, long long limit_ms)
{
	long long until = mono_ms() + limit_ms;
	struct timespec pause = {.tv_sec = 0, .tv_nsec = GONE_POLL_MS * 1000000L};
	char why[160];

	for (;;) {
		if (net_probe(x->check_host, (int)x->check_port, 500, why, sizeof(why)) < 0)
			return 0;
		if (mono_ms() >= until)
			return -1;
		nanosleep(&pause, NULL);
	}
}

int
exports_release(struct hb_ctx *ctx, void *p)
{
	struct exports_cfg *x = p;
	const char *server = x->server == SERVER_KERNEL ? "kernel nfsd" : "NFS-Ganesha";
	char *shown = argv_to_display((const char *const *)x->stop), *said = NULL;
	long long left = ctx_time_left(ctx), limit = x->check_timeout_ms, saved;
	struct exec_result res;
	char tbuf[32];
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (left < limit)
		limit = left > 1000 ? left : 1000;
	saved = ctx->eff->cmd_timeout_ms;
	if (limit < ctx->eff->cmd_timeout_ms)
		ctx->eff->cmd_timeout_ms = limit;
	if (eff_run(ctx->eff, (const char *const *)x->stop, &res) < 0) {
		said = exec_output_tail(&res.out, 300);
		ctx_fail(ctx, "the stop command `%s` %s: %s; %s may still be serving, so the "
		    "release stops here and the volume stays mounted: stop it by hand (or fix "
		    "`stop:`), then run haboot release again", shown,
		    res.timed_out ? "timed out" : res.exited ? "failed" : "could not be started",
		    said, server);
		goto out;
	}
	if (wait_gone(x, limit) < 0) {
		fmt_duration(limit, tbuf, sizeof(tbuf));
		ctx_fail(ctx, "%s still answers on %s:%lld %s after `%s` returned: it may still be "
		    "writing, so the release stops here and the volume stays mounted; stop the "
		    "server, then run haboot release again", server, x->check_host, x->check_port,
		    tbuf, shown);
		goto out;
	}
	ctx->changed = true;
	ctx_result(ctx, "%s stopped (`%s`); nothing answers on %s:%lld any more", server, shown,
	    x->check_host, x->check_port);
	rc = 0;
out:
	ctx->eff->cmd_timeout_ms = saved;
	exec_result_free(&res);
	free(shown);
	free(said);
	return rc;
}
