/* test_sha256.c: SHA-256 against FIPS 180-4's examples, HMAC-SHA256 against
 * RFC 4231's test cases, and piecewise hashing against one-shot hashing at
 * every split (block boundaries and padding are where such code goes wrong). */
#include "unit.h"

#include "aws/sha256.h"

static void
hexof(const unsigned char *md, char out[65])
{
	for (int i = 0; i < SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
assert_sha(const void *p, size_t n, const char *want)
{
	unsigned char md[SHA256_LEN];
	char got[65];

	sha256(p, n, md);
	hexof(md, got);
	assert_string_equal(got, want);
}

static void
assert_hmac(const void *k, size_t kl, const void *m, size_t ml, const char *want)
{
	unsigned char md[SHA256_LEN];
	char got[65];

	hmac_sha256(k, kl, m, ml, md);
	hexof(md, got);
	assert_string_equal(got, want);
}

static void
test_fips_examples(void **state)
{
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char *million = malloc(1000000);
	struct sha256 s;
	unsigned char md[SHA256_LEN];
	char got[65];
	(void)state;

	assert_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_sha(two, strlen(two),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	assert_non_null(million);
	memset(million, 'a', 1000000);
	assert_sha(million, 1000000,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* The same in odd-sized pieces. */
	sha256_init(&s);
	for (size_t off = 0; off < 1000000; off += 997)
		sha256_update(&s, million + off, off + 997 <= 1000000 ? 997 : 1000000 - off);
	sha256_final(&s, md);
	hexof(md, got);
	assert_string_equal(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void
test_every_split_agrees(void **state)
{
	unsigned char msg[200], whole[SHA256_LEN], parts[SHA256_LEN];
	(void)state;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 7 + 1);
	/* Every length across the padding boundaries (55, 56, 63, 64, 119, 120...). */
	for (size_t n = 0; n <= sizeof(msg); n++) {
		sha256(msg, n, whole);
		for (size_t cut = 0; cut <= n; cut++) {
			struct sha256 s;

			sha256_init(&s);
			sha256_update(&s, msg, cut);
			sha256_update(&s, msg + cut, n - cut);
			sha256_final(&s, parts);
			assert_memory_equal(whole, parts, SHA256_LEN);
		}
	}
}

static void
test_rfc4231(void **state)
{
	unsigned char k20[20], kaa[131], d50[50], k25[25];
	const char *big = "This is a test using a larger than block-size key and a larger than "
	    "block-size data. The key needs to be hashed before being used by the HMAC algorithm.";
	(void)state;

	memset(k20, 0x0b, sizeof(k20));
	assert_hmac(k20, 20, "Hi There", 8,
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	assert_hmac("Jefe", 4, "what do ya want for nothing?", 28,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(k20, 0xaa, sizeof(k20));
	memset(d50, 0xdd, sizeof(d50));
	assert_hmac(k20, 20, d50, 50,
	    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	for (int i = 0; i < 25; i++)
		k25[i] = (unsigned char)(i + 1);
	memset(d50, 0xcd, sizeof(d50));
	assert_hmac(k25, 25, d50, 50,
	    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	memset(kaa, 0xaa, sizeof(kaa));
	assert_hmac(kaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	assert_hmac(kaa, 131, big, strlen(big),
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fips_examples),
		cmocka_unit_test(test_every_split_agrees),
		cmocka_unit_test(test_rfc4231),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
