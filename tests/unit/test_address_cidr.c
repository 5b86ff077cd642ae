/* test_address_cidr.c: the CIDR arithmetic the address module decides with
 * (an overlay address outside the VPC, a secondary one inside its subnet). */
#include "unit.h"

#include "address/address.h"

static void
test_prefix(void **state)
{
	(void)state;
	assert_int_equal(cidr_prefix("10.0.0.0/24"), 24);
	assert_int_equal(cidr_prefix("0.0.0.0/0"), 0);
	assert_int_equal(cidr_prefix("10.0.0.5/32"), 32);
	assert_int_equal(cidr_prefix("10.0.0.0/33"), -1);
	assert_int_equal(cidr_prefix("10.0.0.0/"), -1);
	assert_int_equal(cidr_prefix("10.0.0.0/2x"), -1);
	assert_int_equal(cidr_prefix("10.0.0.0"), -1);
	assert_int_equal(cidr_prefix(NULL), -1);
}

static void
test_contains(void **state)
{
	(void)state;
	assert_true(cidr_contains("10.10.10.0/24", "10.10.10.0"));
	assert_true(cidr_contains("10.10.10.0/24", "10.10.10.255"));
	assert_false(cidr_contains("10.10.10.0/24", "10.10.11.0"));
	assert_false(cidr_contains("10.10.10.0/24", "10.10.9.255"));
	assert_true(cidr_contains("10.10.10.64/26", "10.10.10.127"));
	assert_false(cidr_contains("10.10.10.64/26", "10.10.10.128"));
	assert_true(cidr_contains("0.0.0.0/0", "192.168.1.1"));
	assert_true(cidr_contains("192.168.1.5/32", "192.168.1.5"));
	assert_false(cidr_contains("192.168.1.5/32", "192.168.1.4"));
	/* Not an answer either way: never "inside" by accident. */
	assert_false(cidr_contains("10.10.10.0/24", "10.10.10.256"));
	assert_false(cidr_contains("10.10.10.0/99", "10.10.10.1"));
	assert_false(cidr_contains("not-a-cidr", "10.10.10.1"));
	assert_false(cidr_contains("10.10.10.0/24", "::1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_contains),
	};

	return cmocka_run_group_tests_name("address_cidr", tests, NULL, NULL);
}
