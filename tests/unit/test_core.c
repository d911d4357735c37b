/*
 * reader/core: the layout of `core` without a target. A hand-made process
 * (three threads, eight mappings) is laid out, then read back with libelf,
 * an independent reader: headers, program headers, the notes in the
 * kernel's order and their fields at the kernel's offsets, packed
 * page-aligned segment data, the offset-to-segment mapping, extended
 * program-header numbering, a 32-bit row, and the kernel's dump rules.
 */
#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reader/bytes.h"
#include "reader/core.h"

/* Little-endian fields of the cores built here. */
#define get64(p) get_n((p), 8, false)
#define get32(p) ((uint32_t)get_n((p), 4, false))

#define PAGE 4096u

static const char maps_text[] =
	"00400000-00402000 r--p 00000000 08:01 42         /bin/prog\n"
	"00402000-00403000 r-xp 00002000 08:01 42         /bin/prog\n"
	"00403000-00404000 rw-p 00003000 08:01 42         /bin/prog\n"
	"01000000-01021000 rw-p 00000000 00:00 0          [heap]\n"
	"7f0000000000-7f0004000000 rw-p 00000000 00:00 0 \n"
	"7f0004000000-7f0004001000 rw-s 00000000 00:01 7  /dev/zero (deleted)\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n";
/* Bytes per mapping: ELF header page, none, whole, whole, none (never
 * written), whole, whole, whole. */
static const uint64_t filesz[] = {
	PAGE, 0, PAGE, 0x21000, 0, PAGE, 0x21000, PAGE,
};
#define NMAPS 8

static const unsigned char auxv[32] = { 33, 0, 0, 0, 0, 0, 0, 0, 0x11 };

struct fixture {
	struct maps maps;
	unsigned char regs[3][216], fp[2][512], xs[1001];
	struct core_regset sets[3][3];
	struct core_thread threads[3];
	struct core_proc proc;
	struct core_input in;
	struct core_layout *l;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static const pid_t tids[3] = { 100, 105, 107 };

	if (!f || maps_parse(maps_text, strlen(maps_text), &f->maps) || f->maps.n != NMAPS)
		return -1;
	for (int t = 0; t < 3; t++) {
		for (size_t i = 0; i < sizeof(f->regs[t]); i++)
			f->regs[t][i] = (unsigned char)(i + 7 * t);
		f->threads[t].tid = tids[t];
		f->threads[t].sets = f->sets[t];
		f->sets[t][0] = (struct core_regset){ NT_PRSTATUS, f->regs[t], 216 };
		f->threads[t].nsets = 1;
		f->threads[t].utime = 250u + (unsigned)t;	/* 2.5 s at 100 Hz */
		f->threads[t].stime = 7;
		f->threads[t].sigpend = 0x100;
		f->threads[t].sighold = 0x4000u + (unsigned)t;
	}
	memset(f->fp, 0xf0, sizeof(f->fp));
	memset(f->xs, 0x5a, sizeof(f->xs));
	/* The leader has fxsave and xstate, the second only fxsave, the third none. */
	f->sets[0][1] = (struct core_regset){ NT_PRFPREG, f->fp[0], 512 };
	f->sets[0][2] = (struct core_regset){ NT_X86_XSTATE, f->xs, sizeof(f->xs) };
	f->threads[0].nsets = 3;
	f->sets[1][1] = (struct core_regset){ NT_PRFPREG, f->fp[1], 512 };
	f->threads[1].nsets = 2;

	f->proc = (struct core_proc){
		.pid = 100, .ppid = 99, .pgrp = 98, .sid = 97, .state = 'S', .nice = -5,
		.flags = 0x400000, .uid = 1000, .gid = 1001,
		.utime = 1234, .stime = 56, .cutime = 3, .cstime = 4,
		.fname = "prog", .psargs = "/bin/prog -x",
	};
	f->in = (struct core_input){
		.arch = &arch_x86_64, .proc = &f->proc, .threads = f->threads, .nthreads = 3,
		.auxv = auxv, .auxv_len = sizeof(auxv), .maps = &f->maps, .filesz = filesz,
		.page_size = PAGE, .clk_tck = 100,
	};
	if (core_build(&f->in, &f->l))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	core_layout_free(f->l);
	maps_free(&f->maps);
	free(f);
	return 0;
}

