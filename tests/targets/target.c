/*
 * ptracefs-sample-target: a small multithreaded process worth mounting.
 *
 *   ptracefs-sample-target [-t THREADS] [-b SIZE] [-u SIZE] [-S SIZE] [-D SIZE]
 *                          [-s FILE] [-q]
 *
 * What it holds, so that tests (and anyone poking at a mount) know what to
 * expect in `mem`:
 *   buffer     SIZE bytes (1 MiB by default) in which every 8-byte word holds
 *              its own address: the uint64_t at address a has the value a, in
 *              native byte order. A wrong offset anywhere shows at once.
 *   guard      one PROT_NONE page right after the buffer: a hole in `mem`.
 *   untouched  an anonymous mapping (64 MiB) that is never written, so none
 *              of its pages exist; reading it must give zeros and must not
 *              make the target's RSS grow.
 *   counter    a uint64_t the main thread bumps about once a millisecond; it
 *              stands still while the process is suspended.
 *   spin       a uint64_t the spinner thread bumps, for the same purpose.
 *   sparse     (--sparse SIZE) an anonymous mapping in which one page in 16
 *              is written (its first word holds its address): the shape of
 *              a JVM or Go heap, mostly reserved, partly resident.
 *   dontdump   (--dontdump SIZE) written like the buffer, then marked
 *              MADV_DONTDUMP: a core must leave it out.
 *
 * Worker threads (4 by default) are blocked in different ways, in turn:
 * nanosleep, a condition variable (a futex), read(2) on a pipe nobody writes
 * to, and a spinner that alternates a short busy loop with a short sleep.
 *
 * --status FILE writes "key value" lines (pid, threads, buf, buflen, guard,
 * untouched, untouchedlen, counter, spin, and sparse/sparselen and
 * dontdump/dontdumplen when asked for; addresses in hex), "ready" last;
 * the file appears atomically once every thread runs. SIGTERM, SIGINT and
 * SIGHUP end the process cleanly: threads joined, status file removed,
 * exit status 0.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

enum worker_kind { W_SLEEP, W_COND, W_PIPE, W_SPIN, W_KINDS };

static const char *const kind_name[W_KINDS] = {
	[W_SLEEP] = "sleeper",
	[W_COND] = "condwait",
	[W_PIPE] = "piperead",
	[W_SPIN] = "spinner",
};

static _Atomic uint64_t counter;
static _Atomic uint64_t spin;
static atomic_bool quit;
static volatile sig_atomic_t stop_signal;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t started;
static int pipefd[2];

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000L,
			       .tv_nsec = ns % 1000000000L };

	nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
	enum worker_kind kind = (enum worker_kind)(uintptr_t)arg;
	char c;

	pthread_setname_np(pthread_self(), kind_name[kind]);
	pthread_barrier_wait(&started);
	switch (kind) {
	case W_SLEEP:
		/* short enough steps that exit never waits long */
		while (!atomic_load(&quit))
			sleep_ns(100 * 1000000L);
		break;
	case W_COND:
		pthread_mutex_lock(&lock);
		while (!atomic_load(&quit))
			pthread_cond_wait(&cond, &lock);
		pthread_mutex_unlock(&lock);
		break;
	case W_PIPE:
		/* returns at EOF, when main closes the write end */
		while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
			;
		break;
	case W_SPIN:
		while (!atomic_load(&quit)) {
			for (volatile int i = 0; i < 20000; i++)
				;
			atomic_fetch_add_explicit(&spin, 1, memory_order_relaxed);
			sleep_ns(200 * 1000L);
		}
		break;
	default:
		break;
	}
	return NULL;
}

