/* address.c: a floating address that follows the service, so clients that
 * stay mounted (and never look the name up again) reach the new instance.
 *
 * EC2 decides where a VPC address goes; an instance cannot just take one with
 * `ip addr add`.  Four ways, by what the address must survive:
 *
 *   secondary-ip  AssignPrivateIpAddresses (AllowReassignment) to this
 *                 instance's primary ENI, then `ip addr add`: one subnet, so
 *                 one availability zone
 *   eni           AttachNetworkInterface of a floating ENI (device index >= 1),
 *                 then the interface is brought up with a routing table of its
 *                 own: one availability zone
 *   overlay-ip    an address outside the VPC's CIDR, routed to this instance's
 *                 ENI (ReplaceRoute, CreateRoute when absent) in the listed
 *                 route tables, source/destination check off, `ip addr add
 *                 IP/32`: any zone of the VPC (pacemaker's aws-vpc-move-ip way)
 *   elastic-ip    AssociateAddress (AllowReassociation) of a public address to
 *                 this instance's primary private address
 *
 * Every move is proved before success is reported: EC2 is read afresh (the
 * ENI's addresses, every route's target, the association) and the address is
 * looked for on the local interface.  The address moves only once the export
 * answers (DESIGN.md invariant 8): the manifest must list this module after
 * volume, filesystem, exports and service, and the runner does not apply it
 * when one of them did not succeed in this run.  A repair never takes the address back from another
 * instance EC2 reports running: that one took the service over (invariant 9). */
#include "address.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iam.h"
#include "log.h"
#include "status.h"
#include "util.h"

static const char *const addr_keys[] = {
	"mode", "ip", "subnet", "route_tables", "vpc_cidr", "eni", "tags", "device_index",
	"allocation", "interface", "timeout", NULL,
};
/* Keys that belong to one mode only, and that mode. */
static const struct {
	const char *key;
	int mode;
	int mode2;  /* a second mode that takes it too, or -1 */
} mode_keys[] = {
	{"ip", AM_SECONDARY, AM_OVERLAY},
	{"subnet", AM_SECONDARY, -1},
	{"route_tables", AM_OVERLAY, -1},
	{"vpc_cidr", AM_OVERLAY, -1},
	{"eni", AM_ENI, -1},
	{"tags", AM_ENI, -1},
	{"device_index", AM_ENI, -1},
	{"allocation", AM_EIP, -1},
};

/* ---- manifest -------------------------------------------------------------- */

static const char *
check_id(const char *s, const char *prefix)
{
	size_t n = strlen(prefix), len = strlen(s);

	if (strncmp(s, prefix, n) != 0 || (len - n != 8 && len - n != 17))
		return NULL;
	for (const char *p = s + n; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return NULL;
	return s;
}

static const char *
check_eni_id(const char *s)
{
	return check_id(s, "eni-") ? NULL :
	    "is not a network interface id (eni- and 8 or 17 lowercase hex digits)";
}

static const char *
check_rtb_id(const char *s)
{
	return check_id(s, "rtb-") ? NULL :
	    "is not a route table id (rtb- and 8 or 17 lowercase hex digits)";
}

static const char *
check_alloc_id(const char *s)
{
	return check_id(s, "eipalloc-") ? NULL :
	    "is not an Elastic IP allocation id (eipalloc- and 8 or 17 lowercase hex digits)";
}

/* An IPv4 address a machine can own: not a network's special addresses. */
static const char *
check_host_ip(const char *s)
{
	struct in_addr a;
	uint32_t h;

	if (inet_pton(AF_INET, s, &a) != 1)
		return "is not an IPv4 address (four numbers 0..255, like 10.0.0.50)";
	h = ntohl(a.s_addr);
	if ((h >> 24) == 0 || (h >> 24) == 127)
		return "is a loopback or \"this network\" address, not one clients can reach";
	if ((h >> 16) == 0xa9fe)
		return "is link-local (169.254.0.0/16): EC2 keeps it for the metadata service";
	if ((h >> 28) >= 0xe)
		return "is a multicast or reserved address";
	return NULL;
}

/* An IPv4 CIDR block in its network form, of a size EC2 allows (/16../28). */
static const char *
check_vpc_cidr(const char *s)
{
	const char *slash = strchr(s, '/');
	char net[64];
	struct in_addr a;
	int prefix;
	uint32_t mask;

	if (check_cidr_or_host(s) != NULL || slash == NULL || (size_t)(slash - s) >= sizeof(net))
		return "is not a CIDR block like 10.0.0.0/24";
	snprintf(net, sizeof(net), "%.*s", (int)(slash - s), s);
	if (inet_pton(AF_INET, net, &a) != 1)
		return "is not an IPv4 CIDR block";
	prefix = cidr_prefix(s);
	if (prefix < 16 || prefix > 28)
		return "must be /16 to /28: the sizes EC2 allows for VPCs and subnets";
	mask = htonl(~0u << (32 - prefix));
	if ((a.s_addr & ~mask) != 0)
		return "has host bits set: write the network's own address (like 10.0.1.0/24)";
	return NULL;
}

static const char *
check_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return "must be an interface name of 1 to 15 characters, like eth0 or ens5";
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return "is not an interface name";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == ':' || *p == 0x7f)
			return "may not hold spaces, '/' or ':'";
	return NULL;
}

