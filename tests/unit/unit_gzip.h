/* unit_gzip.h: gzip bytes in memory, as `gzip` makes them, for the tests of
 * gzipped user-data.  Include after unit.h and util.h. */
#ifndef HABOOT_UNIT_GZIP_H
#define HABOOT_UNIT_GZIP_H

#include <zlib.h>

static inline void
gzip_bytes(const void *s, size_t n, struct buf *out)
{
	z_stream zs;
	unsigned char chunk[4096];
	int zr;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
	    Z_OK);
	zs.next_in = (unsigned char *)(uintptr_t)s;
	zs.avail_in = (uInt)n;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zr = deflate(&zs, Z_FINISH);
		buf_add(out, chunk, sizeof(chunk) - zs.avail_out);
	} while (zr == Z_OK);
	assert_int_equal(zr, Z_STREAM_END);
	deflateEnd(&zs);
}

#endif
