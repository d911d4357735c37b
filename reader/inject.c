/*
 * The mechanics of reader/inject.h. Learnt the hard way by a prototype
 * (doc: snapshot mode in ptracefs(1)); each rule below is one of its
 * failures:
 *  - orig_nr = -1 in the injected registers: else resuming from a stop in
 *    an interrupted call rewinds the pc onto the call it restarts;
 *  - stops of PTRACE_SYSCALL, never a breakpoint or single step: a forced
 *    SIGTRAP in a thread that blocks it resets the process-wide handler;
 *  - a call counts as made by its result at the exit stop only, never by
 *    the number left in the result register at some other stop;
 *  - the original registers go back in an interrupt stop (see the header).
 */
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader/inject.h"
#include "reader/reader_int.h"
#include "reader/xstate.h"

#define MAX_STOPS 64	/* stops one call may take: signals, group stops, events */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int inject_wait(pid_t tid, int *status, uint64_t deadline_ms)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		pid_t w = waitpid(tid, status, __WALL | WNOHANG);
		uint64_t now;
		struct timespec ts = { 0, 2 * 1000000L };

		if (w == tid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		now = mono_ms();
		if (now >= deadline_ms)
			return -ETIMEDOUT;
		/*
		 * The tracer thread blocks every signal, so a SIGCHLD wakes us
		 * as the stop is reported; 2 ms is the fallback. One taken
		 * here is one the tracer's signalfd does not see: its poll
		 * timeout reaps what it stood for.
		 */
		sigtimedwait(&chld, NULL, &ts);
	}
}

/* Where name is in the regset, and its width (4 or 8 bytes). */
static int reg_at(const struct inject *in, const char *name, size_t *off, unsigned *size)
{
	int i = name ? arch_reg_index(in->abi->arch, name) : -1;

	if (i < 0)
		return -EINVAL;
	*size = in->abi->arch->regs[i].size;
	*off = in->abi->arch->regs[i].offset;
	if ((*size != 4 && *size != 8) || *off + *size > in->saved_len)
		return -EINVAL;
	return 0;
}

/* v truncated to the register's width (-1 stays all ones). */
static int set_reg(const struct inject *in, unsigned char *blob, const char *name, uint64_t v)
{
	size_t off;
	unsigned size;
	int rc = reg_at(in, name, &off, &size);
	uint32_t v32 = (uint32_t)v;

	if (rc == 0)
		memcpy(blob + off, size == 4 ? (void *)&v32 : (void *)&v, size);
	return rc;
}

/* Zero-extended from a 4-byte register; signed says sign-extended. */
static uint64_t get_reg(const struct inject *in, const unsigned char *blob, const char *name,
			bool is_signed)
{
	size_t off;
	unsigned size;
	uint64_t v = 0;
	uint32_t v32;

	if (reg_at(in, name, &off, &size))
		return 0;
	if (size == 8) {
		memcpy(&v, blob + off, 8);
		return v;
	}
	memcpy(&v32, blob + off, 4);
	return is_signed ? (uint64_t)(int64_t)(int32_t)v32 : v32;
}

static int get_regs(pid_t tid, unsigned char *buf, size_t *len)
{
	struct iovec iov = { buf, INJECT_REGS_MAX };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -errno;
	*len = iov.iov_len;
	return 0;
}

static int set_regs(pid_t tid, const unsigned char *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0 ? -errno : 0;
}

int inject_begin(struct inject *in, pid_t tgid, pid_t tid, const struct arch_inject *abi,
		 const uint64_t insn[2], unsigned long opts_during, unsigned long opts_after,
		 uint64_t deadline_ms)
{
	uint64_t mask = ~0ULL;
	int rc;

	memset(in, 0, sizeof(*in));
	in->tgid = tgid;
	in->tid = tid;
	in->abi = abi;
	in->deadline_ms = deadline_ms;
	in->opts_after = opts_after;
	if ((rc = get_regs(tid, in->saved, &in->saved_len)))
		return rc;
	if (in->saved_len < abi->arch->regs_size)
		return -EIO;
	in->insn = insn[0];
	if (get_reg(in, in->saved, abi->pc, false) == insn[0] && insn[1])
		in->insn = insn[1];
	if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(in->saved_mask), &in->saved_mask) < 0)
		return -errno;
	mask &= ~(1ULL << (SIGTRAP - 1));
	mask &= ~(1ULL << (SIGSYS - 1));
	if (ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask) < 0)
		return -errno;
	if (ptrace(PTRACE_SETOPTIONS, tid, 0, (void *)opts_during) < 0) {
		rc = -errno;
		ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(in->saved_mask), &in->saved_mask);
		return rc;
	}
	return 0;
}

