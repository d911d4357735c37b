/*
 * The canned source (canned_source.h): memory from a buffer, populated-ness
 * from a bitmap, the snapshot handed over as data by reader_open_source.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canned_source.h"

struct canned {
	struct source base;	/* first: reader_source() points here */
	struct canned_proc p;
	struct canned_calls calls;
};

static struct canned *canned_of(const struct reader *r)
{
	return (struct canned *)(uintptr_t)reader_source(r);
}

static bool populated(const struct canned *c, uint64_t addr)
{
	uint64_t page;

	if (c->p.own_memory)
		return true;
	if (addr < c->p.mem_base || addr - c->p.mem_base >= c->p.mem_len)
		return false;
	page = (addr - c->p.mem_base) / reader_page_size();
	return !c->p.populated || (c->p.populated[page / 8] >> (page % 8) & 1);
}

/* One byte of memory as the target would give it: holes read as zeros. */
static unsigned char byte_at(const struct canned *c, uint64_t addr)
{
	if (c->p.own_memory)
		return *(const unsigned char *)(uintptr_t)addr;
	return populated(c, addr) ? ((const unsigned char *)c->p.mem)[addr - c->p.mem_base] : 0;
}

static void count_read(struct canned *c, uint64_t addr, size_t len)
{
	if (!c->calls.reads++ || addr < c->calls.read_lo)
		c->calls.read_lo = addr;
	if (addr + len > c->calls.read_hi)
		c->calls.read_hi = addr + len;
}

static int canned_read(struct reader *r, size_t idx, void *buf, size_t len, uint64_t addr)
{
	struct canned *c = canned_of(r);

	(void)idx;
	count_read(c, addr, len);
	for (size_t i = 0; i < len; i++)
		((unsigned char *)buf)[i] = byte_at(c, addr + i);
	return 0;
}

static uint64_t canned_scan(struct reader *r, size_t idx, uint64_t from, uint64_t to, bool want)
{
	struct canned *c = canned_of(r);
	uint64_t page = reader_page_size();

	(void)idx;
	c->calls.scans++;
	for (uint64_t a = from; a < to; a = (a / page + 1) * page)
		if (populated(c, a) == want)
			return a;
	return to;
}

/* Outside `mem` (the gate page): the same buffer, a short count at a hole. */
static ssize_t canned_read_raw(struct reader *r, void *buf, size_t len, uint64_t addr)
{
	struct canned *c = canned_of(r);
	size_t n = 0;

	c->calls.read_raws++;
	while (n < len && populated(c, addr + n)) {
		((unsigned char *)buf)[n] = byte_at(c, addr + n);
		n++;
	}
	return n ? (ssize_t)n : -EIO;
}

static int canned_sigmasks(struct reader *r, pid_t tid, uint64_t *pend, uint64_t *blk)
{
	struct canned *c = canned_of(r);

	(void)tid;
	*pend = c->p.sigpend;
	*blk = c->p.sighold;
	return 0;
}

/* Control answers yes and does nothing: fs shows ctl as for a process. */
static int canned_set_live(struct reader *r, bool live)
{
	(void)live;
	canned_of(r)->calls.set_lives++;
	return 0;
}

static int canned_nothing(struct reader *r)
{
	(void)r;
	return 0;
}

static void canned_release(struct reader *r)
{
	(void)r;
}

static void canned_close(struct reader *r)
{
	free(canned_of(r));
}

static const struct source_ops canned_ops = {
	.kind = "canned",
	.close = canned_close,
	.read = canned_read,
	.scan = canned_scan,
	.read_raw = canned_read_raw,
	/* Its pid is no process: state files find nothing under /proc. */
	.proc_state = true,
	.sigmasks = canned_sigmasks,
	.set_live = canned_set_live,
	.refresh = canned_nothing,
	.refresh_if_changed = canned_nothing,
	.hold = canned_nothing,
	.release = canned_release,
	.detach = canned_nothing,
};

int canned_open(const struct canned_proc *p, struct reader **out)
{
	/* As a mount without -o coredump_filter: the process's own filter. */
	const struct reader_opts opts = { .coredump_filter = -1 };
	struct canned *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->base.ops = &canned_ops;
	c->p = *p;
	rc = reader_open_source(&c->base, &p->snap, &opts, out);
	if (rc)
		free(c);
	return rc;
}

const struct canned_calls *canned_calls(const struct reader *r)
{
	return &canned_of(r)->calls;
}

/* ---- the fs tests' process ---- */

const char fake_maps_text[] =
	"00400000-00401000 r-xp 00000000 08:01 42         /bin/fake\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]\n";
static const pid_t fake_tids[] = { 4242, 4243, 4250 };
static const char fake_cmdline[] = "fake\0--flag\0";

#define FAKE_NREGS 27	/* x86_64 user_regs_struct */
#define FAKE_MAX_SETS 4

struct reader *fake_open(const struct fake_extra *extra, size_t nextra)
{
	static uint64_t regs[3][FAKE_NREGS];
	struct source_regset sets[3][FAKE_MAX_SETS];
	struct source_thread threads[3];
	struct canned_proc p = { .snap = {
		.pid = 4242, .comm = "fake", .exe = "/bin/fake", .arch = &arch_x86_64,
		.maps_text = fake_maps_text, .maps_len = sizeof(fake_maps_text) - 1,
		.threads = threads, .nthreads = 3,
	} };
	struct reader *r = NULL;

	p.snap.files[RB_CMDLINE].data = fake_cmdline;
	p.snap.files[RB_CMDLINE].len = sizeof(fake_cmdline) - 1;
	for (size_t i = 0; i < 3; i++) {
		struct source_thread *t = &threads[i];

		for (size_t k = 0; k < FAKE_NREGS; k++)
			regs[i][k] = 0x1000 + k + (uint64_t)fake_tids[i] * 0x100000;
		*t = (struct source_thread){ .info = { .tid = fake_tids[i], .state = 'S',
						       .syscall = 7 /* poll */ },
					     .sets = sets[i], .nsets = 1 };
		strcpy(t->info.name, "fake");
		sets[i][0] = (struct source_regset){ NT_PRSTATUS, regs[i], sizeof(regs[i]) };
		for (size_t e = 0; e < nextra; e++)
			if (extra[e].tid == fake_tids[i] && t->nsets < FAKE_MAX_SETS)
				sets[i][t->nsets++] = extra[e].set;
	}
	if (canned_open(&p, &r))
		return NULL;
	return r;
}
