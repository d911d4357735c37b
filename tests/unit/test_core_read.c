/*
 * reader/core_read.c: `core` of a reader, gathered from a canned process
 * (canned_source.h) and served by reader_core_read / reader_core_seek,
 * then read back with libelf: a PT_LOAD per mapping in address order with
 * the dump rules' sizes, the leader's NT_PRSTATUS first with the source's
 * signal masks, segment bytes equal to the canned memory, and SEEK_DATA /
 * SEEK_HOLE that skip the pages the source says were never populated.
 */
#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "canned_source.h"
#include "reader/core.h"

/* Above the kernel's PID_MAX_LIMIT: no process's /proc answers for it. */
#define PID 5000000
#define PAGE 0x1000u

static const char maps_text[] =
	"00010000-00012000 r-xp 00000000 08:01 42         /bin/canned\n"
	"00020000-00024000 rw-p 00000000 00:00 0 \n"
	"00030000-00031000 rw-s 00000000 08:01 43         /dev/shm/canned\n";
/* The memory from 0x10000 to 0x31000: pages 0-1 (the text), 0x10 and
 * 0x12 (half the anonymous mapping), 0x20 (the shared one). */
#define MEM_BASE 0x10000u
#define MEM_LEN 0x21000u
static const uint8_t populated[] = { 0x03, 0x00, 0x05, 0x00, 0x01 };
static const char cmdline[] = "canned\0-x\0";

static unsigned char mem[MEM_LEN];
static uint64_t regs[2][27];

struct fixture {
	struct reader *r;
	unsigned char *core;	/* the whole file, read through reader_core_read */
	uint64_t size;
	Elf *elf;
};

static bool is_populated(uint64_t addr)
{
	uint64_t page = (addr - MEM_BASE) / PAGE;

	return addr >= MEM_BASE && addr < MEM_BASE + MEM_LEN &&
	       (populated[page / 8] >> (page % 8) & 1);
}

/* What the target holds at addr: holes are zeros. */
static unsigned char byte_at(uint64_t addr)
{
	return is_populated(addr) ? mem[addr - MEM_BASE] : 0;
}

static struct reader *open_process(const char *filter)
{
	/* The leader second, as a tracer may meet it: the core puts it first. */
	static const pid_t tids[2] = { PID + 1, PID };
	struct source_regset sets[2];
	struct source_thread threads[2];
	struct canned_proc p = {
		.snap = { .pid = PID, .comm = "canned", .exe = "/bin/canned",
			  .arch = &arch_x86_64, .maps_text = maps_text,
			  .maps_len = sizeof(maps_text) - 1, .threads = threads, .nthreads = 2 },
		.mem_base = MEM_BASE, .mem = mem, .mem_len = MEM_LEN, .populated = populated,
		.sigpend = 0x4000, .sighold = 0x10002,
	};
	struct reader *r = NULL;

	for (size_t i = 0; i < MEM_LEN; i++)
		mem[i] = (unsigned char)(i * 7 + (i >> 12));
	memcpy(mem, ELFMAG, SELFMAG);	/* /bin/canned: its first page is dumped */
	for (size_t i = 0; i < 2; i++) {
		for (size_t k = 0; k < 27; k++)
			regs[i][k] = (uint64_t)tids[i] << 8 | k;
		sets[i] = (struct source_regset){ NT_PRSTATUS, regs[i], sizeof(regs[i]) };
		threads[i] = (struct source_thread){ .info = { .tid = tids[i], .state = 'S',
							       .syscall = -1 },
						     .sets = &sets[i], .nsets = 1 };
	}
	p.snap.files[RB_CMDLINE].data = cmdline;
	p.snap.files[RB_CMDLINE].len = sizeof(cmdline) - 1;
	if (filter) {
		p.snap.files[RB_COREDUMP_FILTER].data = filter;
		p.snap.files[RB_COREDUMP_FILTER].len = strlen(filter);
	}
	assert_int_equal(canned_open(&p, &r), 0);
	return r;
}

