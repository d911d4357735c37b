/*
 * How to make a stopped thread run one system call, per architecture: the
 * instruction that enters the kernel, where the call number, arguments and
 * result live in the NT_PRSTATUS regset (by the register names of the
 * arch_desc tables), and the numbers of the few calls snapshot mode makes.
 * Pure data, like the rest of arch/; reader/inject.c does the ptrace.
 */
#ifndef PTRACEFS_ARCH_INJECT_H
#define PTRACEFS_ARCH_INJECT_H

#include <stdint.h>

#include "arch/arch.h"

struct arch_inject {
	const struct arch_desc *arch;
	uint8_t insn[4];		/* the syscall instruction's bytes */
	uint8_t insn_len;
	uint8_t insn_align;		/* the pc it runs at is a multiple of this */
	const char *pc, *nr, *ret;	/* register names in arch->regs */
	/*
	 * The register the kernel keeps the interrupted call's number in;
	 * -1 there means "not in a system call", so the kernel's restart of
	 * an interrupted call (ERESTARTSYS, ...) does not rewind onto ours.
	 */
	const char *orig_nr;		/* NULL: the arch forgets the call at a signal stop */
	/*
	 * A register whose mode bits the instruction needs, cleared then set
	 * in the injected registers (arm: cpsr's IT bits cleared and its T
	 * bit set, for a Thumb "svc #0"); the saved value goes back after.
	 */
	const char *mode;
	uint64_t mode_clear, mode_set;
	const char *args[6];
	long nr_clone, nr_close_range, nr_setsid, nr_exit_group, nr_wait4;
};

/* The conventions of a's tasks, or NULL where injection is not supported. */
const struct arch_inject *arch_inject_for(const struct arch_desc *a);

#endif
