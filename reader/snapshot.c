/*
 * -o snapshot: the target stops only as long as a fork() takes.
 *
 * The freeze is the ordinary attach (every thread seized and stopped, its
 * registers, maps and /proc files captured), then one clone() injected into
 * one stopped thread (reader/inject.c), that thread put back as it was, and
 * every thread detached. The clone is a copy-on-write copy of the target's
 * memory at that instant; it never runs target code. It stays ours (traced,
 * stopped, parked on exit_group) and `mem`, `core`, regions/, modules/ and
 * `stack` read it (mem_pid = the clone) for the life of the mount, while
 * registers, maps, /proc files and thread facts are the ones captured.
 *
 * The clone's flags: CLONE_FILES and exit signal 0, no CLONE_VM.
 *  - exit signal 0: the target gets no SIGCHLD for it, and its own
 *    wait(-1) keeps saying ECHILD (unless it passes __WALL);
 *  - CLONE_FILES: no descriptor table is copied during the freeze; after
 *    the target runs again the clone unshares and closes it (close_range
 *    with CLOSE_RANGE_UNSHARE), so it holds no pipe or socket open;
 *  - setsid(), so the target's process group (a ^C) does not reach it;
 *  - PTRACE_O_EXITKILL, so it dies with us; oom_score_adj 1000, so the
 *    OOM killer takes it before the target, which pays for the copies.
 * On release it is killed, waited for by us, and then reaped by its real
 * parent, the target: a wait4(pid, WNOHANG|__WALL) injected into one
 * thread, stopped for that one call.
 *
 * What a fork does not copy (issue 14), found in the target's smaps
 * just before the freeze and checked in the clone's after it (reading
 * smaps walks the page tables: too long for the freeze itself): a
 * MADV_DONTFORK range (VmFlags dc) is absent from
 * the clone and a MADV_WIPEONFORK one (wf) reads as zeros there, so
 * neither may be served from the clone. Up to UNCOPIED_MAX bytes of them
 * are copied from the stopped target into our memory and served from
 * there; a range that does not fit fails with EIO (never zeros), and
 * SEEK_DATA/SEEK_HOLE tell it as data either way. MAP_SHARED ranges are
 * served from the clone, which shares their pages with the target: they
 * are live memory. status names both (not_copied, shared_live lines).
 *
 * A failed injection (seccomp, RLIMIT_NPROC, no memory) refuses the mount:
 * the injecting thread is put back and every thread detached, as for any
 * refusal. Falling back to a suspended target would stop a process whose
 * user asked that it not be stopped. What /proc can tell beforehand is
 * refused before any stop (snapshot_prepare): a pending PID or time
 * namespace, no process slot (RLIMIT_NPROC, pids cgroup), strict
 * overcommit without room, seccomp without CAP_SYS_ADMIN, a userfaultfd.
 *
 * Faults: the clone has PTRACE_O_EXITKILL from its first stop, taken
 * during the freeze, so a daemon killed after the freeze leaves at most
 * its zombie in the target; the next run on the pid reaps such zombies
 * (snapshot_reap_leftovers) before it stops anything. A daemon killed
 * while a target thread carries an injected call would leave that thread
 * to run on with our registers; the net (arch/inject.h) makes it return
 * into rt_sigreturn and put itself back.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader/inject.h"
#include "reader/reader_int.h"
#include "reader/smaps.h"

#define CLONE_FILES_ 0x400
#define CLOSE_RANGE_UNSHARE_ 2
#define WALL_ 0x40000000	/* __WALL, as the target's wait4 takes it */
#define INJECT_TIMEOUT_MS 5000	/* a fork of a huge target, on a slow guest */
#define FREEZE_TIMEOUT_MS 10000	/* the whole freeze, without -o freeze_timeout */
#define SLOW_MS 1000		/* test builds: snap-slow, snap-slow-clone */
#define REAP_TRIES 50
#define UNCOPIED_MAX (1u << 20)	/* bytes of dc/wf ranges copied at the freeze */

/* A mapping a fork does not copy: its bytes as the freeze saw them, or none. */
struct uncopied {
	size_t idx;			/* in r->maps */
	uint64_t start, end;
	bool wipe;			/* wipeonfork, else dontfork */
	char *bytes;			/* NULL: reads fail with EIO */
};

struct snapshot {
	const struct arch_inject *abi;
	unsigned long seccomp_opt;	/* PTRACE_O_SUSPEND_SECCOMP, or 0 */
	uint64_t t0_ns, fork_ns;	/* CLOCK_MONOTONIC: freeze began; fork took */
	bool hold;			/* -o tree: fork_fn leaves the threads stopped (snapshot_let_go) */
	/* The freeze's deadline (now_ms), 0 once the target runs again; its
	 * length; and whether the last freeze ran past it and was undone. */
	uint64_t deadline_ms;
	unsigned timeout_ms;
	bool late;
	double freeze_ms, fork_ms;
	uint64_t insn[2];		/* syscall instructions in the target (inject.h), 0: look */
	uint64_t restorer;		/* the net's sigreturn (arch/inject.h), 0: no net */
	bool net;			/* the last freeze's clone() ran with the net laid */
	pid_t tid;			/* target thread the state files read (the old mem_pid) */
	/* The clone: our pid for it (atomic: the tracer clears it at a
	 * detach while status reads it), and the target's pid for it. */
	_Atomic pid_t clone;
	pid_t clone_ns;
	unsigned count;			/* snapshots taken */
	struct uncopied *unc;		/* ascending idx */
	size_t nunc;
	/*
	 * The target's smaps, read while it runs (scan_before): reading it
	 * walks every page table (25 ms for 4 GiB resident here), too long
	 * for the freeze. The clone's, read after, catches what changed in
	 * between (check_clone).
	 */
	struct smaps pre;
	bool have_pre, checked;
	char *notes;			/* status lines: not_copied, shared_live */
	/* ctl suspend: the target's threads we hold stopped (tracer only;
	 * nheld is read by status too, hence atomic). */
	pid_t *held;
	_Atomic size_t nheld;
};

/*
 * Both threads that work during the freeze (this one and the tracer) run
 * SCHED_FIFO for its length, where allowed: threads the target wakes (or
 * anything else on a busy machine) would otherwise preempt us between
 * the detaches and stretch the stop several times over.
 */
static void set_fifo(bool on)
{
	struct sched_param sp = { .sched_priority = on ? 10 : 0 };

	if (pthread_setschedparam(pthread_self(), on ? SCHED_FIFO : SCHED_OTHER, &sp))
		(void)0;	/* not permitted: the freeze is only less steady */
}

static int fifo_fn(struct reader *r, void *p)
{
	(void)r;
	set_fifo(*(bool *)p);
	return 0;
}

