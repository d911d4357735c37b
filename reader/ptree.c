/*
 * -o tree: a process and every descendant, frozen as one instant and
 * served side by side, one reader each.
 *
 * One instant: every thread of every member is stopped before any state
 * is captured. Everything is seized from one tracer thread (the root
 * member's; the others share it, tracer_share), with PTRACE_O_TRACEFORK
 * and TRACEVFORK besides TRACECLONE, so a fork by a seized thread hands
 * us its child already attached (ptree_forked). A fork that began before
 * its thread was seized is not reported: /proc/PID/task/TID/children of
 * every member is rescanned after each pass, and the freeze ends after
 * two passes in a row find no new thread and no new process (as attach.c
 * does for one process's threads). The capture (registers, maps, /proc
 * files) comes after that; then the fork options are dropped, so a member
 * resumed later (ctl) forks children nobody holds.
 *
 * A descendant we may not trace is a member listed with the reason and
 * no reader; its own children are not followed (they run, and may fork,
 * where we cannot see it coming). Neither is anything the tree's members
 * start after the freeze.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reader/procstat.h"
#include "reader/reader_int.h"

/* Threads one member may ever hold: address space reserved per reader. */
#define MEMBER_THREADS (1u << 15)

struct member {
	struct reader_tree_member pub;
	struct reader *r;	/* kept to free when pub.r was dropped */
	char why[512];
	int capture_rc;		/* snapshot_process's, after the freeze */
	/*
	 * Every thread stopped by us, the kernel's count of them ours, and
	 * the children of each read since it stopped: a stopped thread makes
	 * no thread and no process, so later passes skip this member.
	 */
	bool settled;
};

/*
 * Members' thread tables come MEMBER_SLAB to a mapping: each is reserved
 * whole (MEMBER_THREADS records, which never move) and a calloc and free
 * of 18 MiB and the tid index for each of a hundred members cost 10 ms at
 * the mount and 12 ms at the unmount on a 2-vCPU KVM guest (mmap, munmap
 * and their page faults). Untouched, the reservation is address space.
 */
#define MEMBER_SLAB 16

struct slab {
	void *base;
	size_t len;
};

struct reader_tree {
	struct reader_opts opts;
	struct member *m;	/* in the order met; fixed once mounted */
	size_t n, cap;
	struct slab *slabs;	/* the last one's first slab_used are taken */
	size_t nslabs, slab_used;
	bool freezing;
	size_t forked;		/* members a fork event added this pass */
	int err;		/* a fork event we could not follow */
};

struct freeze_arg {
	char why[512];
};

static struct member *find_member(struct reader_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->m[i].pub.pid == pid)
			return &t->m[i];
	return NULL;
}

/* Listed only from now on, for why; what it held is let go (tracer thread). */
static void drop_member(struct member *m, const char *why)
{
	char copy[sizeof(m->why)];

	snprintf(copy, sizeof(copy), "%s", why);	/* why may be m->why */
	if (m->pub.r)
		detach_all(m->pub.r);
	m->pub.r = NULL;
	memcpy(m->why, copy, sizeof(copy));
}

/*
 * A new member (on the tracer thread): traced already by us (an
 * auto-attached fork child), or one reader_preflight allows, gets a reader
 * sharing the root's tracer; anything else is listed with the reason.
 */
static size_t round_page(size_t n)
{
	size_t page = (size_t)reader_page_size();

	return (n + page - 1) / page * page;
}

