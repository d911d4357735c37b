/*
 * loongarch64: the kernel's uapi struct user_pt_regs, 45 eight-byte slots
 * (360 bytes): r0..r31, orig_a0, csr_era, csr_badv, ten reserved. gdb
 * names them r0..r31, orig_a0, pc, badv; r3 is the sp.
 *
 * Not verified against a running kernel (Debian 12 has neither a
 * loongarch64 kernel QEMU 7.2 can boot nor a cross compiler): the layout
 * is the uapi header's, checked by fixtures in tests/unit.
 */
#include "arch/core_layout.h"

#define EM_LOONGARCH_ 258
#define ELFCLASS64_ 2

#define R(n, slot) { .name = n, .offset = (slot) * 8, .size = 8 }

static const struct arch_reg loongarch64_regs[] = {
	R("r0", 0), R("r1", 1), R("r2", 2), R("r3", 3),
	R("r4", 4), R("r5", 5), R("r6", 6), R("r7", 7),
	R("r8", 8), R("r9", 9), R("r10", 10), R("r11", 11),
	R("r12", 12), R("r13", 13), R("r14", 14), R("r15", 15),
	R("r16", 16), R("r17", 17), R("r18", 18), R("r19", 19),
	R("r20", 20), R("r21", 21), R("r22", 22), R("r23", 23),
	R("r24", 24), R("r25", 25), R("r26", 26), R("r27", 27),
	R("r28", 28), R("r29", 29), R("r30", 30), R("r31", 31),
	R("orig_a0", 32),
	R("pc", 33),
	R("badv", 34),
};

/* DWARF for LoongArch: 0-31 are r0..r31. */
static const char *const loongarch64_dwarf_regs[] = {
	"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
	"r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23",
	"r24", "r25", "r26", "r27", "r28", "r29", "r30", "r31",
};

static const struct arch_core loongarch64_core = CORE_LAYOUT64(360);

const struct arch_desc arch_loongarch64 = {
	.name = "loongarch64",
	.elf_machine = EM_LOONGARCH_,
	.elf_class = ELFCLASS64_,
	.regs_size = 45 * 8,
	.regs = loongarch64_regs,
	.nregs = sizeof(loongarch64_regs) / sizeof(loongarch64_regs[0]),
	.pc = 33,
	.sp = 3,
	/*
	 * NT_PRSTATUS, NT_PRFPREG (34 doubles: f0..f31, fcc, fcsr),
	 * NT_LOONGARCH_LSX (vr0..31, 128 bits), NT_LOONGARCH_LASX (xr0..31,
	 * 256 bits); the vector sets only where the CPU has them.
	 */
	.regsets = { { 1, 45 * 8 }, { 2, 34 * 8 }, { 0xa02, 512 }, { 0xa03, 1024 } },
	.nregsets = 4,
	.syscall_names = generic_syscall_names,
	.nsyscalls = GENERIC_NSYSCALLS,
	.syscall_delta = loongarch64_syscall_delta,
	.nsyscall_delta = LOONGARCH64_NSYSCALL_DELTA,
	.fp_regset = 2,			/* NT_PRFPREG */
	.format_fp = loongarch64_format_fp,
	.parse_fp = loongarch64_parse_fp,
	.core = &loongarch64_core,
	.dwarf_regs = loongarch64_dwarf_regs,
	.ndwarf_regs = sizeof(loongarch64_dwarf_regs) / sizeof(loongarch64_dwarf_regs[0]),
};
