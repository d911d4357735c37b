/*
 * An ELF core file's program headers and notes, decoded (libelf on an Elf
 * the caller opened, so fuzzers hand it bytes and the core source a file
 * descriptor). Pure: nothing here reads the file but through libelf, and
 * nothing trusts it: counts are checked against sizes, names need their
 * NUL, segments that overlap or wrap are dropped and said so in `problems`.
 */
#ifndef PTRACEFS_COREFILE_H
#define PTRACEFS_COREFILE_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/arch.h"

/* Who wrote it (reader/corefile.c says how it tells). */
enum corefile_kind { COREFILE_KERNEL, COREFILE_GDB, COREFILE_PTRACEFS };

struct corefile_seg {
	uint64_t vaddr, memsz;
	uint64_t offset, filesz;	/* filesz: what the header claims */
	uint64_t avail;			/* of filesz, what the file holds (truncation) */
	unsigned flags;			/* PF_R/W/X */
};

struct corefile_file {			/* one NT_FILE entry */
	uint64_t start, end, offset;	/* offset in bytes */
	const char *path;		/* into the note: NUL-terminated */
};

struct corefile_set {
	unsigned type;			/* NT_PRSTATUS: pr_reg only */
	const unsigned char *data;
	size_t len;
};

struct corefile_thread {
	pid_t tid, ppid, pgrp, sid;
	int signo, cursig;
	uint64_t sigpend, sighold;
	uint64_t utime_us, stime_us;
	struct corefile_set sets[ARCH_MAX_REGSETS];
	size_t nsets;
};

struct corefile {
	const struct arch_desc *arch;
	enum corefile_kind kind;
	struct corefile_seg *segs;	/* PT_LOADs, by address, none overlapping */
	size_t nsegs;
	struct corefile_thread *threads;	/* in note order: the signalled one first */
	size_t nthreads;
	struct corefile_file *files;	/* NT_FILE, by address */
	size_t nfiles;
	uint64_t file_page;		/* NT_FILE's page size */
	bool have_file_note;
	bool have_psinfo;
	char state;			/* pr_sname */
	int nice;
	uint32_t uid, gid;
	pid_t pid, ppid, pgrp, sid;
	char fname[17];
	char psargs[81];
	const unsigned char *auxv;	/* NT_AUXV */
	size_t auxv_len;
	int sig_signo, sig_code;	/* NT_SIGINFO, first one */
	uint64_t sig_addr;
	bool have_siginfo;
	const unsigned char *xsave_layout;	/* x86 NT_X86_XSAVE_LAYOUT, if written */
	size_t xsave_layout_len;
	/* The last PT_NOTE, in the file: where our PTRACEFS notes are. */
	uint64_t last_note_off, last_note_len;
	char problems[512];		/* "; "-separated, empty when none */
};

/*
 * Decodes elf (which must stay open while cf is used: notes point into
 * it). file_size bounds every offset. -EINVAL with a one-line why for
 * something that is not a core at all; a damaged core parses with
 * problems noted.
 */
int corefile_parse(Elf *elf, uint64_t file_size, struct corefile *cf, char *why,
		   size_t whylen);
void corefile_free(struct corefile *cf);
/* The value of auxv entry type, or 0. */
uint64_t corefile_auxv(const struct corefile *cf, uint64_t type);
const char *corefile_kind_name(enum corefile_kind k);
/* Appends one "; "-separated item to cf->problems (cut at its size). */
void corefile_problem(struct corefile *cf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct corenote_set;
/*
 * Whether a core's PTRACEFS notes (reader/corenote.h) agree with its
 * standard notes, so the core source may take them as they are: the pid
 * is pid; the maps text parses and has exactly one line per PT_LOAD, same
 * range and rwx (our `core` writes one per mapping); every thread note
 * names a thread with an NT_PRSTATUS and its stat and syscall lines
 * parse. 0, or -EINVAL or -ENOMEM with why.
 */
int corefile_check_notes(const struct corefile *cf, const struct corenote_set *s, pid_t pid,
			 char *why, size_t whylen);
/* The thread note of tid, or NULL. */
const struct corenote_thread *corefile_note_thread(const struct corenote_set *s, pid_t tid);

#endif
