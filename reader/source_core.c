/*
 * The core-file source: an ELF core (the kernel's, gcore's, our own
 * `core`) as the reader's snapshot, read-only and never running.
 *
 * libelf reads the headers and notes through the file descriptor
 * (ELF_C_READ: nothing is mapped or loaded whole), corefile.c decodes
 * them, and this file turns them into what the views read: maps from the
 * PT_LOADs and NT_FILE, threads and their regsets from NT_PRSTATUS and the
 * notes after each, /proc-shaped status and stat text, auxv, and cmdline
 * and environ from the dumped initial stack. Our own cores carry the
 * /proc text itself in PTRACEFS notes (reader/corenote.h): when they
 * agree with the rest of the core, maps, status, cmdline, environ and
 * each thread's stat and syscall lines are taken as written, so the tree
 * is the one the live mount showed. Memory is pread from the
 * segments; a part of a segment with no file bytes (p_filesz < p_memsz)
 * and the holes of a sparse core file are holes of `mem`; bytes a
 * truncated core lost read as EIO.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader/bytes.h"
#include "reader/core.h"
#include "reader/corefile.h"
#include "reader/corenote.h"
#include "reader/procstat.h"
#include "reader/reader_int.h"
#include "reader/smaps.h"
#include "reader/source.h"

#define ARGS_MAX ((size_t)8 << 20)	/* of the stack searched for argv/envp */
#define PTNOTES_MAX ((uint64_t)64 << 20)	/* the PTRACEFS note segment read */

struct core_src {
	struct source base;		/* first: r->src points here */
	int fd;
	Elf *elf;
	struct corefile cf;
	ssize_t *seg_of;		/* per maps entry: its segment, -1 none */
	const char *cmdline_from;	/* "stack", "psargs" */
	/* The PTRACEFS notes, when they agree with the core: into notes_buf. */
	unsigned char *notes_buf;
	struct corenote_set notes;
	bool exact;
	char path[4096];
};

static struct core_src *src_of(const struct reader *r)
{
	return (struct core_src *)(uintptr_t)r->src;
}