static const struct ynode *
key_node(const struct ynode *map, const char *key)
{
	for (size_t i = 0; i < map->npairs; i++)
		if (map->pairs[i].key->kind == Y_SCALAR && !strcmp(map->pairs[i].key->str, key))
			return map->pairs[i].key;
	return NULL;
}

static void
addr_free(void *p)
{
	struct addr_cfg *a = p;

	if (a == NULL)
		return;
	free(a->ip);
	free(a->subnet);
	cfg_free_list(a->route_tables, a->nroute_tables);
	cfg_free_list(a->vpc_cidrs, a->nvpc_cidrs);
	free(a->eni);
	cfg_free_list(a->tag_keys, a->ntags);
	cfg_free_list(a->tag_vals, a->ntags);
	free(a->allocation);
	free(a->interface);
	free(a->api_msg);
	free(a);
}

/* Checks across keys, once each key is known good. */
static void
parse_cross(struct cfg *c, const struct ynode *n, struct addr_cfg *a)
{
	if (a->mode == AM_SECONDARY && a->ip && a->subnet) {
		if (!cidr_contains(a->subnet, a->ip))
			diag_err(c->d, ymap_get(n, "ip"), "ip %s is not inside subnet %s: a secondary "
			    "address belongs to the instance's own subnet", a->ip, a->subnet);
		else {
			/* EC2 keeps the network address, the next three and the last one. */
			struct in_addr net, ip;
			char base[64];
			int prefix = cidr_prefix(a->subnet);
			uint32_t off;

			snprintf(base, sizeof(base), "%.*s", (int)(strchr(a->subnet, '/') - a->subnet),
			    a->subnet);
			inet_pton(AF_INET, base, &net);
			inet_pton(AF_INET, a->ip, &ip);
			off = ntohl(ip.s_addr) - ntohl(net.s_addr);
			if (off < 4 || off == (1u << (32 - prefix)) - 1)
				diag_err(c->d, ymap_get(n, "ip"), "ip %s is reserved by AWS in subnet %s "
				    "(the first four addresses and the last): pick another", a->ip,
				    a->subnet);
		}
	}
	if (a->mode == AM_OVERLAY && a->ip)
		for (size_t i = 0; i < a->nvpc_cidrs; i++)
			if (cidr_contains(a->vpc_cidrs[i], a->ip))
				diag_err(c->d, ymap_get(n, "ip"), "ip %s lies inside the VPC's %s: an "
				    "overlay address must be outside every CIDR block of the VPC (else "
				    "EC2 delivers it by subnet, not by the route); pick one outside, or "
				    "use secondary-ip", a->ip, a->vpc_cidrs[i]);
	for (size_t i = 0; i < a->nroute_tables; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(a->route_tables[i], a->route_tables[j]))
				diag_err(c->d, ymap_get(n, "route_tables"), "route table %s is listed "
				    "twice", a->route_tables[i]);
}

