/* handoff.h: the volume's planned handoff, from both ends.
 *
 * The owner (release.c): the volume module's release detaches the volume
 * normally, and only once nothing on this instance has its device open or
 * mounted (DESIGN.md 6), then waits until EC2 says it is detached.
 *
 * The next instance (volume.c): while the owner carries the tag
 * haboot:release = "releasing SERVICE until TIME" (bootstrap/release.c sets
 * it when a release starts), it is handing the volume over.  The tag comes
 * with the DescribeInstances answer the takeover already asks for; it only
 * makes the next instance wait longer (up to TIME) and not fence the owner
 * in the middle of its release.  It never permits a detach or a stop: the
 * volume is taken only once EC2 reports it detached (DESIGN.md 3). */
#ifndef HABOOT_HANDOFF_H
#define HABOOT_HANDOFF_H

#include "aws/xml.h"
#include "context.h"

/* The wall ms until which an instance (a DescribeInstances item) says it is
 * releasing, or 0 when it is not (no tag, another state, a time past). */
long long handoff_releasing_until(const struct xml_node *instance);

/* module.h: release. */
int volume_release(struct hb_ctx *ctx, void *cfg);

#endif
