/* rpc.h: a small ONC RPC client (RFC 5531) over TCP with record marking,
 * for the exports module's health check.  It proves that the NFS server
 * answers as an NFS server: a port that accepts connections proves only that
 * something listens.  Every call is bounded by a deadline; nothing blocks
 * past it. */
#ifndef HABOOT_EXPORTS_RPC_H
#define HABOOT_EXPORTS_RPC_H

#include <stddef.h>
#include <stdint.h>

#define RPC_PROG_PORTMAP 100000
#define RPC_PROG_NFS 100003
#define RPC_PROG_MOUNT 100005
#define RPC_PORT_RPCBIND 111

/* How a call ended. */
enum rpc_outcome {
	RPC_SUCCESS,   /* accepted, SUCCESS: the results follow */
	RPC_ERROR,     /* the server answered as an RPC server, but not SUCCESS
	                  (program or version not served, auth refused...) */
	RPC_NO_ANSWER, /* no RPC answer in time: refused, reset, silence, garbage */
};

/* What a call's reply said. */
struct rpc_reply {
	enum rpc_outcome outcome;
	/* For RPC_ERROR: accept_stat (1 PROG_UNAVAIL, 2 PROG_MISMATCH, 3
	 * PROC_UNAVAIL, 4 GARBAGE_ARGS, 5 SYSTEM_ERR); or, when the call was
	 * denied, -1 (RPC_MISMATCH: low..high) or -2 (AUTH_ERROR: low is the
	 * auth_stat). */
	int accept_stat;
	/* PROG_MISMATCH (or RPC_MISMATCH): the versions the server has. */
	uint32_t low, high;
	/* The results of a SUCCESS, XDR-encoded (malloc'd), and their length. */
	unsigned char *results;
	size_t nresults;
};

void rpc_reply_free(struct rpc_reply *r);

/* One call on a new connection to host:port (an IPv4 or IPv6 literal):
 * connect, send, read the whole reply, close; all within timeout_ms.
 * auth_sys: AUTH_SYS as root (NFSv4 COMPOUND wants it), else AUTH_NONE.
 * Fills *r; returns 0 when an RPC reply came (look at r->outcome), -1 when
 * none did (why says what happened: "connection refused", "no reply within 5s"). */
int rpc_call(const char *host, int port, uint32_t prog, uint32_t vers, uint32_t proc,
    int auth_sys, const void *args, size_t nargs, long long timeout_ms, struct rpc_reply *r,
    char *why, size_t whylen);

/* NULL (procedure 0) of prog/vers: 0 when it answered SUCCESS; -1 with why
 * ("program 100003 version 3 is not served (versions 4 to 4)", "no reply
 * within 5s").  *r, when not NULL, gets the reply's details. */
int rpc_null(const char *host, int port, uint32_t prog, uint32_t vers, long long timeout_ms,
    struct rpc_reply *r, char *why, size_t whylen);

/* The port rpcbind (portmap v2 at host:rpcbind_port, RPC_PORT_RPCBIND in
 * real life) gives for prog/vers over TCP: 0 with *port (0: not
 * registered), -1 with why. */
int rpc_getport(const char *host, int rpcbind_port, uint32_t prog, uint32_t vers,
    long long timeout_ms, int *port, char *why, size_t whylen);

/* NFSv4.0 COMPOUND {PUTROOTFH, LOOKUP each component of path, GETFH}: does the
 * server's pseudo filesystem lead to path?  0 yes; 1 the server answered
 * with an NFSv4 error (*nfs_status, why names the component and the error);
 * -1 no answer (why). */
int rpc_nfs4_lookup(const char *host, int port, const char *path, long long timeout_ms,
    uint32_t *nfs_status, char *why, size_t whylen);

/* "NFS4ERR_NOENT" for 2 (unknown statuses as a number). */
const char *rpc_nfs4_status_name(uint32_t status, char *buf, size_t n);

#endif