static Elf *open_head(const struct core_layout *l)
{
	Elf *e;

	elf_version(EV_CURRENT);
	e = elf_memory((char *)l->head, l->head_len);
	assert_non_null(e);
	assert_int_equal(elf_kind(e), ELF_K_ELF);
	return e;
}

static void test_core_header_is_a_core_for_the_arch(void **state)
{
	struct fixture *f = *state;
	Elf *e = open_head(f->l);
	GElf_Ehdr eh;
	size_t phnum;

	assert_non_null(gelf_getehdr(e, &eh));
	assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
	assert_int_equal(eh.e_ident[EI_DATA], ELFDATA2LSB);
	assert_int_equal(eh.e_type, ET_CORE);
	assert_int_equal(eh.e_machine, EM_X86_64);
	assert_int_equal(eh.e_version, EV_CURRENT);
	assert_int_equal(eh.e_phoff, 64);
	assert_int_equal(eh.e_shoff, 0);
	assert_int_equal(eh.e_shnum, 0);
	assert_int_equal(elf_getphdrnum(e, &phnum), 0);
	assert_int_equal(phnum, NMAPS + 1);
	elf_end(e);
}

/* One PT_LOAD per mapping, data page-aligned after the notes and packed. */
static void test_core_loads_follow_maps_and_pack(void **state)
{
	struct fixture *f = *state;
	const struct core_layout *l = f->l;
	Elf *e = open_head(l);
	GElf_Phdr ph;
	uint64_t off;

	assert_non_null(gelf_getphdr(e, 0, &ph));
	assert_int_equal(ph.p_type, PT_NOTE);
	assert_int_equal(ph.p_offset, 64 + 9 * 56);
	assert_int_equal(ph.p_offset + ph.p_filesz, l->head_len);
	assert_int_equal(ph.p_align, 4);
	assert_int_equal(l->data_off % PAGE, 0);
	assert_true(l->data_off >= l->head_len && l->data_off - l->head_len < PAGE);
	off = l->data_off;
	for (size_t i = 0; i < NMAPS; i++) {
		const struct map_entry *m = &f->maps.v[i];

		assert_non_null(gelf_getphdr(e, (int)i + 1, &ph));
		assert_int_equal(ph.p_type, PT_LOAD);
		assert_int_equal(ph.p_vaddr, m->start);
		assert_int_equal(ph.p_memsz, m->end - m->start);
		assert_int_equal(ph.p_filesz, filesz[i]);
		assert_int_equal(ph.p_offset, off);
		assert_int_equal(ph.p_paddr, 0);
		assert_int_equal(ph.p_align, PAGE);
		assert_int_equal(ph.p_flags, (m->perms & PERM_R ? PF_R : 0) |
					     (m->perms & PERM_W ? PF_W : 0) |
					     (m->perms & PERM_X ? PF_X : 0));
		assert_int_equal(l->segs[i].offset, off);
		off += ph.p_filesz;
	}
	assert_int_equal(l->size, off);
	assert_int_equal(l->nfilled, 6);
	elf_end(e);
}

struct note {
	GElf_Nhdr h;
	const char *name;
	const unsigned char *desc;
};

