/*
 * Register layouts, one table per architecture.
 *
 * A layout describes the NT_PRSTATUS register set as PTRACE_GETREGSET returns
 * it for a tracee of that architecture (the pr_reg part of a core's prstatus
 * note is the same bytes). Rows are in the order gdb's "info registers"
 * prints them, with gdb's names; offsets index into the regset blob. No
 * foreign <sys/user.h>: every layout compiles and tests on any host.
 */
#ifndef PTRACEFS_ARCH_H
#define PTRACEFS_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "arch/sbuf.h"
/* One system call where an architecture departs from a shared table. */
struct arch_syscall {
	int nr;
	const char *name;	/* NULL: no call in this slot here */
};

#include "arch/syscalls.h"

struct arch_reg {
	const char *name;
	uint16_t offset;	/* byte offset in the NT_PRSTATUS regset */
	uint8_t size;		/* 4 or 8 */
	uint8_t ro;		/* shown, but a regs write may not set it */
};

/*
 * Where the fields of a core file's two process notes sit: struct
 * elf_prstatus (one per thread) and struct elf_prpsinfo (one per process),
 * as the kernel's core dumper lays them out for the architecture. Offsets
 * are bytes from the start of the note's descriptor. `word` is the size of
 * the target's C long: the width of pr_sigpend, pr_sighold and pr_flag and
 * of each half of the struct timevals (pr_utime etc.).
 */
struct arch_core {
	uint8_t elf_data;		/* ELFDATA2LSB / ELFDATA2MSB */
	uint8_t word;			/* 4 or 8 */
	uint32_t e_flags;		/* ELF_CORE_EFLAGS */
	struct {
		uint16_t size;
		uint16_t signo, cursig, sigpend, sighold;	/* signo: pr_info.si_signo */
		uint16_t pid, ppid, pgrp, sid;
		uint16_t utime, stime, cutime, cstime;
		uint16_t reg, fpvalid;	/* pr_reg holds arch_desc.regs_size bytes */
	} prstatus;
	struct {
		uint16_t size;
		uint16_t state, sname, zomb, nice, flag;
		uint16_t uid, gid;
		uint8_t id_size;	/* width of pr_uid and pr_gid: 2 or 4 */
		uint16_t pid, ppid, pgrp, sid;
		uint16_t fname, psargs;	/* char[16], char[80] */
	} prpsinfo;
};

/* Register sets one architecture may list (aarch64 lists all of them). */
#define ARCH_MAX_REGSETS 12

struct arch_desc {
	const char *name;		/* "x86_64", as uname -m says it */
	uint16_t elf_machine;		/* EM_* */
	uint8_t elf_class;		/* ELFCLASS32 / ELFCLASS64 */
	size_t regs_size;		/* NT_PRSTATUS regset size in bytes */
	const struct arch_reg *regs;	/* in display order */
	size_t nregs;
	int pc;				/* index into regs[] of the pc */
	int sp;				/* index into regs[] of the sp */
	/* Register sets to capture, by ELF note type, with a size cap each. */
	struct { unsigned type; size_t max; } regsets[ARCH_MAX_REGSETS];
	size_t nregsets;
	/* System call names by number, for threads/<tid>/stat. */
	const char *const *syscall_names;
	size_t nsyscalls;
	/* Where it differs from syscall_names (a table shared by the
	 * asm-generic architectures), checked first. */
	const struct arch_syscall *syscall_delta;
	size_t nsyscall_delta;
	/*
	 * threads/<tid>/fpregs: the note types of the FP regset and of the
	 * extended state (0: none), and the formatter that renders them
	 * together; NULL for an architecture without one.
	 */
	unsigned fp_regset, xstate_regset;
	int (*format_fp)(const void *fx, size_t fxlen, const void *xs,
			 size_t xslen, struct sbuf *out);
	/*
	 * -o rw, fpregs written back: the lines format_fp renders (any
	 * subset, any order) into copies of the thread's sets, fx and xs
	 * (xs NULL/0 when the kernel gave none), changed only when every
	 * line is good. Returns which set to write (ARCH_FP_FX; ARCH_FP_XS,
	 * which then carries fx's changes too) or -EINVAL with why. NULL:
	 * fpregs is read-only on this architecture.
	 */
	int (*parse_fp)(const char *text, size_t len, void *fx, size_t fxlen, void *xs,
			size_t xslen, char *why, size_t whylen);
	const struct arch_core *core;	/* core note layouts; NULL: no `core` */
	/* gdb names of DWARF registers 0..n-1, to seed an unwinder. */
	const char *const *dwarf_regs;
	size_t ndwarf_regs;
};

/* One row per architecture (arch/<name>.c), registered in arch.c. */
extern const struct arch_desc arch_x86_64, arch_i386, arch_aarch64, arch_arm,
	arch_riscv64, arch_loongarch64;
extern const struct arch_core arch_x86_64_core;

