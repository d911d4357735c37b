/*
 * The layout of `core`, as pure arithmetic over a struct core_input: which
 * mappings are dumped, the ELF and program headers, the notes, and which
 * segment a file offset falls in. No syscalls: reader/core_read.c gathers
 * the input from a live reader and serves reads.
 *
 * What the file looks like follows the kernel's dumper (fs/binfmt_elf.c):
 *   ELF header; program headers, PT_NOTE first, then one PT_LOAD per
 *   mapping in address order (the gate page included); notes, 4-byte
 *   aligned; zeros to the next page; the dumped bytes of each PT_LOAD in
 *   order, packed (every p_filesz is a multiple of the page size).
 * Notes come in the kernel's order: the first thread's NT_PRSTATUS, then
 * the process-wide NT_PRPSINFO, NT_AUXV and NT_FILE, then the first
 * thread's other register sets; then each other thread's NT_PRSTATUS and
 * register sets. NT_SIGINFO is left out: no signal made this core. Last,
 * for x86, NT_X86_XSAVE_LAYOUT, as Linux 6.11 and later write it.
 *
 * Ours alone: the PTRACEFS notes (corenote.h), in a second PT_NOTE. Its
 * program header is the last, after every PT_LOAD, and its bytes follow
 * the standard notes: the kernel's headers stay a prefix of ours, and
 * libdwfl's thread attach (which reads only the first PT_NOTE) still
 * finds every register set there.
 */
