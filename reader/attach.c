/*
 * Attach and detach. Threads are seized with PTRACE_SEIZE and stopped with
 * PTRACE_INTERRUPT, never PTRACE_ATTACH: ATTACH stops with a SIGSTOP that,
 * should we die before consuming it, leaves the whole target stopped.
 * A seized tracee whose tracer dies simply runs on. We never set
 * PTRACE_O_EXITKILL, for the same reason.
 *
 * Threads appear while we work, so /proc/PID/task is rescanned until two
 * passes find nothing new (as gdb does), within a pass cap and a time budget.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader/procstat.h"
#include "reader/reader_int.h"

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The tid index: a scan of every record per lookup made each seize pass
 * and each walk of threads/ quadratic (a million record reads for a
 * 1000-thread mount's first pass). 2^17 slots, filled to 3/4 at most:
 * 512 KiB of address space, of which a mount touches a page per few
 * threads.
 */
#define TID_INDEX_BITS 17
#define TID_INDEX_SLOTS ((size_t)1 << TID_INDEX_BITS)
#define TID_INDEX_MAX (TID_INDEX_SLOTS / 4 * 3)

/*
 * The tid's low bits: a process's tids are mostly consecutive, so its
 * records share a few pages of the index (a multiplicative hash spread
 * them one page each, a page fault per thread: a tenth of a 100-process
 * -o tree mount's freeze on this VM). Linear probing takes the rest.
 */
static size_t tid_slot(pid_t tid)
{
	return (uint32_t)tid & (TID_INDEX_SLOTS - 1);
}

int tid_index_init(struct reader *r)
{
	if (!r->tid_index)
		r->tid_index = calloc(TID_INDEX_SLOTS, sizeof(*r->tid_index));
	return r->tid_index ? 0 : -ENOMEM;
}

size_t tid_index_bytes(void)
{
	return TID_INDEX_SLOTS * sizeof(_Atomic uint32_t);
}

/* Points tid's slot at record i (its newest). Only the tracer appends. */
static void tid_index_put(struct reader *r, size_t i)
{
	pid_t tid = r->threads[i].tid;

	for (size_t s = tid_slot(tid);; s = (s + 1) & (TID_INDEX_SLOTS - 1)) {
		uint32_t v = atomic_load(&r->tid_index[s]);

		if (v == 0 || r->threads[v - 1].tid == tid) {
			atomic_store(&r->tid_index[s], (uint32_t)i + 1);
			return;
		}
	}
}

/* The newest record of tid: a tid can be reused after its thread died. */
struct rthread *reader_find_thread(const struct reader *r, pid_t tid)
{
	size_t n = atomic_load(&((struct reader *)r)->nthreads);
	size_t indexed = atomic_load(&((struct reader *)r)->indexed);

	/* Records past the index, newest first. */
	while (n-- > indexed)
		if (r->threads[n].tid == tid)
			return &r->threads[n];
	if (!r->tid_index || indexed == 0)
		return NULL;
	for (size_t s = tid_slot(tid);; s = (s + 1) & (TID_INDEX_SLOTS - 1)) {
		uint32_t v = atomic_load(&r->tid_index[s]);

		if (v == 0)
			return NULL;
		if (r->threads[v - 1].tid == tid)
			return &r->threads[v - 1];
	}
}

int attach_add_thread(struct reader *r, pid_t tid, char state_before)
{
	size_t n = atomic_load(&r->nthreads);
	struct rthread *t;

	if (n == r->threads_cap)
		return -ENOSPC;
	t = &r->threads[n];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->state_before = state_before;
	pthread_mutex_init(&t->sets_mu, NULL);
	atomic_init(&t->state, RT_SEIZED);
	/* Published whole: readers see the entry only once it is filled in.
	 * Until the index has it too, lookups find it by their scan. */
	atomic_store(&r->nthreads, n + 1);
	if (r->tid_index && n < TID_INDEX_MAX && atomic_load(&r->indexed) == n) {
		tid_index_put(r, n);
		atomic_store(&r->indexed, n + 1);
	}
	atomic_fetch_add(&r->nalive, 1);
	return 0;
}

/*
 * Is tid already ours (a TRACECLONE child we have not met)? TracerPid names
 * the tracing thread, and this runs on it.
 */
