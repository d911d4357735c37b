/*
 * forker: a process tree that keeps changing, for -o tree (the freeze must
 * round up every process, and a fork racing with it).
 *
 *   forker [-n CHILDREN] [-g] [-t THREADS] [-c] [-s FILE]
 *
 * The parent keeps CHILDREN (default 4) long-lived children; with -g each
 * of them forks a grandchild. Every process of the tree runs THREADS
 * threads in all (default 1): the extra ones spin briefly and sleep (2 ms
 * with -c, else 20 ms), so a freeze meets threads running and blocked
 * while a tree of a thousand threads costs little CPU. With -c
 * the parent also forks a short-lived child about every millisecond (it
 * spins a little and exits; the parent reaps it), and so do the
 * long-lived children every 2 ms: a fork is often under way somewhere.
 *
 * -s FILE writes "pid N", "children N" and "ready" last, once every
 * long-lived process exists. SIGTERM, SIGINT, SIGHUP end the tree (the
 * parent kills the children it keeps; every long-lived process dies with
 * its parent, PR_SET_PDEATHSIG).
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

static unsigned nthreads = 1;
static bool churn;
static volatile sig_atomic_t quit;
static volatile unsigned long spins;

static void on_stop(int sig)
{
	(void)sig;
	quit = 1;
}

static void pause_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		for (int i = 0; i < 20000; i++)
			spins++;
		pause_us(churn ? 2000 : 20000);
	}
	return NULL;
}

/* The extra threads of this process. */
static void start_threads(void)
{
	for (unsigned i = 1; i < nthreads; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, worker, NULL) == 0)
			pthread_detach(t);
	}
}

/* A short-lived child: spins a little, exits; reaped by churn_step. */
static void churn_step(void)
{
	pid_t c = fork();

	if (c == 0) {
		for (int i = 0; i < 20000; i++)
			spins++;
		_exit(0);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* The life of a long-lived process (a child or a grandchild). */
static void __attribute__((noreturn)) live(bool grandchild)
{
	pid_t gc = 0;

	/* Dies with its parent: a test's subreaper would otherwise keep it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	signal(SIGTERM, SIG_DFL);
	if (grandchild && (gc = fork()) == 0)
		live(false);
	start_threads();
	for (;;) {
		if (churn)
			churn_step();
		pause_us(churn ? 2000 : 100000);
	}
}

int main(int argc, char **argv)
{
	const char *status_path = NULL;
	unsigned nchildren = 4;
	bool grand = false;
	char status[256];
	size_t slen = 0;
	pid_t *kids;
	int c;

	while ((c = getopt(argc, argv, "n:gt:cs:")) != -1) {
		switch (c) {
		case 'n': nchildren = (unsigned)atoi(optarg); break;
		case 'g': grand = true; break;
		case 't': nthreads = (unsigned)atoi(optarg); break;
		case 'c': churn = true; break;
		case 's': status_path = optarg; break;
		default:
			fprintf(stderr, "usage: forker [-n CHILDREN] [-g] [-t THREADS] [-c] [-s FILE]\n");
			return 2;
		}
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGHUP, on_stop);
	kids = calloc(nchildren ? nchildren : 1, sizeof(*kids));
	if (!kids)
		return 1;
	for (unsigned i = 0; i < nchildren; i++)
		if ((kids[i] = fork()) == 0)
			live(grand);
	start_threads();
	/* Every long-lived process exists once its parent has it (grand: soon). */
	pause_us(grand ? 50000 : 1000);
	if (status_path) {
		status_add(status, sizeof(status), &slen, "pid %d\n", (int)getpid());
		status_add(status, sizeof(status), &slen, "children %u\n", nchildren);
		if (status_publish(status_path, status, sizeof(status), slen)) {
			perror("forker: status");
			return 1;
		}
	}
	while (!quit) {
		if (churn)
			churn_step();
		pause_us(churn ? 1000 : 100000);
	}
	for (unsigned i = 0; i < nchildren; i++)
		kill(kids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	if (status_path)
		unlink(status_path);
	return 0;
}
