/*
 * The suspended-process reader: everything ptracefs knows about its target,
 * with no FUSE in sight. Functions return 0 or a count on success and
 * -errno on failure; nothing here logs.
 *
 * reader_attach() seizes every thread of the target and keeps them stopped
 * until reader_close(); every ptrace request runs on a private tracer thread
 * (the kernel accepts requests only from the thread that seized a tracee).
 * The process that calls reader_attach must have SIGCHLD blocked in all of
 * its threads (the tracer reads it from a signalfd).
 */
#ifndef PTRACEFS_READER_H
#define PTRACEFS_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/arch.h"
#include "reader/elfmod.h"
#include "reader/maps.h"

struct reader_opts {
	unsigned max_passes;		/* rescans of /proc/PID/task; 0: default 100 */
	unsigned attach_timeout_ms;	/* whole attach budget; 0: default 10000 */
	unsigned op_timeout_ms;		/* deadline of one tracer request; 0: 5000 */
	unsigned freeze_timeout_ms;	/* -o snapshot: the whole freeze's budget;
					 * 0: attach_timeout_ms, else 10000 */
	bool force_nondumpable;		/* mount a PR_SET_DUMPABLE 0 target anyway */
	int64_t coredump_filter;	/* `core`'s filter; < 0: the target's own */
	bool live;			/* seize without stopping (-o live) */
	bool snapshot;			/* fork, let go, read the fork (-o snapshot) */
	bool rw;			/* memory and registers take writes (-o rw) */
};

struct reader;

/*
 * Checks that pid can be attached before anything is mounted: a positive
 * pid of an existing process, not ourselves nor one of our ancestors, not
 * already traced, dumpable, and ours to trace. On refusal returns -errno
 * and writes a one-line reason to why.
 */
int reader_preflight(pid_t pid, const struct reader_opts *opts, char *why,
		     size_t whylen);

/* Seizes and stops every thread; on failure nothing stays seized. */
int reader_attach(pid_t pid, const struct reader_opts *opts,
		  struct reader **out, char *why, size_t whylen);
/*
 * Opens an ELF core file as the reader's source: the same tree, read-only
 * and never running. On refusal (not a core, truncated beyond use, an
 * unknown machine) returns -errno and writes a one-line reason to why.
 */
int reader_open_core(const char *path, const struct reader_opts *opts,
		     struct reader **out, char *why, size_t whylen);
/*
 * -o tree (reader/ptree.c): pid and every descendant, frozen as one
 * instant (every thread of every process stopped before any state is
 * taken), one reader each. A descendant that cannot be traced (another
 * user's, non-dumpable, traced already, a zombie) is a member without a
 * reader, with the reason; its own descendants are not followed. Fails
 * only when pid itself cannot be mounted. Members are in the order met:
 * every one after the member that forked it.
 */
struct reader_tree;
struct reader_tree_member {
	pid_t pid, ppid, pgid, sid;	/* /proc/PID/stat at the freeze */
	char comm[64];
	char state;			/* its state letter before the freeze */
	struct reader *r;		/* NULL: listed only, for why */
	const char *why;		/* "" when it has a reader */
};
int reader_tree_attach(pid_t pid, const struct reader_opts *opts,
		       struct reader_tree **out, char *why, size_t whylen);
size_t reader_tree_count(const struct reader_tree *t);
const struct reader_tree_member *reader_tree_member(const struct reader_tree *t, size_t i);
/* The reader of member pid, or NULL (not a member, or listed only). */
struct reader *reader_tree_reader(const struct reader_tree *t, pid_t pid);
/* Every member let go (a lazy unmount); the readers stay, exited. */
void reader_tree_detach(struct reader_tree *t);
/* Every member let go and every reader freed. */
void reader_tree_close(struct reader_tree *t);

/* Lets go of the source (a process: every thread detached, it runs on) and frees the reader. */
void reader_close(struct reader *r);