static int open_core(void **state, const char *filter)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint64_t blocks;

	assert_int_equal(reader_page_size(), PAGE);
	f->r = open_process(filter);
	assert_int_equal(reader_core_size(f->r, &f->size, &blocks), 0);
	f->core = malloc(f->size);
	assert_non_null(f->core);
	/* In odd-sized pieces, so reads cross the head and segment edges. */
	for (uint64_t off = 0; off < f->size;) {
		ssize_t n = reader_core_read(f->r, f->core + off, 3000, off);

		assert_true(n > 0);
		off += (uint64_t)n;
	}
	assert_int_equal(reader_core_read(f->r, f->core, 1, f->size), 0);
	elf_version(EV_CURRENT);
	f->elf = elf_memory((char *)f->core, f->size);
	assert_non_null(f->elf);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return open_core(state, NULL);
}

/* coredump_filter 0x3f: shared file mappings too. */
static int setup_shared(void **state)
{
	return open_core(state, "0000003f\n");
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	elf_end(f->elf);
	free(f->core);
	reader_close(f->r);
	free(f);
	return 0;
}

static GElf_Phdr phdr(const struct fixture *f, size_t i)
{
	GElf_Phdr ph;

	assert_non_null(gelf_getphdr(f->elf, (int)i, &ph));
	return ph;
}

static void test_core_read_has_a_load_per_mapping_in_address_order(void **state)
{
	const struct fixture *f = *state;
	static const struct { uint64_t vaddr, memsz, filesz; uint32_t flags; } want[] = {
		{ 0x10000, 0x2000, PAGE, PF_R | PF_X },		/* ELF header page */
		{ 0x20000, 0x4000, 0x4000, PF_R | PF_W },	/* anonymous: whole */
		{ 0x30000, 0x1000, 0, PF_R | PF_W },		/* shared file: filtered out */
	};
	GElf_Ehdr eh;
	size_t phnum;

	(void)state;
	assert_non_null(gelf_getehdr(f->elf, &eh));
	assert_int_equal(eh.e_type, ET_CORE);
	assert_int_equal(eh.e_machine, EM_X86_64);
	assert_int_equal(elf_getphdrnum(f->elf, &phnum), 0);
	/* The kernel's PT_NOTE, a PT_LOAD a mapping, the PTRACEFS notes. */
	assert_int_equal(phnum, 1 + 3 + 1);
	assert_int_equal(phdr(f, 0).p_type, PT_NOTE);
	assert_int_equal(phdr(f, 4).p_type, PT_NOTE);
	for (size_t i = 0; i < 3; i++) {
		GElf_Phdr ph = phdr(f, 1 + i);

		assert_int_equal(ph.p_type, PT_LOAD);
		assert_int_equal(ph.p_vaddr, want[i].vaddr);
		assert_int_equal(ph.p_memsz, want[i].memsz);
		assert_int_equal(ph.p_filesz, want[i].filesz);
		assert_int_equal(ph.p_flags, want[i].flags);
		assert_int_equal(ph.p_offset % PAGE, 0);
	}
}

static void test_core_read_segment_bytes_are_the_canned_memory(void **state)
{
	const struct fixture *f = *state;

	for (size_t i = 1; i <= 3; i++) {
		GElf_Phdr ph = phdr(f, i);

		assert_true(ph.p_offset + ph.p_filesz <= f->size);
		for (uint64_t k = 0; k < ph.p_filesz; k++)
			if (f->core[ph.p_offset + k] != byte_at(ph.p_vaddr + k))
				fail_msg("segment %zu: byte 0x%llx of 0x%llx differs", i,
					 (unsigned long long)k, (unsigned long long)ph.p_vaddr);
	}
}

