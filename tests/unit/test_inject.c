/*
 * arch/inject.c's rows and reader/inject.c's pure parts: every register a
 * row names is in its architecture's regset table, every call number is
 * the call the architecture's generated syscall table names, the
 * instruction is found only where a pc may point, and "stopped in a
 * system call" is told from orig_rax/orig_eax (sign-extended on i386).
 * x86_64's net frames are checked against glibc's ucontext_t layout (the
 * kernel's rt_sigframe from the return address on) on an x86_64 host.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ucontext.h>

#include <cmocka.h>

#include "arch/inject.h"
#include "reader/bytes.h"
#include "reader/inject.h"

/*
 * The call number a row's restorer loads, decoded from its first
 * instruction: x86_64 "mov $imm32,%rax", i386 "mov $imm32,%eax", aarch64 "movz x8, #imm16",
 * riscv64 "addi a7, zero, imm12", Thumb "movs r7, #imm8".
 */
static long restorer_nr(const struct arch_inject *abi)
{
	const uint8_t *b = abi->restorer;
	uint32_t w;

	memcpy(&w, b, 4);
	if (abi->arch == &arch_x86_64)
		return b[0] == 0x48 && b[1] == 0xc7 && b[2] == 0xc0 ? (long)(w >> 24 | b[4] << 8) : -1;
	if (abi->arch == &arch_i386)
		return b[0] == 0xb8 ? (long)(b[1] | b[2] << 8) : -1;
	if (abi->arch == &arch_aarch64)
		return (w & 0xffe0001f) == 0xd2800008 ? (long)((w >> 5) & 0xffff) : -1;
	if (abi->arch == &arch_riscv64)
		return (w & 0xfffff) == 0x00893 ? (long)(w >> 20) : -1;
	if (abi->arch == &arch_arm)
		return b[1] == 0x27 ? b[0] : -1;
	return -1;
}

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
		if (abi->net_build) {
			assert_reg(a, abi->sp);
			assert_true(abi->net_insn_len > abi->insn_len &&
				    memcmp(abi->net_insn, abi->insn, abi->insn_len) == 0);
			assert_true(abi->restorer_len > 0);
			assert_call(a, restorer_nr(abi), "rt_sigreturn");
			/* and then enters the kernel */
			assert_true(abi->restorer_len >= abi->insn_len &&
				    memcmp(abi->restorer + abi->restorer_len - abi->insn_len,
					   abi->insn, abi->insn_len) == 0);
			if (abi->link)
				assert_reg(a, abi->link);
			assert_true(abi->fpu_regset != 0);
		}
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

/* name's value in an NT_PRSTATUS blob of a (every arch here is little-endian). */
static void put_reg(const struct arch_desc *a, unsigned char *regs, const char *name, uint64_t v)
{
	int i = arch_reg_index(a, name);

	assert_true(i >= 0);
	put_n(regs + a->regs[i].offset, a->regs[i].size, false, v);
}

static void in_syscall_from_orig_nr(void **state)
{
	const struct arch_desc *a = &arch_x86_64;
	const struct arch_inject *abi = arch_inject_for(a);
	unsigned char regs[1024] = { 0 };

	(void)state;
	put_reg(a, regs, "orig_rax", UINT64_MAX);
	assert_false(inject_in_syscall(abi, regs, a->regs_size));
	put_reg(a, regs, "orig_rax", 0);	/* read(2) */
	assert_true(inject_in_syscall(abi, regs, a->regs_size));

	/* i386: orig_eax is 4 bytes; -1 there is "no call", not 0xffffffff */
	a = &arch_i386;
	abi = arch_inject_for(a);
	memset(regs, 0, sizeof(regs));
	put_reg(a, regs, "orig_eax", UINT32_MAX);
	assert_false(inject_in_syscall(abi, regs, a->regs_size));
	put_reg(a, regs, "orig_eax", 3);
	assert_true(inject_in_syscall(abi, regs, a->regs_size));

	/* aarch64 forgets the call before the stop: cannot tell */
	assert_false(inject_in_syscall(arch_inject_for(&arch_aarch64), regs,
				       arch_aarch64.regs_size));

}

/*
 * A sleep restarted through restart_syscall: ERESTART_RESTARTBLOCK in the
 * result register of a thread in a call, and only then; i386's 4-byte
 * result sign-extended.
 */
static void restart_block_from_result(void **state)
{
	static const struct {
		const struct arch_desc *a;
		const char *orig, *ret;
		uint64_t nr, result;
		bool want;
	} cases[] = {
		{ &arch_x86_64, "orig_rax", "rax", 35, (uint64_t)-516, true },	/* nanosleep */
		{ &arch_x86_64, "orig_rax", "rax", 0, (uint64_t)-512, false },	/* ERESTARTSYS: read */
		{ &arch_x86_64, "orig_rax", "rax", UINT64_MAX, (uint64_t)-516, false },	/* no call */
		{ &arch_i386, "orig_eax", "eax", 162, (uint32_t)-516, true },
		{ &arch_i386, "orig_eax", "eax", UINT32_MAX, (uint32_t)-516, false },
	};
	unsigned char regs[1024];

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memset(regs, 0, sizeof(regs));
		put_reg(cases[c].a, regs, cases[c].orig, cases[c].nr);
		put_reg(cases[c].a, regs, cases[c].ret, cases[c].result);
		assert_int_equal(inject_in_restart_block(arch_inject_for(cases[c].a), regs,
							 cases[c].a->regs_size), cases[c].want);
	}
}