/* What the reader reads: "ptrace" (a process) or "core" (a core file). */
const char *reader_source_kind(const struct reader *r);
/* Whether ctl's commands (suspend, resume, refresh, detach) apply. */
bool reader_controllable(const struct reader *r);
/* Whether /proc/PID is the target's: fds, cwd, limits, ns... (state.h). */
bool reader_has_proc_state(const struct reader *r);
/* "key value" lines about the source for `status` (a core: which, what kind). */
int reader_describe(struct reader *r, struct sbuf *out);

pid_t reader_pid(const struct reader *r);
const char *reader_comm(const struct reader *r);
const char *reader_exe(const struct reader *r);	/* "" if unreadable */
const struct arch_desc *reader_arch(const struct reader *r);
const char *reader_state(const struct reader *r); /* "suspended", "live", "exited" or "core" */
/* True once every thread of the target has exited. */
bool reader_gone(const struct reader *r);

/* The maps snapshot taken at suspension, parsed and as raw text. */
const struct maps *reader_maps(const struct reader *r);
const char *reader_maps_text(const struct reader *r, size_t *len);

/* Live threads, ascending; returns how many there are (may exceed cap). */
size_t reader_threads(const struct reader *r, pid_t *tids, size_t cap);
/* Facts about one thread, from /proc/PID/task/TID at suspension. */
struct reader_thread_info {
	pid_t tid;
	char name[64];		/* comm */
	char state;		/* state letter before suspension (R, S, D, T...) */
	bool main;		/* the thread group leader */
	long syscall;		/* the syscall it was blocked in; -1: none */
	uint64_t syscall_args[6];
	uint64_t sp, pc;	/* as /proc/PID/task/TID/syscall gave them */
	uint64_t utime, stime;	/* clock ticks */
	long priority, nice;
	int processor;		/* last CPU it ran on */
};

/*
 * The tid of the i-th thread record, in the order met: a listing that
 * costs O(1) per entry. 0 alive, -ESRCH exited (a later record may have
 * its tid), -ENOENT past the last record.
 */
int reader_thread_at(const struct reader *r, size_t i, pid_t *tid);
/* -ENOENT for a tid never seen or exited, 0 when alive. */
int reader_thread_alive(const struct reader *r, pid_t tid);
/* NT_PRSTATUS regset captured at suspension: -ENOENT unknown, -EIO exited. */
int reader_thread_regs(const struct reader *r, pid_t tid, const void **blob,
		       size_t *len);

/*
 * Any register set captured at suspension, by ELF note type (NT_PRSTATUS,
 * NT_PRFPREG, NT_X86_XSTATE, ...): -ENOENT unknown tid, -EIO exited,
 * -ENODATA when the kernel offered none of that type.
 *
 * This and reader_thread_regs hand out the captured blob itself, read
 * without the thread's lock: it stays valid and unchanged only while the
 * caller holds the snapshot (reader_rdlock) AND the target is suspended
 * (not live, or under reader_hold_suspend). A suspension replaces the
 * sets under the write lock, and a live peek only a running thread's.
 * Anywhere else, copy with reader_thread_regset_copy.
 */
int reader_thread_regset(const struct reader *r, pid_t tid, unsigned type,
			 const void **blob, size_t *len);
int reader_thread_info(const struct reader *r, pid_t tid,
		       struct reader_thread_info *out);

/* /proc/PID files, as their bytes were at suspension. */
enum reader_file {
	RB_CMDLINE,
	RB_ENVIRON,
	RB_AUXV,
	RB_STAT,
	RB_STATUS,
	RB_COREDUMP_FILTER,
	RB_COUNT
};
/* -ENODATA when the file could not be read at suspension. */
int reader_file(const struct reader *r, enum reader_file which,
		const char **data, size_t *len);