static void boost(struct reader *r, bool on)
{
	set_fifo(on);
	tracer_call(r, fifo_fn, &on, sizeof(on), 1000);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The freeze begins (at the mount, after the leftovers' reap, at a
 * refresh): its clock, and its deadline, -o freeze_timeout from now. The
 * attach (attach_all), the capture and the clone (fork_fn) all end by it;
 * past it, all is undone and the mount (or refresh) fails.
 */
static void freeze_begin(struct reader *r)
{
	struct snapshot *s = r->snap;

	s->timeout_ms = r->opts.freeze_timeout_ms ? r->opts.freeze_timeout_ms :
			r->opts.attach_timeout_ms ? r->opts.attach_timeout_ms : FREEZE_TIMEOUT_MS;
	s->t0_ns = mono_ns();
	s->deadline_ms = s->t0_ns / 1000000u + s->timeout_ms;
	s->late = false;
}

uint64_t snapshot_deadline(const struct reader *r)
{
	return r->snap ? r->snap->deadline_ms : 0;
}

bool snapshot_late(const struct reader *r, char *why, size_t whylen)
{
	const struct snapshot *s = r->snap;

	if (!s || !s->deadline_ms || now_ms() < s->deadline_ms)
		return false;
	snprintf(why, whylen, "-o snapshot: the freeze took longer than %u ms (freeze_timeout); the target runs on untouched",
		 s->timeout_ms);
	return true;
}

/* CAP_SYS_ADMIN (bit 21 of CapEff): needed to suspend a target's seccomp. */
static bool have_cap_sys_admin(void)
{
	char v[32];

	if (proc_status_field(getpid(), "CapEff", v, sizeof(v)))
		return false;
	return (strtoull(v, NULL, 16) >> 21) & 1;
}

/* A userfaultfd's fork event would wait on a monitor thread we stopped. */
static bool holds_userfaultfd(pid_t pid)
{
	char path[64], link[64];
	struct dirent *d;
	DIR *dir;
	bool yes = false;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	while (dir && !yes && (d = readdir(dir))) {
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%.20s", (int)pid, d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		yes = n > 0 && strstr((link[n] = 0, link), "userfaultfd") != NULL;
	}
	if (dir)
		closedir(dir);
	return yes;
}


/*
 * A namespace the target's next child would be born into, other than its
 * own (after unshare(CLONE_NEWPID) or unshare(CLONE_NEWTIME), before a
 * fork): our clone would take it. 0, or the namespace's name.
 */
static const char *pending_ns(pid_t pid)
{
	static const char *const kinds[] = { "pid", "time" };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char path[64], a[128] = "", b[128] = "";
		ssize_t na, nb;

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, kinds[k]);
		na = readlink(path, a, sizeof(a) - 1);
		if (na < 0 && errno == ENOENT)
			continue;	/* a kernel without this namespace */
		snprintf(path, sizeof(path), "/proc/%d/ns/%s_for_children", (int)pid, kinds[k]);
		nb = readlink(path, b, sizeof(b) - 1);
		if (na <= 0 || nb <= 0 || strcmp(a, b) != 0)
			return kinds[k];
	}
	return NULL;
}

/* One capability bit of a process's CapEff. */
static bool has_cap(pid_t pid, int bit)
{
	char v[32];

	return proc_status_field(pid, "CapEff", v, sizeof(v)) == 0 &&
	       ((strtoull(v, NULL, 16) >> bit) & 1);
}

/*
 * RLIMIT_NPROC of the target against the tasks its real uid has: the clone
 * counts as one more of them. Root and a CAP_SYS_RESOURCE/CAP_SYS_ADMIN
 * target are exempt, as the kernel's copy_process() has it. With fewer
 * than two slots left the clone would take the last one (the target's own
 * fork()s then fail while the snapshot is held): refused.
 */
static int nproc_room(pid_t pid, char *why, size_t whylen)
{
	char path[64], v[64], *text, *p;
	unsigned long long limit;
	unsigned uid, n = 0;
	struct dirent *d;
	size_t len;
	DIR *dir;

	if (proc_status_field(pid, "Uid", v, sizeof(v)) || sscanf(v, "%u", &uid) != 1)
		return 0;
	if (uid == 0 || has_cap(pid, 24) || has_cap(pid, 21))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	if (proc_read_file(path, &text, &len, 1 << 16))
		return 0;
	p = strstr(text, "Max processes");
	if (!p || sscanf(p + 13, "%llu", &limit) != 1) {
		free(text);
		return 0;	/* "unlimited" */
	}
	free(text);
	dir = opendir("/proc");
	while (dir && (d = readdir(dir))) {
		char t[32];
		unsigned u;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		if (proc_status_field(atoi(d->d_name), "Uid", v, sizeof(v)) == 0 &&
		    sscanf(v, "%u", &u) == 1 && u == uid &&
		    proc_status_field(atoi(d->d_name), "Threads", t, sizeof(t)) == 0)
			n += (unsigned)atoi(t);
	}
	if (dir)
		closedir(dir);
	if ((unsigned long long)n + 2 > limit) {
		snprintf(why, whylen, "uid %u has %u of its %llu processes (RLIMIT_NPROC of process %d): -o snapshot needs a spare one for its clone and one for the process; refused",
			 uid, n, limit, (int)pid);
		return -EAGAIN;
	}
	return 0;
}

/* A number in a one-line cgroup file; -1: "max", absent or unreadable. */
static long long cg_number(const char *dir, const char *file)
{
	char path[4200], *text;
	size_t len;
	long long v = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (proc_read_file(path, &text, &len, 4096) == 0) {
		if (text[0] >= '0' && text[0] <= '9')
			v = atoll(text);
		free(text);
	}
	return v;
}

/*
 * The pids controller of the target's cgroup and of every ancestor (v1
 * "pids" hierarchy, or v2): the clone is one more task in each. Refused
 * with fewer than two left in any of them, as for RLIMIT_NPROC.
 */
static int pids_room(pid_t pid, char *why, size_t whylen)
{
	char path[64], *text, *line, *save = NULL, dir[4096] = "";
	size_t len;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (proc_read_file(path, &text, &len, 1 << 16))
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;

		if (!cg)
			continue;
		*cg++ = 0;
		ctl++;
		if (strcmp(ctl, "pids") == 0 || (strstr(ctl, "pids") && strchr(ctl, ','))) {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s%s", ctl, cg);
			break;
		}
		if (ctl[0] == 0 && !dir[0])
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", cg);
	}
	free(text);
	/* From the target's cgroup up to the root (which has no pids.max). */
	while (dir[0] && rc == 0) {
		long long max = cg_number(dir, "pids.max"), cur = cg_number(dir, "pids.current");
		char *slash;

		if (max >= 0 && cur >= 0 && cur + 2 > max) {
			snprintf(why, whylen, "the pids cgroup %s holds %lld of its %lld tasks: -o snapshot needs a spare one for its clone and one for process %d; refused",
				 dir, cur, max, (int)pid);
			rc = -EAGAIN;
		}
		slash = strrchr(dir, '/');
		if (!slash || slash - dir <= (ptrdiff_t)strlen("/sys/fs/cgroup"))
			break;
		*slash = 0;
	}
	return rc;
}

/*
 * Strict overcommit (vm.overcommit_memory 2): the fork charges every
 * private writable mapping of the target again; refused without room for
 * it under CommitLimit - Committed_AS.
 */
