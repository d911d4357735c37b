/*
 * Memory of the target as one sparse view, offset == address.
 *
 * Reads go through process_vm_readv, which any thread may call, and fall
 * back to /proc/PID/mem when it refuses (EPERM, EFAULT, ENOSYS). Both
 * fault pages in, and a never-touched anonymous page would
 * then cost the target a real page: /proc/PID/pagemap tells which
 * anonymous pages exist (present or swapped), and the others are holes
 * that read as zeros without ever reaching the target. A file-backed page
 * that is not present holds the file's bytes, so it is read from the file
 * (through /proc/PID/map_files), again without mapping anything into the
 * target. Unless the file is on a FUSE file system the target serves
 * itself: opening it would wait on the stopped server, so such pages fail
 * with EIO (mem_mark_self_served).
 *
 * No page becomes populated while the target is suspended (we never fault
 * one in), so pagemap is read once per block of 512 pages and kept as a
 * bit per page (32 KiB per GiB mapped): after the first read of a block,
 * reads and SEEK_DATA/SEEK_HOLE there cost no pagemap syscall (a fifth of
 * the daemon's time on 4 KiB reads). A file page the kernel evicts later
 * is still read through the target, which maps it back as it was. Each
 * suspension takes a new snapshot, which drops the cache (free_mm); in
 * live mode it is not used.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "reader/reader_int.h"
#include "reader/source.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_BATCH 4096		/* pagemap entries per pread: 16 MiB in 4 KiB pages */
#define PM_BLOCK 512		/* pages per cached pagemap read: one 4 KiB pread */
#define PM_WORDS (PM_BLOCK / 64)
#define PM_MAX_PAGES (1ULL << 28)	/* 1 TiB: bigger mappings scan pagemap each time */

/*
 * pagemap has one entry per page of the host's size, which is the
 * target's (AT_PAGESZ): 4 KiB on x86, 16 or 64 KiB on some arm64 kernels.
 */
static uint64_t page_down(uint64_t a, uint64_t page) { return a & ~(page - 1); }

/*
 * One bitmap per mapping, allocated on its first read: a bit per page,
 * set when the page is populated, then a bit per block of PM_BLOCK pages,
 * set once that block's pagemap has been read. Workers that fill the same
 * block at once store the same words. calloc'd: the parts of a big
 * mapping's bitmap that are never read stay untouched, hence virtual.
 */
struct pm_bitmap {
	uint64_t nblocks;
	_Atomic uint64_t w[];	/* nblocks * PM_WORDS page bits, then the block bits */
};

struct mem_cache {
	size_t n;				/* r->maps.n */
	_Atomic(struct pm_bitmap *) maps[];
};

void mem_cache_free(struct reader *r)
{
	struct mem_cache *c = atomic_load(&r->mem_cache);

	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(atomic_load(&c->maps[i]));
	free(c);
	atomic_store(&r->mem_cache, NULL);
}

static _Atomic uint64_t *pm_filled(struct pm_bitmap *b, uint64_t k)
{
	return &b->w[b->nblocks * PM_WORDS + k / 64];
}

/* The bitmap of mapping idx, allocated on first use; NULL: not cached. */
static struct pm_bitmap *pm_bitmap(struct reader *r, size_t idx)
{
	struct mem_cache *c = atomic_load_explicit(&r->mem_cache, memory_order_acquire);
	const struct map_entry *e = &r->maps.v[idx];
	uint64_t pages = (e->end - e->start) / reader_page_size(), nblocks;
	struct pm_bitmap *b, *none = NULL;

	if (!c) {
		struct mem_cache *expect = NULL;

		c = calloc(1, sizeof(*c) + r->maps.n * sizeof(c->maps[0]));
		if (!c)
			return NULL;
		c->n = r->maps.n;
		if (!atomic_compare_exchange_strong(&r->mem_cache, &expect, c)) {
			free(c);	/* another worker won the race */
			c = expect;
		}
	}
	if (idx >= c->n || pages > PM_MAX_PAGES)
		return NULL;
	b = atomic_load_explicit(&c->maps[idx], memory_order_acquire);
	if (b)
		return b;
	nblocks = (pages + PM_BLOCK - 1) / PM_BLOCK;
	b = calloc(1, sizeof(*b) + (nblocks * PM_WORDS + nblocks / 64 + 1) * sizeof(b->w[0]));
	if (!b)
		return NULL;
	b->nblocks = nblocks;
	if (!atomic_compare_exchange_strong(&c->maps[idx], &none, b)) {
		free(b);
		b = none;
	}
	return b;
}

