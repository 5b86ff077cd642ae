/* route53.c: point the service's DNS name at this instance.
 * By default the name is taken over with one change batch that DELETEs the
 * record exactly as read and CREATEs ours: Route53 applies it whole or not at
 * all, so a record someone changed after our read is never overwritten blind. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/aws.h"
#include "awsfail.h"
#include "log.h"
#include "module.h"
#include "poll.h"
#include "util.h"

#define R53_API "/2013-04-01"
#define R53_TRIES 3             /* read-decide-write rounds when the record moves under us */
/* Reads fail with -1 (after ctx_fail), or, for the watcher's check, with: */
#define R53_NO_ANSWER -2        /* throttled, 5xx, no answer: the check cannot run */
#define R53_NO_ZONE -3          /* the hosted zone does not exist: a verdict */

enum rtype { RT_A, RT_AAAA };
enum rwait { WAIT_INSYNC, WAIT_NONE };
enum rmode { MODE_SWAP, MODE_UPSERT };

static const char *const type_names[] = {"A", "AAAA", NULL};
static const char *const wait_names[] = {"insync", "none", NULL};
static const char *const mode_names[] = {"swap", "upsert", NULL};
static const char *const r53_keys[] = {
	"zone", "name", "type", "ttl", "value", "wait", "mode", "timeout", NULL,
};

struct r53_cfg {
	char *zone;
	bool zone_is_id;
	char *name;
	int type;
	long long ttl;
	char *value;
	bool value_is_key;
	int wait;
	int mode;
	long long timeout_ms;
	/* Kept between runs of the module in one process (watch): the zone id a
	 * zone name was found to be, and the check's API slot and verdict. */
	char *zone_id;
	long long api_next;
	enum health api_health;
	bool api_anywhere;
	char *api_msg;
};

