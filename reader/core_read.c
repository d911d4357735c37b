/*
 * `core` of a live reader: gathers what the layout needs from the
 * snapshot (registers, /proc files, maps) plus /proc/PID/smaps, read once
 * when the file is first used, and serves reads and SEEK_DATA/SEEK_HOLE.
 *
 * Segment bytes come from reader_mem_read, so the core is exactly as
 * sparse as `mem`: never-populated anonymous pages are holes and are
 * never faulted in, and the daemon holds no more than one request's worth
 * of the target at a time.
 *
 * [vsyscall] (0xffffffffff600000) is dumped as the kernel and gcore do:
 * it is not in `mem` (FUSE offsets end at 2^63), so it is read directly,
 * and on today's kernels (vsyscall=xonly, "--xp") it is unreadable and
 * its page is a hole. Its file offset is small like every other's.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader/bytes.h"
#include "reader/core.h"
#include "reader/procstat.h"
#include "reader/reader_int.h"
#include "reader/source.h"
#include "reader/textcur.h"

/* What a build allocates besides the layout, freed once it is built. */
struct gather {
	struct core_proc proc;
	struct core_thread *threads;
	struct core_regset *sets;
	size_t nthreads;
	uint64_t *filesz, *resident;
	struct smaps smaps;
	bool have_smaps;
	struct corenote_set notes;	/* the PTRACEFS notes */
	char **stat;			/* per thread: its stat line */
	char (*syscall)[200];		/* per thread: its syscall line */
};

static unsigned effective_filter(const struct reader *r)
{
	const char *text;
	size_t len;
	uint64_t v;

	if (r->opts.coredump_filter >= 0)
		return (unsigned)r->opts.coredump_filter;
	/* The file is one hex number. */
	if (reader_file(r, RB_COREDUMP_FILTER, &text, &len) == 0) {
		struct cur c = { text, text + len };

		if (cur_num(&c, 16, UINT64_MAX, &v) == 0)
			return (unsigned)(v & 0x1ff);
	}
	return CORE_FILTER_DEFAULT;
}

static void gather_proc(struct reader *r, struct core_proc *pr)
{
	struct reader_thread_info ti;
	struct procstat ps;
	const char *text;
	size_t len;
	uint64_t v;

	memset(pr, 0, sizeof(*pr));
	pr->pid = r->pid;
	snprintf(pr->fname, sizeof(pr->fname), "%.15s", r->comm);
	if (reader_file(r, RB_STAT, &text, &len) == 0 &&
	    procstat_parse(text, len, &ps) == 0) {
		/* pr_fname is 16 bytes, NUL-padded but not NUL-terminated. */
		memset(pr->fname, 0, sizeof(pr->fname));
		memcpy(pr->fname, ps.comm, strnlen(ps.comm, sizeof(pr->fname)));
		pr->pid = ps.pid;
		pr->ppid = ps.ppid;
		pr->pgrp = ps.pgrp;
		pr->sid = ps.session;
		pr->flags = ps.flags;
		pr->utime = ps.utime;
		pr->stime = ps.stime;
		pr->cutime = (uint64_t)ps.cutime;
		pr->cstime = (uint64_t)ps.cstime;
		pr->nice = ps.nice < -20 ? -20 : ps.nice > 19 ? 19 : (int)ps.nice;
	}
	/* /proc said 't' (us) by then: the state the target was in before. */
	pr->state = reader_thread_info(r, r->pid, &ti) == 0 && ti.state ? ti.state : 'Z';
	if (reader_file(r, RB_STATUS, &text, &len) == 0) {
		if (procstat_status_u64(text, len, "Uid", &v) == 0)
			pr->uid = (uint32_t)v;
		if (procstat_status_u64(text, len, "Gid", &v) == 0)
			pr->gid = (uint32_t)v;
	}
	if (reader_file(r, RB_CMDLINE, &text, &len) == 0)
		procstat_cmdline(text, len, pr->psargs, sizeof(pr->psargs));
}

