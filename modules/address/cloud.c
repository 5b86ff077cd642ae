/* cloud.c: what EC2 says about the floating address, and the calls that move
 * it here.  One reading per mode (cloud_where) serves apply, the proof after
 * a move, check and repair alike. */
#include "address.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "aws/xml.h"
#include "awscall.h"
#include "log.h"
#include "poll.h"
#include "util.h"

const char *const addr_mode_names[] = {"secondary-ip", "eni", "overlay-ip", "elastic-ip", NULL};

static char *
dup_text(const struct xml_node *n, const char *path)
{
	const char *t = xml_text(n, path);

	return t && *t ? xstrdup(t) : NULL;
}

static void
param_n(struct aws_params *p, const char *keyfmt, size_t n, const char *val)
{
	char key[96];

	snprintf(key, sizeof(key), keyfmt, n);
	aws_param(p, key, "%s", val);
}

/* EC2 did not answer, or throttled, past the client's own retries. */
static bool
transient(const struct aws_error *err)
{
	return aws_error_retryable(err);
}

/* Fails with "what: EC2's error"; a permission refused is the account's
 * problem, which every new instance would meet too. */
static int fail_ec2(struct hb_ctx *ctx, const struct aws_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail_ec2(struct hb_ctx *ctx, const struct aws_error *err, const char *fmt, ...)
{
	char *why = aws_error_str(err);
	struct buf what;
	va_list ap;

	buf_init(&what);
	va_start(ap, fmt);
	buf_vprintf(&what, fmt, ap);
	va_end(ap);
	if (aws_error_is(err, "UnauthorizedOperation"))
		ctx_fail_anywhere(ctx, "%s: %s (the instance role lacks this permission)", what.data,
		    why);
	else
		ctx_fail(ctx, "%s: %s", what.data, why);
	free(why);
	buf_free(&what);
	return -1;
}

/* One read-only EC2 call: 0 with x, 1 transient (logged), -1 with err kept. */
static int
ec2_read(struct hb_ctx *ctx, const char *action, const struct aws_params *p,
    struct xml_node **x, struct aws_error *err)
{
	if (aws_query(ctx->aws, AWS_EC2, action, p, x, err) == 0)
		return 0;
	if (transient(err)) {
		char *e = aws_error_str(err);

		log_warn(ctx->module, "%s: %s; looking again later", action, e);
		free(e);
		return 1;
	}
	return -1;
}

/* ---- this instance ------------------------------------------------------- */

static char *
md_dup(struct hb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *
md_dup(struct hb_ctx *ctx, const char *fmt, ...)
{
	struct buf key;
	const char *v;
	va_list ap;

	buf_init(&key);
	va_start(ap, fmt);
	buf_vprintf(&key, fmt, ap);
	va_end(ap);
	v = md_get(ctx->md, key.data);
	buf_free(&key);
	return v && *v ? xstrdup(v) : NULL;
}

void
addr_self_free(struct addr_self *s)
{
	free(s->mac);
	free(s->eni);
	free(s->subnet_cidr);
	free(s->vpc_cidrs);
	memset(s, 0, sizeof(*s));
}

int
cloud_self(struct hb_ctx *ctx, struct addr_self *s)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const struct xml_node *it;
	int rc = -1, r;

	memset(s, 0, sizeof(*s));
	aws_params_init(&p);
	aws_error_init(&err);
	if ((s->instance = md_get(ctx->md, "instance-id")) == NULL) {
		ctx_fail(ctx, "metadata instance-id is unknown: the address needs to know which "
		    "instance it moves to");
		goto out;
	}
	s->private_ip = md_get(ctx->md, "local-ipv4");
	if ((s->mac = md_dup(ctx, "mac")) != NULL) {
		s->eni = md_dup(ctx, "network/interfaces/macs/%s/interface-id", s->mac);
		s->subnet_cidr = md_dup(ctx, "network/interfaces/macs/%s/subnet-ipv4-cidr-block",
		    s->mac);
		s->vpc_cidrs = md_dup(ctx, "network/interfaces/macs/%s/vpc-ipv4-cidr-blocks", s->mac);
	}
	if (s->eni != NULL && s->private_ip != NULL) {
		rc = 0;
		goto out;
	}
	/* No metadata for the interface: EC2 knows the instance's device 0. */
	aws_param(&p, "Filter.1.Name", "attachment.instance-id");
	aws_param(&p, "Filter.1.Value.1", "%s", s->instance);
	aws_param(&p, "Filter.2.Name", "attachment.device-index");
	aws_param(&p, "Filter.2.Value.1", "0");
	if ((r = ec2_read(ctx, "DescribeNetworkInterfaces", &p, &x, &err)) != 0) {
		if (r > 0)
			ctx_fail(ctx, "cannot find this instance's network interface: EC2 does not "
			    "answer (DescribeNetworkInterfaces)");
		else
			fail_ec2(ctx, &err, "cannot find this instance's network interface "
			    "(DescribeNetworkInterfaces)");
		goto out;
	}
	if ((it = xml_find(x, "networkInterfaceSet/item")) == NULL) {
		ctx_fail(ctx, "EC2 lists no network interface at device index 0 of %s", s->instance);
		goto out;
	}
	free(s->eni);
	s->eni = dup_text(it, "networkInterfaceId");
	if (s->mac == NULL)
		s->mac = dup_text(it, "macAddress");
	if (s->private_ip == NULL)
		s->private_ip = md_get(ctx->md, "local-ipv4");
	if (s->eni == NULL || s->mac == NULL) {
		ctx_fail(ctx, "EC2's answer about %s's network interface lacks its id or MAC",
		    s->instance);
		goto out;
	}
	rc = 0;
out:
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return rc;
}

/* ---- where EC2 has it ------------------------------------------------------- */

void
addr_where_free(struct addr_where *w)
{
	free(w->desc);
	free(w->holder);
	free(w->eni_id);
	free(w->eni_mac);
	free(w->eni_ip);
	free(w->eni_az);
	free(w->att_id);
	free(w->att_state);
	free(w->att_instance);
	cfg_free_list(w->stale, w->nstale);
	free(w->stale_exists);
	free(w->public_ip);
	memset(w, 0, sizeof(*w));
}

static void
set_holder(struct addr_where *w, const char *instance, const struct addr_self *s)
{
	if (instance != NULL && *instance && strcmp(instance, s->instance) != 0 && w->holder == NULL)
		w->holder = xstrdup(instance);
}

static int
where_secondary(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const struct xml_node *set, *it;
	int rc;

	aws_params_init(&p);
	aws_error_init(&err);
	aws_param(&p, "Filter.1.Name", "addresses.private-ip-address");
	aws_param(&p, "Filter.1.Value.1", "%s", a->ip);
	if ((rc = ec2_read(ctx, "DescribeNetworkInterfaces", &p, &x, &err)) != 0) {
		if (rc < 0)
			fail_ec2(ctx, &err, "cannot read who holds %s (DescribeNetworkInterfaces)", a->ip);
		goto out;
	}
	set = xml_find(x, "networkInterfaceSet");
	for (it = xml_next(set, "item", NULL); it; it = xml_next(set, "item", it)) {
		const char *id = xml_text(it, "networkInterfaceId");
		const char *prim = xml_text(it, "privateIpAddress");
		const char *inst = xml_text(it, "attachment/instanceId");

		if (prim != NULL && strcmp(prim, a->ip) == 0) {
			rc = ctx_fail_anywhere(ctx, "%s is the primary address of %s%s%s: a floating "
			    "address must be a free secondary one; pick an unused address of the subnet",
			    a->ip, id ? id : "a network interface", inst ? " of " : "", inst ? inst : "");
			goto out;
		}
		w->ours = id != NULL && strcmp(id, s->eni) == 0;
		w->desc = xasprintf("on %s%s%s", id ? id : "?", inst ? " of " : " (detached)",
		    inst ? inst : "");
		set_holder(w, inst, s);
		break;
	}
	if (w->desc == NULL)
		w->desc = xstrdup("on no network interface");
out:
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return rc;
}

/* ENIs by id or by tags: exactly one must match. */
static int
where_eni(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const struct xml_node *set, *it, *one = NULL;
	const char *az = md_get(ctx->md, "placement/availability-zone");
	struct buf label, list;
	size_t n = 0;
	int rc;

	aws_params_init(&p);
	aws_error_init(&err);
	buf_init(&label);
	buf_init(&list);
	if (a->eni != NULL) {
		aws_param(&p, "NetworkInterfaceId.1", "%s", a->eni);
		buf_adds(&label, a->eni);
	}
	for (size_t i = 0; i < a->ntags; i++) {
		char *k = xasprintf("tag:%s", a->tag_keys[i]);

		param_n(&p, "Filter.%zu.Name", i + 1, k);
		param_n(&p, "Filter.%zu.Value.1", i + 1, a->tag_vals[i]);
		buf_printf(&label, "%stag:%s=%s", i ? "," : "", a->tag_keys[i], a->tag_vals[i]);
		free(k);
	}
	if ((rc = ec2_read(ctx, "DescribeNetworkInterfaces", &p, &x, &err)) != 0) {
		if (rc < 0 && aws_error_is(&err, "InvalidNetworkInterfaceID.NotFound"))
			ctx_fail_anywhere(ctx, "network interface %s does not exist in this region "
			    "(InvalidNetworkInterfaceID.NotFound): check address eni", a->eni);
		else if (rc < 0)
			fail_ec2(ctx, &err, "cannot read network interface %s (DescribeNetworkInterfaces)",
			    label.data);
		rc = rc < 0 ? -1 : rc;
		goto out;
	}
	set = xml_find(x, "networkInterfaceSet");
	for (it = xml_next(set, "item", NULL); it; it = xml_next(set, "item", it)) {
		const char *id = xml_text(it, "networkInterfaceId");

		buf_printf(&list, "%s%s", n ? ", " : "", id ? id : "?");
		one = it;
		n++;
	}
	if (n != 1) {
		rc = ctx_fail_anywhere(ctx, "%s network interfaces match %s%s%s: name exactly one "
		    "(by id, or by tags no other interface has)", n == 0 ? "no" : "several",
		    label.data, n ? ": " : "", n ? list.data : "");
		goto out;
	}
	w->eni_id = dup_text(one, "networkInterfaceId");
	w->eni_mac = dup_text(one, "macAddress");
	w->eni_ip = dup_text(one, "privateIpAddress");
	w->eni_az = dup_text(one, "availabilityZone");
	w->att_id = dup_text(one, "attachment/attachmentId");
	w->att_state = dup_text(one, "attachment/status");
	w->att_instance = dup_text(one, "attachment/instanceId");
	if (w->eni_id == NULL || w->eni_mac == NULL || w->eni_ip == NULL) {
		rc = ctx_fail(ctx, "EC2's answer about %s lacks its id, MAC or address", label.data);
		goto out;
	}
	if (az != NULL && w->eni_az != NULL && strcmp(az, w->eni_az) != 0) {
		rc = ctx_fail(ctx, "network interface %s is in %s, this instance in %s: an ENI "
		    "serves one availability zone (overlay-ip moves an address across zones)",
		    w->eni_id, w->eni_az, az);
		goto out;
	}
	w->ours = w->att_instance != NULL && strcmp(w->att_instance, s->instance) == 0 &&
	    w->att_state != NULL && strcmp(w->att_state, "attached") == 0;
	if (w->att_instance != NULL)
		w->desc = xasprintf("%s attached to %s (%s)", w->eni_id, w->att_instance,
		    w->att_state ? w->att_state : "?");
	else
		w->desc = xasprintf("%s not attached", w->eni_id);
	set_holder(w, w->att_instance, s);
out:
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	buf_free(&label);
	buf_free(&list);
	return rc;
}

/* Our interface's source/destination check: 1 on, 0 off, else transient/failed. */
static int
sdc_read(struct hb_ctx *ctx, const struct addr_self *s, bool *on)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const char *v;
	int rc;

	aws_params_init(&p);
	aws_error_init(&err);
	aws_param(&p, "NetworkInterfaceId.1", "%s", s->eni);
	if ((rc = ec2_read(ctx, "DescribeNetworkInterfaces", &p, &x, &err)) != 0) {
		if (rc < 0)
			fail_ec2(ctx, &err, "cannot read this instance's interface %s "
			    "(DescribeNetworkInterfaces)", s->eni);
		goto out;
	}
	v = xml_text(x, "networkInterfaceSet/item/sourceDestCheck");
	*on = v == NULL || strcmp(v, "false") != 0;
out:
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return rc;
}

