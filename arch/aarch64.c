/*
 * aarch64: the kernel's struct user_pt_regs, 34 eight-byte slots (272
 * bytes): x0..x30, sp, pc, pstate. gdb calls pstate cpsr; rows are in
 * slot order, which is also gdb's.
 */
#include "arch/core_layout.h"

#define EM_AARCH64_ 183
#define ELFCLASS64_ 2

#define R(n, slot) { .name = n, .offset = (slot) * 8, .size = 8 }

static const struct arch_reg aarch64_regs[] = {
	R("x0", 0), R("x1", 1), R("x2", 2), R("x3", 3),
	R("x4", 4), R("x5", 5), R("x6", 6), R("x7", 7),
	R("x8", 8), R("x9", 9), R("x10", 10), R("x11", 11),
	R("x12", 12), R("x13", 13), R("x14", 14), R("x15", 15),
	R("x16", 16), R("x17", 17), R("x18", 18), R("x19", 19),
	R("x20", 20), R("x21", 21), R("x22", 22), R("x23", 23),
	R("x24", 24), R("x25", 25), R("x26", 26), R("x27", 27),
	R("x28", 28), R("x29", 29), R("x30", 30),
	R("sp", 31),
	R("pc", 32),
	R("cpsr", 33),
};

/*
 * DWARF for the Arm 64-bit architecture: 0-30 are x0..x30 and 31 is sp.
 * 32 is not the pc (the unwinder is handed the pc separately), so the
 * list stops at sp.
 */
static const char *const aarch64_dwarf_regs[] = {
	"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7",
	"x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
	"x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23",
	"x24", "x25", "x26", "x27", "x28", "x29", "x30", "sp",
};

static const struct arch_core aarch64_core = CORE_LAYOUT64(272);

const struct arch_desc arch_aarch64 = {
	.name = "aarch64",
	.elf_machine = EM_AARCH64_,
	.elf_class = ELFCLASS64_,
	.regs_size = 34 * 8,
	.regs = aarch64_regs,
	.nregs = sizeof(aarch64_regs) / sizeof(aarch64_regs[0]),
	.pc = 32,
	.sp = 31,
	/*
	 * Every regset the kernel writes into a core, in its order (the
	 * arm64 user_aarch64_view): NT_PRSTATUS, NT_PRFPREG (v0..v31, fpsr,
	 * fpcr), NT_ARM_TLS (tpidr_el0, and tpidr2 on SME kernels),
	 * NT_ARM_HW_BREAK and NT_ARM_HW_WATCH (struct user_hwdebug_state),
	 * NT_ARM_SYSTEM_CALL, NT_ARM_SVE (header and registers; only the
	 * FPSIMD view when the thread never used SVE, up to 9 KiB at the
	 * largest vector length), NT_ARM_PAC_MASK, NT_ARM_PAC_ENABLED_KEYS,
	 * NT_ARM_PACA_KEYS, NT_ARM_PACG_KEYS, NT_ARM_TAGGED_ADDR_CTRL. A
	 * kernel or CPU without one refuses it, and it is left out.
	 */
	.regsets = { { 1, 34 * 8 }, { 2, 528 }, { 0x401, 16 }, { 0x402, 264 }, { 0x403, 264 },
		     { 0x404, 4 }, { 0x405, 16384 }, { 0x406, 16 }, { 0x40a, 8 }, { 0x407, 64 },
		     { 0x408, 16 }, { 0x409, 8 } },
	.nregsets = 12,
	.syscall_names = generic_syscall_names,
	.nsyscalls = GENERIC_NSYSCALLS,
	.fp_regset = 2,			/* NT_PRFPREG */
	.format_fp = aarch64_format_fp,
	.parse_fp = aarch64_parse_fp,
	.core = &aarch64_core,
	.dwarf_regs = aarch64_dwarf_regs,
	.ndwarf_regs = sizeof(aarch64_dwarf_regs) / sizeof(aarch64_dwarf_regs[0]),
};
