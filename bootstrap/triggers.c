/* triggers.c: a planned stop, as instance metadata announces it (triggers.h). */
#include "triggers.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/imds.h"
#include "jsonkit.h"
#include "log.h"
#include "manifest/manifest.h"
#include "util.h"

/* One look at one path must not hold the watcher up: IMDS answers in
 * milliseconds when it answers at all. */
#define LOOK_LIMIT_MS 2000

static const char *const kind_names[] = {
	[TRIGGER_NONE] = "none", [TRIGGER_LIFECYCLE] = "lifecycle", [TRIGGER_SPOT] = "spot",
	[TRIGGER_REBALANCE] = "rebalance",
};

const char *
trigger_name(enum trigger_kind k)
{
	return kind_names[k];
}

void
triggers_init(struct triggers *t, struct imds *imds, unsigned on)
{
	memset(t, 0, sizeof(t[0]));
	t->imds = imds;
	t->on = on;
}

void
trigger_free(struct trigger *t)
{
	free(t->why);
	memset(t, 0, sizeof(t[0]));
}

/* GETs path with a short deadline: IMDS_OK (body in out, trimmed),
 * IMDS_NOT_FOUND or IMDS_ERROR. */
static int
get(struct imds *m, const char *path, struct buf *out)
{
	long long saved = imds_deadline(m);
	int rc;

	buf_reset(out);
	imds_set_deadline(m, LOOK_LIMIT_MS);
	rc = imds_get(m, path, out);
	imds_set_deadline(m, saved);
	if (rc == IMDS_OK) {
		while (out->len > 0 && isspace((unsigned char)out->data[out->len - 1]))
			out->data[--out->len] = '\0';
		if (out->data == NULL)
			buf_adds(out, "");
	}
	return rc;
}

/* A failed look is logged once, not every five seconds. */
static void
look_failed(struct triggers *t, const char *path)
{
	if (!t->failing)
		log_warn("release", "cannot read %s (%s): no sign of a planned stop can be seen "
		    "until IMDS answers again", path, imds_error(t->imds));
	t->failing = true;
}

/* An answer that is not the notice AWS documents is no sign: releasing a
 * healthy service on a garbled answer would take it down with nothing to
 * replace it, while missing a notice costs only a crash takeover.  Said once
 * per streak, with what came. */
static void
not_a_notice(struct triggers *t, const char *path, const struct buf *b)
{
	if (!t->odd)
		log_warn("release", "%s answered \"%.60s\", which is not a notice AWS documents: "
		    "not releasing on it", path, b->data ? b->data : "");
	t->odd = true;
}

static bool
is_spot_action(const char *a)
{
	return a != NULL && (!strcmp(a, "terminate") || !strcmp(a, "stop") ||
	    !strcmp(a, "hibernate"));
}

/* spot/instance-action: {"action": "terminate|stop|hibernate", "time": "...Z"}. */
static int
look_spot(struct triggers *t, struct buf *b, struct trigger *out)
{
	json_object *o;
	const char *action, *at;
	int r = get(t->imds, TRIGGER_SPOT_PATH, b);

	if (r == IMDS_NOT_FOUND)
		return 0;
	if (r != IMDS_OK) {
		look_failed(t, TRIGGER_SPOT_PATH);
		return -1;
	}
	o = json_tokener_parse(b->data);
	action = o ? jk_get_str(o, "action") : NULL;
	at = o ? jk_get_str(o, "time") : NULL;
	if (!is_spot_action(action)) {
		not_a_notice(t, TRIGGER_SPOT_PATH, b);
		json_object_put(o);
		return 0;
	}
	out->kind = TRIGGER_SPOT;
	out->by_wall = at ? creds_parse_time(at) : -1;
	if (out->by_wall < 0)
		out->by_wall = 0;
	out->why = xasprintf("Spot interruption notice: %s at %s (spot/instance-action)",
	    action, at ? at : "an unknown time");
	json_object_put(o);
	return 1;
}

static int
look_lifecycle(struct triggers *t, struct buf *b, struct trigger *out)
{
	int r = get(t->imds, TRIGGER_LIFECYCLE_PATH, b);

	/* 404: not an Auto Scaling instance, or an old instance without the key. */
	if (r == IMDS_NOT_FOUND)
		return 0;
	if (r != IMDS_OK) {
		look_failed(t, TRIGGER_LIFECYCLE_PATH);
		return -1;
	}
	/* Warmed:Terminated is a warm-pool instance, which serves nothing. */
	if (strcmp(b->data, "Terminated") != 0)
		return 0;
	out->kind = TRIGGER_LIFECYCLE;
	out->why = xstrdup("the Auto Scaling group is terminating this instance "
	    "(autoscaling/target-lifecycle-state is Terminated)");
	return 1;
}

static int
look_rebalance(struct triggers *t, struct buf *b, struct trigger *out)
{
	json_object *o;
	const char *at;
	int r = get(t->imds, TRIGGER_REBALANCE_PATH, b);

	if (r == IMDS_NOT_FOUND)
		return 0;
	if (r != IMDS_OK) {
		look_failed(t, TRIGGER_REBALANCE_PATH);
		return -1;
	}
	o = json_tokener_parse(b->data);
	at = o ? jk_get_str(o, "noticeTime") : NULL;
	if (at == NULL) {
		not_a_notice(t, TRIGGER_REBALANCE_PATH, b);
		json_object_put(o);
		return 0;
	}
	out->kind = TRIGGER_REBALANCE;
	out->why = xasprintf("EC2 rebalance recommendation at %s (events/recommendations/"
	    "rebalance): this Spot instance is at elevated risk of interruption", at);
	json_object_put(o);
	return 1;
}

int
triggers_look(struct triggers *t, struct trigger *out)
{
	struct buf b;
	int r = 0, failed = 0;

	memset(out, 0, sizeof(out[0]));
	buf_init(&b);
	t->next = mono_ms() + TRIGGER_POLL_MS;
	/* The Spot notice first: it comes with a deadline EC2 will not move. */
	if ((t->on & RELEASE_ON_SPOT) && (r = look_spot(t, &b, out)) != 0)
		failed |= r < 0;
	if (r <= 0 && (t->on & RELEASE_ON_LIFECYCLE) && (r = look_lifecycle(t, &b, out)) != 0)
		failed |= r < 0;
	if (r <= 0 && (t->on & RELEASE_ON_REBALANCE) && (r = look_rebalance(t, &b, out)) != 0)
		failed |= r < 0;
	if (!failed && r >= 0 && t->failing) {
		log_info("release", "IMDS answers again: watching for a planned stop");
		t->failing = false;
	}
	buf_free(&b);
	if (r == 1)
		log_warn("release", "%s", out->why);
	return r == 1 ? 1 : 0;
}

int
triggers_poll(struct triggers *t, struct trigger *out)
{
	memset(out, 0, sizeof(out[0]));
	if (t->on == 0 || t->imds == NULL || mono_ms() < t->next)
		return 0;
	return triggers_look(t, out);
}

char *
triggers_lifecycle_state(struct imds *imds)
{
	struct buf b;
	char *s = NULL;

	buf_init(&b);
	if (imds != NULL && get(imds, TRIGGER_LIFECYCLE_PATH, &b) == IMDS_OK)
		s = xstrdup(b.data);
	buf_free(&b);
	return s;
}
