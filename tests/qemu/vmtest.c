/*
 * The in-VM check of the arch/ layer: /init of a QEMU guest (or a plain
 * program anywhere), built statically for one architecture with every arch/ source.
 *
 * It forks a target of three threads stopped in known places: the main
 * thread and a second one blocked in read() with a distinctive count (the
 * third syscall argument, so its register is known), a third spinning in
 * spin(). It seizes and interrupts every thread, reads each regset of the
 * target's layout with PTRACE_GETREGSET and checks
 *   - NT_PRSTATUS is exactly the layout's size and formats to one line a
 *     register;
 *   - pc and sp agree with /proc/PID/task/TID/syscall, which the kernel
 *     fills from the same saved registers by its own accessors (the
 *     syscall number there is not reliable across architectures; pc and
 *     sp are);
 *   - the count register of the blocked reads holds the count;
 *   - the spinner's pc is inside spin() (when the target is this binary);
 *   - the FP regset has the size the layout expects and formats;
 *   - no regset is larger than the cap the layout captures it with.
 * The layout is picked from the target's ELF header, as ptracefs does: run
 * with "/vmtest-compat" present (i386 in the x86_64 guest, arm in the arm64
 * one), a 64-bit vmtest also checks a 32-bit
 * target, and that program then checks its own child as a 32-bit tracer.
 *
 * Prints "vmtest LABEL: N passed, M failed" (LABEL: the target's layout,
 * "_by_<tracer>" appended when it differs), and as PID 1 powers off.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "vmcommon.h"

#ifndef NT_PRXFPREG
#define NT_PRXFPREG 0x46e62b7f
#endif


/* Per layout: the FP regset's size and the register of the 3rd argument. */
static const struct {
	const char *arch;
	size_t fp_size;
	const char *arg2;
} expect[] = {
	{ "x86_64", 512, "rdx" },
	{ "i386", 512, "edx" },
	{ "aarch64", 528, "x2" },
	{ "arm", 260, "r2" },
	{ "riscv64", 264, "a2" },
	{ "loongarch64", 272, "r6" },
};

struct roles {
	int32_t main_tid, reader_tid, spinner_tid;
};

/* ---- the target ---------------------------------------------------------- */

static volatile unsigned long spins;

__attribute__((noinline)) static void spin(void)
{
	for (;;)
		spins++;
}

static void *spinner(void *p)
{
	(void)p;
	atomic_store(&spinner_tid, (int)syscall(SYS_gettid));
	spin();
	return NULL;
}

/* Starts the threads, reports their tids on fd, blocks forever. */
static void target(int fd)
{
	struct roles ro;

	start_threads(spinner);
	ro.main_tid = (int32_t)syscall(SYS_gettid);
	ro.reader_tid = atomic_load(&reader_tid);
	ro.spinner_tid = atomic_load(&spinner_tid);
	if (write(fd, &ro, sizeof(ro)) != (ssize_t)sizeof(ro))
		_exit(2);
	close(fd);
	block_forever();
}

/* ---- the tracer ---------------------------------------------------------- */

static const struct arch_desc *arch_of(pid_t pid)
{
	unsigned char h[EI_NIDENT + 4];
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		close(fd);
		return NULL;
	}
	close(fd);
	return arch_by_elf((uint16_t)(h[18] | h[19] << 8), h[EI_CLASS]);
}

static unsigned char regbuf[65536];

/* GETREGSET into regbuf; the length the kernel returned, or -errno. */
static long getregset(pid_t tid, unsigned type)
{
	struct iovec iov = { regbuf, sizeof(regbuf) };

	memset(regbuf, 0, sizeof(regbuf));
	if (ptrace(PTRACE_GETREGSET, tid, (void *)(uintptr_t)type, &iov) != 0)
		return -errno;
	return (long)iov.iov_len;
}