static size_t read_notes(const struct core_layout *l, struct note *out, size_t cap)
{
	Elf *e = open_head(l);
	GElf_Phdr ph;
	Elf_Data *d;
	size_t off = 0, name_off, desc_off, n = 0, next;
	GElf_Nhdr h;

	assert_non_null(gelf_getphdr(e, 0, &ph));
	d = elf_getdata_rawchunk(e, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
	assert_non_null(d);
	while ((next = gelf_getnote(d, off, &h, &name_off, &desc_off)) > 0 && n < cap) {
		out[n].h = h;
		/* Point into the layout's head, which outlives the Elf. */
		out[n].name = (const char *)l->head + ph.p_offset + name_off;
		out[n].desc = l->head + ph.p_offset + desc_off;
		n++;
		off = next;
	}
	assert_int_equal(off, ph.p_filesz);	/* every byte is a well-formed note */
	elf_end(e);
	return n;
}

static void test_core_notes_in_kernel_order(void **state)
{
	struct fixture *f = *state;
	struct note n[16];
	static const struct { const char *name; unsigned type; size_t size; } want[] = {
		{ "CORE", NT_PRSTATUS, 336 },
		{ "CORE", NT_PRPSINFO, 136 },
		{ "CORE", NT_AUXV, sizeof(auxv) },
		{ "CORE", NT_FILE, 0 },
		{ "CORE", NT_PRFPREG, 512 },
		{ "LINUX", NT_X86_XSTATE, 1001 },
		{ "CORE", NT_PRSTATUS, 336 },
		{ "CORE", NT_PRFPREG, 512 },
		{ "CORE", NT_PRSTATUS, 336 },
	};
	size_t count = read_notes(f->l, n, 16);

	assert_int_equal(count, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < count; i++) {
		assert_string_equal(n[i].name, want[i].name);
		assert_int_equal(n[i].h.n_type, want[i].type);
		if (want[i].size)
			assert_int_equal(n[i].h.n_descsz, want[i].size);
	}
	assert_memory_equal(n[4].desc, f->fp[0], 512);
	assert_memory_equal(n[5].desc, f->xs, sizeof(f->xs));
	assert_memory_equal(n[2].desc, auxv, sizeof(auxv));
}

/* NT_PRSTATUS at the kernel's offsets: pids, masks, times, pr_reg, fpvalid. */
static void test_core_prstatus_fields(void **state)
{
	struct fixture *f = *state;
	struct note n[16];
	const size_t at[3] = { 0, 6, 8 };
	const uint32_t fpvalid[3] = { 1, 1, 0 };

	read_notes(f->l, n, 16);
	for (int t = 0; t < 3; t++) {
		const unsigned char *d = n[at[t]].desc;

		assert_int_equal(get32(d), 0);		/* si_signo */
		assert_int_equal(d[12] | d[13] << 8, 0);	/* pr_cursig */
		assert_int_equal(get64(d + 16), 0x100);
		assert_int_equal(get64(d + 24), 0x4000u + (unsigned)t);
		assert_int_equal(get32(d + 32), f->threads[t].tid);
		assert_int_equal(get32(d + 36), 99);
		assert_int_equal(get32(d + 40), 98);
		assert_int_equal(get32(d + 44), 97);
		if (t == 0) {
			/* The leader: the whole process's 12.34 s user, 0.56 s system. */
			assert_int_equal(get64(d + 48), 12);
			assert_int_equal(get64(d + 56), 340000);
			assert_int_equal(get64(d + 64), 0);
			assert_int_equal(get64(d + 72), 560000);
		} else {
			assert_int_equal(get64(d + 48), 2);
			assert_int_equal(get64(d + 56), (50u + (unsigned)t) * 10000);
			assert_int_equal(get64(d + 72), 70000);
		}
		assert_int_equal(get64(d + 80), 0);
		assert_int_equal(get64(d + 88), 30000);	/* cutime 0.03 s */
		assert_int_equal(get64(d + 104), 40000);
		assert_memory_equal(d + 112, f->regs[t], 216);
		assert_int_equal(get32(d + 328), fpvalid[t]);
		assert_int_equal(get32(d + 332), 0);
	}
}

static void test_core_prpsinfo_fields(void **state)
{
	struct fixture *f = *state;
	struct note n[16];
	const unsigned char *d;
	char psargs[80];

	read_notes(f->l, n, 16);
	d = n[1].desc;
	assert_int_equal(d[0], 1);		/* pr_state: index of 'S' in "RSDTZW" */
	assert_int_equal(d[1], 'S');
	assert_int_equal(d[2], 0);
	assert_int_equal((signed char)d[3], -5);
	assert_int_equal(get64(d + 8), 0x400000);
	assert_int_equal(get32(d + 16), 1000);
	assert_int_equal(get32(d + 20), 1001);
	assert_int_equal(get32(d + 24), 100);
	assert_int_equal(get32(d + 28), 99);
	assert_int_equal(get32(d + 32), 98);
	assert_int_equal(get32(d + 36), 97);
	assert_memory_equal(d + 40, "prog\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	memcpy(psargs, d + 56, 80);
	assert_string_equal(psargs, "/bin/prog -x");
}

/* NT_FILE: the file-backed mappings with offsets in pages, then names. */
static void test_core_file_note_lists_file_mappings(void **state)
{
	struct fixture *f = *state;
	struct note n[16];
	const unsigned char *d;
	const char *name;
	static const uint64_t want[4][3] = {
		{ 0x400000, 0x402000, 0 }, { 0x402000, 0x403000, 2 },
		{ 0x403000, 0x404000, 3 }, { 0x7f0004000000, 0x7f0004001000, 0 },
	};

	read_notes(f->l, n, 16);
	d = n[3].desc;
	assert_int_equal(get64(d), 4);
	assert_int_equal(get64(d + 8), PAGE);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 3; k++)
			assert_int_equal(get64(d + 16 + 24 * i + 8 * k), want[i][k]);
	name = (const char *)d + 16 + 24 * 4;
	for (int i = 0; i < 3; i++) {
		assert_string_equal(name, "/bin/prog");
		name += strlen(name) + 1;
	}
	assert_string_equal(name, "/dev/zero (deleted)");
	name += strlen(name) + 1;
	assert_int_equal((const unsigned char *)name - d, n[3].h.n_descsz);
}

/* Every offset maps to the segment that holds it; none to a gap. */
static void test_core_locate_matches_linear_search(void **state)
{
	struct fixture *f = *state;
	const struct core_layout *l = f->l;

	assert_int_equal(core_locate(l, 0), 0);
	assert_int_equal(core_locate(l, l->data_off), 0);
	assert_int_equal(core_locate(l, l->size), l->nfilled);
	assert_int_equal(core_locate(l, UINT64_MAX), l->nfilled);
	for (size_t k = 0; k < l->nfilled; k++) {
		const struct core_seg *s = &l->segs[l->filled[k]];
		uint64_t probes[] = { s->offset, s->offset + 1, s->offset + s->filesz - 1 };

		assert_true(s->filesz > 0);
		for (size_t p = 0; p < 3; p++)
			assert_int_equal(core_locate(l, probes[p]), k);
		assert_int_equal(core_locate(l, s->offset + s->filesz), k + 1);
	}
	/* The gate page is last, its offset small like any other. */
	assert_int_equal(l->segs[l->filled[l->nfilled - 1]].vaddr, 0xffffffffff600000);
	assert_true(l->size < (1ull << 32));
}

/* More than 65534 program headers: PN_XNUM and section header 0. */
/*
 * The PTRACEFS notes: a PT_NOTE of their own, the last program header,
 * their bytes right after the standard notes; everything before them is
 * the layout without them, and corenote_parse reads them back.
 */
static void test_core_ptracefs_notes_last_and_apart(void **state)
{
	struct fixture *f = *state;
	static const char stat[] = "100 (prog) S 99\n", sys[] = "-1 0x1 0x2\n";
	struct corenote_thread t = { 100, { stat, sizeof(stat) - 1 }, { sys, sizeof(sys) - 1 } };
	struct corenote_set x = {
		.pid = 100, .producer = { "ptracefs test", 13 },
		.maps = { maps_text, sizeof(maps_text) - 1 }, .threads = &t, .nthreads = 1,
	}, got;
	struct core_input in = f->in;
	struct core_layout *l;
	GElf_Phdr ph, old;
	size_t phnum;
	Elf *e, *e0;

	in.extra = &x;
	assert_int_equal(core_build(&in, &l), 0);
	e = open_head(l);
	e0 = open_head(f->l);
	assert_int_equal(elf_getphdrnum(e, &phnum), 0);
	assert_int_equal(phnum, NMAPS + 2);
	/* the standard PT_NOTE, where it was, as long as it was */
	assert_non_null(gelf_getphdr(e, 0, &ph));
	assert_non_null(gelf_getphdr(e0, 0, &old));
	assert_int_equal(ph.p_type, PT_NOTE);
	assert_int_equal(ph.p_offset, old.p_offset + 56);
	assert_int_equal(ph.p_filesz, old.p_filesz);
	assert_memory_equal(l->head + ph.p_offset, f->l->head + old.p_offset, ph.p_filesz);
	/* the loads: the same but for where the data starts */
	for (size_t i = 1; i <= NMAPS; i++) {
		GElf_Phdr a, b;

		assert_non_null(gelf_getphdr(e, i, &a));
		assert_non_null(gelf_getphdr(e0, i, &b));
		assert_int_equal(a.p_type, PT_LOAD);
		assert_int_equal(a.p_vaddr, b.p_vaddr);
		assert_int_equal(a.p_filesz, b.p_filesz);
		assert_int_equal(a.p_offset - l->data_off, b.p_offset - f->l->data_off);
	}
	/* ours: last, right after the standard notes, to the end of the head */
	assert_non_null(gelf_getphdr(e, NMAPS + 1, &old));
	assert_int_equal(old.p_type, PT_NOTE);
	assert_int_equal(old.p_offset, ph.p_offset + ph.p_filesz);
	assert_int_equal(old.p_offset + old.p_filesz, l->head_len);
	assert_int_equal(corenote_parse(l->head + old.p_offset, old.p_filesz, false, &got), 0);
	assert_int_equal(got.pid, 100);
	assert_int_equal(got.maps.len, sizeof(maps_text) - 1);
	assert_memory_equal(got.maps.p, maps_text, got.maps.len);
	assert_null(got.status.p);
	assert_int_equal(got.nthreads, 1);
	assert_memory_equal(got.threads[0].syscall.p, sys, sizeof(sys) - 1);
	corenote_free(&got);
	/* and none among the standard notes */
	assert_int_equal(corenote_parse(l->head + ph.p_offset, ph.p_filesz, false, &got), -ENOENT);
	elf_end(e);
	elf_end(e0);
	core_layout_free(l);
}

static void test_core_extended_numbering(void **state)
{
	size_t n = 70000, phnum;
	struct map_entry *v = calloc(n, sizeof(*v));
	struct maps m = { v, n };
	struct core_proc pr = { .pid = 1, .state = 'R' };
	struct core_input in = {
		.arch = &arch_x86_64, .proc = &pr, .maps = &m, .page_size = PAGE, .clk_tck = 100,
	};
	struct core_layout *l;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	Elf *e;

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		v[i].start = 0x10000000 + i * 2 * PAGE;
		v[i].end = v[i].start + PAGE;
		v[i].perms = PERM_R;
		v[i].path = "";
	}
	assert_int_equal(core_build(&in, &l), 0);
	e = open_head(l);
	assert_non_null(gelf_getehdr(e, &eh));
	assert_int_equal(eh.e_phnum, PN_XNUM);
	assert_int_equal(eh.e_shnum, 1);
	assert_int_equal(eh.e_shoff, 64 + (n + 1) * 56);
	assert_int_equal(elf_getphdrnum(e, &phnum), 0);
	assert_int_equal(phnum, n + 1);
	assert_non_null(gelf_getshdr(elf_getscn(e, 0), &sh));
	assert_int_equal(sh.sh_info, n + 1);
	/* With no thread at all, PRPSINFO still says whose core it is. */
	{
		struct note notes[4];

		assert_int_equal(read_notes(l, notes, 4), 2);
		assert_int_equal(notes[0].h.n_type, NT_PRPSINFO);
		assert_int_equal(notes[1].h.n_type, NT_FILE);
	}
	elf_end(e);
	core_layout_free(l);
	free(v);
}