#include "reader/core.h"
#include "reader/bytes.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NOTE_ALIGN 4
#ifndef NT_X86_XSAVE_LAYOUT
#define NT_X86_XSAVE_LAYOUT 0x205
#endif
/* The kernel drops NT_FILE rather than write more than this. */
#define FILE_NOTE_MAX (4u << 20)

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * Shared memory "mapped from an anonymous file" (the kernel tests the
 * file's i_nlink == 0): MAP_SHARED|MAP_ANONYMOUS shows as "/dev/zero
 * (deleted)", SysV shm and memfds as deleted files, named ones as
 * [anon_shmem:...]. A deleted file is the same case to the kernel.
 */
static bool shared_is_anon(const struct map_entry *e)
{
	return e->path[0] != '/' || has_suffix(e->path, " (deleted)");
}

bool core_special_mapping(const char *path)
{
	static const char *const always[] = {
		"[vdso]", "[vsyscall]", "[vectors]", "[sigpage]", "[uprobes]",
		"[vvar]", "[vvar_vclock]",
	};

	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (strcmp(path, always[i]) == 0)
			return true;
	return false;
}

enum core_dump core_dump_rule(const struct map_entry *e,
			      const struct smaps_entry *s, unsigned filter)
{
	unsigned vmf;
	bool shared, written;

	/*
	 * The kernel always dumps its special mappings whole (always_dump_vma:
	 * the gate page, and every mapping named by its vm_ops): the vDSO and
	 * its data pages, arm's [vectors] and [sigpage], [uprobes]. It cannot
	 * read the data pages ([vvar*]: VM_IO, VM_PFNMAP) and writes zeros
	 * there; so do we (core_read.c), without trying.
	 */
	if (core_special_mapping(e->path))
		return CORE_DUMP_WHOLE;
	if (s && s->has_vmflags)
		vmf = s->vmflags;
	else
		vmf = (e->perms & PERM_SHARED) ? VMF_SH : 0;
	/*
	 * Never device memory, raw page frames or MADV_DONTDUMP; nor memory a
	 * userfaultfd handler serves: its handler is stopped with the rest of
	 * the target, so a read would wait forever.
	 */
	if (vmf & (VMF_DD | VMF_IO | VMF_PF | VMF_UM | VMF_UW))
		return CORE_DUMP_NONE;
	/*
	 * Nor what the target itself cannot read: the kernel dumps a
	 * PROT_NONE mapping that was ever written (through FOLL_FORCE), but
	 * `mem` holds no bytes for it, and a hole would pass for zeros.
	 */
	if (!(e->perms & PERM_R))
		return CORE_DUMP_NONE;
	shared = vmf & VMF_SH;
	if (vmf & VMF_HT)
		return filter & (shared ? CDF_HUGETLB_SHARED : CDF_HUGETLB_PRIVATE) ?
			CORE_DUMP_WHOLE : CORE_DUMP_NONE;
	if (shared)
		return filter & (shared_is_anon(e) ? CDF_ANON_SHARED : CDF_MAPPED_SHARED) ?
			CORE_DUMP_WHOLE : CORE_DUMP_NONE;
	/*
	 * Private: the kernel dumps it whole when it has an anon_vma, i.e.
	 * was ever written to. Anonymous or swapped pages show that; with no
	 * smaps, guess that anonymous memory was and file mappings were not.
	 */
	if (s)
		written = s->anon_kb || s->swap_kb;
	else
		written = map_is_anon(e) || (e->perms & PERM_W);
	if (written && (filter & CDF_ANON_PRIVATE))
		return CORE_DUMP_WHOLE;
	if (map_is_anon(e) || !map_is_file(e))
		return CORE_DUMP_NONE;
	if (filter & CDF_MAPPED_PRIVATE)
		return CORE_DUMP_WHOLE;
	/* The first page of an ELF file, so debuggers find its build id. */
	if ((filter & CDF_ELF_HEADERS) && e->offset == 0)
		return CORE_DUMP_ELF_HEADER;
	return CORE_DUMP_NONE;
}

/* Byte order and word size of the target. */
struct enc {
	bool msb;
	unsigned word;
};

static void put(const struct enc *en, unsigned char *p, unsigned size, uint64_t v)
{
	put_n(p, size, en->msb, v);
}

/* A growable byte buffer for the notes. */
struct nbuf {
	unsigned char *p;
	size_t len, cap;
	int err;
};

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/*
 * Appends a note header and name and returns the zeroed descriptor of
 * descsz bytes (padded to the note alignment), or NULL on failure.
 */
static unsigned char *note_add(struct nbuf *b, const struct enc *en,
			       const char *name, unsigned type, size_t descsz)
{
	size_t namesz = strlen(name) + 1;
	size_t need = 12 + align_up(namesz, NOTE_ALIGN) + align_up(descsz, NOTE_ALIGN);
	unsigned char *p;

	if (b->err)
		return NULL;
	if (descsz > UINT32_MAX - NOTE_ALIGN) {
		b->err = -EFBIG;
		return NULL;
	}
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		unsigned char *np;

		while (cap < b->len + need)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->p = np;
		b->cap = cap;
	}
	p = b->p + b->len;
	memset(p, 0, need);
	put(en, p, 4, namesz);
	put(en, p + 4, 4, descsz);
	put(en, p + 8, 4, type);
	memcpy(p + 12, name, namesz);
	b->len += need;
	return p + 12 + align_up(namesz, NOTE_ALIGN);
}

static void note_copy(struct nbuf *b, const struct enc *en, const char *name,
		      unsigned type, const void *data, size_t len)
{
	unsigned char *d = note_add(b, en, name, type, len);

	if (d && len)
		memcpy(d, data, len);
}

/* Ticks as the struct timeval the notes carry. */
static void put_timeval(const struct enc *en, unsigned char *p, uint64_t ticks,
			long clk_tck)
{
	uint64_t hz = clk_tck > 0 ? (uint64_t)clk_tck : 100;

	put(en, p, en->word, ticks / hz);
	put(en, p + en->word, en->word, ticks % hz * 1000000 / hz);
}

static const struct core_regset *find_set(const struct core_thread *t, unsigned type)
{
	for (size_t k = 0; k < t->nsets; k++)
		if (t->sets[k].type == type)
			return &t->sets[k];
	return NULL;
}