static int commit_room(pid_t pid, char *why, size_t whylen)
{
	char path[64], *text, *p;
	unsigned long long need = 0, limit = 0, used = 0;
	size_t len;
	struct maps m = { 0 };

	if (proc_read_file("/proc/sys/vm/overcommit_memory", &text, &len, 64))
		return 0;
	p = text;
	if (atoi(p) != 2) {
		free(text);
		return 0;
	}
	free(text);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (proc_read_file(path, &text, &len, (size_t)1 << 30))
		return 0;
	if (maps_parse(text, len, &m) == 0)
		for (size_t i = 0; i < m.n; i++)
			if ((m.v[i].perms & PERM_W) && !(m.v[i].perms & PERM_SHARED))
				need += m.v[i].end - m.v[i].start;
	maps_free(&m);
	free(text);
	if (proc_read_file("/proc/meminfo", &text, &len, 1 << 16))
		return 0;
	if ((p = strstr(text, "CommitLimit:")))
		limit = strtoull(p + 12, NULL, 10) * 1024;
	if ((p = strstr(text, "Committed_AS:")))
		used = strtoull(p + 13, NULL, 10) * 1024;
	free(text);
	if (limit && (used > limit || limit - used < need)) {
		snprintf(why, whylen, "strict overcommit (vm.overcommit_memory 2): the clone of process %d would commit %llu MiB, %llu MiB are left; -o snapshot refused",
			 (int)pid, need >> 20, used > limit ? 0 : (limit - used) >> 20);
		return -ENOMEM;
	}
	return 0;
}

static int find_insn(const struct maps *maps, pid_t tid, const struct arch_inject *abi,
		     uint64_t at[2], uint64_t *restorer);

/*
 * The instructions the calls run at, looked for while the target runs (a
 * search of its text is too slow for the freeze: a tree's members would
 * each add theirs); fork_fn checks the bytes are still there.
 */
static void scan_before(struct reader *r);

static void find_insn_early(pid_t pid, struct snapshot *s)
{
	char path[64], *text;
	size_t len;
	struct maps m = { 0 };

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (proc_read_file(path, &text, &len, (size_t)1 << 30))
		return;
	if (maps_parse(text, len, &m) || find_insn(&m, pid, s->abi, s->insn, &s->restorer))
		s->insn[0] = s->insn[1] = s->restorer = 0;
	maps_free(&m);
	free(text);
}

/* len bytes of pat at addr in pid (or addr 0). */
static bool bytes_at(pid_t pid, uint64_t addr, const uint8_t *pat, size_t len)
{
	unsigned char got[16];
	struct iovec l = { got, len }, rem = { (void *)(uintptr_t)addr, len };

	return !addr || (len <= sizeof(got) && process_vm_readv(pid, &l, 1, &rem, 1, 0) == (ssize_t)len &&
			 memcmp(got, pat, len) == 0);
}

int snapshot_prepare(struct reader *r, char *why, size_t whylen)
{
	const struct arch_inject *abi = arch_inject_for(r->arch);
	struct snapshot *s;
	char v[64];
	const char *ns;
	bool seccomp;
	int rc;

	if (!abi) {
		snprintf(why, whylen, "-o snapshot is not supported for %s targets",
			 r->arch ? r->arch->name : "unknown");
		return -EOPNOTSUPP;
	}
	if (proc_status_field(r->pid, "State", v, sizeof(v)) == 0 && v[0] == 'T') {
		snprintf(why, whylen, "process %d is stopped (job control): -o snapshot needs it running; mount without it",
			 (int)r->pid);
		return -EINVAL;
	}
	seccomp = proc_status_field(r->pid, "Seccomp", v, sizeof(v)) == 0 && atoi(v) != 0;
	if (seccomp && !have_cap_sys_admin()) {
		snprintf(why, whylen, "process %d runs under seccomp, which may kill it for a clone(); -o snapshot needs CAP_SYS_ADMIN to suspend the filter",
			 (int)r->pid);
		return -EPERM;
	}
	/* After unshare(CLONE_NEWPID) and before a fork, our clone would
	 * become the new namespace's init, and the target could never fork;
	 * after unshare(CLONE_NEWTIME) it would take the new clocks' place. */
	if ((ns = pending_ns(r->pid))) {
		snprintf(why, whylen, "process %d has a %s namespace for children it has not forked into: -o snapshot would take it; refused",
			 (int)r->pid, ns);
		return -EINVAL;
	}
	if ((rc = nproc_room(r->pid, why, whylen)) || (rc = pids_room(r->pid, why, whylen)) ||
	    (rc = commit_room(r->pid, why, whylen)))
		return rc;
	if (holds_userfaultfd(r->pid)) {
		snprintf(why, whylen, "process %d holds a userfaultfd, whose fork event would wait on a stopped thread: -o snapshot refused",
			 (int)r->pid);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->abi = abi;
	s->seccomp_opt = seccomp ? PTRACE_O_SUSPEND_SECCOMP : 0;
	find_insn_early(r->pid, s);
	r->snap = s;
	scan_before(r);
	boost(r, true);		/* until snapshot_start ends */
	freeze_begin(r);
	return 0;
}

/* The NT_PRSTATUS captured for t at the freeze, or NULL. */
static const struct regset *prstatus(struct rthread *t)
{
	for (size_t k = 0; k < t->nsets; k++)
		if (t->sets[k].type == NT_PRSTATUS)
			return &t->sets[k];
	return NULL;
}

/*
 * The thread to inject into: stopped by us, not in a job-control stop, and
 * not inside an rseq critical section (the kernel would forget the abort
 * it owes it). One stopped in a system call cannot be in one: preferred.
 */
static struct rthread *pick_thread(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);
	struct rthread *fallback = NULL, *sleeper = NULL;

	for (size_t i = 0; i < n; i++) {
		struct rthread *t = &r->threads[i];
		const struct regset *rs;

		if (atomic_load(&t->state) != RT_STOPPED || t->group_stop_sig || !(rs = prstatus(t)))
			continue;
		/* In a sleep the net could not resume (see inject.h): last. */
		if (inject_in_restart_block(r->snap->abi, rs->data, rs->len)) {
			if (!sleeper)
				sleeper = t;
			continue;
		}
		if (inject_in_syscall(r->snap->abi, rs->data, rs->len))
			return t;
		if (!fallback && !inject_in_rseq_cs(t->tid, r->snap->abi, rs->data, rs->len))
			fallback = t;
	}
	return fallback ? fallback : sleeper;
}

/*
 * Two copies of the instruction a call runs at, already mapped executable,
 * [vdso] first, then any mapping (the second 0 if there is only one).
 * Where the arch has a net and restorer is not NULL, the copies are of
 * abi->net_insn and *restorer the address of abi->restorer; where either
 * is missing, of the plain instruction, and *restorer 0. 0, or -ENOENT.
 */
static int find_insn(const struct maps *maps, pid_t tid, const struct arch_inject *abi,
		     uint64_t at[2], uint64_t *restorer)
{
	size_t cap = 1 << 20, n = 0, nn = 0;
	unsigned char *buf = malloc(cap);
	uint64_t net[2] = { 0, 0 }, rest = 0;
	bool want = abi->net_build && restorer;

	at[0] = at[1] = 0;
	for (int pass = 0; pass < 2 && buf && (n < 2 || (want && (nn < 2 || !rest))); pass++)
		for (size_t i = 0; i < maps->n && (n < 2 || (want && (nn < 2 || !rest))); i++) {
			const struct map_entry *e = &maps->v[i];
			uint64_t len = e->end - e->start;
			struct iovec l = { buf, len < cap ? len : cap };
			struct iovec rem = { (void *)(uintptr_t)e->start, l.iov_len };
			ssize_t got;
			int k;

			if (!(e->perms & PERM_X) || !(e->perms & PERM_R) ||
			    (pass == 0) != (strcmp(e->path, "[vdso]") == 0))
				continue;
			got = process_vm_readv(tid, &l, 1, &rem, 1, 0);
			if (got <= 0)
				continue;
			if (n < 2 && (k = inject_find_insn(abi, buf, (size_t)got, e->start,
							   at + n, 2 - n)) > 0)
				n += (size_t)k;
			if (want && nn < 2 &&
			    (k = inject_find_bytes(abi->net_insn, abi->net_insn_len, abi->insn_align,
						   buf, (size_t)got, e->start, net + nn, 2 - nn)) > 0)
				nn += (size_t)k;
			if (want && !rest &&
			    inject_find_bytes(abi->restorer, abi->restorer_len, abi->insn_align, buf,
					      (size_t)got, e->start, &rest, 1) < 0)
				(void)inject_find_bytes(abi->restorer_alt, abi->restorer_alt_len,
							abi->insn_align, buf, (size_t)got, e->start,
							&rest, 1);
		}
	free(buf);
	if (restorer)
		*restorer = 0;
	if (want && nn && rest) {
		at[0] = net[0];
		at[1] = net[1];
		*restorer = rest;
	}
	return n ? 0 : -ENOENT;
}

