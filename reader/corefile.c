/*
 * Decoding an ELF core: PT_LOADs and the notes the kernel (fs/binfmt_elf.c
 * elf_core_dump) and gdb's gcore (gdb/linux-tdep.c) write.
 *
 * Kernel order: the dumping thread's NT_PRSTATUS, NT_PRPSINFO, NT_SIGINFO,
 * NT_AUXV, NT_FILE, then its other regsets; then each other thread's
 * NT_PRSTATUS and regsets. A regset note belongs to the NT_PRSTATUS
 * before it. gcore puts NT_PRPSINFO first, an NT_SIGINFO per thread, and
 * a "GDB" NT_GDB_TDESC; ptracefs adds notes of owner "PTRACEFS".
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader/bytes.h"
#include "reader/corefile.h"
#include "reader/corenote.h"
#include "reader/maps.h"
#include "reader/procstat.h"

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
#ifndef NT_SIGINFO
#define NT_SIGINFO 0x53494749
#endif
#define NT_XSAVE_LAYOUT 0x205	/* NT_X86_XSAVE_LAYOUT, newer than our <elf.h> */
#define NOTES_MAX ((uint64_t)256 << 20)	/* all PT_NOTEs together */
#define THREADS_MAX (1u << 18)
#define FILES_MAX (1u << 24)

void corefile_problem(struct corefile *cf, const char *fmt, ...)
{
	size_t n = strlen(cf->problems);
	va_list ap;

	if (n + 3 >= sizeof(cf->problems))
		return;
	if (n)
		n += (size_t)snprintf(cf->problems + n, sizeof(cf->problems) - n, "; ");
	va_start(ap, fmt);
	vsnprintf(cf->problems + n, sizeof(cf->problems) - n, fmt, ap);
	va_end(ap);
}

const char *corefile_kind_name(enum corefile_kind k)
{
	return k == COREFILE_GDB ? "gdb" : k == COREFILE_PTRACEFS ? "ptracefs" : "kernel";
}

static uint64_t le(const unsigned char *p, size_t n)
{
	return get_n(p, n, false);
}

static int cmp_seg(const void *a, const void *b)
{
	const struct corefile_seg *x = a, *y = b;

	return (x->vaddr > y->vaddr) - (x->vaddr < y->vaddr);
}

static int cmp_file(const void *a, const void *b)
{
	const struct corefile_file *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

static int read_segments(Elf *elf, uint64_t file_size, struct corefile *cf)
{
	size_t phnum, n = 0;
	GElf_Ehdr eh;

	if (elf_getphdrnum(elf, &phnum) != 0 || !gelf_getehdr(elf, &eh))
		return -EINVAL;
	/* The headers must be in the file: libelf answers 0 for a short one. */
	if (eh.e_phnum != PN_XNUM && eh.e_phnum != phnum)
		return -EINVAL;
	if (eh.e_phoff > file_size || phnum > (file_size - eh.e_phoff) / (eh.e_phentsize ? eh.e_phentsize : 1) ||
	    eh.e_phentsize != (eh.e_ident[EI_CLASS] == ELFCLASS32 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr)))
		return -EINVAL;
	cf->segs = calloc(phnum ? phnum : 1, sizeof(*cf->segs));
	if (!cf->segs)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		struct corefile_seg *s = &cf->segs[n];

		if (!gelf_getphdr(elf, (int)i, &ph))
			return -EINVAL;
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr) {
			corefile_problem(cf, "a segment at %#llx wraps", (unsigned long long)ph.p_vaddr);
			continue;
		}
		s->vaddr = ph.p_vaddr;
		s->memsz = ph.p_memsz;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz < ph.p_memsz ? ph.p_filesz : ph.p_memsz;
		s->flags = ph.p_flags;
		s->avail = s->offset >= file_size ? 0 :
			   file_size - s->offset < s->filesz ? file_size - s->offset : s->filesz;
		n++;
	}
	/* core_sort_vma=1 writes them smallest first: address order here. */
	qsort(cf->segs, n, sizeof(*cf->segs), cmp_seg);
	cf->nsegs = 0;
	for (size_t i = 0; i < n; i++) {
		struct corefile_seg *s = &cf->segs[i];

		if (cf->nsegs && s->vaddr < cf->segs[cf->nsegs - 1].vaddr + cf->segs[cf->nsegs - 1].memsz) {
			corefile_problem(cf, "segment at %#llx overlaps another: dropped",
				(unsigned long long)s->vaddr);
			continue;
		}
		if (s->avail < s->filesz)
			corefile_problem(cf, "truncated: the segment at %#llx lacks %llu bytes (EIO)",
				(unsigned long long)s->vaddr,
				(unsigned long long)(s->filesz - s->avail));
		cf->segs[cf->nsegs++] = *s;
	}
	return 0;
}