static void note_prstatus(struct nbuf *b, const struct enc *en,
			  const struct core_input *in, const struct core_thread *t,
			  bool leader)
{
	const struct arch_core *ac = in->arch->core;
	const struct core_proc *pr = in->proc;
	const struct core_regset *regs = find_set(t, NT_PRSTATUS);
	unsigned char *d = note_add(b, en, "CORE", NT_PRSTATUS, ac->prstatus.size);
	size_t n;

	if (!d)
		return;
	/* pr_info and pr_cursig stay 0: the process was stopped, not signalled. */
	put(en, d + ac->prstatus.sigpend, en->word, t->sigpend);
	put(en, d + ac->prstatus.sighold, en->word, t->sighold);
	put(en, d + ac->prstatus.pid, 4, (uint32_t)t->tid);
	put(en, d + ac->prstatus.ppid, 4, (uint32_t)pr->ppid);
	put(en, d + ac->prstatus.pgrp, 4, (uint32_t)pr->pgrp);
	put(en, d + ac->prstatus.sid, 4, (uint32_t)pr->sid);
	/* As the kernel: the leader carries the whole group's times. */
	put_timeval(en, d + ac->prstatus.utime, leader ? pr->utime : t->utime, in->clk_tck);
	put_timeval(en, d + ac->prstatus.stime, leader ? pr->stime : t->stime, in->clk_tck);
	put_timeval(en, d + ac->prstatus.cutime, pr->cutime, in->clk_tck);
	put_timeval(en, d + ac->prstatus.cstime, pr->cstime, in->clk_tck);
	if (regs) {
		n = regs->len < in->arch->regs_size ? regs->len : in->arch->regs_size;
		if (ac->prstatus.reg + n <= ac->prstatus.size)
			memcpy(d + ac->prstatus.reg, regs->data, n);
	}
	put(en, d + ac->prstatus.fpvalid, 4, find_set(t, NT_PRFPREG) != NULL);
}

static void note_prpsinfo(struct nbuf *b, const struct enc *en,
			  const struct core_input *in)
{
	const struct arch_core *ac = in->arch->core;
	const struct core_proc *pr = in->proc;
	unsigned char *d = note_add(b, en, "CORE", NT_PRPSINFO, ac->prpsinfo.size);
	const char *states = "RSDTZW", *hit;

	if (!d)
		return;
	hit = pr->state ? strchr(states, pr->state) : NULL;
	d[ac->prpsinfo.state] = (unsigned char)(hit ? hit - states : 0);
	d[ac->prpsinfo.sname] = (unsigned char)(pr->state ? pr->state : '.');
	d[ac->prpsinfo.zomb] = pr->state == 'Z';
	d[ac->prpsinfo.nice] = (unsigned char)(signed char)pr->nice;
	put(en, d + ac->prpsinfo.flag, en->word, pr->flags);
	put(en, d + ac->prpsinfo.uid, ac->prpsinfo.id_size, pr->uid);
	put(en, d + ac->prpsinfo.gid, ac->prpsinfo.id_size, pr->gid);
	put(en, d + ac->prpsinfo.pid, 4, (uint32_t)pr->pid);
	put(en, d + ac->prpsinfo.ppid, 4, (uint32_t)pr->ppid);
	put(en, d + ac->prpsinfo.pgrp, 4, (uint32_t)pr->pgrp);
	put(en, d + ac->prpsinfo.sid, 4, (uint32_t)pr->sid);
	memcpy(d + ac->prpsinfo.fname, pr->fname, sizeof(pr->fname));
	memcpy(d + ac->prpsinfo.psargs, pr->psargs, sizeof(pr->psargs));
	d[ac->prpsinfo.psargs + sizeof(pr->psargs) - 1] = '\0';
}

/*
 * NT_FILE: count and page size, then {start, end, offset in pages} per
 * file-backed mapping, then their names, NUL terminated, in the same order.
 */
