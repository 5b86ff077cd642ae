/* notice.c: the attach wait, shortened by device events (see notice.h). */
#include "notice.h"

#include <stdlib.h>

#include "devwatch.h"
#include "log.h"
#include "util.h"
#include "volume/device.h"

/* Local looks (sysfs, /dev) while waiting for a device EC2 says is attached. */
#define NOTICE_LOCAL_MS 1000

void
notice_start(struct notice *n, struct hb_ctx *ctx)
{
	const char *why;

	n->waiting = false;
	n->burst = 0;
	n->w = devwatch_start(DEVWATCH_BLOCK, NULL, &why);
	if (n->w == NULL)
		log_debug(ctx->module, "%s: waiting for attachments by polling EC2", why);
}

void
notice_stop(struct notice *n)
{
	devwatch_stop(n->w);
	n->w = NULL;
}

/* The watch broke (it should not): carry on as without events. */
static void
drop_watch(struct notice *n, struct hb_ctx *ctx)
{
	log_warn(ctx->module, "device events stopped; polling EC2 instead");
	notice_stop(n);
}

/* The slow look: NOTICE_FALLBACK_MS, or a tenth of a short wait, so that what
 * the caller decides at its own times (a stuck attach is retried half way)
 * still happens on time. */
static long long
fallback_ms(const struct poller *pl)
{
	long long f = (pl->deadline - pl->t0) / 10;

	return f < 200 ? 200 : f > NOTICE_FALLBACK_MS ? NOTICE_FALLBACK_MS : f;
}

static void
schedule_look(struct notice *n, const struct poller *pl)
{
	if (n->burst > 0 && (n->burst *= 2) >= fallback_ms(pl))
		n->burst = 0;
	n->next_look = mono_ms() + (n->burst > 0 ? n->burst : fallback_ms(pl));
}

/* A device with the volume's serial is here: 1, else 0. */
static int
proven(struct hb_ctx *ctx, const char *volume_id, const char *event)
{
	char *path, *how, *why;
	enum vdev_result r = vdev_by_serial(volume_id, &path, &how, &why);

	if (r == VDEV_FOUND)
		log_debug(ctx->module, "device event %s: %s is %s", event, volume_id, how);
	free(path);
	free(how);
	free(why);
	return r == VDEV_FOUND;
}

enum notice_result
notice_attach_wait(struct notice *n, struct hb_ctx *ctx, struct poller *pl,
    const char *volume_id)
{
	char name[256];
	int r;

	if (n->w == NULL)
		return poller_wait(pl) ? NOTICE_LOOK : NOTICE_TIMEOUT;
	if (!n->waiting) {
		n->waiting = true;
		n->burst = 0;
		n->next_look = mono_ms() + fallback_ms(pl);
		/* It may have landed between AttachVolume and now. */
		if (proven(ctx, volume_id, "(already there)"))
			goto proof;
	}
	for (;;) {
		long long left = poller_left(pl), until = n->next_look - mono_ms();

		if (left <= 0)
			return NOTICE_TIMEOUT;
		if ((r = devwatch_wait(n->w, until < left ? until : left, name, sizeof(name))) < 0) {
			drop_watch(n, ctx);
			return poller_wait(pl) ? NOTICE_LOOK : NOTICE_TIMEOUT;
		}
		if (r == 0) {
			if (mono_ms() < n->next_look)
				continue; /* the deadline: checked at the top */
			schedule_look(n, pl);
			return NOTICE_LOOK;
		}
		if (proven(ctx, volume_id, name))
			goto proof;
		/* A name proves nothing (Xen), nor does a device with another serial
		 * (Nitro): EC2 is asked now, and what it says is checked as always. */
		log_debug(ctx->module, "device event %s: asking EC2 about %s now", name, volume_id);
		n->burst = NOTICE_BURST_FIRST_MS;
		n->next_look = mono_ms() + n->burst;
		return NOTICE_LOOK;
	}
proof:
	/* Should EC2 not confirm yet, its next looks come soon. */
	n->burst = NOTICE_BURST_FIRST_MS;
	n->next_look = mono_ms() + n->burst;
	return NOTICE_PROVEN;
}

bool
notice_device_wait(struct notice *n, struct hb_ctx *ctx, struct poller *pl)
{
	long long left = poller_left(pl);

	if (n->w == NULL)
		return poller_wait(pl);
	if (left <= 0)
		return false;
	if (devwatch_wait(n->w, left < NOTICE_LOCAL_MS ? left : NOTICE_LOCAL_MS, NULL, 0) < 0)
		drop_watch(n, ctx);
	return true;
}
