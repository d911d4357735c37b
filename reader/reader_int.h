/* Private to reader/: the reader's state and the helpers its files share. */
#ifndef PTRACEFS_READER_INT_H
#define PTRACEFS_READER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "reader/reader.h"

/* Life of one thread as the tracer sees it. */
enum rthread_state {
	RT_SEIZED,	/* seized, asked to stop, stop not yet reported */
	RT_STOPPED,	/* in a ptrace-stop: safe to query */
	RT_DEAD,	/* exited (reaped) or vanished before we stopped it */
	RT_RUNNING,	/* live mode: seized and left running (or listening) */
	/* -o snapshot: detached after the freeze, served as captured (snapshot.c) */
	RT_FROZEN,
};

enum reader_mode { MODE_SUSPENDED, MODE_LIVE };

/* Thread records one mount can hold (live mode adds one per clone). */
#define READER_MAX_THREADS (1u << 18)

/* One register set as PTRACE_GETREGSET returned it. */
struct regset {
	unsigned type;			/* NT_PRSTATUS, NT_PRFPREG, ... */
	size_t len;
	unsigned char *data;
};

struct rthread {
	pid_t tid;
	_Atomic int state;		/* enum rthread_state */
	_Atomic char state_before;	/* state letter before the stop; 0: not told yet */
	int group_stop_sig;		/* stop signal if it was job-control stopped */
	bool kids_done;			/* -o tree: children read while it was stopped */
	pthread_mutex_t sets_mu;	/* sets are replaced by each suspension */
	struct regset sets[ARCH_MAX_REGSETS];	/* captured at suspension */
	size_t nsets;
	struct reader_thread_info info;	/* /proc facts at suspension */
	char *stack;			/* stack.c's rendering, once made */
	size_t stack_len;
};

struct tracer;
struct source;
struct mem_cache;
struct core_layout;

struct reader {
	const struct source *src;	/* where all of it comes from (source.h) */
	pid_t pid;
	pid_t mem_pid;			/* a live tid to read memory through */
	struct reader_opts opts;
	char comm[64];
	char exe[4096];
	/* Atomic: a refresh after an exec may change it while the tracer
	 * thread (which never takes snap_lock) reads it. */
	_Atomic(const struct arch_desc *) arch;

	char *files[RB_COUNT];		/* /proc/PID/<file> at suspension */
	size_t files_len[RB_COUNT];

	char *maps_text;
	size_t maps_len;
	struct maps maps;
	uint64_t mem_size, mem_data_bytes;

	int mem_fd;			/* /proc/PID/mem, the fallback path */
	int pagemap_fd;			/* /proc/PID/pagemap, -1 if unreadable */
	_Atomic int *map_fds;		/* per mapping: its file, -2 not yet opened */
	_Atomic(struct mem_cache *) mem_cache;	/* mem.c: populated pages, filled on use */

	/*
	 * Every thread ever seized, in the order met. Append-only with a
	 * capacity fixed at attach, so an entry never moves: FUSE workers
	 * read it without a lock while the tracer appends (live mode).
	 */
	struct rthread *threads;
	_Atomic size_t nthreads;
	size_t threads_cap;
	/*
	 * tid -> index + 1 of its newest record, open addressing, never
	 * shrinks (attach.c). Records [0, indexed) are in it; later ones (past
	 * its fill limit, or a source that fills threads itself and has no
	 * index) are found by a scan. Lookups are lock-free like the array.
	 */
	_Atomic uint32_t *tid_index;
	_Atomic size_t indexed;
	_Atomic int nalive;
	_Atomic int mode;		/* enum reader_mode */
	_Atomic int holds;		/* reader_hold_suspend()s outstanding */
	bool want_live;			/* the mode asked for; under mode_mu */
	pthread_mutex_t mode_mu;	/* one mode change at a time */
	/*
	 * Suspended by the attach, registers not captured yet: the first
	 * reader of any thread's registers captures every stopped thread's
	 * (regs_owed_pay), under regs_mu. A suspension (live.c) or going
	 * live clears it: then they are captured, or read when asked.
	 */
	_Atomic bool regs_owed;
	pthread_mutex_t regs_mu;