static void *
addr_parse(struct cfg *c, const struct ynode *n)
{
	struct addr_cfg *a = xcalloc(1, sizeof(*a));
	int errors = c->d->errors, has_eni, has_tags;
	bool mode_ok;

	a->mode = -1;
	a->device_index = 1;
	a->timeout_ms = 60 * 1000;
	cfg_map(c, n, "address module", addr_keys);
	mode_ok = cfg_enum(c, n, "mode", true, addr_mode_names, &a->mode) == CFG_OK;
	for (size_t i = 0; mode_ok && i < HB_ARRAY_LEN(mode_keys); i++) {
		const struct ynode *k = key_node(n, mode_keys[i].key);

		if (k != NULL && a->mode != mode_keys[i].mode && a->mode != mode_keys[i].mode2)
			diag_err(c->d, k, "%s is a key of mode %s%s%s, not of %s", mode_keys[i].key,
			    addr_mode_names[mode_keys[i].mode], mode_keys[i].mode2 >= 0 ? " and " : "",
			    mode_keys[i].mode2 >= 0 ? addr_mode_names[mode_keys[i].mode2] : "",
			    addr_mode_names[a->mode]);
	}
	cfg_str(c, n, "ip", mode_ok && (a->mode == AM_SECONDARY || a->mode == AM_OVERLAY),
	    check_host_ip, &a->ip);
	cfg_str(c, n, "subnet", false, check_vpc_cidr, &a->subnet);
	cfg_strlist(c, n, "route_tables", mode_ok && a->mode == AM_OVERLAY, 1, check_rtb_id,
	    &a->route_tables, &a->nroute_tables);
	cfg_strlist(c, n, "vpc_cidr", false, 1, check_vpc_cidr, &a->vpc_cidrs, &a->nvpc_cidrs);
	has_eni = cfg_str(c, n, "eni", false, check_eni_id, &a->eni);
	has_tags = cfg_strmap(c, n, "tags", false, &a->tag_keys, &a->tag_vals, &a->ntags);
	if (mode_ok && a->mode == AM_ENI && has_eni == CFG_ABSENT && has_tags == CFG_ABSENT)
		cfg_missing(c, n, "address module", "eni",
		    "name the floating interface by \"eni: eni-...\" or by \"tags: {Name: ...}\"");
	else if (ymap_get(n, "eni") && ymap_get(n, "tags"))
		diag_err(c->d, key_node(n, "tags"), "address module: give the network interface by "
		    "eni or by tags, not both: remove one");
	cfg_int(c, n, "device_index", false, 1, 31, &a->device_index);
	cfg_str(c, n, "allocation", mode_ok && a->mode == AM_EIP, check_alloc_id, &a->allocation);
	cfg_str(c, n, "interface", false, check_ifname, &a->interface);
	cfg_duration(c, n, "timeout", false, 1000, 30 * 60 * 1000, &a->timeout_ms);
	parse_cross(c, n, a);
	if (c->d->errors > errors) {
		addr_free(a);
		return NULL;
	}
	return a;
}

/* ---- the pieces apply, check and repair share -------------------------------- */

/* The prefix the address is configured with on the interface. */
static int
local_prefix(const struct addr_cfg *a, const struct addr_self *s)
{
	if (a->mode == AM_OVERLAY)
		return 32;  /* off-VPC: a host address; the route table brings its traffic */
	if (a->subnet != NULL)
		return cidr_prefix(a->subnet);
	if (s->subnet_cidr != NULL && cidr_prefix(s->subnet_cidr) >= 0)
		return cidr_prefix(s->subnet_cidr);
	return 32;
}

/* The local interface for the primary ENI's modes: named, or found by MAC. */
static int
local_link(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s, char *name,
    size_t len)
{
	if (a->interface != NULL) {
		if (ctx->eff->mode == EFF_APPLY && !link_exists(a->interface))
			return ctx_fail(ctx, "interface %s (address interface) does not exist on this "
			    "machine", a->interface);
		snprintf(name, len, "%s", a->interface);
		return 0;
	}
	if (link_by_mac(s->mac, name, len) == 0)
		return 0;
	if (ctx->eff->mode != EFF_APPLY) {
		snprintf(name, len, "(the interface with MAC %s)", s->mac);
		return 0;
	}
	return ctx_fail(ctx, "no interface with MAC %s (this instance's primary network "
	    "interface %s) on this machine: name it with address interface", s->mac, s->eni);
}

/* The VPC's CIDR blocks from IMDS: an overlay address must lie outside. */
static int
check_outside_vpc(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s)
{
	char *blocks, *save = NULL;
	int rc = 0;

	if (s->vpc_cidrs == NULL) {
		log_warn(ctx->module, "the metadata service does not say the VPC's CIDR blocks: "
		    "cannot check that %s lies outside them", a->ip);
		return 0;
	}
	blocks = xstrdup(s->vpc_cidrs);
	for (char *b = strtok_r(blocks, "\n", &save); b; b = strtok_r(NULL, "\n", &save))
		if (cidr_contains(b, a->ip)) {
			rc = ctx_fail_anywhere(ctx, "overlay address %s lies inside the VPC's CIDR block "
			    "%s: EC2 delivers it by subnet, not by the route; pick an address outside "
			    "every block of the VPC, or use secondary-ip", a->ip, b);
			break;
		}
	free(blocks);
	return rc;
}

