/*
 * Modes and refreshes: the target suspended (every thread stopped, one
 * snapshot) or live (threads seized but running; registers read by
 * stopping one thread for a moment; maps re-read when they change).
 *
 * Locking: FUSE requests hold snap_lock shared for their whole length
 * (reader_rdlock); a mode change or a refresh holds it exclusively, so no
 * request ever sees half a snapshot. The tracer thread never takes it: a
 * request holding it may be waiting on the tracer.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader/reader_int.h"
#include "reader/xstate.h"
#include "reader/source.h"

#define STOP_TIMEOUT_MS 2000

void reader_rdlock(struct reader *r)
{
	pthread_rwlock_rdlock(&r->snap_lock);
}

void reader_unlock(struct reader *r)
{
	pthread_rwlock_unlock(&r->snap_lock);
}

unsigned reader_generation(const struct reader *r)
{
	return atomic_load(&((struct reader *)r)->generation);
}

bool reader_is_live(const struct reader *r)
{
	return atomic_load(&((struct reader *)r)->mode) == MODE_LIVE;
}

/* Re-reads the mm's snapshot; snap_lock held for writing. */
static int refresh_locked(struct reader *r)
{
	char why[256];
	int rc;

	free_mm(r);
	load_process(r);
	rc = load_mm(r, why, sizeof(why));
	forget_thread_infos(r);
	atomic_fetch_add(&r->generation, 1);
	return rc;
}

static int reader_refresh(struct reader *r)
{
	int rc;

	if (reader_gone(r))
		return -ESRCH;
	pthread_rwlock_wrlock(&r->snap_lock);
	rc = refresh_locked(r);
	pthread_rwlock_unlock(&r->snap_lock);
	return rc;
}

/*
 * Live mode: has /proc/PID/maps changed since the snapshot? Then refresh.
 * Called before a request takes snap_lock (opens of files made of maps).
 */
int ptrace_refresh_if_changed(struct reader *r)
{
	char path[96], *text;
	size_t len;
	pid_t mem_pid;
	bool same;

	if (!reader_is_live(r) || reader_gone(r))
		return 0;
	/* A refresh on another worker may pick a new one (load_process). */
	pthread_rwlock_rdlock(&r->snap_lock);
	mem_pid = r->mem_pid;
	pthread_rwlock_unlock(&r->snap_lock);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/maps", (int)r->pid, (int)mem_pid);
	if (proc_read_file(path, &text, &len, (size_t)1 << 30))
		return 0;	/* keep what we have: the target may be exiting */
	pthread_rwlock_rdlock(&r->snap_lock);
	same = r->maps_text && len == r->maps_len && memcmp(text, r->maps_text, len) == 0;
	pthread_rwlock_unlock(&r->snap_lock);
	free(text);
	return same ? 0 : reader_refresh(r);
}

/* On the tracer: stop every running thread and capture its registers. */
static int suspend_fn(struct reader *r, void *arg)
{
	unsigned char *buf;
	size_t n;
	int rc;

	(void)arg;
	rc = stop_all(r, STOP_TIMEOUT_MS);
	if (rc)
		return rc;
	atomic_store(&r->mode, MODE_SUSPENDED);
	buf = regs_buffer(r->arch);
	if (!buf)
		return -ENOMEM;
	n = atomic_load(&r->nthreads);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (atomic_load(&r->threads[i].state) == RT_STOPPED)
			rc = capture_regs(r, &r->threads[i], buf);
	free(buf);
	if (rc == 0)
		atomic_store(&r->regs_owed, false);
	return rc;
}

/* On the tracer: let every stopped thread run (or listen, if job-stopped). */
static int resume_fn(struct reader *r, void *arg)
{
	size_t n = atomic_load(&r->nthreads);

	(void)arg;
	atomic_store(&r->mode, MODE_LIVE);
	atomic_store(&r->regs_owed, false);	/* read when asked from now on */
	for (size_t i = 0; i < n; i++)
		resume_thread(&r->threads[i]);
	return 0;
}

static int change_mode(struct reader *r, tracer_fn fn)
{
	int rc;

	if (reader_gone(r))
		return -ESRCH;
	pthread_rwlock_wrlock(&r->snap_lock);
	rc = tracer_call(r, fn, NULL, 0, STOP_TIMEOUT_MS + 3000);
	/* Stopped now: the snapshot is consistent again. */
	if (rc == 0 && fn == suspend_fn)
		rc = refresh_locked(r);
	pthread_rwlock_unlock(&r->snap_lock);
	return rc;
}