	/*
	 * The snapshot (maps, files, caches) is replaced by a refresh: FUSE
	 * requests hold it shared (reader_rdlock), a refresh exclusively.
	 * The tracer thread never takes it.
	 */
	pthread_rwlock_t snap_lock;
	_Atomic unsigned generation;

	struct tracer *tracer;
	_Atomic(void (*)(void *)) on_change;	/* reader_on_change */
	void *on_change_arg;

	pthread_mutex_t lazy_mu;	/* guards the caches built on first use */
	struct reader_module *modules;	/* modules.c */
	struct mod_info *mod_infos;
	bool *mod_parsed;
	size_t nmodules;
	bool modules_built;
	bool storage_lent;		/* threads and tid_index are -o tree's (ptree.c) */
	/* core_read.c: `core`'s layout, built under lazy_mu on first use;
	 * reader_close frees it with core_layout_free. */
	_Atomic(struct core_layout *) core;
	char *stack;			/* the whole process's stack, once made */
	size_t stack_len;
	/* state.c: descriptors, limits, signals..., read on first use */
	struct state_cache *state;
	/* -o snapshot: the clone mem_pid names, and the freeze (snapshot.c) */
	struct snapshot *snap;
	/* -o tree: the tree this reader is a member of (ptree.c), or NULL */
	struct reader_tree *tree;
	/* PTRACE_SEIZE's options (attach.c); 0: PTRACE_O_TRACECLONE */
	unsigned long seize_opts;
	/* ctl detach let go of every thread: state says so, not "exited" */
	_Atomic bool detached;
};

/*
 * mem.c: SEEK_HOLE reports a hole inside an anonymous mapping only from
 * this length on; shorter ones are part of the data around them (they
 * read as zeros and cost the target nothing). A reader of a sparse file
 * pays SEEK_DATA, SEEK_HOLE and a read per extent, three FUSE round
 * trips, ~75 us here; reading zeros through FUSE instead costs ~0.3 us
 * per KiB: the crossover is near 256 KiB (doc/performance.md, sparse
 * rows). SEEK_DATA stays exact: a hole always reads as zeros, data may.
 * MEM_COALESCE_MAX bounds the pagemap scans of one SEEK_HOLE.
 */
#define MEM_MIN_HOLE ((uint64_t)256 << 10)
#define MEM_COALESCE_MAX 4096u

/* proc.c: small /proc readers. */
int proc_read_file(const char *path, char **buf, size_t *len, size_t cap);
int proc_status_field(pid_t pid, const char *key, char *out, size_t outlen);
int proc_task_state(pid_t pid, pid_t tid, char *state);
int proc_list_tasks(pid_t pid, pid_t **tids, size_t *n);
/* qsort order of pid_t: ascending. */
int proc_cmp_pid(const void *a, const void *b);

/* tracer.c: the one thread allowed to issue ptrace requests. */
typedef int (*tracer_fn)(struct reader *r, void *arg);
int tracer_start(struct reader *r);
/* Runs fn(r, arg) on the tracer thread; arg (argsize bytes) is copied in and
 * back out, so a caller that gives up at the deadline leaves nothing behind. */
int tracer_call(struct reader *r, tracer_fn fn, void *arg, size_t argsize,
		unsigned timeout_ms);
void tracer_stop(struct reader *r);
/*
 * -o tree (ptree.c): r's tracees are held by owner's tracer thread too,
 * which reaps them and runs r's requests. On the tracer thread only.
 * tracer_stop(r) then leaves the thread to the others; the last stops it.
 */
int tracer_share(struct reader *owner, struct reader *r);
/* ptree.c, on the tracer thread: a member forked child (PTRACE_EVENT_FORK). */
void ptree_forked(struct reader *r, pid_t child);
/* Consumes pending wait events for our tracees (tracer thread only). */
void tracer_reap(struct reader *r);

/* reader.c: the snapshot's parts, shared with live.c. */
int capture_regs(struct reader *r, struct rthread *t, unsigned char *buf);
unsigned char *regs_buffer(const struct arch_desc *a);
/*
 * The host's page size, which is the target's (AT_PAGESZ): the unit of
 * /proc/PID/pagemap and of core segments. 4 KiB on x86; 16 or 64 KiB on
 * some arm64 kernels. A function, so unit tests can wrap it.
 */