bool attach_traced_by_us(pid_t tid)
{
	char v[32];

	return proc_status_field(tid, "TracerPid", v, sizeof(v)) == 0 &&
	       atoi(v) == gettid();
}

/* Seizes one thread and asks it to stop. 1: new, 0: gone or ours, <0: fail. */
static int seize_one(struct reader *r, pid_t tid, char *why, size_t whylen)
{
	char st = '?';
	struct rthread *old = reader_find_thread(r, tid);

	/* A dead record's tid may be a new thread's (or, after a snapshot
	 * refresh, the same thread's again). */
	if (old && atomic_load(&old->state) != RT_DEAD)
		return 0;
	/*
	 * No /proc read before the seize: it was half the cost of a first
	 * pass. A zombie (the leader after pthread_exit) is refused with
	 * EPERM and looked at below; the state before suspension is told by
	 * the stop itself (tracer.c, wait_stopped).
	 */
	if (fault_hit("seize")) {
		snprintf(why, whylen, "cannot seize thread %d: injected fault", (int)tid);
		return -EPERM;
	}
	if (ptrace(PTRACE_SEIZE, tid, 0,
		   (void *)(r->seize_opts ? r->seize_opts : PTRACE_O_TRACECLONE)) < 0) {
		int err = errno;

		if (err == ESRCH)
			return 0;	/* exited meanwhile */
		if (err == EPERM && attach_traced_by_us(tid))
			return attach_add_thread(r, tid, 0) ?: 1;
		/*
		 * A dying thread (exit_state set) is refused with EPERM too,
		 * and may be gone from /proc by the time we look.
		 */
		if (err == EPERM) {
			int gone = proc_task_state(r->pid, tid, &st);

			if (gone == -ENOENT || gone == -ESRCH ||
			    (gone == 0 && (st == 'Z' || st == 'X')))
				return 0;
		}
		if (err == EAGAIN)
			return 1;	/* exec in progress: rescan */
		snprintf(why, whylen, "cannot seize thread %d: %s", (int)tid,
			 strerror(err));
		return -err;
	}
	if (attach_add_thread(r, tid, 0) < 0) {
		snprintf(why, whylen, "too many threads");
		return -ENOSPC;
	}
	/* Live mode: seized (so registers can be had) but left running. */
	if (atomic_load(&r->mode) == MODE_LIVE) {
		atomic_store(&reader_find_thread(r, tid)->state, RT_RUNNING);
		return 1;
	}
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 && errno != ESRCH) {
		int err = errno;

		snprintf(why, whylen, "cannot interrupt thread %d: %s", (int)tid,
			 strerror(err));
		return -err;
	}
	return 1;
}

static size_t count_state(const struct reader *r, int state)
{
	size_t n = 0;

	size_t total = atomic_load(&((struct reader *)r)->nthreads);

	for (size_t i = 0; i < total; i++)
		if (atomic_load(&r->threads[i].state) == state)
			n++;
	return n;
}

/*
 * A thread still not stopped this long after its interrupt is looked at in
 * /proc once: one in uninterruptible sleep ('D') stops only when that
 * ends, and 'D' is what a user debugging a hung process wants to see as
 * its state before suspension. A quicker stop tells the rest (tracer.c).
 */
#define SLOW_STOP_MS 5

static void note_slow_stops(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);

	for (size_t i = 0; i < n; i++) {
		struct rthread *t = &r->threads[i];
		char st;

		if (atomic_load(&t->state) == RT_SEIZED && t->state_before == 0 &&
		    proc_task_state(r->pid, t->tid, &st) == 0 && st == 'D')
			t->state_before = 'D';
	}
}

/* Reaps events until no seized thread is still running, or the deadline. */
static int wait_stopped(struct reader *r, uint64_t deadline)
{
	uint64_t slow = now_ms() + SLOW_STOP_MS;
	unsigned us = 20;

	for (unsigned round = 0;; round++) {
		siginfo_t si = { .si_pid = 0 };

		/*
		 * A reap asks every thread in turn (tracer.c): skip it while no
		 * child of ours has anything to report, yet not every round, so
		 * a tracee that vanished without a report is still met.
		 */
		if (round % 8 == 0 ||
		    waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) != 0 ||
		    si.si_pid != 0)
			tracer_reap(r);
		if (count_state(r, RT_SEIZED) == 0)
			return 0;
		if (slow && now_ms() >= slow) {
			note_slow_stops(r);
			slow = 0;
		}
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(us);
		if (us < 2000)
			us *= 2;
	}
}

