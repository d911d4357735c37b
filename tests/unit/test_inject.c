/*
 * arch/inject.c's rows and reader/inject.c's pure parts: every register a
 * row names is in its architecture's regset table, every call number is
 * the call the architecture's generated syscall table names, the
 * instruction is found only where a pc may point, and "stopped in a
 * system call" is told from orig_rax/orig_eax (sign-extended on i386).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/inject.h"
#include "reader/inject.h"

static const struct arch_desc *const with_rows[] = {
	&arch_x86_64, &arch_i386, &arch_aarch64, &arch_arm, &arch_riscv64,
};

static void assert_reg(const struct arch_desc *a, const char *name)
{
	assert_non_null(name);
	if (arch_reg_index(a, name) < 0)
		fail_msg("%s: no register %s", a->name, name);
}

static void assert_call(const struct arch_desc *a, long nr, const char *want)
{
	const char *got = arch_syscall_name(a, nr);

	if (!got || strcmp(got, want) != 0)
		fail_msg("%s: call %ld is %s, not %s", a->name, nr, got ? got : "unknown", want);
}

static void rows_name_real_registers_and_calls(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(with_rows) / sizeof(with_rows[0]); i++) {
		const struct arch_desc *a = with_rows[i];
		const struct arch_inject *abi = arch_inject_for(a);

		assert_non_null(abi);
		assert_ptr_equal(abi->arch, a);
		assert_reg(a, abi->pc);
		assert_reg(a, abi->nr);
		assert_reg(a, abi->ret);
		for (int k = 0; k < 6; k++)
			assert_reg(a, abi->args[k]);
		if (abi->orig_nr)
			assert_reg(a, abi->orig_nr);
		if (abi->mode)
			assert_reg(a, abi->mode);
		assert_true(abi->insn_len > 0 && abi->insn_len <= sizeof(abi->insn));
		assert_true(abi->insn_align > 0);
		assert_call(a, abi->nr_clone, "clone");
		assert_call(a, abi->nr_close_range, "close_range");
		assert_call(a, abi->nr_setsid, "setsid");
		assert_call(a, abi->nr_exit_group, "exit_group");
		assert_call(a, abi->nr_wait4, "wait4");
	}
	/* No row, so -o snapshot is refused there rather than guessed at. */
	assert_null(arch_inject_for(&arch_loongarch64));
}

/* abi's instruction planted at `at` (and nowhere else) in a zeroed buffer. */
static int find_at(const struct arch_inject *abi, uint64_t base, size_t at, uint64_t *found)
{
	unsigned char buf[64] = { 0 };

	memcpy(buf + at, abi->insn, abi->insn_len);
	return inject_find_insn(abi, buf, sizeof(buf), base, found, 1);
}

static void instruction_only_where_a_pc_may_be(void **state)
{
	const struct arch_inject *x86 = arch_inject_for(&arch_x86_64);
	const struct arch_inject *a64 = arch_inject_for(&arch_aarch64);
	const struct arch_inject *rv = arch_inject_for(&arch_riscv64);
	const struct arch_inject *arm = arch_inject_for(&arch_arm);
	uint64_t at = 0;

	(void)state;
	/* x86 decodes from any byte */
	assert_int_equal(find_at(x86, 0x1000, 3, &at), 1);
	assert_int_equal(at, 0x1003);
	/* aarch64: 4-byte aligned only; the base counts, not the index */
	assert_int_equal(find_at(a64, 0x1000, 6, &at), -ENOENT);
	assert_int_equal(find_at(a64, 0x1000, 8, &at), 1);
	assert_int_equal(at, 0x1008);
	assert_int_equal(find_at(a64, 0x1002, 2, &at), 1);
	assert_int_equal(at, 0x1004);
	/* arm's Thumb svc: 2-byte aligned */
	assert_int_equal(find_at(arm, 0x2000, 3, &at), -ENOENT);
	assert_int_equal(find_at(arm, 0x2000, 10, &at), 1);
	assert_int_equal(at, 0x200a);
	/* riscv64 with compressed instructions: 2-byte aligned */
	assert_int_equal(find_at(rv, 0x3000, 5, &at), -ENOENT);
	assert_int_equal(find_at(rv, 0x3000, 6, &at), 1);
	assert_int_equal(at, 0x3006);

	/* the first two, in order, for a thread stopped at the first (arm) */
	{
		unsigned char buf[32] = { 0 };
		uint64_t two[2] = { 0, 0 };

		memcpy(buf + 4, arm->insn, arm->insn_len);
		memcpy(buf + 9, arm->insn, arm->insn_len);	/* odd: not a pc */
		memcpy(buf + 20, arm->insn, arm->insn_len);
		memcpy(buf + 26, arm->insn, arm->insn_len);
		assert_int_equal(inject_find_insn(arm, buf, sizeof(buf), 0x4000, two, 2), 2);
		assert_int_equal(two[0], 0x4004);
		assert_int_equal(two[1], 0x4014);
	}
}

static void in_syscall_from_orig_nr(void **state)
{
	const struct arch_desc *a = &arch_x86_64;
	const struct arch_inject *abi = arch_inject_for(a);
	unsigned char regs[1024] = { 0 };
	int k = arch_reg_index(a, "orig_rax");
	uint64_t v = UINT64_MAX;
	uint32_t v32 = UINT32_MAX;

	(void)state;
	assert_true(k >= 0);
	memcpy(regs + a->regs[k].offset, &v, 8);
	assert_false(inject_in_syscall(abi, regs, a->regs_size));
	v = 0;	/* read(2) */
	memcpy(regs + a->regs[k].offset, &v, 8);
	assert_true(inject_in_syscall(abi, regs, a->regs_size));

	/* i386: orig_eax is 4 bytes; -1 there is "no call", not 0xffffffff */
	a = &arch_i386;
	abi = arch_inject_for(a);
	k = arch_reg_index(a, "orig_eax");
	assert_true(k >= 0);
	memset(regs, 0, sizeof(regs));
	memcpy(regs + a->regs[k].offset, &v32, 4);
	assert_false(inject_in_syscall(abi, regs, a->regs_size));
	v32 = 3;
	memcpy(regs + a->regs[k].offset, &v32, 4);
	assert_true(inject_in_syscall(abi, regs, a->regs_size));

	/* aarch64 forgets the call before the stop: cannot tell */
	assert_false(inject_in_syscall(arch_inject_for(&arch_aarch64), regs,
				       arch_aarch64.regs_size));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rows_name_real_registers_and_calls),
		cmocka_unit_test(instruction_only_where_a_pc_may_be),
		cmocka_unit_test(in_syscall_from_orig_nr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
