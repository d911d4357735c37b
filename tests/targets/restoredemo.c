/*
 * restoredemo: a target for ctl's restore (tests/mount/test_rw.py), whose
 * state moves on its own, so a backup written back is seen to take it back.
 *
 *   restoredemo -s FILE
 *
 * Two threads count, each about once a millisecond: the main thread in
 * `counter`, a worker in `counter2`. Each also keeps its count in a local
 * variable (a register or its stack) and checks, every step, that the
 * global still equals it: a restore that put memory back but not the
 * thread's registers and stack (or the other way round) makes them
 * differ, and the process exits 3 at once. SIGTERM ends it with 0.
 * `scratch` is 16 pages of anonymous memory it never touches.
 *
 * FILE gets "key value" lines: pid, worker (its tid), counter, counter2,
 * scratch, scratchlen (addresses in hex), "ready" last.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

static volatile uint64_t counter, counter2;
static volatile sig_atomic_t done;
static volatile pid_t worker_tid;

static void on_term(int sig)
{
	(void)sig;
	done = 1;
}

static void tick(void)
{
	struct timespec ms = { 0, 1000000 };

	nanosleep(&ms, NULL);
}

static void *worker(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	worker_tid = gettid();
	for (;;) {
		if (counter2 != n)
			_exit(3);
		counter2 = ++n;
		tick();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char status[512];
	size_t len = 0, scratchlen = 16 * (size_t)sysconf(_SC_PAGESIZE);
	uint64_t n = 0;
	pthread_t th;
	void *scratch;

	if (argc != 3 || strcmp(argv[1], "-s") != 0) {
		fprintf(stderr, "usage: restoredemo -s FILE\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	scratch = mmap(NULL, scratchlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch == MAP_FAILED || pthread_create(&th, NULL, worker, NULL) != 0)
		return 1;
	while (!worker_tid)
		tick();
	if (status_add(status, sizeof(status), &len, "pid %d\n", (int)getpid()) ||
	    status_add(status, sizeof(status), &len, "worker %d\n", (int)worker_tid) ||
	    status_add(status, sizeof(status), &len, "counter %p\n", (void *)&counter) ||
	    status_add(status, sizeof(status), &len, "counter2 %p\n", (void *)&counter2) ||
	    status_add(status, sizeof(status), &len, "scratch %p\n", scratch) ||
	    status_add(status, sizeof(status), &len, "scratchlen %zu\n", scratchlen) ||
	    status_publish(argv[2], status, sizeof(status), len))
		return 1;
	while (!done) {
		if (counter != n)
			return 3;
		counter = ++n;
		tick();
	}
	return 0;
}