/*
 * The kernel's count of the group (status "Threads:", which still counts a
 * zombie leader and tracees we have not reaped) against ours. A pass can
 * miss a thread: a readdir of /proc/PID/task racing with exits skips
 * entries, and a thread that exits as we seize it may leave an untraced
 * successor behind. More threads than we hold means one got past us.
 */
bool attach_accounted(struct reader *r)
{
	size_t ours = count_state(r, RT_SEIZED) + count_state(r, RT_STOPPED) +
		      count_state(r, RT_RUNNING);
	char v[32], st;

	if (proc_status_field(r->pid, "Threads", v, sizeof(v)))
		return true;	/* cannot tell: the passes decide */
	if (!reader_find_thread(r, r->pid) &&
	    proc_task_state(r->pid, r->pid, &st) == 0 && (st == 'Z' || st == 'X'))
		ours++;		/* a zombie leader, never seized */
	return strtoul(v, NULL, 10) <= ours;
}

int attach_seize_pass(struct reader *r, size_t *nnew, char *why, size_t whylen)
{
	pid_t *tids;
	size_t n;
	int rc = proc_list_tasks(r->pid, &tids, &n);

	*nnew = 0;
	if (rc) {
		snprintf(why, whylen, "cannot list threads: %s", strerror(-rc));
		return rc == -ENOENT ? -ESRCH : rc;
	}
	for (size_t i = 0; i < n; i++) {
		rc = seize_one(r, tids[i], why, whylen);
		if (rc < 0)
			break;
		*nnew += (size_t)rc;
		rc = 0;
	}
	free(tids);
	return rc;
}

int attach_all(struct reader *r, char *why, size_t whylen)
{
	unsigned passes = r->opts.max_passes ? r->opts.max_passes : 100;
	uint64_t deadline = now_ms() +
		(r->opts.attach_timeout_ms ? r->opts.attach_timeout_ms : 10000);
	uint64_t freeze = snapshot_deadline(r);	/* -o snapshot: the whole freeze's */
	unsigned quiet = 0, pass = 0;
	int rc;

	if (freeze && freeze < deadline)
		deadline = freeze;

	while (quiet < 2) {
		size_t nnew;

		if (++pass > passes || now_ms() >= deadline) {
			snprintf(why, whylen,
				 "threads kept appearing: gave up after %u passes",
				 pass - 1);
			return -EAGAIN;
		}
		rc = attach_seize_pass(r, &nnew, why, whylen);
		if (rc)
			return rc;
		if (fault_hit("sleep-attach"))
			sleep(2);	/* a window for tests to kill us mid-attach */
		rc = wait_stopped(r, deadline);
		if (rc) {
			for (size_t i = 0; i < r->nthreads; i++)
				if (atomic_load(&r->threads[i].state) == RT_SEIZED) {
					char st = '?';

					proc_task_state(r->pid, r->threads[i].tid, &st);
					snprintf(why, whylen,
						 "thread %d did not stop (state %c)",
						 (int)r->threads[i].tid, st);
					break;
				}
			return rc;
		}
		if (atomic_load(&r->nalive) == 0) {
			snprintf(why, whylen, "process %d exited during attach",
				 (int)r->pid);
			return -ESRCH;
		}
		quiet = nnew || !attach_accounted(r) ? 0 : quiet + 1;
	}
	return 0;
}

/*
 * Stops every running thread (live mode) and waits for the stops, within
 * timeout_ms. Threads in a job-control stop that we left listening report
 * that stop again, and stay in it.
 */
int stop_all(struct reader *r, unsigned timeout_ms)
{
	size_t n = atomic_load(&r->nthreads);

	for (size_t i = 0; i < n; i++) {
		struct rthread *t = &r->threads[i];

		if (atomic_load(&t->state) != RT_RUNNING)
			continue;
		t->state_before = 0;	/* told again by this stop */
		atomic_store(&t->state, RT_SEIZED);
		if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0 && errno == ESRCH) {
			/* Gone: its exit event is reaped below. */
		}
	}
	return wait_stopped(r, now_ms() + timeout_ms);
}