/*
 * A 32-bit big-endian row (i386's note offsets, 16-bit ids, made-up
 * machine): other architectures are data, and the encoder follows them.
 */
static void test_core_other_arch_row(void **state)
{
	static const struct arch_core core32 = {
		.elf_data = ELFDATA2MSB, .word = 4,
		.prstatus = { .size = 144, .signo = 0, .cursig = 12, .sigpend = 16,
			      .sighold = 20, .pid = 24, .ppid = 28, .pgrp = 32, .sid = 36,
			      .utime = 40, .stime = 48, .cutime = 56, .cstime = 64,
			      .reg = 72, .fpvalid = 140 },
		.prpsinfo = { .size = 124, .state = 0, .sname = 1, .zomb = 2, .nice = 3,
			      .flag = 4, .uid = 8, .gid = 10, .id_size = 2, .pid = 12,
			      .ppid = 16, .pgrp = 20, .sid = 24, .fname = 28, .psargs = 44 },
	};
	static const struct arch_desc a32 = {
		.name = "test32", .elf_machine = EM_386, .elf_class = ELFCLASS32,
		.regs_size = 68, .core = &core32,
	};
	static const char text[] = "08048000-08049000 r-xp 00000000 08:01 5 /bin/t\n";
	unsigned char regs[68] = { 1, 2, 3 };
	struct core_regset set = { NT_PRSTATUS, regs, sizeof(regs) };
	struct core_thread t = { .tid = 9, .sets = &set, .nsets = 1 };
	struct core_proc pr = { .pid = 9, .ppid = 0x0102, .uid = 0x0304, .state = 'R' };
	uint64_t fs[1] = { PAGE };
	struct maps m;
	struct core_input in = {
		.arch = &a32, .proc = &pr, .threads = &t, .nthreads = 1, .maps = &m,
		.filesz = fs, .page_size = PAGE, .clk_tck = 100,
	};
	struct core_layout *l;
	struct note n[4];
	GElf_Phdr ph;
	Elf *e;

	(void)state;
	assert_int_equal(maps_parse(text, strlen(text), &m), 0);
	assert_int_equal(core_build(&in, &l), 0);
	e = open_head(l);
	assert_int_equal(gelf_getclass(e), ELFCLASS32);
	assert_non_null(gelf_getphdr(e, 1, &ph));
	assert_int_equal(ph.p_vaddr, 0x08048000);
	assert_int_equal(ph.p_offset, l->data_off);
	assert_int_equal(ph.p_flags, PF_R | PF_X);
	elf_end(e);
	assert_int_equal(read_notes(l, n, 4), 3);	/* PRSTATUS, PRPSINFO, FILE */
	assert_int_equal(n[0].h.n_descsz, 144);
	assert_memory_equal(n[0].desc + 24, "\0\0\0\x09", 4);	/* big-endian pid */
	assert_memory_equal(n[0].desc + 72, regs, 68);
	assert_int_equal(n[1].h.n_descsz, 124);
	assert_memory_equal(n[1].desc + 8, "\x03\x04", 2);	/* 16-bit uid */
	assert_memory_equal(n[1].desc + 16, "\0\0\x01\x02", 4);	/* ppid */
	assert_int_equal(n[2].h.n_descsz, 4 * (2 + 3) + sizeof("/bin/t"));
	core_layout_free(l);
	maps_free(&m);
}

