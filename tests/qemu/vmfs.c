/*
 * ptracefs itself, end to end, inside a QEMU guest of each architecture
 * (or on any Linux machine): mounts a target with the real ptracefs binary
 * and checks what the mount serves against the kernel's own view.
 *
 *   vmfs [--emit-core] PTRACEFS MOUNTPOINT [TARGET]   run the checks
 *   vmfs --exec PTRACEFS MOUNTPOINT TARGET            a live mount across an exec
 *   vmfs target FD                                    be the target (internal)
 *
 * --emit-core also writes the mounted core to stdout, for gdb outside.
 *
 * TARGET is a program that behaves like "vmfs target FD" (by default this
 * program): in the x86_64 guest an i386 build of vmfs is the target, so a
 * 64-bit ptracefs is checked on a 32-bit process.
 *
 * The target has three threads: the main thread and a second blocked in
 * read() with distinctive counts, a third spinning in a loop of assembly
 * after loading two known 64-bit words into an FP/SIMD register. It fills
 * a page with a per-run pattern and reports its tids and that page's
 * address on a pipe. The checks use nothing of ptracefs's arch/ layer;
 * every expectation is a fact of the kernel ABI written out here:
 *   - regs: pc and sp of every thread equal /proc/PID/task/TID/syscall,
 *     the reader's third-argument register holds its count;
 *   - fpregs: the loaded register shows the two words;
 *   - maps equals /proc/PID/maps; mem at the page equals /proc/PID/mem
 *     and the pattern;
 *   - core: ELF class and machine of the target, one NT_PRSTATUS per
 *     thread whose pr_reg holds that pc and sp, the FP note of the
 *     spinner holding the words, NT_AUXV equal to /proc/PID/auxv (up to
 *     AT_NULL), and a
 *     PT_LOAD holding the page;
 *   - stack: frame #0 of the reader is at its pc;
 *   - after umount the target runs again (no thread left traced);
 *   - then a new target under -o snapshot (run_snapshot): the threads
 *     run while mounted and are back in the calls they were in, the
 *     clone is the target's child and gone after umount, and the mount's
 *     mem keeps the snapshot's bytes while the target's change.
 *
 * Prints "vmtest fs_ARCH: N passed, M failed" and "vmtest snap_ARCH: ..."
 * (ARCH of the target).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* mem and core are larger than 2 GiB: 32-bit builds need 64-bit offsets. */
#define _FILE_OFFSET_BITS 64
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmcommon.h"

#ifndef NT_PRXFPREG
#define NT_PRXFPREG 0x46e62b7f
#endif
#ifndef NT_ARM_VFP
#define NT_ARM_VFP 0x400
#endif
#ifndef EM_RISCV
#define EM_RISCV 243
#endif

/* Where the target runs, so that the kernel's core of it lands there. */
#define KCORE_DIR "/tmp/vmfs-kcore"
/* The words loaded into the spinner's FP register (low, high). */
#define FP_LO UINT64_C(0x400921fb54442d18)	/* pi */
#define FP_HI UINT64_C(0x1122334455667788)

/*
 * Per target architecture, from the kernel ABI: register names in regs
 * (gdb's), the index of pc and sp in NT_PRSTATUS's pr_reg, the FP note
 * and the offset in it of the register the spinner loads, and that
 * register's name and width in fpregs.
 */
struct abi {
	uint16_t machine;
	const char *name;
	int is64;
	const char *pc, *sp, *arg2;
	int pc_idx, sp_idx;
	uint32_t fp_note;
	size_t fp_off;
	const char *fp_reg;
	int fp_width;		/* bytes shown (8: FP_LO only) */
	int prstatus_words;	/* pr_reg: NT_PRSTATUS's registers, a regs line each */
};

static const struct abi abis[] = {
	/* user_fxsr_struct: xmm0 at 160 (also i386's NT_PRXFPREG). */
	{ EM_X86_64, "x86_64", 1, "rip", "rsp", "rdx", 16, 19, NT_PRFPREG, 160, "xmm0", 16, 27 },
	{ EM_386, "i386", 0, "eip", "esp", "edx", 12, 15, NT_PRXFPREG, 160, "xmm0", 16, 17 },
	/* user_fpsimd_state: vregs[32] of 16 bytes; q8 */
	{ EM_AARCH64, "aarch64", 1, "pc", "sp", "x2", 32, 31, NT_PRFPREG, 8 * 16, "v8", 16, 34 },
	/* user_vfp: fpregs[32] of 8 bytes; d8 */
	{ EM_ARM, "arm", 0, "pc", "sp", "r2", 15, 13, NT_ARM_VFP, 8 * 8, "d8", 8, 18 },
	/* __riscv_d_ext_state: f[32] of 8 bytes; f8 is fs0 */
	{ EM_RISCV, "riscv64", 1, "pc", "sp", "a2", 0, 2, NT_PRFPREG, 8 * 8, "fs0", 8, 32 },
};

struct report {
	int32_t main_tid, reader_tid, spinner_tid, pad;
	uint64_t page;
};

/* ---- the target ---------------------------------------------------------- */

static uint64_t fp_words[2] = { FP_LO, FP_HI };
static unsigned char page[4096] __attribute__((aligned(4096)));

/* Loads fp_words into the FP register the checks read (abis[].fp_reg); then spins. */
#if defined(__x86_64__) || defined(__i386__)
#define FP_LOAD "movdqu (%0), %%xmm0\n"
#define SPIN "1: jmp 1b"
#elif defined(__aarch64__)
#define FP_LOAD "ldr q8, [%0]\n"
#define SPIN "1: b 1b"
#elif defined(__arm__)
#define FP_LOAD "vldr d8, [%0]\n"
#define SPIN "1: b 1b"
#elif defined(__riscv)
#define FP_LOAD "fld fs0, 0(%0)\n"
#define SPIN "1: j 1b"
#else
#error "no spinner for this architecture"
#endif

static void *spinner(void *p)
{
	(void)p;
	atomic_store(&spinner_tid, (int)syscall(SYS_gettid));
	__asm__ volatile(FP_LOAD SPIN : : "r"(fp_words) : "memory");
	return NULL;
}