/*
 * Modules: the mapped files, grouped by path (base = lowest address, end = highest, executable if any mapping
 * is), plus [vdso]. Names are the path's basename, unique: modules that
 * share a basename are all named "<basename>@<base in hex>".
 */
struct reader_module {
	const char *path;	/* as maps prints it (may end in " (deleted)") */
	char name[256];		/* without " (deleted)" */
	bool deleted;		/* unlinked: path ends in " (deleted)" */
	uint64_t base, end;
	bool executable;
	size_t first_map;	/* index of its lowest mapping in reader_maps() */
};

/* The module list, built once on first use. */
int reader_modules(struct reader *r, const struct reader_module **v, size_t *n);
/* The module whose name is name, or NULL. */
const struct reader_module *reader_module_by_name(struct reader *r, const char *name);
/* The module mapped from the executable (reader_exe), or NULL. */
const struct reader_module *reader_exe_module(struct reader *r);
/*
 * Its headers parsed from the target's memory (once, then cached):
 * corrupt and unknown are results, not errors.
 */
int reader_module_info(struct reader *r, const struct reader_module *m,
		       struct mod_info *out);
/*
 * The size of a module's file on disk: 0, -ENOENT (gone, or no path), or
 * -EIO when only the stopped target could answer (its file is on a FUSE
 * file system it may serve itself: even stat(2) would wait forever).
 */
int reader_module_file_size(struct reader *r, const struct reader_module *m,
			    uint64_t *size);

/*
 * A symbolized backtrace, one frame a line ("#N  0xPC function+0xOFF
 * module [at file:line]"), unwound with libdwfl from the registers and
 * memory of the snapshot. tid 0: every thread, under "TID n:" headers,
 * as eu-stack prints a process.
 */
int reader_stack(struct reader *r, pid_t tid, struct sbuf *out);

/*
 * Live mode and refreshes (reader/live.c). Every FUSE request holds the
 * snapshot shared (reader_rdlock .. reader_unlock); the calls below take
 * it exclusively, so they must not be made while holding it.
 */
void reader_rdlock(struct reader *r);
void reader_unlock(struct reader *r);
/* Bumped by every refresh: a walk's indexes are valid for its generation. */
unsigned reader_generation(const struct reader *r);
bool reader_is_live(const struct reader *r);
int reader_suspend(struct reader *r);		/* ctl suspend */
int reader_resume(struct reader *r);		/* ctl resume */
int reader_refresh_all(struct reader *r);	/* ctl refresh */
int reader_detach(struct reader *r);		/* ctl detach */
/* Live mode: re-reads maps when /proc/PID/maps changed. */
int reader_refresh_if_changed(struct reader *r);
/*
 * fn(arg) runs when the tree changes on its own: a thread exits (on the
 * tracer thread, before the exit is reaped, so before the target's parent
 * or /proc can tell). It must not block.
 */
void reader_on_change(struct reader *r, void (*fn)(void *), void *arg);
/* A stop that lasts until the matching release (live mode: core, stack). */
int reader_hold_suspend(struct reader *r);
void reader_release_suspend(struct reader *r);
/*
 * Copies register set `type` of tid into buf: from the snapshot when the
 * thread is stopped, else (live mode) by stopping it for the read.
 * Returns the length, -ENODATA when the kernel has no such set.
 */
int reader_thread_regset_copy(struct reader *r, pid_t tid, unsigned type,
			      void *buf, size_t cap);

/*
 * -o snapshot (reader/snapshot.c): how long the target stood still, the
 * part of that the clone() took, the clone's pid (0 once released), and
 * the bytes only the clone holds now (its Private_Dirty: pages the target
 * has since copied on write, or freed), and status lines naming what the
 * clone could not take (dontfork/wipeonfork ranges: copied or EIO) and
 * what is live (MAP_SHARED ranges). -ENODATA in the other modes.
 */
