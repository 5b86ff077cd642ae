/* sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), what SigV4
 * needs.  Our own, so that the static binary carries no general crypto
 * library for two functions: its TLS comes with curl's TLS library. */
#ifndef HABOOT_AWS_SHA256_H
#define HABOOT_AWS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;        /* total length so far */
	unsigned char blk[64]; /* a partial block */
	size_t nblk;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *p, size_t n);
/* Writes the digest and wipes the state. */
void sha256_final(struct sha256 *s, unsigned char out[SHA256_LEN]);
void sha256(const void *p, size_t n, unsigned char out[SHA256_LEN]);
void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[SHA256_LEN]);

#endif