/* Threads, the leader first (as the kernel puts the dumping thread). */
static int gather_threads(struct reader *r, struct gather *g)
{
	const struct arch_desc *a = r->arch;
	size_t n = reader_threads(r, NULL, 0), k = 0;
	pid_t *tids = calloc(n ? n : 1, sizeof(*tids));

	g->threads = calloc(n ? n : 1, sizeof(*g->threads));
	g->sets = calloc((n ? n : 1) * (a->nregsets ? a->nregsets : 1), sizeof(*g->sets));
	if (!tids || !g->threads || !g->sets) {
		free(tids);
		return -ENOMEM;
	}
	n = reader_threads(r, tids, n);
	for (size_t i = 0; i < n; i++)
		if (tids[i] == r->pid && i > 0) {
			memmove(tids + 1, tids, i * sizeof(*tids));
			tids[0] = r->pid;
		}
	for (size_t i = 0; i < n; i++) {
		struct core_thread *t = &g->threads[k];
		struct reader_thread_info ti;

		if (reader_thread_info(r, tids[i], &ti))
			continue;	/* exited since */
		t->tid = tids[i];
		t->sets = &g->sets[k * a->nregsets];
		t->utime = ti.utime;
		t->stime = ti.stime;
		for (size_t s = 0; s < a->nregsets; s++) {
			struct core_regset *rs = &g->sets[k * a->nregsets + t->nsets];

			rs->type = a->regsets[s].type;
			if (reader_thread_regset(r, tids[i], rs->type, &rs->data, &rs->len) == 0)
				t->nsets++;
		}
		/* Masks are not in the snapshot: the source may know them. */
		if (r->src->ops->sigmasks)
			r->src->ops->sigmasks(r, tids[i], &t->sigpend, &t->sighold);
		k++;
	}
	g->nthreads = k;
	free(tids);
	return 0;
}

/* Per mapping: bytes dumped, and how many of them are likely not holes. */
static int gather_maps(struct reader *r, struct gather *g)
{
	const struct maps *m = &r->maps;
	unsigned filter = effective_filter(r);
	uint64_t page = reader_page_size();

	g->filesz = calloc(m->n ? m->n : 1, sizeof(*g->filesz));
	g->resident = calloc(m->n ? m->n : 1, sizeof(*g->resident));
	if (!g->filesz || !g->resident)
		return -ENOMEM;
	if (r->src->ops->smaps)
		g->have_smaps = r->src->ops->smaps(r, &g->smaps) == 0 && g->smaps.n;
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];
		const struct smaps_entry *s =
			g->have_smaps ? smaps_find(&g->smaps, e->start, e->end) : NULL;
		uint64_t size = e->end - e->start, rss;
		unsigned char magic[SELFMAG];

		switch (core_dump_rule(e, s, filter)) {
		case CORE_DUMP_NONE:
			break;
		case CORE_DUMP_WHOLE:
			g->filesz[i] = size;
			break;
		case CORE_DUMP_ELF_HEADER:
			/* Read from the file when the page is not present: no fault. */
			if (reader_mem_read(r, magic, sizeof(magic), e->start) ==
			    (ssize_t)sizeof(magic) && memcmp(magic, ELFMAG, SELFMAG) == 0)
				g->filesz[i] = page < size ? page : size;
			break;
		}
		/* -o snapshot: a range the fork did not copy and we could not
		 * either reads as EIO; the core leaves its bytes out instead. */
		if (snapshot_uncopied(r, i, NULL) < 0)
			g->filesz[i] = 0;
		g->resident[i] = g->filesz[i];
		if (s && map_is_anon(e)) {
			rss = s->rss_kb + s->swap_kb;
			if (rss < g->filesz[i] / 1024)
				g->resident[i] = rss * 1024;
		} else if (!map_is_data(e) && !(e->perms & PERM_R)) {
			g->resident[i] = 0;	/* [vsyscall] in xonly mode: a hole */
		}
	}
	return 0;
}

/*
 * The PTRACEFS notes: the /proc text a core cannot otherwise carry. A
 * thread's stat line is read now (it is stopped: only the state differs,
 * and that is set back to the one before suspension); its syscall line is
 * rendered from what was read at suspension, as the kernel prints it.
 */
static int gather_notes(struct reader *r, struct gather *g)
{
	struct corenote_set *s = &g->notes;
	const struct corenote_text none = { 0 };
	struct corenote_text *texts[] = { &s->cmdline, &s->environ, &s->status };
	static const enum reader_file files[] = { RB_CMDLINE, RB_ENVIRON, RB_STATUS };
	size_t n = g->nthreads ? g->nthreads : 1;

	s->pid = r->pid;
	s->producer.p = "ptracefs " PTRACEFS_VERSION;
	s->producer.len = strlen(s->producer.p);
	s->maps.p = reader_maps_text(r, &s->maps.len);
	for (size_t i = 0; i < 3; i++)
		if (reader_file(r, files[i], &texts[i]->p, &texts[i]->len))
			*texts[i] = none;
	s->threads = calloc(n, sizeof(*s->threads));
	g->stat = calloc(n, sizeof(*g->stat));
	g->syscall = calloc(n, sizeof(*g->syscall));
	if (!s->threads || !g->stat || !g->syscall)
		return -ENOMEM;
	for (size_t i = 0; i < g->nthreads; i++) {
		struct corenote_thread *t = &s->threads[s->nthreads];
		struct reader_thread_info ti;
		unsigned long long a[6];
		char path[96];
		int len;

		if (reader_thread_info(r, g->threads[i].tid, &ti))
			continue;
		t->tid = ti.tid;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)r->pid, (int)ti.tid);
		if (proc_read_file(path, &g->stat[i], &t->stat.len, 1 << 16) == 0) {
			t->stat.p = g->stat[i];
			if (ti.state)
				corenote_stat_set_state(g->stat[i], t->stat.len, ti.state);
		}
		for (size_t k = 0; k < 6; k++)
			a[k] = ti.syscall_args[k];
		if (ti.syscall >= 0)
			len = snprintf(g->syscall[i], sizeof(g->syscall[i]),
				       "%ld 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx\n",
				       ti.syscall, a[0], a[1], a[2], a[3], a[4], a[5],
				       (unsigned long long)ti.sp, (unsigned long long)ti.pc);
		else
			len = snprintf(g->syscall[i], sizeof(g->syscall[i]), "-1 0x%llx 0x%llx\n",
				       (unsigned long long)ti.sp, (unsigned long long)ti.pc);
		t->syscall.p = g->syscall[i];
		t->syscall.len = len > 0 ? (size_t)len : 0;
		s->nthreads++;
	}
	return 0;
}