static void note_file(struct nbuf *b, const struct enc *en, const struct core_input *in)
{
	const struct maps *m = in->maps;
	size_t count = 0, names = 0, size;
	unsigned char *d, *p;
	char *s;

	for (size_t i = 0; i < m->n; i++)
		if (map_is_file(&m->v[i])) {
			count++;
			names += strlen(m->v[i].path) + 1;
		}
	size = (2 + 3 * count) * en->word + names;
	if (size > FILE_NOTE_MAX)
		return;
	d = note_add(b, en, "CORE", NT_FILE, size);
	if (!d)
		return;
	put(en, d, en->word, count);
	put(en, d + en->word, en->word, in->page_size);
	p = d + 2 * en->word;
	s = (char *)d + (2 + 3 * count) * en->word;
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];
		size_t n;

		if (!map_is_file(e))
			continue;
		put(en, p, en->word, e->start);
		put(en, p + en->word, en->word, e->end);
		put(en, p + 2 * en->word, en->word, e->offset / in->page_size);
		p += 3 * en->word;
		n = strlen(e->path) + 1;
		memcpy(s, e->path, n);
		s += n;
	}
}

static void note_regsets(struct nbuf *b, const struct enc *en, const struct core_thread *t)
{
	for (size_t k = 0; k < t->nsets; k++) {
		const struct core_regset *rs = &t->sets[k];

		if (rs->type == NT_PRSTATUS)
			continue;
		/* The kernel names the fxsave set "CORE" and every later one "LINUX". */
		note_copy(b, en, rs->type == NT_PRFPREG ? "CORE" : "LINUX", rs->type,
			  rs->data, rs->len);
	}
}

/* The process's notes: the kernel puts them after the first NT_PRSTATUS. */
static void note_process(struct nbuf *b, const struct enc *en,
			 const struct core_input *in)
{
	note_prpsinfo(b, en, in);
	if (in->auxv_len)
		note_copy(b, en, "CORE", NT_AUXV, in->auxv, in->auxv_len);
	note_file(b, en, in);
}

static int build_notes(const struct core_input *in, const struct enc *en,
		       struct nbuf *b)
{
	for (size_t i = 0; i < in->nthreads; i++) {
		const struct core_thread *t = &in->threads[i];

		note_prstatus(b, en, in, t, t->tid == in->proc->pid);
		if (i == 0)
			note_process(b, en, in);
		note_regsets(b, en, t);
	}
	if (in->nthreads == 0)	/* every thread gone: still say whose core */
		note_process(b, en, in);
	/* After every thread, as the kernel's extra notes (since Linux 6.11). */
	if (in->nxfeats) {
		unsigned char *d = note_add(b, en, "LINUX", NT_X86_XSAVE_LAYOUT,
					    16 * in->nxfeats);

		for (size_t i = 0; d && i < in->nxfeats; i++) {
			put(en, d + 16 * i, 4, in->xfeats[i].type);
			put(en, d + 16 * i + 4, 4, in->xfeats[i].size);
			put(en, d + 16 * i + 8, 4, in->xfeats[i].offset);
			put(en, d + 16 * i + 12, 4, in->xfeats[i].flags);
		}
	}
	return b->err;
}

/* Header sizes per ELF class: ehdr, phdr, shdr. */
struct elfsz {
	unsigned eh, ph, sh;
};

