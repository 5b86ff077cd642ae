/* handoff.c: detach for a release, and read an owner's release (handoff.h). */
#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/creds.h"
#include "awscall.h"
#include "log.h"
#include "module.h"
#include "poll.h"
#include "release.h"
#include "util.h"

long long
handoff_releasing_until(const struct xml_node *instance)
{
	const struct xml_node *set, *t;
	const char *v, *at;
	long long until;

	if (instance == NULL || (set = xml_child(instance, "tagSet")) == NULL)
		return 0;
	for (t = xml_next(set, "item", NULL); t; t = xml_next(set, "item", t)) {
		if (xml_text(t, "key") == NULL || strcmp(xml_text(t, "key"), RELEASE_TAG) != 0)
			continue;
		/* "releasing SERVICE until 2026-01-01T00:05:00Z" */
		if ((v = xml_text(t, "value")) == NULL || !str_starts(v, "releasing ") ||
		    (at = strstr(v, " until ")) == NULL)
			return 0;
		until = creds_parse_time(at + strlen(" until "));
		return until > wall_ms() ? until : 0;
	}
	return 0;
}

/* What EC2 says of the volume's attachment to self. */
struct att {
	char *status;   /* the volume's */
	char *state;    /* of the attachment to self; NULL: none */
	char *other;    /* another instance it is attached to */
};

static void
att_clear(struct att *a)
{
	free(a->status);
	free(a->state);
	free(a->other);
	memset(a, 0, sizeof(a[0]));
}

/* 0 read, 1 EC2 did not answer (look again), -1 after ctx_fail. */
static int
look(struct hb_ctx *ctx, const char *id, const char *self, struct att *a)
{
	struct aws_params p;
	struct aws_error err;
	struct xml_node *x = NULL;
	const struct xml_node *item, *set, *it;
	int rc = -1;

	att_clear(a);
	aws_params_init(&p);
	aws_error_init(&err);
	aws_param(&p, "VolumeId.1", "%s", id);
	if (aws_query(ctx->aws, AWS_EC2, "DescribeVolumes", &p, &x, &err) < 0) {
		char *e = aws_error_str(&err);

		if (aws_error_retryable(&err)) {
			log_warn(ctx->module, "DescribeVolumes %s: %s; looking again shortly", id, e);
			rc = 1;
		} else
			ctx_fail(ctx, "DescribeVolumes %s: %s", id, e);
		free(e);
		goto out;
	}
	if ((item = xml_find(x, "volumeSet/item")) == NULL) {
		ctx_fail(ctx, "DescribeVolumes %s: no such volume", id);
		goto out;
	}
	a->status = xml_text(item, "status") ? xstrdup(xml_text(item, "status")) : NULL;
	if ((set = xml_child(item, "attachmentSet")) != NULL)
		for (it = xml_next(set, "item", NULL); it; it = xml_next(set, "item", it)) {
			const char *iid = xml_text(it, "instanceId"), *st = xml_text(it, "status");

			if (iid == NULL || st == NULL || strcmp(st, "detached") == 0)
				continue;
			if (strcmp(iid, self) == 0 && a->state == NULL)
				a->state = xstrdup(st);
			else if (strcmp(iid, self) != 0 && a->other == NULL)
				a->other = xstrdup(iid);
		}
	rc = 0;
out:
	xml_free(x);
	aws_params_free(&p);
	aws_error_free(&err);
	return rc;
}

/* Invariant 6, checked on the device itself: O_EXCL on a block device fails
 * with EBUSY while any mount namespace has it mounted, or anything holds it. */
static int
device_free(struct hb_ctx *ctx, const char *id, const char *dev)
{
	int fd;

	if (dev == NULL)
		return ctx_fail(ctx, "%s is attached here, but its device is unknown (no "
		    "volume.device in the run's report): cannot prove nothing has it mounted, so "
		    "not detaching it", id);
	if ((fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC)) >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EBUSY)
		return ctx_fail(ctx, "%s (%s) is still mounted or held on this instance: not "
		    "detaching a volume in use (DESIGN.md 6)", id, dev);
	return ctx_fail(ctx, "%s is attached here, but its device %s cannot be checked (%s): "
	    "cannot prove nothing has it mounted, so not detaching it", id, dev,
	    strerror(errno));
}

int
volume_release(struct hb_ctx *ctx, void *cfg)
{
	const char *id = ctx_fact(ctx, FACT_VOLUME_ID), *self = md_get(ctx->md, "instance-id");
	const char *dev = ctx_fact(ctx, FACT_VOLUME_DEVICE);
	static const char *const moved[] = {"IncorrectState", "InvalidAttachment.NotFound", NULL};
	struct aws_call c;
	struct poller pl;
	struct att a;
	char *summary = NULL, waited[32];
	bool sent = false;
	int rc = -1, r;

	(void)cfg;
	memset(&a, 0, sizeof(a));
	aws_call_init(&c, ctx, AWS_EC2, "DetachVolume");
	if (id == NULL || self == NULL) {
		ctx_fail(ctx, "%s is unknown (no volume.id in the run's report, or no instance "
		    "id): nothing can be detached", id ? "this instance" : "the volume");
		goto out;
	}
	if (ctx->aws == NULL) {
		ctx_fail(ctx, "no AWS client: the release needs the instance's credentials");
		goto out;
	}
	poller_start(&pl, ctx_time_left(ctx), ctx);
	for (;;) {
		if ((r = look(ctx, id, self, &a)) < 0)
			goto out;
		if (r == 0 && a.state == NULL)
			break;
		if (r == 0 && !sent && strcmp(a.state, "detaching") != 0) {
			if (device_free(ctx, id, dev) < 0)
				goto out;
			aws_call_free(&c);
			aws_call_init(&c, ctx, AWS_EC2, "DetachVolume");
			aws_param(&c.p, "VolumeId", "%s", id);
			aws_param(&c.p, "InstanceId", "%s", self);
			free(summary);
			summary = xasprintf("DetachVolume %s from %s (a normal detach: never forced)",
			    id, self);
			if (aws_call_send(ctx, &c, "%s", summary) == 0) {
				sent = true;
				ctx->changed = true;
				poller_kick(&pl);
			} else {
				bool again = aws_error_retryable(&c.err);

				for (size_t i = 0; moved[i] && !again; i++)
					again = aws_error_is(&c.err, moved[i]);
				if (!again) {
					char *e = aws_error_str(&c.err);

					ctx_fail(ctx, "%s: %s", summary, e);
					free(e);
					goto out;
				}
			}
		}
		if (poller_progress_due(&pl))
			log_info(ctx->module, "waiting for %s to detach from %s (%s)", id, self,
			    a.state ? a.state : "?");
		if (!poller_wait(&pl)) {
			fmt_duration(poller_elapsed(&pl), waited, sizeof(waited));
			ctx_fail(ctx, "%s is still %s on %s after %s: the instance's OS has not let the "
			    "device go; not forcing it (a forced detach can lose data): look for what "
			    "holds %s, then run haboot release again", id, a.state ? a.state : "attached",
			    self, waited, dev ? dev : "its device");
			goto out;
		}
	}
	fmt_duration(poller_elapsed(&pl), waited, sizeof(waited));
	ctx_result(ctx, "%s %s (%s%s)", id, sent ? "detached" : "is not attached here",
	    sent ? "a normal detach, done in " : a.other ? "attached to " : "status ",
	    sent ? waited : a.other ? a.other : a.status ? a.status : "?");
	rc = 0;
out:
	att_clear(&a);
	free(summary);
	aws_call_free(&c);
	return rc;
}
