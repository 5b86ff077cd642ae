/* aws.c: signed, retried AWS API calls. */
#include "aws.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backoff.h"
#include "creds.h"
#include "http.h"
#include "imds.h"
#include "log.h"
#include "manifest/metadata.h"
#include "sigv4.h"

#define DEFAULT_ATTEMPTS 3
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 20000
#define MAX_ATTEMPTS_LIMIT 20

static const struct svcdef {
	const char *name;       /* CLI name and SigV4 signing name */
	const char *env;        /* AWS_ENDPOINT_URL_<env>, the SDKs' service id */
	const char *env_alias;  /* what people also type */
	const char *version;    /* query API version; NULL for REST-XML */
	const char *prefix;     /* endpoint host prefix */
	bool global;            /* one endpoint per partition (Route 53) */
} svcs[AWS_NSERVICES] = {
	[AWS_EC2] = {"ec2", "EC2", NULL, "2016-11-15", "ec2", false},
	[AWS_ROUTE53] = {"route53", "ROUTE_53", "ROUTE53", NULL, "route53", true},
	[AWS_SNS] = {"sns", "SNS", NULL, "2010-03-31", "sns", false},
	[AWS_MONITORING] = {"monitoring", "CLOUDWATCH", "MONITORING", "2010-08-01", "monitoring",
	    false},
	[AWS_AUTOSCALING] = {"autoscaling", "AUTO_SCALING", "AUTOSCALING", "2011-01-01",
	    "autoscaling", false},
};

/* Standard-mode retryable error codes (botocore's and the brief's list). */
static const char *const throttle_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
	"TooManyRequestsException", "ProvisionedThroughputExceededException",
	"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
	"RequestThrottled", "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
};
static const char *const transient_codes[] = {
	"RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure",
	"ServiceUnavailable",
};
/* Answers that mean "the role may not do this": every instance with this role
 * would be refused alike. */
static const char *const denied_codes[] = {
	"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthorizationError",
};
/* Answers that mean "these keys are too old": EC2 says RequestExpired. */
static const char *const expired_codes[] = {
	"ExpiredToken", "ExpiredTokenException", "RequestExpired",
};

struct endpoint {
	char *url;          /* scheme://authority[/prefix], no trailing slash */
	char *host;         /* Host header: lower-case host, port unless the default */
	char *path_prefix;  /* "" or "/prefix" */
	char *sign_region;
	struct http *http;
};

struct aws {
	struct imds *imds;      /* borrowed */
	struct metadata *md;    /* borrowed */
	char *region;           /* NULL until aws_resolve */
	struct creds_src creds;
	struct endpoint ep[AWS_NSERVICES];
	int max_attempts;
	long long connect_ms, total_ms;
	long long deadline;
	char *fixed_date;
};

/* ---- errors ---------------------------------------------------------- */

void
aws_error_init(struct aws_error *e)
{
	memset(e, 0, sizeof(*e));
}

void
aws_error_free(struct aws_error *e)
{
	free(e->code);
	free(e->message);
	free(e->request_id);
	free(e->action);
	aws_error_init(e);
}

static void
set_error(struct aws_error *e, enum aws_err_kind kind, long status, const char *code,
    const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	free(e->code);
	free(e->message);
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	e->kind = kind;
	e->status = status;
	e->code = xstrdup(code);
	e->message = buf_steal(&b);
}

static bool in_list(const char *code, const char *const *list, size_t n);

/* The text after marker in msg, up to the first of the stop characters. */
static char *
field(const char *msg, const char *marker, const char *stop)
{
	const char *p = msg ? strstr(msg, marker) : NULL;

	if (p == NULL)
		return NULL;
	p += strlen(marker);
	return xstrndup(p, strcspn(p, stop));
}