static void write_ehdr(unsigned char *h, const struct enc *en, const struct core_input *in,
		       const struct elfsz *sz, size_t phnum, uint64_t shoff)
{
	bool is64 = in->arch->elf_class == ELFCLASS64;
	bool ext = phnum >= PN_XNUM;
	unsigned a = is64 ? 8 : 4;	/* width of addresses and offsets */
	unsigned char *p = h + EI_NIDENT;

	memcpy(h, ELFMAG, SELFMAG);
	h[EI_CLASS] = in->arch->elf_class;
	h[EI_DATA] = in->arch->core->elf_data;
	h[EI_VERSION] = EV_CURRENT;
	h[EI_OSABI] = ELFOSABI_NONE;
	put(en, p, 2, ET_CORE);
	put(en, p + 2, 2, in->arch->elf_machine);
	put(en, p + 4, 4, EV_CURRENT);
	p += 8;
	put(en, p, a, 0);			/* e_entry */
	put(en, p + a, a, sz->eh);		/* e_phoff */
	put(en, p + 2 * a, a, shoff);		/* e_shoff */
	p += 3 * a;
	put(en, p, 4, in->arch->core->e_flags);
	put(en, p + 4, 2, sz->eh);
	put(en, p + 6, 2, sz->ph);
	put(en, p + 8, 2, ext ? PN_XNUM : phnum);
	put(en, p + 10, 2, ext ? sz->sh : 0);	/* e_shentsize */
	put(en, p + 12, 2, ext ? 1 : 0);	/* e_shnum */
	put(en, p + 14, 2, SHN_UNDEF);		/* e_shstrndx */
}

static void write_phdr(unsigned char *p, const struct enc *en, bool is64, uint32_t type,
		       uint32_t flags, uint64_t off, uint64_t vaddr, uint64_t filesz,
		       uint64_t memsz, uint64_t align)
{
	if (is64) {
		put(en, p, 4, type);
		put(en, p + 4, 4, flags);
		put(en, p + 8, 8, off);
		put(en, p + 16, 8, vaddr);
		put(en, p + 24, 8, 0);		/* p_paddr */
		put(en, p + 32, 8, filesz);
		put(en, p + 40, 8, memsz);
		put(en, p + 48, 8, align);
	} else {
		put(en, p, 4, type);
		put(en, p + 4, 4, off);
		put(en, p + 8, 4, vaddr);
		put(en, p + 12, 4, 0);
		put(en, p + 16, 4, filesz);
		put(en, p + 20, 4, memsz);
		put(en, p + 24, 4, flags);
		put(en, p + 28, 4, align);
	}
}

/*
 * More than 65534 program headers do not fit e_phnum: then it holds
 * PN_XNUM and section header 0 carries the count in sh_info (the kernel
 * writes that header at the end of the file; right after the program
 * headers is as valid and keeps the tail of the file pure data).
 */
static void write_shdr(unsigned char *p, const struct enc *en, bool is64, size_t phnum)
{
	if (is64) {
		put(en, p + 32, 8, 1);		/* sh_size: e_shnum */
		put(en, p + 44, 4, phnum);	/* sh_info */
	} else {
		put(en, p + 20, 4, 1);
		put(en, p + 28, 4, phnum);
	}
}

static uint32_t pflags(unsigned perms)
{
	return (perms & PERM_R ? PF_R : 0) | (perms & PERM_W ? PF_W : 0) |
	       (perms & PERM_X ? PF_X : 0);
}

