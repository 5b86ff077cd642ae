/* sdnotify.h: the systemd notification protocol, spoken directly (a datagram
 * to $NOTIFY_SOCKET), so the static binary needs no libsystemd.  Without
 * NOTIFY_SOCKET (not started by systemd) every call does nothing. */
#ifndef HABOOT_SDNOTIFY_H
#define HABOOT_SDNOTIFY_H

/* Sends state ("READY=1", "WATCHDOG=1", "STATUS=...", "STOPPING=1", lines
 * joined by '\n').  0 sent or nothing to send to, -1 on error (errno). */
int sd_notify_send(const char *state);
/* The watchdog period systemd expects pings within ($WATCHDOG_USEC, when
 * $WATCHDOG_PID is absent or ours), in ms; 0 when there is no watchdog. */
long long sd_watchdog_ms(void);

#endif