/* The address configured here, and proved so. */
static int
configure_local(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    const struct addr_where *w, char *link, size_t len, const char **local)
{
	int rc;

	switch (a->mode) {
	case AM_SECONDARY:
	case AM_OVERLAY:
		*local = a->ip;
		if (local_link(ctx, a, s, link, len) < 0)
			return -1;
		rc = link_add_addr(ctx, link, a->ip, local_prefix(a, s));
		break;
	case AM_ENI: {
		char *subnet = NULL;
		long long until = mono_ms() + a->timeout_ms;

		*local = w->eni_ip;
		if (a->interface != NULL && link_by_mac(w->eni_mac, link, len) == 0 &&
		    strcmp(link, a->interface) != 0)
			return ctx_fail(ctx, "%s (MAC %s) is %s here, not %s (address interface)",
			    w->eni_id, w->eni_mac, link, a->interface);
		if (link_wait(ctx, w->eni_mac, a->timeout_ms, link, len) < 0)
			return -1;
		/* IMDS lists an interface shortly after it is attached. */
		for (;;) {
			char *key = xasprintf("network/interfaces/macs/%s/subnet-ipv4-cidr-block",
			    w->eni_mac);
			const char *v = md_get(ctx->md, key);
			struct timespec ts = {0, 200 * 1000000L};

			free(key);
			if (v != NULL)
				subnet = xstrdup(v);
			if (v != NULL || mono_ms() >= until)
				break;
			nanosleep(&ts, NULL);
		}
		if (subnet == NULL)
			return ctx_fail(ctx, "the metadata service does not say the subnet of %s (MAC "
			    "%s): cannot configure it", w->eni_id, w->eni_mac);
		rc = link_setup_eni(ctx, link, w->eni_ip, subnet, a->device_index);
		free(subnet);
		break;
	}
	case AM_EIP:
		/* EC2 translates the public address to the primary private one: nothing to add. */
		*local = s->private_ip;
		if (s->private_ip == NULL)
			return ctx_fail(ctx, "metadata local-ipv4 is unknown");
		if (local_link(ctx, a, s, link, len) < 0)
			return -1;
		rc = 0;
		break;
	default:
		return -1;
	}
	if (rc < 0)
		return -1;
	if (!link_has_addr(link, *local))
		return ctx_fail(ctx, "%s is not on %s after configuring it", *local, link);
	return 0;
}

static const char *
client_ip(const struct addr_cfg *a, const struct addr_where *w)
{
	switch (a->mode) {
	case AM_ENI: return w->eni_ip;
	case AM_EIP: return w->public_ip;
	default: return a->ip;
	}
}

/* Brings the address here: EC2 first, then this machine.  from_running:
 * whether another running instance may lose it (apply: yes, the volume's
 * takeover decided; repair: no). */
static int
converge(struct hb_ctx *ctx, struct addr_cfg *a, bool from_running)
{
	struct addr_self s;
	struct addr_where w = {0};
	char link[64], *was = NULL;
	const char *local = NULL, *mode = addr_mode_names[a->mode];
	int rc = -1;

	if (ctx->aws == NULL)
		return ctx_fail(ctx, "no AWS client: the address module needs AWS credentials and a "
		    "region");
	if (cloud_self(ctx, &s) < 0)
		goto out;
	if (a->mode == AM_OVERLAY && check_outside_vpc(ctx, a, &s) < 0)
		goto out;
	if (a->mode == AM_SECONDARY && s.subnet_cidr != NULL && !cidr_contains(s.subnet_cidr, a->ip)) {
		ctx_fail(ctx, "%s is not in this instance's subnet %s: a secondary address stays in "
		    "its subnet (its zone); across zones use overlay-ip", a->ip, s.subnet_cidr);
		goto out;
	}
	if (cloud_where_patient(ctx, a, &s, &w) < 0)
		goto out;
	if (!w.ours) {
		was = xstrdup(w.desc ? w.desc : "?");
		if (!from_running && w.holder != NULL) {
			char *state = cloud_instance_state(ctx, w.holder);

			if (state == NULL || !strcmp(state, "running") || !strcmp(state, "pending")) {
				ctx_fail(ctx, "EC2 gives the address to %s now (%s), which %s: another "
				    "instance took the service over; not taking it back", w.holder, w.desc,
				    state ? "EC2 reports running" : "EC2 could not be asked about");
				free(state);
				goto out;
			}
			free(state);
		}
		log_info(ctx->module, "moving the address here (%s): now %s", mode, w.desc);
		if (cloud_move(ctx, a, &s, &w) < 0)
			goto out;
		ctx_set_fact(ctx, FACT_ADDRESS_PREVIOUS, "%s", was);
	}
	if (configure_local(ctx, a, &s, &w, link, sizeof(link), &local) < 0)
		goto out;
	ctx_set_fact(ctx, FACT_ADDRESS_IP, "%s", client_ip(a, &w) ? client_ip(a, &w) : "?");
	ctx_set_fact(ctx, FACT_ADDRESS_MODE, "%s", mode);
	ctx_set_fact(ctx, FACT_ADDRESS_INTERFACE, "%s", link);
	ctx_set_fact(ctx, FACT_ADDRESS_LOCAL, "%s", local);
	ctx_set_fact(ctx, FACT_ADDRESS_ENI, "%s", a->mode == AM_ENI ? w.eni_id : s.eni);
	ctx_result(ctx, "%s (%s) here: EC2 %s; %s on %s%s%s", client_ip(a, &w) ?
	    client_ip(a, &w) : "?", mode, w.desc ? w.desc : "gives it here", local, link,
	    was ? "; was " : " (already)", was ? was : "");
	a->api_ok = true;
	a->api_next = 0;
	ctx_api_due(ctx, &a->api_next);  /* EC2 just said so: the next look in an interval */
	rc = 0;
out:
	free(was);
	addr_where_free(&w);
	addr_self_free(&s);
	return rc;
}

