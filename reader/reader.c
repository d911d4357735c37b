/*
 * reader_attach(): stop the target, then take the snapshot the tree is made
 * of (registers, maps, identity). The snapshot is taken once: the target
 * cannot change while every thread is stopped.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <unistd.h>

#include "reader/bytes.h"
#include "reader/core.h"
#include "reader/procstat.h"
#include "reader/reader_int.h"
#include "reader/source.h"

struct attach_arg {
	char why[512];
};

/*
 * On the tracer thread: every register set the architecture offers, for
 * every stopped thread (GETREGSET, which exists on every architecture,
 * unlike GETREGS). A set the kernel refuses is simply absent.
 */
int capture_regs(struct reader *r, struct rthread *t, unsigned char *buf)
{
	const struct arch_desc *a = r->arch;
	struct regset sets[ARCH_MAX_REGSETS];
	size_t n = 0;

	for (size_t k = 0; k < a->nregsets && n < ARCH_MAX_REGSETS; k++) {
		struct iovec iov = { buf, a->regsets[k].max };

		if (ptrace(PTRACE_GETREGSET, t->tid, (void *)(long)a->regsets[k].type,
			   &iov) != 0 || iov.iov_len == 0)
			continue;
		sets[n].data = malloc(iov.iov_len);
		if (!sets[n].data) {
			while (n--)
				free(sets[n].data);
			return -ENOMEM;
		}
		memcpy(sets[n].data, buf, iov.iov_len);
		sets[n].len = iov.iov_len;
		sets[n].type = a->regsets[k].type;
		n++;
	}
	/* Replace what an earlier suspension (or live read) captured. */
	pthread_mutex_lock(&t->sets_mu);
	for (size_t k = 0; k < t->nsets; k++)
		free(t->sets[k].data);
	memcpy(t->sets, sets, n * sizeof(sets[0]));
	t->nsets = n;
	pthread_mutex_unlock(&t->sets_mu);
	return 0;
}

unsigned char *regs_buffer(const struct arch_desc *a)
{
	size_t cap = 0;

	for (size_t k = 0; k < a->nregsets; k++)
		if (a->regsets[k].max > cap)
			cap = a->regsets[k].max;
	return malloc(cap ? cap : 1);
}

uint64_t reader_page_size(void)
{
	long page = sysconf(_SC_PAGESIZE);

	return page > 0 ? (uint64_t)page : 4096;
}

int snapshot_regs(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);
	unsigned char *buf;
	int rc = 0;

	if (!r->arch)
		return 0;
	buf = regs_buffer(r->arch);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (atomic_load(&r->threads[i].state) == RT_STOPPED)
			rc = capture_regs(r, &r->threads[i], buf);
	free(buf);
	if (rc == 0 && fault_hit("snapshot"))
		rc = -EIO;
	return rc;
}

/*
 * Registers are captured at their first need rather than in the attach:
 * the mount answers sooner (16 ms of a 1000-thread mount's 60 here), and
 * a backup of maps or mem never pays for a thousand threads' registers.
 * The threads stay stopped by us until then, so what is captured later is
 * what the attach would have captured. -o snapshot still captures in its
 * freeze: the target runs on after it.
 */
bool regs_deferrable(const struct reader *r)
{
	return atomic_load(&((struct reader *)r)->mode) == MODE_SUSPENDED && !r->opts.snapshot;
}

static int pay_fn(struct reader *r, void *p)
{
	(void)p;
	/* Gone live since: registers are read when asked (live.c). */
	if (atomic_load(&r->mode) != MODE_SUSPENDED)
		return 0;
	return snapshot_regs(r);
}

