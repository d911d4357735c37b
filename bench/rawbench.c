/*
 * rawbench: the baselines bench/run measures ptracefs against, and the
 * timed loops it runs over ptracefs files, so both sides of a row are
 * timed by the same code. Each prints one number (or two) on stdout.
 *
 *   seq-vm PID ADDR LEN CHUNK        process_vm_readv, sequential   -> GB/s
 *   seq-procmem PID ADDR LEN CHUNK   pread on /proc/PID/mem          -> GB/s
 *   seq-file PATH OFF LEN CHUNK      pread on a file (ptracefs mem)  -> GB/s
 *   rand-vm PID ADDR LEN N           N random 4 KiB process_vm_readv -> ops/s
 *   rand-file PATH OFF LEN N         N random 4 KiB preads           -> ops/s
 *   copy-vm PID OUT                  every readable mapping, by
 *                                    process_vm_readv, pwritten at
 *                                    offset == address into OUT      -> bytes
 *   seize PID                        SEIZE+INTERRUPT every thread
 *   seize-tree PID                   the same for PID and its descendants
 *                                    (rescan until stable), wait for
 *                                    every stop                      -> ms
 *   regs PID                         attach as above, then time one
 *                                    GETREGSET(NT_PRSTATUS) a thread -> ms
 *   cat-regs DIR                     what `cat DIR/<each>/regs` does:
 *                                    list DIR, then stat, open, fstat,
 *                                    read to EOF, close each regs    -> ms
 *   watch PID                        poll TracerPid until the process
 *                                    has been traced and released;
 *                                    prints how long it was traced   -> s
 *   cycles N                         a target: prints "ready", then
 *                                    for each line on stdin runs N
 *                                    pthread_create+join cycles      -> us a cycle
 *
 * Reads repeat the same pseudo-random offsets (fixed seed) on every side.
 * Memory is read into one buffer allocated and touched up front.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RAND_SIZE 4096

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "rawbench: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/*
 * Page-aligned, as cp's and cat's buffers are: FUSE pins the reader's
 * pages for direct_io, and 1 MiB that straddles 257 pages is split into
 * two requests (max_pages is 256).
 */
static char *buffer(size_t len)
{
	char *b = aligned_alloc(4096, (len + 4095) / 4096 * 4096);

	if (!b)
		die("aligned_alloc");
	memset(b, 1, len);	/* fault it in before the clock starts */
	return b;
}

/* xorshift64*: the same offsets on every side of a row. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static ssize_t vm_read(pid_t pid, char *buf, size_t len, uint64_t addr)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0);
}

/* One read of len at off through the chosen path; -1 on error. */
struct src {
	pid_t pid;	/* process_vm_readv when fd < 0 */
	int fd;
};

static ssize_t src_read(const struct src *s, char *buf, size_t len, uint64_t off)
{
	if (s->fd < 0)
		return vm_read(s->pid, buf, len, off);
	return pread(s->fd, buf, len, (off_t)off);
}

static int seq(const struct src *s, uint64_t off, uint64_t len, size_t chunk)
{
	char *buf = buffer(chunk);
	double t0 = now();

	for (uint64_t pos = 0; pos < len; ) {
		size_t want = len - pos < chunk ? (size_t)(len - pos) : chunk;
		ssize_t n = src_read(s, buf, want, off + pos);

		if (n <= 0)
			die("read");
		pos += (uint64_t)n;
	}
	printf("%.4f\n", (double)len / (now() - t0) / 1e9);
	free(buf);
	return 0;
}

static int rnd(const struct src *s, uint64_t off, uint64_t len, uint64_t count)
{
	char *buf = buffer(RAND_SIZE);
	uint64_t seed = 0x9E3779B97F4A7C15ULL, pages = len / RAND_SIZE;
	double t0 = now();

	for (uint64_t i = 0; i < count; i++) {
		uint64_t at = off + next_rand(&seed) % pages * RAND_SIZE;

		if (src_read(s, buf, RAND_SIZE, at) != RAND_SIZE)
			die("read");
	}
	printf("%.0f\n", (double)count / (now() - t0));
	free(buf);
	return 0;
}