/*
 * The nets of the other arches on any host (the layouts themselves are
 * checked by their kernels under QEMU: tests/qemu, snapkill_*): the
 * frames lie below the thread's sp and inside the bytes written, frame 1
 * carries the thread's registers as taken (in sigcontext order: the
 * regset's own, but i386's), the clone's stack is below frame 1, the
 * link register is loaded with the restorer (Thumb on arm), and without
 * FP state or room there is no net.
 */
static void net_frames_other_arches(void **state)
{
	static const struct arch_desc *const arches[] = {
		&arch_aarch64, &arch_riscv64, &arch_arm, &arch_i386,
	};
	unsigned char regs[512], fpu[1024], env[108], buf[32768];

	(void)state;
	for (size_t i = 0; i < sizeof(regs); i++)
		regs[i] = (unsigned char)(i * 11 + 5);
	for (size_t i = 0; i < sizeof(fpu); i++)
		fpu[i] = (unsigned char)(i * 7);
	memset(env, 0x3c, sizeof(env));
	memset(fpu + 464, 0, 8);	/* i386: ptrace's XCR0 word */
	fpu[464] = 7;
	for (size_t k = 0; k < sizeof(arches) / sizeof(arches[0]); k++) {
		const struct arch_inject *abi = arch_inject_for(arches[k]);
		size_t rl = arches[k]->regs_size;
		uint64_t top = 0x7ffd1238;
		struct arch_net n = {
			.top = top, .restorer = 0x7f001110, .gadget = 0x7f002220,
			.regs = regs, .regs_len = rl, .mask = 0x4001,
			.fpu = fpu, .fpu_len = abi->fpu_env_regset ? 832 : sizeof(fpu),
			.env = env, .env_len = sizeof(env),
		};
		size_t len;

		assert_non_null(abi->net_build);
		len = abi->net_build(abi, &n, buf, sizeof(buf));
		if (len == 0)
			fail_msg("%s: no net", arches[k]->name);
		assert_int_equal(len, n.len);
		assert_true(n.lo + n.len <= top);
		assert_true(n.lo <= n.child_sp && n.child_sp < n.sp && n.sp < n.lo + n.len);
		if (abi->link) {
			assert_int_equal(n.link & ~1ULL, n.restorer);
			assert_int_equal(n.link & 1, arches[k] == &arch_arm);
		}
		/* frame 1, from sp up, holds the registers (less arm's orig_r0) */
		if (arches[k] != &arch_i386) {
			size_t want = arches[k] == &arch_arm ? rl - 4 : rl;
			const unsigned char *f = buf + (n.sp - n.lo);

			assert_non_null(memmem(f, n.lo + n.len - n.sp, regs, want));
		}
		/* no FP state, no net; no room, no net */
		n.fpu = NULL;
		assert_int_equal(abi->net_build(abi, &n, buf, sizeof(buf)), 0);
		n.fpu = fpu;
		assert_int_equal(abi->net_build(abi, &n, buf, 512), 0);
	}
}

#if defined(__x86_64__)
#define at64(p) get_n((p), 8, false)
#define at32(p) ((uint32_t)get_n((p), 4, false))

#define GREG(uc, r) at64((uc) + offsetof(ucontext_t, uc_mcontext.gregs[r]))

/*
 * One net built for a thread stopped in read(2) with rax = err: frame 1
 * at sp, frame 2 at child_sp, the XSAVE image where frame 1 points; all
 * below the red zone and inside the bytes written.
 */
