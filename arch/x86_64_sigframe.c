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
#include <stdbool.h>
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

/*
 * What the kernel does to an interrupted call on the way out of the stop
 * (rt_sigreturn will not): ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND
 * rewind the ip onto the 2-byte syscall instruction with the call's
 * number back; ERESTART_RESTARTBLOCK rewinds onto restart_syscall. orig
 * is the call's number (negative: not in a call), *ax its result.
 */
static void restart(int64_t orig, uint64_t *ax, uint64_t *ip, uint64_t nr_restart, bool is32)
{
	uint64_t err = is32 ? (uint64_t)-(int64_t)(int32_t)*ax : -*ax;

	if (orig < 0)
		return;
	if (err == ERESTARTSYS || err == ERESTARTNOINTR || err == ERESTARTNOHAND) {
		*ax = (uint64_t)orig;
		*ip -= 2;
	} else if (err == ERESTART_RESTARTBLOCK) {
		*ax = nr_restart;
		*ip -= 2;
	}
}

/*
 * n's XSAVE image at x as a signal frame has it: ptrace puts XCR0 in the
 * first software word, a frame wants struct _fpx_sw_bytes there, and
 * FP_XSTATE_MAGIC2 after the image; the features of fpu_drop are left
 * out of both the software bytes and the header's XSTATE_BV.
 */
static void put_xsave(unsigned char *x, const struct arch_net *n)
{
	uint64_t xcr0, bv;

	memcpy(x, n->fpu, n->fpu_len);
	memcpy(&xcr0, n->fpu + SW_BYTES, 8);
	xcr0 &= ~n->fpu_drop;
	memcpy(&bv, x + 512, 8);
	put64(x + 512, bv & ~n->fpu_drop);
	memset(x + SW_BYTES, 0, 48);
	put32(x + SW_BYTES, FP_XSTATE_MAGIC1);
	put32(x + SW_BYTES + 4, (uint32_t)n->fpu_len + 4);	/* extended_size */
	put64(x + SW_BYTES + 8, xcr0);				/* xfeatures */
	put32(x + SW_BYTES + 16, (uint32_t)n->fpu_len);	/* xstate_size */
	put32(x + n->fpu_len, FP_XSTATE_MAGIC2);
}

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
	uint64_t end, fx = 0, sp, child, r[18], orig;
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
	restart((int64_t)orig, &r[13], &r[16], NR_RESTART_SYSCALL, false);
	if (n->fpu)
		put_xsave(buf + (fx - child), n);
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

/*
 * i386's net, for an ia32 task (on an x86_64 kernel, or a 32-bit one):
 * rt_sigframe_ia32 as the compat rt_sigreturn reads it (at esp - 4, after
 * the return popped pretcode). Its FP state is struct fregs_state (the
 * i387 environment and registers, which the kernel folds over the FXSAVE
 * part: NT_PRFPREG is exactly that) followed by the XSAVE image. The
 * gadget is the vDSO's "int $0x80; pop %ebp; pop %edx; pop %ecx; ret"
 * (__kernel_vsyscall's tail), so the call runs with esp 12 bytes below the
 * frame, and the restorer is the vDSO's __kernel_rt_sigreturn.
 */
#define FRAME32 268		/* pretcode, sig, pinfo, puc; siginfo 128; ucontext 116; retcode 8 */
#define UC32 144
#define MC32 (UC32 + 20)	/* sigcontext_32: after uc_flags, uc_link, uc_stack */
#define SIGMASK32 (MC32 + 88)
#define FREGS 112		/* struct fregs_state, before the FXSAVE/XSAVE image */
#define ENV 108			/* struct user_i387_ia32_struct: NT_PRFPREG */
#define POP32 12		/* the gadget's three pops */
#define NR_RESTART_SYSCALL32 0

/* NT_PRSTATUS's words (struct user_regs_struct of i386) */
enum { EBX, ECX, EDX, ESI, EDI, EBP, EAX, DS, ES, FS, GS, ORIG_EAX, EIP, CS, EFLAGS, ESP, SS, NWORDS };

static void frame32(unsigned char *f, uint32_t restorer, const uint32_t w[NWORDS],
		    uint32_t fpstate, uint64_t mask)
{
	unsigned char *mc = f + MC32;

	memset(f, 0, FRAME32);
	put32(f, restorer);
	put32(f + UC32 + 12, 3);	/* uc_stack.ss_flags: invalid, so ignored */
	put16(mc + 0, (uint16_t)w[GS]);
	put16(mc + 4, (uint16_t)w[FS]);
	put16(mc + 8, (uint16_t)w[ES]);
	put16(mc + 12, (uint16_t)w[DS]);
	put32(mc + 16, w[EDI]);
	put32(mc + 20, w[ESI]);
	put32(mc + 24, w[EBP]);
	put32(mc + 28, w[ESP]);
	put32(mc + 32, w[EBX]);
	put32(mc + 36, w[EDX]);
	put32(mc + 40, w[ECX]);
	put32(mc + 44, w[EAX]);
	put32(mc + 56, w[EIP]);
	put16(mc + 60, (uint16_t)w[CS]);
	put32(mc + 64, w[EFLAGS]);
	put16(mc + 72, (uint16_t)w[SS]);
	put32(mc + 76, fpstate);
	put64(f + SIGMASK32, mask);
}

size_t i386_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
		      size_t cap)
{
	uint32_t w[NWORDS];
	uint64_t end, fx, f1, f2, ax, ip;

	if (n->regs_len < NWORDS * 4 || n->top < 65536 || n->top > UINT32_MAX)
		return 0;
	/* Both FP blobs, or no net (a frame without them resets the FPU). */
	if (!n->fpu || n->fpu_len < XSAVE_MIN || n->fpu_len > 65536 || !n->env ||
	    n->env_len < ENV)
		return 0;
	end = n->top & ~63ULL;
	fx = (end - n->fpu_len - 4) & ~63ULL;
	f1 = (fx - FREGS - FRAME32) & ~15ULL;
	n->sp = f1 - POP32;
	f2 = (n->sp - FRAME32) & ~15ULL;
	n->child_sp = f2 - POP32;
	n->lo = n->child_sp & ~15ULL;
	if (end - n->lo > cap)
		return 0;
	n->len = end - n->lo;
	memset(buf, 0, n->len);

	memcpy(w, n->regs, sizeof(w));
	ax = w[EAX];
	ip = w[EIP];
	restart((int32_t)w[ORIG_EAX], &ax, &ip, NR_RESTART_SYSCALL32, true);
	w[EAX] = (uint32_t)ax;
	w[EIP] = (uint32_t)ip;
	memcpy(buf + (fx - FREGS - n->lo), n->env, ENV);
	put_xsave(buf + (fx - n->lo), n);
	frame32(buf + (f1 - n->lo), (uint32_t)n->restorer, w, (uint32_t)(fx - FREGS), n->mask);

	/* frame 2: exit_group(0) at the gadget; segments as the thread's */
	for (int k = 0; k < NWORDS; k++)
		if (k != DS && k != ES && k != FS && k != GS && k != CS && k != SS)
			w[k] = 0;
	w[EAX] = (uint32_t)abi->nr_exit_group;
	w[ESP] = (uint32_t)f2;
	w[EIP] = (uint32_t)n->gadget;
	w[EFLAGS] = 0x202;
	frame32(buf + (f2 - n->lo), (uint32_t)n->restorer, w, 0, ~0ULL);
	return n->len;
}
