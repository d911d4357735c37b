/*
 * Injection conventions, one row per architecture. A row needs a register
 * that cancels the kernel's syscall restart (orig_rax on x86_64): aarch64
 * and riscv64 keep that state outside NT_PRSTATUS, so they have no row yet.
 */
#include <stddef.h>

#include "arch/inject.h"

static const struct arch_inject inject_rows[] = {
	{
		.arch = &arch_x86_64,
		.insn = { 0x0f, 0x05 },	/* syscall */
		.insn_len = 2,
		.pc = "rip", .nr = "rax", .ret = "rax", .orig_nr = "orig_rax",
		.args = { "rdi", "rsi", "rdx", "r10", "r8", "r9" },
		.nr_clone = 56, .nr_close_range = 436, .nr_setsid = 112,
		.nr_exit_group = 231, .nr_wait4 = 61,
	},
};

const struct arch_inject *arch_inject_for(const struct arch_desc *a)
{
	for (size_t i = 0; i < sizeof(inject_rows) / sizeof(inject_rows[0]); i++)
		if (inject_rows[i].arch == a)
			return &inject_rows[i];
	return NULL;
}
