/* parse.c: the service module's manifest, every value checked here so a bad
 * unit name, an empty argv, a port out of range or a bad URL is a LINE:COL
 * error from `haboot validate`, not a failed boot.  Users and groups are
 * checked for their form only: validate runs where they need not exist
 * (a laptop, CI); run looks them up on the instance and says if one is
 * missing.  schemas/mkschema.py mirrors each check. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "service.h"
#include "util.h"

static const char *const svc_keys[] = {
	"unit", "command", "user", "group", "environment", "directory", "log", "pidfile",
	"init", "stop", "data", "ready", NULL,
};
static const char *const stop_keys[] = {"command", "timeout", NULL};
static const char *const data_keys[] = {"path", "owner", "group", "mode", "recursive", NULL};
static const char *const ready_keys[] = {"port", "host", "command", "http", "timeout", NULL};
/* Unit types systemctl would start as something other than a service. */
static const char *const other_unit_types[] = {
	".socket", ".target", ".device", ".mount", ".automount", ".swap", ".timer", ".path",
	".slice", ".scope", NULL,
};

#define UNIT_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:.\\-"

/* systemd.unit(5) names: [prefix][@instance][.service], letters, digits and
 * ":-_.\", at most 255 characters with the suffix systemctl adds.  Never a
 * leading "-": the name is an argument to systemctl. */
static const char *
check_unit(const char *s)
{
	size_t len = strlen(s), blen = len;
	const char *at;

	if (len == 0 || len > 255)
		return "must be 1 to 255 characters";
	for (size_t i = 0; other_unit_types[i]; i++)
		if (str_ends(s, other_unit_types[i]))
			return "is not a service unit: haboot starts and stops a .service";
	if (str_ends(s, ".service"))
		blen = len - strlen(".service");
	else if (len > 247)
		return "is too long: with the .service systemctl adds it would pass 255 characters";
	if (blen == 0 || strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:\\",
	    s[0]) == NULL)
		return "must start with a letter, a digit, '_', ':' or '\\' (systemd.unit(5))";
	at = memchr(s, '@', blen);
	for (size_t i = 0; i < blen; i++)
		if (s + i != at && strchr(UNIT_CHARS, s[i]) == NULL)
			return "may hold only letters, digits, ':', '-', '_', '.', '\\' and one '@' "
			       "(systemd.unit(5))";
	if (at != NULL && (at + 1 == s + blen || at[1] == '.'))
		return "is a template without an instance: name one, like postgresql@15-main";
	return NULL;
}

/* A user or group: a name as useradd(8) takes it, or a numeric id. */
static const char *
check_account(const char *s)
{
	size_t n = strlen(s);

	if (n > 0 && n <= 9 && strspn(s, "0123456789") == n)
		return NULL;
	if (n == 0 || n > 32 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return "must be a name of 1 to 32 characters starting with a letter or '_' "
		       "(or a numeric id of at most 9 digits)";
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]) &&
		    !(s[i] == '$' && i == n - 1))
			return "may hold only letters, digits, '_', '.', '-' (and a final '$')";
	return NULL;
}

static const char *
check_env_name(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return "is not an environment variable name (letters, digits and '_', not "
		       "starting with a digit)";
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return "is not an environment variable name (letters, digits and '_', not "
			       "starting with a digit)";
	return NULL;
}

static const char *
check_mode(const char *s)
{
	size_t n = strlen(s);

	if ((n != 3 && n != 4) || strspn(s, "01234567") != n)
		return "must be 3 or 4 octal digits, like \"0700\"";
	return NULL;
}

static const char *
check_data_path(const char *s)
{
	const char *why = check_abs_path(s);

	if (why != NULL)
		return why;
	return strcmp(s, "/") == 0 ? "must be a directory on the volume, not /" : NULL;
}