/* The saved registers, pointed at the instruction with call nr and args loaded. */
static int load_call(struct inject *in, long nr, const uint64_t args[6])
{
	unsigned char regs[INJECT_REGS_MAX];
	int rc;

	memcpy(regs, in->saved, in->saved_len);
	rc = set_reg(in, regs, in->abi->pc, in->insn);
	rc = rc ?: set_reg(in, regs, in->abi->nr, (uint64_t)nr);
	if (in->net_saved) {
		rc = rc ?: set_reg(in, regs, in->abi->sp, in->net_sp);
		if (in->abi->link)
			rc = rc ?: set_reg(in, regs, in->abi->link, in->net_link);
	}
	if (in->abi->orig_nr)
		rc = rc ?: set_reg(in, regs, in->abi->orig_nr, UINT64_MAX);
	if (in->abi->mode)
		rc = rc ?: set_reg(in, regs, in->abi->mode,
				   (get_reg(in, regs, in->abi->mode, false) & ~in->abi->mode_clear) |
				   in->abi->mode_set);
	for (int k = 0; k < 6 && rc == 0; k++)
		rc = set_reg(in, regs, in->abi->args[k], args[k]);
	return rc ?: set_regs(in->tid, regs, in->saved_len);
}

/*
 * A stop of the thread carrying a call, other than a syscall stop: the
 * clone a fork event reports goes to *child; someone's signal is held for
 * inject_end (not now, but not lost). Group stops and other events just
 * go on; a SIGTRAP or SIGSYS of our own call's making is swallowed.
 */
static void note_stop(struct inject *in, int event, int sig, pid_t *child)
{
	if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK ||
	    event == PTRACE_EVENT_VFORK) {
		unsigned long msg = 0;

		if (ptrace(PTRACE_GETEVENTMSG, in->tid, 0, &msg) == 0)
			*child = (pid_t)msg;
	} else if (event == 0 && sig != SIGTRAP && sig != SIGSYS) {
		in->held_sig = sig;
	}
}

int inject_call(struct inject *in, long nr, const uint64_t args[6], int64_t *ret,
		pid_t *child)
{
	int phase = 0, status, rc = load_call(in, nr, args);

	*child = 0;
	if (rc)
		return rc;
	/* Test builds: inject-loaded fails here (kill: the daemon dies here),
	 * the call's registers in the thread and the call not yet made. */
	if (fault_hit("inject-loaded"))
		return -EIO;
	for (int stops = 0; stops < MAX_STOPS; stops++) {
		int event, sig;

		if (ptrace(PTRACE_SYSCALL, in->tid, 0, 0) < 0)
			return -errno;
		if ((rc = inject_wait(in->tid, &status, in->deadline_ms)))
			return rc;
		if (!WIFSTOPPED(status))
			return -ESRCH;	/* killed meanwhile (SIGKILL, a seccomp kill) */
		event = status >> 16;
		sig = WSTOPSIG(status);
		if (sig == (SIGTRAP | 0x80)) {
			/* Entry, then exit: the result is there only at the exit. */
			if (++phase == 2) {
				unsigned char regs[INJECT_REGS_MAX];
				size_t len;

				if ((rc = get_regs(in->tid, regs, &len)))
					return rc;
				*ret = (int64_t)get_reg(in, regs, in->abi->ret, true);
				return 0;
			}
		} else {
			note_stop(in, event, sig, child);
		}
	}
	return -EIO;
}

#define SYSCALL_INFO_ 0x420e	/* PTRACE_GET_SYSCALL_INFO (Linux 5.3) */
#define SYSCALL_INFO_EXIT_ 2

int inject_finish(struct inject *in, int64_t *ret, pid_t *child)
{
	for (int stops = 0; stops < MAX_STOPS; stops++) {
		/* struct ptrace_syscall_info: op at 0; exit.rval at 24 */
		unsigned char info[128];
		int st, sig, rc = inject_wait(in->tid, &st, in->deadline_ms);

		if (rc)
			return rc;
		if (!WIFSTOPPED(st))
			return -ESRCH;
		sig = WSTOPSIG(st);
		if (sig == (SIGTRAP | 0x80)) {
			long got = ptrace(SYSCALL_INFO_, in->tid, (void *)sizeof(info), info);

			if (got < 32)
				return got < 0 ? -errno : -EIO;	/* entry or exit: cannot tell */
			if (info[0] == SYSCALL_INFO_EXIT_) {
				memcpy(ret, info + 24, sizeof(*ret));
				return 0;
			}
		} else {
			note_stop(in, st >> 16, sig, child);
		}
		if (ptrace(PTRACE_SYSCALL, in->tid, 0, 0) < 0)
			return -errno;
	}
	return -EIO;
}

