/*
 * -o rw: a core file put back into the process it was taken of (ctl's
 * "restore PATH"). ptracefs's own `core`, the kernel's and gcore's all
 * say the same things: a PT_LOAD per mapping whose file bytes are the
 * mapping's bytes, a hole in the file where the page was zero or never
 * there, and per thread NT_PRSTATUS with its FP sets after it.
 *
 * Everything is checked before anything is written: the same
 * architecture, the same mappings (range, rwx, file), the same threads,
 * every segment whole in the file. Then the registers of every thread
 * go in at once (ptrace_put_regsets puts them back if the kernel refuses
 * one), then memory, through the source's write, which leaves a page
 * alone when it already holds the bytes: zeros of a hole land only where
 * the process has non-zero bytes now, and a never-touched page stays
 * unpopulated.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader/corefile.h"
#include "reader/reader_int.h"
#include "reader/source.h"

#define CHUNK ((size_t)1 << 20)

__attribute__((format(printf, 4, 5)))
static int say(int rc, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void rwx(unsigned perms, char out[4])
{
	out[0] = perms & PERM_R ? 'r' : '-';
	out[1] = perms & PERM_W ? 'w' : '-';
	out[2] = perms & PERM_X ? 'x' : '-';
	out[3] = '\0';
}

static unsigned seg_perms(unsigned pflags)
{
	return (pflags & PF_R ? PERM_R : 0) | (pflags & PF_W ? PERM_W : 0) |
	       (pflags & PF_X ? PERM_X : 0);
}

/* A path as maps prints it, without " (deleted)". */
static size_t path_len(const char *p)
{
	size_t n = strlen(p);
	static const char del[] = " (deleted)";

	if (n >= sizeof(del) - 1 && strcmp(p + n - (sizeof(del) - 1), del) == 0)
		n -= sizeof(del) - 1;
	return n;
}

/*
 * The backup's mappings against the process's: each PT_LOAD is a mapping
 * with the same range and rwx (and file, where NT_FILE names one), and
 * each mapping whose bytes mem shows is a PT_LOAD. seg_map[i]: the index
 * of segment i's mapping.
 */
static int check_maps(const struct reader *r, const struct corefile *cf, size_t *seg_map,
		      char *why, size_t whylen)
{
	const struct maps *m = &r->maps;
	char a[4], b[4];

	for (size_t i = 0; i < cf->nsegs; i++) {
		const struct corefile_seg *s = &cf->segs[i];
		const struct map_entry *e = maps_find(m, s->vaddr);

		if (!e || e->start != s->vaddr)
			return say(-EINVAL, why, whylen,
				   "mapping %" PRIx64 "-%" PRIx64 " of the backup is not in the process",
				   s->vaddr, s->vaddr + s->memsz);
		if (e->end - e->start != s->memsz)
			return say(-EINVAL, why, whylen,
				   "mapping %" PRIx64 "-%" PRIx64 " of the backup is %" PRIx64 "-%" PRIx64
				   " now", s->vaddr, s->vaddr + s->memsz, e->start, e->end);
		rwx(seg_perms(s->flags), a);
		rwx(e->perms, b);
		/*
		 * Only what mem writes must match exactly. gcore gives a
		 * PROT_NONE guard page r-- (zeros), the kernel ---; [vvar] and
		 * [vsyscall] take no bytes either way.
		 */
		if (strcmp(a, b) != 0 &&
		    (map_is_data(e) || (!(e->perms & (PERM_R | PERM_W | PERM_X)) &&
					(s->flags & (PF_W | PF_X)))))
			return say(-EINVAL, why, whylen,
				   "mapping %" PRIx64 "-%" PRIx64 " was %s in the backup, is %s now",
				   e->start, e->end, a, b);
		if (s->filesz > s->memsz || s->avail < s->filesz)
			return say(-EINVAL, why, whylen,
				   "mapping %" PRIx64 "-%" PRIx64 ": the backup holds %" PRIu64
				   " of its %" PRIu64 " bytes (truncated?)",
				   e->start, e->end, s->avail, s->filesz);
		seg_map[i] = (size_t)(e - m->v);
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];
		bool found = false;

		if (!map_is_data(e) || e->end > (UINT64_C(1) << 63))
			continue;
		for (size_t k = 0; k < cf->nsegs && !found; k++)
			found = seg_map[k] == i;
		/* gcore leaves out file text it did not change, but names it. */
		for (size_t k = 0; k < cf->nfiles && !found && map_is_file(e); k++)
			found = cf->files[k].start == e->start && cf->files[k].end == e->end &&
				path_len(cf->files[k].path) == path_len(e->path) &&
				strncmp(cf->files[k].path, e->path, path_len(e->path)) == 0;
		if (!found)
			return say(-EINVAL, why, whylen,
				   "mapping %" PRIx64 "-%" PRIx64 " %s is not in the backup (mapped since?)",
				   e->start, e->end, e->path);
	}
	for (size_t i = 0; i < cf->nfiles; i++) {
		const struct corefile_file *f = &cf->files[i];
		const struct map_entry *e = maps_find(m, f->start);
		size_t n;

		if (!e || e->start != f->start)
			continue;	/* an NT_FILE entry without a PT_LOAD: said nothing */
		n = path_len(f->path);
		if (path_len(e->path) != n || strncmp(e->path, f->path, n) != 0)
			return say(-EINVAL, why, whylen,
				   "mapping %" PRIx64 "-%" PRIx64 " maps %s now, %s in the backup",
				   e->start, e->end, e->path[0] ? e->path : "no file", f->path);
	}
	return 0;
}

