/* net.h: TCP to an IP literal within a deadline, for the probes that prove
 * a service answers (exports' check, service's ready, the NFS RPC calls).
 * Literals only: a probe must not wait on a resolver, and the manifest
 * refuses names there. */
#ifndef HABOOT_NET_H
#define HABOOT_NET_H

#include <stddef.h>

/* A connected, non-blocking TCP socket to host:port (IPv4 or IPv6 literal)
 * by deadline (mono ms), or -1 with why: "connect: Connection refused",
 * "no answer to a TCP connect within 1000ms", "x is not an IP address". */
int net_dial(const char *host, int port, long long deadline, char *why, size_t n);
/* Connects and closes: 0 when something accepts on host:port. */
int net_probe(const char *host, int port, long long timeout_ms, char *why, size_t n);

#endif
