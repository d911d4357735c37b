/*
 * What a data source gives the reader (after libdwfl's
 * Dwfl_Thread_Callbacks, whose pid and core backends sit side by side).
 *
 * A source fills the snapshot in struct reader when it is opened
 * (identity, /proc files, maps, threads and their register sets) and
 * answers the questions below; the views (the sparse `mem`, modules, the
 * core writer, the unwinder) and fs/ ask only through these. Two sources
 * today: a process through ptrace (source_ptrace.c, the tracer, attach.c
 * and live.c behind it) and an ELF core file (source_core.c).
 *
 * Optional operations are NULL where a source cannot answer: the views
 * then do without (core: the dump rules without smaps, no signal masks),
 * and the facade answers -EOPNOTSUPP for control (fs hides `ctl`).
 * Every operation returns 0 or a count, or -errno.
 */
#ifndef PTRACEFS_READER_SOURCE_H
#define PTRACEFS_READER_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reader/reader.h"

struct reader;
struct smaps;
struct core_xfeat;
struct corenote_set;
struct sbuf;
struct arch_reg_set;
struct regset_put;

struct source_ops {
	const char *kind;		/* "ptrace", "core" */
	/* Lets go of what the source holds (threads, files); not the snapshot. */
	void (*close)(struct reader *r);
	/*
	 * Bytes [addr, addr+len) of data mapping idx of reader_maps():
	 * pages it cannot give read as zeros. 0, or -EIO (target gone).
	 */
	int (*read)(struct reader *r, size_t idx, void *buf, size_t len, uint64_t addr);
	/*
	 * First address in [from, to) of mapping idx whose populated-ness
	 * equals want, or `to`: what SEEK_DATA/SEEK_HOLE and `core` skip.
	 */
	uint64_t (*scan)(struct reader *r, size_t idx, uint64_t from, uint64_t to, bool want);
	/* Bytes outside `mem` (the [vsyscall] gate page): count or -errno. */
	ssize_t (*read_raw)(struct reader *r, void *buf, size_t len, uint64_t addr);
	/* "key value" lines status adds about the source; NULL: none. */
	int (*describe)(struct reader *r, struct sbuf *out);

	/* Facts only some sources have; NULL: not available. */
	bool proc_state;		/* /proc/PID is the target's (reader/state.c) */
	int (*smaps)(struct reader *r, struct smaps *out);
	int (*sigmasks)(struct reader *r, pid_t tid, uint64_t *pend, uint64_t *blk);
	/* x86: the XSAVE components of an NT_X86_XSTATE blob (NT_X86_XSAVE_LAYOUT). */
	size_t (*xsave_layout)(struct reader *r, const void *xstate, size_t len,
			       struct core_xfeat *out, size_t max);
	/*
	 * A core source's PTRACEFS notes, when it took them: `core` carries
	 * them on as they are. NULL: none that are exact (reconstructed
	 * text is not written as if /proc had given it).
	 */
	const struct corenote_set *(*notes)(struct reader *r);

	/* Control: a process that runs on. NULL for a core file. */
	int (*set_live)(struct reader *r, bool live);
	int (*refresh)(struct reader *r);
	int (*refresh_if_changed)(struct reader *r);
	int (*hold)(struct reader *r);
	void (*release)(struct reader *r);
	int (*detach)(struct reader *r);
	int (*regset_now)(struct reader *r, pid_t tid, unsigned type, void *buf, size_t cap);

	/* -o rw: writes (a core file takes none). Within data mapping idx:
	 * bytes written, or -errno when none could be. */
	ssize_t (*write)(struct reader *r, size_t idx, const void *buf, size_t len,
			 uint64_t addr);
	int (*set_regs)(struct reader *r, pid_t tid, const struct arch_reg_set *v, size_t n);
	/* Whole register sets, all or none (reader_int.h, ptrace_put_regsets). */
	int (*put_regsets)(struct reader *r, const struct regset_put *v, size_t n,
			   const void *data, size_t datalen, size_t *bad);
};

/* A source's state begins with this (the core source embeds it). */
struct source {
	const struct source_ops *ops;
};

extern const struct source source_ptrace;

/*
 * A source outside reader/ (the unit tests' canned process) hands its
 * snapshot over as data, copied into the reader; its operations find
 * their state again with reader_source (struct source first in it).
 */
struct source_regset {
	unsigned type;			/* NT_PRSTATUS, NT_PRFPREG, ... */
	const void *data;
	size_t len;
};

struct source_thread {
	struct reader_thread_info info;	/* info.tid names it; main is derived */
	const struct source_regset *sets;
	size_t nsets;			/* at most ARCH_MAX_REGSETS */
};

struct source_snapshot {
	pid_t pid;
	const char *comm, *exe;
	const struct arch_desc *arch;
	const char *maps_text;		/* /proc/PID/maps */
	size_t maps_len;
	struct {
		const void *data;	/* NULL: unreadable at suspension */
		size_t len;
	} files[RB_COUNT];
	const struct source_thread *threads;
	size_t nthreads;
};

/*
 * The reader of src over snapshot s; reader_close closes src. On failure
 * src stays the caller's. -ENOMEM, -EINVAL (maps that do not parse).
 */
int reader_open_source(struct source *src, const struct source_snapshot *s,
		       const struct reader_opts *opts, struct reader **out);
const struct source *reader_source(const struct reader *r);
/* The unit of scan (also in reader_int.h, for reader/'s own files). */
uint64_t reader_page_size(void);
/* Thread tid exited: listings drop it and its files are gone. */
void reader_thread_exited(struct reader *r, pid_t tid);

#endif
