/* test_asg.c: reading the seconds out of AWS's grace-period refusal of
 * SetInstanceHealth, which tells the watcher when to ask again. */
#include "unit.h"

#include "asg.h"

static void
test_grace_numbers(void **state)
{
	/* What AWS answers (ValidationError, Sender) while the grace period runs. */
	const struct {
		const char *message;
		int rc;
		long long age, grace;
	} cases[] = {
		{"The age of the instance (986 seconds) is less than the configured grace period "
		    "of 1500 seconds", 0, 986, 1500},
		{"The age of the instance (0 seconds) is less than the configured grace period of "
		    "300 seconds", 0, 0, 300},
		{"Instance Id not found - No managed instance found for instance ID: i-1", -1, 0, 0},
		{"The age of the instance (x seconds) is less than the configured grace period of "
		    "300 seconds", -1, 0, 0},
		{"", -1, 0, 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long age = -7, grace = -7;

		assert_int_equal(asg_grace_numbers(cases[i].message, &age, &grace), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(age, cases[i].age);
			assert_int_equal(grace, cases[i].grace);
		}
	}
	assert_int_equal(asg_grace_numbers(NULL, &(long long){0}, &(long long){0}), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grace_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
