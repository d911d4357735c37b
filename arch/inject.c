/*
 * Injection conventions, one row per architecture.
 *
 * x86 keeps the interrupted call's number in NT_PRSTATUS (orig_rax,
 * orig_eax) and decides on a restart after the signal stop, so the
 * injected registers say "no call" there. arm, aarch64 and riscv64 decide
 * before the stop (do_signal rewinds the pc and forgets the call), so a
 * pc moved at the stop is left alone and the call's number need not be
 * touched: they have no orig_nr. Their call numbers are the generic
 * table's (aarch64, riscv64) or arm EABI's, like i386's but exit_group.
 *
 * loongarch64 has no row: it flags "in a system call" in the slot of r0,
 * which no test here has shown can be written through NT_PRSTATUS.
 */
#include <stddef.h>

#include "arch/inject.h"

#define GENERIC_NRS .nr_clone = 220, .nr_close_range = 436, .nr_setsid = 157, \
		    .nr_exit_group = 94, .nr_wait4 = 260

static const struct arch_inject inject_rows[] = {
	{
		.arch = &arch_x86_64,
		.insn = { 0x0f, 0x05 },	/* syscall */
		.insn_len = 2, .insn_align = 1,
		.pc = "rip", .nr = "rax", .ret = "rax", .orig_nr = "orig_rax", .sp = "rsp",
		.args = { "rdi", "rsi", "rdx", "r10", "r8", "r9" },
		.nr_clone = 56, .nr_close_range = 436, .nr_setsid = 112,
		.nr_exit_group = 231, .nr_wait4 = 61,
		.net_insn = { 0x0f, 0x05, 0xc3 }, .net_insn_len = 3,	/* syscall; ret */
		/* mov $15,%rax; syscall: glibc's and musl's __restore_rt */
		.restorer = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 },
		.restorer_len = 9,
		.fpu_regset = 0x202,	/* NT_X86_XSTATE */
		.net_build = x86_64_net_build,
	},
	{
		.arch = &arch_i386,
		.insn = { 0xcd, 0x80 },	/* int $0x80 (in the 32-bit vDSO) */
		.insn_len = 2, .insn_align = 1,
		.pc = "eip", .nr = "eax", .ret = "eax", .orig_nr = "orig_eax", .sp = "esp",
		.args = { "ebx", "ecx", "edx", "esi", "edi", "ebp" },
		.nr_clone = 120, .nr_close_range = 436, .nr_setsid = 66,
		.nr_exit_group = 252, .nr_wait4 = 114,
		/* int $0x80; pop %ebp; pop %edx; pop %ecx; ret: __kernel_vsyscall's tail */
		.net_insn = { 0xcd, 0x80, 0x5d, 0x5a, 0x59, 0xc3 }, .net_insn_len = 6,
		/* mov $173,%eax; int $0x80: the vDSO's __kernel_rt_sigreturn */
		.restorer = { 0xb8, 0xad, 0x00, 0x00, 0x00, 0xcd, 0x80 }, .restorer_len = 7,
		.fpu_regset = 0x202,		/* NT_X86_XSTATE */
		.fpu_env_regset = 2,		/* NT_PRFPREG: struct user_i387_ia32_struct */
		.net_build = i386_net_build,
	},
	{
		.arch = &arch_aarch64,
		.insn = { 0x01, 0x00, 0x00, 0xd4 },	/* svc #0 */
		.insn_len = 4, .insn_align = 4,
		.pc = "pc", .nr = "x8", .ret = "x0",
		.args = { "x0", "x1", "x2", "x3", "x4", "x5" },
		GENERIC_NRS,
		.sp = "sp", .link = "x30",
		.net_insn = { 0x01, 0x00, 0x00, 0xd4, 0xc0, 0x03, 0x5f, 0xd6 },	/* svc #0; ret */
		.net_insn_len = 8,
		/* mov x8, #139; svc #0: the vDSO's __kernel_rt_sigreturn */
		.restorer = { 0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4 },
		.restorer_len = 8,
		.fpu_regset = 2,	/* NT_PRFPREG: struct user_fpsimd_state */
		.net_build = aarch64_net_build,
	},
	{
		/*
		 * Native arm and arm tasks on arm64 alike. Thumb "svc #0":
		 * Debian's armhf code is Thumb-2, so every system call wrapper
		 * has one, and any halfword 0xdf00 run in Thumb state is one
		 * (ARM state's "svc #0" was found in no mapping of a static
		 * armhf program on arm64).
		 */
		.arch = &arch_arm,
		.insn = { 0x00, 0xdf },
		.insn_len = 2, .insn_align = 2,
		.pc = "pc", .nr = "r7", .ret = "r0",
		.args = { "r0", "r1", "r2", "r3", "r4", "r5" },
		.mode = "cpsr", .mode_clear = 0x0600fc00, .mode_set = 0x20,	/* IT[7:0]; T */
		.nr_clone = 120, .nr_close_range = 436, .nr_setsid = 66,
		.nr_exit_group = 248, .nr_wait4 = 114,
		/*
		 * Thumb "svc #0; pop {r7}; bx lr": the end of glibc's armhf
		 * wrappers (a bare "svc #0; bx lr" is in none). The restorer
		 * is the [sigpage]'s Thumb rt_sigreturn, mapped into every arm
		 * task: "movs r7, #173; svc #0" on a native kernel, "svc #173"
		 * (the same call: EABI ignores the number) on arm64's compat.
		 */
		.sp = "sp", .link = "lr",
		.net_insn = { 0x00, 0xdf, 0x80, 0xbc, 0x70, 0x47 }, .net_insn_len = 6,
		.restorer = { 0xad, 0x27, 0x00, 0xdf }, .restorer_len = 4,
		.restorer_alt = { 0xad, 0x27, 0xad, 0xdf }, .restorer_alt_len = 4,
		.fpu_regset = 0x400,	/* NT_ARM_VFP */
		.net_build = arm_net_build,
	},
	{
		.arch = &arch_riscv64,
		.insn = { 0x73, 0x00, 0x00, 0x00 },	/* ecall */
		.insn_len = 4, .insn_align = 2,		/* the C extension */
		.pc = "pc", .nr = "a7", .ret = "a0",
		.args = { "a0", "a1", "a2", "a3", "a4", "a5" },
		GENERIC_NRS,
		.sp = "sp", .link = "ra",
		.net_insn = { 0x73, 0x00, 0x00, 0x00, 0x82, 0x80 }, .net_insn_len = 6,	/* ecall; c.ret */
		/* li a7, 139; ecall: the vDSO's __vdso_rt_sigreturn */
		.restorer = { 0x93, 0x08, 0xb0, 0x08, 0x73, 0x00, 0x00, 0x00 },
		.restorer_len = 8,
		.fpu_regset = 2,	/* NT_PRFPREG: struct __riscv_d_ext_state */
		.net_build = riscv64_net_build,
	},
};

const struct arch_inject *arch_inject_for(const struct arch_desc *a)
{
	for (size_t i = 0; i < sizeof(inject_rows) / sizeof(inject_rows[0]); i++)
		if (inject_rows[i].arch == a)
			return &inject_rows[i];
	return NULL;
}
