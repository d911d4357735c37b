/*
 * churn: a process whose threads never sit still, for testing that an
 * attach rounds up every thread (gdb's attach-many-short-lived-threads and
 * CRIU's thread-bomb do the same).
 *
 *   churn [-m MAX] [-s FILE]
 *
 * MAX threads (default 8) are alive at any time besides the main thread:
 * each lives 1-4 ms and starts its own successor just before it exits, so
 * a new thread appears about every 300 us, always from a thread that is
 * about to die. The main thread refills a slot whose thread could not be
 * created, once a millisecond. started is a uint64_t counting every thread
 * ever started: it stands still while the process is suspended.
 *
 * --status FILE writes "pid N", "max N", "counter 0xADDR" (of started) and
 * "ready" last, atomically. SIGTERM, SIGINT, SIGHUP: clean exit once the
 * last churning thread is gone.
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
#include <time.h>
#include <unistd.h>

#include "status.h"

static _Atomic uint64_t started;
static atomic_uint alive;
static atomic_bool quit;
static unsigned max_alive = 8;
static pthread_attr_t detached;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000L,
			       .tv_nsec = us % 1000000L * 1000L };

	nanosleep(&ts, NULL);
}

static void *churner(void *arg);

/* Starts a churner in a slot already claimed; frees the slot on failure. */
static void start(void)
{
	uint64_t seq = atomic_fetch_add(&started, 1);
	pthread_t t;

	if (pthread_create(&t, &detached, churner, (void *)(uintptr_t)seq))
		atomic_fetch_sub(&alive, 1);	/* EAGAIN: main refills it later */
}

/* Fills the free slots, up to max_alive threads. */
static void fill(void)
{
	unsigned n = atomic_load(&alive);

	while (n < max_alive && !atomic_load(&quit))
		if (atomic_compare_exchange_weak(&alive, &n, n + 1)) {
			start();
			n = atomic_load(&alive);
		}
}

/*
 * Lives 1-4 ms, then hands its slot to a successor: each slot is a chain
 * of threads that runs until quit, so a thread an attach misses goes on
 * spawning where everyone can see it.
 */
static void *churner(void *arg)
{
	uint64_t seq = (uintptr_t)arg;

	sleep_us(1000 + (long)(seq * 7919 % 3000));
	if (atomic_load(&quit))
		atomic_fetch_sub(&alive, 1);
	else
		start();
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max", required_argument, NULL, 'm' },
		{ "status", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_signal };
	const char *status_path = NULL;
	char status[256];
	size_t slen = 0;
	sigset_t stopsigs, old;
	int opt;

	while ((opt = getopt_long(argc, argv, "m:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			max_alive = (unsigned)strtoul(optarg, NULL, 10);
			if (max_alive == 0 || max_alive > 1024) {
				fprintf(stderr, "churn: bad thread count '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			status_path = optarg;
			break;
		case 'h':
			printf("usage: churn [-m MAX] [-s STATUSFILE]\n");
			return 0;
		default:
			fprintf(stderr, "usage: churn [-m MAX] [-s STATUSFILE]\n");
			return 2;
		}
	}

	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGHUP);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* churning threads inherit a mask without the stop signals */
	pthread_sigmask(SIG_BLOCK, &stopsigs, &old);
	pthread_attr_init(&detached);
	pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&detached, 64 << 10);

	fill();
	if (status_path) {
		status_add(status, sizeof(status), &slen, "pid %d\n", (int)getpid());
		status_add(status, sizeof(status), &slen, "max %u\n", max_alive);
		if (status_add(status, sizeof(status), &slen, "counter %p\n",
			       (void *)&started) ||
		    status_publish(status_path, status, sizeof(status), slen)) {
			perror("churn: status file");
			return 1;
		}
	}
	while (!stop_signal) {
		fill();
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		sleep_us(1000);		/* a stop signal lands here */
		pthread_sigmask(SIG_BLOCK, &stopsigs, NULL);
	}

	atomic_store(&quit, true);
	while (atomic_load(&alive))
		sleep_us(1000);
	if (status_path)
		unlink(status_path);
	return 0;
}