/* A size option: 1 byte to half the address space. */
static int size_arg(const char *s, size_t *out)
{
	uint64_t v;

	if (parse_size(s, SIZE_MAX / 2, &v) || v == 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_count(const char *s, size_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ptracefs-sample-target [options]\n"
		"  -t, --threads N     worker threads (default 4)\n"
		"  -b, --buf-size SIZE buffer of self-addressed words (default 1M)\n"
		"  -u, --untouched SIZE never-written anonymous mapping (default 64M)\n"
		"  -S, --sparse SIZE   mapping with one page in 16 written (default none)\n"
		"  -D, --dontdump SIZE written mapping marked MADV_DONTDUMP (default none)\n"
		"  -s, --status FILE   write pid and addresses to FILE, \"ready\" last\n"
		"  -q, --quiet         print nothing\n"
		"  -h, --help          this text\n"
		"SIGTERM, SIGINT or SIGHUP end it cleanly.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "buf-size", required_argument, NULL, 'b' },
		{ "untouched", required_argument, NULL, 'u' },
		{ "sparse", required_argument, NULL, 'S' },
		{ "dontdump", required_argument, NULL, 'D' },
		{ "status", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t nthreads = 4, buflen = 1 << 20, untouchedlen = 64 << 20;
	size_t sparselen = 0, dontdumplen = 0;
	char *sparse = NULL;
	uint64_t *dontdump = NULL;
	const char *status_path = NULL;
	bool quiet = false;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t stopsigs, old;
	pthread_t *tids;
	uint64_t *buf;
	char *untouched;
	char status[1024];
	size_t slen = 0;
	int opt, rc = 0;

	while ((opt = getopt_long(argc, argv, "t:b:u:S:D:s:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (parse_count(optarg, &nthreads) || nthreads > 4096) {
				fprintf(stderr, "ptracefs-sample-target: bad thread count '%s'\n", optarg);
				return 2;
			}
			break;
		case 'b':
			if (size_arg(optarg, &buflen)) {
				fprintf(stderr, "ptracefs-sample-target: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'u':
			if (size_arg(optarg, &untouchedlen)) {
				fprintf(stderr, "ptracefs-sample-target: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'S':
		case 'D':
			if (size_arg(optarg, opt == 'S' ? &sparselen : &dontdumplen)) {
				fprintf(stderr, "ptracefs-sample-target: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			status_path = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	buflen = (buflen + page - 1) / page * page;
	untouchedlen = (untouchedlen + page - 1) / page * page;

	/* buffer and guard page in one reservation, so they are adjacent */
	buf = mmap(NULL, buflen + page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || mprotect((char *)buf + buflen, page, PROT_NONE)) {
		perror("ptracefs-sample-target: buffer");
		return 1;
	}
	for (size_t i = 0; i < buflen / 8; i++)
		buf[i] = (uint64_t)(uintptr_t)&buf[i];
	/* MAP_NORESERVE also keeps it from merging with the buffer's vma */
	untouched = mmap(NULL, untouchedlen, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (untouched == MAP_FAILED) {
		perror("ptracefs-sample-target: untouched mapping");
		return 1;
	}

	if (sparselen) {
		sparselen = (sparselen + page - 1) / page * page;
		/* PROT_NONE pages on both sides: it must not merge with a neighbour */
		sparse = mmap(NULL, sparselen + 2 * page, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (sparse == MAP_FAILED ||
		    mprotect(sparse + page, sparselen, PROT_READ | PROT_WRITE)) {
			perror("ptracefs-sample-target: sparse mapping");
			return 1;
		}
		sparse += page;
		for (size_t off = 0; off < sparselen; off += 16 * page)
			*(uint64_t *)(sparse + off) = (uint64_t)(uintptr_t)(sparse + off);
	}
	if (dontdumplen) {
		dontdumplen = (dontdumplen + page - 1) / page * page;
		dontdump = mmap(NULL, dontdumplen, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (dontdump == MAP_FAILED ||
		    madvise(dontdump, dontdumplen, MADV_DONTDUMP)) {
			perror("ptracefs-sample-target: dontdump mapping");
			return 1;
		}
		for (size_t i = 0; i < dontdumplen / 8; i++)
			dontdump[i] = (uint64_t)(uintptr_t)&dontdump[i];
	}

	if (pipe(pipefd)) {
		perror("ptracefs-sample-target: pipe");
		return 1;
	}
	/* only the main thread takes the stop signals: workers inherit the mask */
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGHUP);
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&stopsigs, s))
			sigaction(s, &sa, NULL);
	pthread_sigmask(SIG_BLOCK, &stopsigs, &old);

	tids = calloc(nthreads ? nthreads : 1, sizeof(*tids));
	if (!tids || pthread_barrier_init(&started, NULL, (unsigned)nthreads + 1)) {
		fprintf(stderr, "ptracefs-sample-target: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < nthreads; i++) {
		int err = pthread_create(&tids[i], NULL, worker,
					 (void *)(uintptr_t)(i % W_KINDS));
		if (err) {
			fprintf(stderr, "ptracefs-sample-target: pthread_create: %s\n",
				strerror(err));
			return 1;
		}
	}
	pthread_barrier_wait(&started);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (status_path) {
		status_add(status, sizeof(status), &slen, "pid %d\n", (int)getpid());
		status_add(status, sizeof(status), &slen, "threads %zu\n", nthreads + 1);
		status_add(status, sizeof(status), &slen, "buf %p\n", (void *)buf);
		status_add(status, sizeof(status), &slen, "buflen %zu\n", buflen);
		status_add(status, sizeof(status), &slen, "guard %p\n",
			   (void *)((char *)buf + buflen));
		status_add(status, sizeof(status), &slen, "untouched %p\n", (void *)untouched);
		status_add(status, sizeof(status), &slen, "untouchedlen %zu\n", untouchedlen);
		status_add(status, sizeof(status), &slen, "counter %p\n", (void *)&counter);
		if (sparse) {
			status_add(status, sizeof(status), &slen, "sparse %p\n", (void *)sparse);
			status_add(status, sizeof(status), &slen, "sparselen %zu\n", sparselen);
		}
		if (dontdump) {
			status_add(status, sizeof(status), &slen, "dontdump %p\n", (void *)dontdump);
			status_add(status, sizeof(status), &slen, "dontdumplen %zu\n", dontdumplen);
		}
		if (status_add(status, sizeof(status), &slen, "spin %p\n", (void *)&spin) ||
		    status_publish(status_path, status, sizeof(status), slen)) {
			perror("ptracefs-sample-target: status file");
			stop_signal = SIGTERM;
			rc = 1;
		}
	}
	if (!quiet) {
		printf("ptracefs-sample-target: pid %d, %zu threads\n"
		       "  buffer    %p, %zu bytes; each 8-byte word holds its own address\n"
		       "  guard     %p, one PROT_NONE page\n"
		       "  untouched %p, %zu bytes never written\n"
		       "  counter   %p, bumped every millisecond\n"
		       "mount it with: ptracefs %d MOUNTPOINT\n",
		       (int)getpid(), nthreads + 1, (void *)buf, buflen,
		       (void *)((char *)buf + buflen), (void *)untouched, untouchedlen,
		       (void *)&counter, (int)getpid());
		fflush(stdout);
	}

	while (!stop_signal) {
		atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
		sleep_ns(1000000L);	/* EINTR on a stop signal is fine */
	}

	atomic_store(&quit, true);
	pthread_mutex_lock(&lock);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	close(pipefd[1]);
	for (size_t i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	if (status_path && rc == 0)
		unlink(status_path);
	free(tids);
	return rc;
}