int regs_owed_pay(struct reader *r)
{
	int rc = 0;

	if (!atomic_load_explicit(&r->regs_owed, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&r->regs_mu);
	if (atomic_load(&r->regs_owed)) {
		rc = tracer_call(r, pay_fn, NULL, 0, 30000);
		if (rc == 0)
			atomic_store_explicit(&r->regs_owed, false, memory_order_release);
	}
	pthread_mutex_unlock(&r->regs_mu);
	return rc;
}

/* /proc/PID/task/TID/{stat,syscall}, read while the thread is stopped. */
void snapshot_thread_info(struct reader *r, struct rthread *t)
{
	struct reader_thread_info *ti = &t->info;
	struct procstat ps;
	char path[96], *buf;
	size_t len;

	ti->tid = t->tid;
	ti->main = t->tid == r->pid;
	ti->state = t->state_before;
	ti->syscall = -1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)r->pid, (int)t->tid);
	if (proc_read_file(path, &buf, &len, 1 << 16) == 0) {
		if (procstat_parse(buf, len, &ps) == 0) {
			snprintf(ti->name, sizeof(ti->name), "%s", ps.comm);
			ti->utime = ps.utime;
			ti->stime = ps.stime;
			ti->priority = ps.priority;
			ti->nice = ps.nice;
			ti->processor = ps.processor;
		}
		free(buf);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)r->pid, (int)t->tid);
	if (proc_read_file(path, &buf, &len, 4096) == 0) {
		long nr;

		if (procstat_syscall(buf, len, &nr, ti->syscall_args, &ti->sp, &ti->pc) == 0)
			ti->syscall = nr;
		free(buf);
	}
	/* Stopped by our interrupt: in a system call it slept ('S'; a 'D'
	 * that lasted was noted at the stop), outside one it ran. */
	if (ti->state == '?' || ti->state == 0)
		ti->state = ti->syscall >= 0 ? 'S' : 'R';
}

static int attach_fn(struct reader *r, void *p)
{
	struct attach_arg *a = p;
	int rc = attach_all(r, a->why, sizeof(a->why));

	/* Live mode reads registers when asked, from a stopped thread. */
	if (rc == 0 && regs_deferrable(r)) {
		atomic_store(&r->regs_owed, true);
	} else if (rc == 0 && atomic_load(&r->mode) == MODE_SUSPENDED) {
		rc = snapshot_regs(r);
		if (rc)
			snprintf(a->why, sizeof(a->why), "cannot read registers: %s",
				 strerror(-rc));
	}
	if (rc)
		detach_all(r);
	return rc;
}

static int detach_fn(struct reader *r, void *p)
{
	(void)p;
	detach_all(r);
	return 0;
}

/*
 * The target's architecture, from its executable's ELF header (that of
 * thread tid: a zombie leader has none).
 */
static const struct arch_desc *detect_arch(pid_t pid, pid_t tid)
{
	unsigned char h[EI_NIDENT + 4];
	const struct arch_desc *a;
	uint16_t machine;
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/exe", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return arch_host();
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, ELFMAG, SELFMAG) != 0)
		return arch_host();
	machine = (uint16_t)get_n(h + offsetof(Elf64_Ehdr, e_machine), 2,
				  h[EI_DATA] == ELFDATA2MSB);
	a = arch_by_elf(machine, h[EI_CLASS]);
	return a ? a : arch_host();
}

/* A live thread: a zombie leader has no mm. */
static pid_t pick_mem_pid(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);

	if (reader_thread_alive(r, r->pid) == 0)
		return r->pid;
	for (size_t i = 0; i < n; i++)
		if (atomic_load(&r->threads[i].state) != RT_DEAD)
			return r->threads[i].tid;
	return r->pid;
}

/*
 * What an execve changes besides the mm, read at attach and again at each
 * refresh (snap_lock held for writing): the command name, the executable
 * and its architecture, and the mem and pagemap files, which stay bound to
 * the address space they were opened on (an old image's read nothing).
 * A thread that has died meanwhile (the leader of a zombie, the threads an
 * exec ended) is replaced as the one memory is read through.
 */