static struct corefile_thread *new_thread(struct corefile *cf, size_t *cap)
{
	if (cf->nthreads >= THREADS_MAX)
		return NULL;
	if (cf->nthreads == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct corefile_thread *v = realloc(cf->threads, ncap * sizeof(*v));

		if (!v)
			return NULL;
		cf->threads = v;
		*cap = ncap;
	}
	memset(&cf->threads[cf->nthreads], 0, sizeof(cf->threads[0]));
	return &cf->threads[cf->nthreads++];
}

static void prstatus(struct corefile *cf, const unsigned char *d, size_t len, size_t *cap)
{
	const struct arch_core *c = cf->arch->core;
	struct corefile_thread *t;
	size_t w = c->word;

	if (len < (size_t)c->prstatus.reg + cf->arch->regs_size) {
		corefile_problem(cf, "a short NT_PRSTATUS (%zu bytes)", len);
		return;
	}
	if (!(t = new_thread(cf, cap))) {
		corefile_problem(cf, "too many threads");
		return;
	}
	t->signo = (int)le(d + c->prstatus.signo, 4);
	t->cursig = (int)le(d + c->prstatus.cursig, 2);
	t->sigpend = le(d + c->prstatus.sigpend, w);
	t->sighold = le(d + c->prstatus.sighold, w);
	t->tid = (pid_t)le(d + c->prstatus.pid, 4);
	t->ppid = (pid_t)le(d + c->prstatus.ppid, 4);
	t->pgrp = (pid_t)le(d + c->prstatus.pgrp, 4);
	t->sid = (pid_t)le(d + c->prstatus.sid, 4);
	t->utime_us = le(d + c->prstatus.utime, w) * 1000000 + le(d + c->prstatus.utime + w, w);
	t->stime_us = le(d + c->prstatus.stime, w) * 1000000 + le(d + c->prstatus.stime + w, w);
	t->sets[0] = (struct corefile_set){ NT_PRSTATUS, d + c->prstatus.reg, cf->arch->regs_size };
	t->nsets = 1;
}

/* A regset note of the arch's, for the thread whose NT_PRSTATUS came last. */
static void regset(struct corefile *cf, unsigned type, const unsigned char *d, size_t len)
{
	struct corefile_thread *t;

	if (!cf->nthreads)
		return;
	t = &cf->threads[cf->nthreads - 1];
	for (size_t k = 0; k < t->nsets; k++)
		if (t->sets[k].type == type)
			return;	/* the first of a type counts */
	if (t->nsets < ARCH_MAX_REGSETS)
		t->sets[t->nsets++] = (struct corefile_set){ type, d, len };
}

