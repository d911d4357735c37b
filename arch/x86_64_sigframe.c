/*
 * x86_64's net (arch/inject.h): two rt_sigframes, as rt_sigreturn reads
 * them (arch/x86/kernel/signal_64.c), built below the red zone of the
 * carrier thread's stack. From the top down:
 *
 *   top - 128          the red zone, untouched
 *   fpstate            the thread's NT_X86_XSTATE image, 64-byte aligned
 *                      (xrstor faults otherwise), its software bytes
 *                      rewritten as a signal frame has them, then
 *                      FP_XSTATE_MAGIC2 after the image; cut to fpu_len
 *                      with the features of fpu_drop left out (see
 *                      reader/inject.c: a frame larger than the task's
 *                      own buffer is restored as SSE only)
 *   sp                 frame 1: the return address (restorer), ucontext
 *                      (uc_flags, uc_link, uc_stack, sigcontext, sigmask),
 *                      siginfo; puts the thread back
 *   child_sp           frame 2: restorer, ucontext with rip = the syscall,
 *                      rax = exit_group, rdi = 0, every signal blocked,
 *                      no FPU state (reset: the child only exits)
 *
 * The call runs at "syscall; ret" with rsp = sp: left alone after it, the
 * thread returns into the restorer ("mov $15,%rax; syscall") with rsp =
 * sp + 8, and rt_sigreturn finds frame 1 at rsp - 8. clone()'s child gets
 * rsp = child_sp and does the same with frame 2.
 *
 * rt_sigreturn forgets the interrupted call (orig_rax = -1) and does not
 * restart it, so frame 1 does what the kernel would have done on the way
 * out of the stop: -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND rewind
 * rip onto the syscall instruction with rax = the call's number;
 * -ERESTART_RESTARTBLOCK rewinds onto restart_syscall (which, after a
 * sigreturn, answers EINTR: a sleep in the carrier comes back early).
 * uc_stack has invalid flags: restore_altstack's EINVAL is ignored, so
 * the alternate signal stack stays as it is.
 */
#include <stdint.h>
#include <string.h>

#include "arch/sigframe.h"

#define RED_ZONE 128
#define FRAME 440		/* pretcode 8, ucontext 304, siginfo 128 */
#define UC 8			/* ucontext in the frame */
#define MC (UC + 40)		/* sigcontext: after uc_flags, uc_link, uc_stack */
#define SIGMASK (MC + 256)
#define FP_XSTATE_MAGIC1 0x46505853u
#define FP_XSTATE_MAGIC2 0x46505845u
#define SW_BYTES 464		/* the fxsave area's software-reserved bytes */
#define XSAVE_MIN 576		/* legacy area and the xsave header */
#define UC_FP_XSTATE 1
#define UC_SIGCONTEXT_SS 2
#define UC_STRICT_RESTORE_SS 4
#define NR_RESTART_SYSCALL 219
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

/* sigcontext's general registers, in its order, then rip, eflags. */
static const char *const mc_regs[] = {
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
	"rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip", "eflags",
};

/* ucontext and return address of a frame at f (in buf) for the registers r[]. */
static void frame(unsigned char *f, uint64_t restorer, const uint64_t r[18], uint16_t cs,
		  uint16_t ss, uint64_t fpstate, uint64_t mask)
{
	memset(f, 0, FRAME);
	put64(f, restorer);
	put64(f + UC, (fpstate ? UC_FP_XSTATE : 0) | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
	put32(f + UC + 24, 3);		/* uc_stack.ss_flags: invalid, so ignored */
	for (int k = 0; k < 18; k++)
		put64(f + MC + 8 * k, r[k]);
	put16(f + MC + 144, cs);
	put16(f + MC + 150, ss);
	put64(f + MC + 184, fpstate);
	put64(f + SIGMASK, mask);
}

size_t x86_64_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
			size_t cap)
{
	uint64_t end, fx = 0, sp, child, r[18], orig, err, xcr0, bv;
	uint16_t cs, ss;

	if (n->regs_len < abi->arch->regs_size || n->top < 65536)
		return 0;
	if (n->fpu && (n->fpu_len < XSAVE_MIN || n->fpu_len > 65536))
		n->fpu = NULL;	/* not an XSAVE image: the frame carries none */
	end = (n->top - RED_ZONE) & ~63ULL;
	if (n->fpu)
		fx = (end - n->fpu_len - 4) & ~63ULL;
	sp = ((n->fpu ? fx : end) - FRAME) & ~15ULL;
	child = (sp - FRAME) & ~15ULL;
	if (end - child > cap)
		return 0;
	n->lo = child;
	n->len = end - child;
	n->sp = sp;
	n->child_sp = child;
	memset(buf, 0, n->len);

	for (int k = 0; k < 18; k++)
		r[k] = frame_reg(abi, n->regs, mc_regs[k]);
	cs = (uint16_t)frame_reg(abi, n->regs, "cs");
	ss = (uint16_t)frame_reg(abi, n->regs, "ss");
	orig = frame_reg(abi, n->regs, "orig_rax");
	err = -r[13];		/* rax */
	if ((int64_t)orig >= 0) {
		if (err == ERESTARTSYS || err == ERESTARTNOINTR || err == ERESTARTNOHAND) {
			r[13] = orig;
			r[16] -= 2;
		} else if (err == ERESTART_RESTARTBLOCK) {
			r[13] = NR_RESTART_SYSCALL;
			r[16] -= 2;
		}
	}
	if (n->fpu) {
		unsigned char *x = buf + (fx - child);

		memcpy(x, n->fpu, n->fpu_len);
		/* ptrace puts XCR0 in the first software word; a frame wants
		 * struct _fpx_sw_bytes there. */
		memcpy(&xcr0, n->fpu + SW_BYTES, 8);
		xcr0 &= ~n->fpu_drop;
		/* and none of them in the header's XSTATE_BV */
		memcpy(&bv, x + 512, 8);
		put64(x + 512, bv & ~n->fpu_drop);
		memset(x + SW_BYTES, 0, 48);
		put32(x + SW_BYTES, FP_XSTATE_MAGIC1);
		put32(x + SW_BYTES + 4, (uint32_t)n->fpu_len + 4);	/* extended_size */
		put64(x + SW_BYTES + 8, xcr0);				/* xfeatures */
		put32(x + SW_BYTES + 16, (uint32_t)n->fpu_len);	/* xstate_size */
		put32(x + n->fpu_len, FP_XSTATE_MAGIC2);
	}
	frame(buf + (sp - child), n->restorer, r, cs, ss, fx, n->mask);

	for (int k = 0; k < 18; k++)
		r[k] = 0;
	r[13] = (uint64_t)abi->nr_exit_group;
	r[15] = child;			/* rsp: anything mapped */
	r[16] = n->gadget;
	r[17] = 0x202;			/* eflags: IF, the reserved bit */
	frame(buf, n->restorer, r, cs, ss, 0, ~0ULL);
	return n->len;
}
