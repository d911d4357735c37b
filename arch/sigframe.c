/*
 * The nets (arch/inject.h) of aarch64, riscv64 and arm: two rt_sigframes,
 * as each kernel's rt_sigreturn reads them, built below the carrier
 * thread's sp (none of the three has a red zone). From the top down:
 *
 *   frame 1 (f1)      siginfo, then the ucontext that puts the thread
 *                     back: NT_PRSTATUS as taken (its layout is the
 *                     sigcontext's), the signal mask, and the FP record
 *                     rt_sigreturn requires (fpsimd_context, the D
 *                     extension's f[32] and fcsr, vfp_sigframe)
 *   sp = f1 - pop     the call runs with this sp
 *   frame 2 (f2)      exit_group(0) at the gadget, every signal blocked,
 *                     FP state zero: the clone()'s child only exits
 *   child_sp = f2 - pop
 *
 * The call runs at net_insn ("svc #0; ret", "ecall; c.ret", Thumb
 * "svc #0; pop {r7}; bx lr") with the link register (x30, ra, lr) at the
 * restorer: the vDSO's __kernel_rt_sigreturn (aarch64), __vdso_rt_sigreturn
 * (riscv64), the [sigpage]'s Thumb rt_sigreturn (arm, native or compat).
 * Left alone after the call, the thread returns there with sp at frame 1,
 * where rt_sigreturn looks; pop is what the gadget pops on the way (arm:
 * r7, one word), so sp lands on the frame.
 *
 * These kernels decide a restart before the signal stop (do_signal rewinds
 * the pc onto the call and puts its first argument back), so the registers
 * taken at the stop already restart it and frame 1 holds them as they are.
 * A restart through restart_syscall is the one difference: the kernel
 * would set the call number to it after the stop; frame 1 makes the call
 * itself again from the start (a sleep starts over rather than resuming).
 * uc_stack has invalid flags, so restore_altstack's EINVAL (squashed by
 * the kernel) leaves the alternate signal stack as it is.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arch/sigframe.h"

#define SIGINFO 128		/* the frame's siginfo, then the ucontext */
#define SS_INVALID 3		/* uc_stack.ss_flags: neither 0, SS_ONSTACK nor SS_DISABLE */
#define REGS_MAX 512

struct frame_layout {
	size_t frame;		/* bytes of one rt_sigframe */
	size_t ss_flags;	/* offsets in the ucontext: uc_stack.ss_flags */
	size_t mask;		/* uc_sigmask (the kernel's 64-bit set) */
	size_t regs;		/* the first general register of the sigcontext */
	size_t regs_len;	/* NT_PRSTATUS bytes that are the sigcontext's, in order */
	size_t fp;		/* the FP record */
	size_t fpu_min;		/* the NT_* blob it is filled from, at least */
	unsigned pop;		/* bytes the gadget pops before its return */
	uint64_t link_tag;	/* ORed into the restorer's address (arm: Thumb) */
	uint64_t child_mode;	/* abi->mode in frame 2 */
	/* The FP record at rec from fpu; fpu NULL: a zero state. */
	void (*fp_fill)(unsigned char *rec, const unsigned char *fpu);
};

/* struct fpsimd_context from struct user_fpsimd_state (NT_PRFPREG). */
static void aarch64_fp(unsigned char *rec, const unsigned char *fpu)
{
	put32(rec, 0x46508001);		/* FPSIMD_MAGIC */
	put32(rec + 4, 528);
	if (fpu) {
		memcpy(rec + 16, fpu, 512);	/* vregs[32] */
		memcpy(rec + 8, fpu + 512, 8);	/* fpsr, fpcr */
	}
	/* then a zero _aarch64_ctx: the list's end */
}

/* struct __riscv_d_ext_state (NT_PRFPREG): f[32], fcsr, as the frame has it. */
static void riscv64_fp(unsigned char *rec, const unsigned char *fpu)
{
	if (fpu)
		memcpy(rec, fpu, 260);
	/* the extension header after it stays zero: no more records */
}

/* struct vfp_sigframe from NT_ARM_VFP (d0..d31, fpscr). */
static void arm_fp(unsigned char *rec, const unsigned char *fpu)
{
	put32(rec, 0x56465001);		/* VFP_MAGIC */
	put32(rec + 4, 288);		/* VFP_STORAGE_SIZE */
	if (fpu) {
		memcpy(rec + 8, fpu, 256);
		memcpy(rec + 264, fpu + 256, 4);
	}
	put32(rec + 272, 0x40000000);	/* fpexc: EN */
}

