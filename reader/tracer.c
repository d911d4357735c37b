/*
 * The tracer thread. The kernel accepts ptrace requests for a tracee only
 * from the thread that seized it (ptrace_check_attach() compares
 * child->parent with current), so FUSE workers never call ptrace: they post
 * a request here and wait with a deadline. Between requests the thread
 * reaps wait events, so an exiting target is released to its parent at once.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader/reader_int.h"

struct treq {
	struct treq *next;
	struct reader *r;	/* whose request: a shared tracer serves several */
	tracer_fn fn;
	int rc;
	bool done, abandoned;
	size_t argsize;
	unsigned char arg[];	/* the caller's argument, copied */
};

struct tracer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct treq *head, *tail;
	int efd;		/* posted when a request is queued */
	int sfd;		/* SIGCHLD, when the process has it blocked */
	bool stop;
	/*
	 * The readers whose tracees this thread holds: one, or every member
	 * of a -o tree mount (ptree.c), which shares the thread that froze
	 * them all. Touched only on this thread; refs (under mu) counts them.
	 */
	struct reader **rs;
	size_t nrs, caprs;
	int refs;
};

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/*
 * One ptrace-stop of a tracee. A thread we asked to stop (RT_SEIZED) is
 * now RT_STOPPED. A thread we leave running (live mode) is let go again at
 * once: an auto-attached clone's first stop, its parent's clone event, a
 * signal on its way. A job-control stop of a running thread is listened
 * to (PTRACE_LISTEN), never resumed behind the user's back.
 */
static void tracer_handle_stop(struct reader *r, struct rthread *t, int status)
{
	int event = status >> 16, sig = WSTOPSIG(status);
	bool wanted = atomic_load(&t->state) != RT_RUNNING;
	pid_t tid = t->tid;

	if (event == 0) {
		/*
		 * A signal-delivery-stop (one that raced with our interrupt, or
		 * any signal in live mode): deliver it as if we were not here;
		 * a pending interrupt still traps right after.
		 */
		ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig);
		return;
	}
	if (event == PTRACE_EVENT_CLONE) {
		unsigned long child = 0;
		struct rthread *old;

		/* The new thread is auto-attached (TRACECLONE) and starts in an
		 * event stop of its own. Its tid may be a dead thread's again. */
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && child > 0 &&
		    (!(old = reader_find_thread(r, (pid_t)child)) ||
		     atomic_load(&old->state) == RT_DEAD) &&
		    attach_add_thread(r, (pid_t)child, 'R') == 0 &&
		    atomic_load(&r->mode) == MODE_LIVE)
			atomic_store(&reader_find_thread(r, (pid_t)child)->state, RT_RUNNING);
	}
	/* -o tree: a fork's child is auto-attached (TRACEFORK): a new member. */
	if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK) {
		unsigned long child = 0;

		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && child > 0)
			ptree_forked(r, (pid_t)child);
	}
	if (event == PTRACE_EVENT_STOP && is_stop_signal(sig)) {
		t->group_stop_sig = sig;
		if (!wanted) {
			ptrace(PTRACE_LISTEN, tid, 0, 0);
			return;
		}
	} else if (event == PTRACE_EVENT_STOP && !wanted) {
		/* A listened-to job-control stop has ended (SIGCONT). */
		t->group_stop_sig = 0;
	}
	if (!wanted) {
		ptrace(PTRACE_CONT, tid, 0, 0);
		return;
	}
	/*
	 * The state before suspension, from the stop: a job-control stop
	 * reports its signal; otherwise '?' until snapshot_thread_info tells
	 * a thread in a system call ('S') from one in user space ('R'). A
	 * 'D' was noted while the stop was slow in coming (attach.c).
	 */
	if (event == PTRACE_EVENT_STOP && is_stop_signal(sig))
		t->state_before = 'T';
	else if (t->state_before == 0)
		t->state_before = '?';
	atomic_store(&t->state, RT_STOPPED);
}

void reader_on_change(struct reader *r, void (*fn)(void *), void *arg)
{
	r->on_change_arg = arg;
	atomic_store(&r->on_change, fn);
}