static int
where_overlay(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const struct xml_node *set, *rt, *r;
	struct buf desc;
	char dest[64];
	int rc;

	aws_params_init(&p);
	aws_error_init(&err);
	buf_init(&desc);
	snprintf(dest, sizeof(dest), "%s/32", a->ip);
	if ((rc = sdc_read(ctx, s, &w->sdc_on)) != 0)
		goto out;
	for (size_t i = 0; i < a->nroute_tables; i++)
		param_n(&p, "RouteTableId.%zu", i + 1, a->route_tables[i]);
	if ((rc = ec2_read(ctx, "DescribeRouteTables", &p, &x, &err)) != 0) {
		if (rc < 0 && (aws_error_is(&err, "InvalidRouteTableID.NotFound") ||
		    aws_error_is(&err, "InvalidRouteTableId.Malformed"))) {
			char *e = aws_error_str(&err);

			ctx_fail_anywhere(ctx, "a route table in address route_tables does not exist: %s",
			    e);
			free(e);
		} else if (rc < 0)
			fail_ec2(ctx, &err, "cannot read the route tables (DescribeRouteTables)");
		rc = rc < 0 ? -1 : rc;
		goto out;
	}
	set = xml_find(x, "routeTableSet");
	w->stale = xcalloc(a->nroute_tables + 1, sizeof(*w->stale));
	w->stale_exists = xcalloc(a->nroute_tables + 1, sizeof(*w->stale_exists));
	for (size_t i = 0; i < a->nroute_tables; i++) {
		const char *want = a->route_tables[i], *eni = NULL, *inst = NULL, *state = NULL;
		bool seen = false, found = false;

		for (rt = xml_next(set, "item", NULL); rt && !seen; rt = xml_next(set, "item", rt)) {
			const struct xml_node *routes = xml_child(rt, "routeSet");

			if (xml_text(rt, "routeTableId") == NULL ||
			    strcmp(xml_text(rt, "routeTableId"), want) != 0)
				continue;
			seen = true;
			for (r = xml_next(routes, "item", NULL); r; r = xml_next(routes, "item", r)) {
				const char *d = xml_text(r, "destinationCidrBlock");

				if (d != NULL && strcmp(d, dest) == 0) {
					found = true;
					eni = xml_text(r, "networkInterfaceId");
					inst = xml_text(r, "instanceId");
					state = xml_text(r, "state");
					break;
				}
			}
		}
		if (!seen) {
			rc = ctx_fail_anywhere(ctx, "EC2 did not return route table %s", want);
			goto out;
		}
		if (found && eni && !strcmp(eni, s->eni) && state && !strcmp(state, "active")) {
			buf_printf(&desc, "%s%s: to %s", desc.len ? "; " : "", want, eni);
			continue;
		}
		w->stale[w->nstale] = xstrdup(want);
		w->stale_exists[w->nstale++] = found;
		if (found)
			buf_printf(&desc, "%s%s: to %s%s%s (%s)", desc.len ? "; " : "", want,
			    eni ? eni : inst ? inst : "a gateway", inst && eni ? " of " : "",
			    inst && eni ? inst : "", state ? state : "?");
		else
			buf_printf(&desc, "%s%s: no route for %s", desc.len ? "; " : "", want, dest);
		if (state == NULL || strcmp(state, "blackhole") != 0)
			set_holder(w, inst, s);
	}
	if (w->sdc_on)
		buf_printf(&desc, "; source/destination check on for %s", s->eni);
	w->ours = w->nstale == 0 && !w->sdc_on;
	w->desc = buf_steal(&desc);
out:
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	buf_free(&desc);
	return rc;
}