/* Lets a stopped thread run again; a job-control stop is only listened to. */
void resume_thread(struct rthread *t)
{
	if (atomic_load(&t->state) != RT_STOPPED)
		return;
	atomic_store(&t->state, RT_RUNNING);
	if (t->group_stop_sig)
		ptrace(PTRACE_LISTEN, t->tid, 0, 0);
	else
		ptrace(PTRACE_CONT, t->tid, 0, 0);
}

void detach_all(struct reader *r)
{
	size_t n;

	snapshot_release(r);	/* -o snapshot: the clone first (snapshot.c) */
	/* Only a stopped tracee can be detached: stop the running ones, and
	 * let those seized but not yet stopped get there. */
	stop_all(r, 1000);
	n = atomic_load(&r->nthreads);
	for (size_t i = 0; i < n; i++) {
		struct rthread *t = &r->threads[i];

		if (atomic_load(&t->state) != RT_STOPPED)
			continue;
		/*
		 * A thread that was in a job-control stop before we came stays
		 * stopped: detaching a seized tracee keeps its group stop.
		 */
		ptrace(PTRACE_DETACH, t->tid, 0, 0);
		atomic_store(&t->state, RT_DEAD);
		atomic_fetch_sub(&r->nalive, 1);
	}
}

/* ---- preflight: refusals with a reason, before anything is mounted ---- */

/*
 * Our ancestors, read once per process (-o tree asks for every member:
 * a /proc status read per ancestor each time was a tenth of a 100-member
 * mount). A parent that dies meanwhile leaves a stale entry, which can
 * only refuse a process that no longer is one.
 */
static bool is_ancestor(pid_t pid)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static pid_t chain[256], chain_of;
	static size_t nchain;
	bool found = false;

	pthread_mutex_lock(&mu);
	if (chain_of != getpid()) {
		pid_t p = getppid();

		nchain = 0;
		while (p > 1 && nchain < sizeof(chain) / sizeof(chain[0])) {
			char v[32];

			chain[nchain++] = p;
			if (proc_status_field(p, "PPid", v, sizeof(v)))
				break;
			p = (pid_t)atoi(v);
		}
		chain_of = getpid();
	}
	for (size_t i = 0; i < nchain && !found; i++)
		found = chain[i] == pid;
	pthread_mutex_unlock(&mu);
	return found;
}

/*
 * A process whose leader is a zombie (its main thread called pthread_exit)
 * lives on while any other thread does: the first live thread, or 0.
 */
static pid_t live_thread(pid_t pid)
{
	pid_t *tids, found = 0;
	size_t n;
	char st;

	if (proc_list_tasks(pid, &tids, &n))
		return 0;
	for (size_t i = 0; i < n && !found; i++)
		if (proc_task_state(pid, tids[i], &st) == 0 && st != 'Z' && st != 'X')
			found = tids[i];
	free(tids);
	return found;
}

/*
 * Both are read once a run: -o tree checks every member, and neither a
 * sysctl an admin changes mid-mount nor our own capabilities (which we
 * never change) would make an earlier member's check wrong.
 */
static int yama_scope(void)
{
	static _Atomic int cached = -2;
	int v = atomic_load(&cached);
	char *buf;
	size_t len;

	if (v != -2)
		return v;
	v = -1;
	if (proc_read_file("/proc/sys/kernel/yama/ptrace_scope", &buf, &len, 64) == 0) {
		v = atoi(buf);
		free(buf);
	}
	atomic_store(&cached, v);
	return v;
}

static bool have_cap_sys_ptrace(void)
{
	static _Atomic int cached = -1;
	int have = atomic_load(&cached);
	char v[32];

	if (have >= 0)
		return have;
	/* CAP_SYS_PTRACE is bit 19 of CapEff. */
	if (proc_status_field(getpid(), "CapEff", v, sizeof(v)))
		have = geteuid() == 0;
	else
		have = (strtoull(v, NULL, 16) >> 19) & 1;
	atomic_store(&cached, have);
	return have;
}

