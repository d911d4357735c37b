/*
 * i386, native or as a compat task of an x86_64 kernel: the kernel's
 * 32-bit struct user_regs_struct, 17 four-byte slots (68 bytes):
 * ebx ecx edx esi edi ebp eax ds es fs gs orig_eax eip cs eflags esp ss.
 * Rows are in gdb's display order, orig_eax last as on x86_64.
 */
#include "arch/core_layout.h"

#define EM_386_ 3
#define ELFCLASS32_ 1

#define R(n, slot) { .name = n, .offset = (slot) * 4, .size = 4 }
/* Code and stack selectors: a regs write may not set them (cs picks 32- or 64-bit code). */
#define RO(n, slot) { .name = n, .offset = (slot) * 4, .size = 4, .ro = 1 }

static const struct arch_reg i386_regs[] = {
	R("eax", 6),
	R("ecx", 1),
	R("edx", 2),
	R("ebx", 0),
	R("esp", 15),
	R("ebp", 5),
	R("esi", 3),
	R("edi", 4),
	R("eip", 12),
	R("eflags", 14),
	RO("cs", 13),
	RO("ss", 16),
	R("ds", 7),
	R("es", 8),
	R("fs", 9),
	R("gs", 10),
	R("orig_eax", 11),
};

/* DWARF numbering of the i386 psABI: 0-7 in the instruction encoding's order. */
static const char *const i386_dwarf_regs[] = {
	"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip",
};

static const struct arch_core i386_core = CORE_LAYOUT32(68);

const struct arch_desc arch_i386 = {
	.name = "i386",
	.elf_machine = EM_386_,
	.elf_class = ELFCLASS32_,
	.regs_size = 17 * 4,
	.regs = i386_regs,
	.nregs = sizeof(i386_regs) / sizeof(i386_regs[0]),
	.pc = 8,
	.sp = 4,
	/*
	 * In the kernel's core order (its ia32 regset view): NT_PRSTATUS,
	 * NT_PRFPREG (the 108-byte FSAVE image, which makes pr_fpvalid),
	 * NT_PRXFPREG (FXSAVE), NT_X86_XSTATE (size is per CPU), NT_386_TLS
	 * (three GDT entries).
	 */
	.regsets = { { 1, 17 * 4 }, { 2, 108 }, { 0x46e62b7f, 512 }, { 0x202, 16384 },
		     { 0x200, 48 } },
	.nregsets = 5,
	.syscall_names = i386_syscall_names,
	.nsyscalls = I386_NSYSCALLS,
	.fp_regset = 0x46e62b7f,	/* NT_PRXFPREG */
	.xstate_regset = 0x202,		/* NT_X86_XSTATE */
	.format_fp = i386_format_fp,
	.parse_fp = i386_parse_fp,
	.core = &i386_core,
	.dwarf_regs = i386_dwarf_regs,
	.ndwarf_regs = sizeof(i386_dwarf_regs) / sizeof(i386_dwarf_regs[0]),
};
