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

#include <stddef.h>

#include "arch/arch.h"

struct arch_net;

struct arch_inject {
	const struct arch_desc *arch;
	uint8_t insn[4];		/* the syscall instruction's bytes */
	uint8_t insn_len;
	uint8_t insn_align;		/* the pc it runs at is a multiple of this */
	const char *pc, *nr, *ret;	/* register names in arch->regs */
	const char *sp;			/* the stack pointer's (the net moves it) */
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
	/*
	 * The net (struct arch_net): the call runs at a copy of net_insn (the
	 * syscall instruction and a return), whose return goes to a copy of
	 * restorer (a sigreturn): popped from the stack (x86_64) or read from
	 * the register link (loaded with arch_net's link). net_build NULL: no
	 * net on this arch.
	 */
	uint8_t net_insn[8], net_insn_len;
	const char *link;		/* NULL: the return pops its address */
	uint8_t restorer[12], restorer_len;
	uint8_t restorer_alt[12], restorer_alt_len;	/* another spelling of it, or none */
	unsigned fpu_regset;		/* NT_* of the state a frame carries besides NT_PRSTATUS */
	unsigned fpu_env_regset;	/* and another (i386: the i387 environment), or 0 */
	size_t (*net_build)(const struct arch_inject *abi, struct arch_net *n,
			    unsigned char *buf, size_t cap);
};

/*
 * A thread carrying an injected call holds the call's registers until the
 * tracer puts its own back. Should the tracer die first (SIGKILL), the
 * kernel lets the thread run on with them. The net makes that harmless:
 * signal frames written below the thread's stack (under the red zone) so
 * that, left alone, the thread returns from the call into rt_sigreturn
 * and puts back its registers, FPU state and signal mask itself, with an
 * interrupted call restarted as the kernel would have. A second frame is
 * the stack a clone() child gets: it calls exit_group(0) and nothing else.
 */
struct arch_net {
	/* in */
	uint64_t top;			/* the thread's sp */
	uint64_t restorer;		/* address of abi->restorer in the target */
	uint64_t gadget;		/* address of abi->net_insn in the target */
	const unsigned char *regs;	/* NT_PRSTATUS to put back */
	size_t regs_len;
	uint64_t mask;			/* the signal mask to put back */
	const unsigned char *fpu;	/* abi->fpu_regset's blob, or NULL */
	size_t fpu_len;
	uint64_t fpu_drop;		/* x86: XSAVE features the frame leaves out */
	const unsigned char *env;	/* abi->fpu_env_regset's blob, or NULL */
	size_t env_len;
	/* out: buf holds the bytes of [lo, lo + len) */
	uint64_t lo, len;
	uint64_t sp;			/* the sp to run the call with */
	uint64_t child_sp;		/* clone()'s new stack */
	uint64_t link;			/* for abi->link, if the arch has one */
};

/* The conventions of a's tasks, or NULL where injection is not supported. */
const struct arch_inject *arch_inject_for(const struct arch_desc *a);

/*
 * The net_build of each arch that has one (arch/x86_64_sigframe.c,
 * arch/sigframe.c): n->len bytes in buf (n filled in), or 0 (cap too
 * small, bad input).
 */
size_t x86_64_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
			size_t cap);
size_t aarch64_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
			 size_t cap);
size_t riscv64_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
			 size_t cap);
size_t arm_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
		     size_t cap);
size_t i386_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
		      size_t cap);

#endif
