/*
 * bench-target: a process of a chosen shape for bench/run to mount.
 *
 *   bench-target [-t THREADS] [-m MAPPED] [-r RESIDENT] [-c CHUNK] [-s FILE]
 *
 *   -m MAPPED    one anonymous private mapping of this size (default 64M)
 *   -r RESIDENT  how much of it is written (default: all of it)
 *   -c CHUNK     written in runs of CHUNK bytes spread evenly over the
 *                mapping (default: one run from its start). 4 GiB mapped,
 *                256 MiB resident in 1 MiB runs is a heap the way JVMs, Go
 *                and sanitizers leave it: mostly reserved, partly touched.
 *   -t THREADS   extra threads, all blocked on one condition variable, so
 *                they take no CPU from the measurement (default 0)
 *   -s FILE      "pid N", "buf 0x...", "buflen N", "threads N", then "ready"
 *   -H           a heartbeat thread, which notes the longest time it went
 *                without running (a stop of the process shows there), and
 *                commands on stdin instead of waiting for SIGTERM, one
 *                answer line each on stdout (EOF ends the process):
 *                  dirty  rewrite every resident page: every PTE writable,
 *                         as in a long-running process; "dirty_us N", the
 *                         time it took (copy-on-write shows there)
 *                  gap    "gap_us N": the longest gap since the last one
 *                  fork   "fork_us N gap_us M": fork() timed here, in the
 *                         process, the child exiting at once
 *                  hold   fork a child that waits, keeping every page
 *                         shared copy-on-write ("held PID")
 *                  release  kill and reap that child
 *
 * Every written 8-byte word holds its own address (never zero, so sparse
 * copies must carry it, and a wrong offset shows). SIGTERM ends it.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/targets/status.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static void *idle(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;)
		pthread_cond_wait(&cond, &lock);	/* nobody signals it */
	return NULL;
}

static _Atomic uint64_t max_gap_ns;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wakes every 100 us; a longer gap is a time the process stood still. */
static void *heartbeat(void *arg)
{
	struct timespec step = { 0, 100 * 1000 };
	uint64_t last = mono_ns();

	(void)arg;
	for (;;) {
		uint64_t now, gap;

		nanosleep(&step, NULL);
		now = mono_ns();
		gap = now - last;
		if (gap > atomic_load(&max_gap_ns))
			atomic_store(&max_gap_ns, gap);
		last = now;
	}
	return NULL;
}

/* -H: the commands of the header comment, until EOF. */
static int commands(char *buf, uint64_t mapped, uint64_t resident, uint64_t chunk)
{
	char line[64];
	pid_t held = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		if (strncmp(line, "dirty", 5) == 0) {
			uint64_t t0 = mono_ns();
			uint64_t runs = (resident + chunk - 1) / chunk, step = mapped / runs;
			uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

			step = step / page * page;
			for (uint64_t k = 0, left = resident; k < runs && left; k++) {
				uint64_t n = left < chunk ? left : chunk;

				for (uint64_t off = 0; off < n; off += page)
					((volatile char *)buf)[k * step + off] ^= 0;
				left -= n;
			}
			printf("dirty_us %llu\n", (unsigned long long)(mono_ns() - t0) / 1000);
		} else if (strncmp(line, "gap", 3) == 0) {
			printf("gap_us %llu\n",
			       (unsigned long long)atomic_exchange(&max_gap_ns, 0) / 1000);
		} else if (strncmp(line, "hold", 4) == 0) {
			/* a child that keeps the fork's copy-on-write alive */
			held = fork();
			if (held == 0) {
				pause();
				_exit(0);
			}
			printf("held %d\n", (int)held);
		} else if (strncmp(line, "release", 7) == 0) {
			if (held > 0) {
				kill(held, SIGKILL);
				waitpid(held, NULL, 0);
			}
			printf("released %d\n", (int)held);
			held = 0;
		} else if (strncmp(line, "fork", 4) == 0) {
			uint64_t t0;
			pid_t child;

			atomic_store(&max_gap_ns, 0);
			t0 = mono_ns();
			child = fork();
			if (child == 0)
				_exit(0);
			t0 = mono_ns() - t0;
			if (child > 0)
				waitpid(child, NULL, 0);
			printf("fork_us %llu gap_us %llu\n", (unsigned long long)t0 / 1000,
			       (unsigned long long)atomic_exchange(&max_gap_ns, 0) / 1000);
		}
	}
	return 0;
}