/* "permission denied: ..." naming the action, the resource and what to do.
 * AWS's other services say both in their message ("User: ARN is not
 * authorized to perform: ACTION on resource: ARN because ..."); EC2 encodes
 * its reasons, which only STS decodes, and the caller's message names what it
 * acted on. */
static char *
denied_str(const struct aws_error *e)
{
	char *who = field(e->message, "User: ", " ");
	char *action = field(e->message, "to perform: ", " ");
	char *res = field(e->message, " on resource: ", " ");
	char *enc = field(e->message, "Encoded authorization failure message: ", " \n");
	const char *why = NULL;
	struct buf b;

	if (e->message && strstr(e->message, "explicit deny"))
		why = "a Deny statement refuses it";
	else if (e->message && strstr(e->message, "no identity-based policy allows"))
		why = "no statement of the role's policy allows it";
	buf_init(&b);
	buf_printf(&b, "permission denied (%s): the instance role%s%s%s may not call %s", e->code,
	    who ? " (" : "", who ? who : "", who ? ")" : "",
	    action ? action : e->action ? e->action : "this action");
	if (res != NULL)
		buf_printf(&b, " on %s", res);
	if (why != NULL)
		buf_printf(&b, ": %s", why);
	if (enc != NULL && *enc != '\0')
		buf_printf(&b, "; EC2 encodes why, to decode it (with sts:DecodeAuthorizationMessage): "
		    "aws sts decode-authorization-message --encoded-message %s", enc);
	else if (who == NULL && e->message && *e->message)
		buf_printf(&b, " (%s)", e->message);
	buf_adds(&b, ". `haboot iam-policy` prints the policy this manifest needs");
	free(who);
	free(action);
	free(res);
	free(enc);
	return buf_steal(&b);
}

char *
aws_error_str(const struct aws_error *e)
{
	if (e->code == NULL)
		return xstrdup(e->message ? e->message : "unknown error");
	if (aws_error_denied(e))
		return denied_str(e);
	if (e->message == NULL || *e->message == '\0')
		return xstrdup(e->code);
	return xasprintf("%s: %s", e->code, e->message);
}

bool
aws_error_denied(const struct aws_error *e)
{
	return e->kind == AWS_ERR_API &&
	    in_list(e->code, denied_codes, HB_ARRAY_LEN(denied_codes));
}

static bool
in_list(const char *code, const char *const *list, size_t n)
{
	for (size_t i = 0; code != NULL && i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return true;
	return false;
}

bool
aws_error_is(const struct aws_error *e, const char *code)
{
	return e->code != NULL && strcmp(e->code, code) == 0;
}

bool
aws_error_retryable(const struct aws_error *e)
{
	switch (e->kind) {
	case AWS_ERR_NETWORK:
		return true;
	case AWS_ERR_API:
		return e->status >= 500 || e->status == 429 ||
		    in_list(e->code, throttle_codes, HB_ARRAY_LEN(throttle_codes)) ||
		    in_list(e->code, transient_codes, HB_ARRAY_LEN(transient_codes));
	default:
		return false;
	}
}

/* A short, printable excerpt of a body that is not an AWS error document. */
static char *
excerpt(const char *body, size_t len)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < len && b.len < 120; i++) {
		unsigned char c = (unsigned char)body[i];

		buf_addc(&b, c >= 0x20 && c < 0x7f ? (char)c : ' ');
	}
	return buf_steal(&b);
}

void
aws_parse_error(long status, const char *body, size_t len, const char *request_id,
    struct aws_error *e)
{
	struct xml_node *root = NULL;
	const char *code = NULL, *msg = NULL, *rid = NULL;
	char *why = NULL;
	struct buf msgs;

