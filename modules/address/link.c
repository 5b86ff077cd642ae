/* link.c: the floating address on this machine.  Reads go through
 * getifaddrs(3), which asks the kernel over netlink about this network
 * namespace (/sys/class/net may show another one's); every change is an `ip`
 * command through eff_run, so plan shows it. */
#include "address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "devwatch.h"
#include "exec.h"
#include "log.h"
#include "util.h"

/* getifaddrs names an address by its label ("eth0:vip"); the interface is
 * what comes before the colon. */
static bool
same_link(const char *ifa_name, const char *name)
{
	size_t n = strlen(name);

	return strncmp(ifa_name, name, n) == 0 && (ifa_name[n] == '\0' || ifa_name[n] == ':');
}

int
link_by_mac(const char *mac, char *name, size_t len)
{
	struct ifaddrs *all, *i;
	int rc = -1;

	if (getifaddrs(&all) < 0)
		return -1;
	for (i = all; i != NULL; i = i->ifa_next) {
		const struct sockaddr_ll *ll = (const struct sockaddr_ll *)i->ifa_addr;
		char have[3 * 8];

		if (ll == NULL || ll->sll_family != AF_PACKET || ll->sll_halen != 6)
			continue;
		snprintf(have, sizeof(have), "%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0],
		    ll->sll_addr[1], ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4],
		    ll->sll_addr[5]);
		if (strcasecmp(have, mac) == 0) {
			snprintf(name, len, "%s", i->ifa_name);
			rc = 0;
			break;
		}
	}
	freeifaddrs(all);
	return rc;
}

bool
link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

bool
link_is_up(const char *name)
{
	struct ifaddrs *all, *i;
	bool up = false;

	if (getifaddrs(&all) < 0)
		return false;
	for (i = all; i != NULL; i = i->ifa_next)
		if (strcmp(i->ifa_name, name) == 0 && (i->ifa_flags & IFF_UP))
			up = true;
	freeifaddrs(all);
	return up;
}

/* The prefix length ip is configured with on interface name, or -1 when it
 * is not there. */
static int
addr_prefix(const char *name, const char *ip)
{
	struct ifaddrs *all, *i;
	struct in_addr want;
	int prefix = -1;

	if (inet_pton(AF_INET, ip, &want) != 1 || getifaddrs(&all) < 0)
		return -1;
	for (i = all; i != NULL; i = i->ifa_next) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
		const struct sockaddr_in *mask = (const struct sockaddr_in *)i->ifa_netmask;

		if (sin != NULL && sin->sin_family == AF_INET && same_link(i->ifa_name, name) &&
		    sin->sin_addr.s_addr == want.s_addr) {
			prefix = mask != NULL ? __builtin_popcount(mask->sin_addr.s_addr) : 32;
			break;
		}
	}
	freeifaddrs(all);
	return prefix;
}

bool
link_has_addr(const char *name, const char *ip)
{
	return addr_prefix(name, ip) >= 0;
}

