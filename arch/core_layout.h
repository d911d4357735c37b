/*
 * The two shapes of the core notes' struct elf_prstatus and elf_prpsinfo
 * that Linux architectures share, given the size of their pr_reg.
 *
 * 64-bit (LP64, 32-bit uid_t): pr_info at 0, pr_cursig at 12, the sigset
 * words at 16 and 24, four pids from 32, four timevals of two longs from
 * 48, pr_reg at 112, then pr_fpvalid; padded to 8. elf_prpsinfo is 136
 * bytes: pr_flag at 8, uid and gid at 16, pids from 24, fname at 40.
 *
 * 32-bit (i386, and arm native or as a compat task of arm64): longs and
 * timeval halves are 4 bytes, so pr_reg is at 72 and the struct is padded
 * to 4. Both use a 16-bit __kernel_uid_t (compat_uid_t on x86_64 and
 * arm64), which shrinks elf_prpsinfo to 124 bytes.
 */
#ifndef PTRACEFS_ARCH_CORE_LAYOUT_H
#define PTRACEFS_ARCH_CORE_LAYOUT_H

#include "arch/arch.h"

#define CORE_LAYOUT64(regsz) {						\
	.elf_data = 1 /* ELFDATA2LSB */, .word = 8, .e_flags = 0,	\
	.prstatus = {							\
		.size = (112 + (regsz) + 4 + 7) / 8 * 8,		\
		.signo = 0, .cursig = 12, .sigpend = 16, .sighold = 24,	\
		.pid = 32, .ppid = 36, .pgrp = 40, .sid = 44,		\
		.utime = 48, .stime = 64, .cutime = 80, .cstime = 96,	\
		.reg = 112, .fpvalid = 112 + (regsz),			\
	},								\
	.prpsinfo = {							\
		.size = 136,						\
		.state = 0, .sname = 1, .zomb = 2, .nice = 3, .flag = 8,\
		.uid = 16, .gid = 20, .id_size = 4,			\
		.pid = 24, .ppid = 28, .pgrp = 32, .sid = 36,		\
		.fname = 40, .psargs = 56,				\
	},								\
}

#define CORE_LAYOUT32(regsz) {						\
	.elf_data = 1 /* ELFDATA2LSB */, .word = 4, .e_flags = 0,	\
	.prstatus = {							\
		.size = 72 + (regsz) + 4,				\
		.signo = 0, .cursig = 12, .sigpend = 16, .sighold = 20,	\
		.pid = 24, .ppid = 28, .pgrp = 32, .sid = 36,		\
		.utime = 40, .stime = 48, .cutime = 56, .cstime = 64,	\
		.reg = 72, .fpvalid = 72 + (regsz),			\
	},								\
	.prpsinfo = {							\
		.size = 124,						\
		.state = 0, .sname = 1, .zomb = 2, .nice = 3, .flag = 4,\
		.uid = 8, .gid = 10, .id_size = 2,			\
		.pid = 12, .ppid = 16, .pgrp = 20, .sid = 24,		\
		.fname = 28, .psargs = 44,				\
	},								\
}

#endif