	buf_init(&msgs);
	free(e->code);
	free(e->message);
	free(e->request_id);
	e->code = e->message = e->request_id = NULL;
	e->kind = AWS_ERR_API;
	e->status = status;
	if (len > 0)
		root = xml_parse(body, len, &why);
	if (root != NULL && strcmp(root->name, "InvalidChangeBatch") == 0) {
		/* Route 53 lists every problem of a change batch. */
		const struct xml_node *ms = xml_child(root, "Messages");

		code = "InvalidChangeBatch";
		for (const struct xml_node *m = xml_next(ms, "Message", NULL); m;
		     m = xml_next(ms, "Message", m))
			buf_printf(&msgs, "%s%s", msgs.len ? "; " : "", m->text);
		if (msgs.len == 0 && (msg = xml_text(root, "Message")) != NULL)
			buf_adds(&msgs, msg);
		msg = msgs.data;
	} else if (root != NULL) {
		/* EC2: Response/Errors/Error; others: ErrorResponse/Error. */
		const struct xml_node *err = xml_find(root, "Errors/Error");

		if (err == NULL)
			err = xml_find(root, "Error");
		if (err == NULL && strcmp(root->name, "Error") == 0)
			err = root;
		code = xml_text(err, "Code");
		msg = xml_text(err, "Message");
	}
	if (root != NULL) {
		rid = xml_text(root, "RequestID");
		if (rid == NULL)
			rid = xml_text(root, "RequestId");
	}
	if (code != NULL && *code != '\0') {
		e->code = xstrdup(code);
		e->message = xstrdup(msg ? msg : "");
	} else {
		char *ex = excerpt(body, len);

		e->code = xasprintf("HTTP%ld", status);
		e->message = *ex ? xasprintf("HTTP %ld without an AWS error document: %s", status, ex)
		    : xasprintf("HTTP %ld with an empty body", status);
		free(ex);
	}
	if (rid != NULL && *rid != '\0')
		e->request_id = xstrdup(rid);
	else if (request_id != NULL && *request_id != '\0')
		e->request_id = xstrdup(request_id);
	xml_free(root);
	free(why);
	buf_free(&msgs);
}

/* ---- parameters -------------------------------------------------------- */

void
aws_params_init(struct aws_params *p)
{
	memset(p, 0, sizeof(*p));
}

void
aws_params_free(struct aws_params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->key[i]);
		free(p->val[i]);
	}
	free(p->key);
	free(p->val);
	aws_params_init(p);
}

void
aws_param(struct aws_params *p, const char *key, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->key = xrealloc(p->key, p->cap * sizeof(*p->key));
		p->val = xrealloc(p->val, p->cap * sizeof(*p->val));
	}
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	p->key[p->n] = xstrdup(key);
	p->val[p->n] = buf_steal(&b);
	p->n++;
}

/* ---- services and endpoints -------------------------------------------- */

int
aws_service_find(const char *name)
{
	if (strcmp(name, "cloudwatch") == 0)
		return AWS_MONITORING;
	if (strcmp(name, "route-53") == 0)
		return AWS_ROUTE53;
	for (int i = 0; i < AWS_NSERVICES; i++)
		if (strcmp(svcs[i].name, name) == 0)
			return i;
	return -1;
}

const char *
aws_service_name(enum aws_service s)
{
	return svcs[s].name;
}

bool
aws_service_is_rest(enum aws_service s)
{
	return svcs[s].version == NULL;
}

const char *
aws_region(const struct aws *a)
{
	return a->region;
}

const char *
aws_endpoint(const struct aws *a, enum aws_service s)
{
	return a->ep[s].url;
}

void
aws_set_max_attempts(struct aws *a, int n)
{
	a->max_attempts = n < 1 ? 1 : n > MAX_ATTEMPTS_LIMIT ? MAX_ATTEMPTS_LIMIT : n;
}

void
aws_set_deadline(struct aws *a, long long mono_deadline)
{
	a->deadline = mono_deadline;
}

void
aws_set_timeouts(struct aws *a, long long connect_ms, long long total_ms)
{
	a->connect_ms = connect_ms;
	a->total_ms = total_ms;
}