struct fork_arg {
	char why[256];
};

/*
 * The pid of child in the target's pid namespace: the last entry of its
 * NSpid at the target's depth (the same namespace: a pending one is
 * refused). 0 if unknown.
 */
static pid_t ns_pid_of(pid_t target, pid_t child)
{
	char v[256], *save;
	int depth = 0, k = 0;
	pid_t out = 0;

	if (proc_status_field(target, "NSpid", v, sizeof(v)))
		return child;	/* a kernel without NSpid: one namespace */
	for (char *p = strtok_r(v, " \t", &save); p; p = strtok_r(NULL, " \t", &save))
		depth++;
	if (proc_status_field(child, "NSpid", v, sizeof(v)))
		return 0;
	for (char *p = strtok_r(v, " \t", &save); p; p = strtok_r(NULL, " \t", &save))
		if (++k == depth)
			out = (pid_t)atoi(p);
	return out;
}

/*
 * wait4(ns_pid, WNOHANG|__WALL) injected into tid, a thread of the target
 * that we trace and that is in a ptrace stop: the zombie of our clone is
 * the target's child, and only the target can reap it. true once reaped
 * (or reaped already: ECHILD).
 */
static bool reap_via(struct reader *r, pid_t tid, pid_t ns_pid, const uint64_t insn[2],
		     unsigned long opts_after, uint64_t deadline)
{
	struct snapshot *s = r->snap;
	struct inject in;
	bool done = false;

	if (ns_pid <= 0 || inject_begin(&in, r->pid, tid, s->abi, insn,
					PTRACE_O_TRACESYSGOOD | s->seccomp_opt, opts_after,
					deadline))
		return false;
	if (s->restorer)
		(void)inject_net(&in, s->restorer);	/* without: as before */
	for (int k = 0; k < REAP_TRIES && !done; k++) {
		uint64_t args[6] = { (uint64_t)ns_pid, 0, 1 /* WNOHANG */ | WALL_, 0 };
		int64_t ret = 0;
		pid_t child;

		if (inject_call(&in, s->abi->nr_wait4, args, &ret, &child))
			break;
		done = ret == ns_pid || ret == -ECHILD;
		if (!done)
			usleep(1000);
	}
	if (inject_end(&in))
		done = false;
	return done;
}

/*
 * The clone's first stop, and PTRACE_O_EXITKILL on it at once: from here
 * on it dies with us, before it can run a single instruction of the
 * target's code. Done during the freeze, the target's thread still ours.
 */
static int adopt_clone(struct snapshot *s, pid_t child, uint64_t deadline)
{
	unsigned long opts = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | s->seccomp_opt;
	int st, rc = inject_wait(child, &st, deadline);

	if (rc == 0 && !WIFSTOPPED(st))
		rc = -ESRCH;
	if (rc == 0 && ptrace(PTRACE_SETOPTIONS, child, 0, (void *)opts) < 0)
		rc = -errno;
	return rc;
}

/*
 * On the tracer, every thread stopped: clone() in one thread, that thread
 * back as it was, every thread let go. This is the end of the freeze.
 * A failure at any step after the clone exists kills it and reaps it in
 * the same (still stopped) thread: a refused mount leaves no child.
 */
static int fork_fn(struct reader *r, void *p)
{
	struct fork_arg *fa = p;
	struct snapshot *s = r->snap;
	struct rthread *t = pick_thread(r);
	struct inject in;
	uint64_t args[6] = { CLONE_FILES_ }, t1, deadline = now_ms() + INJECT_TIMEOUT_MS;
	int64_t ret = 0;
	pid_t child = 0;
	int rc, rc2, rc3 = 0;

	/* The freeze's deadline ends this step too. */
	if (s->deadline_ms && s->deadline_ms < deadline)
		deadline = s->deadline_ms;

	if (!t) {
		snprintf(fa->why, sizeof(fa->why), "no thread to inject into (all job-stopped or in rseq critical sections)");
		return -EAGAIN;
	}
	/* Found before the freeze: still mapped as they were (a library
	 * unloaded since would leave a pc to fault on), else looked for again. */
	if (s->insn[0] && !(s->restorer ?
			    bytes_at(t->tid, s->insn[0], s->abi->net_insn, s->abi->net_insn_len) &&
			    bytes_at(t->tid, s->insn[1], s->abi->net_insn, s->abi->net_insn_len) &&
			    (bytes_at(t->tid, s->restorer, s->abi->restorer, s->abi->restorer_len) ||
			     (s->abi->restorer_alt_len &&
			      bytes_at(t->tid, s->restorer, s->abi->restorer_alt,
				       s->abi->restorer_alt_len))) :
			    bytes_at(t->tid, s->insn[0], s->abi->insn, s->abi->insn_len) &&
			    bytes_at(t->tid, s->insn[1], s->abi->insn, s->abi->insn_len)))
		s->insn[0] = 0;
	if (!s->insn[0] && find_insn(&r->maps, t->tid, s->abi, s->insn, &s->restorer)) {
		snprintf(fa->why, sizeof(fa->why), "no system call instruction mapped in the process");
		return -ENOEXEC;
	}
	if (fault_hit("snap-clone-before")) {
		snprintf(fa->why, sizeof(fa->why), "clone() in thread %d: injected fault", (int)t->tid);
		return -EIO;
	}
	if (now_ms() >= deadline) {	/* (finding the instruction took it all) */
		s->late = s->deadline_ms && now_ms() >= s->deadline_ms;
		snprintf(fa->why, sizeof(fa->why), "clone() in thread %d: %s", (int)t->tid,
			 strerror(ETIMEDOUT));
		return -ETIMEDOUT;
	}
	rc = inject_begin(&in, r->pid, t->tid, s->abi, s->insn,
			  PTRACE_O_TRACECLONE | PTRACE_O_TRACESYSGOOD | s->seccomp_opt,
			  PTRACE_O_TRACECLONE, deadline);
	if (rc) {
		snprintf(fa->why, sizeof(fa->why), "cannot set up thread %d: %s", (int)t->tid, strerror(-rc));
		return rc;
	}
	/* From here until inject_end, a SIGKILL of ours leaves the thread
	 * to put itself back (the net); without one it would run on with the
	 * call's registers. The clone gets the net's exit frame as its stack. */
	s->net = s->restorer && inject_net(&in, s->restorer) == 0;
	if (s->net)
		args[1] = in.net_child_sp;
	/* Test builds: the call starts past a small freeze_timeout. */
	if (fault_hit("snap-slow-clone"))
		usleep(SLOW_MS * 1000);
	t1 = mono_ns();
	rc = inject_call(&in, s->abi->nr_clone, args, &ret, &child);
	s->fork_ns = mono_ns() - t1;
	/* From here on, undoing: waits get time of their own, past any deadline. */
	in.deadline_ms = now_ms() + INJECT_TIMEOUT_MS;
	if (rc == -ETIMEDOUT)
		(void)inject_finish(&in, &ret, &child);	/* rc stays: undone below */
	if (child > 0)
		rc3 = adopt_clone(s, child, rc ? in.deadline_ms : deadline);
	/* The clone's copy of the stack as the target's was: it never needs the
	 * net (EXITKILL), and mem serves those bytes. */
	if (child > 0 && rc3 == 0)
		(void)inject_net_wipe(&in, child);
	if (rc == 0 && fault_hit("snap-clone-after"))
		rc = -EIO;
	rc2 = inject_end(&in);	/* (fault point snap-restore in it) */
	/* Made only if the kernel reported the new task and clone() returned its pid. */
	if (rc == 0 && (child <= 0 || ret <= 0))
		rc = ret < 0 ? (int)ret : -EIO;
	rc = rc ?: rc3;
	/* Past the freeze's deadline (the thread put back late, say): undone too. */
	if (rc == 0 && s->deadline_ms && now_ms() >= s->deadline_ms)
		rc = -ETIMEDOUT;
	/* The freeze's deadline, and all put back: snapshot_start says so. */
	s->late = rc == -ETIMEDOUT && !rc2 && s->deadline_ms && now_ms() >= s->deadline_ms;
	if (rc || rc2) {
		if (child > 0) {
			pid_t ns = rc == 0 || ret > 0 ? (pid_t)ret : ns_pid_of(r->pid, child);
			int st;

			kill(child, SIGKILL);
			while (inject_wait(child, &st, now_ms() + 1000) == 0 && WIFSTOPPED(st))
				;
			/* In the same thread, still ours and stopped; a zombie
			 * left is not "untouched" (the next run reaps it). */
			if (!reap_via(r, t->tid, ns, s->insn, PTRACE_O_TRACECLONE, now_ms() + 1000))
				s->late = false;
		}
		snprintf(fa->why, sizeof(fa->why), "clone() in thread %d: %s%s", (int)t->tid,
			 strerror(-(rc ? rc : rc2)),
			 rc2 ? " (and the thread could not be put back)" : "");
		return rc ? rc : rc2;
	}
	s->clone = child;
	s->clone_ns = (pid_t)ret;
	if (!s->hold)
		snapshot_let_go(r);
	return 0;
}