/* Reads block k of mapping e into b; -errno when pagemap cannot be read. */
static int pm_fill(struct reader *r, const struct map_entry *e, struct pm_bitmap *b,
		   uint64_t k)
{
	uint64_t ent[PM_BLOCK], words[PM_WORDS] = { 0 }, page = reader_page_size();
	uint64_t first = e->start / page + k * PM_BLOCK, pages = (e->end - e->start) / page;
	size_t want = (size_t)((pages - k * PM_BLOCK < PM_BLOCK ? pages - k * PM_BLOCK : PM_BLOCK) * 8);
	size_t got = 0;

	while (got < want) {
		ssize_t n = pread(r->pagemap_fd, (char *)ent + got, want - got,
				  (off_t)(first * 8 + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	for (size_t i = 0; i < want / 8; i++)
		if (ent[i] & (PM_PRESENT | PM_SWAPPED))
			words[i / 64] |= 1ULL << (i % 64);
	for (size_t w = 0; w < PM_WORDS; w++)
		atomic_store_explicit(&b->w[k * PM_WORDS + w], words[w], memory_order_relaxed);
	atomic_fetch_or_explicit(pm_filled(b, k), 1ULL << (k % 64), memory_order_release);
	return 0;
}

ssize_t mem_read_raw(struct reader *r, void *buf, size_t len, uint64_t addr)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n, m;

	if (fault_hit("read"))
		return -EFAULT;
	n = process_vm_readv(r->mem_pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return n;
	if (n < 0) {
		if (errno == ESRCH)
			return -ESRCH;
		n = 0;	/* EPERM, EFAULT, ENOSYS: try /proc/PID/mem */
	}
	if (r->mem_fd < 0)
		return n ? n : -EFAULT;
	m = pread(r->mem_fd, (char *)buf + n, len - (size_t)n, (off_t)(addr + (uint64_t)n));
	if (m > 0)
		return n + m;
	if (n > 0)
		return n;
	if (m == 0)
		return -ESRCH;	/* the address space is gone */
	return -errno;
}

/*
 * Reads [addr, addr+len) of one mapping, page by page where the target
 * refuses: an unreadable page reads as zeros. -EIO once the target is gone.
 */
static int read_pages(struct reader *r, char *buf, uint64_t len, uint64_t addr)
{
	uint64_t page = reader_page_size();

	while (len) {
		ssize_t n = mem_read_raw(r, buf, len, addr);

		if (n == -ESRCH)
			return -EIO;
		if (n <= 0) {
			uint64_t skip = page_down(addr, page) + page - addr;

			if (skip > len)
				skip = len;
			memset(buf, 0, skip);
			n = (ssize_t)skip;
		}
		buf += n;
		addr += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* pagemap_scan() for a mapping too big to cache: pagemap read each time. */
static uint64_t pagemap_scan_uncached(struct reader *r, uint64_t from, uint64_t to, bool want)
{
	uint64_t ent[PM_BATCH], page = reader_page_size();
	uint64_t pg = page_down(from, page);

	while (pg < to) {
		uint64_t npages = (to - pg + page - 1) / page;
		size_t batch = npages < PM_BATCH ? (size_t)npages : PM_BATCH;
		ssize_t got = pread(r->pagemap_fd, ent, batch * 8, (off_t)(pg / page * 8));

		if (got <= 0)
			return want ? (pg > from ? pg : from) : to;
		for (size_t i = 0; i < (size_t)got / 8; i++, pg += page) {
			bool populated = ent[i] & (PM_PRESENT | PM_SWAPPED);

			if (populated == want)
				return pg > from ? pg : from;
		}
	}
	return to;
}

/*
 * First page address in [from, to) whose populated-ness (present or
 * swapped) equals want, or `to` when there is none; [from, to) lies in
 * mapping idx. Errors read as "populated", which never hides data.
 */
static uint64_t pagemap_scan(struct reader *r, size_t idx, uint64_t from, uint64_t to,
			     bool want)
{
	const struct map_entry *e = &r->maps.v[idx];
	struct pm_bitmap *b;
	uint64_t pg, last, page = reader_page_size();

	if (r->pagemap_fd < 0)
		return want ? from : to;
	/* A running target populates and drops pages: live mode asks each time. */
	b = reader_is_live(r) ? NULL : pm_bitmap(r, idx);
	if (!b)
		return pagemap_scan_uncached(r, from, to, want);
	pg = (page_down(from, page) - e->start) / page;
	last = (to - e->start + page - 1) / page;
	while (pg < last) {
		uint64_t k = pg / PM_BLOCK, w;

		if (!(atomic_load_explicit(pm_filled(b, k), memory_order_acquire) &
		      (1ULL << (k % 64))) && pm_fill(r, e, b, k)) {
			uint64_t at = e->start + pg * page;

			return want ? (at > from ? at : from) : to;
		}
		w = atomic_load_explicit(&b->w[pg / 64], memory_order_relaxed);
		if (!want)
			w = ~w;
		w &= ~0ULL << (pg % 64);
		if (w) {
			uint64_t at = e->start + (pg - pg % 64 + (uint64_t)__builtin_ctzll(w)) * page;

			if (at >= to)
				return to;
			return at > from ? at : from;
		}
		pg = pg - pg % 64 + 64;
	}
	return to;
}

/*
 * source_ptrace's scan: anonymous pages by pagemap; the pages of a file
 * mapping hold the file's bytes, resident or not, so they are all data.
 */
uint64_t ptrace_mem_scan(struct reader *r, size_t idx, uint64_t from, uint64_t to,
			 bool want)
{
	/* What the fork did not copy is data: copied bytes, or EIO. */
	if (!map_is_anon(&r->maps.v[idx]) || snapshot_uncopied(r, idx, NULL))
		return want ? from : to;
	return pagemap_scan(r, idx, from, to, want);
}

/* Whether /proc/PID/fd of the target holds /dev/fuse: it serves FUSE. */
static bool serves_fuse(pid_t pid)
{
	char path[64], link[64];
	struct dirent *d;
	DIR *dir;
	bool yes = false;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	while (dir && !yes && (d = readdir(dir))) {
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%.20s", (int)pid, d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		yes = n == 9 && memcmp(link, "/dev/fuse", 9) == 0;
	}
	if (dir)
		closedir(dir);
	return yes;
}

void mem_mark_self_served(struct reader *r)
{
	char path[64], *text, *line, *save = NULL;
	size_t len, nfuse = 0;
	struct { unsigned major, minor; } fuse[64];
	bool any = false;

	if (!r->map_fds)
		return;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)r->mem_pid);
	if (proc_read_file(path, &text, &len, 64 << 20) != 0)
		return;
	/* "ID PARENT MAJ:MIN ROOT POINT OPTS... - FSTYPE SOURCE SUPEROPTS" */
	for (line = strtok_r(text, "\n", &save); line && nfuse < 64;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *sep = strstr(line, " - ");
		unsigned ma, mi;

		if (sep && strncmp(sep + 3, "fuse", 4) == 0 &&
		    (sep[7] == ' ' || sep[7] == '.' || strncmp(sep + 7, "blk ", 4) == 0) &&
		    sscanf(line, "%*s %*s %u:%u", &ma, &mi) == 2) {
			fuse[nfuse].major = ma;
			fuse[nfuse++].minor = mi;
		}
	}
	free(text);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->maps.n; i++) {
			const struct map_entry *e = &r->maps.v[i];

			if (map_is_anon(e) || e->inode == 0)
				continue;
			for (size_t k = 0; k < nfuse; k++) {
				if (e->dev_major != fuse[k].major || e->dev_minor != fuse[k].minor)
					continue;
				if (pass == 1)
					atomic_store(&r->map_fds[i], MAP_FD_SELF_SERVED);
				any = true;
			}
		}
		/* Files on FUSE are mapped: is the server the target itself? */
		if (!any || (pass == 0 && !serves_fuse(r->mem_pid)))
			return;
	}
}

bool mem_path_self_served(struct reader *r, const char *path)
{
	for (size_t i = 0; r->map_fds && i < r->maps.n; i++)
		if (atomic_load(&r->map_fds[i]) == MAP_FD_SELF_SERVED &&
		    strcmp(r->maps.v[i].path, path) == 0)
			return true;
	return false;
}

/*
 * The file behind mapping e, opened once: -1 when it cannot be had (then
 * pages are read through the target, which maps them in). The inode must
 * match, so a file replaced on disk is never mistaken for the mapped one.
 */
static int mapping_fd(struct reader *r, size_t idx)
{
	const struct map_entry *e = &r->maps.v[idx];
	int fd = atomic_load(&r->map_fds[idx]), expect = -2;
	char path[96];
	struct stat st;

	if (fd != -2)
		return fd;
	/* mem_pid: a zombie leader has no mm, hence no map_files. */
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)r->mem_pid,
		 (unsigned long long)e->start, (unsigned long long)e->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && e->path[0] == '/')
		fd = open(e->path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_ino != e->inode ||
			!S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fd = -1;
	if (!atomic_compare_exchange_strong(&r->map_fds[idx], &expect, fd)) {
		if (fd >= 0)
			close(fd);	/* another worker won the race */
		fd = expect;
	}
	return fd;
}