/* A member's zeroed thread table and tid index; -ENOMEM: use the heap. */
static int member_storage(struct reader_tree *t, void **threads, void **index)
{
	size_t tbytes = round_page(MEMBER_THREADS * sizeof(struct rthread));
	size_t one = tbytes + round_page(tid_index_bytes());
	char *base;

	if (!t->nslabs || t->slab_used == MEMBER_SLAB) {
		struct slab *v = realloc(t->slabs, (t->nslabs + 1) * sizeof(*v));
		void *p;

		if (!v)
			return -ENOMEM;
		t->slabs = v;
		p = mmap(NULL, one * MEMBER_SLAB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
		t->slabs[t->nslabs++] = (struct slab){ p, one * MEMBER_SLAB };
		t->slab_used = 0;
	}
	base = (char *)t->slabs[t->nslabs - 1].base + t->slab_used++ * one;
	*threads = base;
	*index = base + tbytes;
	return 0;
}

static int add_member(struct reader_tree *t, pid_t pid, struct member **out)
{
	void *threads = NULL, *index = NULL;
	struct member *m;
	char why[512] = "";
	int rc;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct member *v = realloc(t->m, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->m = v;
		t->cap = cap;
	}
	m = &t->m[t->n];
	memset(m, 0, sizeof(*m));
	m->pub.pid = pid;	/* pub.why is set once the array stops moving */
	if (t->n > 0 && attach_member_preflight(pid, &t->opts, why, sizeof(why)) != 0) {
		snprintf(m->why, sizeof(m->why), "%s", why);
		t->n++;
		*out = m;
		return 0;
	}
	if (t->n && member_storage(t, &threads, &index))
		threads = index = NULL;
	rc = reader_new_lent(pid, &t->opts, t->n ? MEMBER_THREADS : 0, threads, index, &m->r);
	if (rc)
		return rc;
	m->r->tree = t;
	m->r->seize_opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
	if (t->n > 0 && (rc = tracer_share(t->m[0].r, m->r))) {
		reader_free_new(m->r);
		return rc;
	}
	m->pub.r = m->r;
	t->n++;
	*out = m;
	return 0;
}

void ptree_forked(struct reader *r, pid_t child)
{
	struct reader_tree *t = r->tree;
	struct member *m;
	struct rthread *old;
	int rc;

	/* After the freeze no member is seized with TRACEFORK: never here. */
	if (!t || !t->freezing)
		return;
	m = find_member(t, child);
	if (!m) {
		rc = add_member(t, child, &m);
		if (rc) {
			t->err = rc;
			return;
		}
		t->forked++;
	}
	/* Its first stop is waited for like any seized thread's. */
	if (m->pub.r && (!(old = reader_find_thread(m->pub.r, child)) ||
			 atomic_load(&old->state) == RT_DEAD))
		attach_add_thread(m->pub.r, child, 0);
}

/* Reaps every member until no seized thread is still running. */
static int wait_all(struct reader_tree *t, uint64_t deadline, char *why, size_t whylen)
{
	unsigned us = 20;

	for (unsigned round = 0;; round++) {
		struct rthread *late = NULL;
		pid_t late_pid = 0;
		siginfo_t si = { .si_pid = 0 };

		/*
		 * A reap asks every thread of every member (a waitid each: ten
		 * thousand calls for a 1000-thread tree): only when some child
		 * has a report, and every 8th round anyway (attach.c does the
		 * same for one process).
		 */
		if (round % 8 == 0 ||
		    waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) != 0 ||
		    si.si_pid != 0)
			for (size_t i = 0; i < t->n; i++)
				if (t->m[i].pub.r)
					tracer_reap(t->m[i].pub.r);
		for (size_t i = 0; i < t->n && !late; i++) {
			struct reader *r = t->m[i].pub.r;
			size_t n = r ? atomic_load(&r->nthreads) : 0;

			for (size_t k = 0; k < n && !late; k++)
				if (atomic_load(&r->threads[k].state) == RT_SEIZED) {
					late = &r->threads[k];
					late_pid = r->pid;
				}
		}
		if (!late)
			return 0;
		if (now_ms() >= deadline) {
			snprintf(why, whylen, "thread %d of process %d did not stop",
				 (int)late->tid, (int)late_pid);
			return -ETIMEDOUT;
		}
		usleep(us);
		if (us < 2000)
			us *= 2;
	}
}