static void net_frames(void **state)
{
	static const struct { int64_t err; uint64_t rax, rip; } cases[] = {
		{ -512, 0, 0x401000 },		/* ERESTARTSYS: read again */
		{ -514, 0, 0x401000 },		/* ERESTARTNOHAND */
		{ -516, 219, 0x401000 },	/* ERESTART_RESTARTBLOCK: restart_syscall */
		{ -4, (uint64_t)-4, 0x401002 },	/* EINTR: returned as it is */
	};
	const struct arch_inject *abi = arch_inject_for(&arch_x86_64);
	unsigned char regs[512] = { 0 }, fpu[832], buf[8192];

	(void)state;
	for (size_t i = 0; i < sizeof(fpu); i++)
		fpu[i] = (unsigned char)(i * 7);
	memcpy(fpu + 464, &(uint64_t){ 7 }, 8);		/* ptrace's XCR0 word */
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint64_t top = 0x7ffd00001238, fp;
		struct arch_net n = {
			.top = top, .restorer = 0x7f0000001111, .gadget = 0x7f0000002222,
			.regs = regs, .regs_len = arch_x86_64.regs_size, .mask = 0x4001,
			.fpu = fpu, .fpu_len = sizeof(fpu),
		};
		const unsigned char *f1, *f2, *uc1, *uc2, *x;
		size_t len;

		put_reg(&arch_x86_64, regs, "rax", (uint64_t)cases[c].err);
		put_reg(&arch_x86_64, regs, "orig_rax", 0);
		put_reg(&arch_x86_64, regs, "rip", 0x401002);
		put_reg(&arch_x86_64, regs, "rsp", top);
		put_reg(&arch_x86_64, regs, "rbx", 0xb0b);
		put_reg(&arch_x86_64, regs, "cs", 0x33);
		put_reg(&arch_x86_64, regs, "ss", 0x2b);
		len = abi->net_build(abi, &n, buf, sizeof(buf));
		assert_int_equal(len, n.len);
		assert_true(n.lo + n.len <= top - 128);		/* the red zone kept */
		assert_true(n.child_sp >= n.lo && n.child_sp + 440 <= n.sp);
		f1 = buf + (n.sp - n.lo);
		f2 = buf + (n.child_sp - n.lo);
		uc1 = f1 + 8;
		uc2 = f2 + 8;
		/* frame 1: the thread as it was, its call restarted */
		assert_int_equal(at64(f1), n.restorer);
		assert_int_equal(GREG(uc1, REG_RIP), cases[c].rip);
		assert_int_equal(GREG(uc1, REG_RAX), cases[c].rax);
		assert_int_equal(GREG(uc1, REG_RSP), top);
		assert_int_equal(GREG(uc1, REG_RBX), 0xb0b);
		assert_int_equal(at64(uc1 + offsetof(ucontext_t, uc_sigmask)), 0x4001);
		fp = at64(uc1 + offsetof(ucontext_t, uc_mcontext.fpregs));
		assert_int_equal(fp % 64, 0);
		assert_true(fp >= n.sp + 440 && fp + sizeof(fpu) + 4 <= n.lo + n.len);
		x = buf + (fp - n.lo);
		assert_memory_equal(x, fpu, 464);
		assert_int_equal(at32(x + 464), 0x46505853);		/* FP_XSTATE_MAGIC1 */
		assert_int_equal(at32(x + 468), sizeof(fpu) + 4);	/* extended_size */
		assert_int_equal(at64(x + 472), 7);			/* xfeatures */
		assert_int_equal(at32(x + 480), sizeof(fpu));		/* xstate_size */
		assert_memory_equal(x + 512, fpu + 512, sizeof(fpu) - 512);
		assert_int_equal(at32(x + sizeof(fpu)), 0x46505845);	/* FP_XSTATE_MAGIC2 */
		/* frame 2: exit_group(0) at the gadget, no FPU state */
		assert_int_equal(at64(f2), n.restorer);
		assert_int_equal(GREG(uc2, REG_RIP), n.gadget);
		assert_int_equal(GREG(uc2, REG_RAX), 231);
		assert_int_equal(GREG(uc2, REG_RDI), 0);
		assert_int_equal(at64(uc2 + offsetof(ucontext_t, uc_mcontext.fpregs)), 0);
		/* too little room: nothing */
		assert_int_equal(abi->net_build(abi, &n, buf, 1024), 0);
	}
	/* Features dropped (AMX tile data not in use): gone from the
	 * frame's xfeatures and from the image's XSTATE_BV. */
	{
		struct arch_net n = {
			.top = 0x7ffd00001238, .restorer = 0x7f0000001111, .gadget = 0x7f0000002222,
			.regs = regs, .regs_len = arch_x86_64.regs_size, .mask = 0,
			.fpu = fpu, .fpu_len = sizeof(fpu), .fpu_drop = 1ULL << 18,
		};
		const unsigned char *x;

		memcpy(fpu + 464, &(uint64_t){ 0x60007 }, 8);
		memcpy(fpu + 512, &(uint64_t){ 0x40003 }, 8);
		assert_true(abi->net_build(abi, &n, buf, sizeof(buf)) > 0);
		x = buf + (at64(buf + (n.sp - n.lo) + 8 + offsetof(ucontext_t, uc_mcontext.fpregs)) -
			   n.lo);
		assert_int_equal(at64(x + 472), 0x20007);	/* xfeatures */
		assert_int_equal(at64(x + 512), 3);		/* XSTATE_BV */
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rows_name_real_registers_and_calls),
		cmocka_unit_test(instruction_only_where_a_pc_may_be),
		cmocka_unit_test(in_syscall_from_orig_nr),
		cmocka_unit_test(restart_block_from_result),
		cmocka_unit_test(net_frames_other_arches),
#if defined(__x86_64__)
		cmocka_unit_test(net_frames),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