/* Non-present pages of a file mapping: the file's bytes, zeros past EOF. */
static int read_file_pages(struct reader *r, size_t idx, char *buf, uint64_t len,
			   uint64_t addr)
{
	const struct map_entry *e = &r->maps.v[idx];
	int fd = mapping_fd(r, idx);
	uint64_t off = e->offset + (addr - e->start);

	if (fd == MAP_FD_SELF_SERVED)
		return -EIO;
	if (fd < 0)
		return read_pages(r, buf, len, addr);
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			memset(buf, 0, len);
			break;
		}
		buf += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* source_ptrace's read: resident pages from the target, the rest as above. */
int ptrace_mem_read(struct reader *r, size_t idx, void *out, size_t len, uint64_t addr)
{
	const struct map_entry *e = &r->maps.v[idx];
	char *buf = out;
	bool anon = map_is_anon(e), file = !anon && e->inode != 0;
	uint64_t end = addr + len;
	const char *copied;
	int unc = snapshot_uncopied(r, idx, &copied);

	/* -o snapshot: the clone has no copy of it (dontfork) or zeros (wipeonfork). */
	if (unc < 0)
		return unc;
	if (unc) {
		memcpy(buf, copied + (addr - e->start), len);
		return 0;
	}
	if ((!anon && !file) || r->pagemap_fd < 0 || (file && !r->map_fds))
		return read_pages(r, buf, len, addr);
	while (addr < end) {
		uint64_t data = pagemap_scan(r, idx, addr, end, true);
		uint64_t hole;
		int rc;

		if (anon)
			memset(buf, 0, data - addr);
		else if (data > addr && (rc = read_file_pages(r, idx, buf, data - addr, addr)))
			return rc;	/* (no file is opened for resident pages) */
		buf += data - addr;
		addr = data;
		if (addr >= end)
			break;
		hole = pagemap_scan(r, idx, addr, end, false);
		rc = read_pages(r, buf, hole - addr, addr);
		if (rc)
			return rc;
		buf += hole - addr;
		addr = hole;
	}
	return 0;
}