/*
 * The children of every thread of member i not yet members: added, and
 * seized at once. How many were new.
 */
static int scan_children(struct reader_tree *t, size_t i, size_t *nnew, char *why,
			 size_t whylen)
{
	pid_t pid = t->m[i].pub.pid, *tids;
	struct reader *r = t->m[i].pub.r;
	size_t n;
	int rc = 0;

	if (proc_list_tasks(pid, &tids, &n))
		return 0;	/* gone: the next pass tells */
	for (size_t k = 0; k < n && rc == 0; k++) {
		char path[96], *buf, *p, *end;
		size_t len;
		/* (the array does not move: a member's is reserved whole) */
		struct rthread *rt = r ? reader_find_thread(r, tids[k]) : NULL;
		bool stopped = rt && atomic_load(&rt->state) == RT_STOPPED;

		if (stopped && rt->kids_done)
			continue;	/* read since it stopped: nothing new can be */
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tids[k]);
		if (proc_read_file(path, &buf, &len, 1 << 20))
			continue;
		if (stopped)
			rt->kids_done = true;
		for (p = buf; rc == 0; p = end) {
			long c = strtol(p, &end, 10);
			struct member *m;
			size_t seized = 0;

			if (end == p)
				break;
			if (c <= 0 || find_member(t, (pid_t)c))
				continue;
			rc = add_member(t, (pid_t)c, &m);
			if (rc) {
				snprintf(why, whylen, "cannot follow process %ld: %s", c,
					 strerror(-rc));
				break;
			}
			(*nnew)++;
			if (m->pub.r && (rc = attach_seize_pass(m->pub.r, &seized, m->why,
								sizeof(m->why))) != 0) {
				drop_member(m, rc == -ESRCH ? "exited during the freeze" : m->why);
				rc = 0;
			}
		}
		free(buf);
	}
	free(tids);
	return rc;
}

/* Every live thread of r stopped by us, its children read since (struct member). */
static bool member_settled(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);

	for (size_t k = 0; k < n; k++) {
		int st = atomic_load(&r->threads[k].state);

		if (st == RT_DEAD)
			continue;
		if (st != RT_STOPPED || !r->threads[k].kids_done)
			return false;
	}
	return true;
}

