/* poll.c: fast-then-backing-off waits bounded by a deadline. */
#include "poll.h"

#include "backoff.h"
#include "context.h"
#include "util.h"

void
poller_start(struct poller *p, long long timeout_ms, struct hb_ctx *ctx)
{
	long long now = mono_ms();

	p->t0 = now;
	p->brisk_until = now + POLL_BRISK_SPAN_MS;
	p->deadline = now + timeout_ms;
	if (ctx != NULL && ctx->deadline != 0 && ctx->deadline < p->deadline)
		p->deadline = ctx->deadline;
	p->delay = POLL_FIRST_MS;
	p->max_delay = POLL_MAX_MS;
	p->next_progress = now + POLL_PROGRESS_MS;
	p->polls = 0;
}

bool
poller_wait(struct poller *p)
{
	long long left = p->deadline - mono_ms();

	if (left <= 0)
		return false;
	sleep_ms(p->delay < left ? p->delay : left);
	p->polls++;
	p->delay = (long long)((double)p->delay * POLL_FACTOR);
	if (p->delay > p->max_delay)
		p->delay = p->max_delay;
	if (mono_ms() < p->brisk_until && p->delay > POLL_BRISK_MS)
		p->delay = POLL_BRISK_MS;
	/* One more check follows the last sleep, then the next call says no. */
	return true;
}

void
poller_kick(struct poller *p)
{
	p->delay = POLL_FIRST_MS;
	p->brisk_until = mono_ms() + POLL_BRISK_SPAN_MS;
}

bool
poller_progress_due(struct poller *p)
{
	long long now = mono_ms();

	if (now < p->next_progress)
		return false;
	p->next_progress = now + POLL_PROGRESS_MS;
	return true;
}

long long
poller_elapsed(const struct poller *p)
{
	return mono_ms() - p->t0;
}

long long
poller_left(const struct poller *p)
{
	long long left = p->deadline - mono_ms();

	return left > 0 ? left : 0;
}