void
aws_set_fixed_date(struct aws *a, const char *amz_date)
{
	free(a->fixed_date);
	a->fixed_date = amz_date ? xstrdup(amz_date) : NULL;
}

static bool
valid_region(const char *r)
{
	if (*r == '\0' || strlen(r) > 40)
		return false;
	for (; *r; r++)
		if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '-')
			return false;
	return true;
}

/* Splits an endpoint URL into what requests and signatures need. */
static int
parse_endpoint(const char *url, struct endpoint *ep, char **err)
{
	const char *p, *auth, *end, *port = NULL;
	bool https;
	struct buf host;

	if (str_starts(url, "https://"))
		https = true;
	else if (str_starts(url, "http://"))
		https = false;
	else {
		*err = xasprintf("endpoint %s is not an http:// or https:// URL", url);
		return -1;
	}
	auth = url + (https ? 8 : 7);
	end = auth + strcspn(auth, "/?#");
	if (end == auth || memchr(auth, '@', (size_t)(end - auth)) != NULL || strchr(end, '?') ||
	    strchr(end, '#')) {
		*err = xasprintf("endpoint %s: expected scheme://host[:port][/path], with no user, "
		    "query or fragment", url);
		return -1;
	}
	/* The port, if any, follows the host (after "]" for an IPv6 literal). */
	p = *auth == '[' ? memchr(auth, ']', (size_t)(end - auth)) : auth;
	if (p == NULL) {
		*err = xasprintf("endpoint %s: unterminated IPv6 address", url);
		return -1;
	}
	port = memchr(p, ':', (size_t)(end - p));
	buf_init(&host);
	for (const char *c = auth; c < (port ? port : end); c++)
		buf_addc(&host, (char)tolower((unsigned char)*c));
	if (port != NULL) {
		long n = strtol(port + 1, NULL, 10);

		if (port + 1 == end || strspn(port + 1, "0123456789") != (size_t)(end - port - 1) ||
		    n < 1 || n > 65535) {
			*err = xasprintf("endpoint %s: bad port", url);
			buf_free(&host);
			return -1;
		}
		/* Signers leave the scheme's default port out of Host. */
		if (n != (https ? 443 : 80))
			buf_printf(&host, ":%ld", n);
	}
	ep->host = buf_steal(&host);
	size_t plen = strlen(end);
	while (plen > 0 && end[plen - 1] == '/')
		plen--;
	ep->path_prefix = xstrndup(end, plen);
	ep->url = xasprintf("%.*s%s", (int)(end - url), url, ep->path_prefix);
	return 0;
}

static void
free_endpoint(struct endpoint *ep)
{
	free(ep->url);
	free(ep->host);
	free(ep->path_prefix);
	free(ep->sign_region);
	http_free(ep->http);
	memset(ep, 0, sizeof(*ep));
}

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int
setup_endpoint(struct aws *a, enum aws_service s, char **err)
{
	const struct svcdef *d = &svcs[s];
	struct endpoint *ep = &a->ep[s];
	const char *url = NULL, *v = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	char *def = NULL, *name;
	bool cn = str_starts(a->region, "cn-"), gov = str_starts(a->region, "us-gov-");
	int rc = -1;

	if (v == NULL || strcasecmp(v, "true") != 0) {
		name = xasprintf("AWS_ENDPOINT_URL_%s", d->env);
		url = env_nonempty(name);
		free(name);
		if (url == NULL && d->env_alias != NULL) {
			name = xasprintf("AWS_ENDPOINT_URL_%s", d->env_alias);
			url = env_nonempty(name);
			free(name);
		}
		if (url == NULL)
			url = env_nonempty("AWS_ENDPOINT_URL");
	}
	if (d->global) {
		/* Route 53 has one endpoint and one signing region per partition. */
		ep->sign_region = xstrdup(cn ? "cn-northwest-1" : gov ? "us-gov-west-1" : "us-east-1");
		def = xstrdup(cn ? "https://route53.amazonaws.com.cn" :
		    gov ? "https://route53.us-gov.amazonaws.com" : "https://route53.amazonaws.com");
	} else {
		ep->sign_region = xstrdup(a->region);
		def = xasprintf("https://%s.%s.amazonaws.com%s", d->prefix, a->region, cn ? ".cn" : "");
	}
	if (parse_endpoint(url ? url : def, ep, err) < 0)
		goto out;
	if ((ep->http = http_new()) == NULL) {
		*err = xstrdup("cannot initialise libcurl");
		goto out;
	}
	rc = 0;
out:
	free(def);
	return rc;
}

