/*
 * One system call run inside a ptrace-stopped thread of another process,
 * and the thread put back as it was. Tracer thread only, like every ptrace
 * request. Returns 0 or -errno, as everywhere in reader/.
 *
 *   inject_begin   saves the registers and signal mask, blocks every signal
 *                  but SIGTRAP and SIGSYS (a forced one of those, blocked,
 *                  would reset the process-wide handler), sets options
 *   inject_call    runs one call through PTRACE_SYSCALL stops (no traps, no
 *                  code patched: the instruction must already be mapped)
 *   inject_end     PTRACE_INTERRUPT + PTRACE_CONT to an interrupt stop in
 *                  get_signal(), and the registers, mask and options put
 *                  back there: resumed from that stop, the kernel itself
 *                  restarts a call the thread was blocked in (ERESTARTSYS,
 *                  ERESTART_RESTARTBLOCK), which restoring at the syscall
 *                  exit would turn into errno 512 or 516 in the target
 *   inject_park    leaves the thread stopped, set up to run one more call
 *                  (a clone parked on exit_group: inert if it ever runs)
 */
#ifndef PTRACEFS_READER_INJECT_H
#define PTRACEFS_READER_INJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/inject.h"

#define INJECT_REGS_MAX 1024

struct inject {
	pid_t tgid, tid;
	const struct arch_inject *abi;
	uint64_t insn;			/* address of abi->insn in the tracee, the one used */
	uint64_t deadline_ms;		/* CLOCK_MONOTONIC; every wait ends by it */
	unsigned char saved[INJECT_REGS_MAX];	/* NT_PRSTATUS at begin */
	size_t saved_len;
	uint64_t saved_mask;
	unsigned long opts_after;	/* options inject_end puts back */
	int held_sig;			/* a signal stopped on meanwhile: raised again at end */
	/* The net (arch/inject.h), laid by inject_net; net_saved NULL: none. */
	uint64_t net_lo, net_sp, net_child_sp, net_link;
	unsigned char *net_saved;	/* the stack bytes its frames cover */
	size_t net_len;
};

/*
 * insn: two addresses of abi->insn (the second 0 if there is no other).
 * The first is used unless the thread stopped at it: native arm restarts
 * an interrupted call inside the kernel, with the call's old number, when
 * the pc left at the stop is where the call restarts.
 */
int inject_begin(struct inject *in, pid_t tgid, pid_t tid, const struct arch_inject *abi,
		 const uint64_t insn[2], unsigned long opts_during, unsigned long opts_after,
		 uint64_t deadline_ms);
/* *ret: the call's return value; *child: the pid a clone event reported, else 0. */
int inject_call(struct inject *in, long nr, const uint64_t args[6], int64_t *ret,
		pid_t *child);
/*
 * inject_call gave up at its deadline with the call under way (a fork of
 * a huge target takes long): its stops followed to the call's exit by
 * in->deadline_ms (set a fresh one), so a clone it made is known (*child)
 * and the thread is left where inject_end can put it back from. Needs
 * PTRACE_GET_SYSCALL_INFO (Linux 5.3).
 */
int inject_finish(struct inject *in, int64_t *ret, pid_t *child);
/*
 * Lays the net under the thread's stack (abi->net_build): from here until
 * inject_end has put the registers back, a thread left alone (the tracer
 * killed) returns from the call into its own registers, mask and FPU
 * state. in->insn must be a copy of abi->net_insn, restorer the address of
 * a copy of abi->restorer. Every later call runs with sp = net_sp; a
 * clone() should get net_child_sp as its new stack. inject_end takes the
 * frames away again. -EOPNOTSUPP where the arch has no net; -EFAULT where
 * the stack has no room (the call then runs without one).
 */
int inject_net(struct inject *in, uint64_t restorer);
/* The bytes the net covered written back into pid (a clone that copied them). */
int inject_net_wipe(const struct inject *in, pid_t pid);
/* Also frees what inject_net took, whatever it returns. */
int inject_end(struct inject *in);
int inject_park(struct inject *in, long nr, const uint64_t args[6]);

/* waitpid(tid, __WALL) until deadline_ms: 0 and *status, or -ETIMEDOUT. */
int inject_wait(pid_t tid, int *status, uint64_t deadline_ms);

/*
 * The first copies (up to max) of abi->insn in buf (len bytes read from
 * base) where a pc may point: their number in at[], or -ENOENT.
 */
int inject_find_insn(const struct arch_inject *abi, const unsigned char *buf, size_t len,
		     uint64_t base, uint64_t *at, size_t max);
/* The same for any pattern (pat, plen) at multiples of align. */
int inject_find_bytes(const uint8_t *pat, size_t plen, unsigned align, const unsigned char *buf,
		      size_t len, uint64_t base, uint64_t *at, size_t max);

/*
 * The thread was stopped inside a system call (regs: NT_PRSTATUS at an
 * interrupt stop). false where the architecture cannot tell (no orig_nr).
 */
bool inject_in_syscall(const struct arch_inject *abi, const void *regs, size_t len);

/*
 * Stopped in a system call the kernel restarts through restart_syscall
 * (a sleep, a poll with a timeout: -ERESTART_RESTARTBLOCK in the result
 * register). A thread put back by the net's rt_sigreturn cannot resume
 * such a call where it was (x86: it returns EINTR), so snapshot mode
 * carries its calls in another thread where it can. false where the
 * architecture cannot tell.
 */
bool inject_in_restart_block(const struct arch_inject *abi, const void *regs, size_t len);

/* rip inside the critical section the thread's rseq area names (regs: NT_PRSTATUS). */
bool inject_in_rseq_cs(pid_t tid, const struct arch_inject *abi, const void *regs, size_t len);

#endif