/* len bytes at addr in pid's memory, written (write) or read: 0 or -errno. */
static int mem_io(pid_t pid, uint64_t addr, void *buf, size_t len, bool write)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t got = write ? process_vm_writev(pid, &l, 1, &r, 1, 0)
			    : process_vm_readv(pid, &l, 1, &r, 1, 0);

	if (got == (ssize_t)len)
		return 0;
	return got < 0 ? -errno : -EFAULT;
}

#define NT_X86_XSTATE_ 0x202
#define NET_MAX 32768	/* frames and an XSAVE image (AMX's is 11 KiB) */


int inject_net(struct inject *in, uint64_t restorer)
{
	const struct arch_inject *abi = in->abi;
	unsigned char fpu[NET_MAX / 2], env[512];
	struct iovec fiov = { fpu, sizeof(fpu) }, eiov = { env, sizeof(env) };
	struct arch_net n = {
		.top = get_reg(in, in->saved, abi->sp, false),
		.restorer = restorer, .gadget = in->insn,
		.regs = in->saved, .regs_len = in->saved_len, .mask = in->saved_mask,
	};
	unsigned char *frames, *saved;
	int rc;

	if (!abi->net_build || !abi->sp || !restorer)
		return -EOPNOTSUPP;
	if (abi->fpu_regset &&
	    ptrace(PTRACE_GETREGSET, in->tid, (void *)(uintptr_t)abi->fpu_regset, &fiov) == 0) {
		n.fpu = fpu;
		n.fpu_len = fiov.iov_len;
		if (abi->fpu_regset == NT_X86_XSTATE_ && n.fpu_len >= 576)
			xstate_fit(fpu, &n.fpu_len, &n.fpu_drop);
	}
	if (abi->fpu_env_regset &&
	    ptrace(PTRACE_GETREGSET, in->tid, (void *)(uintptr_t)abi->fpu_env_regset, &eiov) == 0) {
		n.env = env;
		n.env_len = eiov.iov_len;
	}
	frames = malloc(NET_MAX);
	saved = malloc(NET_MAX);
	rc = frames && saved ? 0 : -ENOMEM;
	if (rc == 0 && !abi->net_build(abi, &n, frames, NET_MAX))
		rc = -EINVAL;
	rc = rc ?: mem_io(in->tid, n.lo, saved, n.len, false);
	rc = rc ?: mem_io(in->tid, n.lo, frames, n.len, true);
	if (rc == -EFAULT)	/* a part written, maybe: the stack as it was */
		(void)mem_io(in->tid, n.lo, saved, n.len, true);
	free(frames);
	if (rc) {
		free(saved);
		return rc;
	}
	in->net_saved = saved;
	in->net_len = n.len;
	in->net_lo = n.lo;
	in->net_sp = n.sp;
	in->net_child_sp = n.child_sp;
	in->net_link = n.link;
	return 0;
}

int inject_net_wipe(const struct inject *in, pid_t pid)
{
	if (!in->net_saved)
		return 0;
	return mem_io(pid, in->net_lo, in->net_saved, in->net_len, true);
}

static int put_back(struct inject *in);

int inject_end(struct inject *in)
{
	int rc = put_back(in);

	/* The thread has its registers again: the frames go (else they stay,
	 * the thread's way back should it run on with the call's). */
	if (rc == 0 && in->net_saved)
		rc = inject_net_wipe(in, in->tid);
	free(in->net_saved);
	in->net_saved = NULL;
	return rc;
}