static void fill(uint64_t *p, uint64_t bytes)
{
	for (uint64_t i = 0; i < bytes / 8; i++)
		p[i] = (uint64_t)(uintptr_t)&p[i];
}

int main(int argc, char **argv)
{
	uint64_t mapped = 64 << 20, resident = UINT64_MAX, chunk = 0, page;
	unsigned long nthreads = 0;
	const char *status_path = NULL;
	char status[512];
	size_t slen = 0;
	pthread_attr_t attr;
	sigset_t wait_for;
	char *buf;
	int opt, sig, beat = 0;

	while ((opt = getopt(argc, argv, "t:m:r:c:s:H")) != -1) {
		switch (opt) {
		case 't':
			nthreads = strtoul(optarg, NULL, 10);
			break;
		case 'm':
		case 'r':
		case 'c':
			if (parse_size(optarg, UINT64_MAX,
				       opt == 'm' ? &mapped : opt == 'r' ? &resident : &chunk)) {
				fprintf(stderr, "bench-target: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			status_path = optarg;
			break;
		case 'H':
			beat = 1;
			break;
		default:
			fprintf(stderr, "usage: bench-target [-t THREADS] [-m MAPPED] [-r RESIDENT] [-c CHUNK] [-s FILE] [-H]\n");
			return 2;
		}
	}
	page = (uint64_t)sysconf(_SC_PAGESIZE);
	mapped = (mapped + page - 1) / page * page;
	if (resident > mapped)
		resident = mapped;
	if (chunk == 0 || chunk > resident)
		chunk = resident;
	chunk = (chunk + page - 1) / page * page;

	/* NORESERVE: the untouched part must not count against overcommit. */
	buf = mmap(NULL, mapped, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED) {
		perror("bench-target: mmap");
		return 1;
	}
	if (chunk) {
		uint64_t runs = (resident + chunk - 1) / chunk;
		uint64_t step = mapped / runs / page * page;

		for (uint64_t k = 0, left = resident; k < runs && left; k++) {
			uint64_t n = left < chunk ? left : chunk;

			fill((uint64_t *)(buf + k * step), n);
			left -= n;
		}
	}

	/* Block SIGTERM before the threads exist, so sigwait gets it. */
	sigemptyset(&wait_for);
	sigaddset(&wait_for, SIGTERM);
	sigaddset(&wait_for, SIGINT);
	pthread_sigmask(SIG_BLOCK, &wait_for, NULL);
	pthread_attr_init(&attr);
	for (unsigned long i = 0; i < nthreads; i++) {
		pthread_t t;
		int err = pthread_create(&t, &attr, idle, NULL);

		if (err) {
			fprintf(stderr, "bench-target: thread %lu: %s\n", i, strerror(err));
			return 1;
		}
	}
	if (status_path) {
		status_add(status, sizeof(status), &slen, "pid %d\n", (int)getpid());
		status_add(status, sizeof(status), &slen, "threads %lu\n", nthreads + 1);
		status_add(status, sizeof(status), &slen, "buf %p\n", (void *)buf);
		if (status_add(status, sizeof(status), &slen, "buflen %llu\n",
			       (unsigned long long)mapped) ||
		    status_publish(status_path, status, sizeof(status), slen)) {
			perror("bench-target: status file");
			return 1;
		}
	}
	if (beat) {
		pthread_t hb;

		pthread_sigmask(SIG_UNBLOCK, &wait_for, NULL);
		if (pthread_create(&hb, &attr, heartbeat, NULL) == 0)
			commands(buf, mapped, resident, chunk);
	} else {
		sigwait(&wait_for, &sig);
	}
	if (status_path)
		unlink(status_path);
	_exit(0);	/* the idle threads never return: do not join them */
}