/* The same threads: every one of the backup alive, none other. */
static int check_threads(const struct reader *r, const struct corefile *cf, char *why,
			 size_t whylen)
{
	size_t n = reader_threads(r, NULL, 0);
	pid_t *tids = calloc(n ? n : 1, sizeof(*tids));
	int rc = 0;

	if (!tids)
		return -ENOMEM;
	n = reader_threads(r, tids, n);
	for (size_t i = 0; i < cf->nthreads && !rc; i++)
		if (reader_thread_alive(r, cf->threads[i].tid) != 0)
			rc = say(-EINVAL, why, whylen, "thread %d of the backup is not in the process",
				 (int)cf->threads[i].tid);
	for (size_t i = 0; i < n && !rc; i++) {
		bool found = false;

		for (size_t k = 0; k < cf->nthreads && !found; k++)
			found = cf->threads[k].tid == tids[i];
		if (!found)
			rc = say(-EINVAL, why, whylen, "thread %d is not in the backup (started since?)",
				 (int)tids[i]);
	}
	free(tids);
	return rc;
}

/*
 * The sets to put back, in note order: NT_PRSTATUS and the FP sets the
 * architecture names (fpregs' and the extended state).
 */
static int gather_sets(const struct corefile *cf, struct regset_put **out, size_t *nout,
		       unsigned char **data, size_t *datalen)
{
	const struct arch_desc *a = cf->arch;
	size_t n = 0, len = 0;
	struct regset_put *v;
	unsigned char *d;

	for (size_t i = 0; i < cf->nthreads; i++)
		for (size_t k = 0; k < cf->threads[i].nsets; k++) {
			n++;
			len += cf->threads[i].sets[k].len;
		}
	v = calloc(n ? n : 1, sizeof(*v));
	d = malloc(len ? len : 1);
	if (!v || !d) {
		free(v);
		free(d);
		return -ENOMEM;
	}
	n = len = 0;
	for (size_t i = 0; i < cf->nthreads; i++)
		for (size_t k = 0; k < cf->threads[i].nsets; k++) {
			const struct corefile_set *s = &cf->threads[i].sets[k];

			if (s->type != NT_PRSTATUS && (!a->fp_regset || s->type != a->fp_regset) &&
			    (!a->xstate_regset || s->type != a->xstate_regset))
				continue;
			v[n++] = (struct regset_put){ cf->threads[i].tid, s->type, len, s->len };
			memcpy(d + len, s->data, s->len);
			len += s->len;
		}
	*out = v;
	*nout = n;
	*data = d;
	*datalen = len;
	return 0;
}

/*
 * Writes [addr, addr+len) of mapping idx from buf, or zeros when buf is
 * NULL (a hole of the backup: only populated pages can differ from it).
 */
static int put_bytes(struct reader *r, size_t idx, const unsigned char *buf,
		     const unsigned char *zeros, uint64_t addr, uint64_t len, char *why,
		     size_t whylen)
{
	uint64_t end = addr + len;

	while (addr < end) {
		uint64_t stop;
		ssize_t n;

		if (!buf) {
			/* Skip what pagemap says was never there: zeros already. */
			addr = r->src->ops->scan(r, idx, addr, end, true);
			if (addr >= end)
				break;
			stop = r->src->ops->scan(r, idx, addr, end, false);
			if (stop - addr > CHUNK)
				stop = addr + CHUNK;
		} else {
			stop = end - addr > CHUNK ? addr + CHUNK : end;
		}
		n = r->src->ops->write(r, idx, buf ? buf : zeros, (size_t)(stop - addr), addr);
		if (n != (ssize_t)(stop - addr))
			return say(n < 0 ? (int)n : -EIO, why, whylen,
				   "writing %" PRIx64 "-%" PRIx64 " failed (%s): memory is partly restored",
				   addr, stop, strerror(n < 0 ? (int)-n : EIO));
		if (buf)
			buf += stop - addr;
		addr = stop;
	}
	return 0;
}