static void
nap(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A new interface is heard of from the kernel (devwatch: rtnetlink in this
 * network namespace); events only shorten the wait, so it still looks by
 * itself every LINK_LOOK_MS, and every 100 ms when events are off. */
#define LINK_LOOK_MS 2000

int
link_wait(struct hb_ctx *ctx, const char *mac, long long timeout_ms, char *name, size_t len)
{
	long long start = mono_ms(), limit = timeout_ms, next_log = start + 5000;
	const char *why = NULL;
	struct devwatch *w = devwatch_start(DEVWATCH_NETIF, NULL, &why);
	char t[32];
	int rc = -1;

	if (w == NULL)
		log_debug(ctx->module, "no interface events (%s): looking every 100ms", why);
	if (ctx_time_left(ctx) < limit)
		limit = ctx_time_left(ctx);
	for (;;) {
		long long left;

		if (link_by_mac(mac, name, len) == 0) {
			fmt_duration(mono_ms() - start, t, sizeof(t));
			log_info(ctx->module, "interface %s (%s) appeared after %s", name, mac, t);
			rc = 0;
			goto out;
		}
		if ((left = limit - (mono_ms() - start)) <= 0)
			break;
		if (mono_ms() >= next_log) {
			fmt_duration(mono_ms() - start, t, sizeof(t));
			log_info(ctx->module, "still waiting for the interface with MAC %s (%s)", mac, t);
			next_log += 5000;
		}
		if (w != NULL && devwatch_wait(w, left < LINK_LOOK_MS ? left : LINK_LOOK_MS, NULL,
		    0) < 0) {
			log_debug(ctx->module, "interface events broke off: looking every 100ms");
			devwatch_stop(w);
			w = NULL;
		}
		if (w == NULL)
			nap(left < 100 ? left : 100);
	}
	fmt_duration(mono_ms() - start, t, sizeof(t));
	ctx_fail(ctx, "EC2 attached the network interface, but no interface with MAC %s "
	    "appeared on this machine within %s: is the instance type's ENI limit reached, or "
	    "the driver missing?", mac, t);
out:
	devwatch_stop(w);
	return rc;
}

/* Runs an `ip` command through the effects layer; fails with its output. */
static int
run_ip(struct hb_ctx *ctx, const char *const argv[])
{
	struct exec_result r;
	char *shown;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	buf_init(&r.out);
	if (eff_run(ctx->eff, argv, &r) < 0) {
		shown = argv_to_display(argv);
		rc = ctx_fail(ctx, "%s failed: %s", shown,
		    r.out.len ? r.out.data : r.timed_out ? "timed out" : "could not run ip (iproute2)");
		free(shown);
	}
	exec_result_free(&r);
	return rc;
}

int
link_add_addr(struct hb_ctx *ctx, const char *name, const char *ip, int prefix)
{
	char a[64];

	if (ctx->eff->mode == EFF_APPLY && link_has_addr(name, ip))
		return 0;
	snprintf(a, sizeof(a), "%s/%d", ip, prefix);
	const char *argv[] = {"ip", "addr", "add", a, "dev", name, NULL};
	return run_ip(ctx, argv);
}

int
link_del_addr(struct hb_ctx *ctx, const char *name, const char *ip)
{
	char a[64];
	int prefix;

	/* The kernel removes an address only by its prefix too: the one it has
	 * here, not one worked out again from metadata that may not answer now. */
	if ((prefix = addr_prefix(name, ip)) < 0)
		return 0;
	snprintf(a, sizeof(a), "%s/%d", ip, prefix);
	const char *argv[] = {"ip", "addr", "del", a, "dev", name, NULL};
	return run_ip(ctx, argv);
}

/* Is the rule "from IP lookup TABLE" there already?  A read, not a change. */
static bool
rule_exists(const char *ip, const char *table)
{
	const char *const argv[] = {"ip", "-4", "rule", "show", NULL};
	struct exec_result r;
	char want[160];
	bool found;

	snprintf(want, sizeof(want), "from %s lookup %s", ip, table);
	if (exec_argv(argv, 10000, &r) < 0)
		return false;
	found = r.exited && r.status == 0 && r.out.data != NULL && strstr(r.out.data, want) != NULL;
	exec_result_free(&r);
	return found;
}

int
link_setup_eni(struct hb_ctx *ctx, const char *name, const char *ip, const char *subnet,
    long long device_index)
{
	char table[32], prio[32], net[64], gw[INET_ADDRSTRLEN], from[64];
	struct in_addr base;
	int prefix = cidr_prefix(subnet);
	const char *slash = strchr(subnet, '/');

	if (prefix < 0 || slash == NULL || (size_t)(slash - subnet) >= sizeof(net))
		return ctx_fail(ctx, "subnet %s of the network interface is not a CIDR block", subnet);
	/* EC2's router is the subnet's first address after the network's own. */
	memcpy(net, subnet, (size_t)(slash - subnet));
	net[slash - subnet] = '\0';
	if (inet_pton(AF_INET, net, &base) != 1)
		return ctx_fail(ctx, "subnet %s of the network interface is not IPv4", subnet);
	base.s_addr = htonl(ntohl(base.s_addr) + 1);
	inet_ntop(AF_INET, &base, gw, sizeof(gw));
	snprintf(table, sizeof(table), "%lld", 10000 + device_index);
	snprintf(prio, sizeof(prio), "%lld", 10000 + device_index);
	snprintf(from, sizeof(from), "%s", ip);
	if (ctx->eff->mode != EFF_APPLY || !link_is_up(name)) {
		const char *const up[] = {"ip", "link", "set", "dev", name, "up", NULL};

		if (run_ip(ctx, up) < 0)
			return -1;
	}
	if (link_add_addr(ctx, name, ip, prefix) < 0)
		return -1;
	const char *const local[] = {"ip", "route", "replace", subnet, "dev", name, "src", ip,
	    "table", table, NULL};
	const char *const dflt[] = {"ip", "route", "replace", "default", "via", gw, "dev", name,
	    "table", table, NULL};
	if (run_ip(ctx, local) < 0 || run_ip(ctx, dflt) < 0)
		return -1;
	if (ctx->eff->mode == EFF_APPLY && rule_exists(from, table))
		return 0;
	const char *const rule[] = {"ip", "rule", "add", "from", from, "lookup", table, "priority",
	    prio, NULL};
	return run_ip(ctx, rule);
}

int
cidr_prefix(const char *cidr)
{
	const char *slash = cidr ? strchr(cidr, '/') : NULL;
	char *end;
	long n;

	if (slash == NULL || slash[1] == '\0')
		return -1;
	n = strtol(slash + 1, &end, 10);
	return *end == '\0' && n >= 0 && n <= 32 ? (int)n : -1;
}

bool
cidr_contains(const char *cidr, const char *ip)
{
	char net[64];
	const char *slash = strchr(cidr, '/');
	struct in_addr n, a;
	int prefix = cidr_prefix(cidr);
	uint32_t mask;

	if (slash == NULL || prefix < 0 || (size_t)(slash - cidr) >= sizeof(net))
		return false;
	memcpy(net, cidr, (size_t)(slash - cidr));
	net[slash - cidr] = '\0';
	if (inet_pton(AF_INET, net, &n) != 1 || inet_pton(AF_INET, ip, &a) != 1)
		return false;
	mask = prefix == 0 ? 0 : htonl(~0u << (32 - prefix));
	return (n.s_addr & mask) == (a.s_addr & mask);
}
