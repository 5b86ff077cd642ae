/* poll.h: waiting on AWS state.  The first checks come a fraction of a second
 * apart, so a change is noticed at once; later ones back off, so a long wait
 * stays far below EC2's API rate limits.  A wait never outlives its timeout
 * or the run's deadline, and says what it waits for every few seconds. */
#ifndef HABOOT_POLL_H
#define HABOOT_POLL_H

#include <stdbool.h>

#define POLL_FIRST_MS 200
#define POLL_FACTOR 1.5
/* EBS attaches and Route53 changes usually take 5-60 s: checking once a second
 * for the first minute notices them within a second (60 calls a minute, far
 * below EC2's DescribeVolumes limits); past that minute something is slow,
 * and checks every 5 s suffice. */
#define POLL_BRISK_MS 1000
#define POLL_BRISK_SPAN_MS 60000
#define POLL_MAX_MS 5000
#define POLL_PROGRESS_MS 10000

struct hb_ctx;

struct poller {
	long long t0;        /* mono ms at start */
	long long brisk_until; /* mono ms until which delays stay <= POLL_BRISK_MS */
	long long deadline;  /* mono ms */
	long long delay;     /* next sleep */
	long long max_delay;
	long long next_progress;
	int polls;
};

/* timeout_ms bounded by the run's deadline when ctx is given. */
void poller_start(struct poller *p, long long timeout_ms, struct hb_ctx *ctx);
/* Sleeps until the next check; false once the deadline has passed. */
bool poller_wait(struct poller *p);
/* After an action (a call that starts a change): the next checks come fast
 * again, so its effect is noticed at once however long the wait has been. */
void poller_kick(struct poller *p);
/* True about every POLL_PROGRESS_MS: time to log what is awaited. */
bool poller_progress_due(struct poller *p);
long long poller_elapsed(const struct poller *p);
long long poller_left(const struct poller *p);

#endif