static void prpsinfo(struct corefile *cf, const unsigned char *d, size_t len)
{
	const struct arch_core *c = cf->arch->core;

	if (len < (size_t)c->prpsinfo.psargs + 80) {
		corefile_problem(cf, "a short NT_PRPSINFO");
		return;
	}
	cf->have_psinfo = true;
	cf->state = (char)d[c->prpsinfo.sname];
	cf->nice = (int)(signed char)d[c->prpsinfo.nice];
	cf->uid = (uint32_t)le(d + c->prpsinfo.uid, c->prpsinfo.id_size);
	cf->gid = (uint32_t)le(d + c->prpsinfo.gid, c->prpsinfo.id_size);
	cf->pid = (pid_t)le(d + c->prpsinfo.pid, 4);
	cf->ppid = (pid_t)le(d + c->prpsinfo.ppid, 4);
	cf->pgrp = (pid_t)le(d + c->prpsinfo.pgrp, 4);
	cf->sid = (pid_t)le(d + c->prpsinfo.sid, 4);
	memcpy(cf->fname, d + c->prpsinfo.fname, 16);
	cf->fname[16] = '\0';
	memcpy(cf->psargs, d + c->prpsinfo.psargs, 80);
	cf->psargs[80] = '\0';
}

/* count, page size, count x {start, end, pgoff}, then count NUL-ended names. */
static void file_note(struct corefile *cf, const unsigned char *d, size_t len)
{
	size_t w = cf->arch->elf_class == ELFCLASS32 ? 4 : 8;
	uint64_t count, page;
	const char *names, *end = (const char *)d + len;

	if (cf->have_file_note || len < 2 * w)
		return;
	count = le(d, w);
	page = le(d + w, w);
	if (count > (len - 2 * w) / (3 * w) || count > FILES_MAX) {
		corefile_problem(cf, "NT_FILE claims %llu entries", (unsigned long long)count);
		return;
	}
	cf->files = calloc(count ? count : 1, sizeof(*cf->files));
	if (!cf->files)
		return;
	cf->have_file_note = true;
	cf->file_page = page;
	names = (const char *)d + (2 + 3 * count) * w;
	for (uint64_t i = 0; i < count; i++) {
		const unsigned char *e = d + (2 + 3 * i) * w;
		const char *nul = memchr(names, '\0', (size_t)(end - names));
		struct corefile_file *f = &cf->files[cf->nfiles];

		if (!nul) {
			corefile_problem(cf, "NT_FILE's names end without a NUL");
			break;
		}
		f->start = le(e, w);
		f->end = le(e + w, w);
		f->offset = le(e + 2 * w, w) * page;
		f->path = names;
		names = nul + 1;
		if (f->end > f->start && (page == 0 || le(e + 2 * w, w) <= UINT64_MAX / page))
			cf->nfiles++;
	}
	qsort(cf->files, cf->nfiles, sizeof(*cf->files), cmp_file);
}

static void siginfo(struct corefile *cf, const unsigned char *d, size_t len)
{
	size_t w = cf->arch->elf_class == ELFCLASS32 ? 4 : 8;

	if (cf->have_siginfo) {
		cf->kind = cf->kind == COREFILE_KERNEL ? COREFILE_GDB : cf->kind;	/* one per thread */
		return;
	}
	if (len < 12 + 2 * w)
		return;
	cf->have_siginfo = true;
	cf->sig_signo = (int)le(d, 4);
	cf->sig_code = (int)le(d + 8, 4);
	cf->sig_addr = le(d + (w == 8 ? 16 : 12), w);
}

static bool arch_regset(const struct arch_desc *a, unsigned type)
{
	for (size_t k = 0; k < a->nregsets; k++)
		if (a->regsets[k].type == type && type != NT_PRSTATUS)
			return true;
	return false;
}

