/*
 * riscv64: the kernel's struct user_regs_struct, 32 eight-byte slots
 * (256 bytes): pc in slot 0 where x0 (always zero) would be, then x1..x31.
 * Rows are in slot order with gdb's ABI names (x8 is fp, as gdb says).
 */
#include "arch/core_layout.h"

#define EM_RISCV_ 243
#define ELFCLASS64_ 2

#define R(n, slot) { .name = n, .offset = (slot) * 8, .size = 8 }

static const struct arch_reg riscv64_regs[] = {
	R("pc", 0), R("ra", 1), R("sp", 2), R("gp", 3),
	R("tp", 4), R("t0", 5), R("t1", 6), R("t2", 7),
	R("fp", 8), R("s1", 9), R("a0", 10), R("a1", 11),
	R("a2", 12), R("a3", 13), R("a4", 14), R("a5", 15),
	R("a6", 16), R("a7", 17), R("s2", 18), R("s3", 19),
	R("s4", 20), R("s5", 21), R("s6", 22), R("s7", 23),
	R("s8", 24), R("s9", 25), R("s10", 26), R("s11", 27),
	R("t3", 28), R("t4", 29), R("t5", 30), R("t6", 31),
};

/*
 * DWARF for RISC-V: 0-31 are x0..x31. x0 is not in the regset ("zero"
 * matches no row and reads as 0, which is its value).
 */
static const char *const riscv64_dwarf_regs[] = {
	"zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2",
	"fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
	"a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7",
	"s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
};

static const struct arch_core riscv64_core = CORE_LAYOUT64(256);

const struct arch_desc arch_riscv64 = {
	.name = "riscv64",
	.elf_machine = EM_RISCV_,
	.elf_class = ELFCLASS64_,
	.regs_size = 32 * 8,
	.regs = riscv64_regs,
	.nregs = sizeof(riscv64_regs) / sizeof(riscv64_regs[0]),
	.pc = 0,
	.sp = 2,
	/* NT_PRSTATUS, NT_PRFPREG (f0..f31 and fcsr, the D extension's state) */
	.regsets = { { 1, 32 * 8 }, { 2, 264 } },
	.nregsets = 2,
	.syscall_names = generic_syscall_names,
	.nsyscalls = GENERIC_NSYSCALLS,
	.syscall_delta = riscv64_syscall_delta,
	.nsyscall_delta = RISCV64_NSYSCALL_DELTA,
	.fp_regset = 2,			/* NT_PRFPREG */
	.format_fp = riscv64_format_fp,
	.parse_fp = riscv64_parse_fp,
	.core = &riscv64_core,
	.dwarf_regs = riscv64_dwarf_regs,
	.ndwarf_regs = sizeof(riscv64_dwarf_regs) / sizeof(riscv64_dwarf_regs[0]),
};