void snapshot_let_go(struct reader *r)
{
	struct snapshot *s = r->snap;
	size_t n = atomic_load(&r->nthreads);

	/* A thread in a job-control stop stays in it. */
	for (size_t i = 0; i < n; i++)
		if (atomic_load(&r->threads[i].state) == RT_STOPPED) {
			ptrace(PTRACE_DETACH, r->threads[i].tid, 0, 0);
			atomic_store(&r->threads[i].state, RT_FROZEN);
		}
	s->freeze_ms = (double)(mono_ns() - s->t0_ns) / 1e6;
	s->fork_ms = (double)s->fork_ns / 1e6;
	s->deadline_ms = 0;	/* the freeze is over */
}

/*
 * On the tracer, the target running again: the clone (stopped since its
 * first stop, EXITKILL set) gets its descriptors closed, its own session,
 * and is parked inert.
 */
static int clone_fn(struct reader *r, void *p)
{
	struct fork_arg *fa = p;
	struct snapshot *s = r->snap;
	uint64_t close_args[6] = { 0, ~0U, CLOSE_RANGE_UNSHARE_ }, none[6] = { 0 };
	unsigned long opts = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | s->seccomp_opt;
	struct inject in;
	int64_t ret;
	pid_t child;
	int rc = 0;

	if (fault_hit("snap-setup"))
		rc = -EIO;
	rc = rc ?: inject_begin(&in, s->clone, s->clone, s->abi, s->insn, opts, opts,
				now_ms() + INJECT_TIMEOUT_MS);
	rc = rc ?: inject_call(&in, s->abi->nr_close_range, close_args, &ret, &child);
	if (rc == 0 && ret < 0)
		rc = (int)ret;
	rc = rc ?: inject_call(&in, s->abi->nr_setsid, none, &ret, &child);
	rc = rc ?: inject_park(&in, s->abi->nr_exit_group, none);
	if (rc)
		snprintf(fa->why, sizeof(fa->why), "cannot set up the clone %d: %s", (int)s->clone,
			 strerror(-rc));
	return rc;
}

/* /proc/PID/task/TID/{stat,syscall} of every thread, while it is stopped. */
static void capture_infos(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);

	for (size_t i = 0; i < n; i++) {
		struct rthread *t = &r->threads[i];

		if (atomic_load(&t->state) != RT_STOPPED)
			continue;
		pthread_mutex_lock(&t->sets_mu);
		snapshot_thread_info(r, t);
		pthread_mutex_unlock(&t->sets_mu);
	}
}

/* mem reads the clone from now on; the state files still the target. */
static void read_clone(struct reader *r)
{
	char path[64];
	int fd;

	r->snap->tid = r->mem_pid;
	r->mem_pid = r->snap->clone;
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	if (r->pagemap_fd >= 0)
		close(r->pagemap_fd);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)r->mem_pid);
	r->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)r->mem_pid);
	r->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	mem_cache_free(r);
	/* The OOM killer's victim, should the copies run the cgroup out. */
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)r->mem_pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1000", 4) < 0)
			(void)0;	/* only a preference */
		close(fd);
	}
}

static void forget_uncopied(struct snapshot *s)
{
	for (size_t i = 0; i < s->nunc; i++)
		free(s->unc[i].bytes);
	free(s->unc);
	free(s->notes);
	s->unc = NULL;
	s->nunc = 0;
	s->notes = NULL;
}

/* The target's smaps, before a freeze (see struct snapshot's pre). */
static void scan_before(struct reader *r)
{
	struct snapshot *s = r->snap;
	char path[64], *text = NULL;
	size_t len;

	smaps_free(&s->pre);
	s->have_pre = false;
	/* Test builds: snap-scan sees nothing, as if every mapping changed
	 * between this scan and the freeze (check_clone must find them). */
	if (fault_hit("snap-scan"))
		return;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)r->pid);
	if (proc_read_file(path, &text, &len, (size_t)1 << 30) == 0) {
		s->have_pre = smaps_parse(text, len, &s->pre) == 0;
		free(text);
	}
}

/* Mapping idx as not copied by the fork; copied now if copy and small enough. */
static void add_uncopied(struct reader *r, size_t idx, bool wipe, bool copy, size_t *budget)
{
	struct snapshot *s = r->snap;
	const struct map_entry *e = &r->maps.v[idx];
	struct uncopied u = { idx, e->start, e->end, wipe, NULL }, *nv;
	uint64_t n = e->end - e->start;

	if (copy && map_is_data(e) && n <= *budget && (u.bytes = malloc(n ? n : 1))) {
		if (ptrace_mem_read(r, idx, u.bytes, n, e->start) == 0) {
			*budget -= n;
		} else {
			free(u.bytes);
			u.bytes = NULL;
		}
	}
	nv = realloc(s->unc, (s->nunc + 1) * sizeof(*nv));
	if (!nv) {
		free(u.bytes);
		return;
	}
	s->unc = nv;
	s->unc[s->nunc++] = u;
}