static void read_notes(Elf *elf, uint64_t file_size, struct corefile *cf)
{
	size_t phnum, cap = 0;
	uint64_t total = 0;
	bool first = true;

	if (elf_getphdrnum(elf, &phnum) != 0)
		return;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, next, name_off, desc_off;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE || ph.p_filesz == 0)
			continue;
		if (ph.p_offset >= file_size || ph.p_filesz > file_size - ph.p_offset) {
			corefile_problem(cf, "a PT_NOTE past the end of the file");
			continue;
		}
		if ((total += ph.p_filesz) > NOTES_MAX) {
			corefile_problem(cf, "notes beyond %llu MiB ignored", (unsigned long long)(NOTES_MAX >> 20));
			break;
		}
		cf->last_note_off = ph.p_offset;
		cf->last_note_len = ph.p_filesz;
		data = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (!data)
			continue;
		while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *name = (const char *)data->d_buf + name_off;
			const unsigned char *d = (const unsigned char *)data->d_buf + desc_off;
			bool core = nh.n_namesz == 5 && memcmp(name, "CORE", 5) == 0;
			bool linux_ = nh.n_namesz == 6 && memcmp(name, "LINUX", 6) == 0;

			off = next;
			if (nh.n_namesz == 9 && memcmp(name, "PTRACEFS", 9) == 0)
				cf->kind = COREFILE_PTRACEFS;
			else if (nh.n_namesz == 4 && memcmp(name, "GDB", 4) == 0 &&
				 cf->kind == COREFILE_KERNEL)
				cf->kind = COREFILE_GDB;
			if (first && core && nh.n_type == NT_PRPSINFO && cf->kind == COREFILE_KERNEL)
				cf->kind = COREFILE_GDB;	/* gcore's order; the kernel's starts with PRSTATUS */
			first = false;
			if (core && nh.n_type == NT_PRSTATUS)
				prstatus(cf, d, nh.n_descsz, &cap);
			else if (core && nh.n_type == NT_PRPSINFO && !cf->have_psinfo)
				prpsinfo(cf, d, nh.n_descsz);
			else if (core && nh.n_type == NT_AUXV && !cf->auxv) {
				cf->auxv = d;
				cf->auxv_len = nh.n_descsz;
			} else if (core && nh.n_type == NT_FILE)
				file_note(cf, d, nh.n_descsz);
			else if (core && nh.n_type == NT_SIGINFO)
				siginfo(cf, d, nh.n_descsz);
			else if (linux_ && nh.n_type == NT_XSAVE_LAYOUT && !cf->xsave_layout) {
				cf->xsave_layout = d;
				cf->xsave_layout_len = nh.n_descsz;
			} else if ((core || linux_) && arch_regset(cf->arch, (unsigned)nh.n_type))
				regset(cf, (unsigned)nh.n_type, d, nh.n_descsz);
		}
	}
}

int corefile_parse(Elf *elf, uint64_t file_size, struct corefile *cf, char *why,
		   size_t whylen)
{
	GElf_Ehdr eh;
	int rc;

	memset(cf, 0, sizeof(*cf));
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		snprintf(why, whylen, "not an ELF file");
		return -EINVAL;
	}
	if (eh.e_type != ET_CORE) {
		snprintf(why, whylen, "an ELF %s, not a core file",
			 eh.e_type == ET_EXEC ? "executable" : eh.e_type == ET_DYN ?
			 "shared object or PIE executable" : eh.e_type == ET_REL ? "object file" :
			 "file of unknown type");
		return -EINVAL;
	}
	cf->arch = arch_by_elf(eh.e_machine, eh.e_ident[EI_CLASS]);
	if (!cf->arch || !cf->arch->core) {
		snprintf(why, whylen, "a core of an unsupported machine (e_machine %u, class %u)",
			 eh.e_machine, eh.e_ident[EI_CLASS]);
		return -EINVAL;
	}
	if (eh.e_ident[EI_DATA] != cf->arch->core->elf_data) {
		snprintf(why, whylen, "a core of unsupported byte order");
		return -EINVAL;
	}
	rc = read_segments(elf, file_size, cf);
	if (rc) {
		snprintf(why, whylen, "%s", rc == -ENOMEM ? strerror(ENOMEM) :
			 "truncated or damaged: cannot read its program headers");
		corefile_free(cf);
		return rc;
	}
	read_notes(elf, file_size, cf);
	if (!cf->nthreads)
		corefile_problem(cf, "no NT_PRSTATUS: no threads");
	if (!cf->auxv)
		corefile_problem(cf, "no NT_AUXV");
	return 0;
}