static int
where_eip(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const struct xml_node *it;
	const char *eni, *priv, *inst;
	int rc;

	aws_params_init(&p);
	aws_error_init(&err);
	aws_param(&p, "AllocationId.1", "%s", a->allocation);
	if ((rc = ec2_read(ctx, "DescribeAddresses", &p, &x, &err)) != 0) {
		if (rc < 0 && aws_error_is(&err, "InvalidAllocationID.NotFound"))
			ctx_fail_anywhere(ctx, "Elastic IP allocation %s does not exist in this region "
			    "(InvalidAllocationID.NotFound): check address allocation", a->allocation);
		else if (rc < 0)
			fail_ec2(ctx, &err, "cannot read Elastic IP %s (DescribeAddresses)",
			    a->allocation);
		rc = rc < 0 ? -1 : rc;
		goto out;
	}
	if ((it = xml_find(x, "addressesSet/item")) == NULL) {
		rc = ctx_fail_anywhere(ctx, "EC2 lists no Elastic IP %s", a->allocation);
		goto out;
	}
	w->public_ip = dup_text(it, "publicIp");
	eni = xml_text(it, "networkInterfaceId");
	priv = xml_text(it, "privateIpAddress");
	inst = xml_text(it, "instanceId");
	w->ours = eni && !strcmp(eni, s->eni) && priv && s->private_ip && !strcmp(priv, s->private_ip);
	if (eni != NULL)
		w->desc = xasprintf("%s associated with %s on %s%s%s", w->public_ip ? w->public_ip : "?",
		    priv ? priv : "?", eni, inst ? " of " : "", inst ? inst : "");
	else
		w->desc = xasprintf("%s not associated", w->public_ip ? w->public_ip : "?");
	set_holder(w, inst, s);
out:
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return rc;
}