/*
 * Is tracer another ptracefs, one whose mount has just ended? fusermount3
 * -u returns once the kernel has unmounted, while that daemon is still
 * detaching its threads: a mount right after an unmount (a script's loop)
 * waits for it to let go, up to a few seconds, rather than fail. (A
 * ptracefs still mounted in this namespace is refused before we get here.)
 */
static bool ptracefs_letting_go(pid_t who, int tracer)
{
	char mine[4096] = "", theirs[4096] = "", path[64], v[32];
	ssize_t n;

	/* Ours (this binary), or any ptracefs build or install by its name. */
	n = readlink("/proc/self/exe", mine, sizeof(mine) - 1);
	mine[n > 0 ? n : 0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/exe", tracer);
	n = readlink(path, theirs, sizeof(theirs) - 1);
	theirs[n > 0 ? n : 0] = 0;
	if (!(mine[0] && strcmp(mine, theirs) == 0) &&
	    !(proc_status_field(tracer, "Name", v, sizeof(v)) == 0 && strcmp(v, "ptracefs") == 0))
		return false;
	for (int i = 0; i < 300; i++) {
		if (proc_status_field(who, "TracerPid", v, sizeof(v)) != 0 || atoi(v) != tracer)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/*
 * A kernel thread (kthreadd, kworkers) has no user address space: PF_KTHREAD
 * (0x00200000) in the flags, field 9 of /proc/PID/stat. The kernel refuses
 * to seize it with a bare EPERM, which would not say why.
 */
static bool is_kernel_thread(pid_t pid)
{
	char path[64], *buf, *p;
	size_t len;
	unsigned long flags = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (proc_read_file(path, &buf, &len, 4096))
		return false;
	/* After "pid (comm) ", which may itself hold spaces and parentheses. */
	p = strrchr(buf, ')');
	if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		flags = 0;
	free(buf);
	return flags & 0x00200000;
}

/* key of a status text read once: 0, or -ENOENT (no text, no such key). */
static int status_get(const char *text, size_t len, const char *key, char *out, size_t outlen)
{
	const char *v;
	size_t n;

	if (!text || procstat_status_field(text, len, key, &v, &n))
		return -ENOENT;
	snprintf(out, outlen, "%.*s", (int)n, v);
	return 0;
}

static int preflight(pid_t pid, const struct reader_opts *opts, char *why, size_t whylen,
		     const char *status, size_t slen, bool member);

/* /proc/PID/status read once for the checks (-o tree runs them per member). */
static int preflight_of(pid_t pid, const struct reader_opts *opts, char *why,
			size_t whylen, bool member)
{
	char path[64], v[32], *status = NULL;
	size_t slen = 0;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (pid > 0 && proc_read_file(path, &status, &slen, 1 << 20))
		status = NULL;
	/* A member's fork child we follow is ours already (PTRACE_O_TRACEFORK). */
	if (member && status_get(status, slen, "TracerPid", v, sizeof(v)) == 0 &&
	    atoi(v) == gettid())
		rc = 0;
	else
		rc = preflight(pid, opts, why, whylen, status, slen, member);
	free(status);
	return rc;
}

int reader_preflight(pid_t pid, const struct reader_opts *opts, char *why,
		     size_t whylen)
{
	return preflight_of(pid, opts, why, whylen, false);
}

int attach_member_preflight(pid_t pid, const struct reader_opts *opts, char *why,
			    size_t whylen)
{
	return preflight_of(pid, opts, why, whylen, true);
}

/*
 * member: a descendant of a process these checks passed (-o tree). It
 * cannot be an ancestor of ours unless that process is one too.
 */
static int preflight(pid_t pid, const struct reader_opts *opts, char *why, size_t whylen,
		     const char *status, size_t slen, bool member)
{
	char v[256], path[64];
	unsigned uids[4] = { 0 };
	struct stat st;
	pid_t who = pid;	/* the thread whose /proc entries we trust */
	int scope;

	if (pid <= 0) {
		snprintf(why, whylen, "pid must be a positive number");
		return -EINVAL;
	}
	if (pid == 1) {
		snprintf(why, whylen, "refusing to suspend pid 1 (init)");
		return -EPERM;
	}
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		snprintf(why, whylen, "no such process: %d", (int)pid);
		return -ESRCH;
	}
	if (status_get(status, slen, "Tgid", v, sizeof(v))) {
		snprintf(why, whylen, "no such process: %d", (int)pid);
		return -ESRCH;
	}
	if (atoi(v) != pid) {
		snprintf(why, whylen, "%d is a thread of process %s; mount the process",
			 (int)pid, v);
		return -EINVAL;
	}
	/* A kernel thread has no mm: no VmSize (nor has a zombie: look). */
	if (status_get(status, slen, "VmSize", v, sizeof(v)) != 0 && is_kernel_thread(pid)) {
		char comm[64] = "?";

		proc_status_field(pid, "Name", comm, sizeof(comm));
		snprintf(why, whylen, "process %d (%s) is a kernel thread: it has no user memory to mount",
			 (int)pid, comm);
		return -EPERM;
	}
	if (pid == getpid()) {
		snprintf(why, whylen, "refusing to mount ptracefs itself");
		return -EDEADLK;
	}
	if (!member && is_ancestor(pid)) {
		snprintf(why, whylen,
			 "process %d is an ancestor of ptracefs; suspending it would freeze this session",
			 (int)pid);
		return -EDEADLK;
	}
	/* A zombie leader's status says little: ask a live thread instead. */
	if (status_get(status, slen, "State", v, sizeof(v)) == 0 && v[0] == 'Z' &&
	    !(who = live_thread(pid))) {
		snprintf(why, whylen, "process %d is a zombie", (int)pid);
		return -ESRCH;
	}
	if ((who == pid ? status_get(status, slen, "TracerPid", v, sizeof(v)) :
			  proc_status_field(who, "TracerPid", v, sizeof(v))) == 0 && atoi(v) != 0 &&
	    !(ptracefs_letting_go(who, atoi(v)) &&
	      proc_status_field(who, "TracerPid", v, sizeof(v)) == 0 && atoi(v) == 0)) {
		char comm[64] = "?";
		int tracer = atoi(v);

		/* TracerPid is the tracing thread: name its process. */
		if (proc_status_field(tracer, "Tgid", v, sizeof(v)) == 0 && atoi(v) > 0)
			tracer = atoi(v);
		proc_status_field(tracer, "Name", comm, sizeof(comm));
		snprintf(why, whylen, "process %d is already traced by pid %d (%s)",
			 (int)pid, tracer, comm);
		return -EBUSY;
	}
	if (status_get(status, slen, "Uid", v, sizeof(v)) == 0)
		sscanf(v, "%u %u %u %u", &uids[0], &uids[1], &uids[2], &uids[3]);
	if (!have_cap_sys_ptrace()) {
		uid_t me = getuid();

		if (uids[0] != me || uids[1] != me || uids[2] != me) {
			snprintf(why, whylen,
				 "permission denied: process %d belongs to uid %u; tracing it needs root or CAP_SYS_PTRACE",
				 (int)pid, uids[0]);
			return -EPERM;
		}
		scope = yama_scope();
		if (scope >= 1) {
			snprintf(why, whylen,
				 "permission denied: kernel.yama.ptrace_scope=%d allows only %s; run as root or set it to 0",
				 scope, scope == 1 ? "descendants to be traced" :
				 scope == 2 ? "CAP_SYS_PTRACE to trace" : "no tracing at all");
			return -EPERM;
		}
	}
	if (yama_scope() == 3) {
		snprintf(why, whylen,
			 "permission denied: kernel.yama.ptrace_scope=3 forbids all tracing");
		return -EPERM;
	}
	/*
	 * A non-dumpable process's /proc entries belong to root (the
	 * kernel's task_dump_owner), which is visible for non-root targets.
	 */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)who);
	if (!(opts && opts->force_nondumpable) && stat(path, &st) == 0 &&
	    st.st_uid == 0 && uids[1] != 0) {
		snprintf(why, whylen,
			 "process %d is not dumpable (PR_SET_DUMPABLE 0); use -o force to mount it anyway",
			 (int)pid);
		return -EPERM;
	}
	return 0;
}