/* A plain copy: every readable mapping but the kernel's special ones. */
static int copy_vm(pid_t pid, const char *out)
{
	char path[64], line[4096], *buf;
	const size_t chunk = 1 << 20;
	uint64_t total = 0;
	FILE *maps;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "r");
	if (!maps)
		die(path);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(out);
	buf = buffer(chunk);
	while (fgets(line, sizeof(line), maps)) {
		unsigned long long start, end;
		char perms[8];

		if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r' || strstr(line, "[vvar") || strstr(line, "[vsyscall]"))
			continue;
		for (uint64_t a = start; a < end; a += chunk) {
			size_t want = end - a < chunk ? (size_t)(end - a) : chunk;
			ssize_t n = vm_read(pid, buf, want, a);

			if (n <= 0)
				continue;	/* unreadable: leave a hole */
			if (pwrite(fd, buf, (size_t)n, (off_t)a) != n)
				die("pwrite");
			total += (uint64_t)n;
		}
	}
	fclose(maps);
	if (close(fd))
		die("close");
	printf("%" PRIu64 "\n", total);
	free(buf);
	return 0;
}

/* ---- ptrace baselines ---- */

static pid_t *tids;
static size_t ntids, captids;

static int seen(pid_t t)
{
	for (size_t i = 0; i < ntids; i++)
		if (tids[i] == t)
			return 1;
	return 0;
}

/* SEIZE + INTERRUPT every task of pid not yet seen, until a pass finds none. */
static void seize_tasks(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	for (int fresh = 1; fresh; ) {
		DIR *d = opendir(path);
		struct dirent *e;

		if (!d)
			die(path);
		fresh = 0;
		while ((e = readdir(d))) {
			pid_t t = (pid_t)atoi(e->d_name);

			if (t <= 0 || seen(t))
				continue;
			if (ptrace(PTRACE_SEIZE, t, 0, 0) < 0)
				continue;
			ptrace(PTRACE_INTERRUPT, t, 0, 0);
			if (ntids == captids) {
				captids = captids ? 2 * captids : 64;
				tids = realloc(tids, captids * sizeof(*tids));
				if (!tids)
					die("realloc");
			}
			tids[ntids++] = t;
			fresh = 1;
		}
		closedir(d);
	}
}

static void wait_stops(void)
{
	for (size_t i = 0; i < ntids; i++) {
		int st;

		if (waitpid(tids[i], &st, __WALL) < 0)
			die("waitpid");
	}
}

/*
 * The least an attach can do: list the tasks, SEIZE + INTERRUPT each new
 * one, rescan until a pass finds nothing new, then collect every stop.
 */
static void seize_all(pid_t pid)
{
	seize_tasks(pid);
	wait_stops();
}

/*
 * The same over a process and its descendants (a -o tree baseline): each
 * process met is seized, then its threads' children files name the next
 * ones; one pass, no rescans, then every stop. Returns the processes.
 */
static size_t seize_tree(pid_t root)
{
	pid_t *procs = malloc(sizeof(*procs));
	size_t nprocs = 1, cap = 1;

	if (!procs)
		die("malloc");
	procs[0] = root;
	for (size_t i = 0; i < nprocs; i++) {
		size_t from = ntids;

		seize_tasks(procs[i]);
		for (size_t k = from; k < ntids; k++) {
			char path[96], buf[4096], *p, *end;
			ssize_t n;
			int fd;

			snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)procs[i], (int)tids[k]);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[n > 0 ? n : 0] = 0;
			for (p = buf;; p = end) {
				long c = strtol(p, &end, 10);

				if (end == p)
					break;
				if (nprocs == cap) {
					cap *= 2;
					procs = realloc(procs, cap * sizeof(*procs));
					if (!procs)
						die("realloc");
				}
				procs[nprocs++] = (pid_t)c;
			}
		}
	}
	wait_stops();
	free(procs);
	return nprocs;
}

static int regs(pid_t pid)
{
	unsigned char blob[4096];
	double t0;

	seize_all(pid);
	t0 = now();
	for (size_t i = 0; i < ntids; i++) {
		struct iovec iov = { blob, sizeof(blob) };

		if (ptrace(PTRACE_GETREGSET, tids[i], (void *)NT_PRSTATUS, &iov) < 0)
			die("GETREGSET");
	}
	printf("%.3f\n", (now() - t0) * 1e3);
	for (size_t i = 0; i < ntids; i++)
		ptrace(PTRACE_DETACH, tids[i], 0, 0);
	return 0;
}