static int freeze_fn(struct reader *root, void *p)
{
	struct freeze_arg *a = p;
	struct reader_tree *t = root->tree;
	unsigned passes = t->opts.max_passes ? t->opts.max_passes : 100;
	uint64_t deadline = now_ms() +
		(t->opts.attach_timeout_ms ? t->opts.attach_timeout_ms : 10000);
	unsigned quiet = 0, pass = 0;
	int rc = 0;

	t->freezing = true;
	while (quiet < 2) {
		size_t nnew = 0;
		bool accounted = true;

		if (++pass > passes || now_ms() >= deadline) {
			snprintf(a->why, sizeof(a->why),
				 "processes kept appearing: gave up after %u passes", pass - 1);
			rc = -EAGAIN;
			goto out;
		}
		for (size_t i = 0; i < t->n; i++) {
			struct member *m = &t->m[i];
			size_t k = 0;

			if (!m->pub.r || m->settled)
				continue;
			rc = attach_seize_pass(m->pub.r, &k, m->why, sizeof(m->why));
			if (rc && i == 0) {
				snprintf(a->why, sizeof(a->why), "%s", m->why);
				goto out;
			}
			if (rc) {
				drop_member(m, rc == -ESRCH ? "exited during the freeze" : m->why);
				rc = 0;
			}
			nnew += k;
		}
		rc = wait_all(t, deadline, a->why, sizeof(a->why));
		if (pass == 2 && fault_hit("sleep-attach"))
			sleep(2);	/* a window for tests to kill us mid-freeze */
		for (size_t i = 0; rc == 0 && i < t->n; i++)
			if (t->m[i].pub.r && !t->m[i].settled)
				rc = scan_children(t, i, &nnew, a->why, sizeof(a->why));
		if (rc == 0 && t->err) {
			rc = t->err;
			snprintf(a->why, sizeof(a->why), "cannot follow a fork: %s", strerror(-rc));
		}
		if (rc)
			goto out;
		nnew += t->forked;
		t->forked = 0;
		for (size_t i = 0; i < t->n; i++) {
			struct member *m = &t->m[i];

			if (!m->pub.r)
				continue;
			if (atomic_load(&m->pub.r->nalive) == 0) {
				if (i == 0) {
					snprintf(a->why, sizeof(a->why),
						 "process %d exited during attach", (int)m->pub.pid);
					rc = -ESRCH;
					goto out;
				}
				drop_member(m, "exited during the freeze");
			} else if (m->settled || nnew) {
				/* a pass that met new processes is never a quiet one:
				 * the count (a /proc read a member) waits for one that is */
			} else if (!attach_accounted(m->pub.r)) {
				accounted = false;
			} else {
				m->settled = member_settled(m->pub.r);
			}
		}
		quiet = nnew || !accounted ? 0 : quiet + 1;
	}
	/*
	 * Everything stands still. Forks are not followed any more (a member
	 * resumed by ctl forks children of its own), then the registers.
	 */
	for (size_t i = 0; i < t->n; i++) {
		struct reader *r = t->m[i].pub.r;
		size_t n = r ? atomic_load(&r->nthreads) : 0;

		if (!r)
			continue;
		r->seize_opts = PTRACE_O_TRACECLONE;
		for (size_t k = 0; k < n; k++)
			if (atomic_load(&r->threads[k].state) == RT_STOPPED)
				ptrace(PTRACE_SETOPTIONS, r->threads[k].tid, 0,
				       (void *)(long)PTRACE_O_TRACECLONE);
		/* As a single process's attach: at the first need (reader.c). */
		if (regs_deferrable(r)) {
			atomic_store(&r->regs_owed, true);
			continue;
		}
		rc = snapshot_regs(r);
		if (rc && i == 0) {
			snprintf(a->why, sizeof(a->why), "cannot read registers: %s", strerror(-rc));
			goto out;
		}
		if (rc) {
			char why[128];

			snprintf(why, sizeof(why), "cannot read registers: %s", strerror(-rc));
			drop_member(&t->m[i], why);
			rc = 0;
		}
	}
out:
	t->freezing = false;
	if (rc)
		for (size_t i = 0; i < t->n; i++)
			if (t->m[i].pub.r)
				detach_all(t->m[i].pub.r);
	return rc;
}

static int detach_fn(struct reader *r, void *p)
{
	(void)p;
	detach_all(r);
	return 0;
}

/* pid ppid pgid sid comm from /proc/PID/stat; the state letter before the seize. */
static void describe(struct member *m)
{
	char path[64], *buf = NULL;
	const char *text;
	size_t len;
	struct procstat ps;
	struct reader_thread_info lead;

	/* A member's stat was read in its capture, while it stood still. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)m->pub.pid);
	if ((m->pub.r && reader_file(m->pub.r, RB_STAT, &text, &len) == 0) ||
	    (proc_read_file(path, &buf, &len, 1 << 16) == 0 && (text = buf))) {
		if (procstat_parse(text, len, &ps) == 0) {
			m->pub.ppid = ps.ppid;
			m->pub.pgid = ps.pgrp;
			m->pub.sid = ps.session;
			m->pub.state = ps.state;
			snprintf(m->pub.comm, sizeof(m->pub.comm), "%s", ps.comm);
		}
		free(buf);
	}
	if (!m->pub.comm[0])
		snprintf(m->pub.comm, sizeof(m->pub.comm), "?");
	if (!m->pub.state)
		m->pub.state = '?';
	m->pub.why = m->pub.r ? "" : m->why;
	/* Stopped by us now ('t' in stat): the leader's state before (reader.c). */
	if (m->pub.r && reader_thread_info(m->pub.r, m->pub.pid, &lead) == 0 &&
	    lead.state && lead.state != '?')
		m->pub.state = lead.state;
}