struct aws *
aws_new(struct imds *imds, struct metadata *md, char **err)
{
	struct aws *a = xcalloc(1, sizeof(*a));
	const char *v;

	*err = NULL;
	a->imds = imds;
	a->md = md;
	creds_src_init(&a->creds, imds);
	a->max_attempts = DEFAULT_ATTEMPTS;
	a->connect_ms = 5000;
	a->total_ms = 30000;
	if ((v = env_nonempty("AWS_MAX_ATTEMPTS")) != NULL) {
		char *e;
		long n = strtol(v, &e, 10);

		if (*e != '\0' || n < 1 || n > MAX_ATTEMPTS_LIMIT) {
			*err = xasprintf("AWS_MAX_ATTEMPTS=%s: expected a number from 1 to %d", v,
			    MAX_ATTEMPTS_LIMIT);
			aws_free(a);
			return NULL;
		}
		a->max_attempts = (int)n;
	}
	return a;
}

int
aws_resolve(struct aws *a, char **err)
{
	const char *r;
	struct buf b;
	int rc = -1;

	*err = NULL;
	if (a->region != NULL)
		return 0;
	buf_init(&b);
	if ((r = env_nonempty("AWS_REGION")) == NULL && (r = env_nonempty("AWS_DEFAULT_REGION")) == NULL) {
		if (a->md != NULL)
			r = md_get(a->md, "placement/region");
		else if (a->imds != NULL && imds_get(a->imds, "placement/region", &b) == IMDS_OK) {
			while (b.len > 0 && isspace((unsigned char)b.data[b.len - 1]))
				b.data[--b.len] = '\0';
			r = b.data;
		}
	}
	if (r == NULL || *r == '\0') {
		*err = xstrdup("cannot tell the AWS region: set AWS_REGION (or --metadata "
		    "region=...), or run on EC2 where IMDS gives placement/region");
		goto out;
	}
	if (!valid_region(r)) {
		*err = xasprintf("\"%s\" is not an AWS region name (like us-west-2)", r);
		goto out;
	}
	a->region = xstrdup(r);
	for (int s = 0; s < AWS_NSERVICES; s++)
		if (setup_endpoint(a, (enum aws_service)s, err) < 0)
			goto out;
	rc = 0;
out:
	if (rc < 0) {
		free(a->region);
		a->region = NULL;
		for (int s = 0; s < AWS_NSERVICES; s++)
			free_endpoint(&a->ep[s]);
	}
	buf_free(&b);
	return rc;
}

int
aws_credentials(struct aws *a, char **err)
{
	const struct creds *cr;

	return creds_get(&a->creds, &cr, err);
}

void
aws_free(struct aws *a)
{
	if (a == NULL)
		return;
	for (int s = 0; s < AWS_NSERVICES; s++)
		free_endpoint(&a->ep[s]);
	creds_src_free(&a->creds);
	free(a->region);
	free(a->fixed_date);
	free(a);
}

/* ---- the call ---------------------------------------------------------- */

struct call {
	enum aws_service svc;
	const char *label;       /* "DescribeVolumes", "GET /2013-04-01/..." */
	const char *method;
	const char *path;        /* encoded, endpoint prefix not included */
	const char *query;       /* encoded, "" none */
	const char *content_type;
	const char *body;
	size_t bodylen;
};

