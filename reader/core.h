/*
 * `core`: an ELF core file of the suspended process, as the kernel's core
 * dumper would write it, built on the fly.
 *
 * The file is laid out once (reader_core_layout): the ELF header, one
 * PT_NOTE and one PT_LOAD per mapping (then the PTRACEFS notes' PT_NOTE),
 * then the notes, all generated into
 * memory (they are small); from the next page boundary on, the bytes of
 * each dumped mapping in address order, read from the target only when
 * someone reads that part of the file. Never-populated pages are holes,
 * and a mapping the dump rules skip has p_filesz 0 and takes no space.
 *
 * The layout arithmetic (core_build, core_locate, the dump rule and the
 * note encoders) is pure: it sees the process as a struct core_input and
 * never makes a syscall, so unit tests and fuzzers drive it directly.
 */
#ifndef PTRACEFS_CORE_H
#define PTRACEFS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/arch.h"
#include "reader/corenote.h"
#include "reader/maps.h"
#include "reader/smaps.h"

struct reader;

/* /proc/PID/coredump_filter bits (core(5)). */
enum {
	CDF_ANON_PRIVATE = 1 << 0,
	CDF_ANON_SHARED = 1 << 1,
	CDF_MAPPED_PRIVATE = 1 << 2,
	CDF_MAPPED_SHARED = 1 << 3,
	CDF_ELF_HEADERS = 1 << 4,
	CDF_HUGETLB_PRIVATE = 1 << 5,
	CDF_HUGETLB_SHARED = 1 << 6,
	CDF_DAX_PRIVATE = 1 << 7,
	CDF_DAX_SHARED = 1 << 8,
};
#define CORE_FILTER_DEFAULT 0x33u

/* How much of one mapping goes into the file. */
enum core_dump {
	CORE_DUMP_NONE,		/* a PT_LOAD with p_filesz 0 */
	CORE_DUMP_WHOLE,
	CORE_DUMP_ELF_HEADER,	/* its first page, if it starts with ELF magic */
};

/*
 * The kernel's rules (fs/coredump.c vma_dump_size) for one mapping under
 * filter, with s its smaps entry (NULL when smaps was unreadable: then
 * VmFlags are unknown, a special name stands in for them, and anonymous
 * memory counts as written to).
 */
enum core_dump core_dump_rule(const struct map_entry *e,
			      const struct smaps_entry *s, unsigned filter);
/* A mapping the kernel always dumps whole: the gate page, vDSO and kin. */
bool core_special_mapping(const char *path);

/* A thread as its notes need it. */
struct core_regset {
	unsigned type;			/* NT_PRSTATUS, NT_PRFPREG, ... */
	const void *data;
	size_t len;
};

struct core_thread {
	pid_t tid;
	const struct core_regset *sets;	/* as captured, NT_PRSTATUS among them */
	size_t nsets;
	uint64_t sigpend, sighold;	/* first word of the pending/blocked sets */
	uint64_t utime, stime;		/* clock ticks */
};

/* The process, from /proc/PID/stat, status and cmdline. */
struct core_proc {
	pid_t pid, ppid, pgrp, sid;
	char state;			/* state letter before the suspension */
	int nice;
	uint64_t flags;			/* task flags (stat field 9) */
	uint32_t uid, gid;		/* real ids */
	uint64_t utime, stime, cutime, cstime;	/* clock ticks, whole process */
	char fname[16];			/* comm, NUL padded, maybe unterminated */
	char psargs[80];		/* argv joined by spaces, NUL terminated */
};

/*
 * One component of the XSAVE area as NT_X86_XSAVE_LAYOUT describes it
 * (the kernel's struct x86_xfeat_component): newer debuggers read the
 * NT_X86_XSTATE of a core through it, where it differs from Intel's
 * layout (AMD: PKRU right after AVX).
 */
struct core_xfeat {
	uint32_t type, size, offset, flags;
};

struct core_input {
	const struct arch_desc *arch;	/* with ->core */
	const struct core_proc *proc;
	const struct core_thread *threads;	/* the main thread first */
	size_t nthreads;
	const void *auxv;
	size_t auxv_len;
	const struct maps *maps;
	const uint64_t *filesz;		/* per mapping: bytes in the file */
	const uint64_t *resident;	/* per mapping: of those, likely data;
					 * NULL: all of them (sizes st_blocks) */
	uint64_t page_size;		/* data alignment, NT_FILE's unit */
	long clk_tck;			/* clock ticks per second */
	const struct core_xfeat *xfeats;	/* x86: the last note, if any */
	size_t nxfeats;
	/* The PTRACEFS notes (reader/corenote.h), in a PT_NOTE of their own
	 * after every PT_LOAD; NULL: none, the kernel's layout exactly. */
	const struct corenote_set *extra;
};

/* One PT_LOAD. */
struct core_seg {
	uint64_t vaddr, memsz;
	uint64_t offset, filesz;	/* where its bytes are in the file */
	size_t map;			/* index into the maps it came from */
};

struct core_layout {
	unsigned char *head;		/* ELF header, program headers, notes */
	size_t head_len;
	uint64_t data_off;		/* head_len rounded up to a page */
	uint64_t size;			/* of the whole file */
	uint64_t data_bytes;		/* estimate of non-hole bytes (st_blocks) */
	struct core_seg *segs;		/* every PT_LOAD, in address order */
	size_t nsegs;
	size_t *filled;			/* indexes of segs with filesz > 0 */
	size_t nfilled;
};

/* Lays the file out. -EINVAL (no arch->core), -ENOMEM, -EFBIG. */
int core_build(const struct core_input *in, struct core_layout **out);
void core_layout_free(struct core_layout *l);
/*
 * Index into l->filled of the segment holding file offset off, or of the
 * first one after it; l->nfilled when off is past the last segment.
 */
size_t core_locate(const struct core_layout *l, uint64_t off);

/*
 * The reader's `core`: laid out on first use (any thread may ask; one
 * builds, the others wait) and kept until reader_close. Reads fill every
 * byte asked for below the size; -EIO once the target is gone.
 */
int reader_core_layout(struct reader *r, const struct core_layout **out);
int reader_core_size(struct reader *r, uint64_t *size, uint64_t *blocks);
ssize_t reader_core_read(struct reader *r, void *buf, size_t len, uint64_t off);
/* SEEK_DATA / SEEK_HOLE as lseek(2): -ENXIO past the end or no data left. */
int reader_core_seek(struct reader *r, uint64_t off, int whence, uint64_t *out);

#endif