/* The layout for an ELF machine/class pair, or NULL when unsupported. */
const struct arch_desc *arch_by_elf(uint16_t machine, uint8_t elf_class);
/* The layout of the machine ptracefs was built for. */
const struct arch_desc *arch_host(void);

/* Value of regs[idx] in a regset blob; 0 when the blob is too short. */
uint64_t arch_reg_value(const struct arch_desc *a, const void *blob, size_t len,
			size_t idx);
/* The name of system call nr, or NULL when unknown. */
const char *arch_syscall_name(const struct arch_desc *a, long nr);
/* Looks a register up by its gdb name; -1 if absent. */
int arch_reg_index(const struct arch_desc *a, const char *name);

/* One assignment of a regs write: regs[idx] = value. */
struct arch_reg_set {
	uint16_t idx;
	uint64_t value;
};

/*
 * Parses a write to threads/<tid>/regs: "name value" lines as
 * arch_format_regs renders them, any subset in any order, blank lines
 * allowed. A value is 0x-prefixed hex or decimal; a negative decimal is
 * two's complement in the register's width. Fills out (room for cap) and
 * returns how many, or -EINVAL with a one-line reason in why (which may be
 * NULL): an unknown or read-only name, a name given twice, a bad number,
 * a value wider than its register, more than cap lines.
 */
int arch_parse_regs(const struct arch_desc *a, const char *text, size_t len,
		    struct arch_reg_set *out, size_t cap, char *why, size_t whylen);
/* Stores parsed values into a regset blob; -EIO when it is shorter than the layout. */
int arch_apply_regs(const struct arch_desc *a, const struct arch_reg_set *v, size_t n,
		    void *blob, size_t len);

/*
 * Renders "name 0x<value>\n" for every register, the value zero-padded to
 * the register's width. Returns 0 or -EIO when the blob is shorter than
 * the layout (a truncated or foreign regset), -ENOMEM on allocation failure.
 */
int arch_format_regs(const struct arch_desc *a, const void *blob, size_t len,
		     struct sbuf *out);

/*
 * x86_64 FP state: fx is the NT_PRFPREG fxsave image (512 bytes), xs the
 * NT_X86_XSTATE XSAVE area (NULL/0 when the kernel offered none: no ymm
 * lines). Renders fcw fsw ftw fop fip fdp mxcsr st0..7 xmm0..15 ymm0..15,
 * "name 0x<hex>" a line. -EIO for a blob too short for what it claims.
 */
int x86_64_format_fp(const void *fx, size_t fxlen, const void *xs, size_t xslen,
		     struct sbuf *out);
/*
 * i386 (also as a compat task of x86_64): the same from the 32-bit
 * NT_PRXFPREG image, where fip/fdp are 32-bit offsets with their selectors
 * fcs/fds beside them, and only xmm0..7 and ymm0..7 exist.
 */
int i386_format_fp(const void *fx, size_t fxlen, const void *xs, size_t xslen,
		   struct sbuf *out);
/* Their parse_fp (x86_64_fp.c). */
#define ARCH_FP_FX 1
#define ARCH_FP_XS 2
int x86_64_parse_fp(const char *text, size_t len, void *fx, size_t fxlen, void *xs,
		    size_t xslen, char *why, size_t whylen);
int i386_parse_fp(const char *text, size_t len, void *fx, size_t fxlen, void *xs,
		  size_t xslen, char *why, size_t whylen);
/*
 * The other architectures have one FP regset and no extended state (xs is
 * ignored). aarch64: NT_PRFPREG (528) as v0..v31, fpsr, fpcr. arm:
 * NT_ARM_VFP (260) as d0..d31, fpscr. riscv64: NT_PRFPREG (264) as the
 * 32 FP registers by their ABI names, fcsr. loongarch64: NT_PRFPREG (272)
 * as f0..f31, fcc0..7, fcsr.
 */
int aarch64_format_fp(const void *fp, size_t len, const void *xs, size_t xslen,
		      struct sbuf *out);
int arm_format_fp(const void *fp, size_t len, const void *xs, size_t xslen,
		  struct sbuf *out);
int riscv64_format_fp(const void *fp, size_t len, const void *xs, size_t xslen,
		      struct sbuf *out);
int loongarch64_format_fp(const void *fp, size_t len, const void *xs, size_t xslen,
			  struct sbuf *out);
/* Their parse_fp: the lines those render, into the one FP set (ARCH_FP_FX). */
int aarch64_parse_fp(const char *text, size_t len, void *fp, size_t fplen, void *xs,
		     size_t xslen, char *why, size_t whylen);
int arm_parse_fp(const char *text, size_t len, void *fp, size_t fplen, void *xs,
		 size_t xslen, char *why, size_t whylen);
int riscv64_parse_fp(const char *text, size_t len, void *fp, size_t fplen, void *xs,
		     size_t xslen, char *why, size_t whylen);
int loongarch64_parse_fp(const char *text, size_t len, void *fp, size_t fplen, void *xs,
			 size_t xslen, char *why, size_t whylen);

#endif