/* ---- lifetime ------------------------------------------------------------------ */

static int
addr_apply(struct hb_ctx *ctx, void *p)
{
	return converge(ctx, p, true);
}

static int
addr_repair(struct hb_ctx *ctx, void *p)
{
	return converge(ctx, p, false);
}

/* Local every round; EC2 at most every api interval while it gives the
 * address here, every round while it does not (a failure needs confirming). */
static enum health
addr_check(struct hb_ctx *ctx, void *p)
{
	struct addr_cfg *a = p;
	const char *link = ctx_fact(ctx, FACT_ADDRESS_INTERFACE);
	const char *local = ctx_fact(ctx, FACT_ADDRESS_LOCAL);
	const char *ip = ctx_fact(ctx, FACT_ADDRESS_IP);
	struct addr_self s;
	struct addr_where w = {0};
	enum health h = HEALTH_UNKNOWN;
	int r;

	memset(&s, 0, sizeof(s));
	if (link == NULL || local == NULL) {
		ctx_fail(ctx, "the run's report does not say where the address was configured");
		return HEALTH_UNKNOWN;
	}
	if (!link_has_addr(link, local)) {
		ctx_fail(ctx, "%s is no longer on %s", local, link);
		a->api_ok = false;  /* and ask EC2 at the repair */
		return HEALTH_FAILED;
	}
	if (!a->api_ok)
		a->api_next = 0;
	if (!ctx_api_due(ctx, &a->api_next)) {
		ctx_result(ctx, "%s on %s; EC2 gave it here: %s", local, link,
		    a->api_msg ? a->api_msg : "");
		return HEALTH_OK;
	}
	if (ctx->aws == NULL || cloud_self(ctx, &s) < 0) {
		ctx_fail(ctx, "cannot ask EC2 where %s is: %s", ip ? ip : local,
		    ctx->message ? ctx->message : "no AWS client");
		a->api_next = 0;
		goto out;
	}
	if ((r = cloud_where(ctx, a, &s, &w)) != 0) {
		if (r > 0)
			ctx_fail(ctx, "EC2 does not answer; %s is on %s here", local, link);
		a->api_next = 0;
		/* The manifest names what EC2 lacks, or a permission is refused: a verdict. */
		h = r < 0 && ctx->scope == FAIL_ANYWHERE ? HEALTH_FAILED : HEALTH_UNKNOWN;
		goto out;
	}
	free(a->api_msg);
	a->api_msg = xstrdup(w.desc ? w.desc : "");
	if (!w.ours) {
		a->api_ok = false;
		ctx_fail(ctx, "EC2 no longer gives %s to this instance: %s", ip ? ip : local, w.desc);
		h = HEALTH_FAILED;
		goto out;
	}
	a->api_ok = true;
	ctx_result(ctx, "%s on %s; EC2: %s", local, link, w.desc);
	h = HEALTH_OK;
out:
	addr_where_free(&w);
	addr_self_free(&s);
	return h;
}

/* A planned stop: give the address up where that helps the next owner. */
static int
addr_release(struct hb_ctx *ctx, void *p)
{
	struct addr_cfg *a = p;
	const char *link = ctx_fact(ctx, FACT_ADDRESS_INTERFACE);
	const char *local = ctx_fact(ctx, FACT_ADDRESS_LOCAL);
	struct addr_self s;
	int rc = 0;

	memset(&s, 0, sizeof(s));
	switch (a->mode) {
	case AM_SECONDARY:
	case AM_OVERLAY:
		/* EC2 keeps routing it here until the next owner's AllowReassignment or
		 * ReplaceRoute takes it; removing it locally stops this machine answering.
		 * Neither IMDS nor EC2 is asked: a release must not wait on them here. */
		if (link == NULL || local == NULL || !link_has_addr(link, local)) {
			ctx_result(ctx, "%s is not on %s: nothing to give up here", local ? local :
			    a->ip, link ? link : "this instance's interface");
			break;
		}
		if ((rc = link_del_addr(ctx, link, local)) == 0)
			ctx_result(ctx, "%s removed from %s; in EC2 it goes to the next instance that "
			    "claims it (%s)", local, link, a->mode == AM_SECONDARY ?
			    "AllowReassignment" : "ReplaceRoute");
		break;
	case AM_ENI:
		if (ctx->aws == NULL || cloud_self(ctx, &s) < 0)
			rc = -1;
		else
			rc = cloud_release_eni(ctx, a, &s);
		break;
	case AM_EIP:
		/* Disassociating would only cut public clients off before the next
		 * owner's AssociateAddress (AllowReassociation) takes it over. */
		ctx_result(ctx, "Elastic IP %s left associated: the next instance takes it over",
		    a->allocation);
		break;
	}
	addr_self_free(&s);
	return rc;
}

