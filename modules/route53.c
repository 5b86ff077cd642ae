/* route53.c: point the service's DNS name at this instance. */
#include <stdlib.h>
#include <string.h>

#include "../bootstrap/util.h"
#include "module.h"

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

const struct module module_route53 = {
	.name = "route53",
	.summary = "point the service's DNS name at this instance",
	.required_default = true,
	.parse = r53_parse,
	.plan = r53_plan,
	.apply = NULL,
	.free = r53_free,
};