static void check_thread(const struct arch_desc *a, pid_t pid, pid_t tid,
			 const struct roles *ro, int same_binary)
{
	struct sbuf sb = SBUF_INIT;
	uint64_t sp = 0, pc = 0, rpc, rsp;
	size_t fp_size = 0;
	const char *arg2 = NULL;
	long len;
	int lines = 0;

	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		if (strcmp(expect[i].arch, a->name) == 0) {
			fp_size = expect[i].fp_size;
			arg2 = expect[i].arg2;
		}

	len = getregset(tid, 1 /* NT_PRSTATUS */);
	check(len == (long)a->regs_size, "tid %d: NT_PRSTATUS is %ld bytes, layout says %zu",
	      (int)tid, len, a->regs_size);
	if (len < (long)a->regs_size)
		return;
	rpc = arch_reg_value(a, regbuf, (size_t)len, (size_t)a->pc);
	rsp = arch_reg_value(a, regbuf, (size_t)len, (size_t)a->sp);
	check(proc_sp_pc(pid, tid, &sp, &pc) == 0, "tid %d: no /proc syscall line", (int)tid);
	check(rpc == pc, "tid %d: %s 0x%llx, /proc says pc 0x%llx", (int)tid,
	      a->regs[a->pc].name, (unsigned long long)rpc, (unsigned long long)pc);
	check(rsp == sp, "tid %d: %s 0x%llx, /proc says sp 0x%llx", (int)tid,
	      a->regs[a->sp].name, (unsigned long long)rsp, (unsigned long long)sp);

	check(arch_format_regs(a, regbuf, (size_t)len, &sb) == 0, "tid %d: regs do not format",
	      (int)tid);
	for (size_t i = 0; i < sb.len; i++)
		lines += sb.buf[i] == '\n';
	check(lines == (int)a->nregs, "tid %d: %d regs lines for %zu registers", (int)tid,
	      lines, a->nregs);
	if (tid == ro->main_tid)	/* one sample per run, for the log */
		printf("%s: tid %d %s", label, (int)tid, sb.buf ? sb.buf : "");
	sbuf_free(&sb);

	if (arg2 && (tid == ro->main_tid || tid == ro->reader_tid)) {
		uint64_t want = tid == ro->main_tid ? COUNT_MAIN : COUNT_THREAD;
		int idx = arch_reg_index(a, arg2);
		uint64_t got = idx < 0 ? 0 : arch_reg_value(a, regbuf, (size_t)len, (size_t)idx);

		check(got == want, "tid %d: %s 0x%llx, read() count was 0x%llx", (int)tid, arg2,
		      (unsigned long long)got, (unsigned long long)want);
	}
	if (same_binary && tid == ro->spinner_tid) {
		/* Thumb function addresses have bit 0 set; a pc never does. */
		uint64_t fn = (uint64_t)(uintptr_t)spin & ~(uint64_t)1;

		check(rpc - fn < 512, "tid %d: spinner pc 0x%llx not in spin() at 0x%llx",
		      (int)tid, (unsigned long long)rpc, (unsigned long long)fn);
	}

	if (a->fp_regset) {
		len = getregset(tid, a->fp_regset);
		check(len == (long)fp_size, "tid %d: FP regset 0x%x is %ld bytes, expected %zu",
		      (int)tid, a->fp_regset, len, fp_size);
		if (len > 0) {
			const void *xs = NULL;
			size_t xslen = 0;
			static unsigned char fpcopy[65536];
			long xl;

			memcpy(fpcopy, regbuf, (size_t)len);
			if (a->xstate_regset && (xl = getregset(tid, a->xstate_regset)) > 0) {
				xs = regbuf;
				xslen = (size_t)xl;
			}
			check(a->format_fp(fpcopy, (size_t)len, xs, xslen, &sb) == 0,
			      "tid %d: fpregs do not format", (int)tid);
			sbuf_free(&sb);
		}
	}
	for (size_t k = 0; k < a->nregsets; k++) {
		len = getregset(tid, a->regsets[k].type);
		if (tid == ro->main_tid)
			printf("%s: regset 0x%x: %ld%s (cap %zu)\n", label, a->regsets[k].type,
			       len < 0 ? (long)-len : len, len < 0 ? " (errno)" : " bytes",
			       a->regsets[k].max);
		check(len < 0 || (size_t)len <= a->regsets[k].max,
		      "tid %d: regset 0x%x is %ld bytes, over the cap %zu", (int)tid,
		      a->regsets[k].type, len, a->regsets[k].max);
	}
}

/*
 * Runs the target (argv: NULL to fork this program, else a program to
 * exec as "PROG target FD"), checks all its threads, prints the result.
 */