/*
 * The mode the user asked for (want_live: -o live, ctl resume/suspend)
 * and the holds of readers that need a stop decide the actual mode:
 * live only when wanted and nobody holds a stop. mode_mu orders them.
 */
static int settle(struct reader *r)
{
	bool live = r->want_live && atomic_load(&r->holds) == 0;

	if (live == reader_is_live(r))
		return 0;
	return change_mode(r, live ? resume_fn : suspend_fn);
}

int ptrace_suspend(struct reader *r)
{
	int rc;

	if (r->snap)	/* -o snapshot: the target held, the tree unchanged (snapshot.c) */
		return snapshot_suspend(r);
	pthread_mutex_lock(&r->mode_mu);
	r->want_live = false;
	rc = settle(r);
	pthread_mutex_unlock(&r->mode_mu);
	return rc;
}

int ptrace_resume(struct reader *r)
{
	int rc;

	if (r->snap)	/* -o snapshot: the held target let go (snapshot.c) */
		return snapshot_resume(r);
	pthread_mutex_lock(&r->mode_mu);
	r->want_live = true;
	rc = settle(r);		/* deferred while a `core` holds a stop */
	pthread_mutex_unlock(&r->mode_mu);
	return rc;
}

/*
 * A consistent stop for one reader (a `core` open, a stack unwind): in
 * live mode the first hold suspends the target and the last release lets
 * it run again; in suspended mode a hold changes nothing.
 */
int ptrace_hold(struct reader *r)
{
	int rc;

	pthread_mutex_lock(&r->mode_mu);
	atomic_fetch_add(&r->holds, 1);
	rc = settle(r);
	if (rc)
		atomic_fetch_sub(&r->holds, 1);
	pthread_mutex_unlock(&r->mode_mu);
	return rc;
}

void ptrace_release(struct reader *r)
{
	pthread_mutex_lock(&r->mode_mu);
	if (atomic_load(&r->holds) > 0)
		atomic_fetch_sub(&r->holds, 1);
	if (!reader_gone(r))
		settle(r);
	pthread_mutex_unlock(&r->mode_mu);
}

struct peek_arg {
	pid_t tid;
	int rc;
};

/*
 * On the tracer, live mode: stop one running thread (PTRACE_INTERRUPT),
 * capture its registers, let it go again (PTRACE_CONT, or PTRACE_LISTEN
 * if it is in a job-control stop).
 */
/* On the tracer, live mode: one running thread stopped; 0 once it is. */
static int stop_one(struct reader *r, struct rthread *t)
{
	uint64_t deadline = now_ms() + STOP_TIMEOUT_MS;

	if (atomic_load(&t->state) != RT_RUNNING)
		return 0;
	atomic_store(&t->state, RT_SEIZED);
	ptrace(PTRACE_INTERRUPT, t->tid, 0, 0);
	while (atomic_load(&t->state) == RT_SEIZED && now_ms() < deadline) {
		tracer_reap(r);
		if (atomic_load(&t->state) == RT_SEIZED)
			usleep(50);
	}
	if (atomic_load(&t->state) == RT_DEAD)
		return -ENOENT;
	if (atomic_load(&t->state) != RT_STOPPED)
		return -EIO;	/* it would not stop (state D, say) */
	return 0;
}

/* After stop_one: let it go again unless live mode is holding it. */
static void let_go(struct reader *r, struct rthread *t)
{
	if (reader_is_live(r) && atomic_load(&r->holds) == 0)
		resume_thread(t);
}

static int peek_fn(struct reader *r, void *p)
{
	struct peek_arg *a = p;
	struct rthread *t = reader_find_thread(r, a->tid);
	unsigned char *buf;
	int rc;

	if (!t || atomic_load(&t->state) == RT_DEAD)
		return -ENOENT;
	if ((rc = stop_one(r, t)))
		return rc;
	buf = regs_buffer(r->arch);
	rc = buf ? capture_regs(r, t, buf) : -ENOMEM;
	free(buf);
	let_go(r, t);
	return rc;
}

