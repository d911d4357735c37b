/*
 * libFuzzer target for reader/core: the layout arithmetic. The input
 * decodes into a process: threads with register sets of any size and
 * type, up to 200 mappings anywhere in the address space with arbitrary
 * dump sizes, an auxv; lays it out with the
 * x86_64 row or a 32-bit big-endian row; then checks the invariants the
 * read path relies on: packed page-aligned segments, the file size, the
 * program headers agreeing with the segment table, well-formed notes
 * covering PT_NOTE exactly, and core_locate against a linear search at
 * every segment boundary and at offsets taken from the input.
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/core.h"

#define PAGE 4096u

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

static const struct arch_core core32 = {
	.elf_data = ELFDATA2MSB, .word = 4,
	.prstatus = { .size = 144, .cursig = 12, .sigpend = 16, .sighold = 20,
		      .pid = 24, .ppid = 28, .pgrp = 32, .sid = 36, .utime = 40,
		      .stime = 48, .cutime = 56, .cstime = 64, .reg = 72, .fpvalid = 140 },
	.prpsinfo = { .size = 124, .sname = 1, .zomb = 2, .nice = 3, .flag = 4,
		      .uid = 8, .gid = 10, .id_size = 2, .pid = 12, .ppid = 16,
		      .pgrp = 20, .sid = 24, .fname = 28, .psargs = 44 },
};
static const struct arch_desc arch32 = {
	.name = "fuzz32", .elf_machine = EM_PPC, .elf_class = ELFCLASS32,
	.regs_size = 68, .core = &core32,
};

static uint64_t rd(const unsigned char *p, unsigned size, bool msb)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * (msb ? size - 1 - i : i));
	return v;
}

static void check_layout(const struct core_layout *l, const struct maps *m,
			 const uint64_t *filesz, bool is64, bool msb, struct in *in)
{
	unsigned ph = is64 ? 56 : 32, eh = is64 ? 64 : 52;
	uint64_t off = l->data_off, phoff, phnum, noff, nsz;
	size_t k = 0;

	if (l->data_off % PAGE || l->data_off < l->head_len || l->data_off - l->head_len >= PAGE)
		abort();
	if (l->nsegs != m->n || l->size >= (UINT64_C(1) << 63))
		abort();
	phoff = rd(l->head + (is64 ? 32 : 28), is64 ? 8 : 4, msb);
	phnum = rd(l->head + (is64 ? 56 : 44), 2, msb);
	if (phoff != eh || (phnum != m->n + 1 && !(phnum == PN_XNUM && m->n + 1 >= PN_XNUM)))
		abort();
	/* PT_NOTE covers the notes to the end of the head, and they parse. */
	noff = rd(l->head + eh + (is64 ? 8 : 4), is64 ? 8 : 4, msb);
	nsz = rd(l->head + eh + (is64 ? 32 : 16), is64 ? 8 : 4, msb);
	if (noff + nsz != l->head_len)
		abort();
	for (uint64_t p = noff; p < l->head_len;) {
		uint64_t namesz, descsz;

		if (l->head_len - p < 12)
			abort();
		namesz = rd(l->head + p, 4, msb);
		descsz = rd(l->head + p + 4, 4, msb);
		p += 12 + (namesz + 3) / 4 * 4 + (descsz + 3) / 4 * 4;
		if (p > l->head_len)
			abort();
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct core_seg *s = &l->segs[i];
		const unsigned char *p = l->head + eh + (i + 1) * ph;
		uint64_t size = m->v[i].end - m->v[i].start;
		uint64_t want = (filesz[i] < size ? filesz[i] : size) & ~(uint64_t)(PAGE - 1);

		if (s->offset != off || s->filesz != want || s->vaddr != m->v[i].start ||
		    s->memsz != size || s->map != i)
			abort();
		if (rd(p + (is64 ? 8 : 4), is64 ? 8 : 4, msb) != s->offset ||
		    rd(p + (is64 ? 32 : 16), is64 ? 8 : 4, msb) != s->filesz)
			abort();
		if (s->filesz) {
			if (k >= l->nfilled || l->filled[k] != i)
				abort();
			/* Both ends of the segment and the byte past it. */
			if (core_locate(l, s->offset) != k ||
			    core_locate(l, s->offset + s->filesz - 1) != k ||
			    core_locate(l, s->offset + s->filesz) != k + 1)
				abort();
			k++;
		}
		off += s->filesz;
	}
	if (k != l->nfilled || off != l->size || core_locate(l, UINT64_MAX) != l->nfilled)
		abort();
	/* Offsets from the input: the answer holds them, or none does. */
	while (in->n) {
		uint64_t o = take(in, 8) % (l->size + PAGE);
		size_t i = core_locate(l, o), lin = l->nfilled;

		for (size_t j = 0; j < l->nfilled; j++) {
			const struct core_seg *s = &l->segs[l->filled[j]];

			if (s->offset + s->filesz > o) {
				lin = j;
				break;
			}
		}
		if (i != lin)
			abort();
	}
}