/* ---- plan ------------------------------------------------------------------------ */

static void
plan_live(struct hb_ctx *ctx, const struct addr_cfg *a)
{
	struct addr_self s;
	struct addr_where w = {0};
	int r;

	if (cloud_self(ctx, &s) < 0) {
		eff_describe(ctx->eff, EK_READ, "address: cannot read this instance's interface now "
		    "(%s)", ctx->message ? ctx->message : "?");
		goto out;
	}
	if ((r = cloud_where(ctx, a, &s, &w)) != 0)
		eff_describe(ctx->eff, EK_READ, "address: cannot read EC2 now (%s)",
		    r > 0 ? "EC2 does not answer" : ctx->message ? ctx->message : "?");
	else
		eff_describe(ctx->eff, EK_READ, "now: %s: run would %s", w.desc,
		    w.ours ? "change nothing in EC2" : "move it to this instance");
out:
	free(ctx->message);
	ctx->message = NULL;
	ctx->scope = FAIL_HERE;
	addr_where_free(&w);
	addr_self_free(&s);
}

static int
addr_plan(struct hb_ctx *ctx, void *p)
{
	struct addr_cfg *a = p;
	struct effects *e = ctx->eff;
	const char *mac = md_get(ctx->md, "mac");
	char *eni_key = mac ? xasprintf("network/interfaces/macs/%s/interface-id", mac) : NULL;
	const char *eni = eni_key ? md_get(ctx->md, eni_key) : NULL;
	const char *self = md_get(ctx->md, "instance-id"), *me = eni ? eni : "ENI";
	char t[32], link[80], *sub_key = mac ?
	    xasprintf("network/interfaces/macs/%s/subnet-ipv4-cidr-block", mac) : NULL;
	const char *sub = sub_key ? md_get(ctx->md, sub_key) : NULL;
	struct addr_self s = {.subnet_cidr = (char *)sub};

	fmt_duration(a->timeout_ms, t, sizeof(t));
	eff_describe(e, EK_NOTE, "only once volume, filesystem and exports succeeded in this run "
	    "(the export answers): else stop, moving nothing");
	eff_describe(e, EK_READ, "metadata mac = %s; network/interfaces/macs/MAC/interface-id = "
	    "%s (this instance's ENI; else EC2 DescribeNetworkInterfaces of device 0)",
	    mac ? mac : "(unknown)", eni ? eni : "(unknown)");
	if (ctx->aws != NULL)
		plan_live(ctx, a);
	if (a->interface)
		snprintf(link, sizeof(link), "%s", a->interface);
	else
		snprintf(link, sizeof(link), "IFACE(mac %s)", mac ? mac : "?");
	switch (a->mode) {
	case AM_SECONDARY:
		eff_describe(e, EK_READ, "ec2 DescribeNetworkInterfaces addresses.private-ip-address="
		    "%s: which interface holds it", a->ip);
		eff_describe(e, EK_NOTE, "if %s holds %s already: no change in EC2", me, a->ip);
		{
			char *sum = xasprintf("AssignPrivateIpAddresses %s to %s (AllowReassignment: EC2 "
			    "takes it from the interface holding it)", a->ip, me);

			eff_aws(e, "ec2", sum, NULL, NULL);
			free(sum);
		}
		break;
	case AM_OVERLAY: {
		struct buf rts;

		buf_init(&rts);
		for (size_t i = 0; i < a->nroute_tables; i++)
			buf_printf(&rts, "%s%s", i ? ", " : "", a->route_tables[i]);
		eff_describe(e, EK_CHECK, "%s lies outside the VPC's CIDR blocks (metadata "
		    "network/interfaces/macs/MAC/vpc-ipv4-cidr-blocks)", a->ip);
		eff_describe(e, EK_READ, "ec2 DescribeNetworkInterfaces %s: its source/destination "
		    "check; DescribeRouteTables %s: the route for %s/32", me, rts.data, a->ip);
		eff_describe(e, EK_NOTE, "if every table routes %s/32 to %s and the check is off: no "
		    "change in EC2", a->ip, me);
		eff_aws(e, "ec2", "ModifyNetworkInterfaceAttribute SourceDestCheck=false (if on)",
		    NULL, NULL);
		for (size_t i = 0; i < a->nroute_tables; i++) {
			char *sum = xasprintf("ReplaceRoute %s/32 in %s to %s (CreateRoute when the "
			    "table has no such route)", a->ip, a->route_tables[i], me);

			eff_aws(e, "ec2", sum, NULL, NULL);
			free(sum);
		}
		buf_free(&rts);
		break;
	}
	case AM_ENI: {
		struct buf label;

		buf_init(&label);
		if (a->eni)
			buf_adds(&label, a->eni);
		for (size_t i = 0; i < a->ntags; i++)
			buf_printf(&label, "%stag:%s=%s", i ? "," : "", a->tag_keys[i], a->tag_vals[i]);
		eff_describe(e, EK_READ, "ec2 DescribeNetworkInterfaces %s: exactly one, in this "
		    "instance's zone", label.data);
		eff_describe(e, EK_NOTE, "if attached here already: no change in EC2");
		eff_aws(e, "ec2", "DetachNetworkInterface (Force) from the instance holding it, if any",
		    NULL, NULL);
		eff_describe(e, EK_WAIT, "until it is detached (up to %s)", t);
		{
			char *sum = xasprintf("AttachNetworkInterface %s to %s at device index %lld",
			    label.data, self ? self : "?", a->device_index);

			eff_aws(e, "ec2", sum, NULL, NULL);
			free(sum);
		}
		buf_free(&label);
		break;
	}
	case AM_EIP: {
		char *sum = xasprintf("AssociateAddress %s to %s on %s (AllowReassociation: EC2 takes "
		    "it from where it is)", a->allocation, md_get(ctx->md, "local-ipv4") ?
		    md_get(ctx->md, "local-ipv4") : "local-ipv4", me);

		eff_describe(e, EK_READ, "ec2 DescribeAddresses %s: where it is associated",
		    a->allocation);
		eff_describe(e, EK_NOTE, "if associated with %s's primary address already: no change "
		    "in EC2", me);
		eff_aws(e, "ec2", sum, NULL, NULL);
		free(sum);
		break;
	}
	}
	eff_describe(e, EK_WAIT, "until a fresh read of EC2 shows the address given here (up to "
	    "%s, fast at first)", t);
	switch (a->mode) {
	case AM_SECONDARY:
	case AM_OVERLAY:
		link_add_addr(ctx, link, a->ip, local_prefix(a, &s));
		eff_describe(e, EK_CHECK, "%s is on %s", a->ip, link);
		break;
	case AM_ENI:
		eff_describe(e, EK_WAIT, "until the interface with the ENI's MAC appears here (up to "
		    "%s; the kernel tells, rtnetlink)", t);
		eff_describe(e, EK_RUN, "ip link set dev IFACE up");
		eff_describe(e, EK_RUN, "ip addr add ENI_IP/PREFIX dev IFACE");
		eff_describe(e, EK_RUN, "ip route replace SUBNET dev IFACE src ENI_IP table %lld",
		    10000 + a->device_index);
		eff_describe(e, EK_RUN, "ip route replace default via GW dev IFACE table %lld",
		    10000 + a->device_index);
		eff_describe(e, EK_RUN, "ip rule add from ENI_IP lookup %lld priority %lld",
		    10000 + a->device_index, 10000 + a->device_index);
		eff_describe(e, EK_NOTE, "IFACE has the ENI's MAC; SUBNET/PREFIX is its subnet "
		    "(metadata network/interfaces/macs/MAC/subnet-ipv4-cidr-block), GW the subnet's "
		    "first address after the network's: answers from ENI_IP leave through the ENI");
		eff_describe(e, EK_CHECK, "ENI_IP is on the interface");
		break;
	case AM_EIP:
		eff_describe(e, EK_CHECK, "%s (the private address EC2 translates it to) is on %s",
		    md_get(ctx->md, "local-ipv4") ? md_get(ctx->md, "local-ipv4") : "local-ipv4",
		    link);
		break;
	}
	free(eni_key);
	free(sub_key);
	return 0;
}