static void gather_free(struct gather *g)
{
	for (size_t i = 0; g->stat && i < g->nthreads; i++)
		free(g->stat[i]);
	free(g->stat);
	free(g->syscall);
	free(g->notes.threads);
	free(g->threads);
	free(g->sets);
	free(g->filesz);
	free(g->resident);
	smaps_free(&g->smaps);
}

/* x86: the XSAVE components of the first NT_X86_XSTATE, if the source knows them. */
static size_t gather_xfeats(struct reader *r, const struct gather *g,
			    struct core_xfeat *out, size_t max)
{
	if (!r->src->ops->xsave_layout)
		return 0;
	for (size_t i = 0; i < g->nthreads; i++)
		for (size_t k = 0; k < g->threads[i].nsets; k++)
			if (g->threads[i].sets[k].type == NT_X86_XSTATE)
				return r->src->ops->xsave_layout(r, g->threads[i].sets[k].data,
								 g->threads[i].sets[k].len, out, max);
	return 0;
}

/*
 * NT_AUXV holds the vector up to and with AT_NULL, in the target's word
 * size. /proc/PID/auxv of a 32-bit task on a 64-bit kernel counts in the
 * kernel's 8-byte words and so runs on past it.
 */
static size_t auxv_note_len(const char *auxv, size_t len, size_t word)
{
	for (size_t at = 0; at + 2 * word <= len; at += 2 * word)
		/* little- or big-endian: zero is zero */
		if (get_n((const unsigned char *)auxv + at, word, false) == AT_NULL)
			return at + 2 * word;
	return len;
}

static int build(struct reader *r, struct core_layout **out)
{
	struct core_xfeat xfeats[64];
	struct gather g = { 0 };
	struct core_input in = { 0 };
	const char *auxv = NULL;
	size_t auxv_len = 0;
	int rc;

	if (!r->arch || !r->arch->core)
		return -EOPNOTSUPP;
	gather_proc(r, &g.proc);
	rc = gather_threads(r, &g);
	if (rc == 0)
		rc = gather_maps(r, &g);
	if (rc == 0 && r->src->ops->proc_state)
		rc = gather_notes(r, &g);
	if (rc == 0) {
		if (reader_file(r, RB_AUXV, &auxv, &auxv_len))
			auxv_len = 0;
		auxv_len = auxv_note_len(auxv, auxv_len, r->arch->elf_class == ELFCLASS32 ? 4 : 8);
		in.arch = r->arch;
		in.proc = &g.proc;
		in.threads = g.threads;
		in.nthreads = g.nthreads;
		in.auxv = auxv;
		in.auxv_len = auxv_len;
		in.maps = &r->maps;
		in.filesz = g.filesz;
		in.resident = g.resident;
		in.page_size = reader_page_size();
		in.clk_tck = sysconf(_SC_CLK_TCK);
		if (r->arch->xstate_regset)
			in.nxfeats = gather_xfeats(r, &g, xfeats, 64);
		in.xfeats = xfeats;
		in.extra = &g.notes;
		/* A core's own notes, or none: nothing of another process's /proc. */
		if (!r->src->ops->proc_state)
			in.extra = r->src->ops->notes ? r->src->ops->notes(r) : NULL;
		rc = core_build(&in, out);
	}
	gather_free(&g);
	return rc;
}

