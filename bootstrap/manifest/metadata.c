/* metadata.c: instance facts from flags, files, IMDS or marked defaults. */
#include "metadata.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "util.h"

static const struct {
	const char *alias, *key;
} aliases[] = {
	{"az", "placement/availability-zone"},
	{"availability-zone", "placement/availability-zone"},
	{"region", "placement/region"},
	{"ip", "local-ipv4"},
};

/* Offline defaults: documentation addresses and ids, never real ones. */
static const struct {
	const char *key, *val;
} defaults[] = {
	{"instance-id", "i-0123456789abcdef0"},
	{"placement/availability-zone", "us-east-1a"},
	{"placement/region", "us-east-1"},
	{"local-ipv4", "192.0.2.10"},
	{"public-ipv4", "198.51.100.10"},
	{"ipv6", "2001:db8::10"},
	{"mac", "02:00:00:00:00:01"},
	{"local-hostname", "ip-192-0-2-10.ec2.internal"},
	{"autoscaling/target-lifecycle-state", "InService"},
};

static const char *const known_keys[] = {
	"instance-id", "placement/availability-zone", "placement/region", "local-ipv4",
	"public-ipv4", "ipv6", "mac", "local-hostname", "public-hostname",
	"autoscaling/target-lifecycle-state", "spot/instance-action", NULL,
};

void
md_init(struct metadata *md)
{
	memset(md, 0, sizeof(*md));
	kv_init(&md->values);
}

void
md_free(struct metadata *md)
{
	kv_free(&md->values);
}

const char *
md_canonical(const char *key)
{
	for (size_t i = 0; i < HB_ARRAY_LEN(aliases); i++)
		if (strcmp(aliases[i].alias, key) == 0)
			return aliases[i].key;
	return key;
}

int
md_known_key(const char *key)
{
	key = md_canonical(key);
	for (size_t i = 0; known_keys[i]; i++)
		if (strcmp(known_keys[i], key) == 0)
			return 1;
	return 0;
}

static int
valid_key(const char *k)
{
	if (*k == '\0')
		return 0;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '-' && *k != '/' && *k != '_')
			return 0;
	return 1;
}

/* Names people reach for that are not IMDS's, and what they meant. */
static const struct {
	const char *word, *key;
} synonyms[] = {
	{"zone", "az"}, {"availability_zone", "az"}, {"placement/zone", "az"},
	{"private-ip", "local-ipv4"}, {"private-ipv4", "local-ipv4"}, {"private_ip", "local-ipv4"},
	{"public-ip", "public-ipv4"}, {"public_ip", "public-ipv4"}, {"instance", "instance-id"},
	{"id", "instance-id"},
};

int
md_check_key(const char *key, char **why)
{
	const char *names[32], *hint = NULL;
	struct buf b;
	size_t n = 0;

	*why = NULL;
	if (md_known_key(key))
		return 0;
	buf_init(&b);
	for (size_t i = 0; i < HB_ARRAY_LEN(aliases); i++) {
		names[n++] = aliases[i].alias;
		buf_printf(&b, "%s%s", n > 1 ? ", " : "", aliases[i].alias);
	}
	for (size_t i = 0; known_keys[i] && n + 1 < HB_ARRAY_LEN(names); i++) {
		names[n++] = known_keys[i];
		buf_printf(&b, ", %s", known_keys[i]);
	}
	names[n] = NULL;
	for (size_t i = 0; i < HB_ARRAY_LEN(synonyms); i++)
		if (strcmp(synonyms[i].word, key) == 0)
			hint = synonyms[i].key;
	if (hint == NULL)
		hint = cfg_suggest(key, names);
	if (hint != NULL)
		*why = xasprintf("unknown metadata key \"%s\": did you mean \"%s\"? (known: %s)", key,
		    hint, b.data);
	else
		*why = xasprintf("unknown metadata key \"%s\" (known: %s)", key, b.data);
	buf_free(&b);
	return -1;
}

/* KEY=VALUE into md, remembering where it came from.  *why is malloc'd. */
static int
set_pair(struct metadata *md, const char *arg, const char *origin, char **why)
{
	const char *eq = strchr(arg, '=');
	char *key;

	if (eq == NULL || eq == arg) {
		*why = xstrdup("expected KEY=VALUE, e.g. instance-id=i-0abc or az=us-west-2a");
		return -1;
	}
	key = xstrndup(arg, (size_t)(eq - arg));
	if (!valid_key(key)) {
		free(key);
		*why = xstrdup("a metadata key holds letters, digits, '-', '_' and '/'");
		return -1;
	}
	/* A fact haboot never reads is a typo that would leave a default in place. */
	if (md_check_key(key, why) < 0) {
		free(key);
		return -1;
	}
	kv_set(&md->values, md_canonical(key), eq + 1, origin);
	free(key);
	return 0;
}

int
md_set_arg(struct metadata *md, const char *arg, char **why)
{
	return set_pair(md, arg, "--metadata", why);
}

