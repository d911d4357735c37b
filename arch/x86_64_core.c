/*
 * x86_64 core notes: struct elf_prstatus (336 bytes) and struct
 * elf_prpsinfo (136 bytes) as the kernel's core dumper writes them for a
 * 64-bit task, and as gdb, lldb and elfutils read them back.
 *
 * elf_prstatus: pr_info {si_signo, si_code, si_errno} at 0, pr_cursig (a
 * short) at 12, the two sigset words at 16 and 24, four pids from 32, four
 * struct timevals (two longs each) from 48, pr_reg (27 longs, the same
 * bytes as the NT_PRSTATUS regset) at 112 and pr_fpvalid at 328, padded to
 * a multiple of 8.
 *
 * elf_prpsinfo: four chars, pr_flag (a long) at 8, 32-bit uid and gid at
 * 16, four pids from 24, pr_fname[16] at 40 and pr_psargs[80] at 56.
 */
#include "arch/arch.h"

#define ELFDATA2LSB_ 1

const struct arch_core arch_x86_64_core = {
	.elf_data = ELFDATA2LSB_,
	.word = 8,
	.e_flags = 0,
	.prstatus = {
		.size = 336,
		.signo = 0, .cursig = 12, .sigpend = 16, .sighold = 24,
		.pid = 32, .ppid = 36, .pgrp = 40, .sid = 44,
		.utime = 48, .stime = 64, .cutime = 80, .cstime = 96,
		.reg = 112, .fpvalid = 328,
	},
	.prpsinfo = {
		.size = 136,
		.state = 0, .sname = 1, .zomb = 2, .nice = 3, .flag = 8,
		.uid = 16, .gid = 20, .id_size = 4,
		.pid = 24, .ppid = 28, .pgrp = 32, .sid = 36,
		.fname = 40, .psargs = 56,
	},
};