static void run(const char *self_arch, const char *prog)
{
	const struct arch_desc *a;
	struct roles ro;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	pid_t pid, tids[3];
	int p[2], st;

	passed = failed = 0;
	snprintf(label, sizeof(label), "%s", self_arch);
	if (pipe(p) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (prog) {
			char fd[16];

			snprintf(fd, sizeof(fd), "%d", p[1]);
			execl(prog, prog, "target", fd, (char *)NULL);
			_exit(4);
		}
		target(p[1]);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &ro, sizeof(ro)) != (ssize_t)sizeof(ro)) {
		check(0, "the target did not start");
		goto out;
	}
	a = arch_of(pid);
	check(a != NULL, "no layout for the target's ELF header");
	if (!a)
		goto out;
	if (strcmp(a->name, self_arch) != 0)
		snprintf(label, sizeof(label), "%s_by_%s", a->name, self_arch);

	/* Wait until the readers sleep in read() and the spinner runs. */
	for (int i = 0; i < 300; i++) {
		if (thread_state(pid, ro.main_tid) == 'S' &&
		    thread_state(pid, ro.reader_tid) == 'S')
			break;
		nanosleep(&ts, NULL);
	}
	tids[0] = ro.main_tid;
	tids[1] = ro.reader_tid;
	tids[2] = ro.spinner_tid;
	for (int i = 0; i < 3; i++) {
		int ok = ptrace(PTRACE_SEIZE, tids[i], 0, 0) == 0 &&
			 ptrace(PTRACE_INTERRUPT, tids[i], 0, 0) == 0 &&
			 waitpid(tids[i], &st, __WALL) == tids[i] && WIFSTOPPED(st);

		check(ok, "cannot stop tid %d: %s", (int)tids[i], strerror(errno));
		if (!ok)
			goto out;
	}
	for (int i = 0; i < 3; i++)
		check_thread(a, pid, tids[i], &ro, prog == NULL);
out:
	close(p[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		/* Traced threads are reaped by their tracer, one by one. */
		while (waitpid(-1, &st, __WALL) > 0 || errno == EINTR)
			;
	}
	printf("vmtest %s: %d passed, %d failed\n", label, passed, failed);
	fflush(stdout);
}

/* As /init: /proc for the oracle, a console for stdout. */
static void init_setup(void)
{
	mkdir("/proc", 0555);
	mount("proc", "/proc", "proc", 0, NULL);
	if (fcntl(1, F_GETFD) < 0) {
		int fd;

		mkdir("/dev", 0755);
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
		fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
	}
}

/* Runs "/vmfs ARGS..." and waits for it. */
static void run_vmfs(const char *const *argv)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

/*
 * ptracefs itself (tests/qemu/vmfs.c), when the initramfs carries it:
 * loads /fuse.ko where FUSE is a module, then mounts a target of this
 * architecture and, where there is /vmfs-compat (i386 in the x86_64
 * guest, arm in the arm64 one), a 32-bit one.
 */
static void fs_checks(void)
{
	static const char *const own[] = { "/vmfs", "--emit-core", "/ptracefs", "/mnt", NULL };
	static const char *const compat[] = { "/vmfs", "--emit-core", "/ptracefs", "/mnt",
					      "/vmfs-compat", NULL };
	/* -o live across an execve from this architecture into the 32-bit one */
	static const char *const across[] = { "/vmfs", "--exec", "/ptracefs", "/mnt",
					      "/vmfs-compat", NULL };
	int fd = open("/fuse.ko", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
			printf("vmtest fs: loading fuse.ko: %s\n", strerror(errno));
		close(fd);
	}
	mkdir("/mnt", 0755);
	/* The kernel's built-in initramfs may have given /dev a console only. */
	if (access("/dev/fuse", F_OK) != 0)
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		printf("FAIL fs: /dev/fuse: %s\nvmtest fs: 0 passed, 1 failed\n", strerror(errno));
		return;
	}
	run_vmfs(own);
	if (access("/vmfs-compat", X_OK) == 0) {
		run_vmfs(compat);
		run_vmfs(across);
	}
}

int main(int argc, char **argv)
{
	const struct arch_desc *self = arch_host();

	if (argc == 3 && strcmp(argv[1], "target") == 0) {
		target(atoi(argv[2]));
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getpid() == 1)
		init_setup();
	if (!self) {
		printf("vmtest: no layout for this build's architecture\n");
		return 1;
	}
	run(self->name, NULL);
	/*
	 * A 64-bit kernel's 32-bit tasks (i386 on x86_64, arm on arm64): a
	 * 32-bit target, then the 32-bit program as the tracer.
	 */
	if (sizeof(void *) == 8 && access("/vmtest-compat", X_OK) == 0) {
		pid_t pid;
		int st;

		run(self->name, "/vmtest-compat");
		pid = fork();
		if (pid == 0) {
			execl("/vmtest-compat", "/vmtest-compat", (char *)NULL);
			_exit(4);
		}
		while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	/* As /init only: the 32-bit vmtest run above is its child. */
	if (getpid() == 1 && access("/vmfs", X_OK) == 0)
		fs_checks();
	if (getpid() == 1) {
		sync();
		reboot(RB_POWER_OFF);
	}
	return 0;
}