/* ---- permissions ------------------------------------------------------------------ */

/* The floating ENI: its ARN, or any interface carrying the manifest's tags. */
static void
eni_scope(struct iam_stmt *s, const struct addr_cfg *a)
{
	if (a->eni != NULL) {
		iam_resource(s, "arn:aws:ec2:*:*:network-interface/%s", a->eni);
		return;
	}
	iam_resource(s, "arn:aws:ec2:*:*:network-interface/*");
	for (size_t i = 0; i < a->ntags; i++) {
		char *key = xasprintf("aws:ResourceTag/%s", a->tag_keys[i]);

		iam_cond(s, "StringEquals", key, "%s", a->tag_vals[i]);
		free(key);
	}
}

/* This instance's own network interface is not known before it runs. */
static void
own_eni(struct iam_policy *p, struct iam_stmt *s, const char *action)
{
	iam_resource(s, "arn:aws:ec2:*:*:network-interface/*");
	iam_note(p, "%s is allowed on any network interface: this instance's own is "
	    "not known in advance (tag the group's interfaces through the launch template and "
	    "add an aws:ResourceTag condition to narrow it)", action);
}

static void
addr_permissions(const void *cfg, struct iam_policy *p)
{
	const struct addr_cfg *a = cfg;
	const char *group = iam_scope(p)->group;
	struct iam_stmt *s;

	iam_unscoped(p, "ec2:DescribeNetworkInterfaces", "find this instance's network "
	    "interface, and where the address is");
	iam_unscoped(p, "ec2:DescribeInstances", "a repair: whether the instance holding the "
	    "address now is running");
	switch (a->mode) {
	case AM_SECONDARY:
		s = iam_stmt(p, "give %s to this instance's network interface (AllowReassignment "
		    "takes it from the one holding it)", a->ip);
		iam_action(s, "ec2:AssignPrivateIpAddresses");
		own_eni(p, s, "AssignPrivateIpAddresses");
		break;
	case AM_OVERLAY:
		iam_unscoped(p, "ec2:DescribeRouteTables", "read the route for the address in the "
		    "manifest's route tables");
		s = iam_stmt(p, "route %s/32 to this instance in the manifest's route tables", a->ip);
		iam_action(s, "ec2:CreateRoute");
		iam_action(s, "ec2:ReplaceRoute");
		for (size_t i = 0; i < a->nroute_tables; i++)
			iam_resource(s, "arn:aws:ec2:*:*:route-table/%s", a->route_tables[i]);
		s = iam_stmt(p, "turn off source/destination check on this instance's network "
		    "interface, so it takes traffic for %s", a->ip);
		iam_action(s, "ec2:ModifyNetworkInterfaceAttribute");
		own_eni(p, s, "ModifyNetworkInterfaceAttribute");
		break;
	case AM_ENI:
		s = iam_stmt(p, "attach the floating network interface here; detach it from its "
		    "holder, or from here on a planned stop");
		iam_action(s, "ec2:AttachNetworkInterface");
		iam_action(s, "ec2:DetachNetworkInterface");
		eni_scope(s, a);
		s = iam_stmt(p, "attach and detach it on this instance only (the caller's own ARN)");
		iam_action(s, "ec2:AttachNetworkInterface");
		iam_action(s, "ec2:DetachNetworkInterface");
		iam_resource(s, "arn:aws:ec2:*:*:instance/*");
		iam_cond(s, "StringEquals", "aws:ARN", "${ec2:SourceInstanceARN}");
		s = iam_stmt(p, "take it from the instance holding it: an instance of the service's "
		    "Auto Scaling group");
		iam_action(s, "ec2:DetachNetworkInterface");
		iam_resource(s, "arn:aws:ec2:*:*:instance/*");
		if (group != NULL)
			iam_cond(s, "StringEquals", "aws:ResourceTag/aws:autoscaling:groupName", "%s",
			    group);
		else {
			iam_cond(s, "Null", "aws:ResourceTag/aws:autoscaling:groupName", "false");
			iam_note(p, "the interface may be taken from an instance of any Auto "
			    "Scaling group of the account: pass --group NAME to allow only the "
			    "service's");
		}
		break;
	case AM_EIP:
		iam_unscoped(p, "ec2:DescribeAddresses", "read where the Elastic IP is associated");
		s = iam_stmt(p, "associate %s with this instance's network interface "
		    "(AllowReassociation takes it from where it is)", a->allocation);
		iam_action(s, "ec2:AssociateAddress");
		iam_resource(s, "arn:aws:ec2:*:*:elastic-ip/%s", a->allocation);
		own_eni(p, s, "AssociateAddress");
		break;
	}
}

const struct module module_address = {
	.name = "address",
	.summary = "move a floating address to this instance (secondary IP, ENI, overlay route, "
	    "Elastic IP)",
	.required_default = true,
	.needs_aws = true,
	.after = module_serving_path,  /* invariant 8: the address follows the service */
	.parse = addr_parse,
	.plan = addr_plan,
	.apply = addr_apply,
	.check = addr_check,
	.repair = addr_repair,
	.release = addr_release,
	.permissions = addr_permissions,
	.free = addr_free,
};