ssize_t reader_mem_read(struct reader *r, void *out, size_t len, uint64_t addr)
{
	const struct maps *m = &r->maps;
	uint64_t end, pos = addr;
	char *buf = out;
	size_t i;

	/* Dead: even bytes we could still get from files are no longer its. */
	if (reader_gone(r))
		return -EIO;
	if (__builtin_add_overflow(addr, (uint64_t)len, &end))
		end = UINT64_MAX;
	i = maps_lower_bound(m, pos);
	while (pos < end) {
		const struct map_entry *e = NULL;
		uint64_t stop;
		int rc;

		for (; i < m->n; i++)
			if (map_is_data(&m->v[i])) {
				e = &m->v[i];
				break;
			}
		if (!e || e->start >= end) {
			memset(buf + (pos - addr), 0, end - pos);
			break;
		}
		if (e->start > pos) {
			memset(buf + (pos - addr), 0, e->start - pos);
			pos = e->start;
		}
		stop = e->end < end ? e->end : end;
		rc = r->src->ops->read(r, i, buf + (pos - addr), (size_t)(stop - pos), pos);
		if (rc)
			return rc;
		pos = stop;
		i++;
	}
	return (ssize_t)(end - addr);
}

int reader_mem_seek(struct reader *r, uint64_t off, int whence, uint64_t end,
		    uint64_t *out)
{
	const struct maps *m = &r->maps;
	size_t i = maps_lower_bound(m, off);
	uint64_t pos = off;

	if (whence == SEEK_DATA) {
		for (; i < m->n; i++) {
			const struct map_entry *e = &m->v[i];
			uint64_t s = e->start > pos ? e->start : pos;
			uint64_t stop = e->end < end ? e->end : end;

			if (!map_is_data(e))
				continue;
			if (s >= end)
				break;
			s = r->src->ops->scan(r, i, s, stop, true);
			if (s < stop) {
				*out = s;
				return 0;
			}
		}
		return -ENXIO;
	}
	if (whence != SEEK_HOLE)
		return -EINVAL;
	while (pos < end) {
		const struct map_entry *e = maps_find(m, pos);
		uint64_t stop;

		if (!e || !map_is_data(e))
			break;
		stop = e->end < end ? e->end : end;
		size_t idx = (size_t)(e - m->v);
		uint64_t h = pos, d;

		/* Short holes are told as data: see MEM_MIN_HOLE. */
		for (unsigned n = 0; (h = r->src->ops->scan(r, idx, h, stop, false)) < stop; n++) {
			d = r->src->ops->scan(r, idx, h, stop, true);
			if (d >= stop || d - h >= MEM_MIN_HOLE || n == MEM_COALESCE_MAX) {
				*out = h;
				return 0;
			}
			h = d;
		}
		pos = stop;
	}
	*out = pos < end ? pos : end;
	return 0;
}

