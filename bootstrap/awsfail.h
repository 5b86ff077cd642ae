/* awsfail.h: a module's failure caused by an AWS error, scoped by the error.
 * A refused permission (aws_error_denied) is a failure every instance with
 * this role would repeat, so it fails ANYWHERE (context.h): haboot halts and
 * says which permission is missing instead of replacing instances in a loop.
 * Any other error fails HERE, as ctx_fail does. */
#ifndef HABOOT_AWSFAIL_H
#define HABOOT_AWSFAIL_H

#include "aws/aws.h"
#include "context.h"

/* ctx_fail("WHAT: the error") with WHAT formatted from fmt; returns -1. */
int ctx_fail_aws(struct hb_ctx *ctx, const struct aws_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