static bool
port_ok(const char *s, size_t n)
{
	long v = 0;

	if (n == 0 || n > 5 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

static bool
host_ok(const char *h, size_t n)
{
	char buf[256];
	size_t label = 0;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (buf[0] == '[') {
		if (n < 3 || buf[n - 1] != ']')
			return false;
		buf[n - 1] = '\0';
		return check_ipv6(buf + 1) == NULL;
	}
	if (check_ipv4(buf) == NULL)
		return true;
	/* Digits and dots only is a mistyped address, not a name. */
	if (strspn(buf, "0123456789.") == n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '.') {
			if (label == 0 || i == n - 1)
				return false;
			label = 0;
		} else if (!isalnum((unsigned char)buf[i]) && buf[i] != '-')
			return false;
		else if (++label > 63)
			return false;
	}
	return true;
}

/* http://HOST[:PORT][/PATH]: no user or password (they would be logged),
 * no fragment, printable characters only. */
static const char *
check_url(const char *s)
{
	const char *host, *end, *colon;

	if (str_starts(s, "http://"))
		host = s + 7;
	else if (str_starts(s, "https://"))
		host = s + 8;
	else
		return "must start with http:// or https://";
	end = host + strcspn(host, "/");
	if (memchr(host, '@', (size_t)(end - host)) != NULL)
		return "must not hold a user or password (haboot would log them): use a command "
		       "probe for a service that needs them";
	colon = host[0] == '[' ? memchr(host, ']', (size_t)(end - host)) : host;
	colon = colon ? memchr(colon, ':', (size_t)(end - colon)) : NULL;
	if (colon != NULL && !port_ok(colon + 1, (size_t)(end - colon - 1)))
		return "has a bad port: it must be a number 1..65535";
	if (!host_ok(host, (size_t)((colon ? colon : end) - host)))
		return "has no valid host: an IP address ([::1] for IPv6) or a host name";
	for (const char *p = end; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == '#')
			return "may hold only printable characters after the host, without spaces "
			       "or '#'";
	return NULL;
}

static const char *
check_ip(const char *s)
{
	if (check_ipv4(s) == NULL || check_ipv6(s) == NULL)
		return NULL;
	return "is not an IP address (the probe connects to it: 127.0.0.1, ::1, 10.0.0.5)";
}

void
svc_free(void *p)
{
	struct svc_cfg *s = p;

	if (s == NULL)
		return;
	free(s->unit);
	cfg_free_list(s->command, s->ncommand);
	free(s->user);
	free(s->group);
	cfg_free_list(s->env_names, s->nenv);
	cfg_free_list(s->env_values, s->nenv);
	free(s->directory);
	free(s->log);
	free(s->pidfile);
	cfg_free_list(s->init, s->ninit);
	cfg_free_list(s->stop, s->nstop);
	free(s->data);
	free(s->data_owner);
	free(s->data_group);
	free(s->ready_host);
	cfg_free_list(s->ready_cmd, s->nready_cmd);
	free(s->ready_url);
	free(s);
}

static void
parse_stop(struct cfg *c, const struct ynode *n, struct svc_cfg *s)
{
	const struct ynode *st = ymap_get(n, "stop");

	if (st == NULL || !cfg_map(c, st, "service stop", stop_keys))
		return;
	if (cfg_strlist(c, st, "command", false, 1, check_nonempty, &s->stop, &s->nstop) ==
	    CFG_OK && s->how == SVC_UNIT)
		diag_err(c->d, ymap_get(st, "command"), "stop command is for a service started by "
		    "command; a unit is stopped with systemctl stop");
	cfg_duration(c, st, "timeout", false, 1000, 3600 * 1000, &s->stop_timeout_ms);
}

static void
parse_data(struct cfg *c, const struct ynode *n, struct svc_cfg *s)
{
	const struct ynode *d = ymap_get(n, "data"), *m;
	char *mode = NULL;

	if (d == NULL || !cfg_map(c, d, "service data", data_keys))
		return;
	cfg_str(c, d, "path", true, check_data_path, &s->data);
	cfg_str(c, d, "owner", false, check_account, &s->data_owner);
	cfg_str(c, d, "group", false, check_account, &s->data_group);
	if ((m = ymap_get(d, "mode")) != NULL && cfg_node_str(c, m, "mode", check_mode, &mode) ==
	    CFG_OK)
		s->data_mode = strtol(mode, NULL, 8);
	cfg_bool(c, d, "recursive", false, &s->data_recursive);
	free(mode);
}

static void
parse_ready(struct cfg *c, const struct ynode *n, struct svc_cfg *s)
{
	const struct ynode *r = ymap_get(n, "ready");
	const char *why;
	int kinds = 0;

	if (r == NULL) {
		cfg_missing(c, n, "service module", "ready", "how haboot knows it serves, e.g. "
		    "{port: 5432}, {command: [pg_isready]} or {http: http://127.0.0.1:8080/health}");
		return;
	}
	if (!cfg_map(c, r, "service ready", ready_keys))
		return;
	if (ymap_get(r, "port") != NULL) {
		kinds++;
		s->ready = READY_PORT;
		cfg_int(c, r, "port", true, 1, 65535, &s->ready_port);
	}
	if (ymap_get(r, "command") != NULL) {
		kinds++;
		s->ready = READY_COMMAND;
		cfg_strlist(c, r, "command", true, 1, check_nonempty, &s->ready_cmd, &s->nready_cmd);
	}
	if (ymap_get(r, "http") != NULL) {
		kinds++;
		s->ready = READY_HTTP;
		/* Checked here, not by cfg_str: a URL holding a password must not be
		 * echoed into the error. */
		if (cfg_str(c, r, "http", true, NULL, &s->ready_url) == CFG_OK &&
		    (why = check_url(s->ready_url)) != NULL) {
			if (strchr(s->ready_url, '@') != NULL)
				diag_err(c->d, ymap_get(r, "http"), "http URL %s", why);
			else
				diag_err(c->d, ymap_get(r, "http"), "http \"%s\": %s", s->ready_url, why);
		}
	}
	if (kinds == 0)
		diag_err(c->d, r, "service ready needs one of port (a TCP port that accepts), "
		    "command (exits 0 when ready) or http (a URL that answers 2xx)");
	else if (kinds > 1)
		diag_err(c->d, r, "service ready takes one of port, command and http, not %d", kinds);
	if (cfg_str(c, r, "host", false, check_ip, &s->ready_host) == CFG_OK &&
	    ymap_get(r, "port") == NULL)
		diag_err(c->d, ymap_get(r, "host"), "host is the address port is probed on: set "
		    "port too, or leave host out");
	cfg_duration(c, r, "timeout", false, 1000, 3600 * 1000, &s->ready_timeout_ms);
}

/* Keys that only mean something for a service haboot starts itself. */
static void
refuse_for_unit(struct cfg *c, const struct ynode *n, const char *key, const char *why)
{
	const struct ynode *k = ymap_get(n, key);

	if (k != NULL)
		diag_err(c->d, k, "%s is for a service started by command, not by unit: %s", key, why);
}

void *
svc_parse(struct cfg *c, const struct ynode *n)
{
	struct svc_cfg *s = xcalloc(1, sizeof(*s));
	int errors = c->d->errors;
	const struct ynode *un, *cn;

	s->stop_timeout_ms = SVC_STOP_TIMEOUT_MS;
	s->ready_timeout_ms = SVC_READY_TIMEOUT_MS;
	s->data_mode = SVC_DATA_MODE;
	if (!cfg_map(c, n, "service module", svc_keys) && n->kind != Y_MAP)
		goto out;
	un = ymap_get(n, "unit");
	cn = ymap_get(n, "command");
	if (un != NULL && cn != NULL)
		diag_err(c->d, cn, "service takes unit or command, not both");
	else if (un == NULL && cn == NULL)
		cfg_missing(c, n, "service module", "unit or command", "a systemd unit "
		    "(unit: postgresql@15-main) or the argv that runs the service in the foreground "
		    "(command: [/usr/bin/redis-server, /etc/redis/redis.conf])");
	if (un != NULL) {
		s->how = SVC_UNIT;
		cfg_str(c, n, "unit", true, check_unit, &s->unit);
		refuse_for_unit(c, n, "log", "the unit's journal has its output");
		refuse_for_unit(c, n, "pidfile", "systemd tracks the unit's processes");
	} else {
		s->how = SVC_COMMAND;
		cfg_strlist(c, n, "command", cn != NULL, 1, check_nonempty, &s->command,
		    &s->ncommand);
	}
	cfg_str(c, n, "user", false, check_account, &s->user);
	cfg_str(c, n, "group", false, check_account, &s->group);
	if (cfg_strmap(c, n, "environment", false, &s->env_names, &s->env_values, &s->nenv) !=
	    CFG_ABSENT) {
		const struct ynode *en = ymap_get(n, "environment");

		for (size_t i = 0; en->kind == Y_MAP && i < en->npairs; i++) {
			const struct ynode *k = en->pairs[i].key;
			const char *why;

			if (k->kind == Y_SCALAR && k->stype == YS_STR &&
			    (why = check_env_name(k->str)) != NULL)
				diag_err(c->d, k, "environment \"%s\" %s", k->str, why);
		}
	}
	cfg_str(c, n, "directory", false, check_abs_path, &s->directory);
	cfg_str(c, n, "log", false, check_abs_path, &s->log);
	cfg_str(c, n, "pidfile", false, check_abs_path, &s->pidfile);
	cfg_strlist(c, n, "init", false, 1, check_nonempty, &s->init, &s->ninit);
	parse_stop(c, n, s);
	parse_data(c, n, s);
	if (s->init != NULL && ymap_get(n, "data") == NULL)
		diag_err(c->d, ymap_get(n, "init"), "init runs only on an empty data directory: "
		    "set data: {path: ...} too");
	parse_ready(c, n, s);
out:
	if (c->d->errors > errors) {
		svc_free(s);
		return NULL;
	}
	if (s->how == SVC_COMMAND && s->log == NULL)
		s->log = xstrdup(SVC_LOG_DEFAULT);
	if (s->how == SVC_COMMAND && s->pidfile == NULL)
		s->pidfile = xstrdup(SVC_PIDFILE_DEFAULT);
	if (s->ready == READY_PORT && s->ready_host == NULL)
		s->ready_host = xstrdup(SVC_READY_HOST);
	/* The data directory belongs to the service's user unless told otherwise. */
	if (s->data != NULL && s->data_owner == NULL && s->user != NULL) {
		s->data_owner = xstrdup(s->user);
		if (s->data_group == NULL && s->group != NULL)
			s->data_group = xstrdup(s->group);
	}
	return s;
}

char *
svc_ready_text(const struct svc_cfg *s)
{
	char t[32], *shown, *out;

	fmt_duration(s->ready_timeout_ms, t, sizeof(t));
	switch (s->ready) {
	case READY_PORT:
		return xasprintf("%s%s%s:%lld accepts a TCP connection",
		    strchr(s->ready_host, ':') ? "[" : "", s->ready_host,
		    strchr(s->ready_host, ':') ? "]" : "", s->ready_port);
	case READY_HTTP:
		return xasprintf("GET %s answers 2xx", s->ready_url);
	default:
		shown = argv_to_display((const char *const *)s->ready_cmd);
		out = xasprintf("`%s` exits 0", shown);
		free(shown);
		return out;
	}
}
