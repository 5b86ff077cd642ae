/* awscall.h: one AWS action whose answer is not read (a change: AttachVolume,
 * CreateTags, CompleteLifecycleAction...), made through the effects layer, so
 * that plan shows it and only run makes it. */
#ifndef HABOOT_AWSCALL_H
#define HABOOT_AWSCALL_H

#include "aws/aws.h"
#include "context.h"

struct aws_call {
	enum aws_service svc;
	const char *action;
	struct aws_params p;   /* filled by the caller between init and send */
	struct aws_error err;  /* why send failed */
	struct aws *aws;
};

void aws_call_init(struct aws_call *c, struct hb_ctx *ctx, enum aws_service svc,
    const char *action);
/* Makes the call; the summary (printf) is what plan and the log say after
 * the service's name.  0, or -1 with c->err said (no AWS client is one). */
int aws_call_send(struct hb_ctx *ctx, struct aws_call *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void aws_call_free(struct aws_call *c);

#endif