static void target(int fd)
{
	struct report r = { 0 };

	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (unsigned char)(i * 7 + (unsigned)getpid());
	start_threads(spinner);
	r.main_tid = (int32_t)syscall(SYS_gettid);
	r.reader_tid = atomic_load(&reader_tid);
	r.spinner_tid = atomic_load(&spinner_tid);
	r.page = (uint64_t)(uintptr_t)page;
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(2);
	close(fd);
	/*
	 * The main thread holds the spinner's FP value too, in a register
	 * the calls it makes keep (callee-saved; x86's xmm0 is not, but
	 * nothing on the way into read(2) touches it): run_snapshot_kill checks
	 * it survives a net's sigreturn in the thread carrying the clone().
	 */
	__asm__ volatile(FP_LOAD : : "r"(fp_words) : "memory");
	block_forever();
}

/* ---- helpers ------------------------------------------------------------- */

/* Reads a whole (small) file; NUL-terminated; NULL on error. */
static char *slurp(const char *path, size_t *len)
{
	size_t cap = 8192, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY);

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

static int preadall(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* The value of "NAME 0x..." in a regs/fpregs text, as a hex string. */
static int reg_text(const char *text, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, name, nl) == 0 && l[nl] == ' ' && l[nl + 1] == '0' && l[nl + 2] == 'x') {
			size_t k = 0;

			for (const char *v = l + nl + 3; *v && *v != '\n' && k + 1 < outlen; v++)
				out[k++] = *v;
			out[k] = 0;
			return 0;
		}
	}
	return -1;
}

static int reg_value(const char *text, const char *name, uint64_t *v)
{
	char hex[80], *end;

	if (reg_text(text, name, hex, sizeof(hex)) != 0)
		return -1;
	errno = 0;
	*v = strtoull(hex, &end, 16);
	return errno || *end || end == hex ? -1 : 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static const struct abi *abi_of(const char *prog)
{
	unsigned char h[EI_NIDENT + 4];
	int fd = open(prog, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, h, sizeof(h)) : -1;
	uint16_t m;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, ELFMAG, SELFMAG) != 0)
		return NULL;
	memcpy(&m, h + EI_NIDENT + 2, 2);	/* e_machine; little-endian hosts */
	for (size_t i = 0; i < sizeof(abis) / sizeof(abis[0]); i++)
		if (abis[i].machine == m && abis[i].is64 == (h[EI_CLASS] == ELFCLASS64))
			return &abis[i];
	return NULL;
}

/* The expected hex text of the loaded FP register. */
static void fp_expect(const struct abi *a, char *out, size_t len)
{
	if (a->fp_width == 16)
		snprintf(out, len, "%016" PRIx64 "%016" PRIx64, (uint64_t)FP_HI, (uint64_t)FP_LO);
	else
		snprintf(out, len, "%016" PRIx64, (uint64_t)FP_LO);
}

/* ---- the checks ---------------------------------------------------------- */

struct thread_truth {
	pid_t tid;
	uint64_t sp, pc;
	int ok;
};

