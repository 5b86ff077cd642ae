/* volume.h: what the volume module's files share (volume.c finds and
 * attaches the volume, restore.c brings it into another zone from a
 * snapshot, snapshot.c takes the snapshots on a schedule).  Private to
 * modules/volume/. */
#ifndef HABOOT_VOLUME_VOLUME_H
#define HABOOT_VOLUME_VOLUME_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/aws.h"
#include "context.h"
#include "manifest/cfg.h"

/* Tags haboot puts on what it makes.  A snapshot carries the service's tag
 * (AWS Data Lifecycle Manager can add the same one), the volume, the
 * takeover generation and the time; a restored copy names the volume it
 * replaced, and that volume, once the copy serves, names its successor. */
#define SERVICE_TAG "haboot:service"
#define RESTORED_FROM_TAG "haboot:restored-from"
#define SUPERSEDED_TAG "haboot:superseded-by"

/* What DescribeVolumes says about one volume. */
struct vol {
	char *id, *az, *status, *snapshot, *type, *iops, *throughput, *size, *kms;
	bool multi, encrypted;
	/* the live attachment, if any (a volume that is not multi-attach has one) */
	char *att_instance, *att_state, *att_device;
	char **tag_k, **tag_v;
	size_t ntags;
};

const char *or_unknown(const char *s);
char *dup_text(const struct xml_node *n, const char *path);
void vol_clear(struct vol *v);
void vols_free(struct vol *v, size_t n);
/* A volume that is, or is becoming, usable. */
bool vol_live(const struct vol *v);
/* The value of tag key on v, or NULL. */
const char *vol_tag(const struct vol *v, const char *key);
/* "vol-1 (us-west-2a, in-use), vol-2 (...)" for messages. */
char *vols_list(const struct vol *v, size_t n);
/* aws_param with a numbered key ("Filter.%zu.Name"). */
void param_n(struct aws_params *p, const char *keyfmt, size_t n, const char *val);
/* A throttled or failing EC2 (logged): the caller looks again later. */
bool transient(struct hb_ctx *ctx, const char *what, const struct aws_error *err);
/* DescribeVolumes by id, or by tag filters, optionally in one zone.  0 with
 * the volumes (an unknown id: none), 1 when EC2 did not answer, -1 failed. */
int describe_volumes(struct hb_ctx *ctx, const char *id, char *const *keys,
    char *const *vals, size_t ntags, const char *az, struct vol **out, size_t *n);

/* A mutating EC2 call, through the effects layer. */
struct ec2_call {
	struct hb_ctx *ctx;
	const char *action;
	struct aws_params p;
	struct aws_error err;
	struct xml_node *answer;
};

void ec2_call_init(struct ec2_call *c, struct hb_ctx *ctx, const char *action);
void ec2_call_free(struct ec2_call *c);
/* 0 done; 1 when the state moved under it (a code in tolerated) or EC2 did
 * not answer; -1 after ctx_fail. */
int ec2_mutate(struct ec2_call *c, const char *summary, const char *const tolerated[]);

/* ---- restore.c: other_az=snapshot ---- */

/* Restores the newest completed snapshot of v, or carrying the service's
 * tag, in az as *out.  0, 1 when EC2 did not answer, -1 after ctx_fail. */
int restore_in_zone(struct hb_ctx *ctx, const struct vol *v, const char *az, const char *self,
    struct vol *out);
/* Replaces volumes tagged superseded by the volume that replaced them (a
 * later copy restored in another zone), so stale data is never served.
 * 0, 1 when EC2 did not answer, -1 after ctx_fail. */
int restore_skip_superseded(struct hb_ctx *ctx, struct vol **vs, size_t *n);
/* v serves now: if it is a restored copy, tag the volume it replaced as
 * superseded by it (once), and set the data-age facts.  A failure is a
 * warning: the copy's own tag still says what it replaced. */
void restore_settle(struct hb_ctx *ctx, const struct vol *v);
void restore_plan(struct hb_ctx *ctx);

struct iam_policy;

/* The IAM grants of restore.c and snapshot.c, for the volume named by id or
 * by the tags keys[i]=vals[i] (module.h: permissions). */
void restore_permissions(struct iam_policy *p, const char *id, char *const *keys,
    char *const *vals, size_t n);

/* ---- snapshot.c: the schedule (watch's upkeep) ---- */

struct snap_sched;

/* Reads "snapshots: {every, keep, freeze}" (NULL when absent). */
struct snap_sched *snap_parse(struct cfg *c, const struct ynode *n);
void snap_free(struct snap_sched *s);
void snap_plan(struct hb_ctx *ctx, const struct snap_sched *s);
/* One watch round: takes a snapshot when one is due, follows pending
 * ones, prunes.  0, or -1 after ctx_fail (reported, never a health failure). */
int snap_upkeep(struct hb_ctx *ctx, struct snap_sched *s);
void snap_permissions(const struct snap_sched *s, struct iam_policy *p, const char *id,
    char *const *keys, char *const *vals, size_t n);

/* One snapshot as DescribeSnapshots shows it. */
struct snap {
	char *id, *volume, *state, *progress, *start;
	long long start_ms;   /* wall ms, -1 unknown */
	long long size;       /* GiB of the volume it was taken of */
	bool ours;            /* made by haboot's schedule (haboot:volume tag) */
	bool dlm;             /* made by Data Lifecycle Manager (aws:dlm: tags) */
};

/* This account's snapshots matching one filter (name=value), every page.
 * 0, 1 when EC2 did not answer, -1 after ctx_fail. */
int snap_list(struct hb_ctx *ctx, const char *filter, const char *value, const char *status,
    struct snap **out, size_t *n);
void snaps_free(struct snap *s, size_t n);

#endif