static int
call_once(struct aws *a, const struct call *c, const struct creds *cr, struct http_resp *resp)
{
	struct endpoint *ep = &a->ep[c->svc];
	char date[17];
	struct sigv4_header sh[4];
	size_t nsh = 0;
	struct buf auth, path;
	char *hdrs[6] = {NULL};
	size_t nh = 0;
	char *url;
	int rc;

	buf_init(&auth);
	buf_init(&path);
	if (a->fixed_date != NULL)
		snprintf(date, sizeof(date), "%s", a->fixed_date);
	else
		sigv4_amz_date(wall_ms(), date);
	buf_printf(&path, "%s%s", ep->path_prefix, c->path);
	sh[nsh++] = (struct sigv4_header){"Host", ep->host};
	sh[nsh++] = (struct sigv4_header){"X-Amz-Date", date};
	if (c->content_type != NULL)
		sh[nsh++] = (struct sigv4_header){"Content-Type", c->content_type};
	if (cr->session_token != NULL)
		sh[nsh++] = (struct sigv4_header){"X-Amz-Security-Token", cr->session_token};
	struct sigv4_req sr = {
		.method = c->method,
		.path = path.data,
		.query = c->query,
		.headers = sh,
		.nheaders = nsh,
		.body = c->body,
		.bodylen = c->bodylen,
		.amz_date = date,
		.region = ep->sign_region,
		.service = svcs[c->svc].name,
		.access_key = cr->access_key,
		.secret_key = cr->secret_key,
	};
	sigv4_authorization(&sr, &auth);
	for (size_t i = 0; i < nsh; i++)
		hdrs[nh++] = xasprintf("%s: %s", sh[i].name, sh[i].value);
	hdrs[nh++] = xasprintf("Authorization: %s", auth.data);
	url = xasprintf("%s%s%s%s", ep->url, c->path, *c->query ? "?" : "", c->query);
	long long total = a->total_ms;
	if (a->deadline > 0) {
		long long left = a->deadline - mono_ms();

		if (left < total)
			total = left < 1000 ? 1000 : left;
	}
	struct http_req rq = {
		.method = c->method,
		.url = url,
		.headers = (const char *const *)hdrs,
		.body = c->body,
		.bodylen = c->bodylen,
		.connect_timeout_ms = a->connect_ms < total ? a->connect_ms : total,
		.timeout_ms = total,
	};
	rc = http_do(ep->http, &rq, resp);
	/* Headers hold the session token and the signature. */
	for (size_t i = 0; i < nh; i++) {
		explicit_bzero(hdrs[i], strlen(hdrs[i]));
		free(hdrs[i]);
	}
	free(url);
	buf_free(&auth);
	buf_free(&path);
	return rc;
}