static bool
is_zone_id(const char *s)
{
	size_t n = strlen(s);

	if (str_starts(s, "/hostedzone/"))
		s += strlen("/hostedzone/"), n -= strlen("/hostedzone/");
	if (n < 2 || n > 32 || s[0] != 'Z')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static const char *
check_zone(const char *s)
{
	if (is_zone_id(s))
		return NULL;
	if (check_dns_name(s) == NULL && strchr(s, '.') != NULL)
		return NULL;
	return "is neither a hosted zone id (Z...) nor a zone name (example.com)";
}

static const char *
check_record_name(const char *s)
{
	const char *why = check_dns_name(s), *dot;

	if (why != NULL)
		return why;
	/* Route53 reads every name as fully qualified: "nfs" alone is a TLD. */
	if ((dot = strchr(s, '.')) == NULL || dot[1] == '\0')
		return "must be a fully qualified name, like nfs.example.com";
	return NULL;
}

static void
r53_free(void *p)
{
	struct r53_cfg *r = p;

	if (r == NULL)
		return;
	free(r->zone);
	free(r->name);
	free(r->value);
	free(r->zone_id);
	free(r->api_msg);
	free(r);
}

static void *
r53_parse(struct cfg *c, const struct ynode *n)
{
	struct r53_cfg *r = xcalloc(1, sizeof(*r));
	int errors = c->d->errors;

	r->type = RT_A;
	r->ttl = 60;
	r->wait = WAIT_INSYNC;
	r->mode = MODE_SWAP;
	r->timeout_ms = 120 * 1000;
	cfg_map(c, n, "route53 module", r53_keys);
	if (cfg_str(c, n, "zone", true, check_zone, &r->zone) == CFG_OK)
		r->zone_is_id = is_zone_id(r->zone);
	cfg_str(c, n, "name", true, check_record_name, &r->name);
	cfg_enum(c, n, "type", false, type_names, &r->type);
	cfg_int(c, n, "ttl", false, 0, 2147483647, &r->ttl);
	if (cfg_str(c, n, "value", false, check_nonempty, &r->value) == CFG_OK) {
		const char *why = r->type == RT_A ? check_ipv4(r->value) : check_ipv6(r->value);

		/* Only keys that hold an address of the record's type: "instance-id"
		 * or "ipv6" in an A record would fail at the worst time, in a takeover. */
		r->value_is_key = r->type == RT_A ?
		    !strcmp(r->value, "local-ipv4") || !strcmp(r->value, "public-ipv4") :
		    !strcmp(r->value, "ipv6");
		if (!r->value_is_key && why != NULL)
			diag_err(c->d, ymap_get(n, "value"),
			    "value \"%s\" is neither a metadata key holding an %s address (%s) nor "
			    "an %s address", r->value, type_names[r->type],
			    r->type == RT_A ? "local-ipv4 or public-ipv4" : "ipv6",
			    type_names[r->type]);
	}
	if (r->value == NULL) {
		r->value = xstrdup(r->type == RT_A ? "local-ipv4" : "ipv6");
		r->value_is_key = true;
	}
	cfg_enum(c, n, "wait", false, wait_names, &r->wait);
	cfg_enum(c, n, "mode", false, mode_names, &r->mode);
	cfg_duration(c, n, "timeout", false, 1000, 3600 * 1000, &r->timeout_ms);
	if (r->zone && r->name && !r->zone_is_id) {
		/* The name must lie inside the zone, or Route53 rejects the change. */
		const char *zn = r->zone;
		size_t ln = strlen(r->name), lz = strlen(zn);

		if (zn[lz - 1] == '.')
			lz--;
		size_t lnn = r->name[ln - 1] == '.' ? ln - 1 : ln;
		if (!(lnn == lz && strncasecmp(r->name, zn, lz) == 0) &&
		    !(lnn > lz && r->name[lnn - lz - 1] == '.' &&
		        strncasecmp(r->name + lnn - lz, zn, lz) == 0))
			diag_err(c->d, ymap_get(n, "name"), "name %s is not inside zone %s", r->name,
			    r->zone);
	}
	if (c->d->errors > errors) {
		r53_free(r);
		return NULL;
	}
	return r;
}

static void plan_live(struct hb_ctx *ctx, struct r53_cfg *r, const char *value);

static int
r53_plan(struct hb_ctx *ctx, void *p)
{
	struct r53_cfg *r = p;
	struct effects *e = ctx->eff;
	const char *val = r->value_is_key ? md_get(ctx->md, r->value) : r->value;
	char t[32], *summary;

	fmt_duration(r->timeout_ms, t, sizeof(t));
	if (!r->zone_is_id)
		eff_describe(e, EK_READ, "route53 ListHostedZonesByName %s: exactly one zone", r->zone);
	if (r->value_is_key)
		eff_describe(e, EK_READ, "metadata %s = %s", r->value, val ? val : "(unknown)");
	eff_describe(e, EK_READ, "route53 ListResourceRecordSets %s %s", r->name,
	    type_names[r->type]);
	if (ctx->aws != NULL)
		plan_live(ctx, r, val);
	eff_describe(e, EK_NOTE, "if %s %s already holds %s (ttl %lld): nothing to change", r->name,
	    type_names[r->type], val ? val : "?", r->ttl);
	if (r->mode == MODE_SWAP)
		summary = xasprintf("ChangeResourceRecordSets %s: DELETE the record as read, CREATE %s %s "
		    "%s ttl %lld (fails if someone changed it meanwhile; then re-read, bounded)",
		    r->zone, r->name, type_names[r->type], val ? val : "?", r->ttl);
	else
		summary = xasprintf("ChangeResourceRecordSets %s: UPSERT %s %s %s ttl %lld", r->zone,
		    r->name, type_names[r->type], val ? val : "?", r->ttl);
	eff_aws(e, "route53", summary, NULL, NULL);
	free(summary);
	if (r->wait == WAIT_INSYNC)
		eff_describe(e, EK_WAIT, "route53 GetChange until INSYNC (up to %s, fast at first)", t);
	return 0;
}


/* ---- apply ------------------------------------------------------------ */

struct zone {
	char *id;             /* "Z1G9ZB2OW5990Z" */
	char *name;           /* canonical, when looked up by name */
	bool private_zone;
};

/* One record set as Route53 holds it. */
struct rrset {
	bool exists;
	char *name;           /* as Route53 wrote it: the DELETE must match it exactly */
	long long ttl;
	char **values;
	size_t nvalues;
	char *special;        /* why haboot will not manage it (alias, weighted...), or NULL */
};

static void
rrset_free(struct rrset *s)
{
	free(s->name);
	for (size_t i = 0; i < s->nvalues; i++)
		free(s->values[i]);
	free(s->values);
	free(s->special);
	memset(s, 0, sizeof(*s));
}

/* "Nfs.Example.COM" to "nfs.example.com." (malloc'd), Route53's \ooo escapes decoded. */
static char *
dns_canon(const char *s)
{
	struct buf b;

	buf_init(&b);
	for (const char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			buf_addc(&b, (char)tolower((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
			p += 3;
		} else
			buf_addc(&b, (char)tolower((unsigned char)*p));
	}
	if (b.len == 0 || b.data[b.len - 1] != '.')
		buf_addc(&b, '.');
	return buf_steal(&b);
}

static bool
dns_eq(const char *a, const char *b)
{
	char *ca = dns_canon(a), *cb = dns_canon(b);
	bool eq = strcmp(ca, cb) == 0;

	free(ca);
	free(cb);
	return eq;
}

/* Addresses compared as addresses: "2001:db8::1" is "2001:0db8:0::1". */
static bool
addr_eq(int type, const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int af = type == RT_A ? AF_INET : AF_INET6;

	if (inet_pton(af, a, x) != 1 || inet_pton(af, b, y) != 1)
		return strcasecmp(a, b) == 0;
	return memcmp(x, y, type == RT_A ? 4 : 16) == 0;
}

static void
buf_add_xml(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_adds(b, "&amp;"); break;
		case '<': buf_adds(b, "&lt;"); break;
		case '>': buf_adds(b, "&gt;"); break;
		case '"': buf_adds(b, "&quot;"); break;
		default: buf_addc(b, *s);
		}
	}
}

static void
values_str(struct buf *b, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%s", i ? "," : "", v[i]);
	if (n == 0)
		buf_adds(b, "(no value)");
}

/* Fails with "what: AWS's error"; returns -1. */
static int fail_aws(struct hb_ctx *ctx, const struct aws_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail_aws(struct hb_ctx *ctx, const struct aws_error *err, const char *fmt, ...)
{
	struct buf what;
	va_list ap;

	buf_init(&what);
	va_start(ap, fmt);
	buf_vprintf(&what, fmt, ap);
	va_end(ap);
	ctx_fail_aws(ctx, err, "%s", what.data);
	buf_free(&what);
	return -1;
}

/* The address the record must hold, checked for the record's family. */
static const char *
resolve_value(struct hb_ctx *ctx, const struct r53_cfg *r)
{
	const char *v = r->value, *hint;
	unsigned char bin[16];

	if (r->value_is_key && (v = md_get(ctx->md, r->value)) == NULL) {
		if (!strcmp(r->value, "public-ipv4"))
			hint = "this instance has no public IPv4 address; use local-ipv4 or a literal";
		else if (!strcmp(r->value, "ipv6"))
			hint = "this instance has no IPv6 address (its subnet needs an IPv6 range)";
		else
			hint = "the metadata service did not answer; pass --metadata local-ipv4=ADDR";
		ctx_fail(ctx, "metadata %s is unknown: %s", r->value, hint);
		return NULL;
	}
	if (inet_pton(r->type == RT_A ? AF_INET : AF_INET6, v, bin) != 1) {
		ctx_fail(ctx, "%s%s\"%s\" is not an %s address: a %s record cannot hold it",
		    r->value_is_key ? "metadata " : "value ", r->value_is_key ? r->value : "",
		    v, r->type == RT_A ? "IPv4" : "IPv6", type_names[r->type]);
		return NULL;
	}
	return v;
}

/* ListHostedZonesByName lists zones in name order from dnsname on: the matches
 * are the first entries whose name is ours.  Exactly one may match. */
static int
zone_by_name(struct hb_ctx *ctx, const char *zname, struct zone *z)
{
	char *want = dns_canon(zname), *next_name = xstrdup(want), *next_id = NULL;
	struct buf list;
	size_t n = 0, npriv = 0;
	int rc = -1;

	buf_init(&list);
	for (int page = 0; page < 20 && next_name != NULL; page++) {
		struct xml_node *x = NULL;
		struct aws_error err;
		const struct xml_node *zones, *hz = NULL;
		char *path;
		bool past = false;

		aws_error_init(&err);
		path = xasprintf(R53_API "/hostedzonesbyname?dnsname=%s%s%s&maxitems=100", next_name,
		    next_id ? "&hostedzoneid=" : "", next_id ? next_id : "");
		free(next_name);
		free(next_id);
		next_name = next_id = NULL;
		if (aws_rest(ctx->aws, AWS_ROUTE53, "GET", path, NULL, &x, &err) < 0) {
			fail_aws(ctx, &err, "cannot look up hosted zone %s (ListHostedZonesByName)",
			    zname);
			if (aws_error_retryable(&err))
				rc = R53_NO_ANSWER;
			aws_error_free(&err);
			free(path);
			goto out;
		}
		free(path);
		zones = xml_child(x, "HostedZones");
		while ((hz = xml_next(zones, "HostedZone", hz)) != NULL) {
			const char *id = xml_text(hz, "Id"), *name = xml_text(hz, "Name");
			const char *priv = xml_text(hz, "Config/PrivateZone");
			bool is_priv = priv != NULL && !strcmp(priv, "true");

			if (id == NULL || name == NULL || !dns_eq(name, want)) {
				past = true;
				break;
			}
			if (str_starts(id, "/hostedzone/"))
				id += strlen("/hostedzone/");
			buf_printf(&list, "%s%s (%s)", n ? ", " : "", id, is_priv ? "private" : "public");
			if (n++ == 0) {
				z->id = xstrdup(id);
				z->private_zone = is_priv;
			}
			npriv += is_priv;
		}
		const char *trunc = xml_text(x, "IsTruncated");
		if (!past && trunc != NULL && !strcmp(trunc, "true") && xml_text(x, "NextDNSName") &&
		    dns_eq(xml_text(x, "NextDNSName"), want)) {
			next_name = xstrdup(xml_text(x, "NextDNSName"));
			if (xml_text(x, "NextHostedZoneId"))
				next_id = xstrdup(xml_text(x, "NextHostedZoneId"));
		}
		xml_free(x);
	}
	if (n == 0) {
		ctx_fail_anywhere(ctx, "no hosted zone named %s in this account (ListHostedZonesByName); "
		    "create it, or write the zone's id (Z...) in route53 zone", want);
		rc = R53_NO_ZONE;
		goto out;
	}
	if (n > 1) {
		ctx_fail_anywhere(ctx, "zone name %s matches %zu hosted zones: %s%s; write the one meant "
		    "as its id in route53 zone", want, n, list.data,
		    npriv > 0 && npriv < n ? " (a public and a private zone share the name: "
		    "split-horizon DNS)" : "");
		goto out;
	}
	z->name = xstrdup(want);
	log_debug(ctx->module, "zone %s is %s (%s)", want, z->id,
	    z->private_zone ? "private" : "public");
	rc = 0;
out:
	free(next_name);
	free(next_id);
	free(want);
	buf_free(&list);
	return rc;
}

static int
rr_read(struct hb_ctx *ctx, const struct zone *z, const char *fqdn, const char *type,
    struct rrset *out)
{
	struct xml_node *x = NULL;
	struct aws_error err;
	const struct xml_node *rs, *rr = NULL, *rrs;
	char *path;
	int rc = -1;

	aws_error_init(&err);
	memset(out, 0, sizeof(*out));
	path = xasprintf(R53_API "/hostedzone/%s/rrset?name=%s&type=%s&maxitems=1", z->id, fqdn,
	    type);
	if (aws_rest(ctx->aws, AWS_ROUTE53, "GET", path, NULL, &x, &err) < 0) {
		if (aws_error_is(&err, "NoSuchHostedZone")) {
			char *why = aws_error_str(&err);

			ctx_fail_anywhere(ctx, "hosted zone %s does not exist (%s): write the zone's id (Z...) "
			    "or its name in route53 zone", z->id, why);
			free(why);
			rc = R53_NO_ZONE;
		} else {
			fail_aws(ctx, &err, "cannot read %s in zone %s (ListResourceRecordSets)", fqdn,
			    z->id);
			if (aws_error_retryable(&err))
				rc = R53_NO_ANSWER;
		}
		goto out;
	}
	rs = xml_find(x, "ResourceRecordSets/ResourceRecordSet");
	/* The listing starts at our name and type; the first set may be a later one. */
	if (rs == NULL || xml_text(rs, "Name") == NULL || !dns_eq(xml_text(rs, "Name"), fqdn) ||
	    xml_text(rs, "Type") == NULL || strcmp(xml_text(rs, "Type"), type) != 0) {
		rc = 0;
		goto out;
	}
	out->exists = true;
	out->name = xstrdup(xml_text(rs, "Name"));
	out->ttl = xml_text(rs, "TTL") ? strtoll(xml_text(rs, "TTL"), NULL, 10) : -1;
	if (xml_child(rs, "AliasTarget") != NULL)
		out->special = xasprintf("an alias record (to %s)",
		    xml_text(rs, "AliasTarget/DNSName") ? xml_text(rs, "AliasTarget/DNSName") : "?");
	else if (xml_text(rs, "SetIdentifier") != NULL)
		out->special = xasprintf("one of a set of routing-policy records (set identifier "
		    "%s)", xml_text(rs, "SetIdentifier"));
	rrs = xml_child(rs, "ResourceRecords");
	while ((rr = xml_next(rrs, "ResourceRecord", rr)) != NULL) {
		const char *v = xml_text(rr, "Value");

		out->values = xrealloc(out->values, (out->nvalues + 1) * sizeof(*out->values));
		out->values[out->nvalues++] = xstrdup(v ? v : "");
	}
	rc = 0;
out:
	xml_free(x);
	aws_error_free(&err);
	free(path);
	return rc;
}

/* The hosted zone: its id as written, or the one its name was found to be
 * (looked up once, then kept).  Plan, apply and check read the zone and then
 * the record (rr_read) through here.  0, or < 0 after ctx_fail (see R53_NO_ANSWER). */
static int
r53_zone(struct hb_ctx *ctx, struct r53_cfg *r, struct zone *z)
{
	int rc;

	memset(z, 0, sizeof(*z));
	if (r->zone_is_id || r->zone_id != NULL) {
		const char *id = r->zone_id ? r->zone_id : r->zone;

		z->id = xstrdup(str_starts(id, "/hostedzone/") ? id + strlen("/hostedzone/") : id);
		return 0;
	}
	if ((rc = zone_by_name(ctx, r->zone, z)) == 0)
		r->zone_id = xstrdup(z->id);
	return rc;
}

static bool
rr_holds(const struct rrset *s, int type, const char *value, long long ttl)
{
	return s->exists && s->special == NULL && s->nvalues == 1 && s->ttl == ttl &&
	    addr_eq(type, s->values[0], value);
}

static bool
rr_same(const struct rrset *a, const struct rrset *b)
{
	if (a->exists != b->exists)
		return false;
	if (!a->exists)
		return true;
	if (a->ttl != b->ttl || a->nvalues != b->nvalues)
		return false;
	for (size_t i = 0; i < a->nvalues; i++)
		if (strcmp(a->values[i], b->values[i]) != 0)
			return false;
	return true;
}

static void
add_change(struct buf *b, const char *action, const char *name, const char *type, long long ttl,
    char *const *values, size_t n)
{
	buf_printf(b, "<Change><Action>%s</Action><ResourceRecordSet><Name>", action);
	buf_add_xml(b, name);
	buf_printf(b, "</Name><Type>%s</Type><TTL>%lld</TTL><ResourceRecords>", type, ttl);
	for (size_t i = 0; i < n; i++) {
		buf_adds(b, "<ResourceRecord><Value>");
		buf_add_xml(b, values[i]);
		buf_adds(b, "</Value></ResourceRecord>");
	}
	buf_adds(b, "</ResourceRecords></ResourceRecordSet></Change>");
}

/* One ChangeResourceRecordSets call, made through eff_aws. */
struct r53_change {
	struct aws *aws;
	char *path;
	struct buf body;
	char *change_id;      /* out */
	struct aws_error err; /* out */
};

static int
change_call(void *arg)
{
	struct r53_change *c = arg;
	struct xml_node *x = NULL;
	const char *id;

	if (aws_rest(c->aws, AWS_ROUTE53, "POST", c->path, c->body.data, &x, &c->err) < 0)
		return -1;
	if ((id = xml_text(x, "ChangeInfo/Id")) != NULL) {
		if (str_starts(id, "/change/"))
			id += strlen("/change/");
		c->change_id = xstrdup(id);
	}
	xml_free(x);
	return 0;
}

/* Polls GetChange until INSYNC with the shared poller (fast at first, then
 * backing off), within the module's timeout and the run's deadline. */
static int
wait_insync(struct hb_ctx *ctx, const struct r53_cfg *r, const char *fqdn, const char *id)
{
	bool by_deadline = ctx_time_left(ctx) < r->timeout_ms;
	char *path = xasprintf(R53_API "/change/%s", id);
	char lim[32], took[32];
	struct poller pl;
	int rc = -1;

	poller_start(&pl, r->timeout_ms, ctx);
	fmt_duration(poller_left(&pl), lim, sizeof(lim));
	for (;;) {
		struct xml_node *x = NULL;
		struct aws_error err;
		char status[32];

		aws_error_init(&err);
		if (aws_rest(ctx->aws, AWS_ROUTE53, "GET", path, NULL, &x, &err) < 0) {
			fail_aws(ctx, &err, "cannot follow change %s of %s (GetChange)", id, fqdn);
			aws_error_free(&err);
			goto out;
		}
		snprintf(status, sizeof(status), "%s", xml_text(x, "ChangeInfo/Status") ?
		    xml_text(x, "ChangeInfo/Status") : "unknown");
		xml_free(x);
		fmt_duration(poller_elapsed(&pl), took, sizeof(took));
		if (!strcmp(status, "INSYNC")) {
			log_info(ctx->module, "change %s is INSYNC after %s", id, took);
			rc = 0;
			goto out;
		}
		if (poller_progress_due(&pl))
			log_info(ctx->module, "change %s of %s still %s after %s (waiting up to %s)", id,
			    fqdn, status, took, lim);
		if (!poller_wait(&pl))
			break;
	}
	if (by_deadline)
		ctx_fail(ctx, "deadline passed: change %s of %s still PENDING after %s; the record is "
		    "written but not yet on every Route53 server", id, fqdn, took);
	else
		ctx_fail(ctx, "change %s of %s still PENDING after %s (route53 timeout); the record "
		    "is written but not yet on every Route53 server: raise timeout, or set wait: none",
		    id, fqdn, took);
out:
	free(path);
	return rc;
}

/* Writes the record: swap (DELETE as read + CREATE, atomic) or UPSERT.
 * 0 written, 1 refused as a whole (InvalidChangeBatch), -1 failed. */
static int
rr_write(struct hb_ctx *ctx, const struct r53_cfg *r, const struct zone *z, const char *fqdn,
    const struct rrset *cur, const char *value, char **change_id, char **refusal)
{
	struct r53_change c;
	struct buf sum;
	const char *type = type_names[r->type];
	const char *self = md_get(ctx->md, "instance-id");
	char *vals[1] = {(char *)value};
	int rc = -1;

	memset(&c, 0, sizeof(c));
	aws_error_init(&c.err);
	buf_init(&c.body);
	buf_init(&sum);
	c.aws = ctx->aws;
	c.path = xasprintf(R53_API "/hostedzone/%s/rrset", z->id);
	buf_adds(&c.body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
	    "<ChangeBatch><Comment>");
	/* The change history then says who moved the name, and why. */
	buf_add_xml(&c.body, "haboot: ");
	buf_add_xml(&c.body, ctx->service ? ctx->service : "service");
	buf_add_xml(&c.body, " on ");
	buf_add_xml(&c.body, self ? self : "this instance");
	buf_adds(&c.body, "</Comment><Changes>");
	buf_printf(&sum, "ChangeResourceRecordSets %s: ", z->id);
	if (r->mode == MODE_UPSERT) {
		add_change(&c.body, "UPSERT", fqdn, type, r->ttl, vals, 1);
		buf_printf(&sum, "UPSERT %s %s %s ttl %lld", fqdn, type, value, r->ttl);
	} else {
		if (cur->exists) {
			add_change(&c.body, "DELETE", cur->name, type, cur->ttl, cur->values,
			    cur->nvalues);
			buf_printf(&sum, "DELETE %s %s ", fqdn, type);
			values_str(&sum, cur->values, cur->nvalues);
			buf_printf(&sum, " ttl %lld (as read), ", cur->ttl);
		}
		add_change(&c.body, "CREATE", fqdn, type, r->ttl, vals, 1);
		buf_printf(&sum, "CREATE %s %s %s ttl %lld", fqdn, type, value, r->ttl);
	}
	buf_adds(&c.body, "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>\n");
	if (eff_aws(ctx->eff, "route53", sum.data, change_call, &c) == 0) {
		*change_id = c.change_id;
		c.change_id = NULL;
		rc = 0;
	} else if (aws_error_is(&c.err, "InvalidChangeBatch")) {
		*refusal = aws_error_str(&c.err);
		rc = 1;
	} else
		fail_aws(ctx, &c.err, "cannot change %s in zone %s (ChangeResourceRecordSets)", fqdn,
		    z->id);
	free(c.change_id);
	free(c.path);
	buf_free(&c.body);
	buf_free(&sum);
	aws_error_free(&c.err);
	return rc;
}

static int
r53_apply(struct hb_ctx *ctx, void *p)
{
	struct r53_cfg *r = p;
	struct zone z = {0};
	struct rrset cur = {0}, prev = {0};
	const char *type = type_names[r->type], *value;
	char *fqdn = dns_canon(r->name), *change_id = NULL, *refusal = NULL;
	char was[256];
	int rc = -1, w;

	if (ctx->aws == NULL) {
		ctx_fail(ctx, "no AWS client: route53 needs AWS credentials and a region");
		goto out;
	}
	if ((value = resolve_value(ctx, r)) == NULL)
		goto out;
	if (r53_zone(ctx, r, &z) < 0)
		goto out;
	ctx_set_fact(ctx, FACT_ROUTE53_NAME, "%s", fqdn);
	ctx_set_fact(ctx, FACT_ROUTE53_VALUE, "%s", value);
	for (int attempt = 1;; attempt++) {
		rrset_free(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
		if (rr_read(ctx, &z, fqdn, type, &cur) < 0)
			goto out;
		if (cur.special != NULL) {
			ctx_fail_anywhere(ctx, "%s %s in zone %s is %s: haboot manages a simple record only; "
			    "delete that record or use another name", fqdn, type, z.id, cur.special);
			goto out;
		}
		if (rr_holds(&cur, r->type, value, r->ttl)) {
			ctx_result(ctx, "%s %s already holds %s (ttl %lld) in zone %s: nothing to do%s",
			    fqdn, type, value, r->ttl, z.id, attempt > 1 ?
			    " (written meanwhile by someone else, or by our own retried call)" : "");
			rc = 0;
			goto out;
		}
		/* Refused, yet nothing moved: the batch itself is wrong, not stale. */
		if (attempt > 1 && rr_same(&prev, &cur)) {
			ctx_fail_anywhere(ctx, "Route53 refused the change of %s %s in zone %s: %s", fqdn, type,
			    z.id, refusal);
			goto out;
		}
		if (attempt > 1) {
			struct buf now;

			buf_init(&now);
			if (cur.exists)
				values_str(&now, cur.values, cur.nvalues);
			log_warn(ctx->module, "%s %s changed between our read and our write: it now "
			    "holds %s%s; deciding again", fqdn, type, cur.exists ? now.data : "nothing",
			    cur.exists ? "" : " (deleted)");
			buf_free(&now);
		}
		if (attempt > R53_TRIES) {
			ctx_fail(ctx, "%s %s in zone %s changed under haboot %d times in a row; "
			    "something else keeps writing it (another instance of this service?): "
			    "stop it, then re-run; last refusal: %s", fqdn, type, z.id, R53_TRIES,
			    refusal);
			goto out;
		}
		free(refusal);
		refusal = NULL;
		if ((w = rr_write(ctx, r, &z, fqdn, &cur, value, &change_id, &refusal)) == 0)
			break;
		if (w < 0)
			goto out;
		if (r->mode == MODE_UPSERT) {
			ctx_fail(ctx, "Route53 refused to UPSERT %s %s in zone %s: %s", fqdn, type,
			    z.id, refusal);
			goto out;
		}
		log_info(ctx->module, "Route53 refused the batch (try %d of %d: %s); reading %s %s "
		    "again", attempt, R53_TRIES, refusal, fqdn, type);
	}
	ctx->changed = true;
	if (cur.exists) {
		struct buf b;

		buf_init(&b);
		values_str(&b, cur.values, cur.nvalues);
		snprintf(was, sizeof(was), "was %s ttl %lld", b.data, cur.ttl);
		buf_free(&b);
	} else
		snprintf(was, sizeof(was), "new record");
	if (change_id != NULL)
		ctx_set_fact(ctx, FACT_ROUTE53_CHANGE_ID, "%s", change_id);
	if (r->wait == WAIT_INSYNC && change_id == NULL)
		log_warn(ctx->module, "Route53 answered without a change id: cannot wait for INSYNC");
	else if (r->wait == WAIT_INSYNC && wait_insync(ctx, r, fqdn, change_id) < 0)
		goto out;
	ctx_result(ctx, "%s %s -> %s ttl %lld in zone %s (%s), change %s%s", fqdn, type, value,
	    r->ttl, z.id, was, change_id ? change_id : "?",
	    r->wait == WAIT_INSYNC ? " INSYNC" : "");
	rc = 0;
out:
	rrset_free(&cur);
	rrset_free(&prev);
	free(z.id);
	free(z.name);
	free(fqdn);
	free(change_id);
	free(refusal);
	return rc;
}

/* ---- plan with live reads ---------------------------------------------- */

/* What Route53 holds now for the name, and so what run would do.  Reads only. */
static void
plan_live(struct hb_ctx *ctx, struct r53_cfg *r, const char *value)
{
	struct zone z = {0};
	struct rrset cur = {0};
	struct buf vals;
	char *fqdn = dns_canon(r->name);
	const char *type = type_names[r->type];

	buf_init(&vals);
	if (r53_zone(ctx, r, &z) < 0 || rr_read(ctx, &z, fqdn, type, &cur) < 0)
		goto fail;
	values_str(&vals, cur.values, cur.nvalues);
	if (!cur.exists)
		eff_describe(ctx->eff, EK_READ, "now: zone %s has no %s %s record: run would create "
		    "it", z.id, fqdn, type);
	else if (cur.special)
		eff_describe(ctx->eff, EK_READ, "now: %s %s is %s: run would fail", fqdn, type,
		    cur.special);
	else if (value && rr_holds(&cur, r->type, value, r->ttl))
		eff_describe(ctx->eff, EK_READ, "now: %s %s holds %s (ttl %lld): run changes nothing",
		    fqdn, type, vals.data ? vals.data : "", cur.ttl);
	else
		eff_describe(ctx->eff, EK_READ, "now: %s %s holds %s (ttl %lld): run would point it "
		    "at %s", fqdn, type, vals.data ? vals.data : "", cur.ttl, value ? value : "?");
	goto out;
fail:
	eff_describe(ctx->eff, EK_READ, "route53: cannot read the record now (%s)",
	    ctx->message ? ctx->message : "unknown error");
	free(ctx->message);
	ctx->message = NULL;
out:
	rrset_free(&cur);
	free(z.id);
	free(z.name);
	free(fqdn);
	buf_free(&vals);
}

/* ---- permissions -------------------------------------------------------- */

static void
r53_permissions(const void *cfg, struct iam_policy *p)
{
	const struct r53_cfg *r = cfg;
	char *fqdn = dns_canon(r->name), *zone;
	struct iam_stmt *s;

	/* Route53's normalized form: lower case, no trailing dot. */
	fqdn[strlen(fqdn) - 1] = '\0';
	if (r->zone_is_id)
		zone = xasprintf("arn:aws:route53:::hostedzone/%s",
		    str_starts(r->zone, "/hostedzone/") ? r->zone + strlen("/hostedzone/") : r->zone);
	else {
		zone = xstrdup("arn:aws:route53:::hostedzone/*");
		iam_unscoped(p, "route53:ListHostedZonesByName", "find the zone named in the "
		    "manifest");
		iam_note(p, "the zone is named by name (%s), so its id is not known in advance: "
		    "reading and changing records is allowed in every hosted zone, for the name %s "
		    "only; write the zone's id (Z...) in the manifest to allow one zone", r->zone,
		    fqdn);
	}
	s = iam_stmt(p, "read %s %s before changing it", fqdn, type_names[r->type]);
	iam_action(s, "route53:ListResourceRecordSets");
	iam_resource(s, "%s", zone);
	s = iam_stmt(p, "point %s %s at this instance (%s)", fqdn, type_names[r->type],
	    r->mode == MODE_SWAP ? "DELETE as read and CREATE, in one batch" : "UPSERT");
	iam_action(s, "route53:ChangeResourceRecordSets");
	iam_resource(s, "%s", zone);
	iam_cond(s, "ForAllValues:StringEquals",
	    "route53:ChangeResourceRecordSetsNormalizedRecordNames", "%s", fqdn);
	iam_cond(s, "ForAllValues:StringEquals", "route53:ChangeResourceRecordSetsRecordTypes",
	    "%s", type_names[r->type]);
	if (r->mode == MODE_SWAP) {
		iam_cond(s, "ForAllValues:StringEquals", "route53:ChangeResourceRecordSetsActions",
		    "CREATE");
		iam_cond(s, "ForAllValues:StringEquals", "route53:ChangeResourceRecordSetsActions",
		    "DELETE");
	} else
		iam_cond(s, "ForAllValues:StringEquals", "route53:ChangeResourceRecordSetsActions",
		    "UPSERT");
	if (r->wait == WAIT_INSYNC) {
		s = iam_stmt(p, "wait until the change is INSYNC (a change's id is known only "
		    "once made)");
		iam_action(s, "route53:GetChange");
		iam_resource(s, "arn:aws:route53:::change/*");
	}
	free(zone);
	free(fqdn);
}

/* ---- watch ------------------------------------------------------------ */

/* One look at the record (the same reads as apply): sets r->api_*. */
static void
look_at_record(struct hb_ctx *ctx, struct r53_cfg *r, const char *value)
{
	struct zone z = {0};
	struct rrset cur = {0};
	struct buf vals;
	char *fqdn = dns_canon(r->name);
	const char *type = type_names[r->type];
	int rc;

	buf_init(&vals);
	free(r->api_msg);
	r->api_msg = NULL;
	r->api_anywhere = false;
	r->api_health = HEALTH_UNKNOWN;
	free(ctx->message);
	ctx->message = NULL;
	ctx->scope = FAIL_HERE;
	if ((rc = r53_zone(ctx, r, &z)) == 0)
		rc = rr_read(ctx, &z, fqdn, type, &cur);
	if (rc < 0) {
		/* A zone that does not exist is a verdict; no answer, or no
		 * permission to ask, leaves the check unable to run. */
		if (rc == R53_NO_ZONE) {
			free(r->zone_id);  /* looked up by name again next time */
			r->zone_id = NULL;
			r->api_health = HEALTH_FAILED;
			r->api_anywhere = true;
		}
		r->api_msg = xstrdup(ctx->message ? ctx->message : "Route53 did not answer");
		goto out;
	}
	values_str(&vals, cur.values, cur.nvalues);
	if (rr_holds(&cur, r->type, value, r->ttl)) {
		r->api_health = HEALTH_OK;
		r->api_msg = xasprintf("%s %s holds %s (ttl %lld) in zone %s", fqdn, type, value,
		    r->ttl, z.id);
	} else if (cur.special != NULL) {
		r->api_health = HEALTH_FAILED;
		r->api_anywhere = true;
		r->api_msg = xasprintf("%s %s in zone %s is %s now: haboot manages a simple record "
		    "only", fqdn, type, z.id, cur.special);
	} else {
		r->api_health = HEALTH_FAILED;
		r->api_msg = xasprintf("%s %s in zone %s holds %s (ttl %lld), not this instance's "
		    "%s (ttl %lld)", fqdn, type, z.id, cur.exists ? vals.data : "nothing",
		    cur.exists ? cur.ttl : 0, value, r->ttl);
	}
out:
	rrset_free(&cur);
	free(z.id);
	free(z.name);
	free(fqdn);
	buf_free(&vals);
}

/* Does the name still point here?  At most once per api_interval while it
 * does, and every round while it does not (a verdict deserves a second
 * look before the repair). */
static enum health
r53_check(struct hb_ctx *ctx, void *p)
{
	struct r53_cfg *r = p;
	const char *value;

	if (ctx->aws == NULL) {
		ctx_fail(ctx, "no AWS client: the record cannot be looked at");
		return HEALTH_UNKNOWN;
	}
	if ((value = resolve_value(ctx, r)) == NULL)
		return HEALTH_UNKNOWN;  /* the metadata service did not answer */
	if (r->api_health == HEALTH_FAILED)
		r->api_next = 0;
	if (ctx_api_due(ctx, &r->api_next))
		look_at_record(ctx, r, value);
	if (r->api_health == HEALTH_OK)
		ctx_result(ctx, "%s", r->api_msg);
	else
		(r->api_anywhere ? ctx_fail_anywhere : ctx_fail)(ctx, "%s", r->api_msg ?
		    r->api_msg : "not looked at yet");
	return r->api_health;
}

/* Points the name here again, as apply does (swap or upsert); the next
 * check looks afresh. */
static int
r53_repair(struct hb_ctx *ctx, void *p)
{
	struct r53_cfg *r = p;

	r->api_next = 0;
	return r53_apply(ctx, p);
}

const struct module module_route53 = {
	.name = "route53",
	.summary = "point the service's DNS name at this instance",
	.required_default = true,
	.needs_aws = true,
	.after = module_serving_path,  /* invariant 8: DNS follows the service */
	.parse = r53_parse,
	.plan = r53_plan,
	.apply = r53_apply,
	.permissions = r53_permissions,
	.check = r53_check,
	.repair = r53_repair,
	.free = r53_free,
};