int core_build(const struct core_input *in, struct core_layout **out)
{
	const struct arch_core *ac = in->arch ? in->arch->core : NULL;
	const struct maps *m = in->maps;
	struct nbuf notes = { 0 };
	struct core_layout *l = NULL;
	struct enc en;
	struct elfsz sz;
	unsigned char *extra = NULL;
	size_t phnum, hdr_len, notes_off, extra_len = 0;
	uint64_t off, page = in->page_size;
	bool is64;
	int rc;

	*out = NULL;
	if (!ac || page == 0 || (page & (page - 1)) ||
	    (in->arch->elf_class != ELFCLASS32 && in->arch->elf_class != ELFCLASS64) ||
	    ac->prstatus.reg + in->arch->regs_size > ac->prstatus.size)
		return -EINVAL;
	is64 = in->arch->elf_class == ELFCLASS64;
	en.msb = ac->elf_data == ELFDATA2MSB;
	en.word = ac->word;
	sz.eh = is64 ? 64 : 52;
	sz.ph = is64 ? 56 : 32;
	sz.sh = is64 ? 64 : 40;
	if (m->n > UINT32_MAX - 2)
		return -EFBIG;
	phnum = m->n + 1 + (in->extra != NULL);

	rc = build_notes(in, &en, &notes);
	if (rc == 0 && in->extra)
		rc = corenote_build(in->extra, en.msb, &extra, &extra_len);
	if (rc)
		goto out_free;
	rc = -ENOMEM;
	l = calloc(1, sizeof(*l));
	if (!l)
		goto out_free;
	hdr_len = sz.eh + phnum * sz.ph + (phnum >= PN_XNUM ? sz.sh : 0);
	notes_off = hdr_len;
	l->head_len = notes_off + notes.len + extra_len;
	l->head = calloc(1, l->head_len);
	l->segs = calloc(m->n ? m->n : 1, sizeof(*l->segs));
	l->filled = calloc(m->n ? m->n : 1, sizeof(*l->filled));
	if (!l->head || !l->segs || !l->filled)
		goto out_free;
	memcpy(l->head + notes_off, notes.p, notes.len);
	if (extra_len) {
		memcpy(l->head + notes_off + notes.len, extra, extra_len);
		write_phdr(l->head + sz.eh + (phnum - 1) * sz.ph, &en, is64, PT_NOTE, 0,
			   notes_off + notes.len, 0, extra_len, 0, NOTE_ALIGN);
	}

	write_ehdr(l->head, &en, in, &sz, phnum,
		   phnum >= PN_XNUM ? sz.eh + phnum * sz.ph : 0);
	if (phnum >= PN_XNUM)
		write_shdr(l->head + sz.eh + phnum * sz.ph, &en, is64, phnum);
	write_phdr(l->head + sz.eh, &en, is64, PT_NOTE, 0, notes_off, 0,
		   notes.len, 0, NOTE_ALIGN);

	l->data_off = off = align_up(l->head_len, page);
	l->data_bytes = l->head_len;
	l->nsegs = m->n;
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];
		struct core_seg *s = &l->segs[i];
		uint64_t filesz = in->filesz ? in->filesz[i] : 0;

		/* Never more than the mapping, and whole pages (packing needs it). */
		if (filesz > e->end - e->start)
			filesz = e->end - e->start;
		filesz &= ~(page - 1);
		s->vaddr = e->start;
		s->memsz = e->end - e->start;
		s->offset = off;
		s->filesz = filesz;
		s->map = i;
		/* FUSE offsets are signed: the file must end below 2^63. */
		if (filesz > (UINT64_MAX >> 1) - off ||
		    (!is64 && (e->end > UINT32_MAX + 1ull || off + filesz > UINT32_MAX))) {
			rc = -EFBIG;
			goto out_free;
		}
		write_phdr(l->head + sz.eh + (i + 1) * sz.ph, &en, is64, PT_LOAD,
			   pflags(e->perms), off, s->vaddr, filesz, s->memsz, page);
		if (filesz) {
			l->filled[l->nfilled++] = i;
			l->data_bytes += in->resident && in->resident[i] < filesz ?
				in->resident[i] : filesz;
		}
		off += filesz;
	}
	l->size = off;
	*out = l;
	l = NULL;
	rc = 0;
out_free:	/* the notes' buffers; the layout unless it was handed out */
	free(notes.p);
	free(extra);
	core_layout_free(l);
	return rc;
}

void core_layout_free(struct core_layout *l)
{
	if (!l)
		return;
	free(l->head);
	free(l->segs);
	free(l->filled);
	free(l);
}

size_t core_locate(const struct core_layout *l, uint64_t off)
{
	size_t lo = 0, hi = l->nfilled;

	/* Filled segments are packed in ascending offsets: find the first
	 * that ends after off. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct core_seg *s = &l->segs[l->filled[mid]];

		if (s->offset + s->filesz <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
