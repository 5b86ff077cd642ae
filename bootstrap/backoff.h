/* backoff.h: retry delays with jitter, so a fleet booting at once does not
 * retry in lockstep, and a sleep that survives signals. */
#ifndef HABOOT_BACKOFF_H
#define HABOOT_BACKOFF_H

/* A uniform random number in [0, 1). */
double rand01(void);
/* "Full jitter": uniform in [0, min(cap, base * 2^attempt)] (attempt from 0). */
long long backoff_full_jitter(int attempt, long long base_ms, long long cap_ms);
/* "Equal jitter": uniform in [d/2, d], d = min(cap, base * 2^attempt); never
 * near zero, for waits on a service that is not up yet. */
long long backoff_equal_jitter(int attempt, long long base_ms, long long cap_ms);
void sleep_ms(long long ms);

#endif
