/* address.h: the floating address module's parts.
 *
 *   address.c  the manifest keys, plan, and the module's lifetime (apply,
 *              check, repair, release) written once over the parts below
 *   cloud.c    what EC2 says about the address, and the calls that move it
 *              (one set per mode)
 *   link.c     the address on this machine: interfaces, `ip` commands */
#ifndef HABOOT_ADDRESS_H
#define HABOOT_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "module.h"

enum addr_mode { AM_SECONDARY, AM_ENI, AM_OVERLAY, AM_EIP };

struct addr_cfg {
	int mode;
	char *ip;                 /* secondary-ip, overlay-ip; eni: from EC2 */
	char *subnet;             /* secondary-ip: its subnet's CIDR, optional */
	char **route_tables;      /* overlay-ip */
	size_t nroute_tables;
	char **vpc_cidrs;         /* overlay-ip: optional, checked at parse time */
	size_t nvpc_cidrs;
	char *eni;                /* eni: by id ... */
	char **tag_keys, **tag_vals; /* ... or by tags */
	size_t ntags;
	long long device_index;   /* eni */
	char *allocation;         /* elastic-ip */
	char *interface;          /* the local interface, when not found by MAC */
	long long timeout_ms;
	/* watch: EC2 is asked at most every api interval; its last answer. */
	long long api_next;       /* mono ms */
	bool api_ok;
	char *api_msg;
};

/* This instance, as the address is moved to it. */
struct addr_self {
	const char *instance;     /* instance-id */
	const char *private_ip;   /* local-ipv4: the primary address */
	char *mac;                /* the primary interface's MAC */
	char *eni;                /* its ENI */
	char *subnet_cidr;        /* its subnet, when IMDS says (else NULL) */
	char *vpc_cidrs;          /* the VPC's CIDR blocks, newline-separated (IMDS), or NULL */
};

/* Where EC2 has the address now. */
struct addr_where {
	bool ours;                /* EC2 gives it to this instance, as the mode wants */
	char *desc;               /* "on eni-1 (i-2)", "routed to eni-1 in rtb-1": for messages */
	char *holder;             /* another instance EC2 gives it to, or NULL */
	/* eni mode: the floating interface */
	char *eni_id, *eni_mac, *eni_ip, *eni_az, *att_id, *att_state, *att_instance;
	/* overlay-ip: the route tables that do not route it to us yet */
	char **stale;             /* "rtb-1" */
	bool *stale_exists;       /* ... and whether each has a route for it at all */
	size_t nstale;
	bool sdc_on;              /* our ENI's source/destination check is still on */
	/* elastic-ip */
	char *public_ip;
};

extern const char *const addr_mode_names[];

/* ---- cloud.c ---- */

/* Fills self from IMDS, or from EC2 (DescribeNetworkInterfaces) where IMDS
 * does not answer.  0, or -1 after ctx_fail. */
int cloud_self(struct hb_ctx *ctx, struct addr_self *self);
void addr_self_free(struct addr_self *self);
/* What EC2 says now.  0 read, 1 EC2 did not answer (look again later),
 * -1 failed (ctx_fail; ctx_fail_anywhere when the manifest names something
 * EC2 does not have). */
int cloud_where(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *self,
    struct addr_where *w);
void addr_where_free(struct addr_where *w);
/* The same, looking again while EC2 does not answer, within the module's
 * timeout (a mass failover may throttle): 0, or -1 after ctx_fail. */
int cloud_where_patient(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *s,
    struct addr_where *w);
/* Makes EC2 give the address to this instance (the calls go through
 * ctx->eff, so plan shows them), then waits until a fresh read says so. */
int cloud_move(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *self,
    struct addr_where *w);
/* The instance's state as EC2 reports it ("running"...), or NULL (malloc'd). */
char *cloud_instance_state(struct hb_ctx *ctx, const char *instance);
/* release: hands the floating ENI back (DetachNetworkInterface, not forced). */
int cloud_release_eni(struct hb_ctx *ctx, const struct addr_cfg *a, const struct addr_self *self);

/* ---- link.c ---- */

/* The interface whose MAC is mac in this network namespace: 0 with name. */
int link_by_mac(const char *mac, char *name, size_t len);
bool link_exists(const char *name);
bool link_is_up(const char *name);
/* ip is configured on interface name. */
bool link_has_addr(const char *name, const char *ip);
/* Waits (bounded) for an interface with this MAC to appear: a newly attached
 * ENI, heard of from the kernel (devwatch).  0 with name, -1 after ctx_fail. */
int link_wait(struct hb_ctx *ctx, const char *mac, long long timeout_ms, char *name, size_t len);
/* `ip addr add IP/PREFIX dev NAME` when it is not there yet (eff_run). */
int link_add_addr(struct hb_ctx *ctx, const char *name, const char *ip, int prefix);
/* `ip addr del IP/PREFIX dev NAME`, with the prefix it has there, when it is
 * there (eff_run). */
int link_del_addr(struct hb_ctx *ctx, const char *name, const char *ip);
/* eni: link up, address, and a routing table of its own so that answers
 * from the ENI's address leave through the ENI (EC2 drops them elsewhere). */
int link_setup_eni(struct hb_ctx *ctx, const char *name, const char *ip, const char *subnet,
    long long device_index);
/* The prefix length of a CIDR ("10.0.0.0/24": 24), or -1. */
int cidr_prefix(const char *cidr);
/* ip lies inside cidr. */
bool cidr_contains(const char *cidr, const char *ip);

#endif
