/*
 * arch_parse_regs / arch_apply_regs: the text a -o rw regs write takes,
 * on the x86_64 (8-byte) and i386 (4-byte) layouts: names, widths,
 * hex and decimal, and every refusal leaving nothing parsed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/arch.h"

static int parse(const struct arch_desc *a, const char *text, struct arch_reg_set *v)
{
	char why[128];

	return arch_parse_regs(a, text, strlen(text), v, 64, why, sizeof(why));
}

static void test_regs_parse_takes_names_in_any_order(void **state)
{
	struct arch_reg_set v[64];
	int n;

	(void)state;
	n = parse(&arch_x86_64, "rip 0x401000\n\t rax   42 \r\n\nr15 0XFFFF\n", v);
	assert_int_equal(n, 3);
	assert_string_equal(arch_x86_64.regs[v[0].idx].name, "rip");
	assert_int_equal(v[0].value, 0x401000);
	assert_string_equal(arch_x86_64.regs[v[1].idx].name, "rax");
	assert_int_equal(v[1].value, 42);
	assert_int_equal(v[2].value, 0xffff);
}

static void test_regs_parse_without_final_newline(void **state)
{
	struct arch_reg_set v[64];

	(void)state;
	assert_int_equal(parse(&arch_x86_64, "orig_rax -1", v), 1);
	assert_int_equal(v[0].value, UINT64_MAX);
}

static void test_regs_parse_widths(void **state)
{
	struct arch_reg_set v[64];

	(void)state;
	assert_int_equal(parse(&arch_x86_64, "rax 0xffffffffffffffff\n", v), 1);
	assert_int_equal(parse(&arch_x86_64, "rax 18446744073709551615\n", v), 1);
	assert_int_equal(parse(&arch_x86_64, "rax 18446744073709551616\n", v), -EINVAL);
	assert_int_equal(parse(&arch_x86_64, "rax 0x10000000000000000\n", v), -EINVAL);
	assert_int_equal(parse(&arch_x86_64, "rax -9223372036854775808\n", v), 1);
	assert_int_equal(v[0].value, UINT64_C(1) << 63);
	assert_int_equal(parse(&arch_x86_64, "rax -9223372036854775809\n", v), -EINVAL);
	/* i386: 32-bit registers */
	assert_int_equal(parse(&arch_i386, "eax 0xffffffff\n", v), 1);
	assert_int_equal(parse(&arch_i386, "eax 0x100000000\n", v), -EINVAL);
	assert_int_equal(parse(&arch_i386, "eax -1\n", v), 1);
	assert_int_equal(v[0].value, 0xffffffff);
	assert_int_equal(parse(&arch_i386, "eax -2147483649\n", v), -EINVAL);
}

static void test_regs_parse_refuses_bad_input(void **state)
{
	static const char *const bad[] = {
		"nosuch 1\n", "rax\n", "rax 1 2\n", "rax 0x\n", "rax 12z\n", "rax -0x1\n",
		"rax --1\n", "rax 1\nrax 2\n", "cs 0x33\n", "ss 0x2b\n", "RAX 1\n",
		"rax 0x1g\n", "rax +1\n", "rax 1\nbogus\n",
	};
	struct arch_reg_set v[64];
	char why[128] = "";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = arch_parse_regs(&arch_x86_64, bad[i], strlen(bad[i]), v, 64, why,
					sizeof(why));

		if (n != -EINVAL)
			fail_msg("%s: %d", bad[i], n);
		assert_true(why[0] != '\0');
	}
	/* a NUL inside a name, and more lines than room */
	assert_int_equal(arch_parse_regs(&arch_x86_64, "ra\0x 1\n", 7, v, 64, NULL, 0), -EINVAL);
	assert_int_equal(arch_parse_regs(&arch_x86_64, "rax 1\nrbx 2\n", 12, v, 1, NULL, 0),
			 -EINVAL);
	/* blank only: nothing to set (the file refuses that) */
	assert_int_equal(parse(&arch_x86_64, " \n\n", v), 0);
}

static void test_regs_apply_writes_the_slots(void **state)
{
	unsigned char blob[27 * 8], b32[17 * 4];
	struct arch_reg_set v[64];
	uint64_t x;
	uint32_t y;

	(void)state;
	memset(blob, 0x55, sizeof(blob));
	assert_int_equal(parse(&arch_x86_64, "rax 0x1122334455667788\nr15 7\n", v), 2);
	assert_int_equal(arch_apply_regs(&arch_x86_64, v, 2, blob, sizeof(blob)), 0);
	memcpy(&x, blob + 10 * 8, 8);	/* rax: slot 10 */
	assert_int_equal(x, 0x1122334455667788);
	memcpy(&x, blob + 0, 8);	/* r15: slot 0 */
	assert_int_equal(x, 7);
	memcpy(&x, blob + 8, 8);	/* r14 untouched */
	assert_int_equal(x, 0x5555555555555555);
	assert_int_equal(arch_apply_regs(&arch_x86_64, v, 2, blob, 100), -EIO);

	memset(b32, 0x55, sizeof(b32));
	assert_int_equal(parse(&arch_i386, "eip 0xdeadbeef\n", v), 1);
	assert_int_equal(arch_apply_regs(&arch_i386, v, 1, b32, sizeof(b32)), 0);
	memcpy(&y, b32 + 12 * 4, 4);	/* eip: slot 12 */
	assert_int_equal(y, 0xdeadbeef);
	memcpy(&y, b32 + 13 * 4, 4);
	assert_int_equal(y, 0x55555555);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regs_parse_takes_names_in_any_order),
		cmocka_unit_test(test_regs_parse_without_final_newline),
		cmocka_unit_test(test_regs_parse_widths),
		cmocka_unit_test(test_regs_parse_refuses_bad_input),
		cmocka_unit_test(test_regs_apply_writes_the_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