uint64_t reader_mem_size(const struct reader *r)
{
	return r->mem_size;
}

uint64_t reader_mem_data_bytes(const struct reader *r)
{
	return r->mem_data_bytes;
}

/*
 * -o rw. process_vm_writev writes what the target could write itself;
 * /proc/PID/mem writes with FOLL_FORCE, so read-only text takes a
 * breakpoint as it does from gdb (a private copy of the page for the
 * target alone, never the file).
 */
ssize_t mem_write_raw(struct reader *r, const void *buf, size_t len, uint64_t addr)
{
	struct iovec local = { (void *)(uintptr_t)buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n, m;

	if (fault_hit("write"))
		return -EFAULT;
	n = process_vm_writev(r->mem_pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return n;
	if (n < 0) {
		if (errno == ESRCH)
			return -ESRCH;
		n = 0;	/* EFAULT (read-only page), EPERM, ENOSYS: try /proc/PID/mem */
	}
	if (r->mem_fd < 0)
		return n ? n : -EFAULT;
	m = pwrite(r->mem_fd, (const char *)buf + n, len - (size_t)n, (off_t)(addr + (uint64_t)n));
	if (m > 0)
		return n + m;
	if (n > 0)
		return n;
	if (m == 0)
		return -ESRCH;	/* the address space is gone */
	return -errno;
}

/*
 * source_ptrace's write, a page at a time: a page whose bytes already
 * are buf's (as the sparse view reads them, which faults nothing in) is
 * left alone. Zeros over a never-populated anonymous page then cost the
 * target nothing, and an unchanged page of a file mapping is not copied
 * on write: restoring a saved image leaves RSS as it was.
 */
ssize_t ptrace_mem_write(struct reader *r, size_t idx, const void *in, size_t len,
			 uint64_t addr)
{
	uint64_t page = reader_page_size();
	const char *src = in;
	char *cur = malloc(page);
	size_t done = 0;
	ssize_t rc = 0;

	if (!cur)
		return -ENOMEM;
	while (done < len) {
		uint64_t at = addr + done;
		size_t chunk = (size_t)(page_down(at, page) + page - at);
		ssize_t n;

		if (chunk > len - done)
			chunk = len - done;
		rc = ptrace_mem_read(r, idx, cur, chunk, at);
		if (rc)
			break;
		if (memcmp(cur, src + done, chunk) == 0) {
			done += chunk;
			continue;
		}
		n = mem_write_raw(r, src + done, chunk, at);
		if (n < 0) {
			rc = n == -ESRCH ? -EIO : n;
			break;
		}
		done += (size_t)n;
		if ((size_t)n < chunk)
			break;
	}
	free(cur);
	return done ? (ssize_t)done : rc ? rc : -EIO;
}

bool reader_writable(const struct reader *r)
{
	return r->opts.rw && r->src->ops->write && !r->snap;
}

ssize_t reader_mem_write(struct reader *r, const void *in, size_t len, uint64_t addr)
{
	const struct maps *m = &r->maps;
	const char *buf = in;
	size_t done = 0;

	if (!reader_writable(r))
		return -EROFS;
	if (reader_gone(r))
		return -EIO;
	while (done < len) {
		uint64_t pos = addr + done, stop;
		const struct map_entry *e;
		ssize_t n;

		/* A wrapped address, a hole, or a mapping mem does not show. */
		if (pos < addr || !(e = maps_find(m, pos)) || !map_is_data(e))
			break;
		stop = e->end - pos < len - done ? e->end : pos + (len - done);
		n = r->src->ops->write(r, (size_t)(e - m->v), buf + done, (size_t)(stop - pos), pos);
		if (n < 0) {
			if (done == 0)
				return n;
			break;
		}
		done += (size_t)n;
		if ((uint64_t)n < stop - pos)
			break;
	}
	return done ? (ssize_t)done : -EIO;
}