/* On the tracer: every member let go in one request. */
static int detach_tree_fn(struct reader *root, void *p)
{
	struct reader_tree *t = root->tree;

	(void)p;
	for (size_t i = 0; i < t->n; i++)
		if (t->m[i].r)
			detach_all(t->m[i].r);
	return 0;
}

static void free_tree(struct reader_tree *t)
{
	/*
	 * One request lets every process go at once (each reader_close
	 * after it finds nothing left to detach): a hundred closes, each a
	 * detach on the tracer, would keep the last members stopped for
	 * seconds after the first ones run.
	 */
	if (t->n && t->m[0].r && t->m[0].r->tracer)
		tracer_call(t->m[0].r, detach_tree_fn, NULL, 0, 10000);
	/* The root (which started the tracer) last, though any order works. */
	for (size_t i = t->n; i-- > 0;)
		if (t->m[i].r)
			reader_close(t->m[i].r);
	for (size_t i = 0; i < t->nslabs; i++)
		munmap(t->slabs[i].base, t->slabs[i].len);
	free(t->slabs);
	free(t->m);
	free(t);
}

/*
 * After the freeze, each member's maps and /proc files (snapshot_process:
 * no ptrace, nothing shared between readers), two at a time: a hundred
 * members take a millisecond or two each, and the whole tree stands
 * still meanwhile.
 */
struct capture_work {
	struct reader_tree *t;
	_Atomic size_t next;
};

static void *capture_worker(void *p)
{
	struct capture_work *w = p;
	size_t i;

	while ((i = atomic_fetch_add(&w->next, 1)) < w->t->n) {
		struct member *m = &w->t->m[i];

		if (m->pub.r)
			m->capture_rc = snapshot_process(m->pub.r, m->why, sizeof(m->why));
	}
	return NULL;
}

static void capture_all(struct reader_tree *t)
{
	struct capture_work w = { .t = t };
	sigset_t all, old;
	pthread_t helper;
	bool two;

	atomic_init(&w.next, 0);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	two = t->n > 1 && pthread_create(&helper, NULL, capture_worker, &w) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	capture_worker(&w);
	if (two)
		pthread_join(helper, NULL);
}

/* On the tracer: every member's threads let go at once (-o snapshot). */
static int let_go_fn(struct reader *root, void *p)
{
	struct reader_tree *t = root->tree;

	(void)p;
	for (size_t i = 0; i < t->n; i++)
		if (t->m[i].pub.r && t->m[i].pub.r->snap)
			snapshot_let_go(t->m[i].pub.r);
	return 0;
}

/* A member that cannot have its clone: let go, listed with why. */
static void release_member(struct member *m)
{
	tracer_call(m->pub.r, detach_fn, NULL, 0, 5000);
	m->pub.r = NULL;
}

/*
 * -o tree,snapshot, everything frozen and captured: one clone per member,
 * each injected while every member is still stopped, then all let go at
 * once, then each clone set up (snapshot.c). A member the snapshot
 * refuses (seccomp, a pending namespace, no process slot, ...) or whose
 * clone fails is let go and listed with the reason; the root's failure
 * fails the mount.
 */