int
md_load_file(struct metadata *md, const char *path, char **why)
{
	struct buf b;
	int rc = -1;

	buf_init(&b);
	if (read_file(path, 1 << 20, &b) < 0) {
		*why = xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}
	const char *p = b.data;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '{') {
		json_object *o = json_tokener_parse(b.data);

		if (o == NULL || !json_object_is_type(o, json_type_object)) {
			*why = xasprintf("%s: not a JSON object of strings", path);
			json_object_put(o);
			goto out;
		}
		json_object_object_foreach(o, k, v) {
			char *kwhy = NULL;

			if (md_check_key(k, &kwhy) < 0) {
				*why = xasprintf("%s: %s", path, kwhy);
				free(kwhy);
				json_object_put(o);
				goto out;
			}
			if (!json_object_is_type(v, json_type_string)) {
				*why = xasprintf("%s: value of \"%s\" is not a string", path, k);
				json_object_put(o);
				goto out;
			}
			kv_set(&md->values, md_canonical(k), json_object_get_string(v), path);
		}
		json_object_put(o);
		rc = 0;
		goto out;
	}
	/* Split by hand: strtok_r would skip blank lines and so miscount them. */
	int lineno = 0;
	for (char *line = b.data, *next; line != NULL; line = next) {
		char *w = NULL;

		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		while (isspace((unsigned char)*line))
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		size_t l = strlen(line);
		while (l > 0 && isspace((unsigned char)line[l - 1]))
			line[--l] = '\0';
		/* Tagged with the file itself: a value --metadata set before keeps its origin. */
		if (set_pair(md, line, path, &w) < 0) {
			*why = xasprintf("%s:%d: %s", path, lineno, w);
			free(w);
			goto out;
		}
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

const char *
md_get(struct metadata *md, const char *key)
{
	const char *v;
	char *live = NULL;

	key = md_canonical(key);
	if ((v = kv_get(&md->values, key)) != NULL)
		return v;
	if (md->fetch != NULL && md->fetch(md->fetch_arg, key, &live) == 0) {
		kv_set(&md->values, key, live, "imds");
		free(live);
		return kv_get(&md->values, key);
	}
	/* The default zone lies in the region given, when one is. */
	if (md->offline_defaults && strcmp(key, "placement/availability-zone") == 0 &&
	    (v = kv_get(&md->values, "placement/region")) != NULL) {
		char *az = xasprintf("%sa", v);

		kv_set(&md->values, key, az, "default");
		free(az);
		return kv_get(&md->values, key);
	}
	if (md->offline_defaults)
		for (size_t i = 0; i < HB_ARRAY_LEN(defaults); i++)
			if (strcmp(defaults[i].key, key) == 0) {
				kv_set(&md->values, key, defaults[i].val, "default");
				return kv_get(&md->values, key);
			}
	return NULL;
}

const char *
md_origin(struct metadata *md, const char *key)
{
	const struct kv_entry *e = kv_find(&md->values, md_canonical(key));

	return e ? e->origin : NULL;
}

int
md_region_of_az(const char *az, char **region)
{
	/* us-west-2a, us-gov-west-1b, us-west-2-lax-1a (a Local Zone): the region
	 * ends with the first part that starts with a digit, at its last digit. */
	const char *p = az;

	*region = NULL;
	for (;;) {
		const char *dash = strchr(p, '-');

		if (p != az && isdigit((unsigned char)*p)) {
			size_t n = strspn(p, "0123456789");

			if (!islower((unsigned char)p[n]) && p[n] != '-')
				return -1;
			*region = xstrndup(az, (size_t)(p - az) + n);
			return 0;
		}
		for (const char *q = p; q < (dash ? dash : p + strlen(p)); q++)
			if (!islower((unsigned char)*q))
				return -1;
		if (dash == NULL || dash == p)
			return -1;
		p = dash + 1;
	}
}

static const char *
env_region(const char **var)
{
	static const char *const vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};

	for (size_t i = 0; i < HB_ARRAY_LEN(vars); i++) {
		const char *v = getenv(vars[i]);

		if (v != NULL && *v != '\0') {
			*var = vars[i];
			return v;
		}
	}
	return NULL;
}

int
md_settle_region(struct metadata *md, bool offline, char **why, char **warn)
{
	const struct kv_entry *az = kv_find(&md->values, "placement/availability-zone");
	const struct kv_entry *rg = kv_find(&md->values, "placement/region");
	const char *var = NULL, *env = env_region(&var);
	char *implied = NULL;
	int rc = -1;

	*why = NULL;
	*warn = NULL;
	if (az != NULL && md_region_of_az(az->val, &implied) < 0) {
		*why = xasprintf("az \"%s\" (%s) is not an availability zone name, like us-west-2a",
		    az->val, az->origin);
		goto out;
	}
	if (rg != NULL && implied != NULL && strcmp(rg->val, implied) != 0) {
		*why = xasprintf("az %s (%s) lies in region %s, not in region %s (%s): give "
		    "matching values", az->val, az->origin, implied, rg->val, rg->origin);
		goto out;
	}
	/* What the command line says beats the environment, as --region does. */
	if (rg == NULL && implied != NULL) {
		char *origin = xasprintf("from az %s", az->val);

		kv_set(&md->values, "placement/region", implied, origin);
		free(origin);
	} else if (rg == NULL && env != NULL && offline)
		kv_set(&md->values, "placement/region", env, var);
	rg = kv_find(&md->values, "placement/region");
	if (rg != NULL && env != NULL && strcmp(rg->val, env) != 0)
		*warn = xasprintf("the region is %s (%s), but %s=%s: AWS calls go to %s, as the AWS "
		    "CLI would send them; unset %s or make them agree", rg->val, rg->origin, var, env,
		    env, var);
	rc = 0;
out:
	free(implied);
	return rc;
}