/* ---- memory ---- */

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		buf = (char *)buf + n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int core_read(struct reader *r, size_t idx, void *out, size_t len, uint64_t addr)
{
	struct core_src *cs = src_of(r);
	const struct corefile_seg *s;
	char *buf = out;

	if (idx >= r->maps.n || cs->seg_of[idx] < 0) {
		memset(buf, 0, len);	/* known only from NT_FILE: nothing dumped */
		return 0;
	}
	s = &cs->cf.segs[cs->seg_of[idx]];
	while (len) {
		uint64_t in = addr - s->vaddr, n = len;

		if (in < s->filesz) {
			if (n > s->filesz - in)
				n = s->filesz - in;
			if (in + n > s->avail)
				return -EIO;	/* a truncated core lost these */
			if (pread_all(cs->fd, buf, (size_t)n, s->offset + in))
				return -EIO;
		} else {
			memset(buf, 0, (size_t)n);	/* not dumped */
		}
		buf += n;
		addr += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Populated: the segment's file bytes, less the holes of the core file
 * itself (the kernel seeks over pages never touched). A truncated part
 * counts as data, so a copy meets its EIO rather than skipping it.
 */
static uint64_t core_scan(struct reader *r, size_t idx, uint64_t from, uint64_t to, bool want)
{
	struct core_src *cs = src_of(r);
	const struct corefile_seg *s;
	uint64_t dend, aend, off, a;
	off_t got;

	if (idx >= r->maps.n || cs->seg_of[idx] < 0)
		return want ? to : from;
	s = &cs->cf.segs[cs->seg_of[idx]];
	dend = s->vaddr + s->filesz;
	aend = s->vaddr + s->avail;
	if (from >= dend)
		return want ? to : from;
	if (from >= aend)
		return want ? from : (dend < to ? dend : to);
	off = s->offset + (from - s->vaddr);
	got = lseek(cs->fd, (off_t)off, want ? SEEK_DATA : SEEK_HOLE);
	if (got < 0) {
		if (!want)
			return from;
		/* ENXIO: no data after off in the whole file */
		a = aend < dend ? aend : to;
		return a < to ? a : to;
	}
	a = s->vaddr + ((uint64_t)got - s->offset);
	if (want) {
		if (a >= aend)
			a = aend < dend ? aend : to;	/* past the bytes: the truncated part, or none */
	} else if (a >= aend) {
		a = dend;
	}
	if (a < from)
		a = from;
	return a < to ? a : to;
}

/* The gate page and anything else outside `mem`: straight from its segment. */
static ssize_t core_read_raw(struct reader *r, void *buf, size_t len, uint64_t addr)
{
	const struct map_entry *e = maps_find(&r->maps, addr);
	size_t n;
	int rc;

	if (!e)
		return -EFAULT;
	n = addr + len > e->end ? (size_t)(e->end - addr) : len;
	rc = core_read(r, (size_t)(e - r->maps.v), buf, n, addr);
	return rc ? rc : (ssize_t)n;
}

static int core_sigmasks(struct reader *r, pid_t tid, uint64_t *pend, uint64_t *blk)
{
	struct core_src *cs = src_of(r);

	for (size_t i = 0; i < cs->cf.nthreads; i++)
		if (cs->cf.threads[i].tid == tid) {
			*pend = cs->cf.threads[i].sigpend;
			*blk = cs->cf.threads[i].sighold;
			return 0;
		}
	return -ENOENT;
}

/*
 * What the dump rules ask of smaps, as the core answers it: a mapping
 * with bytes in the file was written to (anon_kb), but for the lone
 * first page of a file mapping, which the kernel dumps for its ELF
 * header. So `core` re-dumps what the kernel dumped.
 */
static int core_smaps(struct reader *r, struct smaps *out)
{
	struct core_src *cs = src_of(r);
	uint64_t page = cs->cf.file_page ? cs->cf.file_page : reader_page_size();

	out->v = calloc(r->maps.n ? r->maps.n : 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	out->n = r->maps.n;
	for (size_t i = 0; i < r->maps.n; i++) {
		const struct map_entry *e = &r->maps.v[i];
		uint64_t filesz = cs->seg_of[i] >= 0 ? cs->cf.segs[cs->seg_of[i]].filesz : 0;

		out->v[i].start = e->start;
		out->v[i].end = e->end;
		if (map_is_file(e) && e->offset == 0 && filesz <= page)
			filesz = 0;
		out->v[i].rss_kb = out->v[i].anon_kb = filesz / 1024;
	}
	return 0;
}

/* x86: the core's own NT_X86_XSAVE_LAYOUT (its CPU's, not ours). */
static size_t core_xsave_layout(struct reader *r, const void *xstate, size_t len,
				struct core_xfeat *out, size_t max)
{
	const struct corefile *cf = &src_of(r)->cf;
	size_t n = 0;

	(void)xstate;
	(void)len;
	for (size_t at = 0; at + 16 <= cf->xsave_layout_len && n < max; at += 16, n++)
		out[n] = (struct core_xfeat){ (uint32_t)get_n(cf->xsave_layout + at, 4, false),
					      (uint32_t)get_n(cf->xsave_layout + at + 4, 4, false),
					      (uint32_t)get_n(cf->xsave_layout + at + 8, 4, false),
					      (uint32_t)get_n(cf->xsave_layout + at + 12, 4, false) };
	return n;
}

/* The note of tid with its stat and syscall lines, or NULL. */
static const struct corenote_thread *exact_thread(const struct core_src *cs, pid_t tid)
{
	const struct corenote_thread *t = cs->exact ? corefile_note_thread(&cs->notes, tid) : NULL;

	return t && t->stat.p && t->syscall.p ? t : NULL;
}

/* Nothing left to reconstruct: every text and every thread from the notes. */
static bool lossless(const struct core_src *cs, const struct corefile *cf)
{
	const struct corenote_set *n = &cs->notes;

	if (!cs->exact || !n->maps.p || !n->status.p || !n->cmdline.p || !n->environ.p)
		return false;
	for (size_t i = 0; i < cf->nthreads; i++)
		if (!exact_thread(cs, cf->threads[i].tid))
			return false;
	return true;
}

static int core_describe(struct reader *r, struct sbuf *sb)
{
	struct core_src *cs = src_of(r);
	const struct corefile *cf = &cs->cf;
	int sig = cf->have_siginfo ? cf->sig_signo : cf->nthreads ? cf->threads[0].cursig : 0;

	sbuf_printf(sb, "source core\n");
	sbuf_printf(sb, "core_file %s\n", cs->path);
	sbuf_printf(sb, "core_kind %s\n", corefile_kind_name(cf->kind));
	if (sig > 0 && sig < 65) {
		const char *name = sigabbrev_np(sig);

		sbuf_printf(sb, "signal %d %s%s\n", sig, name ? "SIG" : "", name ? name : "?");
	}
	if (cf->have_siginfo)
		sbuf_printf(sb, "si_code %d\nsi_addr 0x%llx\n", cf->sig_code,
			    (unsigned long long)cf->sig_addr);
	if (lossless(cs, cf))
		sbuf_printf(sb, "reconstructed none: maps, status, cmdline, environ and each "
			    "thread's stat as /proc gave them (PTRACEFS notes)\n");
	if (!(cs->exact && cs->notes.maps.p))
		sbuf_printf(sb, "reconstructed maps: dev inode and p/s are not in a core (00:00 0, p); "
			    "[heap] is not named;%s\n", cf->have_file_note ?
			    " paths and offsets from NT_FILE" : " no NT_FILE: no paths");
	if (!(cs->exact && cs->notes.cmdline.p && cs->notes.environ.p))
		sbuf_printf(sb, "reconstructed cmdline environ: %s\n", cs->cmdline_from);
	if (!(cs->exact && cs->notes.status.p))
		sbuf_printf(sb, "reconstructed status: from NT_PRPSINFO and NT_PRSTATUS\n");
	if (!lossless(cs, cf))
		sbuf_printf(sb, "reconstructed stat: state, times, ids from NT_PRSTATUS/NT_PRPSINFO%s\n",
			    cs->exact ? " (threads the PTRACEFS notes lack)" : "");
	if (cf->problems[0])
		sbuf_printf(sb, "problems %s\n", cf->problems);
	return sb->err;
}

static void core_close(struct reader *r)
{
	struct core_src *cs = src_of(r);

	if (!cs)
		return;
	if (cs->elf)
		elf_end(cs->elf);
	if (cs->fd >= 0)
		close(cs->fd);
	corefile_free(&cs->cf);
	corenote_free(&cs->notes);
	free(cs->notes_buf);
	free(cs->seg_of);
	free(cs);
	r->src = NULL;
}

/* What `core` carries on: the notes as read, or none when they were not taken. */
static const struct corenote_set *core_notes(struct reader *r)
{
	struct core_src *cs = src_of(r);

	return cs->exact ? &cs->notes : NULL;
}

static const struct source_ops core_ops = {
	.kind = "core",
	.close = core_close,
	.read = core_read,
	.scan = core_scan,
	.read_raw = core_read_raw,
	.describe = core_describe,
	.smaps = core_smaps,
	.sigmasks = core_sigmasks,
	.xsave_layout = core_xsave_layout,
	.notes = core_notes,
};

/* ---- the snapshot ---- */

static const struct corefile_file *file_at(const struct corefile *cf, uint64_t start,
					   uint64_t end)
{
	size_t lo = 0, hi = cf->nfiles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cf->files[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < cf->nfiles && cf->files[lo].start == start && cf->files[lo].end == end ?
		&cf->files[lo] : NULL;
}

/* mem's size and st_blocks: the data mappings and their dumped bytes. */
static void mem_extent(struct reader *r, const struct core_src *cs)
{
	for (size_t i = 0; i < r->maps.n; i++) {
		const struct map_entry *e = &r->maps.v[i];

		if (!map_is_data(e) || e->end > (UINT64_C(1) << 63))
			continue;
		r->mem_data_bytes += cs->seg_of[i] >= 0 ? cs->cf.segs[cs->seg_of[i]].filesz : 0;
		if (e->end > r->mem_size)
			r->mem_size = e->end;
	}
}

struct pending {			/* one maps line to be */
	uint64_t start, end, offset;
	unsigned perms;
	const char *path;
	ssize_t seg;
	bool file;
};

static int cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/*
 * maps: a line per PT_LOAD (rwx from p_flags), path and offset from the
 * NT_FILE entry of the same range; then the NT_FILE ranges gcore did not
 * dump (it writes no PT_LOAD for them), read-only, all holes.
 */
static int build_maps(struct reader *r, struct core_src *cs)
{
	const struct corefile *cf = &cs->cf;
	uint64_t vdso = corefile_auxv(cf, AT_SYSINFO_EHDR), execfn = corefile_auxv(cf, AT_EXECFN);
	size_t n = 0, cap = cf->nsegs + cf->nfiles;
	struct pending *p = calloc(cap ? cap : 1, sizeof(*p));
	FILE *f;
	int rc;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < cf->nsegs; i++) {
		const struct corefile_seg *s = &cf->segs[i];
		const struct corefile_file *fe = file_at(cf, s->vaddr, s->vaddr + s->memsz);

		p[n] = (struct pending){ s->vaddr, s->vaddr + s->memsz, fe ? fe->offset : 0,
			(s->flags & PF_R ? PERM_R : 0) | (s->flags & PF_W ? PERM_W : 0) |
			(s->flags & PF_X ? PERM_X : 0), fe ? fe->path : "", (ssize_t)i, fe != NULL };
		if (!fe && vdso && s->vaddr == vdso)
			p[n].path = "[vdso]";
		else if (!fe && execfn && execfn >= s->vaddr && execfn < s->vaddr + s->memsz)
			p[n].path = "[stack]";
		else if (!fe && s->vaddr == UINT64_C(0xffffffffff600000) &&
			 cf->arch->elf_machine == EM_X86_64)
			p[n].path = "[vsyscall]";
		n++;
	}
	for (size_t i = 0, k = 0; i < cf->nfiles; i++) {
		const struct corefile_file *fe = &cf->files[i];
		bool covered = false;

		while (k < cf->nsegs && cf->segs[k].vaddr + cf->segs[k].memsz <= fe->start)
			k++;
		covered = k < cf->nsegs && cf->segs[k].vaddr < fe->end;
		if (!covered && (i == 0 || fe->start >= cf->files[i - 1].end))
			p[n++] = (struct pending){ fe->start, fe->end, fe->offset, PERM_R,
						   fe->path, -1, true };
	}
	qsort(p, n, sizeof(*p), cmp_pending);
	f = open_memstream(&r->maps_text, &r->maps_len);
	if (!f) {
		free(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		int w = 0;

		/* Names with a newline would break the text: as the kernel, escape it. */
		fprintf(f, "%08llx-%08llx %c%c%cp %08llx 00:00 0 %n",
			(unsigned long long)p[i].start, (unsigned long long)p[i].end,
			p[i].perms & PERM_R ? 'r' : '-', p[i].perms & PERM_W ? 'w' : '-',
			p[i].perms & PERM_X ? 'x' : '-', (unsigned long long)p[i].offset, &w);
		if (p[i].path[0]) {
			fprintf(f, "%*s", w < 73 ? 73 - w : 0, "");
			for (const char *c = p[i].path; *c; c++)
				if (*c == '\n')
					fputs("\\012", f);
				else
					fputc(*c, f);
		}
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(p);
		return -ENOMEM;
	}
	rc = maps_parse(r->maps_text, r->maps_len, &r->maps);
	if (rc == 0 && r->maps.n != n)
		rc = -EINVAL;
	if (rc == 0) {
		cs->seg_of = calloc(n ? n : 1, sizeof(*cs->seg_of));
		if (!cs->seg_of)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		cs->seg_of[i] = p[i].seg;
		r->maps.v[i].file_note = p[i].file;
	}
	if (rc == 0)
		mem_extent(r, cs);
	free(p);
	return rc;
}

/*
 * maps: the PTRACEFS note's text as it is, real dev and inode included
 * (so map_is_file needs no NT_FILE); corefile_check_notes matched it
 * line for line to the PT_LOADs.
 */
static int exact_maps(struct reader *r, struct core_src *cs)
{
	const struct corenote_text *t = &cs->notes.maps;
	int rc;

	r->maps_text = malloc(t->len + 1);
	if (!r->maps_text)
		return -ENOMEM;
	memcpy(r->maps_text, t->p, t->len);
	r->maps_text[t->len] = '\0';
	r->maps_len = t->len;
	rc = maps_parse(r->maps_text, r->maps_len, &r->maps);
	if (rc == 0 && r->maps.n != cs->cf.nsegs)
		rc = -EINVAL;
	if (rc == 0 && !(cs->seg_of = calloc(r->maps.n ? r->maps.n : 1, sizeof(*cs->seg_of))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < r->maps.n; i++)
		cs->seg_of[i] = (ssize_t)i;
	if (rc == 0)
		mem_extent(r, cs);
	return rc;
}

static int keep(struct reader *r, enum reader_file which, const void *data, size_t len)
{
	r->files[which] = malloc(len + 1);
	if (!r->files[which])
		return -ENOMEM;
	memcpy(r->files[which], data, len);
	r->files[which][len] = '\0';
	r->files_len[which] = len;
	return 0;
}

static uint64_t ticks(uint64_t us)
{
	long hz = sysconf(_SC_CLK_TCK);

	return us / 1000000 * (uint64_t)(hz > 0 ? hz : 100) +
	       us % 1000000 * (uint64_t)(hz > 0 ? hz : 100) / 1000000;
}

/* status and stat as /proc would print what the notes say (the rest: 0). */
static int build_proc_text(struct reader *r, struct core_src *cs)
{
	const struct corefile *cf = &cs->cf;
	const struct corefile_thread *t0 = cf->nthreads ? &cf->threads[0] : NULL;
	uint64_t euid = corefile_auxv(cf, AT_EUID), egid = corefile_auxv(cf, AT_EGID);
	uint64_t ut = 0, st = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (!cf->auxv)
		euid = cf->uid, egid = cf->gid;
	for (size_t i = 0; i < cf->nthreads; i++) {
		ut += cf->threads[i].utime_us;
		st += cf->threads[i].stime_us;
	}
	if (!(f = open_memstream(&text, &len)))
		return -ENOMEM;
	fprintf(f, "Name:\t%s\nState:\t%c\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\n"
		"Uid:\t%u\t%llu\t%llu\t%llu\nGid:\t%u\t%llu\t%llu\t%llu\nThreads:\t%zu\n"
		"SigPnd:\t%016llx\nSigBlk:\t%016llx\n",
		r->comm, cf->state ? cf->state : '?', (int)r->pid, (int)r->pid,
		(int)(cf->have_psinfo ? cf->ppid : t0 ? t0->ppid : 0),
		cf->uid, (unsigned long long)euid, (unsigned long long)euid,
		(unsigned long long)euid, cf->gid, (unsigned long long)egid,
		(unsigned long long)egid, (unsigned long long)egid, cf->nthreads,
		(unsigned long long)(t0 ? t0->sigpend : 0), (unsigned long long)(t0 ? t0->sighold : 0));
	if (fclose(f) != 0)
		return -ENOMEM;
	if (cs->exact && cs->notes.status.p)
		rc = keep(r, RB_STATUS, cs->notes.status.p, cs->notes.status.len);
	else
		rc = keep(r, RB_STATUS, text, len);
	free(text);
	if (rc)
		return rc;
	text = NULL;
	if (!(f = open_memstream(&text, &len)))
		return -ENOMEM;
	fprintf(f, "%d (%s) %c %d %d %d 0 -1 0 0 0 0 0 %llu %llu 0 0 20 %d %zu 0 0 %llu 0 0",
		(int)r->pid, r->comm, cf->state ? cf->state : '?',
		(int)(t0 ? t0->ppid : cf->ppid), (int)(t0 ? t0->pgrp : cf->pgrp),
		(int)(t0 ? t0->sid : cf->sid), (unsigned long long)ticks(ut),
		(unsigned long long)ticks(st), cf->nice, cf->nthreads,
		(unsigned long long)r->mem_data_bytes);
	for (int k = 0; k < 27; k++)
		fputs(" 0", f);
	fputc('\n', f);
	if (fclose(f) != 0)
		return -ENOMEM;
	rc = keep(r, RB_STAT, text, len);
	free(text);
	return rc;
}

static uint64_t word_at(const unsigned char *p, size_t w)
{
	return get_n(p, w, false);
}

/*
 * cmdline and environ as /proc shows them: arg_start..arg_end and
 * env_start..env_end, which the initial stack gives away. The saved
 * auxv sits on it right above envp[]'s NULL, and argv[]'s NULL and argc
 * below that; the pointers say where the strings are. A stack the
 * program rewrote fails the checks, and psargs stands in.
 */
static int recover_args(struct reader *r, struct core_src *cs)
{
	const struct corefile *cf = &cs->cf;
	size_t w = cf->arch->elf_class == ELFCLASS32 ? 4 : 8, probe, at;
	uint64_t execfn = corefile_auxv(cf, AT_EXECFN), lo, hi, argc, n;
	const struct map_entry *e;
	unsigned char *buf = NULL;
	int rc = -ENOENT;

	cs->cmdline_from = "psargs (80 bytes, NULs as spaces)";
	if (!execfn || !(e = maps_find(&r->maps, execfn)) || !cf->auxv_len)
		goto fallback;
	hi = execfn;
	lo = hi - e->start > ARGS_MAX ? hi - ARGS_MAX : e->start;
	lo = (lo + w - 1) / w * w;
	probe = cf->auxv_len < 8 * w ? cf->auxv_len : 8 * w;
	if (hi - lo < probe + 4 * w || !(buf = malloc((size_t)(hi - lo))))
		goto fallback;
	if (reader_mem_read(r, buf, (size_t)(hi - lo), lo) != (ssize_t)(hi - lo))
		goto fallback;
	/* The saved auxv, highest copy first (it is near the top). */
	for (at = (size_t)(hi - lo - probe) / w * w; at >= 2 * w; at -= w)
		if (memcmp(buf + at, cf->auxv, probe) == 0)
			break;
	if (at < 2 * w || word_at(buf + at - w, w) != 0)
		goto fallback;
	{
		size_t envnull = at - w, p = envnull, argnull;
		uint64_t env0 = 0, envlast = 0, arg0;

		/* envp[] down to argv[]'s NULL */
		while (p >= w && word_at(buf + p - w, w) != 0)
			p -= w;
		if (p < w)
			goto fallback;
		argnull = p - w;
		if (envnull > argnull + w) {
			env0 = word_at(buf + argnull + w, w);
			envlast = word_at(buf + envnull - w, w);
		}
		/* argv[] down to argc, the one word that counts those above it */
		for (n = 0, p = argnull; p >= w; p -= w, n++) {
			argc = word_at(buf + p - w, w);
			if (argc == n)
				break;
			if (argc < lo || argc >= hi)
				goto fallback;
		}
		if (p < w || n == 0)
			goto fallback;
		arg0 = word_at(buf + p, w);
		if (arg0 < lo || arg0 >= hi || (env0 && (env0 < arg0 || env0 >= hi)))
			goto fallback;
		{
			uint64_t argend, envend = 0;

			if (env0) {
				const unsigned char *nul;

				argend = env0;
				if (envlast < env0 || envlast >= hi)
					goto fallback;
				nul = memchr(buf + (envlast - lo), 0, (size_t)(hi - envlast));
				if (!nul)
					goto fallback;
				envend = (uint64_t)(nul - buf) + lo + 1;
			} else {
				uint64_t last = word_at(buf + argnull - w, w);
				const unsigned char *nul;

				if (last < arg0 || last >= hi ||
				    !(nul = memchr(buf + (last - lo), 0, (size_t)(hi - last))))
					goto fallback;
				argend = (uint64_t)(nul - buf) + lo + 1;
			}
			rc = keep(r, RB_CMDLINE, buf + (arg0 - lo), (size_t)(argend - arg0));
			if (rc == 0 && env0)
				rc = keep(r, RB_ENVIRON, buf + (env0 - lo), (size_t)(envend - env0));
			if (rc == 0 && !env0)
				rc = keep(r, RB_ENVIRON, "", 0);
			if (rc == 0)
				cs->cmdline_from = "the dumped initial stack (argv, envp)";
		}
	}
	free(buf);
	return rc;
fallback:
	free(buf);
	if (cf->have_psinfo) {
		size_t len = strlen(cf->psargs);

		return keep(r, RB_CMDLINE, cf->psargs, len ? len + 1 : 0);
	}
	return 0;
}

/* The executable: the file mapped where AT_PHDR (else AT_ENTRY) points. */
static void find_exe(struct reader *r, const struct corefile *cf)
{
	uint64_t at[2] = { corefile_auxv(cf, AT_PHDR), corefile_auxv(cf, AT_ENTRY) };

	for (int k = 0; k < 2; k++) {
		const struct map_entry *e = at[k] ? maps_find(&r->maps, at[k]) : NULL;

		if (e && map_is_file(e)) {
			snprintf(r->exe, sizeof(r->exe), "%s", e->path);
			return;
		}
	}
}

/*
 * A thread's facts from its stat and syscall lines, as the ptrace source
 * reads them (reader.c snapshot_thread_info): the state in the line is
 * the one before suspension.
 */
static void exact_thread_info(const struct corenote_thread *nt, struct reader_thread_info *ti)
{
	struct procstat ps;
	long nr;

	if (procstat_parse(nt->stat.p, nt->stat.len, &ps) == 0) {
		snprintf(ti->name, sizeof(ti->name), "%s", ps.comm);
		ti->state = ps.state;
		ti->utime = ps.utime;
		ti->stime = ps.stime;
		ti->priority = ps.priority;
		ti->nice = ps.nice;
		ti->processor = ps.processor;
	}
	memset(ti->syscall_args, 0, sizeof(ti->syscall_args));
	ti->syscall = -1;
	ti->sp = ti->pc = 0;
	if (procstat_syscall(nt->syscall.p, nt->syscall.len, &nr, ti->syscall_args,
			     &ti->sp, &ti->pc) == 0)
		ti->syscall = nr;
}

static void thread_info(struct reader *r, const struct corefile_thread *ct,
			struct reader_thread_info *ti, const struct core_src *cs)
{
	const struct corefile *cf = &cs->cf;
	const struct corenote_thread *nt = exact_thread(cs, ct->tid);
	const struct arch_desc *a = r->arch;
	const void *regs = ct->sets[0].data;
	size_t len = ct->sets[0].len;
	int orig = arch_reg_index(a, a->elf_class == ELFCLASS32 ? "orig_eax" : "orig_rax");

	ti->tid = ct->tid;
	snprintf(ti->name, sizeof(ti->name), "%s", r->comm);
	ti->main = ct->tid == r->pid;
	ti->state = ti->main && cf->state ? cf->state : '?';
	ti->pc = arch_reg_value(a, regs, len, (size_t)a->pc);
	ti->sp = arch_reg_value(a, regs, len, (size_t)a->sp);
	ti->utime = ticks(ct->utime_us);
	ti->stime = ticks(ct->stime_us);
	ti->nice = cf->nice;
	ti->priority = 20 + cf->nice;
	ti->processor = -1;
	ti->syscall = -1;
	/* x86: orig_ax holds the call a thread was in (-1: none). */
	if (orig >= 0) {
		int64_t nr = (int64_t)arch_reg_value(a, regs, len, (size_t)orig);
		static const char *const args64[6] = { "rdi", "rsi", "rdx", "r10", "r8", "r9" };
		static const char *const args32[6] = { "ebx", "ecx", "edx", "esi", "edi", "ebp" };

		if (a->elf_class == ELFCLASS32)
			nr = (int32_t)nr;
		if (nr >= 0) {
			ti->syscall = (long)nr;
			for (int k = 0; k < 6; k++) {
				int i = arch_reg_index(a, a->elf_class == ELFCLASS32 ? args32[k] : args64[k]);

				ti->syscall_args[k] = i < 0 ? 0 : arch_reg_value(a, regs, len, (size_t)i);
			}
		}
	}
	if (nt)
		exact_thread_info(nt, ti);
}

static int build_threads(struct reader *r, const struct core_src *cs)
{
	const struct corefile *cf = &cs->cf;
	size_t n = cf->nthreads;

	r->threads = calloc(n ? n : 1, sizeof(*r->threads));
	if (!r->threads)
		return -ENOMEM;
	r->threads_cap = n ? n : 1;
	for (size_t i = 0; i < n; i++) {
		const struct corefile_thread *ct = &cf->threads[i];
		struct rthread *t = &r->threads[i];

		t->tid = ct->tid;
		atomic_init(&t->state, RT_STOPPED);
		t->state_before = i == 0 && cf->state ? cf->state : '?';
		pthread_mutex_init(&t->sets_mu, NULL);
		atomic_store(&r->nthreads, i + 1);	/* free_snapshot frees what is counted */
		for (size_t k = 0; k < ct->nsets; k++) {
			t->sets[k].data = malloc(ct->sets[k].len ? ct->sets[k].len : 1);
			if (!t->sets[k].data)
				return -ENOMEM;
			memcpy(t->sets[k].data, ct->sets[k].data, ct->sets[k].len);
			t->sets[k].len = ct->sets[k].len;
			t->sets[k].type = ct->sets[k].type;
			t->nsets = k + 1;
		}
		thread_info(r, ct, &t->info, cs);
		if (exact_thread(cs, ct->tid))
			t->state_before = t->info.state;
	}
	/* A core never exits: `mem` and the rest stay readable. */
	atomic_init(&r->nalive, 1);
	return 0;
}

static int replace(struct reader *r, enum reader_file which, const struct corenote_text *t)
{
	free(r->files[which]);
	r->files[which] = NULL;
	return keep(r, which, t->p, t->len);
}

static const char *notes_error(int rc)
{
	switch (rc) {
	case -ENOENT: return "no VERSION note in the last PT_NOTE";
	case -ENOTSUP: return "a format this ptracefs does not read";
	case -ENOMEM: return strerror(ENOMEM);
	default: return "malformed";
	}
}

/*
 * The PTRACEFS notes: read from the last PT_NOTE (bounded), parsed, and
 * taken only when they agree with the rest of the core. Anything less
 * leaves cs->exact false, a line in `problems`, and the reconstruction.
 */
static void load_notes(struct reader *r, struct core_src *cs)
{
	struct corefile *cf = &cs->cf;
	uint64_t len = cf->last_note_len;
	char why[200];
	int rc;

	if (cf->kind != COREFILE_PTRACEFS)
		return;
	if (len > PTNOTES_MAX) {
		corefile_problem(cf, "PTRACEFS notes of %llu bytes not read: reconstructed",
				 (unsigned long long)len);
		return;
	}
	cs->notes_buf = malloc(len ? (size_t)len : 1);
	if (!cs->notes_buf || pread_all(cs->fd, cs->notes_buf, (size_t)len, cf->last_note_off)) {
		corefile_problem(cf, "PTRACEFS notes unreadable: reconstructed");
		goto out_drop;
	}
	rc = corenote_parse(cs->notes_buf, (size_t)len, cf->arch->core->elf_data == ELFDATA2MSB,
			    &cs->notes);
	if (rc) {
		corefile_problem(cf, "PTRACEFS notes ignored (%s): reconstructed", notes_error(rc));
		goto out_drop;
	}
	if (corefile_check_notes(cf, &cs->notes, r->pid, why, sizeof(why))) {
		corefile_problem(cf, "PTRACEFS notes ignored (%s): reconstructed", why);
		goto out_drop;
	}
	cs->exact = true;
	return;
out_drop:
	corenote_free(&cs->notes);
	memset(&cs->notes, 0, sizeof(cs->notes));
	free(cs->notes_buf);
	cs->notes_buf = NULL;
}

static int load(struct reader *r, struct core_src *cs, char *why, size_t whylen)
{
	struct corefile *cf = &cs->cf;
	size_t alen;
	int rc;

	r->arch = cf->arch;
	r->pid = cf->have_psinfo && cf->pid > 0 ? cf->pid : cf->nthreads ? cf->threads[0].tid : 0;
	/* A comm is 15 bytes; gcore fills all 16 of pr_fname from the exe's name. */
	snprintf(r->comm, sizeof(r->comm), "%.15s", cf->have_psinfo ? cf->fname : "?");
	load_notes(r, cs);
	rc = build_threads(r, cs);
	if (rc == 0 && cs->exact && cs->notes.maps.p)
		rc = exact_maps(r, cs);
	else if (rc == 0)
		rc = build_maps(r, cs);
	if (rc)
		snprintf(why, whylen, "cannot make maps of its segments: %s", strerror(-rc));
	if (rc)
		return rc;
	find_exe(r, cf);
	/* NT_AUXV ends at AT_NULL; keep it as /proc would give it. */
	alen = cf->auxv_len;
	if (cf->auxv && (rc = keep(r, RB_AUXV, cf->auxv, alen)))
		return rc;
	if ((rc = build_proc_text(r, cs)))
		return rc;
	if (!(cs->exact && cs->notes.cmdline.p && cs->notes.environ.p) &&
	    (rc = recover_args(r, cs)))
		return rc;
	if (cs->exact && cs->notes.cmdline.p)
		rc = replace(r, RB_CMDLINE, &cs->notes.cmdline);
	if (rc == 0 && cs->exact && cs->notes.environ.p)
		rc = replace(r, RB_ENVIRON, &cs->notes.environ);
	return rc;
}

int reader_open_core(const char *path, const struct reader_opts *opts,
		     struct reader **out, char *why, size_t whylen)
{
	struct reader *r = calloc(1, sizeof(*r));
	struct core_src *cs = calloc(1, sizeof(*cs));
	struct stat st;
	int rc;

	if (!r || !cs) {
		free(r);
		free(cs);
		return -ENOMEM;
	}
	cs->fd = -1;
	cs->base.ops = &core_ops;
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	r->src = &cs->base;
	if (opts)
		r->opts = *opts;
	r->mem_fd = r->pagemap_fd = -1;
	pthread_mutex_init(&r->lazy_mu, NULL);
	pthread_mutex_init(&r->mode_mu, NULL);
	pthread_mutex_init(&r->regs_mu, NULL);
	pthread_rwlock_init(&r->snap_lock, NULL);
	atomic_init(&r->mode, MODE_SUSPENDED);

	cs->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (cs->fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		goto out_free;
	}
	if (fstat(cs->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(why, whylen, "%s: not a core file (%s)", path,
			 S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
		goto out_free;
	}
	elf_version(EV_CURRENT);
	cs->elf = elf_begin(cs->fd, ELF_C_READ, NULL);
	if (!cs->elf) {
		rc = -EINVAL;
		snprintf(why, whylen, "%s: not a core file (%s)", path, elf_errmsg(-1));
		goto out_free;
	}
	rc = corefile_parse(cs->elf, (uint64_t)st.st_size, &cs->cf, why, whylen);
	if (rc) {
		char inner[256];

		snprintf(inner, sizeof(inner), "%s", why);
		snprintf(why, whylen, "%s: %s", path, inner);
		goto out_free;
	}
	rc = load(r, cs, why, whylen);
	if (rc) {
		if (!why[0])
			snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		goto out_free;
	}
	*out = r;
	return 0;

out_free:
	reader_close(r);
	return rc;
}