int
cloud_where(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w)
{
	int rc = -1;

	memset(w, 0, sizeof(*w));
	switch (a->mode) {
	case AM_SECONDARY: rc = where_secondary(ctx, a, s, w); break;
	case AM_ENI: rc = where_eni(ctx, a, s, w); break;
	case AM_OVERLAY: rc = where_overlay(ctx, a, s, w); break;
	case AM_EIP: rc = where_eip(ctx, a, s, w); break;
	}
	return rc;
}

int
cloud_where_patient(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w)
{
	struct poller pl;
	int r;

	poller_start(&pl, a->timeout_ms, ctx);
	for (;;) {
		if ((r = cloud_where(ctx, a, s, w)) <= 0)
			return r;
		addr_where_free(w);
		if (!poller_wait(&pl))
			return ctx_fail(ctx, "EC2 does not answer (throttled or failing): cannot tell "
			    "where the address is");
	}
}

/* ---- moving it here ------------------------------------------------------------ */

/* Makes the call through the effects layer; summary is what plan and the log say. */
static int
change(struct hb_ctx *ctx, struct aws_call *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
change(struct hb_ctx *ctx, struct aws_call *c, const char *fmt, ...)
{
	struct buf sum;
	va_list ap;
	int rc;

	buf_init(&sum);
	buf_printf(&sum, "%s ", c->action);
	va_start(ap, fmt);
	buf_vprintf(&sum, fmt, ap);
	va_end(ap);
	rc = aws_call_send(ctx, c, "%s", sum.data);
	if (rc == 0)
		ctx->changed = true;
	buf_free(&sum);
	return rc;
}

static int
route_call(struct hb_ctx *ctx, const char *action, const char *table, const char *dest,
    const struct addr_self *s, struct aws_error *out)
{
	struct aws_call c;
	int rc;

	aws_call_init(&c, ctx, AWS_EC2, action);
	aws_param(&c.p, "RouteTableId", "%s", table);
	aws_param(&c.p, "DestinationCidrBlock", "%s", dest);
	aws_param(&c.p, "NetworkInterfaceId", "%s", s->eni);
	rc = change(ctx, &c, "%s in %s to %s (%s)", dest, table, s->eni, s->instance);
	aws_error_free(out);
	*out = c.err;
	aws_error_init(&c.err);
	aws_call_free(&c);
	return rc;
}

/* ReplaceRoute when the table has a route for it, CreateRoute when not; a
 * route that appeared or went between our read and our call is the other. */
static int
move_route(struct hb_ctx *ctx, const char *table, bool exists, const char *ip,
    const struct addr_self *s)
{
	struct aws_error err;
	char dest[64];
	int rc;

	aws_error_init(&err);
	snprintf(dest, sizeof(dest), "%s/32", ip);
	rc = route_call(ctx, exists ? "ReplaceRoute" : "CreateRoute", table, dest, s, &err);
	if (rc < 0 && exists && (aws_error_is(&err, "InvalidRoute.NotFound") ||
	    (aws_error_is(&err, "InvalidParameterValue") && err.message &&
	    strstr(err.message, "no route") != NULL))) {
		log_info(ctx->module, "the route for %s in %s went away meanwhile: creating it", dest,
		    table);
		rc = route_call(ctx, "CreateRoute", table, dest, s, &err);
	} else if (rc < 0 && !exists && aws_error_is(&err, "RouteAlreadyExists")) {
		log_info(ctx->module, "a route for %s in %s appeared meanwhile: replacing it", dest,
		    table);
		rc = route_call(ctx, "ReplaceRoute", table, dest, s, &err);
	}
	if (rc < 0)
		fail_ec2(ctx, &err, "cannot route %s in %s to %s", dest, table, s->eni);
	aws_error_free(&err);
	return rc;
}

/* Waits until cloud_where says what pred wants, fast at first (poll.h). */
static int
wait_where(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w, bool (*pred)(const struct addr_where *), const char *what)
{
	struct poller pl;
	char took[32];

	poller_start(&pl, a->timeout_ms, ctx);
	for (;;) {
		int r;

		addr_where_free(w);
		if ((r = cloud_where(ctx, a, s, w)) < 0)
			return -1;
		if (r == 0 && pred(w))
			return 0;
		if (poller_progress_due(&pl))
			log_info(ctx->module, "waiting for %s: now %s", what, w->desc ? w->desc : "?");
		if (!poller_wait(&pl))
			break;
	}
	fmt_duration(poller_elapsed(&pl), took, sizeof(took));
	return ctx_fail(ctx, "EC2 still does not show %s after %s: %s", what, took,
	    w->desc ? w->desc : "EC2 did not answer");
}

static bool
is_ours(const struct addr_where *w)
{
	return w->ours;
}

static bool
is_detached(const struct addr_where *w)
{
	return w->att_instance == NULL;
}

static int
move_eni(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w)
{
	struct aws_call c;
	int rc = -1;

	if (w->att_instance != NULL && strcmp(w->att_instance, s->instance) != 0) {
		/* The service (its volume) is ours now: the interface follows it.  A
		 * forced detach, because the old owner may be dead and unable to let go. */
		if (w->att_state == NULL || strcmp(w->att_state, "detaching") != 0) {
			aws_call_init(&c, ctx, AWS_EC2, "DetachNetworkInterface");
			aws_param(&c.p, "AttachmentId", "%s", w->att_id ? w->att_id : "");
			aws_param(&c.p, "Force", "true");
			rc = change(ctx, &c, "%s from %s (Force)", w->eni_id, w->att_instance);
			if (rc < 0)
				fail_ec2(ctx, &c.err, "cannot detach %s from %s", w->eni_id,
				    w->att_instance);
			aws_call_free(&c);
			if (rc < 0)
				return -1;
		}
		if (wait_where(ctx, a, s, w, is_detached, "the network interface detached") < 0)
			return -1;
	}
	if (w->att_instance == NULL) {
		aws_call_init(&c, ctx, AWS_EC2, "AttachNetworkInterface");
		aws_param(&c.p, "NetworkInterfaceId", "%s", w->eni_id);
		aws_param(&c.p, "InstanceId", "%s", s->instance);
		aws_param(&c.p, "DeviceIndex", "%lld", a->device_index);
		rc = change(ctx, &c, "%s to %s at device index %lld", w->eni_id, s->instance,
		    a->device_index);
		if (rc < 0)
			fail_ec2(ctx, &c.err, "cannot attach %s to %s", w->eni_id, s->instance);
		aws_call_free(&c);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int
cloud_move(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w)
{
	struct aws_call c;
	int rc = 0;

	switch (a->mode) {
	case AM_SECONDARY:
		aws_call_init(&c, ctx, AWS_EC2, "AssignPrivateIpAddresses");
		aws_param(&c.p, "NetworkInterfaceId", "%s", s->eni);
		aws_param(&c.p, "PrivateIpAddress.1", "%s", a->ip);
		aws_param(&c.p, "AllowReassignment", "true");
		if ((rc = change(ctx, &c, "%s to %s (AllowReassignment: taken from %s)", a->ip,
		    s->eni, w->desc ? w->desc : "wherever it is")) < 0)
			fail_ec2(ctx, &c.err, "cannot assign %s to %s", a->ip, s->eni);
		aws_call_free(&c);
		break;
	case AM_ENI:
		rc = move_eni(ctx, a, s, w);
		break;
	case AM_OVERLAY:
		if (w->sdc_on) {
			aws_call_init(&c, ctx, AWS_EC2, "ModifyNetworkInterfaceAttribute");
			aws_param(&c.p, "NetworkInterfaceId", "%s", s->eni);
			aws_param(&c.p, "SourceDestCheck.Value", "false");
			if ((rc = change(ctx, &c, "%s SourceDestCheck=false (it receives traffic for "
			    "%s, which is not its own address)", s->eni, a->ip)) < 0)
				fail_ec2(ctx, &c.err, "cannot turn off source/destination check on %s",
				    s->eni);
			aws_call_free(&c);
		}
		for (size_t i = 0; rc == 0 && i < w->nstale; i++)
			rc = move_route(ctx, w->stale[i], w->stale_exists[i], a->ip, s);
		break;
	case AM_EIP:
		aws_call_init(&c, ctx, AWS_EC2, "AssociateAddress");
		aws_param(&c.p, "AllocationId", "%s", a->allocation);
		aws_param(&c.p, "NetworkInterfaceId", "%s", s->eni);
		aws_param(&c.p, "PrivateIpAddress", "%s", s->private_ip ? s->private_ip : "");
		aws_param(&c.p, "AllowReassociation", "true");
		if ((rc = change(ctx, &c, "%s to %s on %s (AllowReassociation: taken from %s)",
		    a->allocation, s->private_ip ? s->private_ip : "?", s->eni,
		    w->desc ? w->desc : "wherever it is")) < 0)
			fail_ec2(ctx, &c.err, "cannot associate %s with %s", a->allocation, s->eni);
		aws_call_free(&c);
		break;
	}
	if (rc < 0)
		return -1;
	/* The proof: EC2, read afresh, gives it to us. */
	return wait_where(ctx, a, s, w, is_ours, "the address on this instance");
}

char *
cloud_instance_state(struct hb_ctx *ctx, const char *instance)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	char *state = NULL;

	aws_params_init(&p);
	aws_error_init(&err);
	aws_param(&p, "InstanceId.1", "%s", instance);
	if (aws_query(ctx->aws, AWS_EC2, "DescribeInstances", &p, &x, &err) == 0)
		state = dup_text(x, "reservationSet/item/instancesSet/item/instanceState/name");
	else if (aws_error_is(&err, "InvalidInstanceID.NotFound"))
		state = xstrdup("terminated");
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return state;
}

int
cloud_release_eni(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s)
{
	struct addr_where w;
	struct aws_call c;
	int rc;

	if ((rc = cloud_where(ctx, a, s, &w)) != 0) {
		if (rc > 0)
			ctx_fail(ctx, "EC2 does not answer: cannot hand the network interface over");
		addr_where_free(&w);
		return -1;
	}
	if (w.att_instance == NULL || strcmp(w.att_instance, s->instance) != 0) {
		ctx_result(ctx, "%s: not attached here, nothing to hand over", w.desc);
		addr_where_free(&w);
		return 0;
	}
	aws_call_init(&c, ctx, AWS_EC2, "DetachNetworkInterface");
	aws_param(&c.p, "AttachmentId", "%s", w.att_id ? w.att_id : "");
	if ((rc = change(ctx, &c, "%s from %s (the next owner attaches it)", w.eni_id,
	    s->instance)) < 0)
		fail_ec2(ctx, &c.err, "cannot detach %s", w.eni_id);
	aws_call_free(&c);
	if (rc == 0 && (rc = wait_where(ctx, a, s, &w, is_detached,
	    "the network interface detached")) == 0)
		ctx_result(ctx, "%s detached: the next instance attaches it", w.eni_id);
	addr_where_free(&w);
	return rc;
}