static void test_core_build_refuses_what_cannot_be_a_file(void **state)
{
	/* 2^47 bytes fit; 2^63 do not (FUSE offsets are signed). */
	static const char fits[] = "7f0000000000-ff0000000000 rw-p 00000000 00:00 0\n";
	static const char huge[] = "0000000000001000-8000000000002000 rw-p 00000000 00:00 0\n";
	struct core_proc pr = { .pid = 1 };
	uint64_t fs[1] = { UINT64_MAX };	/* capped to the mapping's size */
	struct maps m;
	struct core_input in = { .proc = &pr, .maps = &m, .filesz = fs, .page_size = PAGE };
	struct core_layout *l;
	const struct arch_desc nocore = { .name = "none", .elf_class = ELFCLASS64 };

	(void)state;
	assert_int_equal(maps_parse(fits, strlen(fits), &m), 0);
	in.arch = &nocore;
	assert_int_equal(core_build(&in, &l), -EINVAL);
	assert_null(l);
	in.arch = &arch_x86_64;
	in.page_size = 3000;
	assert_int_equal(core_build(&in, &l), -EINVAL);
	in.page_size = PAGE;
	assert_int_equal(core_build(&in, &l), 0);
	assert_int_equal(l->size, l->data_off + 0x800000000000);
	core_layout_free(l);
	maps_free(&m);
	assert_int_equal(maps_parse(huge, strlen(huge), &m), 0);
	assert_int_equal(core_build(&in, &l), -EFBIG);
	assert_null(l);
	maps_free(&m);
}