static int cat_regs(const char *dir)
{
	static char buf[128 << 10];
	char path[4096];
	struct dirent *e;
	double t0 = now();
	DIR *d = opendir(dir);
	size_t files = 0;

	if (!d)
		die(dir);
	while ((e = readdir(d))) {
		struct stat st;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/regs", dir, e->d_name);
		if (lstat(path, &st) < 0)
			continue;	/* the glob would not match it */
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) < 0)
			die(path);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
		files++;
	}
	closedir(d);
	printf("%.3f %zu\n", (now() - t0) * 1e3, files);
	return 0;
}

static int traced(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	int tracer = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &tracer) == 1)
			break;
	fclose(f);
	return tracer > 0;
}

/* Poll every 200 us: fine enough for stops that last 10 ms or more. */
static int watch(pid_t pid)
{
	struct timespec tick = { 0, 200 * 1000 };
	double start = 0;
	int t;

	/* bench/run waits for this line before it starts the tool. */
	printf("watching\n");
	fflush(stdout);
	while ((t = traced(pid)) >= 0) {
		if (t && !start)
			start = now();
		if (!t && start)
			break;
		nanosleep(&tick, NULL);
	}
	printf("%.4f\n", start ? now() - start : 0.0);
	return 0;
}

static void *nothing(void *arg)
{
	return arg;
}

/* A process bench/run mounts (or not) between the batches it asks for. */
static int cycles(uint64_t n)
{
	char line[64];

	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		double t0 = now();

		for (uint64_t i = 0; i < n; i++) {
			pthread_t t;

			if (pthread_create(&t, NULL, nothing, NULL))
				die("pthread_create");
			pthread_join(t, NULL);
		}
		printf("%.3f\n", (now() - t0) * 1e6 / (double)(n ? n : 1));
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct src s = { .fd = -1 };

	if (!strcmp(cmd, "seq-vm") && argc == 6) {
		s.pid = (pid_t)num(argv[2]);
		return seq(&s, num(argv[3]), num(argv[4]), (size_t)num(argv[5]));
	}
	if ((!strcmp(cmd, "seq-procmem") || !strcmp(cmd, "seq-file")) && argc == 6) {
		char path[64];
		const char *p = argv[2];

		if (!strcmp(cmd, "seq-procmem")) {
			snprintf(path, sizeof(path), "/proc/%s/mem", argv[2]);
			p = path;
		}
		if ((s.fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
			die(p);
		return seq(&s, num(argv[3]), num(argv[4]), (size_t)num(argv[5]));
	}
	if (!strcmp(cmd, "rand-vm") && argc == 6) {
		s.pid = (pid_t)num(argv[2]);
		return rnd(&s, num(argv[3]), num(argv[4]), num(argv[5]));
	}
	if (!strcmp(cmd, "rand-file") && argc == 6) {
		if ((s.fd = open(argv[2], O_RDONLY | O_CLOEXEC)) < 0)
			die(argv[2]);
		return rnd(&s, num(argv[3]), num(argv[4]), num(argv[5]));
	}
	if (!strcmp(cmd, "copy-vm") && argc == 4)
		return copy_vm((pid_t)num(argv[2]), argv[3]);
	if (!strcmp(cmd, "seize") && argc == 3) {
		double t0 = now();

		seize_all((pid_t)num(argv[2]));
		printf("%.3f %zu\n", (now() - t0) * 1e3, ntids);
		return 0;	/* exit detaches every tracee */
	}
	if (!strcmp(cmd, "seize-tree") && argc == 3) {
		double t0 = now();
		size_t nprocs = seize_tree((pid_t)num(argv[2]));

		printf("%.3f %zu %zu\n", (now() - t0) * 1e3, ntids, nprocs);
		return 0;	/* exit detaches every tracee */
	}
	if (!strcmp(cmd, "regs") && argc == 3)
		return regs((pid_t)num(argv[2]));
	if (!strcmp(cmd, "cat-regs") && argc == 3)
		return cat_regs(argv[2]);
	if (!strcmp(cmd, "watch") && argc == 3)
		return watch((pid_t)num(argv[2]));
	if (!strcmp(cmd, "cycles") && argc == 3)
		return cycles(num(argv[2]));
	fprintf(stderr, "usage: rawbench seq-vm|seq-procmem|seq-file|rand-vm|rand-file|copy-vm|seize|seize-tree|regs|cat-regs|watch|cycles ARGS (see the source)\n");
	return 2;
}