static void changed(struct reader *r)
{
	void (*fn)(void *) = atomic_load(&r->on_change);

	if (fn)
		fn(r->on_change_arg);
}

void tracer_reap(struct reader *r)
{
	/*
	 * Entries never move. Ones appended during the pass (a clone event
	 * adds its new thread) are reaped in it too: that thread's first
	 * stop may already have raised the SIGCHLD we drained (they
	 * coalesce), and nothing else would wake us for it before the
	 * poll's timeout.
	 */
	for (size_t i = 0; i < atomic_load(&r->nthreads); i++) {
		struct rthread *t = &r->threads[i];
		siginfo_t si;
		int status;
		pid_t w;

		/* -o snapshot: a frozen thread is no longer ours to wait for. */
		if (atomic_load(&t->state) == RT_DEAD || atomic_load(&t->state) == RT_FROZEN)
			continue;
		/* An exit is told (reader_on_change) before it is reaped. */
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)t->tid, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) == 0 &&
		    si.si_pid == 0)
			continue;
		if (si.si_pid && (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED ||
				  si.si_code == CLD_DUMPED)) {
			atomic_store(&t->state, RT_DEAD);
			atomic_fetch_sub(&r->nalive, 1);
			changed(r);
		}
		w = waitpid(t->tid, &status, __WALL | WNOHANG);
		if (w == 0 || atomic_load(&t->state) == RT_DEAD)
			continue;
		if (w < 0) {
			/* ECHILD: not our tracee any more (it is gone). */
			if (errno == ECHILD) {
				atomic_store(&t->state, RT_DEAD);
				atomic_fetch_sub(&r->nalive, 1);
				changed(r);
			}
			continue;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			atomic_store(&t->state, RT_DEAD);
			atomic_fetch_sub(&r->nalive, 1);
			changed(r);
		} else if (WIFSTOPPED(status)) {
			tracer_handle_stop(r, t, status);
		}
	}
}

static void drain(int fd)
{
	unsigned char buf[512];

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

static void *tracer_main(void *p)
{
	struct tracer *t = p;
	unsigned idle = 0;

	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = t->efd, .events = POLLIN },
			{ .fd = t->sfd, .events = POLLIN },
		};
		siginfo_t si = { .si_pid = 0 };
		struct treq *q;
		int woken;

		/* The timeout catches exits when SIGCHLD is not blocked. */
		woken = poll(pf, t->sfd >= 0 ? 2 : 1, 200);
		drain(t->efd);
		drain(t->sfd);
		/*
		 * A reap asks every thread (a waitid each): an idle mount of
		 * 1000 threads made 5000 calls a second for nothing. A second
		 * after the last wakeup, a timeout reaps only when some child
		 * has a report, and every 25th time anyway: a tracee can go
		 * without one (an exec from a non-leader thread ends its old
		 * tid), and is then found by a reap's ECHILD.
		 */
		if (woken != 0)
			idle = 0;
		if (woken != 0 || ++idle <= 5 || idle % 25 == 0 ||
		    waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) != 0 ||
		    si.si_pid != 0)
			for (size_t i = 0; i < t->nrs; i++)
				tracer_reap(t->rs[i]);

		pthread_mutex_lock(&t->mu);
		while ((q = t->head)) {
			t->head = q->next;
			if (!t->head)
				t->tail = NULL;
			pthread_mutex_unlock(&t->mu);
			q->rc = q->fn(q->r, q->arg);
			pthread_mutex_lock(&t->mu);
			q->done = true;
			if (q->abandoned)
				free(q);
			pthread_cond_broadcast(&t->cv);
		}
		if (t->stop) {
			pthread_mutex_unlock(&t->mu);
			break;
		}
		pthread_mutex_unlock(&t->mu);
	}
	return NULL;
}