void load_process(struct reader *r)
{
	char path[96], *comm;
	size_t len;
	ssize_t n;
	const struct arch_desc *a;

	r->mem_pid = pick_mem_pid(r);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)r->pid);
	if (proc_read_file(path, &comm, &len, 4096) == 0) {
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(r->comm, sizeof(r->comm), "%s", comm);
		free(comm);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/exe", (int)r->pid, (int)r->mem_pid);
	n = readlink(path, r->exe, sizeof(r->exe) - 1);
	r->exe[n > 0 ? n : 0] = '\0';
	/* An exec may change it (a 64-bit program running a 32-bit one). */
	a = detect_arch(r->pid, r->mem_pid);
	if (a != atomic_load(&r->arch))
		atomic_store(&r->arch, a);

	if (r->mem_fd >= 0)
		close(r->mem_fd);
	if (r->pagemap_fd >= 0)
		close(r->pagemap_fd);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/mem", (int)r->pid, (int)r->mem_pid);
	/* -o rw writes through it too (read-only pages included). */
	r->mem_fd = r->opts.rw ? open(path, O_RDWR | O_CLOEXEC) : -1;
	if (r->mem_fd < 0)
		r->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/pagemap", (int)r->pid, (int)r->mem_pid);
	r->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * What a refresh replaces: maps and the files that describe the mm, and
 * every cache derived from them. Called at attach, and with snap_lock
 * held for writing by reader_refresh.
 */
int load_mm(struct reader *r, char *why, size_t whylen)
{
	char path[96];
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/maps", (int)r->pid, (int)r->mem_pid);
	rc = proc_read_file(path, &r->maps_text, &r->maps_len, (size_t)1 << 30);
	if (rc == 0)
		rc = maps_parse(r->maps_text, r->maps_len, &r->maps);
	if (rc) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(-rc));
		free(r->maps_text);
		r->maps_text = NULL;
		return rc;
	}
	r->mem_data_bytes = maps_data_bytes(&r->maps, &r->mem_size);
	for (int f = 0; f < RB_COUNT; f++) {
		static const char *const names[RB_COUNT] = {
			[RB_CMDLINE] = "cmdline", [RB_ENVIRON] = "environ",
			[RB_AUXV] = "auxv", [RB_STAT] = "stat",
			[RB_STATUS] = "status", [RB_COREDUMP_FILTER] = "coredump_filter",
		};

		/* stat and status describe the process; the rest are the
		 * mm's and need a thread that still has it (coredump_filter
		 * has no task/ entry, but /proc/TID/ serves any thread). */
		if (f == RB_STAT || f == RB_STATUS)
			snprintf(path, sizeof(path), "/proc/%d/%s", (int)r->pid, names[f]);
		else if (f == RB_COREDUMP_FILTER)
			snprintf(path, sizeof(path), "/proc/%d/%s", (int)r->mem_pid, names[f]);
		else
			snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)r->pid,
				 (int)r->mem_pid, names[f]);
		if (proc_read_file(path, &r->files[f], &r->files_len[f], 64 << 20))
			r->files[f] = NULL;
	}
	r->map_fds = calloc(r->maps.n ? r->maps.n : 1, sizeof(*r->map_fds));
	for (size_t i = 0; r->map_fds && i < r->maps.n; i++)
		atomic_init(&r->map_fds[i], -2);
	mem_mark_self_served(r);
	return 0;
}

void free_mm(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);

	for (size_t i = 0; r->map_fds && i < r->maps.n; i++)
		if (r->map_fds[i] >= 0)
			close(r->map_fds[i]);
	free(r->map_fds);
	r->map_fds = NULL;
	mem_cache_free(r);
	state_free(r);
	for (int f = 0; f < RB_COUNT; f++) {
		free(r->files[f]);
		r->files[f] = NULL;
	}
	free(r->modules);
	free(r->mod_infos);
	free(r->mod_parsed);
	r->modules = NULL;
	r->mod_infos = NULL;
	r->mod_parsed = NULL;
	r->nmodules = 0;
	r->modules_built = false;
	core_layout_free(atomic_exchange(&r->core, NULL));
	for (size_t i = 0; i < n; i++) {
		free(r->threads[i].stack);
		r->threads[i].stack = NULL;
	}
	free(r->stack);
	r->stack = NULL;
	maps_free(&r->maps);
	free(r->maps_text);
	r->maps_text = NULL;
}

/*
 * Forgets the per-thread /proc facts: reader_thread_info reads a thread's
 * again on first use. Reading a thousand threads' stat and syscall files
 * up front was a third of a mount's time; while suspended, a later read
 * finds the same facts (the state before the stop is kept from the seize).
 */
void forget_thread_infos(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);

	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&r->threads[i].sets_mu);
		r->threads[i].info.tid = 0;
		pthread_mutex_unlock(&r->threads[i].sets_mu);
	}
}

int snapshot_process(struct reader *r, char *why, size_t whylen)
{
	int rc;

	/*
	 * Memory and the mm's files go through a live thread: a zombie leader
	 * (main thread gone by pthread_exit) has no mm, and /proc/PID/maps,
	 * /proc/PID/mem and process_vm_readv(PID) all fail for it.
	 */
	r->mem_pid = pick_mem_pid(r);
	rc = load_mm(r, why, whylen);
	if (rc)
		return rc;
	load_process(r);
	forget_thread_infos(r);
	return 0;
}