/*
 * During the freeze, mem_pid still a thread of the target: the dc and wf
 * ranges smaps showed before it, the small ones copied (ptrace_mem_read:
 * holes stay holes, nothing is faulted in). A range whose mapping changed
 * since is left to check_clone.
 */
static void find_uncopied(struct reader *r)
{
	struct snapshot *s = r->snap;
	size_t budget = UNCOPIED_MAX;

	forget_uncopied(s);
	s->checked = false;
	for (size_t i = 0; i < r->maps.n; i++) {
		const struct map_entry *e = &r->maps.v[i];
		const struct smaps_entry *se = s->have_pre ? smaps_find(&s->pre, e->start, e->end) : NULL;
		unsigned fl = se && se->has_vmflags ? se->vmflags : 0;

		if (fl & (VMF_DC | VMF_WF))	/* dc wins: the range is not in the clone at all */
			add_uncopied(r, i, !(fl & VMF_DC), true, &budget);
	}
}

static int by_idx(const void *a, const void *b)
{
	const struct uncopied *x = a, *y = b;

	return (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * After the freeze, mem_pid the clone: what the fork really did not copy,
 * from the clone's smaps (a mapping of the freeze absent there was
 * dontfork; one flagged wf there, wipeonfork). One that changed between
 * scan_before and the freeze was not copied: it reads EIO, never zeros.
 */
static void check_clone(struct reader *r)
{
	struct snapshot *s = r->snap;
	struct smaps cl = { 0 };
	char path[64], *text = NULL;
	size_t len, budget = 0, k = 0;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)r->mem_pid);
	if (proc_read_file(path, &text, &len, (size_t)1 << 30) == 0) {
		s->checked = smaps_parse(text, len, &cl) == 0;
		free(text);
	}
	for (size_t i = 0; s->checked && i < r->maps.n; i++) {
		const struct map_entry *e = &r->maps.v[i];
		const struct smaps_entry *se = smaps_find(&cl, e->start, e->end);
		unsigned fl = !se ? VMF_DC : se->has_vmflags ? se->vmflags : 0;
		bool known = false;

		while (k < s->nunc && s->unc[k].idx < i)
			k++;
		known = k < s->nunc && s->unc[k].idx == i;
		if ((fl & (VMF_DC | VMF_WF)) && !known)
			add_uncopied(r, i, !(fl & VMF_DC), false, &budget);
	}
	smaps_free(&cl);
	if (s->nunc > 1)
		qsort(s->unc, s->nunc, sizeof(*s->unc), by_idx);
}

/* status's not_copied and shared_live lines. */
static void write_notes(struct reader *r)
{
	struct snapshot *s = r->snap;
	char *notes = NULL;
	size_t nlen = 0, k = 0;
	FILE *f = open_memstream(&notes, &nlen);

	if (!f)
		return;
	if (!s->have_pre && !s->checked)
		fprintf(f, "not_copied unknown (smaps unreadable: dontfork/wipeonfork ranges may read as zeros)\n");
	for (size_t i = 0; i < r->maps.n; i++) {
		const struct map_entry *e = &r->maps.v[i];

		while (k < s->nunc && s->unc[k].idx < i)
			k++;
		if (k < s->nunc && s->unc[k].idx == i)
			fprintf(f, "not_copied %llx-%llx %s %s\n", (unsigned long long)e->start,
				(unsigned long long)e->end, s->unc[k].wipe ? "wipeonfork" : "dontfork",
				s->unc[k].bytes ? "copied" : "eio");
		else if (e->perms & PERM_SHARED)
			fprintf(f, "shared_live %llx-%llx %s\n", (unsigned long long)e->start,
				(unsigned long long)e->end, e->path[0] ? e->path : "[anon]");
	}
	free(s->notes);
	s->notes = NULL;
	if (fclose(f) == 0)
		s->notes = notes;
	else
		free(notes);
}

int snapshot_uncopied(const struct reader *r, size_t idx, const char **bytes)
{
	const struct snapshot *s = r->snap;
	size_t lo = 0, hi = s ? s->nunc : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct uncopied *u = &s->unc[mid];

		if (u->idx < idx) {
			lo = mid + 1;
		} else if (u->idx > idx) {
			hi = mid;
		} else {
			if (idx >= r->maps.n || r->maps.v[idx].start != u->start ||
			    r->maps.v[idx].end != u->end)
				return 0;
			if (bytes)
				*bytes = u->bytes;
			return u->bytes ? 1 : -EIO;
		}
	}
	return 0;
}

/*
 * The clone made, every thread still stopped if hold (-o tree: the caller
 * lets every member go at once, snapshot_let_go), else let go.
 */
int snapshot_fork(struct reader *r, bool hold, char *why, size_t whylen)
{
	struct snapshot *s = r->snap;
	struct fork_arg fa = { "" };
	int rc = 0;

	/* Test builds: a freeze slow on purpose, past a small freeze_timeout. */
	if (fault_hit("snap-slow"))
		usleep(SLOW_MS * 1000);
	capture_infos(r);
	find_uncopied(r);
	/* Between the steps: past the freeze's deadline, no clone is tried
	 * (the caller detaches every thread). */
	if (s->deadline_ms && now_ms() >= s->deadline_ms) {
		s->late = true;
		rc = -ETIMEDOUT;
	}
	s->hold = hold;
	/* fork_fn ends by the deadline; undoing a late clone may take longer. */
	rc = rc ?: tracer_call(r, fork_fn, &fa, sizeof(fa), 4 * INJECT_TIMEOUT_MS + 4000);
	s->hold = false;
	if (!hold)
		boost(r, false);
	if (rc && !(rc == -ETIMEDOUT && s->late && snapshot_late(r, why, whylen)))
		snprintf(why, whylen, "-o snapshot: %s", fa.why[0] ? fa.why : strerror(-rc));
	if (rc)
		s->deadline_ms = 0;	/* (the caller detaches every thread) */
	return rc;
}

/* The target running again: the clone set up, and read from now on. */
int snapshot_finish(struct reader *r, char *why, size_t whylen)
{
	struct fork_arg fa = { "" };
	int rc = tracer_call(r, clone_fn, &fa, sizeof(fa), INJECT_TIMEOUT_MS + 2000);

	r->snap->deadline_ms = 0;	/* the target runs again */
	if (rc) {
		snprintf(why, whylen, "-o snapshot: %s", fa.why[0] ? fa.why : strerror(-rc));
		return rc;
	}
	read_clone(r);
	check_clone(r);
	write_notes(r);
	r->snap->count++;
	return 0;
}

int snapshot_start(struct reader *r, char *why, size_t whylen)
{
	return snapshot_fork(r, false, why, whylen) ?: snapshot_finish(r, why, whylen);
}

/* A member of -o tree, frozen with the root: the root's clock and deadline. */
void snapshot_join(struct reader *r, const struct reader *root)
{
	if (r->snap && root->snap) {
		r->snap->t0_ns = root->snap->t0_ns;
		r->snap->deadline_ms = root->snap->deadline_ms;
		r->snap->timeout_ms = root->snap->timeout_ms;
	}
}