struct reader_snapshot_info {
	double freeze_ms, fork_ms;
	pid_t clone;
	uint64_t cow_bytes;
	unsigned count;		/* snapshots taken: 1 + refreshes */
	const char *notes;	/* not_copied and shared_live lines, or NULL */
	bool held;		/* ctl suspend: the target's threads held stopped */
	bool net;		/* the clone() ran with the net (reader/inject.h) laid */
};
int reader_snapshot_info(struct reader *r, struct reader_snapshot_info *out);

/*
 * `mem`: one sparse view of the address space, offset == address. Holes
 * (unmapped, unreadable, never-populated anonymous pages) read as zeros and
 * nothing is faulted in. Returns len, or -EIO once the target is gone.
 */
uint64_t reader_mem_size(const struct reader *r);
uint64_t reader_mem_data_bytes(const struct reader *r);
ssize_t reader_mem_read(struct reader *r, void *buf, size_t len, uint64_t addr);
/*
 * SEEK_DATA / SEEK_HOLE over [off, end): *out is the next data (or hole)
 * offset at or after off. SEEK_DATA with no data before end: -ENXIO.
 * SEEK_HOLE with no hole before end: *out = end.
 */
int reader_mem_seek(struct reader *r, uint64_t off, int whence, uint64_t end,
		    uint64_t *out);

/*
 * -o rw: writes into the target. Whether this reader takes them (asked
 * for, and a source that can: a process, not a core file).
 */
bool reader_writable(const struct reader *r);
/*
 * Writes buf at addr, through process_vm_writev or else /proc/PID/mem
 * (which also writes read-only pages, as a debugger's breakpoint does).
 * Only readable mappings take bytes: the write stops at the first byte
 * of a hole (unmapped, PROT_NONE, [vvar]). A page whose bytes are already
 * those of buf is not written, so zeros over a never-populated anonymous
 * page do not populate it. Returns the bytes written, or -EIO when the
 * first byte cannot be (-EROFS when the reader is not writable).
 */
ssize_t reader_mem_write(struct reader *r, const void *buf, size_t len, uint64_t addr);
/*
 * Sets registers of a stopped thread with one PTRACE_SETREGSET of its
 * NT_PRSTATUS (on the tracer thread), captures them again and drops the
 * caches, as reader_written does, all under the snapshot held
 * exclusively: call without holding it. -ENOENT
 * for an exited thread, -EBUSY for a running one (live mode), -EINVAL
 * when the kernel refuses a value (nothing changed then).
 */
int reader_thread_set_regs(struct reader *r, pid_t tid, const struct arch_reg_set *v,
			   size_t n);
/*
 * Sets one whole register set (NT_PRFPREG, NT_X86_XSTATE...) of a stopped
 * thread with one PTRACE_SETREGSET, and captures its sets again. Errors
 * as reader_thread_set_regs.
 */
int reader_thread_set_regset(struct reader *r, pid_t tid, unsigned type, const void *blob,
			     size_t len);
/*
 * After a write: everything made of the target's bytes or registers
 * (pagemap bits, modules, core layout, stacks, renderings keyed by the
 * generation) is dropped, as a refresh does. Takes the snapshot
 * exclusively: call without holding it.
 */
void reader_written(struct reader *r);

/*
 * -o rw: puts a core file (ptracefs's `core`, the kernel's, gcore's) back
 * into the process it was taken of, in one step. Refused with -EINVAL and
 * a one-line why, nothing changed, unless the backup's mappings (range,
 * rwx, file) and threads are the process's now. Then every thread's
 * registers (NT_PRSTATUS and the FP sets) are set, all or none, and every
 * segment's bytes written: the file's data as data, its holes as zeros
 * where the process has non-zero bytes now (never-touched pages stay
 * unpopulated); what a segment does not carry is left alone. A failure
 * while writing memory (the process died) leaves it partly restored, and
 * why says so.
 */
int reader_restore(struct reader *r, const char *path, char *why, size_t whylen);

#endif