int tracer_start(struct reader *r)
{
	struct tracer *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	sigset_t all, old, chld;
	int rc;

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0) {
		rc = -errno;
		free(t);
		return rc;
	}
	/* A signalfd sees SIGCHLD only if every thread blocks it. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	t->sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	t->rs = malloc(sizeof(*t->rs));
	if (!t->rs) {
		close(t->efd);
		if (t->sfd >= 0)
			close(t->sfd);
		free(t);
		return -ENOMEM;
	}
	t->rs[0] = r;
	t->nrs = t->caprs = 1;
	t->refs = 1;
	r->tracer = t;

	/*
	 * The tracer takes no asynchronous signals: under libfuse 3.14 a
	 * SIGTERM that lands on a thread other than the loop's is lost.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t->thread, NULL, tracer_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		free(t->rs);
		close(t->efd);
		if (t->sfd >= 0)
			close(t->sfd);
		free(t);
		r->tracer = NULL;
		return -rc;
	}
	return 0;
}

int tracer_call(struct reader *r, tracer_fn fn, void *arg, size_t argsize,
		unsigned timeout_ms)
{
	struct tracer *t = r->tracer;
	struct treq *q;
	struct timespec dl;
	uint64_t one = 1;
	int rc = 0;

	if (!t)
		return -ESRCH;
	q = calloc(1, sizeof(*q) + argsize);
	if (!q)
		return -ENOMEM;
	q->r = r;
	q->fn = fn;
	q->argsize = argsize;
	if (argsize)
		memcpy(q->arg, arg, argsize);

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&t->mu);
	if (t->stop) {
		pthread_mutex_unlock(&t->mu);
		free(q);
		return -ESRCH;
	}
	if (t->tail)
		t->tail->next = q;
	else
		t->head = q;
	t->tail = q;
	pthread_mutex_unlock(&t->mu);
	if (write(t->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;	/* cannot happen with an eventfd; keeps -Werror quiet */

	pthread_mutex_lock(&t->mu);
	while (!q->done && rc == 0)
		rc = pthread_cond_timedwait(&t->cv, &t->mu, &dl);
	if (!q->done) {
		/* The tracer frees it when it gets there. */
		q->abandoned = true;
		pthread_mutex_unlock(&t->mu);
		return -ETIMEDOUT;
	}
	pthread_mutex_unlock(&t->mu);
	if (argsize)
		memcpy(arg, q->arg, argsize);
	rc = q->rc;
	free(q);
	return rc;
}

int tracer_share(struct reader *owner, struct reader *r)
{
	struct tracer *t = owner->tracer;

	if (t->nrs == t->caprs) {
		size_t cap = t->caprs * 2;
		struct reader **rs = realloc(t->rs, cap * sizeof(*rs));

		if (!rs)
			return -ENOMEM;
		t->rs = rs;
		t->caprs = cap;
	}
	t->rs[t->nrs++] = r;
	pthread_mutex_lock(&t->mu);
	t->refs++;
	pthread_mutex_unlock(&t->mu);
	r->tracer = t;
	return 0;
}

/* On the tracer: r's tracees are no longer reaped here (it is closing). */
static int unshare_fn(struct reader *r, void *arg)
{
	struct tracer *t = r->tracer;

	(void)arg;
	for (size_t i = 0; i < t->nrs; i++)
		if (t->rs[i] == r) {
			memmove(&t->rs[i], &t->rs[i + 1], (t->nrs - i - 1) * sizeof(*t->rs));
			t->nrs--;
			break;
		}
	return 0;
}

void tracer_stop(struct reader *r)
{
	struct tracer *t = r->tracer;
	uint64_t one = 1;
	bool last;

	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	last = t->refs == 1;
	pthread_mutex_unlock(&t->mu);
	if (!last) {
		/* Others still use the thread: just leave it (ptree.c). */
		tracer_call(r, unshare_fn, NULL, 0, 5000);
		pthread_mutex_lock(&t->mu);
		t->refs--;
		pthread_mutex_unlock(&t->mu);
		r->tracer = NULL;
		return;
	}
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_mutex_unlock(&t->mu);
	if (write(t->efd, &one, sizeof(one)) < 0) {
		/* cannot fail: an eventfd counter far from overflow */
	}
	pthread_join(t->thread, NULL);
	close(t->efd);
	if (t->sfd >= 0)
		close(t->sfd);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t->rs);
	free(t);
	r->tracer = NULL;
}