static uint64_t word_at(const unsigned char *p, int is64)
{
	if (is64) {
		uint64_t v;

		memcpy(&v, p, 8);
		return v;
	}
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void check_core(const char *mnt, const struct abi *a, pid_t pid,
		       struct thread_truth *tt, int nt, pid_t spinner, const struct report *r,
		       const unsigned char *want_page)
{
	char path[512];
	unsigned char eh[64];
	int fd;
	uint64_t phoff;
	unsigned phnum, phentsize;
	unsigned char *notes = NULL;
	uint64_t notes_len = 0;
	int prstatus = 0, fp_ok = 0, auxv_ok = 0, load_ok = 0;
	int seen[8] = { 0 };

	snprintf(path, sizeof(path), "%s/core", mnt);
	fd = open(path, O_RDONLY);
	check(fd >= 0, "open core: %s", strerror(errno));
	if (fd < 0)
		return;
	if (preadall(fd, eh, sizeof(eh), 0) != 0) {
		check(0, "read core header");
		close(fd);
		return;
	}
	check(memcmp(eh, ELFMAG, SELFMAG) == 0, "core: no ELF magic");
	check(eh[EI_CLASS] == (a->is64 ? ELFCLASS64 : ELFCLASS32), "core: class %d", eh[EI_CLASS]);
	uint16_t type, machine;
	memcpy(&type, eh + 16, 2);
	memcpy(&machine, eh + 18, 2);
	check(type == ET_CORE, "core: e_type %u", type);
	check(machine == a->machine, "core: e_machine %u, want %u", machine, a->machine);
	if (a->is64) {
		memcpy(&phoff, eh + 32, 8);
		phentsize = (unsigned)eh[54] | (unsigned)eh[55] << 8;
		phnum = (unsigned)eh[56] | (unsigned)eh[57] << 8;
	} else {
		uint32_t o;

		memcpy(&o, eh + 28, 4);
		phoff = o;
		phentsize = (unsigned)eh[42] | (unsigned)eh[43] << 8;
		phnum = (unsigned)eh[44] | (unsigned)eh[45] << 8;
	}
	check(phentsize == (a->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)),
	      "core: e_phentsize %u", phentsize);
	if (phnum == 0 || phnum > 65535 || phentsize < 32) {
		close(fd);
		return;
	}
	unsigned char *ph = malloc((size_t)phnum * phentsize);
	if (!ph || preadall(fd, ph, (size_t)phnum * phentsize, phoff) != 0) {
		check(0, "read core program headers");
		free(ph);
		close(fd);
		return;
	}
	for (unsigned i = 0; i < phnum; i++) {
		const unsigned char *p = ph + (size_t)i * phentsize;
		uint32_t ptype;
		uint64_t off, vaddr, filesz;

		memcpy(&ptype, p, 4);
		if (a->is64) {
			memcpy(&off, p + 8, 8);
			memcpy(&vaddr, p + 16, 8);
			memcpy(&filesz, p + 32, 8);
		} else {
			uint32_t v[5];

			memcpy(v, p + 4, sizeof(v));
			off = v[0];
			vaddr = v[1];
			filesz = v[3];
		}
		if (ptype == PT_NOTE && !notes && filesz > 0 && filesz < (64u << 20)) {
			notes = malloc(filesz);
			if (notes && preadall(fd, notes, filesz, off) == 0)
				notes_len = filesz;
		}
		if (ptype == PT_LOAD && vaddr <= r->page && r->page + 4096 <= vaddr + filesz) {
			unsigned char got[4096];

			load_ok = preadall(fd, got, sizeof(got), off + (r->page - vaddr)) == 0 &&
				  memcmp(got, want_page, sizeof(got)) == 0;
		}
	}
	free(ph);
	close(fd);
	check(load_ok, "core: no PT_LOAD holds the target's page with its bytes");
	check(notes_len > 0, "core: no PT_NOTE");

	size_t auxv_len = 0;
	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	char *auxv = slurp(path, &auxv_len);
	/*
	 * The note ends with AT_NULL in the target's word size; /proc of a
	 * 32-bit task on a 64-bit kernel goes on past it (kernel words).
	 */
	for (size_t w = a->is64 ? 8 : 4, at = 0; auxv && at + 2 * w <= auxv_len; at += 2 * w) {
		uint64_t type = 0;

		memcpy(&type, auxv + at, w);	/* little-endian guests */
		if (type == 0) {
			auxv_len = at + 2 * w;
			break;
		}
	}
	char fpx[40];
	fp_expect(a, fpx, sizeof(fpx));

	/* Notes are grouped per thread: NT_PRSTATUS, then that thread's others. */
	pid_t cur = 0;
	for (uint64_t o = 0; o + 12 <= notes_len;) {
		uint32_t nsz, dsz, ntype;

		memcpy(&nsz, notes + o, 4);
		memcpy(&dsz, notes + o + 4, 4);
		memcpy(&ntype, notes + o + 8, 4);
		uint64_t d = o + 12 + ((nsz + 3ull) & ~3ull);
		if (d + dsz > notes_len) {
			check(0, "core: note at %" PRIu64 " runs past PT_NOTE", o);
			break;
		}
		const unsigned char *desc = notes + d;
		if (ntype == NT_PRSTATUS) {
			size_t pid_off = a->is64 ? 32 : 24, reg_off = a->is64 ? 112 : 72;
			size_t w = a->is64 ? 8 : 4;
			int32_t tid;

			memcpy(&tid, desc + pid_off, 4);
			cur = tid;
			prstatus++;
			if (dsz < reg_off + (size_t)(a->pc_idx > a->sp_idx ? a->pc_idx + 1 : a->sp_idx + 1) * w) {
				check(0, "core: NT_PRSTATUS of %d has %u bytes", tid, dsz);
			} else {
				int found = 0;

				for (int i = 0; i < nt; i++) {
					if (tt[i].tid != tid)
						continue;
					found = 1;
					seen[i]++;
					uint64_t pc = word_at(desc + reg_off + (size_t)a->pc_idx * w, a->is64);
					uint64_t sp = word_at(desc + reg_off + (size_t)a->sp_idx * w, a->is64);
					check(!tt[i].ok || (pc == tt[i].pc && sp == tt[i].sp),
					      "core: thread %d pc %#" PRIx64 " sp %#" PRIx64
					      ", kernel says pc %#" PRIx64 " sp %#" PRIx64,
					      tid, pc, sp, tt[i].pc, tt[i].sp);
				}
				check(found, "core: NT_PRSTATUS of unknown thread %d", tid);
			}
		} else if (ntype == a->fp_note && cur == spinner && dsz >= a->fp_off + 8) {
			uint64_t lo, hi = FP_HI;

			memcpy(&lo, desc + a->fp_off, 8);
			if (a->fp_width == 16)
				memcpy(&hi, desc + a->fp_off + 8, 8);
			fp_ok = lo == FP_LO && hi == FP_HI;
			check(fp_ok, "core: spinner's %s in the FP note is %016" PRIx64 "%016" PRIx64
			      ", want %s", a->fp_reg, hi, lo, fpx);
		} else if (ntype == NT_AUXV) {
			auxv_ok = auxv && dsz == auxv_len && memcmp(desc, auxv, auxv_len) == 0;
		}
		o = d + ((dsz + 3ull) & ~3ull);
	}
	free(notes);
	free(auxv);
	check(prstatus == nt, "core: %d NT_PRSTATUS notes, want %d", prstatus, nt);
	for (int i = 0; i < nt; i++)
		check(seen[i] == 1, "core: thread %d has %d NT_PRSTATUS notes", tt[i].tid, seen[i]);
	check(fp_ok, "core: no FP note (type %#x) for the spinner", a->fp_note);
	check(auxv_ok, "core: NT_AUXV differs from /proc/%d/auxv", pid);
}

/*
 * Writes the mount's core to stdout for a debugger outside the guest
 * (tests/qemu/check_cores.py runs gdb-multiarch on it): "vmcore" lines
 * with the kernel's view of each thread, then the core's data extents
 * (found with SEEK_DATA/SEEK_HOLE) in base64, all-zero chunks left out.
 */
static void emit_core(const char *path, const char *block, pid_t pid,
		      const struct thread_truth *tt, int nt, pid_t spinner, uint64_t page_addr)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char chunk[768];
	char line[1100];
	struct stat sb;
	int fd;
	off_t pos = 0;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		check(0, "emit %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	printf("vmcore begin %s %d %lld\n", block, pid, (long long)sb.st_size);
	for (int i = 0; i < nt; i++)
		printf("vmcore thread %d %#" PRIx64 " %#" PRIx64 "\n", tt[i].tid, tt[i].pc, tt[i].sp);
	printf("vmcore spinner %d\nvmcore page %#" PRIx64 "\n", spinner, page_addr);
	for (;;) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0)
			break;	/* ENXIO: no data past pos */
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole <= data)
			hole = sb.st_size;
		for (off_t o = data; o < hole; o += (off_t)sizeof(chunk)) {
			size_t n = (size_t)(hole - o) < sizeof(chunk) ? (size_t)(hole - o) : sizeof(chunk);
			size_t k = 0, zero = 1;

			if (preadall(fd, chunk, n, (uint64_t)o) != 0) {
				check(0, "emit core: read at %lld", (long long)o);
				close(fd);
				return;
			}
			for (size_t i = 0; i < n && zero; i++)
				zero = chunk[i] == 0;
			if (zero)
				continue;
			for (size_t i = 0; i < n; i += 3) {
				uint32_t v = (uint32_t)chunk[i] << 16;

				if (i + 1 < n)
					v |= (uint32_t)chunk[i + 1] << 8;
				if (i + 2 < n)
					v |= chunk[i + 2];
				line[k++] = b64[v >> 18 & 63];
				line[k++] = b64[v >> 12 & 63];
				line[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
				line[k++] = i + 2 < n ? b64[v & 63] : '=';
			}
			line[k] = 0;
			printf("vmcore d %lld %s\n", (long long)o, line);
		}
		pos = hole;
		if (pos >= sb.st_size)
			break;
	}
	close(fd);
	printf("vmcore end %s\n", block);
	fflush(stdout);
}