static const struct frame_layout aarch64_layout = {
	/* ucontext: flags, link, stack (24), sigmask (8 of 128), sigcontext
	 * aligned to 16 at 176: fault_address, x0..x30, sp, pc, pstate,
	 * __reserved at +288 */
	.frame = SIGINFO + 4560,
	.ss_flags = 24, .mask = 40, .regs = 176 + 8, .regs_len = 34 * 8, .fp = 176 + 288,
	.fpu_min = 520, .fp_fill = aarch64_fp,
};

static const struct frame_layout riscv64_layout = {
	/* as aarch64's up to the sigcontext at 176: pc, x1..x31, then the FP union */
	.frame = SIGINFO + 960,
	.ss_flags = 24, .mask = 40, .regs = 176, .regs_len = 32 * 8, .fp = 176 + 256,
	.fpu_min = 260, .fp_fill = riscv64_fp,
};

static const struct frame_layout arm_layout = {
	/* ucontext: flags, link, stack (12), sigcontext at 20 (trap_no,
	 * error_code, oldmask, r0..r15, cpsr, fault_address), sigmask at 104,
	 * uc_regspace at 232; then the sigframe's retcode[4] */
	.frame = (SIGINFO + 744 + 16 + 15) & ~(size_t)15,
	.ss_flags = 12, .mask = 104, .regs = 32, .regs_len = 17 * 4, .fp = 232,
	.fpu_min = 260, .fp_fill = arm_fp,
	.pop = 4, .link_tag = 1, .child_mode = 0x30,	/* USR, Thumb */
};

static void frame(const struct frame_layout *l, unsigned char *f, const unsigned char *regs,
		  uint64_t mask, const unsigned char *fpu)
{
	unsigned char *uc = f + SIGINFO;

	memset(f, 0, l->frame);
	put32(uc + l->ss_flags, SS_INVALID);
	put64(uc + l->mask, mask);
	memcpy(uc + l->regs, regs, l->regs_len);
	l->fp_fill(uc + l->fp, fpu);
}

static size_t build(const struct frame_layout *l, const struct arch_inject *abi,
		    struct arch_net *n, unsigned char *buf, size_t cap)
{
	unsigned char child[REGS_MAX];
	uint64_t end, f1, f2, lo;

	if (n->regs_len < abi->arch->regs_size || abi->arch->regs_size > sizeof(child) ||
	    l->regs_len > abi->arch->regs_size || n->top < 65536)
		return 0;
	/* No FP state read: a frame would zero it, so no net. */
	if (!n->fpu || n->fpu_len < l->fpu_min)
		return 0;
	end = n->top & ~15ULL;
	f1 = (end - l->frame) & ~15ULL;
	n->sp = f1 - l->pop;
	f2 = (n->sp - l->frame) & ~15ULL;
	n->child_sp = f2 - l->pop;
	lo = n->child_sp & ~15ULL;
	if (end - lo > cap)
		return 0;
	n->lo = lo;
	n->len = end - lo;
	n->link = n->restorer | l->link_tag;
	memset(buf, 0, n->len);
	frame(l, buf + (f1 - lo), n->regs, n->mask, n->fpu);

	memset(child, 0, sizeof(child));
	frame_set_reg(abi, child, abi->pc, n->gadget);
	frame_set_reg(abi, child, abi->nr, (uint64_t)abi->nr_exit_group);
	frame_set_reg(abi, child, abi->args[0], 0);
	frame_set_reg(abi, child, abi->sp, f2);		/* anything mapped */
	if (abi->mode)
		frame_set_reg(abi, child, abi->mode, l->child_mode);
	frame(l, buf + (f2 - lo), child, ~0ULL, NULL);
	return n->len;
}

size_t aarch64_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
			 size_t cap)
{
	return build(&aarch64_layout, abi, n, buf, cap);
}

size_t riscv64_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
			 size_t cap)
{
	return build(&riscv64_layout, abi, n, buf, cap);
}

size_t arm_net_build(const struct arch_inject *abi, struct arch_net *n, unsigned char *buf,
		     size_t cap)
{
	return build(&arm_layout, abi, n, buf, cap);
}