static struct map_entry map(uint64_t start, uint64_t end, unsigned perms,
			    uint64_t off, uint64_t inode, const char *path)
{
	return (struct map_entry){ .start = start, .end = end, .perms = perms,
				   .offset = off, .inode = inode, .path = path };
}

static struct smaps_entry sm(uint64_t anon_kb, unsigned vmflags)
{
	return (struct smaps_entry){ .anon_kb = anon_kb, .vmflags = vmflags,
				     .has_vmflags = true };
}

/* The kernel's vma_dump_size, case by case. */
static void test_core_dump_rule_follows_kernel(void **state)
{
	const unsigned R = PERM_R, W = PERM_W, X = PERM_X, S = PERM_SHARED;
	const unsigned def = CORE_FILTER_DEFAULT, all = 0x1ff;
	struct map_entry anon = map(0x1000, 0x9000, R | W, 0, 0, "");
	struct map_entry heap = map(0x1000, 0x9000, R | W, 0, 0, "[heap]");
	struct map_entry text = map(0x1000, 0x9000, R | X, 0x2000, 7, "/lib/x.so");
	struct map_entry head = map(0x1000, 0x9000, R, 0, 7, "/lib/x.so");
	struct map_entry relro = map(0x1000, 0x9000, R, 0x5000, 7, "/lib/x.so");
	struct map_entry shanon = map(0x1000, 0x9000, R | W | S, 0, 9, "/dev/zero (deleted)");
	struct map_entry memfd = map(0x1000, 0x9000, R | W | S, 0, 9, "/memfd:j (deleted)");
	struct map_entry shfile = map(0x1000, 0x9000, R | W | S, 0, 9, "/srv/db");
	struct map_entry rofile = map(0x1000, 0x9000, R | S, 0, 9, "/srv/db");
	struct map_entry none = map(0x1000, 0x9000, 0, 0, 0, "");
	struct map_entry vdso = map(0x1000, 0x3000, R | X, 0, 0, "[vdso]");
	struct map_entry vvar = map(0x1000, 0x3000, R, 0, 0, "[vvar]");
	struct map_entry gate = map(0xffffffffff600000, 0xffffffffff601000, X, 0, 0,
				    "[vsyscall]");
	struct smaps_entry clean = sm(0, 0), dirty = sm(8, 0), sh = sm(0, VMF_SH);
	struct smaps_entry swapped = clean;

	(void)state;
	swapped.swap_kb = 4;
	/* anonymous private: whole once written, under bit 0 */
	assert_int_equal(core_dump_rule(&anon, &dirty, def), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&anon, &swapped, def), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&anon, &clean, all), CORE_DUMP_NONE);
	assert_int_equal(core_dump_rule(&heap, &dirty, def & ~CDF_ANON_PRIVATE), CORE_DUMP_NONE);
	/* file private: written pages count as anonymous; else bit 2; else the header */
	assert_int_equal(core_dump_rule(&relro, &dirty, def), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&relro, &clean, def), CORE_DUMP_NONE);
	assert_int_equal(core_dump_rule(&text, &clean, def), CORE_DUMP_NONE);
	assert_int_equal(core_dump_rule(&text, &clean, def | CDF_MAPPED_PRIVATE), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&head, &clean, def), CORE_DUMP_ELF_HEADER);
	assert_int_equal(core_dump_rule(&head, &clean, def & ~CDF_ELF_HEADERS), CORE_DUMP_NONE);
	/* shared: anonymous (unlinked) under bit 1, files under bit 3 */
	assert_int_equal(core_dump_rule(&shanon, &sh, def), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&memfd, &sh, def), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&shanon, &sh, def & ~CDF_ANON_SHARED), CORE_DUMP_NONE);
	assert_int_equal(core_dump_rule(&shfile, &sh, def), CORE_DUMP_NONE);
	assert_int_equal(core_dump_rule(&shfile, &sh, def | CDF_MAPPED_SHARED), CORE_DUMP_WHOLE);
	/* read-only MAP_SHARED is not VM_SHARED: private rules, the header page */
	assert_int_equal(core_dump_rule(&rofile, &clean, def), CORE_DUMP_ELF_HEADER);
	/* hugetlb: bits 5 and 6 */
	{
		struct smaps_entry ht = sm(0, VMF_HT), htsh = sm(0, VMF_HT | VMF_SH);

		assert_int_equal(core_dump_rule(&anon, &ht, def), CORE_DUMP_WHOLE);
		assert_int_equal(core_dump_rule(&anon, &ht, def & ~CDF_HUGETLB_PRIVATE),
				 CORE_DUMP_NONE);
		assert_int_equal(core_dump_rule(&shanon, &htsh, def), CORE_DUMP_NONE);
		assert_int_equal(core_dump_rule(&shanon, &htsh, def | CDF_HUGETLB_SHARED),
				 CORE_DUMP_WHOLE);
	}
	/* never: dd, io, pf, uffd; nor unreadable memory */
	{
		const unsigned never[] = { VMF_DD, VMF_IO, VMF_PF, VMF_UM, VMF_UW };

		for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
			struct smaps_entry s = sm(8, never[i]);

			assert_int_equal(core_dump_rule(&anon, &s, all), CORE_DUMP_NONE);
		}
	}
	assert_int_equal(core_dump_rule(&none, &dirty, all), CORE_DUMP_NONE);
	/* always: the vDSO and the gate page, whatever the filter */
	assert_int_equal(core_dump_rule(&vdso, &clean, 0), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&gate, NULL, 0), CORE_DUMP_WHOLE);
	/*
	 * The vDSO's data pages too (always_dump_vma: every mapping named by
	 * its vm_ops), in spite of the dd, io and pf the kernel flags them
	 * with; core_read.c gives them zeros, as the kernel's dump does.
	 */
	{
		struct smaps_entry vf = sm(0, VMF_IO | VMF_PF | VMF_DD);

		assert_int_equal(core_dump_rule(&vvar, &vf, all), CORE_DUMP_WHOLE);
		assert_int_equal(core_dump_rule(&vvar, NULL, 0), CORE_DUMP_WHOLE);
	}
	assert_true(core_special_mapping("[vvar_vclock]") && core_special_mapping("[sigpage]") &&
		    core_special_mapping("[vectors]") && core_special_mapping("[uprobes]"));
	assert_false(core_special_mapping("[heap]") || core_special_mapping("[stack]") ||
		     core_special_mapping("[anon:x]"));
	/* without smaps: names and perms stand in */
	assert_int_equal(core_dump_rule(&anon, NULL, def), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&head, NULL, def), CORE_DUMP_ELF_HEADER);
	assert_int_equal(core_dump_rule(&relro, NULL, def), CORE_DUMP_NONE);
	assert_int_equal(core_dump_rule(&shanon, NULL, def), CORE_DUMP_WHOLE);
	assert_int_equal(core_dump_rule(&shfile, NULL, def), CORE_DUMP_NONE);
}

int main(void)
{
	const struct CMUnitTest fixture_tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_core_header_is_a_core_for_the_arch),
		T(test_core_loads_follow_maps_and_pack),
		T(test_core_notes_in_kernel_order),
		T(test_core_prstatus_fields),
		T(test_core_prpsinfo_fields),
		T(test_core_file_note_lists_file_mappings),
		T(test_core_locate_matches_linear_search),
		T(test_core_ptracefs_notes_last_and_apart),
#undef T
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_extended_numbering),
		cmocka_unit_test(test_core_other_arch_row),
		cmocka_unit_test(test_core_build_refuses_what_cannot_be_a_file),
		cmocka_unit_test(test_core_dump_rule_follows_kernel),
	};
	int failed = cmocka_run_group_tests_name("core_layout", fixture_tests, NULL, NULL);

	return failed | cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