static int
call(struct aws *a, const struct call *c, struct buf *out, struct aws_error *err)
{
	const char *sname = svcs[c->svc].name;
	struct http_resp resp;
	bool refreshed = false;
	int attempt, rc = -1, max = a->max_attempts;
	char *why = NULL;

	http_resp_init(&resp);
	aws_error_free(err);
	if (aws_resolve(a, &why) < 0) {
		set_error(err, AWS_ERR_LOCAL, 0, "NoRegion", "%s", why);
		goto out;
	}
	for (attempt = 1;; attempt++) {
		const struct creds *cr;
		long long t0, now;

		if (creds_get(&a->creds, &cr, &why) < 0) {
			set_error(err, AWS_ERR_LOCAL, 0, "NoCredentials", "%s", why);
			goto out;
		}
		t0 = mono_ms();
		err->attempts = attempt;
		if (call_once(a, c, cr, &resp) < 0) {
			const char *ca = http_ca_bundle();

			if (strstr(resp.err, "certificate") != NULL)
				set_error(err, AWS_ERR_LOCAL, 0, "ConnectionError", "cannot reach %s: %s "
				    "(TLS is always verified; CA bundle %s: set AWS_CA_BUNDLE to the "
				    "bundle that signs this endpoint)", a->ep[c->svc].url, resp.err,
				    ca ? ca : "libcurl's default");
			else
				set_error(err, resp.transient ? AWS_ERR_NETWORK : AWS_ERR_LOCAL, 0,
				    "ConnectionError", "cannot reach %s: %s", a->ep[c->svc].url, resp.err);
			log_debug("aws", "%s %s: %s (%lldms, attempt %d/%d)", sname, c->label, resp.err,
			    mono_ms() - t0, attempt, max);
		} else if (resp.status >= 200 && resp.status < 300) {
			log_debug("aws", "%s %s: HTTP %ld in %lldms (attempt %d/%d)", sname, c->label,
			    resp.status, mono_ms() - t0, attempt, max);
			buf_reset(out);
			buf_add(out, resp.body.data, resp.body.len);
			aws_error_free(err);
			rc = 0;
			goto out;
		} else {
			const char *rid = http_resp_header(&resp, "x-amzn-RequestId");

			if (rid == NULL)
				rid = http_resp_header(&resp, "x-amz-request-id");
			aws_parse_error(resp.status, resp.body.data, resp.body.len, rid, err);
			err->attempts = attempt;
			log_debug("aws", "%s %s: HTTP %ld %s in %lldms (attempt %d/%d)", sname, c->label,
			    resp.status, err->code, mono_ms() - t0, attempt, max);
			/* Role keys can expire between our check and AWS's: fetch once more. */
			if (in_list(err->code, expired_codes, HB_ARRAY_LEN(expired_codes)) &&
			    !a->creds.from_env && !refreshed) {
				log_info("aws", "%s %s: %s: fetching the instance role's credentials again",
				    sname, c->label, err->code);
				creds_invalidate(&a->creds);
				refreshed = true;
				max++;
				continue;
			}
		}
		if (!aws_error_retryable(err) || attempt >= max)
			goto out;
		long long delay = backoff_full_jitter(attempt - 1, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
		now = mono_ms();
		if (a->deadline > 0 && now + delay >= a->deadline) {
			log_warn("aws", "%s %s: %s %s: no time left before the deadline for a retry",
			    sname, c->label, err->code, err->message);
			goto out;
		}
		char d[32];
		fmt_duration(delay, d, sizeof(d));
		log_info("aws", "%s %s: %s%s%s (HTTP %ld); retry %d of %d in %s", sname, c->label,
		    err->code, err->kind == AWS_ERR_NETWORK ? " " : "",
		    err->kind == AWS_ERR_NETWORK ? err->message : "", err->status, attempt, max - 1, d);
		sleep_ms(delay);
	}
out:
	free(why);
	http_resp_free(&resp);
	return rc;
}

static void
form_add(struct buf *b, const char *k, const char *v)
{
	if (b->len)
		buf_addc(b, '&');
	sigv4_uri_encode(b, k, strlen(k), 0);
	buf_addc(b, '=');
	sigv4_uri_encode(b, v, strlen(v), 0);
}

int
aws_query_raw(struct aws *a, enum aws_service s, const char *action,
    const struct aws_params *p, struct buf *out, struct aws_error *err)
{
	struct buf body;
	int rc;

	if (svcs[s].version == NULL) {
		aws_error_free(err);
		set_error(err, AWS_ERR_LOCAL, 0, "InvalidCall", "%s is a REST service, not a query "
		    "service", svcs[s].name);
		return -1;
	}
	buf_init(&body);
	form_add(&body, "Action", action);
	form_add(&body, "Version", svcs[s].version);
	for (size_t i = 0; p != NULL && i < p->n; i++)
		form_add(&body, p->key[i], p->val[i]);
	struct call c = {
		.svc = s,
		.label = action,
		.method = "POST",
		.path = "/",
		.query = "",
		.content_type = "application/x-www-form-urlencoded; charset=utf-8",
		.body = body.data,
		.bodylen = body.len,
	};
	rc = call(a, &c, out, err);
	if (rc < 0 && err->kind == AWS_ERR_API)
		err->action = xasprintf("%s:%s", s == AWS_MONITORING ? "cloudwatch" : svcs[s].name,
		    action);
	buf_free(&body);
	return rc;
}

static int
parse_answer(const struct buf *raw, struct xml_node **out, struct aws_error *err,
    enum aws_service s, const char *label)
{
	char *why = NULL;

	if ((*out = xml_parse(raw->data, raw->len, &why)) == NULL) {
		set_error(err, AWS_ERR_API, 200, "MalformedAnswer", "%s %s answered with XML that "
		    "does not parse: %s", svcs[s].name, label, why);
		free(why);
		return -1;
	}
	return 0;
}

int
aws_query(struct aws *a, enum aws_service s, const char *action, const struct aws_params *p,
    struct xml_node **out, struct aws_error *err)
{
	struct buf raw;
	int rc;

	*out = NULL;
	buf_init(&raw);
	if ((rc = aws_query_raw(a, s, action, p, &raw, err)) == 0)
		rc = parse_answer(&raw, out, err, s, action);
	buf_free(&raw);
	return rc;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX in s[0..n) and encodes the result the one way SigV4 accepts. */
static void
reencode(struct buf *out, const char *s, size_t n, int keep_slash)
{
	struct buf raw;

	buf_init(&raw);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			buf_addc(&raw, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
		} else
			buf_addc(&raw, s[i]);
	}
	sigv4_uri_encode(out, raw.data ? raw.data : "", raw.len, keep_slash);
	buf_free(&raw);
}

static void
normalise_query(const char *q, struct buf *out)
{
	while (q && *q) {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		size_t klen = eq ? (size_t)(eq - q) : len;

		if (len > 0) {
			if (out->len)
				buf_addc(out, '&');
			reencode(out, q, klen, 0);
			buf_addc(out, '=');
			if (eq)
				reencode(out, eq + 1, len - klen - 1, 0);
		}
		q += len;
		if (*q == '&')
			q++;
	}
}

int
aws_rest_raw(struct aws *a, enum aws_service s, const char *method, const char *path_query,
    const char *body, struct buf *out, struct aws_error *err)
{
	struct buf path, query;
	const char *qm = strchr(path_query, '?');
	size_t plen = qm ? (size_t)(qm - path_query) : strlen(path_query);
	char *label;
	int rc;

	if (path_query[0] != '/') {
		aws_error_free(err);
		set_error(err, AWS_ERR_LOCAL, 0, "InvalidCall", "a REST path starts with '/', "
		    "not \"%s\"", path_query);
		return -1;
	}
	buf_init(&path);
	buf_init(&query);
	reencode(&path, path_query, plen, 1);
	normalise_query(qm ? qm + 1 : NULL, &query);
	label = xasprintf("%s %s", method, path.data);
	struct call c = {
		.svc = s,
		.label = label,
		.method = method,
		.path = path.data,
		.query = query.data ? query.data : "",
		.content_type = body ? "application/xml" : NULL,
		.body = body,
		.bodylen = body ? strlen(body) : 0,
	};
	rc = call(a, &c, out, err);
	free(label);
	buf_free(&path);
	buf_free(&query);
	return rc;
}

int
aws_rest(struct aws *a, enum aws_service s, const char *method, const char *path_query,
    const char *body, struct xml_node **out, struct aws_error *err)
{
	struct buf raw;
	int rc;

	*out = NULL;
	buf_init(&raw);
	if ((rc = aws_rest_raw(a, s, method, path_query, body, &raw, err)) == 0)
		rc = parse_answer(&raw, out, err, s, path_query);
	buf_free(&raw);
	return rc;
}