void corefile_free(struct corefile *cf)
{
	free(cf->segs);
	free(cf->threads);
	free(cf->files);
	cf->segs = NULL;
	cf->threads = NULL;
	cf->files = NULL;
}

uint64_t corefile_auxv(const struct corefile *cf, uint64_t type)
{
	size_t w = cf->arch->elf_class == ELFCLASS32 ? 4 : 8;

	for (size_t at = 0; cf->auxv && at + 2 * w <= cf->auxv_len; at += 2 * w) {
		uint64_t t = le(cf->auxv + at, w);

		if (t == type)
			return le(cf->auxv + at + w, w);
		if (t == AT_NULL)
			break;
	}
	return 0;
}

const struct corenote_thread *corefile_note_thread(const struct corenote_set *s, pid_t tid)
{
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}

static bool has_prstatus(const struct corefile *cf, pid_t tid)
{
	for (size_t i = 0; i < cf->nthreads; i++)
		if (cf->threads[i].tid == tid)
			return true;
	return false;
}

static int check_maps(const struct corefile *cf, const struct corenote_text *t,
		      struct maps *maps, char *why, size_t whylen)
{
	int rc = maps_parse(t->p, t->len, maps);

	if (rc) {
		snprintf(why, whylen, "its maps text: %s",
			 rc == -ENOMEM ? strerror(ENOMEM) : "does not parse");
		return rc;
	}
	if (maps->n != cf->nsegs) {
		snprintf(why, whylen, "its maps has %zu lines for %zu PT_LOADs", maps->n, cf->nsegs);
		return -EINVAL;
	}
	for (size_t i = 0; i < maps->n; i++) {
		const struct map_entry *e = &maps->v[i];
		const struct corefile_seg *s = &cf->segs[i];
		unsigned rwx = (s->flags & PF_R ? PERM_R : 0) | (s->flags & PF_W ? PERM_W : 0) |
			       (s->flags & PF_X ? PERM_X : 0);

		if (e->start != s->vaddr || e->end != s->vaddr + s->memsz ||
		    (e->perms & (PERM_R | PERM_W | PERM_X)) != rwx) {
			snprintf(why, whylen, "its maps line %#llx-%#llx is not the PT_LOAD at %#llx",
				 (unsigned long long)e->start, (unsigned long long)e->end,
				 (unsigned long long)s->vaddr);
			return -EINVAL;
		}
	}
	return 0;
}

int corefile_check_notes(const struct corefile *cf, const struct corenote_set *s, pid_t pid,
			 char *why, size_t whylen)
{
	struct maps maps = { 0 };
	int rc = 0;

	if (s->pid != pid) {
		snprintf(why, whylen, "they are of pid %d, the core of %d", (int)s->pid, (int)pid);
		return -EINVAL;
	}
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct corenote_thread *t = &s->threads[i];
		struct procstat ps;
		uint64_t args[6], sp, pc;
		long nr;

		if (!has_prstatus(cf, t->tid)) {
			snprintf(why, whylen, "thread %d has no NT_PRSTATUS", (int)t->tid);
			return -EINVAL;
		}
		if ((t->stat.p && (procstat_parse(t->stat.p, t->stat.len, &ps) || ps.pid != t->tid)) ||
		    (t->syscall.p && procstat_syscall(t->syscall.p, t->syscall.len, &nr, args, &sp, &pc))) {
			snprintf(why, whylen, "thread %d's stat or syscall line does not parse",
				 (int)t->tid);
			return -EINVAL;
		}
	}
	if (s->maps.p)
		rc = check_maps(cf, &s->maps, &maps, why, whylen);
	maps_free(&maps);
	return rc;
}