static int put_back(struct inject *in)
{
	int status, rc;
	bool fault;

	if (ptrace(PTRACE_INTERRUPT, in->tid, 0, 0) < 0)
		return -errno;
	for (int stops = 0;; stops++) {
		if (stops == MAX_STOPS)
			return -EIO;
		if (ptrace(PTRACE_CONT, in->tid, 0, 0) < 0)
			return -errno;
		if ((rc = inject_wait(in->tid, &status, in->deadline_ms)))
			return rc;
		if (!WIFSTOPPED(status))
			return -ESRCH;
		if (status >> 16 == PTRACE_EVENT_STOP)
			break;
		if (status >> 16 == 0 && WSTOPSIG(status) != SIGTRAP && WSTOPSIG(status) != SIGSYS)
			in->held_sig = WSTOPSIG(status);
	}
	/* Test builds: kill:snap-restore dies here, with the call's registers
	 * still in the thread; snap-restore reports the restore failed. */
	fault = fault_hit("snap-restore");
	rc = set_regs(in->tid, in->saved, in->saved_len);
	if (ptrace(PTRACE_SETSIGMASK, in->tid, (void *)sizeof(in->saved_mask), &in->saved_mask) < 0 && !rc)
		rc = -errno;
	if (ptrace(PTRACE_SETOPTIONS, in->tid, 0, (void *)in->opts_after) < 0 && !rc)
		rc = -errno;
	/* Queued again, to be delivered as if we had not been there. */
	if (in->held_sig)
		syscall(SYS_tgkill, in->tgid, in->tid, in->held_sig);
	return rc ?: fault ? -EIO : 0;
}

int inject_park(struct inject *in, long nr, const uint64_t args[6])
{
	return load_call(in, nr, args);
}

int inject_find_bytes(const uint8_t *pat, size_t plen, unsigned align, const unsigned char *buf,
		      size_t len, uint64_t base, uint64_t *at, size_t max)
{
	size_t n = 0, i = 0;

	/* memmem: libc's search, not a byte loop (this runs in the freeze,
	 * over up to a MiB of text per mapping). */
	while (plen && i + plen <= len && n < max) {
		const unsigned char *hit = memmem(buf + i, len - i, pat, plen);

		if (!hit)
			break;
		i = (size_t)(hit - buf);
		if ((base + i) % align == 0)
			at[n++] = base + i;
		i++;
	}
	return n ? (int)n : -ENOENT;
}

int inject_find_insn(const struct arch_inject *abi, const unsigned char *buf, size_t len,
		     uint64_t base, uint64_t *at, size_t max)
{
	return inject_find_bytes(abi->insn, abi->insn_len, abi->insn_align, buf, len, base, at, max);
}

bool inject_in_syscall(const struct arch_inject *abi, const void *regs, size_t len)
{
	struct inject in = { .abi = abi, .saved_len = len };

	if (!abi->orig_nr || len > INJECT_REGS_MAX)
		return false;
	memcpy(in.saved, regs, len);
	return get_reg(&in, in.saved, abi->orig_nr, true) != UINT64_MAX;
}

bool inject_in_restart_block(const struct arch_inject *abi, const void *regs, size_t len)
{
	struct inject in = { .abi = abi, .saved_len = len };

	if (!inject_in_syscall(abi, regs, len))
		return false;
	memcpy(in.saved, regs, len);
	return (int64_t)get_reg(&in, in.saved, abi->ret, true) == -516;	/* ERESTART_RESTARTBLOCK */
}

/* struct ptrace_rseq_configuration and struct rseq_cs, as the kernel lays them out. */
struct rseq_conf {
	uint64_t abi_pointer;
	uint32_t abi_size, signature, flags, pad;
};

bool inject_in_rseq_cs(pid_t tid, const struct arch_inject *abi, const void *regs, size_t len)
{
	struct inject in = { .abi = abi, .saved_len = len };
	struct rseq_conf conf;
	uint64_t cs_ptr, cs[4], pc;	/* version+flags, start_ip, post_commit_offset, abort_ip */
	struct iovec l1 = { &cs_ptr, 8 }, r1, l2 = { cs, sizeof(cs) }, r2;

	if (len > INJECT_REGS_MAX)
		return true;
	memcpy(in.saved, regs, len);
	pc = get_reg(&in, in.saved, abi->pc, false);
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, (void *)sizeof(conf), &conf) <= 0 ||
	    conf.abi_pointer == 0)
		return false;	/* no rseq registered (or an old kernel) */
	/* rseq_cs is the u64 at offset 8 of struct rseq */
	r1 = (struct iovec){ (void *)(uintptr_t)(conf.abi_pointer + 8), 8 };
	if (process_vm_readv(tid, &l1, 1, &r1, 1, 0) != 8)
		return true;	/* cannot tell: not this thread */
	if (cs_ptr == 0)
		return false;
	r2 = (struct iovec){ (void *)(uintptr_t)cs_ptr, sizeof(cs) };
	if (process_vm_readv(tid, &l2, 1, &r2, 1, 0) != (ssize_t)sizeof(cs))
		return true;
	return pc >= cs[1] && pc - cs[1] < cs[2];
}