static int run_ptracefs_opt(const char *ptracefs, pid_t pid, const char *mnt, const char *opt)
{
	char spid[16];
	pid_t c;
	int st;

	snprintf(spid, sizeof(spid), "%d", pid);
	c = fork();
	if (c == 0) {
		if (opt)
			execl(ptracefs, ptracefs, "-o", opt, spid, mnt, (char *)NULL);
		else
			execl(ptracefs, ptracefs, spid, mnt, (char *)NULL);
		perror(ptracefs);
		_exit(127);
	}
	while (c > 0 && waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	return c > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Writes text to path in one write(2); 0 or -1 (errno set). */
static int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, len);
	close(fd);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0)
		errno = EIO;
	return -1;
}

/* The number of "name 0x..." lines of a regs text. */
static int count_lines(const char *text)
{
	int n = 0;

	for (; text && *text; text++)
		n += *text == '\n';
	return n;
}

/*
 * A live mount across an execve into another architecture: this program
 * (64-bit) is mounted with -o live, then execs PROG, a 32-bit build of
 * vmfs, as its target. Afterwards status must name the new architecture
 * and regs of the new image's threads come in its layout: the reader's pc
 * and sp equal /proc's, its count register holds the count, one line a
 * register of the 32-bit NT_PRSTATUS.
 */
