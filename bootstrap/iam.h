/* iam.h: building the least-privilege IAM policy a manifest needs.
 *
 * Each module states, through its `permissions` hook (module.h), the calls
 * its plan and apply (and check, repair, release, upkeep) make, the way an
 * IAM statement does: actions, the resources they act on, and conditions.
 *
 *	struct iam_stmt *s = iam_stmt(p, "attach the volume");
 *	iam_action(s, "ec2:AttachVolume");
 *	iam_resource(s, "arn:aws:ec2:*:*:volume/%s", c->id);
 *	iam_cond(s, "StringEquals", "aws:ResourceTag/Name", "%s", c->name);
 *
 * A statement grants every action on every resource it names, under all of
 * its conditions; a value given twice for one operator and key is a list
 * (IAM ORs the values).  The policy is a set of such grants: the output
 * merges statements that share their conditions and their resources (or
 * their actions) without ever granting an action on a resource no statement
 * named, and sorts everything, so the same manifest always prints the same
 * policy.
 *
 * An action AWS cannot scope (the EC2 Describe calls) is declared with
 * iam_unscoped(), which grants it on "*" and records why: `haboot iam-policy
 * --explain` says so instead of widening silently.  Anything a module widens
 * on purpose (a wildcard where the manifest does not name the resource) is
 * said with iam_note(). */
#ifndef HABOOT_IAM_H
#define HABOOT_IAM_H

#include <stdbool.h>
#include <stdio.h>

struct iam_policy;
struct iam_stmt;

/* What the manifest does not say but the policy needs, from the command line. */
struct iam_scope {
	const char *service; /* the manifest's name */
	/* The Auto Scaling group the service runs in (--group, else the
	 * lifecycle hook's group), or NULL: then group-scoped grants fall back
	 * to every group of the account, and say so with iam_note(). */
	const char *group;
};

struct iam_policy *iam_policy_new(const struct iam_scope *scope);
void iam_policy_free(struct iam_policy *p);
const struct iam_scope *iam_scope(const struct iam_policy *p);
/* Who declares what follows ("volume", "haboot"), for --explain. */
void iam_set_origin(struct iam_policy *p, const char *origin);

/* A new Allow statement; why (printf) says what it is for, for --explain. */
struct iam_stmt *iam_stmt(struct iam_policy *p, const char *why, ...)
    __attribute__((format(printf, 2, 3)));
/* The same with Effect Deny. */
struct iam_stmt *iam_deny(struct iam_policy *p, const char *why, ...)
    __attribute__((format(printf, 2, 3)));
void iam_action(struct iam_stmt *s, const char *action);
void iam_resource(struct iam_stmt *s, const char *arn_fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A condition: op ("StringEquals", "ForAllValues:StringEquals", "ArnLike",
 * "Null"...), key ("aws:ResourceTag/Name"), one value (call again for more). */
void iam_cond(struct iam_stmt *s, const char *op, const char *key, const char *value_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* action on "*", because AWS offers no resource (or no condition) to scope it
 * by; why says so in --explain. */
void iam_unscoped(struct iam_policy *p, const char *action, const char *why);
/* A remark for --explain: what is wider than it could be, and how to narrow it. */
void iam_note(struct iam_policy *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The permissions hook of a module that makes no AWS call. */
void iam_no_permissions(const void *cfg, struct iam_policy *p);

/* The policy document, merged and sorted (malloc'd JSON, ending in "\n"). */
char *iam_policy_json(struct iam_policy *p);
/* The companion text: each statement's Sid with what it is for, the
 * unscoped actions, the notes. */
void iam_policy_explain(struct iam_policy *p, FILE *out);
/* Only the unscoped actions and the notes. */
void iam_policy_explain_caveats(const struct iam_policy *p, FILE *out);
/* How many unscoped actions and notes there are (for a hint on stderr). */
size_t iam_policy_caveats(const struct iam_policy *p);

#endif