static int tree_snapshot(struct reader_tree *t, char *why, size_t whylen)
{
	struct reader *root = t->m[0].pub.r;
	int rc;

	for (size_t i = 1; i < t->n; i++) {
		struct member *m = &t->m[i];

		if (!m->pub.r)
			continue;
		if (snapshot_prepare(m->pub.r, m->why, sizeof(m->why)) == 0)
			snapshot_join(m->pub.r, root);
		else
			release_member(m);
	}
	for (size_t i = 0; i < t->n; i++) {
		struct member *m = &t->m[i];

		if (!m->pub.r)
			continue;
		rc = snapshot_fork(m->pub.r, true, m->why, sizeof(m->why));
		if (rc && i == 0) {
			snprintf(why, whylen, "%s", m->why);
			snapshot_unboost(root);
			return rc;
		}
		if (rc)
			release_member(m);
	}
	tracer_call(root, let_go_fn, NULL, 0, 10000);
	snapshot_unboost(root);
	for (size_t i = 0; i < t->n; i++) {
		struct member *m = &t->m[i];

		if (!m->pub.r)
			continue;
		rc = snapshot_finish(m->pub.r, m->why, sizeof(m->why));
		if (rc && i == 0) {
			snprintf(why, whylen, "%s", m->why);
			return rc;
		}
		if (rc)
			release_member(m);
	}
	return 0;
}

int reader_tree_attach(pid_t pid, const struct reader_opts *opts,
		       struct reader_tree **out, char *why, size_t whylen)
{
	struct reader_tree *t = calloc(1, sizeof(*t));
	struct freeze_arg a = { "" };
	struct member *root;
	unsigned budget;
	int rc;

	if (!t)
		return -ENOMEM;
	if (opts)
		t->opts = *opts;
	if (t->opts.live) {
		free(t);
		snprintf(why, whylen, "-o tree does not take -o live");
		return -EINVAL;
	}
	budget = (t->opts.attach_timeout_ms ? t->opts.attach_timeout_ms : 10000) + 5000;
	rc = add_member(t, pid, &root);
	if (rc) {
		free(t);
		return rc;
	}
	rc = tracer_start(root->r);
	if (rc) {
		snprintf(why, whylen, "cannot start the tracer thread: %s", strerror(-rc));
		reader_free_new(root->r);
		free(t->m);
		free(t);
		return rc;
	}
	/* -o snapshot: the root's refusals come before anything stops. */
	if (t->opts.snapshot) {
		rc = snapshot_prepare(root->r, why, whylen);
		if (rc) {
			free_tree(t);
			return rc;
		}
		snapshot_reap_leftovers(root->r);
	}
	rc = tracer_call(root->r, freeze_fn, &a, sizeof(a), budget);
	if (rc) {
		snprintf(why, whylen, "%s", a.why[0] ? a.why : strerror(-rc));
		free_tree(t);
		return rc;
	}
	capture_all(t);
	for (size_t i = 0; i < t->n; i++) {
		struct member *m = &t->m[i];

		if (m->pub.r && (rc = m->capture_rc)) {
			if (i == 0) {
				snprintf(why, whylen, "%s", m->why);
				free_tree(t);
				return rc;
			}
			tracer_call(m->pub.r, detach_fn, NULL, 0, 5000);
			m->pub.r = NULL;
		}
	}
	if (t->opts.snapshot && (rc = tree_snapshot(t, why, whylen))) {
		free_tree(t);
		return rc;
	}
	for (size_t i = 0; i < t->n; i++)
		describe(&t->m[i]);
	*out = t;
	return 0;
}

size_t reader_tree_count(const struct reader_tree *t)
{
	return t->n;
}

const struct reader_tree_member *reader_tree_member(const struct reader_tree *t, size_t i)
{
	return i < t->n ? &t->m[i].pub : NULL;
}

struct reader *reader_tree_reader(const struct reader_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->m[i].pub.pid == pid)
			return t->m[i].pub.r;
	return NULL;
}

void reader_tree_detach(struct reader_tree *t)
{
	if (t->n && t->m[0].r && t->m[0].r->tracer)
		tracer_call(t->m[0].r, detach_tree_fn, NULL, 0, 10000);
}

void reader_tree_close(struct reader_tree *t)
{
	if (t)
		free_tree(t);
}