static void fuzz_layout(struct in *in)
{
	static unsigned char blob[20000];
	static const char *const paths[] = {
		"", "/lib/x.so", "[vsyscall]", "/dev/zero (deleted)", "[heap]", "[vdso]",
	};
	static const unsigned types[] = { NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE, 0x4711 };
	bool narrow = take(in, 1) & 1;
	const struct arch_desc *arch = narrow ? &arch32 : &arch_x86_64;
	struct core_regset sets[8][4];
	struct core_thread threads[8];
	struct core_proc proc = { .pid = (pid_t)take(in, 4), .state = (char)take(in, 1) };
	size_t nthreads = take(in, 1) % 9, nmaps = take(in, 1) % 201;
	struct map_entry *v = calloc(nmaps ? nmaps : 1, sizeof(*v));
	uint64_t *filesz = calloc(nmaps ? nmaps : 1, sizeof(*filesz));
	uint64_t addr = 0, limit = narrow ? UINT64_C(1) << 32 : UINT64_MAX;
	struct maps m = { v, 0 };
	struct core_input ci;
	struct core_layout *l;
	int rc;

	if (!v || !filesz)
		goto out;
	memset(blob, 0xa5, sizeof(blob));
	memset(threads, 0, sizeof(threads));
	for (size_t t = 0; t < nthreads; t++) {
		threads[t].tid = (pid_t)take(in, 2);
		threads[t].sets = sets[t];
		threads[t].nsets = take(in, 1) % 5;
		threads[t].utime = take(in, 8);
		for (size_t s = 0; s < threads[t].nsets; s++)
			sets[t][s] = (struct core_regset){ types[take(in, 1) % 4], blob,
							   take(in, 2) % sizeof(blob) };
	}
	memcpy(proc.fname, "fuzzfuzzfuzzfuzz", 16);	/* unterminated, as allowed */
	memset(proc.psargs, 'a', sizeof(proc.psargs));
	for (size_t i = 0; i < nmaps; i++) {
		uint64_t gap = take(in, 4) * PAGE, len = (take(in, 2) + 1) * PAGE;
		unsigned how = (unsigned)take(in, 1);

		if (i && (unsigned)take(in, 1) == 0xff)
			gap = UINT64_C(0xfffff) << 40;	/* far up, toward the gate page */
		if (gap > limit - addr || len > limit - addr - gap)
			break;
		v[i].start = addr + gap;
		v[i].end = v[i].start + len;
		v[i].perms = how & 0xf;
		v[i].inode = how & 0x10 ? 7 : 0;
		v[i].offset = take(in, 2) * PAGE;
		v[i].path = paths[(how >> 5) % (sizeof(paths) / sizeof(paths[0]))];
		filesz[i] = (how >> 6) == 0 ? 0 : (how >> 6) == 1 ? len :
			    (how >> 6) == 2 ? PAGE : take(in, 8);
		addr = v[i].end;
		m.n++;
	}
	ci = (struct core_input){
		.arch = arch, .proc = &proc, .threads = threads, .nthreads = nthreads,
		.auxv = blob, .auxv_len = take(in, 1), .maps = &m, .filesz = filesz,
		.page_size = PAGE, .clk_tck = (long)take(in, 1),
	};
	rc = core_build(&ci, &l);
	if (rc == 0) {
		check_layout(l, &m, filesz, !narrow, narrow, in);
		core_layout_free(l);
	} else if (rc != -EFBIG || l) {
		abort();
	}
out:
	free(v);
	free(filesz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };

	/* The first byte is skipped: the seeds keep a leading 0 byte. */
	if (size == 0)
		return 0;
	in.p++;
	in.n--;
	fuzz_layout(&in);
	return 0;
}
