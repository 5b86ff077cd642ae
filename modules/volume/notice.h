/* notice.h: notice the attachment from the kernel while waiting for it.
 *
 * With device events (bootstrap/devwatch.h), the wait for this instance's
 * attachment asks EC2 only every NOTICE_FALLBACK_MS and otherwise listens:
 *
 *   Nitro  a block device whose NVMe serial is the volume id proves the
 *          attachment (EBS alone can make it): the wait ends at once, and the
 *          caller confirms with one DescribeVolumes.
 *   other  any other block device (a Xen name proves nothing; a device with
 *          another serial is not this volume's proof): EC2's "attached" stays
 *          the proof, so the caller asks EC2 now, then a few times more at
 *          short, doubling intervals (EC2 may lag the kernel), then slowly.
 *
 * Without events (off, or unavailable) every wait is the poller's. */
#ifndef HABOOT_VOLUME_NOTICE_H
#define HABOOT_VOLUME_NOTICE_H

#include <stdbool.h>

#include "context.h"
#include "poll.h"

/* How often EC2 is asked while events run: 12 DescribeVolumes a minute (a
 * tenth of the wait when that is shorter). */
#define NOTICE_FALLBACK_MS 5000
/* After a device event on Xen: look at once, then after 25, 50, 100 ms... */
#define NOTICE_BURST_FIRST_MS 25

struct devwatch;

struct notice {
	struct devwatch *w;     /* NULL: poll */
	bool waiting;           /* in the attach wait: next_look is set */
	long long next_look;    /* mono ms of the next DescribeVolumes */
	long long burst;        /* the next short gap, 0 when looking slowly */
};

enum notice_result {
	NOTICE_LOOK,    /* time to ask EC2 */
	NOTICE_PROVEN,  /* Nitro: the volume's device is here; confirm with one look */
	NOTICE_TIMEOUT, /* the poller's deadline passed */
};

/* Starts listening; call before AttachVolume so no appearance is missed. */
void notice_start(struct notice *n, struct hb_ctx *ctx);
/* While the attachment to this instance is pending. */
enum notice_result notice_attach_wait(struct notice *n, struct hb_ctx *ctx, struct poller *pl,
    const char *volume_id);
/* While EC2 says attached and the device is not yet proven: until a device
 * event or a local look is due.  false once the poller's deadline passed. */
bool notice_device_wait(struct notice *n, struct hb_ctx *ctx, struct poller *pl);
void notice_stop(struct notice *n);

#endif
