/* backoff.c: jittered exponential backoff. */
#include "backoff.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

double
rand01(void)
{
	static int seeded;
	static unsigned short xsubi[3];

	if (!seeded) {
		uint64_t seed = 0;

		/* Instances cloned from one AMI boot alike: seed from the kernel. */
		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
			seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
		xsubi[0] = (unsigned short)seed;
		xsubi[1] = (unsigned short)(seed >> 16);
		xsubi[2] = (unsigned short)(seed >> 32);
		seeded = 1;
	}
	return erand48(xsubi);
}

static long long
ceiling(int attempt, long long base_ms, long long cap_ms)
{
	long long d = base_ms;

	for (int i = 0; i < attempt && d < cap_ms; i++)
		d *= 2;
	return d < cap_ms ? d : cap_ms;
}

long long
backoff_full_jitter(int attempt, long long base_ms, long long cap_ms)
{
	return (long long)(rand01() * (double)(ceiling(attempt, base_ms, cap_ms) + 1));
}

long long
backoff_equal_jitter(int attempt, long long base_ms, long long cap_ms)
{
	long long d = ceiling(attempt, base_ms, cap_ms);

	return d / 2 + (long long)(rand01() * (double)(d / 2 + 1));
}

void
sleep_ms(long long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