/* -o tree: the freeze's SCHED_FIFO ends (snapshot_prepare began it). */
void snapshot_unboost(struct reader *r)
{
	boost(r, false);
}

/*
 * wait4(ns_pid, WNOHANG|__WALL) injected into one thread of the running
 * target, stopped for that one call: the zombie of our clone is its
 * child, and only it can reap it. true once reaped (or gone).
 */
static bool reap_in_target(struct reader *r, pid_t ns_pid)
{
	pid_t *tids;
	size_t n;
	bool done = false;

	if (fault_hit("snap-reap"))
		return false;	/* the next run on this pid reaps it */
	if (proc_list_tasks(r->pid, &tids, &n))
		return true;	/* gone: init (or a subreaper) reaps it */
	for (size_t i = 0; i < n && !done; i++) {
		uint64_t deadline = now_ms() + 1000;
		unsigned char regs[INJECT_REGS_MAX];
		struct iovec iov = { regs, sizeof(regs) };
		int st, rc;

		if (ptrace(PTRACE_SEIZE, tids[i], 0, (void *)(long)PTRACE_O_TRACESYSGOOD) < 0)
			continue;
		ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
		/* Signals on their way are delivered; the interrupt traps after. */
		while ((rc = inject_wait(tids[i], &st, deadline)) == 0 && WIFSTOPPED(st) &&
		       st >> 16 != PTRACE_EVENT_STOP)
			ptrace(PTRACE_CONT, tids[i], 0, (void *)(long)WSTOPSIG(st));
		if (rc || !WIFSTOPPED(st)) {
			ptrace(PTRACE_DETACH, tids[i], 0, 0);
			continue;
		}
		if (ptrace(PTRACE_GETREGSET, tids[i], (void *)NT_PRSTATUS, &iov) == 0 &&
		    !inject_in_rseq_cs(tids[i], r->snap->abi, regs, iov.iov_len))
			done = reap_via(r, tids[i], ns_pid, r->snap->insn, 0, deadline);
		ptrace(PTRACE_DETACH, tids[i], 0, 0);
	}
	free(tids);
	return done;
}

/*
 * A child of pid that a killed ptracefs left: a zombie (it died with its
 * tracer: EXITKILL) whose exit signal is 0 (/proc stat field 38), which is
 * how our clones are made. A program's own clone(exit_signal 0) children
 * look the same once dead: one that waits for them only with __WALL or
 * __WCLONE would find this one gone (ptracefs(1) says so).
 */
/* Is child (a pid) a zombie child of pid with exit signal 0? */
static bool leftover(pid_t pid, pid_t child)
{
	char path[64], *text, *p, *save;
	size_t len;
	int field = 2;
	long ppid = -1, exit_sig = -1;
	char state = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)child);
	if (proc_read_file(path, &text, &len, 4096))
		return false;
	p = strrchr(text, ')');
	/* fields after the comm: 3 state, 4 ppid, ..., 38 exit_signal */
	for (char *f = p ? strtok_r(p + 1, " ", &save) : NULL; f;
	     f = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 3)
			state = f[0];
		else if (field == 4)
			ppid = atol(f);
		else if (field == 38) {
			exit_sig = atol(f);
			break;
		}
	}
	free(text);
	return state == 'Z' && ppid == pid && exit_sig == 0;
}

static size_t leftovers(pid_t pid, pid_t *out, size_t cap)
{
	struct dirent *d;
	pid_t *tids;
	size_t n = 0, nt;
	DIR *dir;

	/* Each thread's children (CONFIG_PROC_CHILDREN), else all of /proc. */
	if (proc_list_tasks(pid, &tids, &nt) == 0) {
		bool have = true;

		for (size_t i = 0; i < nt && have; i++) {
			char path[96], *text, *save;
			size_t len;

			snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tids[i]);
			if (proc_read_file(path, &text, &len, 1 << 20)) {
				have = i > 0;	/* absent: no such file; a thread gone */
				continue;
			}
			for (char *f = strtok_r(text, " \n", &save); f && n < cap;
			     f = strtok_r(NULL, " \n", &save))
				if (leftover(pid, (pid_t)atoi(f)))
					out[n++] = (pid_t)atoi(f);
			free(text);
		}
		free(tids);
		if (have)
			return n;
		n = 0;
	}
	dir = opendir("/proc");
	while (dir && n < cap && (d = readdir(dir)))
		if (d->d_name[0] >= '1' && d->d_name[0] <= '9' &&
		    leftover(pid, (pid_t)atoi(d->d_name)))
			out[n++] = (pid_t)atoi(d->d_name);
	if (dir)
		closedir(dir);
	return n;
}

/*
 * On the tracer, before any thread is seized: the zombies of clones that a
 * killed ptracefs left in the target (see leftovers) reaped by an injected
 * wait4, as an unmount reaps them. Needs what an injection needs (an
 * architecture row, a syscall instruction, the seccomp rule of
 * snapshot_prepare); without it they stay, as they were.
 */
static int reap_leftovers_fn(struct reader *r, void *p)
{
	struct snapshot tmp = { 0 }, *keep = r->snap;	/* (-o snapshot's, or NULL) */
	pid_t found[16], ns[16];
	size_t n = leftovers(r->pid, found, 16);
	char path[64], *text;
	size_t len;
	bool seccomp;
	char v[32];
	struct maps m = { 0 };
	int *reaped = p;

	if (n == 0)
		return 0;
	tmp.abi = arch_inject_for(r->arch);
	seccomp = proc_status_field(r->pid, "Seccomp", v, sizeof(v)) == 0 && atoi(v) != 0;
	if (!tmp.abi || (seccomp && !have_cap_sys_admin()))
		return 0;
	tmp.seccomp_opt = seccomp ? PTRACE_O_SUSPEND_SECCOMP : 0;
	for (size_t i = 0; i < n; i++)
		ns[i] = ns_pid_of(r->pid, found[i]);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)r->pid);
	if (proc_read_file(path, &text, &len, (size_t)1 << 30))
		return 0;
	if (maps_parse(text, len, &m) == 0 &&
	    find_insn(&m, r->pid, tmp.abi, tmp.insn, &tmp.restorer) == 0) {
		r->snap = &tmp;
		for (size_t i = 0; i < n; i++)
			if (ns[i] > 0 && reap_in_target(r, ns[i]))
				++*reaped;
		r->snap = keep;
	}
	maps_free(&m);
	free(text);
	return 0;
}

int snapshot_reap_leftovers(struct reader *r)
{
	int reaped = 0;

	tracer_call(r, reap_leftovers_fn, &reaped, sizeof(reaped), 20000);
	if (r->snap)	/* -o snapshot: the freeze starts now, not before the reap */
		freeze_begin(r);
	return reaped;
}

/*
 * ctl suspend, -o snapshot: every thread of the running target stopped
 * (seized and interrupted, in passes over /proc/PID/task until one finds
 * no new thread), and held so until resume. The tree stays the snapshot:
 * these stops change no file of it (threads/ is the snapshot's threads).
 * A signal on its way is delivered first; a job-control stop stays one.
 */