static void run_exec(const char *ptracefs, const char *mnt, const char *prog)
{
	const struct abi *a = abi_of(prog);
	struct report r;
	char path[512], fdarg[16], goarg[16];
	int p[2], go[2], rc;
	pid_t pid;

	passed = failed = 0;
	if (!a) {
		printf("vmtest fs_exec: cannot tell the architecture of %s\n", prog);
		return;
	}
	snprintf(label, sizeof(label), "fs_exec_%s", a->name);
	if (pipe(p) != 0 || pipe(go) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		char c;

		close(p[0]);
		close(go[1]);
		snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(126);
		execl(prog, prog, "target", fdarg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	close(go[0]);
	snprintf(goarg, sizeof(goarg), "%d", go[1]);
	mkdir(mnt, 0755);
	rc = run_ptracefs_opt(ptracefs, pid, mnt, "live");
	check(rc == 0, "ptracefs -o live %d %s exited %d", pid, mnt, rc);
	if (rc != 0)
		goto out;
	check(write(go[1], "x", 1) == 1, "cannot let the target exec");
	rc = (int)read(p[0], &r, sizeof(r));
	check(rc == (int)sizeof(r), "the exec'd target did not start");
	if (rc != (int)sizeof(r))
		goto unmount;
	/* the reader settles in read() */
	for (int i = 0; i < 100; i++) {
		uint64_t sp, pc;

		if (thread_state(pid, r.reader_tid) == 'S' && proc_sp_pc(pid, r.reader_tid, &sp, &pc) == 0)
			break;
		sleep_ms(20);
	}
	snprintf(path, sizeof(path), "%s/status", mnt);
	{
		char *st = slurp(path, NULL), want[64];

		snprintf(want, sizeof(want), "\narch %s\n", a->name);
		check(st && strstr(st, want), "status after the exec does not say arch %s", a->name);
		check(st && strstr(st, "\nstate live\n"), "status after the exec is not live");
		free(st);
	}
	{
		uint64_t sp = 0, pc = 0, v = 0;
		char *regs;
		int ok = proc_sp_pc(pid, r.reader_tid, &sp, &pc) == 0;

		snprintf(path, sizeof(path), "%s/threads/%d/regs", mnt, r.reader_tid);
		regs = slurp(path, NULL);
		check(regs != NULL, "read %s: %s", path, strerror(errno));
		if (regs) {
			int n = count_lines(regs);

			check(n == a->prstatus_words,
			      "regs of the exec'd reader has %d lines, not the %s layout", n, a->name);
			/*
			 * live: the thread is stopped for the read, in its
			 * blocking read(), which the stop sets up to restart:
			 * pc may have been moved back over the syscall
			 * instruction (2 bytes in Thumb and on x86, 4 in ARM).
			 */
			check(reg_value(regs, a->pc, &v) == 0 && ok &&
			      (v == pc || v == pc - 2 || v == pc - 4),
			      "exec'd reader: %s in regs is %#" PRIx64 ", /proc says %#" PRIx64,
			      a->pc, v, pc);
			check(reg_value(regs, a->sp, &v) == 0 && ok && v == sp,
			      "exec'd reader: %s in regs is not %#" PRIx64, a->sp, sp);
			check(reg_value(regs, a->arg2, &v) == 0 && v == COUNT_THREAD,
			      "exec'd reader: %s is not the read count", a->arg2);
		}
		free(regs);
	}
unmount:
	check(umount2(mnt, 0) == 0, "umount %s: %s", mnt, strerror(errno));
	/* The daemon detaches after the unmount returns; an emulated guest on
	 * a loaded host can take seconds to get there. */
	for (int i = 0; i < 400 && thread_state(pid, r.spinner_tid) != 'R'; i++)
		sleep_ms(50);
	{
		char st = thread_state(pid, r.spinner_tid);

		check(st == 'R', "the exec'd spinner is not running 20 s after umount (state %c)", st ? st : '?');
	}
out:
	close(go[1]);
	close(p[0]);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	printf("vmtest %s: %d passed, %d failed\n", label, passed, failed);
	fflush(stdout);
}

/*
 * Starts PROG as the target (emit: in KCORE_DIR with no core size limit,
 * for the kernel's own core) and reads its report: its pid, 0 if it could
 * not be started, -pid if it started but sent no report (the caller kills
 * it).
 */
static pid_t start_target(const char *prog, int emit, struct report *r)
{
	int p[2], rc;
	pid_t pid;

	if (pipe(p) != 0)
		return 0;
	pid = fork();
	if (pid == 0) {
		char sfd[16];

		close(p[0]);
		snprintf(sfd, sizeof(sfd), "%d", p[1]);
		/* the kernel's own core of it goes to KCORE_DIR/core (see run) */
		if (emit) {
			struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

			mkdir("/tmp", 01777);
			if (mkdir(KCORE_DIR, 0700) != 0 && errno != EEXIST)
				_exit(126);
			if (chdir(KCORE_DIR) != 0 || setrlimit(RLIMIT_CORE, &rl) != 0)
				_exit(126);
		}
		execl(prog, prog, "target", sfd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return 0;
	}
	rc = (int)read(p[0], r, sizeof(*r));
	close(p[0]);
	if (rc != (int)sizeof(*r)) {
		check(0, "target %s did not start", prog);
		return -pid;
	}
	return pid;
}

/* The target's three threads run (main and reader in read, the spinner spinning), within 5 s. */
static void check_running(pid_t pid, const pid_t tids[3], const char *when)
{
	char st[3] = { '?', '?', '?' };
	const char want[3] = { 'S', 'S', 'R' };

	for (int k = 0; k < 100; k++) {
		for (int i = 0; i < 3; i++)
			st[i] = thread_state(pid, tids[i]);
		if (memcmp(st, want, 3) == 0)
			break;
		sleep_ms(50);
	}
	for (int i = 0; i < 3; i++)
		check(st[i] == want[i], "thread %d is '%c' %s, want '%c'", tids[i], st[i], when,
		      want[i]);
}

static void run(const char *ptracefs, const char *mnt, const char *prog, int emit)
{
	const struct abi *a = abi_of(prog);
	struct report r;
	char path[512], spid[16];
	int rc;
	pid_t pid;

	passed = failed = 0;
	if (!a) {
		printf("vmtest fs: cannot tell the architecture of %s\n", prog);
		return;
	}
	snprintf(label, sizeof(label), "fs_%s", a->name);
	if ((pid = start_target(prog, emit, &r)) <= 0) {
		if (pid == 0)
			return;
		pid = -pid;	/* started, no report: killed at out */
		goto out;
	}
	snprintf(spid, sizeof(spid), "%d", pid);
	/* Let the spinner reach its loop: it is running, and stays there. */
	sleep_ms(200);

	mkdir(mnt, 0755);
	/* -o rw: reads are the same; one register write is checked below. */
	rc = run_ptracefs_opt(ptracefs, pid, mnt, "rw");
	check(rc == 0, "ptracefs -o rw %d %s exited %d", pid, mnt, rc);
	if (rc != 0)
		goto out;

	pid_t tids[3] = { r.main_tid, r.reader_tid, r.spinner_tid };
	uint64_t counts[3] = { COUNT_MAIN, COUNT_THREAD, 0 };
	struct thread_truth tt[3];

	for (int i = 0; i < 3; i++) {
		char *regs;
		uint64_t v;

		tt[i].tid = tids[i];
		check(thread_state(pid, tids[i]) == 't', "thread %d not stopped while mounted",
		      tids[i]);
		tt[i].ok = proc_sp_pc(pid, tids[i], &tt[i].sp, &tt[i].pc) == 0;
		check(tt[i].ok, "no sp/pc in /proc/%d/task/%d/syscall", pid, tids[i]);
		snprintf(path, sizeof(path), "%s/threads/%d/regs", mnt, tids[i]);
		regs = slurp(path, NULL);
		check(regs != NULL, "read %s: %s", path, strerror(errno));
		if (!regs)
			continue;
		check(reg_value(regs, a->pc, &v) == 0 && tt[i].ok && v == tt[i].pc,
		      "thread %d: %s in regs is not %#" PRIx64, tids[i], a->pc, tt[i].pc);
		check(reg_value(regs, a->sp, &v) == 0 && tt[i].ok && v == tt[i].sp,
		      "thread %d: %s in regs is not %#" PRIx64, tids[i], a->sp, tt[i].sp);
		if (counts[i])
			check(reg_value(regs, a->arg2, &v) == 0 && v == counts[i],
			      "thread %d: %s is not the read count %#" PRIx64, tids[i], a->arg2,
			      counts[i]);
		free(regs);
	}

	/*
	 * -o rw: a register write on this architecture, checked by the
	 * kernel: the reader thread's stack pointer as
	 * /proc/PID/task/TID/syscall shows it (shown in and out of a system
	 * call: arm64 forgets the call at an interrupted stop), then put back
	 * before the thread runs again.
	 */
	{
		uint64_t sp0 = 0, sp1 = 0, pc = 0, v = 0, poke;
		char line[64], *regs;

		check(proc_sp_pc(pid, r.reader_tid, &sp0, &pc) == 0, "no sp in /proc syscall");
		poke = sp0 - 256;
		snprintf(path, sizeof(path), "%s/threads/%d/regs", mnt, r.reader_tid);
		snprintf(line, sizeof(line), "%s %#" PRIx64 "\n", a->sp, poke);
		check(write_file(path, line) == 0, "write '%s %#" PRIx64 "' to %s: %s", a->sp,
		      poke, path, strerror(errno));
		check(proc_sp_pc(pid, r.reader_tid, &sp1, &pc) == 0 && sp1 == poke,
		      "after the write /proc says sp %#" PRIx64 ", want %#" PRIx64, sp1, poke);
		regs = slurp(path, NULL);
		check(regs && reg_value(regs, a->sp, &v) == 0 && v == poke,
		      "regs reads %s %#" PRIx64 " after the write, want %#" PRIx64, a->sp, v, poke);
		free(regs);
		snprintf(line, sizeof(line), "%s %#" PRIx64 "\n", a->sp, sp0);
		check(write_file(path, line) == 0 &&
		      proc_sp_pc(pid, r.reader_tid, &sp1, &pc) == 0 && sp1 == sp0,
		      "sp not put back: /proc says %#" PRIx64 ", want %#" PRIx64, sp1, sp0);
	}

	/* fpregs of the spinner */
	{
		char want[40], got[80], *fp;

		fp_expect(a, want, sizeof(want));
		snprintf(path, sizeof(path), "%s/threads/%d/fpregs", mnt, r.spinner_tid);
		fp = slurp(path, NULL);
		check(fp && reg_text(fp, a->fp_reg, got, sizeof(got)) == 0 && strcmp(got, want) == 0,
		      "spinner's fpregs %s is not 0x%s", a->fp_reg, want);
		free(fp);

		/*
		 * -o rw: the register written through fpregs reads back as
		 * the kernel kept it (the sets are captured again after the
		 * SETREGSET), then goes back to pi: the core's FP note and gdb
		 * reading it (check_cores.py) then show the put-back value.
		 */
		char poke[40], line[80];

		if (a->fp_width == 16)
			snprintf(poke, sizeof(poke), "%016" PRIx64 "%016" PRIx64,
				 UINT64_C(0x0123456789abcdef), UINT64_C(0x0fedcba987654321));
		else
			snprintf(poke, sizeof(poke), "%016" PRIx64, UINT64_C(0x0fedcba987654321));
		snprintf(line, sizeof(line), "%s 0x%s\n", a->fp_reg, poke);
		check(write_file(path, line) == 0, "write '%s 0x%s' to %s: %s", a->fp_reg, poke,
		      path, strerror(errno));
		fp = slurp(path, NULL);
		check(fp && reg_text(fp, a->fp_reg, got, sizeof(got)) == 0 && strcmp(got, poke) == 0,
		      "spinner's %s reads 0x%s after the write, want 0x%s", a->fp_reg,
		      fp ? got : "?", poke);
		free(fp);
		snprintf(line, sizeof(line), "%s 0x%s\n", a->fp_reg, want);
		check(write_file(path, line) == 0, "put %s back: %s", a->fp_reg, strerror(errno));
		fp = slurp(path, NULL);
		check(fp && reg_text(fp, a->fp_reg, got, sizeof(got)) == 0 && strcmp(got, want) == 0,
		      "spinner's %s is not back to 0x%s", a->fp_reg, want);
		free(fp);
	}

	/* maps and mem against /proc */
	{
		char *m1, *m2;
		unsigned char want[4096], got[4096];
		int fd;

		snprintf(path, sizeof(path), "%s/maps", mnt);
		m1 = slurp(path, NULL);
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
		m2 = slurp(path, NULL);
		check(m1 && m2 && strcmp(m1, m2) == 0, "maps differs from /proc/%d/maps", pid);
		free(m1);
		free(m2);

		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		fd = open(path, O_RDONLY);
		rc = fd >= 0 ? preadall(fd, want, sizeof(want), r.page) : -1;
		if (fd >= 0)
			close(fd);
		check(rc == 0, "read /proc/%d/mem at %#" PRIx64, pid, r.page);
		for (size_t i = 0; rc == 0 && i < sizeof(want); i++)
			if (want[i] != (unsigned char)(i * 7 + (unsigned)pid)) {
				check(0, "the target's page does not hold its pattern");
				break;
			}
		snprintf(path, sizeof(path), "%s/mem", mnt);
		fd = open(path, O_RDONLY);
		rc = fd >= 0 ? preadall(fd, got, sizeof(got), r.page) : -1;
		check(rc == 0, "read %s at %#" PRIx64 ": %s", path, r.page, strerror(errno));
		if (fd >= 0)
			close(fd);
		for (size_t i = 0; rc == 0 && i < sizeof(got); i++)
			if (got[i] != want[i]) {
				check(0, "mem at %#" PRIx64 " differs from /proc/%d/mem at +%zu: "
				      "%02x %02x %02x %02x, want %02x %02x %02x %02x",
				      r.page, pid, i, got[i], got[i + 1 < 4096 ? i + 1 : i],
				      got[i + 2 < 4096 ? i + 2 : i], got[i + 3 < 4096 ? i + 3 : i],
				      want[i], want[i + 1 < 4096 ? i + 1 : i],
				      want[i + 2 < 4096 ? i + 2 : i], want[i + 3 < 4096 ? i + 3 : i]);
				break;
			}
		check_core(mnt, a, pid, tt, 3, r.spinner_tid, &r, want);
	}

	/* stack: frame #0 of the reader is at its pc */
	{
		char *st, want[40];

		snprintf(path, sizeof(path), "%s/threads/%d/stack", mnt, r.reader_tid);
		st = slurp(path, NULL);
		snprintf(want, sizeof(want), "#0  0x%0*" PRIx64 " ", a->is64 ? 16 : 8, tt[1].pc);
		check(st && strncmp(st, want, strlen(want)) == 0,
		      "stack of %d does not start at %s: %.60s", r.reader_tid, want, st ? st : "?");
		free(st);
	}

	if (emit) {
		snprintf(path, sizeof(path), "%s/core", mnt);
		emit_core(path, label, pid, tt, 3, r.spinner_tid, r.page);
	}

	/* unmount: the daemon detaches and the spinner runs again */
	check(umount2(mnt, 0) == 0, "umount %s: %s", mnt, strerror(errno));
	check_running(pid, tids, "after umount");
	/*
	 * The kernel's core of the same process, for check_cores.py to
	 * compare with ours: SIGABRT dumps it into the target's directory
	 * (core_pattern "core", the kernel's default).
	 */
	if (emit) {
		char kpath[64], block[80];
		int st = 0;

		snprintf(kpath, sizeof(kpath), KCORE_DIR "/core");
		unlink(kpath);
		kill(pid, SIGABRT);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		check(WIFSIGNALED(st) && WCOREDUMP(st), "the kernel dumped no core (status %#x)", st);
		snprintf(block, sizeof(block), "kernel_%s", label);
		if (WIFSIGNALED(st) && WCOREDUMP(st))
			emit_core(kpath, block, pid, tt, 3, r.spinner_tid, r.page);
		unlink(kpath);
	}
out:
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	printf("vmtest %s: %d passed, %d failed\n", label, passed, failed);
	fflush(stdout);
}

/* /proc/PID/task/TID/syscall ("nr args... sp pc"), without its newline. */
static int proc_syscall_line(pid_t pid, pid_t tid, char *out, size_t len)
{
	char path[96], *text, *nl;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	text = slurp(path, NULL);
	if (!text)
		return -1;
	if ((nl = strchr(text, '\n')))
		*nl = '\0';
	snprintf(out, len, "%s", text);
	free(text);
	return 0;
}

/* The pids in /proc/PID/task/TID/children of the n tids: their count, -1 on error. */
static int count_children(pid_t pid, const pid_t *tids, int n)
{
	char path[96], *text, *p;
	int count = 0;

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tids[i]);
		if (!(text = slurp(path, NULL)))
			return -1;
		for (p = text; *p; p++)
			count += (*p >= '0' && *p <= '9') && (p[1] < '0' || p[1] > '9');
		free(text);
	}
	return count;
}

/* Field k (1-based, as proc(5) counts) of /proc/PID/stat; -1 if unreadable. */
static long long stat_field(pid_t pid, int k)
{
	char path[64], *text, *p;
	long long v = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(text = slurp(path, NULL)))
		return -1;
	p = strrchr(text, ')');
	for (int f = 2; p && f < k; f++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoll(p + 1, NULL, 10);
	free(text);
	return v;
}

/*
 * A target for the snapshot checks, started and settled: its three tids
 * and the /proc syscall lines of the two threads blocked in read(2). The
 * pid as start_target returns it.
 */
static pid_t start_blocked(const char *prog, struct report *r, pid_t tids[3],
			   char before[2][160])
{
	pid_t pid = start_target(prog, 0, r);

	if (pid <= 0)
		return pid;
	tids[0] = r->main_tid;
	tids[1] = r->reader_tid;
	tids[2] = r->spinner_tid;
	sleep_ms(200);
	for (int i = 0; i < 2; i++)
		check(proc_syscall_line(pid, tids[i], before[i], 160) == 0,
		      "no /proc syscall line for %d", tids[i]);
	return pid;
}

/* Whether tid's /proc syscall line is want again within 5 s (got: the last one read). */
static bool syscall_line_back(pid_t pid, pid_t tid, const char *want, char *got, size_t len)
{
	for (int k = 0; k < 100; k++) {
		if (proc_syscall_line(pid, tid, got, len) == 0 && strcmp(got, want) == 0)
			return true;
		sleep_ms(50);
	}
	return false;
}

/*
 * -o snapshot on this architecture (the row in arch/inject.c): ptracefs
 * stops the target, injects clone() into one of its threads through a
 * syscall instruction already mapped, puts that thread back and lets the
 * target run while the mount reads the clone. Checked with the kernel's
 * view only: every thread runs again while mounted; the two threads
 * blocked in read(2) are back in that same call with the same arguments,
 * sp and pc (/proc/PID/task/TID/syscall before and after, whichever
 * thread carried the clone); the clone is the target's child with exit
 * signal 0; a page changed in the target after the mount (through
 * /proc/PID/mem) still reads as before in the mount's mem; after umount
 * the target has no child left and runs.
 */
static void run_snapshot(const char *ptracefs, const char *mnt, const char *prog)
{
	const struct abi *a = abi_of(prog);
	struct report r;
	char path[512], before[3][160], after[160], *status, *text;
	unsigned char want[4096], got[4096];
	pid_t pid, clone = 0, tids[3];
	int rc, fd, n;

	passed = failed = 0;
	if (!a)
		return;
	snprintf(label, sizeof(label), "snap_%s", a->name);
	if ((pid = start_blocked(prog, &r, tids, before)) <= 0) {
		if (pid == 0)
			return;
		pid = -pid;	/* started, no report: killed at out */
		goto out;
	}
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (unsigned char)(i * 7 + (unsigned)pid);

	mkdir(mnt, 0755);
	rc = run_ptracefs_opt(ptracefs, pid, mnt, "snapshot");
	check(rc == 0, "ptracefs -o snapshot %d %s exited %d", pid, mnt, rc);
	if (rc != 0)
		goto out;

	/* The target runs while mounted: the spinner spins, the others wait in read. */
	check_running(pid, tids, "while snapshot-mounted");
	/* Back in the same call, same arguments, same sp and pc. */
	for (int i = 0; i < 2; i++) {
		check(proc_syscall_line(pid, tids[i], after, sizeof(after)) == 0 &&
		      strcmp(after, before[i]) == 0,
		      "thread %d: /proc syscall '%s' after the snapshot, '%s' before", tids[i],
		      after, before[i]);
	}
	/*
	 * regs: as taken at the freeze, the sp the kernel shows now and its
	 * pc, or (arm, aarch64, riscv64: the restart is set up before the
	 * stop) the pc of the call's instruction, 2 or 4 bytes back.
	 */
	for (int i = 0; i < 2; i++) {
		uint64_t sp = 0, pc = 0, v = 0, rsp = 0;
		char *regs;
		int rewound = a->machine != EM_X86_64 && a->machine != EM_386;

		snprintf(path, sizeof(path), "%s/threads/%d/regs", mnt, tids[i]);
		regs = slurp(path, NULL);
		check(proc_sp_pc(pid, tids[i], &sp, &pc) == 0 && regs &&
		      reg_value(regs, a->pc, &v) == 0 &&
		      (v == pc || (rewound && (v == pc - 4 || v == pc - 2))),
		      "thread %d: %s %#" PRIx64 " in regs, /proc says %#" PRIx64, tids[i], a->pc,
		      v, pc);
		check(regs && reg_value(regs, a->sp, &rsp) == 0 && rsp == sp,
		      "thread %d: %s %#" PRIx64 " in regs, /proc says %#" PRIx64, tids[i], a->sp,
		      rsp, sp);
		free(regs);
	}
	snprintf(path, sizeof(path), "%s/status", mnt);
	status = slurp(path, NULL);
	check(status && strstr(status, "\nstate snapshot\n"), "status has no 'state snapshot'");
	/* Every arch has a net (arch/inject.h). */
	check(status && strstr(status, "\nkill_safe yes\n"), "status says kill_safe no");
	if (status && (text = strstr(status, "\nclone ")))
		clone = (pid_t)atoi(text + 7);
	free(status);
	check(clone > 0, "status names no clone");
	check(clone > 0 && stat_field(clone, 4) == pid, "clone %d's parent is %lld, not %d",
	      clone, clone > 0 ? stat_field(clone, 4) : -1, pid);
	check(clone > 0 && stat_field(clone, 38) == 0, "clone %d's exit signal is %lld, not 0",
	      clone, clone > 0 ? stat_field(clone, 38) : -1);

	/* One instant: the target's page changes; the mount's does not. */
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDWR);
	memset(got, 0x5a, sizeof(got));
	check(fd >= 0 && pwrite(fd, got, sizeof(got), (off_t)r.page) == (ssize_t)sizeof(got),
	      "write the target's page through %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/mem", mnt);
	fd = open(path, O_RDONLY);
	rc = fd >= 0 ? preadall(fd, got, sizeof(got), r.page) : -1;
	if (fd >= 0)
		close(fd);
	check(rc == 0 && memcmp(got, want, sizeof(want)) == 0,
	      "mem at %#" PRIx64 " is not the page as it was at the snapshot", r.page);

	check(umount2(mnt, 0) == 0, "umount %s: %s", mnt, strerror(errno));
	/* The daemon kills the clone and has the target reap it. */
	for (int k = 0; k < 100 && (n = count_children(pid, tids, 3)) != 0; k++)
		sleep_ms(50);
	check(n == 0, "the target has %d children after umount", n);
	/* The thread that reaped is put back a moment after its wait4()
	 * returned (an emulated guest on a busy host: up to 5 s). */
	for (int i = 0; i < 2; i++) {
		check(syscall_line_back(pid, tids[i], before[i], after, sizeof(after)),
		      "thread %d: /proc syscall '%s' after umount, '%s' before", tids[i], after,
		      before[i]);
	}
	check(thread_state(pid, tids[2]) == 'R', "the spinner is '%c' after umount",
	      thread_state(pid, tids[2]));
out:
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	printf("vmtest %s: %d passed, %d failed\n", label, passed, failed);
	fflush(stdout);
}