/* Segment s into mapping idx: its data runs read, its holes as zeros. */
static int put_segment(struct reader *r, int fd, const struct corefile_seg *s, size_t idx,
		       unsigned char *buf, const unsigned char *zeros, char *why, size_t whylen)
{
	uint64_t off = s->offset, end = s->offset + s->filesz;
	int rc = 0;

	while (off < end && !rc) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;
		uint64_t data = d < 0 || (uint64_t)d > end ? end : (uint64_t)d, stop;

		/* [off, data) is a hole of the file. */
		if (data > off)
			rc = put_bytes(r, idx, NULL, zeros, s->vaddr + (off - s->offset),
				       data - off, why, whylen);
		if (rc || data >= end)
			break;
		h = lseek(fd, (off_t)data, SEEK_HOLE);
		stop = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
		if (stop - data > CHUNK)
			stop = data + CHUNK;
		if (pread(fd, buf, (size_t)(stop - data), (off_t)data) != (ssize_t)(stop - data))
			return say(-EIO, why, whylen, "reading the backup at %" PRIu64 ": %s", data,
				   strerror(errno ? errno : EIO));
		rc = put_bytes(r, idx, buf, zeros, s->vaddr + (data - s->offset), stop - data,
			       why, whylen);
		off = stop;
	}
	return rc;
}

/* Checked, then registers, then memory; the snapshot is held exclusively. */
static int restore_locked(struct reader *r, int fd, const struct corefile *cf, bool *changed,
			  char *why, size_t whylen)
{
	const struct arch_desc *a = reader_arch(r);
	size_t *seg_map = calloc(cf->nsegs ? cf->nsegs : 1, sizeof(*seg_map));
	unsigned char *buf = malloc(CHUNK), *zeros = calloc(1, CHUNK), *data = NULL;
	struct regset_put *v = NULL;
	size_t nv = 0, datalen = 0, bad = 0;
	int rc;

	if (!seg_map || !buf || !zeros) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cf->nsegs; i++)
		seg_map[i] = SIZE_MAX;
	if (!a || cf->arch != a) {
		rc = say(-EINVAL, why, whylen, "the backup is of %s, the process of %s",
			 cf->arch ? cf->arch->name : "an unknown machine", a ? a->name : "?");
		goto out;
	}
	if ((rc = check_maps(r, cf, seg_map, why, whylen)) ||
	    (rc = check_threads(r, cf, why, whylen)) ||
	    (rc = gather_sets(cf, &v, &nv, &data, &datalen)))
		goto out;
	rc = r->src->ops->put_regsets ? r->src->ops->put_regsets(r, v, nv, data, datalen, &bad) :
					 -EROFS;
	if (rc) {
		rc = say(rc, why, whylen, "thread %d: the kernel refused its %s from the backup (%s): nothing changed",
			 bad < nv ? (int)v[bad].tid : 0,
			 bad < nv && v[bad].type == NT_PRSTATUS ? "registers" : "FP registers",
			 strerror(-rc));
		goto out;
	}
	*changed = true;
	for (size_t i = 0; i < cf->nsegs && !rc; i++)
		if (cf->segs[i].filesz && map_is_data(&r->maps.v[seg_map[i]]))
			rc = put_segment(r, fd, &cf->segs[i], seg_map[i], buf, zeros, why, whylen);
out:
	free(seg_map);
	free(buf);
	free(zeros);
	free(v);
	free(data);
	return rc;
}

int reader_restore(struct reader *r, const char *path, char *why, size_t whylen)
{
	struct corefile cf;
	bool changed = false, parsed = false;
	struct stat st;
	Elf *elf = NULL;
	int fd, rc;

	if (why && whylen)
		why[0] = '\0';
	if (!reader_writable(r))
		return say(-EROFS, why, whylen, "needs a -o rw mount");
	if (reader_gone(r))
		return say(-EIO, why, whylen, "the process has exited");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return say(-errno, why, whylen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = say(-EINVAL, why, whylen, "%s: not a regular file", path);
		goto out_close;
	}
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf) {
		rc = say(-EINVAL, why, whylen, "%s: not a core file (%s)", path, elf_errmsg(-1));
		goto out_close;
	}
	memset(&cf, 0, sizeof(cf));
	rc = corefile_parse(elf, (uint64_t)st.st_size, &cf, why, whylen);
	if (rc)
		goto out_elf;
	parsed = true;
	if (cf.problems[0]) {
		rc = say(-EINVAL, why, whylen, "%s: a damaged core (%s)", path, cf.problems);
		goto out_elf;
	}
	/* Live mode: the whole process stands still for it. */
	rc = reader_hold_suspend(r);
	if (rc) {
		say(rc, why, whylen, "could not stop the process: %s", strerror(-rc));
		goto out_elf;
	}
	/* Exclusive: the registers' captured sets are replaced (live.c). */
	pthread_rwlock_wrlock(&r->snap_lock);
	rc = restore_locked(r, fd, &cf, &changed, why, whylen);
	if (changed)
		written_locked(r);
	pthread_rwlock_unlock(&r->snap_lock);
	reader_release_suspend(r);
out_elf:
	if (parsed)
		corefile_free(&cf);
	elf_end(elf);
out_close:
	close(fd);
	return rc;
}