uint64_t reader_page_size(void);
int load_mm(struct reader *r, char *why, size_t whylen);
/* comm, exe, arch, mem_pid and the mem/pagemap files, again after an exec. */
void load_process(struct reader *r);
void free_mm(struct reader *r);
void forget_thread_infos(struct reader *r);
void snapshot_thread_info(struct reader *r, struct rthread *t);

/* Frees the snapshot and the views' caches, not the source (reader_close). */
void free_snapshot(struct reader *r);

/*
 * source_ptrace's operations, defined next to what they use (reader.c,
 * mem.c, live.c) and gathered in source_ptrace.c.
 */
void ptrace_close(struct reader *r);
int ptrace_mem_read(struct reader *r, size_t idx, void *buf, size_t len, uint64_t addr);
uint64_t ptrace_mem_scan(struct reader *r, size_t idx, uint64_t from, uint64_t to,
			 bool want);
int ptrace_suspend(struct reader *r);
int ptrace_resume(struct reader *r);
int ptrace_refresh_all(struct reader *r);
int ptrace_refresh_if_changed(struct reader *r);
int ptrace_detach(struct reader *r);
int ptrace_hold(struct reader *r);
void ptrace_release(struct reader *r);
int ptrace_regset_now(struct reader *r, pid_t tid, unsigned type, void *buf, size_t cap);
ssize_t ptrace_mem_write(struct reader *r, size_t idx, const void *buf, size_t len,
			 uint64_t addr);
int ptrace_set_regs(struct reader *r, pid_t tid, const struct arch_reg_set *v, size_t n);
/*
 * live.c: whole register sets written at once (restore, fpregs): item i
 * is set type of thread tid, len bytes at off in data. Every thread must
 * be stopped. The sets are kept first and put back if the kernel refuses
 * one, so it is all or nothing: -EINVAL (kernel refusal), -ENOENT (thread
 * gone), -EBUSY (running), with *bad the item at fault.
 */
struct regset_put {
	pid_t tid;
	unsigned type;
	size_t off, len;
};
int ptrace_put_regsets(struct reader *r, const struct regset_put *v, size_t n,
		       const void *data, size_t datalen, size_t *bad);
/* live.c: reader_written's refresh, snap_lock held exclusively by the caller. */
void written_locked(struct reader *r);

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
uint64_t now_ms(void);

/* attach.c, on the tracer thread. */
int attach_all(struct reader *r, char *why, size_t whylen);
void detach_all(struct reader *r);
int stop_all(struct reader *r, unsigned timeout_ms);
void resume_thread(struct rthread *t);
struct rthread *reader_find_thread(const struct reader *r, pid_t tid);
/* Appends a seized thread to r->threads; -ENOSPC when the table is full. */
int attach_add_thread(struct reader *r, pid_t tid, char state_before);
int tid_index_init(struct reader *r);	/* allocates it unless lent */
size_t tid_index_bytes(void);

/* One pass over /proc/PID/task seizing what is new: *nnew threads (ptree.c). */
int attach_seize_pass(struct reader *r, size_t *nnew, char *why, size_t whylen);
/* Whether the kernel counts no more threads than r holds. */
bool attach_accounted(struct reader *r);
/* Is tid traced by the calling (tracer) thread already? */
bool attach_traced_by_us(pid_t tid);
/* reader_preflight for a -o tree member: 0 too for one we trace already. */
int attach_member_preflight(pid_t pid, const struct reader_opts *opts, char *why,
			    size_t whylen);

/*
 * reader.c: a reader for pid, nothing seized yet (reader_attach's first
 * half; ptree.c makes one per member), room for cap threads (0: the
 * default); the registers of every stopped thread (tracer thread); the
 * process's snapshot once they are (maps, /proc files, identity); and
 * the undoing of reader_new.
 */
int reader_new(pid_t pid, const struct reader_opts *opts, size_t cap, struct reader **out);
/* The same in lent storage: zeroed, cap records and tid_index_bytes(). */
int reader_new_lent(pid_t pid, const struct reader_opts *opts, size_t cap, void *threads,
		    void *index, struct reader **out);