/* The TracerPid of /proc/PID/task/TID/status; -1 if unreadable. */
static int tracer_of(pid_t pid, pid_t tid)
{
	char path[96], *text, *p;
	int v = -1;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	if (!(text = slurp(path, NULL)))
		return -1;
	if ((p = strstr(text, "\nTracerPid:")))
		v = atoi(p + 11);
	free(text);
	return v;
}

/* The first pid of /proc/PID/task/TID/children over the n tids; 0 if none. */
static pid_t first_child(pid_t pid, const pid_t *tids, int n)
{
	char path[96], *text;
	pid_t c = 0;

	for (int i = 0; i < n && !c; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tids[i]);
		if ((text = slurp(path, NULL))) {
			c = (pid_t)atoi(text);
			free(text);
		}
	}
	return c;
}

/*
 * The daemon SIGKILLed (PTRACEFS_FAULT=kill:POINT, a fault-injection
 * build) while the main thread, blocked in read(2), carries the injected
 * clone(): at inject-loaded (the call's registers loaded, not yet run),
 * snap-clone-after (the clone made) and snap-restore (about to put the
 * registers back). With the net the thread runs on into rt_sigreturn on
 * its own: every thread is untraced and as before (read(2) restarted:
 * the same /proc syscall line; the spinner spinning), the target's only
 * child is one zombie with exit signal 0, the main thread's FP register
 * (loaded by target()) reads as it was in a plain mount afterwards, and
 * that mount's run reaps the zombie. Without the net the main thread
 * runs on with the call's registers and the checks fail.
 */