int reader_core_layout(struct reader *r, const struct core_layout **out)
{
	struct core_layout *l = atomic_load_explicit(&r->core, memory_order_acquire);
	int rc = 0;

	if (!l) {
		pthread_mutex_lock(&r->lazy_mu);
		l = atomic_load_explicit(&r->core, memory_order_relaxed);
		if (!l) {
			rc = build(r, &l);
			if (rc == 0)
				atomic_store_explicit(&r->core, l, memory_order_release);
		}
		pthread_mutex_unlock(&r->lazy_mu);
		if (rc)
			return rc;
	}
	*out = l;
	return 0;
}

int reader_core_size(struct reader *r, uint64_t *size, uint64_t *blocks)
{
	const struct core_layout *l;
	int rc = reader_core_layout(r, &l);

	if (rc)
		return rc;
	*size = l->size;
	*blocks = (l->data_bytes + 511) / 512;
	return 0;
}

/* The vDSO's data pages: zeros, as in a kernel core (see core_dump_rule). */
static bool unreadable_special(const struct map_entry *e)
{
	return strncmp(e->path, "[vvar", 5) == 0;
}

/* Bytes of a mapping outside `mem` (the gate page): zeros where refused. */
static int read_gate(struct reader *r, const struct map_entry *e, char *buf,
		     size_t len, uint64_t addr)
{
	if (reader_gone(r))
		return -EIO;
	memset(buf, 0, len);
	if (!(e->perms & PERM_R) || unreadable_special(e))
		return 0;
	while (len) {
		ssize_t n = r->src->ops->read_raw(r, buf, len, addr);

		if (n <= 0)
			break;
		buf += n;
		addr += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t reader_core_read(struct reader *r, void *out, size_t len, uint64_t off)
{
	const struct core_layout *l;
	char *buf = out;
	size_t done = 0;
	int rc = reader_core_layout(r, &l);

	if (rc)
		return rc;
	if (off >= l->size)
		return 0;
	if (len > l->size - off)
		len = (size_t)(l->size - off);
	while (done < len) {
		uint64_t pos = off + done;
		size_t n = len - done;

		if (pos < l->data_off) {
			/* The generated head, then zeros up to the page boundary. */
			if (n > l->data_off - pos)
				n = (size_t)(l->data_off - pos);
			if (pos < l->head_len) {
				size_t h = l->head_len - pos < n ? (size_t)(l->head_len - pos) : n;

				memcpy(buf + done, l->head + pos, h);
				memset(buf + done + h, 0, n - h);
			} else {
				memset(buf + done, 0, n);
			}
		} else {
			const struct core_seg *s = &l->segs[l->filled[core_locate(l, pos)]];
			const struct map_entry *e = &r->maps.v[s->map];
			uint64_t in = pos - s->offset;
			ssize_t got;

			if (n > s->filesz - in)
				n = (size_t)(s->filesz - in);
			if (map_is_data(e)) {
				got = reader_mem_read(r, buf + done, n, s->vaddr + in);
				if (got < 0)
					return got;
			} else if ((rc = read_gate(r, e, buf + done, n, s->vaddr + in))) {
				return rc;
			}
		}
		done += n;
	}
	return (ssize_t)done;
}

/* SEEK_DATA/SEEK_HOLE within one segment's [va, vend) of memory. */
static int seg_seek(struct reader *r, const struct core_seg *s, uint64_t va,
		    uint64_t vend, int whence, uint64_t *out)
{
	const struct map_entry *e = &r->maps.v[s->map];

	if (map_is_data(e))
		return reader_mem_seek(r, va, whence, vend, out);
	/* The gate page: all data if readable, all hole if not. */
	if ((e->perms & PERM_R) && !unreadable_special(e)) {
		*out = whence == SEEK_DATA ? va : vend;
		return 0;
	}
	if (whence == SEEK_DATA)
		return -ENXIO;
	*out = va;
	return 0;
}

int reader_core_seek(struct reader *r, uint64_t off, int whence, uint64_t *out)
{
	const struct core_layout *l;
	int rc = reader_core_layout(r, &l);

	if (rc)
		return rc;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off >= l->size)
		return -ENXIO;
	/* The head and its padding are data. */
	if (off < l->data_off) {
		if (whence == SEEK_DATA) {
			*out = off;
			return 0;
		}
		off = l->data_off;
	}
	for (size_t i = core_locate(l, off); i < l->nfilled; i++) {
		const struct core_seg *s = &l->segs[l->filled[i]];
		uint64_t from = off > s->offset ? off : s->offset;
		uint64_t va = s->vaddr + (from - s->offset), vend = s->vaddr + s->filesz, v;

		rc = seg_seek(r, s, va, vend, whence, &v);
		if (rc == -ENXIO)
			continue;
		if (rc)
			return rc;
		if (whence == SEEK_DATA || v < vend) {
			*out = s->offset + (v - s->vaddr);
			return 0;
		}
	}
	if (whence == SEEK_DATA)
		return -ENXIO;
	*out = l->size;
	return 0;
}