/* The source's facts land in the notes: the leader, its registers, its masks. */
static void test_core_read_leader_prstatus_comes_first_with_source_masks(void **state)
{
	const struct fixture *f = *state;
	static const pid_t order[] = { PID, PID + 1 };
	GElf_Phdr ph = phdr(f, 0);
	Elf_Data *d = elf_getdata_rawchunk(f->elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
	size_t off = 0, next, name_off, desc_off, nstatus = 0;
	GElf_Nhdr h;
	bool psinfo = false;

	(void)state;
	assert_non_null(d);
	while ((next = gelf_getnote(d, off, &h, &name_off, &desc_off)) > 0) {
		const unsigned char *desc = (const unsigned char *)d->d_buf + desc_off;
		uint64_t v;
		int32_t pid;

		if (h.n_type == NT_PRSTATUS) {
			assert_true(nstatus < 2);
			/* elf_prstatus: pr_sigpend at 16, pr_sighold 24, pr_pid 32, pr_reg 112. */
			memcpy(&pid, desc + 32, 4);
			assert_int_equal(pid, order[nstatus]);
			memcpy(&v, desc + 16, 8);
			assert_int_equal(v, 0x4000);
			memcpy(&v, desc + 24, 8);
			assert_int_equal(v, 0x10002);
			memcpy(&v, desc + 112 + 16 * 8, 8);	/* rip */
			assert_int_equal(v, (uint64_t)order[nstatus] << 8 | 16);
			nstatus++;
		} else if (h.n_type == NT_PRPSINFO) {
			/* elf_prpsinfo: pr_fname at 40, pr_psargs at 56. */
			assert_string_equal((const char *)desc + 40, "canned");
			assert_string_equal((const char *)desc + 56, "canned -x");
			psinfo = true;
		}
		off = next;
	}
	assert_int_equal(nstatus, 2);
	assert_true(psinfo);
}

static void test_core_read_seek_skips_unpopulated_pages(void **state)
{
	const struct fixture *f = *state;
	GElf_Phdr text = phdr(f, 1), anon = phdr(f, 2);
	uint64_t at;

	(void)state;
	/*
	 * The head is data; the text's page runs on into the anonymous one.
	 * The first hole is page 1 of the anonymous mapping, or (a hole that
	 * short may be told as data, reading as zeros) the end of page 2:
	 * never inside populated data.
	 */
	assert_int_equal(reader_core_seek(f->r, 0, SEEK_DATA, &at), 0);
	assert_int_equal(at, 0);
	assert_int_equal(reader_core_seek(f->r, 0, SEEK_HOLE, &at), 0);
	assert_true(at == anon.p_offset + PAGE || at == anon.p_offset + 3 * PAGE);
	assert_int_equal(anon.p_offset, text.p_offset + text.p_filesz);
	/* Pages 0 and 2 of the anonymous mapping were populated, 1 and 3 not. */
	assert_int_equal(reader_core_seek(f->r, anon.p_offset + 1, SEEK_DATA, &at), 0);
	assert_int_equal(at, anon.p_offset + 1);
	assert_int_equal(reader_core_seek(f->r, anon.p_offset + PAGE, SEEK_DATA, &at), 0);
	assert_int_equal(at, anon.p_offset + 2 * PAGE);
	assert_int_equal(reader_core_seek(f->r, anon.p_offset + 2 * PAGE, SEEK_HOLE, &at), 0);
	assert_int_equal(at, anon.p_offset + 3 * PAGE);
	/* Nothing after the last populated page, which ends the file. */
	assert_int_equal(f->size, anon.p_offset + anon.p_filesz);
	assert_int_equal(reader_core_seek(f->r, anon.p_offset + 3 * PAGE, SEEK_DATA, &at), -ENXIO);
	assert_int_equal(reader_core_seek(f->r, anon.p_offset + 3 * PAGE + 5, SEEK_HOLE, &at), 0);
	assert_int_equal(at, anon.p_offset + 3 * PAGE + 5);
	assert_int_equal(reader_core_seek(f->r, f->size, SEEK_DATA, &at), -ENXIO);
	assert_int_equal(reader_core_seek(f->r, 0, SEEK_SET, &at), -EINVAL);
}

/* The process's own /proc/PID/coredump_filter decides, when -o gives none. */
static void test_core_read_filter_file_adds_shared_mappings(void **state)
{
	const struct fixture *f = *state;
	GElf_Phdr shared = phdr(f, 3);

	assert_int_equal(shared.p_filesz, PAGE);
	for (uint64_t k = 0; k < PAGE; k++)
		assert_int_equal(f->core[shared.p_offset + k], byte_at(0x30000 + k));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_core_read_has_a_load_per_mapping_in_address_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_core_read_segment_bytes_are_the_canned_memory,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_core_read_leader_prstatus_comes_first_with_source_masks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_core_read_seek_skips_unpopulated_pages,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_core_read_filter_file_adds_shared_mappings,
						setup_shared, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
