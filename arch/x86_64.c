/*
 * x86_64: the kernel's struct user_regs_struct, 27 eight-byte slots (216
 * bytes), which is also elf_gregset_t in a core's NT_PRSTATUS note.
 * Slot numbers are the kernel's; rows are in gdb's display order.
 */
#include "arch/arch.h"

#define EM_X86_64_ 62
#define ELFCLASS64_ 2

#define R(n, slot) { .name = n, .offset = (slot) * 8, .size = 8 }
/* Code and stack selectors: a regs write may not set them (cs picks 32- or 64-bit code). */
#define RO(n, slot) { .name = n, .offset = (slot) * 8, .size = 8, .ro = 1 }

static const struct arch_reg x86_64_regs[] = {
	R("rax", 10),
	R("rbx", 5),
	R("rcx", 11),
	R("rdx", 12),
	R("rsi", 13),
	R("rdi", 14),
	R("rbp", 4),
	R("rsp", 19),
	R("r8", 9),
	R("r9", 8),
	R("r10", 7),
	R("r11", 6),
	R("r12", 3),
	R("r13", 2),
	R("r14", 1),
	R("r15", 0),
	R("rip", 16),
	R("eflags", 18),
	RO("cs", 17),
	RO("ss", 20),
	R("ds", 23),
	R("es", 24),
	R("fs", 25),
	R("gs", 26),
	R("fs_base", 21),
	R("gs_base", 22),
	R("orig_rax", 15),
};

/* DWARF numbering of the x86-64 psABI: 0-15 are not in slot order. */
static const char *const x86_64_dwarf_regs[] = {
	"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip",
};

const struct arch_desc arch_x86_64 = {
	.name = "x86_64",
	.elf_machine = EM_X86_64_,
	.elf_class = ELFCLASS64_,
	.regs_size = 27 * 8,
	.regs = x86_64_regs,
	.nregs = sizeof(x86_64_regs) / sizeof(x86_64_regs[0]),
	.pc = 16,
	.sp = 7,
	/* NT_PRSTATUS, NT_PRFPREG (fxsave), NT_X86_XSTATE (size is per CPU) */
	.regsets = { { 1, 27 * 8 }, { 2, 512 }, { 0x202, 16384 } },
	.nregsets = 3,
	.syscall_names = x86_64_syscall_names,
	.nsyscalls = X86_64_NSYSCALLS,
	.fp_regset = 2,			/* NT_PRFPREG */
	.xstate_regset = 0x202,		/* NT_X86_XSTATE */
	.format_fp = x86_64_format_fp,
	.parse_fp = x86_64_parse_fp,
	.core = &arch_x86_64_core,
	.dwarf_regs = x86_64_dwarf_regs,
	.ndwarf_regs = sizeof(x86_64_dwarf_regs) / sizeof(x86_64_dwarf_regs[0]),
};