static void run_snapshot_kill(const char *ptracefs, const char *mnt, const char *prog)
{
	static const char *const points[] = { "inject-loaded", "snap-clone-after", "snap-restore" };
	const struct abi *a = abi_of(prog);

	passed = failed = 0;
	if (!a)
		return;
	snprintf(label, sizeof(label), "snapkill_%s", a->name);
	for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
		const char *pt = points[p];
		char before[2][160], after[160], env[64], path[512], want[40], got[80], *fp;
		struct report r;
		pid_t pid, tids[3], kid;
		int rc, n = -1;

		if ((pid = start_blocked(prog, &r, tids, before)) <= 0) {
			if (pid == 0)
				continue;
			pid = -pid;
			goto next;
		}

		mkdir(mnt, 0755);
		snprintf(env, sizeof(env), "kill:%s", pt);
		setenv("PTRACEFS_FAULT", env, 1);
		rc = run_ptracefs_opt(ptracefs, pid, mnt, "snapshot");
		unsetenv("PTRACEFS_FAULT");
		check(rc != 0, "%s: ptracefs -o snapshot exited 0 (no fault injection?)", pt);
		umount2(mnt, MNT_DETACH);	/* nothing, unless that mount succeeded */

		for (int i = 0; i < 3; i++) {
			int tp = -1;

			for (int k = 0; k < 100 && (tp = tracer_of(pid, tids[i])) != 0; k++)
				sleep_ms(50);
			check(tp == 0, "%s: thread %d has TracerPid %d", pt, tids[i], tp);
		}
		check_running(pid, tids, pt);
		for (int i = 0; i < 2; i++) {
			check(syscall_line_back(pid, tids[i], before[i], after, sizeof(after)),
			      "%s: thread %d: /proc syscall '%s', '%s' before", pt, tids[i], after,
			      before[i]);
		}
		kid = first_child(pid, tids, 3);
		for (int k = 0; k < 100 && kid > 0 && thread_state(kid, kid) != 'Z'; k++)
			sleep_ms(50);
		check(count_children(pid, tids, 3) == 1 && kid > 0 && thread_state(kid, kid) == 'Z',
		      "%s: the target has %d children, first %d '%c', want one zombie", pt,
		      count_children(pid, tids, 3), kid, kid > 0 ? thread_state(kid, kid) : '-');
		check(kid > 0 && stat_field(kid, 38) == 0, "%s: child %d has exit signal %lld", pt,
		      kid, kid > 0 ? stat_field(kid, 38) : -1);

		/* A plain mount: the main thread's FP register, and the zombie reaped. */
		rc = run_ptracefs_opt(ptracefs, pid, mnt, NULL);
		check(rc == 0, "%s: the next ptracefs run exited %d", pt, rc);
		if (rc == 0) {
			snprintf(path, sizeof(path), "%s/threads/%d/fpregs", mnt, tids[0]);
			fp = slurp(path, NULL);
			fp_expect(a, want, sizeof(want));
			check(fp && reg_text(fp, a->fp_reg, got, sizeof(got)) == 0 &&
			      strcmp(got, want) == 0, "%s: main thread's %s is 0x%s, not 0x%s", pt,
			      a->fp_reg, fp ? got : "?", want);
			free(fp);
			check(umount2(mnt, 0) == 0, "%s: umount %s: %s", pt, mnt, strerror(errno));
			for (int k = 0; k < 100 && (n = count_children(pid, tids, 3)) != 0; k++)
				sleep_ms(50);
			check(n == 0, "%s: %d children left after the next run", pt, n);
		}
next:
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	printf("vmtest %s: %d passed, %d failed\n", label, passed, failed);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "target") == 0) {
		target(atoi(argv[2]));
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "--exec") == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		run_exec(argv[2], argv[3], argv[4]);
		return failed ? 1 : 0;
	}
	int emit = argc > 1 && strcmp(argv[1], "--emit-core") == 0;

	argc -= emit;
	argv += emit;
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: vmfs [--emit-core] PTRACEFS MOUNTPOINT [TARGET]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	run(argv[1], argv[2], argc == 4 ? argv[3] : "/proc/self/exe", emit);
	int fs_failed = failed;

	run_snapshot(argv[1], argv[2], argc == 4 ? argv[3] : "/proc/self/exe");
	fs_failed += failed;
	run_snapshot_kill(argv[1], argv[2], argc == 4 ? argv[3] : "/proc/self/exe");
	return failed || fs_failed ? 1 : 0;
}
