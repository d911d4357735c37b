/*
 * arm (AArch32), native or as a compat task of arm64: the kernel's
 * struct pt_regs uregs[18], four bytes each (72 bytes): r0..r12, sp, lr,
 * pc, cpsr, orig_r0. Slot order is gdb's order and r11/r12 keep gdb's
 * plain names (not fp/ip).
 */
#include "arch/core_layout.h"

#define EM_ARM_ 40
#define ELFCLASS32_ 1

#define R(n, slot) { .name = n, .offset = (slot) * 4, .size = 4 }

static const struct arch_reg arm_regs[] = {
	R("r0", 0), R("r1", 1), R("r2", 2), R("r3", 3),
	R("r4", 4), R("r5", 5), R("r6", 6), R("r7", 7),
	R("r8", 8), R("r9", 9), R("r10", 10), R("r11", 11),
	R("r12", 12),
	R("sp", 13),
	R("lr", 14),
	R("pc", 15),
	R("cpsr", 16),
	R("orig_r0", 17),
};

/* DWARF for the Arm architecture: 0-15 are r0..r15. */
static const char *const arm_dwarf_regs[] = {
	"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7",
	"r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc",
};

static const struct arch_core arm_core = CORE_LAYOUT32(72);

const struct arch_desc arch_arm = {
	.name = "arm",
	.elf_machine = EM_ARM_,
	.elf_class = ELFCLASS32_,
	.regs_size = 18 * 4,
	.regs = arm_regs,
	.nregs = sizeof(arm_regs) / sizeof(arm_regs[0]),
	.pc = 15,
	.sp = 13,
	/*
	 * What the kernel writes into a core: NT_PRSTATUS, NT_PRFPREG (the
	 * 116-byte FPA image: native kernels only, and what pr_fpvalid
	 * means), NT_ARM_VFP (d0..d31, fpscr). (ptrace also offers a compat
	 * task's NT_ARM_TLS, which arm64 cores leave out.)
	 */
	.regsets = { { 1, 18 * 4 }, { 2, 116 }, { 0x400, 260 } },
	.nregsets = 3,
	.syscall_names = arm_syscall_names,
	.nsyscalls = ARM_NSYSCALLS,
	.fp_regset = 0x400,		/* NT_ARM_VFP */
	.format_fp = arm_format_fp,
	.parse_fp = arm_parse_fp,
	.core = &arm_core,
	.dwarf_regs = arm_dwarf_regs,
	.ndwarf_regs = sizeof(arm_dwarf_regs) / sizeof(arm_dwarf_regs[0]),
};