static int hold_fn(struct reader *r, void *p)
{
	struct snapshot *s = r->snap;
	size_t n = atomic_load(&s->nheld);
	bool added = true;

	(void)p;
	for (int pass = 0; added && pass < 64; pass++) {
		pid_t *tids;
		size_t nt;

		added = false;
		if (proc_list_tasks(r->pid, &tids, &nt))
			break;
		for (size_t i = 0; i < nt; i++) {
			uint64_t deadline = now_ms() + 2000;
			bool known = false;
			pid_t *nv;
			int st, rc;

			for (size_t k = 0; k < n && !known; k++)
				known = s->held[k] == tids[i];
			if (known || ptrace(PTRACE_SEIZE, tids[i], 0, 0) < 0)
				continue;
			ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
			while ((rc = inject_wait(tids[i], &st, deadline)) == 0 && WIFSTOPPED(st) &&
			       st >> 16 != PTRACE_EVENT_STOP)
				ptrace(PTRACE_CONT, tids[i], 0, (void *)(long)WSTOPSIG(st));
			if (rc == 0 && !WIFSTOPPED(st))
				continue;	/* exited meanwhile */
			nv = realloc(s->held, (n + 1) * sizeof(*nv));
			if (!nv) {
				ptrace(PTRACE_DETACH, tids[i], 0, 0);
				continue;
			}
			s->held = nv;
			s->held[n++] = tids[i];
			atomic_store(&s->nheld, n);
			added = true;
		}
		free(tids);
	}
	return 0;
}

/* ctl resume (and unmount, and refresh): the held threads let go. */
static void unhold(struct snapshot *s)
{
	size_t n = atomic_load(&s->nheld);

	for (size_t i = 0; i < n; i++) {
		int st;

		if (ptrace(PTRACE_DETACH, s->held[i], 0, 0) < 0)
			waitpid(s->held[i], &st, __WALL | WNOHANG);	/* died held */
	}
	free(s->held);
	s->held = NULL;
	atomic_store(&s->nheld, 0);
}

static int unhold_fn(struct reader *r, void *p)
{
	(void)p;
	unhold(r->snap);
	return 0;
}

int snapshot_suspend(struct reader *r)
{
	int rc;

	if (reader_gone(r))
		return -ESRCH;
	pthread_rwlock_wrlock(&r->snap_lock);
	rc = tracer_call(r, hold_fn, NULL, 0, 20000);
	pthread_rwlock_unlock(&r->snap_lock);
	return rc;
}

int snapshot_resume(struct reader *r)
{
	int rc;

	pthread_rwlock_wrlock(&r->snap_lock);
	rc = tracer_call(r, unhold_fn, NULL, 0, 5000);
	pthread_rwlock_unlock(&r->snap_lock);
	return rc;
}

/* On the tracer (detach_all): the clone killed and reaped, the threads let go. */
void snapshot_release(struct reader *r)
{
	struct snapshot *s = r->snap;
	size_t n;

	if (!s)
		return;
	unhold(s);	/* (the reap seizes a thread of its own) */
	if (s->clone > 0) {
		uint64_t deadline = now_ms() + 2000;
		int st;

		kill(s->clone, SIGKILL);
		while (inject_wait(s->clone, &st, deadline) == 0 && WIFSTOPPED(st))
			;	/* a stop that raced with the kill: the kill follows */
		s->clone = 0;
		(void)reap_in_target(r, s->clone_ns);
	}
	n = atomic_load(&r->nthreads);
	for (size_t i = 0; i < n; i++)
		if (atomic_load(&r->threads[i].state) == RT_FROZEN) {
			atomic_store(&r->threads[i].state, RT_DEAD);
			atomic_fetch_sub(&r->nalive, 1);
		}
}

static int release_fn(struct reader *r, void *p)
{
	(void)p;
	snapshot_release(r);
	return 0;
}

/* detach_all releases the clone first (its hook), then every stopped thread. */
static int detach_fn(struct reader *r, void *p)
{
	(void)p;
	detach_all(r);
	return 0;
}

/* On the tracer: seize and stop every thread again, and take its registers. */
static int refreeze_fn(struct reader *r, void *p)
{
	struct fork_arg *fa = p;
	unsigned char *buf;
	size_t n;
	int rc = attach_all(r, fa->why, sizeof(fa->why));

	buf = rc ? NULL : regs_buffer(r->arch);
	if (!rc && !buf)
		rc = -ENOMEM;
	n = atomic_load(&r->nthreads);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (atomic_load(&r->threads[i].state) == RT_STOPPED)
			rc = capture_regs(r, &r->threads[i], buf);
	free(buf);
	if (rc)
		detach_all(r);
	return rc;
}

/*
 * ctl refresh: a new snapshot. The old clone goes first (one thread of the
 * target stops for its reap), then a new freeze as at mount. If that
 * fails the mount has nothing left to serve: its files fail with EIO and
 * ctl says why.
 */
int snapshot_refresh(struct reader *r)
{
	struct snapshot *s = r->snap;
	struct fork_arg fa = { "" };
	char why[256];
	bool held = atomic_load(&s->nheld) > 0;
	int rc;

	if (reader_gone(r))
		return -ESRCH;
	pthread_rwlock_wrlock(&r->snap_lock);
	tracer_call(r, release_fn, NULL, 0, 5000);
	scan_before(r);
	boost(r, true);		/* until snapshot_start ends */
	freeze_begin(r);
	rc = tracer_call(r, refreeze_fn, &fa, sizeof(fa), 15000);
	if (rc == 0) {
		free_mm(r);
		load_process(r);	/* mem_pid: a thread of the target again */
		rc = load_mm(r, why, sizeof(why));
		forget_thread_infos(r);
		rc = rc ?: snapshot_start(r, why, sizeof(why));
		if (rc)
			tracer_call(r, detach_fn, NULL, 0, 5000);
	}
	if (rc)
		boost(r, false);	/* (snapshot_start has, if it ran) */
	/* Suspended before: suspended after (it ran for the new freeze). */
	if (rc == 0 && held)
		tracer_call(r, hold_fn, NULL, 0, 20000);
	atomic_fetch_add(&r->generation, 1);
	pthread_rwlock_unlock(&r->snap_lock);
	return rc;
}

pid_t snapshot_proc_tid(const struct reader *r)
{
	return r->snap && r->snap->tid ? r->snap->tid : r->mem_pid;
}

void snapshot_free(struct reader *r)
{
	if (r->snap) {
		forget_uncopied(r->snap);
		smaps_free(&r->snap->pre);
		free(r->snap->held);
	}
	free(r->snap);
	r->snap = NULL;
}

int reader_snapshot_info(struct reader *r, struct reader_snapshot_info *out)
{
	struct snapshot *s = r->snap;
	char path[64], *text, *p;
	size_t len;

	if (!s)
		return -ENODATA;
	memset(out, 0, sizeof(*out));
	out->freeze_ms = s->freeze_ms;
	out->fork_ms = s->fork_ms;
	out->net = s->net;
	out->clone = atomic_load(&s->clone);
	out->count = s->count;
	out->notes = s->notes;
	out->held = atomic_load(&s->nheld) > 0;
	if (out->clone <= 0)
		return 0;
	/* What only the clone maps now: the pages the target has copied on
	 * write since the freeze (and those it has freed, which we pin). */
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)out->clone);
	if (proc_read_file(path, &text, &len, 1 << 16) == 0) {
		if ((p = strstr(text, "Private_Dirty:")))
			out->cow_bytes = strtoull(p + 14, NULL, 10) * 1024;
		free(text);
	}
	return 0;
}