int snapshot_regs(struct reader *r);
/* Whether to leave the registers to the first reader (attach, -o tree). */
bool regs_deferrable(const struct reader *r);
/* Captures them if still owed (not on the tracer thread); 0 or -errno. */
int regs_owed_pay(struct reader *r);
int snapshot_process(struct reader *r, char *why, size_t whylen);
void reader_free_new(struct reader *r);

/*
 * mem.c: a direct read of target memory (process_vm_readv, else
 * /proc/PID/mem) without the sparse view's pagemap and holes: core_read.c
 * reads [vsyscall] with it, and the unit tests wrap the calls it makes.
 */
ssize_t mem_read_raw(struct reader *r, void *buf, size_t len, uint64_t addr);
/* The same for a write (-o rw): process_vm_writev, else /proc/PID/mem. */
ssize_t mem_write_raw(struct reader *r, const void *buf, size_t len, uint64_t addr);
/* Frees the pagemap cache (reader_close; tests that free a reader by hand). */
void mem_cache_free(struct reader *r);
/*
 * map_fds of file mappings on a FUSE file system when the target holds
 * /dev/fuse (it may be that file system's server): their non-present
 * pages read as EIO rather than waiting forever on the stopped server.
 */
#define MAP_FD_SELF_SERVED (-3)
void mem_mark_self_served(struct reader *r);
/* Whether a file mapped at path is marked so: no open(2) or stat(2) of it. */
bool mem_path_self_served(struct reader *r, const char *path);

/*
 * snapshot.c, -o snapshot. prepare: refusals and the freeze's clock, before
 * the seize; start: after the capture, fork the stopped target and let it
 * go; release (tracer thread, from detach_all): the clone killed and
 * reaped; refresh: ctl's refresh, a new snapshot; proc_tid: the target
 * thread whose /proc the state files read (mem_pid is the clone).
 */
int snapshot_prepare(struct reader *r, char *why, size_t whylen);
int snapshot_start(struct reader *r, char *why, size_t whylen);
/* snapshot_start in two steps, for -o tree (one freeze for every member):
 * snapshot_fork with hold leaves every thread stopped; snapshot_let_go
 * (on the tracer) lets them go; snapshot_finish sets the clone up. */
int snapshot_fork(struct reader *r, bool hold, char *why, size_t whylen);
void snapshot_let_go(struct reader *r);
int snapshot_finish(struct reader *r, char *why, size_t whylen);
void snapshot_join(struct reader *r, const struct reader *root);
void snapshot_unboost(struct reader *r);
void snapshot_release(struct reader *r);
int snapshot_refresh(struct reader *r);
/* ctl suspend/resume: the running target's threads held stopped, or let go. */
int snapshot_suspend(struct reader *r);
int snapshot_resume(struct reader *r);
/* Reaps the zombie clones a killed ptracefs left in the target; how many. */
int snapshot_reap_leftovers(struct reader *r);
/*
 * The freeze's deadline (CLOCK_MONOTONIC ms, now_ms), while a freeze is
 * under way: the attach, the capture and the clone all end by it. 0: no
 * freeze (not -o snapshot, or the target runs again).
 */
uint64_t snapshot_deadline(const struct reader *r);
/* Past that deadline: true, and why says so in one line (the mount's refusal). */
bool snapshot_late(const struct reader *r, char *why, size_t whylen);
pid_t snapshot_proc_tid(const struct reader *r);
void snapshot_free(struct reader *r);
/*
 * -o snapshot: whether mapping idx is one the fork did not copy (dontfork,
 * wipeonfork): 1 and *bytes (when bytes is not NULL) if copied at the
 * freeze, -EIO if not, 0 for any other mapping.
 */
int snapshot_uncopied(const struct reader *r, size_t idx, const char **bytes);

/* state.c: drops what state.c kept of this snapshot (free_mm). */
void state_free(struct reader *r);

/* fault.c: PTRACEFS_FAULT=<point>[:<nth>] makes the nth hit of point fail. */
#ifdef PTRACEFS_FAULTS
bool fault_hit(const char *point);
#else
static inline bool fault_hit(const char *point) { (void)point; return false; }
#endif

#endif