void free_snapshot(struct reader *r)
{
	size_t n = atomic_load(&r->nthreads);

	free_mm(r);
	snapshot_free(r);	/* -o snapshot: released by detach_all already */
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < r->threads[i].nsets; k++)
			free(r->threads[i].sets[k].data);
		pthread_mutex_destroy(&r->threads[i].sets_mu);
	}
	pthread_mutex_destroy(&r->lazy_mu);
	pthread_mutex_destroy(&r->mode_mu);
	pthread_mutex_destroy(&r->regs_mu);
	pthread_rwlock_destroy(&r->snap_lock);
	if (!r->storage_lent) {
		free(r->threads);
		free(r->tid_index);
	}
}

int reader_new(pid_t pid, const struct reader_opts *opts, size_t cap, struct reader **out)
{
	return reader_new_lent(pid, opts, cap, NULL, NULL, out);
}

int reader_new_lent(pid_t pid, const struct reader_opts *opts, size_t cap, void *threads,
		    void *index, struct reader **out)
{
	struct reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->pid = pid;
	r->src = &source_ptrace;
	if (opts)
		r->opts = *opts;
	r->mem_fd = r->pagemap_fd = -1;
	snprintf(r->comm, sizeof(r->comm), "?");
	r->arch = detect_arch(pid, pid);	/* before the seize: it picks the regsets */
	pthread_mutex_init(&r->lazy_mu, NULL);
	pthread_mutex_init(&r->mode_mu, NULL);
	pthread_mutex_init(&r->regs_mu, NULL);
	pthread_rwlock_init(&r->snap_lock, NULL);
	atomic_init(&r->mode, r->opts.live ? MODE_LIVE : MODE_SUSPENDED);
	r->want_live = r->opts.live;
	/*
	 * Room for every thread the mount will ever meet, reserved once so
	 * entries never move (see struct reader). Untouched, it costs only
	 * address space.
	 */
	r->threads_cap = cap ? cap : READER_MAX_THREADS;
	r->storage_lent = threads != NULL;
	r->threads = threads ? threads : calloc(r->threads_cap, sizeof(*r->threads));
	r->tid_index = index;
	if (!r->threads || tid_index_init(r)) {
		reader_free_new(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void reader_free_new(struct reader *r)
{
	free_snapshot(r);
	free(r);
}

int reader_attach(pid_t pid, const struct reader_opts *opts,
		  struct reader **out, char *why, size_t whylen)
{
	struct reader *r;
	struct attach_arg a = { "" };
	unsigned budget;
	int rc;

	rc = reader_new(pid, opts, 0, &r);
	if (rc)
		return rc;
	budget = (r->opts.attach_timeout_ms ? r->opts.attach_timeout_ms : 10000) + 5000;

	rc = tracer_start(r);
	if (rc) {
		snprintf(why, whylen, "cannot start the tracer thread: %s", strerror(-rc));
		goto out_free;
	}
	/* -o snapshot: refusals, and the freeze's clock starts (snapshot.c). */
	if (r->opts.snapshot && (rc = snapshot_prepare(r, why, whylen)))
		goto out_stop;
	/* What a killed -o snapshot mount left: its clone's zombie (snapshot.c);
	 * after the refusals, which stop nothing. */
	snapshot_reap_leftovers(r);
	rc = tracer_call(r, attach_fn, &a, sizeof(a), budget);
	if (rc) {
		/* -o snapshot: the attach ended by the freeze's deadline, every
		 * thread let go (attach_fn) */
		if (r->opts.snapshot && snapshot_late(r, why, whylen))
			rc = -ETIMEDOUT;
		else
			snprintf(why, whylen, "%s", a.why[0] ? a.why : strerror(-rc));
		goto out_stop;
	}
	rc = snapshot_process(r, why, whylen);
	if (rc)
		goto out_detach;
	/* -o snapshot: fork the stopped target, let it go, read the fork. */
	if (r->opts.snapshot && (rc = snapshot_start(r, why, whylen)))
		goto out_detach;
	*out = r;
	return 0;

out_detach:
	tracer_call(r, detach_fn, &a, sizeof(a), 5000);
out_stop:
	tracer_stop(r);
out_free:
	reader_free_new(r);
	return rc;
}

/* source_ptrace's close: every thread detached, the snapshot freed. */
void ptrace_close(struct reader *r)
{
	struct attach_arg a;

	tracer_call(r, detach_fn, &a, sizeof(a), 5000);
	tracer_stop(r);
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	if (r->pagemap_fd >= 0)
		close(r->pagemap_fd);
}

pid_t reader_pid(const struct reader *r) { return r->pid; }
const char *reader_comm(const struct reader *r) { return r->comm; }
const char *reader_exe(const struct reader *r) { return r->exe; }
const struct arch_desc *reader_arch(const struct reader *r) { return r->arch; }
const struct maps *reader_maps(const struct reader *r) { return &r->maps; }

bool reader_gone(const struct reader *r)
{
	return atomic_load(&r->nalive) <= 0;
}

const char *reader_state(const struct reader *r)
{
	if (!r->src->ops->set_live)
		return r->src->ops->kind;	/* a core: never ran under us */
	if (reader_gone(r))
		return atomic_load(&((struct reader *)r)->detached) ? "detached" : "exited";
	if (r->snap)	/* -o snapshot */
		return "snapshot";
	return atomic_load(&((struct reader *)r)->mode) == MODE_LIVE ? "live" : "suspended";
}

const char *reader_maps_text(const struct reader *r, size_t *len)
{
	*len = r->maps_len;
	return r->maps_text;
}

size_t reader_threads(const struct reader *r, pid_t *tids, size_t cap)
{
	size_t total = atomic_load(&((struct reader *)r)->nthreads), n = 0;

	for (size_t i = 0; i < total; i++) {
		if (atomic_load(&r->threads[i].state) == RT_DEAD)
			continue;
		if (n < cap)
			tids[n] = r->threads[i].tid;
		n++;
	}
	/* Records are in the order met; callers list them ascending. */
	if (tids && cap)
		qsort(tids, n < cap ? n : cap, sizeof(*tids), proc_cmp_pid);
	return n;
}

int reader_thread_at(const struct reader *r, size_t i, pid_t *tid)
{
	if (i >= atomic_load(&((struct reader *)r)->nthreads))
		return -ENOENT;
	*tid = r->threads[i].tid;
	return atomic_load(&r->threads[i].state) == RT_DEAD ? -ESRCH : 0;
}

int reader_thread_alive(const struct reader *r, pid_t tid)
{
	struct rthread *t = reader_find_thread(r, tid);

	if (!t || atomic_load(&t->state) == RT_DEAD)
		return -ENOENT;
	return 0;
}

int reader_thread_regset(const struct reader *r, pid_t tid, unsigned type,
			 const void **blob, size_t *len)
{
	struct rthread *t = reader_find_thread(r, tid);
	int rc;

	if (!t)
		return -ENOENT;
	if (atomic_load(&t->state) == RT_DEAD)
		return -EIO;
	rc = regs_owed_pay((struct reader *)r);
	if (rc)
		return rc;
	/* No sets_mu: the caller holds the target suspended (reader.h). */
	for (size_t k = 0; k < t->nsets; k++)
		if (t->sets[k].type == type) {
			*blob = t->sets[k].data;
			*len = t->sets[k].len;
			return 0;
		}
	return -ENODATA;
}

int reader_thread_regs(const struct reader *r, pid_t tid, const void **blob,
		       size_t *len)
{
	int rc = reader_thread_regset(r, tid, NT_PRSTATUS, blob, len);

	return rc == -ENODATA ? -EIO : rc;
}

int reader_thread_info(const struct reader *r, pid_t tid,
		       struct reader_thread_info *out)
{
	struct rthread *t = reader_find_thread(r, tid);

	if (!t || atomic_load(&t->state) == RT_DEAD)
		return -ENOENT;
	pthread_mutex_lock(&t->sets_mu);
	/* A thread met in live mode after the last refresh: read it now. */
	if (t->info.tid == 0)
		snapshot_thread_info((struct reader *)r, t);
	*out = t->info;
	pthread_mutex_unlock(&t->sets_mu);
	return 0;
}

int reader_file(const struct reader *r, enum reader_file which,
		const char **data, size_t *len)
{
	if ((unsigned)which >= RB_COUNT || !r->files[which])
		return -ENODATA;
	*data = r->files[which];
	*len = r->files_len[which];
	return 0;
}