int ptrace_regset_now(struct reader *r, pid_t tid, unsigned type,
		      void *buf, size_t cap)
{
	struct rthread *t = reader_find_thread(r, tid);
	int rc = -ENODATA;

	if (!t)
		return -ENOENT;
	if (atomic_load(&t->state) == RT_DEAD)
		return -EIO;
	if ((rc = regs_owed_pay(r)) != 0)
		return rc;
	rc = -ENODATA;
	if (atomic_load(&t->state) == RT_RUNNING) {
		struct peek_arg a = { tid, 0 };

		rc = tracer_call(r, peek_fn, &a, sizeof(a), STOP_TIMEOUT_MS + 3000);
		if (rc)
			return rc == -ENOENT ? -EIO : rc;
		rc = -ENODATA;
	}
	pthread_mutex_lock(&t->sets_mu);
	for (size_t k = 0; k < t->nsets; k++)
		if (t->sets[k].type == type) {
			rc = (int)(t->sets[k].len < cap ? t->sets[k].len : cap);
			memcpy(buf, t->sets[k].data, (size_t)rc);
			break;
		}
	pthread_mutex_unlock(&t->sets_mu);
	return rc;
}

/* On the tracer: rescan /proc/PID/task for threads we have not met. */
static int adopt_fn(struct reader *r, void *p)
{
	pid_t *tids;
	size_t n;

	(void)p;
	if (proc_list_tasks(r->pid, &tids, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct rthread *t;

		if (reader_find_thread(r, tids[i]) &&
		    atomic_load(&reader_find_thread(r, tids[i])->state) != RT_DEAD)
			continue;
		if (ptrace(PTRACE_SEIZE, tids[i], 0, (void *)(long)PTRACE_O_TRACECLONE) < 0 ||
		    attach_add_thread(r, tids[i], 'R'))
			continue;
		t = reader_find_thread(r, tids[i]);
		if (reader_is_live(r)) {
			atomic_store(&t->state, RT_RUNNING);
		} else {
			ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
			stop_all(r, STOP_TIMEOUT_MS);	/* waits for it */
		}
	}
	free(tids);
	return 0;
}

/* ctl's refresh: threads we missed (none should be), then the mm. */
int ptrace_refresh_all(struct reader *r)
{
	int rc;

	if (r->snap)	/* -o snapshot: a new snapshot (snapshot.c) */
		return snapshot_refresh(r);
	if (reader_gone(r))
		return -ESRCH;
	pthread_rwlock_wrlock(&r->snap_lock);
	rc = tracer_call(r, adopt_fn, NULL, 0, STOP_TIMEOUT_MS + 3000);
	if (rc == 0)
		rc = refresh_locked(r);
	pthread_rwlock_unlock(&r->snap_lock);
	return rc;
}

/* ctl's detach: every thread released now; the daemon exits next. */
static int detach_now_fn(struct reader *r, void *p)
{
	(void)p;
	detach_all(r);
	atomic_store(&r->detached, true);
	return 0;
}

int ptrace_detach(struct reader *r)
{
	return tracer_call(r, detach_now_fn, NULL, 0, STOP_TIMEOUT_MS + 3000);
}

/* Registers a write sets (-o rw), copied to the tracer thread. */
struct setregs_arg {
	pid_t tid;
	size_t n;
	struct arch_reg_set v[128];
};

/*
 * On the tracer: the thread's NT_PRSTATUS as the kernel has it now, the
 * parsed values over it, one PTRACE_SETREGSET, then the captured sets
 * again (so regs reads back what the kernel kept: it may adjust eflags).
 */
static int setregs_fn(struct reader *r, void *p)
{
	struct setregs_arg *a = p;
	struct rthread *t = reader_find_thread(r, a->tid);
	const struct arch_desc *arch = atomic_load(&r->arch);
	unsigned char *buf;
	struct iovec iov;
	bool was_running;
	int rc = 0;

	if (!t || atomic_load(&t->state) == RT_DEAD)
		return -ENOENT;
	/* Live mode: the thread stops for the write, as for a read. */
	was_running = atomic_load(&t->state) == RT_RUNNING;
	if ((rc = stop_one(r, t)))
		return rc;
	if (atomic_load(&t->state) != RT_STOPPED)
		return -EBUSY;
	if (!arch || !(buf = regs_buffer(arch))) {
		if (was_running)
			let_go(r, t);
		return -ENOMEM;
	}
	iov = (struct iovec){ buf, arch->regsets[0].max };
	if (ptrace(PTRACE_GETREGSET, t->tid, (void *)(long)NT_PRSTATUS, &iov) != 0)
		rc = errno == ESRCH ? -ENOENT : -EIO;
	if (rc == 0)
		rc = arch_apply_regs(arch, a->v, a->n, buf, iov.iov_len);
	if (rc == 0 && fault_hit("setregs"))
		rc = -EINVAL;
	/* The kernel checks each value (a selector, eflags): EIO is a refusal. */
	if (rc == 0 && ptrace(PTRACE_SETREGSET, t->tid, (void *)(long)NT_PRSTATUS, &iov) != 0)
		rc = errno == ESRCH ? -ENOENT : -EINVAL;
	if (rc == 0)
		rc = capture_regs(r, t, buf);
	free(buf);
	if (was_running)
		let_go(r, t);
	return rc;
}

int ptrace_set_regs(struct reader *r, pid_t tid, const struct arch_reg_set *v, size_t n)
{
	struct setregs_arg a = { .tid = tid, .n = n };

	if (n > sizeof(a.v) / sizeof(a.v[0]))
		return -EINVAL;
	memcpy(a.v, v, n * sizeof(*v));
	return tracer_call(r, setregs_fn, &a, sizeof(a), STOP_TIMEOUT_MS + 3000);
}

void written_locked(struct reader *r)
{
	if (!reader_gone(r))
		refresh_locked(r);
}

/*
 * A register write replaces the thread's captured sets, which `core`'s
 * layout and an unwinder point into while they hold the snapshot shared:
 * so the snapshot is held exclusively for the write and the refresh after
 * it, and no reader sees a set freed under it.
 */
int reader_thread_set_regset(struct reader *r, pid_t tid, unsigned type, const void *blob,
			     size_t len)
{
	struct regset_put v = { tid, type, 0, len };
	int rc;

	if (!reader_writable(r) || !r->src->ops->put_regsets)
		return -EROFS;
	pthread_rwlock_wrlock(&r->snap_lock);
	rc = r->src->ops->put_regsets(r, &v, 1, blob, len, NULL);
	if (rc == 0)
		written_locked(r);
	pthread_rwlock_unlock(&r->snap_lock);
	return rc;
}

int reader_thread_set_regs(struct reader *r, pid_t tid, const struct arch_reg_set *v,
			   size_t n)
{
	int rc;

	if (!reader_writable(r) || !r->src->ops->set_regs)
		return -EROFS;
	pthread_rwlock_wrlock(&r->snap_lock);
	rc = r->src->ops->set_regs(r, tid, v, n);
	if (rc == 0)
		written_locked(r);
	pthread_rwlock_unlock(&r->snap_lock);
	return rc;
}

void reader_written(struct reader *r)
{
	if (!reader_writable(r) || reader_gone(r))
		return;
	pthread_rwlock_wrlock(&r->snap_lock);
	refresh_locked(r);
	pthread_rwlock_unlock(&r->snap_lock);
}

/*
 * A batch of whole register sets (restore, fpregs writes), packed into one
 * block because tracer_call copies its argument: the header, then the
 * items, then the bytes they point into.
 */
struct putsets_arg {
	size_t n;
	size_t bad;			/* out: the item the kernel refused */
	struct regset_put v[];
};

/*
 * On the tracer: every thread's current set of each item's type is kept,
 * then the items are set in order; if the kernel refuses one, those
 * already set are put back, last first, so nothing changed. Then the
 * touched threads' sets are captured again.
 */
static int putsets_fn(struct reader *r, void *p)
{
	struct putsets_arg *a = p;
	const unsigned char *data = (const unsigned char *)(a->v + a->n);
	const struct arch_desc *arch = atomic_load(&r->arch);
	struct regset *saved = calloc(a->n ? a->n : 1, sizeof(*saved));
	/* live mode: the threads this write stopped, let go after it */
	struct rthread **stopped = calloc(a->n ? a->n : 1, sizeof(*stopped));
	unsigned char *buf = arch ? regs_buffer(arch) : NULL;
	size_t done = 0, nstopped = 0;
	int rc = 0;

	if (!saved || !stopped || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct rthread *t = reader_find_thread(r, a->v[i].tid);
		size_t max = 0;
		struct iovec iov;

		if (t && atomic_load(&t->state) == RT_RUNNING) {
			if ((rc = stop_one(r, t))) {
				a->bad = i;
				goto out;
			}
			stopped[nstopped++] = t;
		}

		for (size_t k = 0; k < arch->nregsets; k++)
			if (arch->regsets[k].type == a->v[i].type)
				max = arch->regsets[k].max;
		if (!t || atomic_load(&t->state) == RT_DEAD) {
			rc = -ENOENT;
		} else if (atomic_load(&t->state) != RT_STOPPED) {
			rc = -EBUSY;
		} else if (!max || a->v[i].len > max) {
			rc = -EINVAL;
		} else {
			iov = (struct iovec){ buf, max };
			if (ptrace(PTRACE_GETREGSET, t->tid, (void *)(long)a->v[i].type, &iov) != 0)
				rc = errno == ESRCH ? -ENOENT : -EIO;
			else if (!(saved[i].data = malloc(iov.iov_len ? iov.iov_len : 1)))
				rc = -ENOMEM;
			else {
				memcpy(saved[i].data, buf, iov.iov_len);
				saved[i].len = iov.iov_len;
				saved[i].type = a->v[i].type;
			}
		}
		if (rc) {
			a->bad = i;
			goto out;
		}
	}
	for (; done < a->n; done++) {
		struct iovec iov = { (void *)(uintptr_t)(data + a->v[done].off), a->v[done].len };
		unsigned char *merged = NULL;
		int err;

		/* An XSAVE image of another size than the kernel's (gdb's cores,
		 * a machine with fewer features): fitted into the thread's own. */
		if (arch->xstate_regset && a->v[done].type == arch->xstate_regset &&
		    saved[done].len != a->v[done].len && (merged = malloc(saved[done].len)) &&
		    xstate_merge(saved[done].data, saved[done].len, iov.iov_base, iov.iov_len,
				 merged) == 0)
			iov = (struct iovec){ merged, saved[done].len };
		err = fault_hit("putsets") ? EINVAL :
		      ptrace(PTRACE_SETREGSET, a->v[done].tid, (void *)(long)a->v[done].type,
			     &iov) != 0 ? errno : 0;
		free(merged);

		if (err) {
			rc = err == ESRCH ? -ENOENT : -EINVAL;
			a->bad = done;
			break;
		}
	}
	while (rc && done--) {
		struct iovec iov = { saved[done].data, saved[done].len };

		ptrace(PTRACE_SETREGSET, a->v[done].tid, (void *)(long)a->v[done].type, &iov);
	}
	/* What the kernel kept (it may adjust a flag or a selector). */
	for (size_t i = 0; i < a->n; i++) {
		struct rthread *t = reader_find_thread(r, a->v[i].tid);
		bool again = true;

		for (size_t k = 0; k < i; k++)
			again &= a->v[k].tid != a->v[i].tid;
		if (t && again && atomic_load(&t->state) == RT_STOPPED)
			capture_regs(r, t, buf);
	}
out:
	for (size_t i = 0; i < nstopped; i++)
		let_go(r, stopped[i]);
	free(stopped);
	for (size_t i = 0; saved && i < a->n; i++)
		free(saved[i].data);
	free(saved);
	free(buf);
	return rc;
}

int ptrace_put_regsets(struct reader *r, const struct regset_put *v, size_t n,
		       const void *data, size_t datalen, size_t *bad)
{
	size_t head = sizeof(struct putsets_arg) + n * sizeof(*v);
	struct putsets_arg *a;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (v[i].off > datalen || v[i].len > datalen - v[i].off)
			return -EINVAL;
	a = malloc(head + datalen);
	if (!a)
		return -ENOMEM;
	a->n = n;
	a->bad = 0;
	memcpy(a->v, v, n * sizeof(*v));
	memcpy((unsigned char *)a + head, data, datalen);
	rc = tracer_call(r, putsets_fn, a, head + datalen, STOP_TIMEOUT_MS + 3000);
	if (bad)
		*bad = a->bad;
	free(a);
	return rc;
}
