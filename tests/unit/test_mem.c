/*
 * reader/mem.c without a target: process_vm_readv and pread64 are wrapped
 * (-Wl,--wrap), so every path — the fast syscall, the /proc/PID/mem
 * fallback, zero-filled unreadable pages, a vanished target, clipping to
 * data mappings, pagemap holes — runs against scripted answers. So is
 * reader_page_size: every case runs with 4, 16 and 64 KiB pages, with
 * mappings and pagemaps laid out in that size.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "reader/reader_int.h"
#include "reader/source.h"

#define FAKE_MEM_FD 1000

static uint64_t P;		/* the page size of this run */

uint64_t __wrap_reader_page_size(void);
uint64_t __wrap_reader_page_size(void)
{
	return P;
}

/* Scripted behaviour of the two read paths. */
static int vm_errno;		/* errno to fail with, 0: succeed */
static size_t vm_limit;		/* succeed with at most this many bytes */
static int pread_errno;
static uint64_t unreadable_lo, unreadable_hi;	/* pread fails in here */
static unsigned vm_calls, pread_calls;
static uint64_t vm_addrs[64];

/* Target memory content: each byte is the low byte of addr * 7. */
static void fill(void *buf, size_t len, uint64_t addr)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)((addr + i) * 7);
}

ssize_t __wrap_process_vm_readv(pid_t pid, const struct iovec *l, unsigned long ln,
				const struct iovec *r, unsigned long rn, unsigned long flags);
ssize_t __wrap_process_vm_readv(pid_t pid, const struct iovec *l, unsigned long ln,
				const struct iovec *r, unsigned long rn, unsigned long flags)
{
	size_t n = r[0].iov_len < vm_limit ? r[0].iov_len : vm_limit;

	(void)pid; (void)ln; (void)rn; (void)flags;
	if (vm_calls < 64)
		vm_addrs[vm_calls] = (uint64_t)(uintptr_t)r[0].iov_base;
	vm_calls++;
	if (vm_errno) {
		errno = vm_errno;
		return -1;
	}
	fill(l[0].iov_base, n, (uint64_t)(uintptr_t)r[0].iov_base);
	return (ssize_t)n;
}

ssize_t __real_pread64(int fd, void *buf, size_t len, off_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off)
{
	uint64_t a = (uint64_t)off;

	if (fd != FAKE_MEM_FD)
		return __real_pread64(fd, buf, len, off);	/* the pagemap memfd */
	pread_calls++;
	if (pread_errno) {
		errno = pread_errno;
		return -1;
	}
	if (a >= unreadable_lo && a < unreadable_hi) {
		errno = EIO;
		return -1;
	}
	if (a < unreadable_lo && a + len > unreadable_lo)
		len = (size_t)(unreadable_lo - a);	/* short read, as mem_rw does */
	fill(buf, len, a);
	return (ssize_t)len;
}

/*
 * The mappings, in pages: [16, 19) anon readable, [19, 20) a ---p guard
 * (a hole), [20, 22) rw- next to it, [32, 34) [vdso], [34, 36) [vvar].
 */
static struct reader *make_reader(int pagemap_fd)
{
	struct reader *r = calloc(1, sizeof(*r));
	char maps[512];
	int n = snprintf(maps, sizeof(maps),
			 "%llx-%llx r--p 00000000 00:00 0 \n"
			 "%llx-%llx ---p 00000000 00:00 0 \n"
			 "%llx-%llx rw-p 00000000 00:00 0 \n"
			 "%llx-%llx r-xp 00000000 00:00 0          [vdso]\n"
			 "%llx-%llx r--p 00000000 00:00 0          [vvar]\n",
			 16 * (unsigned long long)P, 19 * (unsigned long long)P,
			 19 * (unsigned long long)P, 20 * (unsigned long long)P,
			 20 * (unsigned long long)P, 22 * (unsigned long long)P,
			 32 * (unsigned long long)P, 34 * (unsigned long long)P,
			 34 * (unsigned long long)P, 36 * (unsigned long long)P);

	r->src = &source_ptrace;
	assert_non_null(r);
	assert_true(n > 0 && (size_t)n < sizeof(maps));
	assert_int_equal(maps_parse(maps, (size_t)n, &r->maps), 0);
	r->pid = r->mem_pid = 4242;
	r->mem_fd = FAKE_MEM_FD;
	r->pagemap_fd = pagemap_fd;
	r->mem_size = 34 * P;
	atomic_init(&r->nalive, 1);	/* a live target: reads go through */
	vm_errno = pread_errno = 0;
	vm_limit = SIZE_MAX;
	unreadable_lo = unreadable_hi = 0;
	vm_calls = pread_calls = 0;
	return r;
}

static void free_reader(struct reader *r)
{
	mem_cache_free(r);	/* what reader_close does for the pagemap cache */
	maps_free(&r->maps);
	free(r);
}

static void assert_content(const unsigned char *buf, size_t len, uint64_t addr)
{
	unsigned char *want = malloc(len);

	fill(want, len, addr);
	assert_memory_equal(buf, want, len);
	free(want);
}

static void test_mem_read_uses_process_vm_readv(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char buf[256];

	(void)state;
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 16 * P + 0x10), sizeof(buf));
	assert_content(buf, sizeof(buf), 16 * P + 0x10);
	assert_int_equal(vm_calls, 1);
	assert_int_equal(pread_calls, 0);
	free_reader(r);
}

static void test_mem_read_falls_back_to_proc_mem(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char buf[512];

	(void)state;
	vm_errno = EPERM;
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 16 * P + 0x100), sizeof(buf));
	assert_content(buf, sizeof(buf), 16 * P + 0x100);
	assert_int_equal(pread_calls, 1);
	free_reader(r);
}

static void test_mem_read_short_readv_continues_in_proc_mem(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char *buf = malloc(2 * P);

	(void)state;
	vm_limit = P;	/* page-granular partial transfer */
	assert_int_equal(reader_mem_read(r, buf, 2 * P, 16 * P), 2 * P);
	assert_content(buf, 2 * P, 16 * P);
	assert_int_equal(pread_calls, 1);
	free(buf);
	free_reader(r);
}

static void test_mem_read_unreadable_page_reads_as_zeros(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char *buf = malloc(3 * P), *zero = calloc(1, P);

	(void)state;
	vm_errno = EFAULT;
	unreadable_lo = 17 * P;
	unreadable_hi = 18 * P;
	assert_int_equal(reader_mem_read(r, buf, 3 * P, 16 * P), 3 * P);
	assert_content(buf, P, 16 * P);
	assert_memory_equal(buf + P, zero, P);
	assert_content(buf + 2 * P, P, 18 * P);
	free(buf);
	free(zero);
	free_reader(r);
}

static void test_mem_read_target_gone_is_eio(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char buf[64];

	(void)state;
	vm_errno = ESRCH;
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 16 * P), -EIO);
	free_reader(r);
}

static void test_mem_read_after_target_died_is_eio(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char buf[64];

	(void)state;
	atomic_store(&r->nalive, 0);
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 16 * P), -EIO);
	assert_int_equal(vm_calls, 0);
	free_reader(r);
}

static void test_mem_read_clips_to_data_mappings(void **state)
{
	struct reader *r = make_reader(-1);
	size_t len = 36 * P - 18 * P;
	unsigned char *buf = malloc(len), *zero = calloc(1, len);

	(void)state;
	memset(buf, 0xee, len);
	assert_int_equal(reader_mem_read(r, buf, len, 18 * P), (ssize_t)len);
	/* page 18 data; the guard a hole; [20, 22) data; a gap; [vdso] data;
	 * [vvar] a hole. */
	assert_content(buf, P, 18 * P);
	assert_memory_equal(buf + P, zero, P);
	assert_content(buf + 2 * P, 2 * P, 20 * P);
	assert_memory_equal(buf + 4 * P, zero, 10 * P);
	assert_content(buf + 14 * P, 2 * P, 32 * P);
	assert_memory_equal(buf + 16 * P, zero, 2 * P);
	assert_int_equal(vm_calls, 3);
	assert_true(vm_addrs[0] == 18 * P && vm_addrs[1] == 20 * P &&
		    vm_addrs[2] == 32 * P);
	free(buf);
	free(zero);
	free_reader(r);
}

static void test_mem_seek_walks_mappings(void **state)
{
	struct reader *r = make_reader(-1);
	uint64_t out = 0;

	(void)state;
	assert_int_equal(reader_mem_seek(r, 0, SEEK_DATA, 34 * P, &out), 0);
	assert_int_equal(out, 16 * P);
	assert_int_equal(reader_mem_seek(r, 16 * P, SEEK_HOLE, 34 * P, &out), 0);
	assert_int_equal(out, 19 * P);		/* the ---p guard */
	assert_int_equal(reader_mem_seek(r, 19 * P, SEEK_DATA, 34 * P, &out), 0);
	assert_int_equal(out, 20 * P);
	assert_int_equal(reader_mem_seek(r, 20 * P + P / 2, SEEK_DATA, 34 * P, &out), 0);
	assert_int_equal(out, 20 * P + P / 2);	/* already in data */
	assert_int_equal(reader_mem_seek(r, 20 * P, SEEK_HOLE, 34 * P, &out), 0);
	assert_int_equal(out, 22 * P);
	assert_int_equal(reader_mem_seek(r, 32 * P, SEEK_HOLE, 34 * P, &out), 0);
	assert_int_equal(out, 34 * P);		/* [vdso] runs to the end */
	assert_int_equal(reader_mem_seek(r, 34 * P - 1, SEEK_DATA, 34 * P, &out), 0);
	assert_int_equal(out, 34 * P - 1);
	free_reader(r);
}

static void test_mem_seek_data_past_last_is_enxio(void **state)
{
	struct reader *r = make_reader(-1);
	uint64_t out;

	(void)state;
	assert_int_equal(reader_mem_seek(r, 34 * P, SEEK_DATA, 48 * P, &out), -ENXIO);
	free_reader(r);
}

/* A pagemap as a memfd: 8 bytes per page, bit 63 present, bit 62 swapped. */
static int make_pagemap(const uint64_t *pages, const uint64_t *bits, size_t n)
{
	int fd = memfd_create("pagemap", 0);

	assert_true(fd >= 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pwrite(fd, &bits[i], 8, (off_t)(pages[i] / P * 8)), 8);
	return fd;
}

static void test_mem_read_never_populated_anon_is_a_hole(void **state)
{
	/* Page 16 present, 17 absent, 18 swapped. */
	const uint64_t pages[] = { 16 * P, 17 * P, 18 * P };
	const uint64_t bits[] = { 1ULL << 63, 0, 1ULL << 62 };
	int pm = make_pagemap(pages, bits, 3);
	struct reader *r = make_reader(pm);
	unsigned char *buf = malloc(3 * P), *zero = calloc(1, P);
	uint64_t out;

	(void)state;
	assert_int_equal(reader_mem_read(r, buf, 3 * P, 16 * P), 3 * P);
	assert_content(buf, P, 16 * P);
	assert_memory_equal(buf + P, zero, P);
	assert_content(buf + 2 * P, P, 18 * P);
	/* Only populated pages reached the target. */
	assert_int_equal(vm_calls, 2);
	assert_true(vm_addrs[0] == 16 * P && vm_addrs[1] == 18 * P);

	/* A one-page hole is shorter than MEM_MIN_HOLE: told as data. */
	assert_int_equal(reader_mem_seek(r, 16 * P, SEEK_HOLE, 34 * P, &out), 0);
	assert_int_equal(out, 19 * P);
	/* SEEK_DATA stays exact: from inside the hole, the next populated page. */
	assert_int_equal(reader_mem_seek(r, 17 * P, SEEK_DATA, 34 * P, &out), 0);
	assert_int_equal(out, 18 * P);
	free(buf);
	free(zero);
	free_reader(r);
	close(pm);
}

/*
 * One anonymous mapping: data, a hole one page short of MEM_MIN_HOLE,
 * data, a hole of exactly MEM_MIN_HOLE, data, then unpopulated to its
 * end. SEEK_HOLE skips the short hole, stops at the long one and at the
 * tail; reads of the coalesced extent give zeros for the short hole
 * without reaching the target there.
 */
static void test_mem_seek_hole_coalesces_short_holes(void **state)
{
	uint64_t hole = (MEM_MIN_HOLE + P - 1) / P;	/* pages in a long hole */
	uint64_t base = 64 * P, d1 = base, h1 = d1 + P, d2 = h1 + (hole - 1) * P;
	uint64_t h2 = d2 + P, d3 = h2 + hole * P, tail = d3 + P, end = tail + hole * P + 3 * P;
	const uint64_t pages[] = { d1, d2, d3 };
	const uint64_t bits[] = { 1ULL << 63, 1ULL << 63, 1ULL << 62 };
	int pm = make_pagemap(pages, bits, 3);
	struct reader *r = make_reader(pm);
	char maps[128];
	int n = snprintf(maps, sizeof(maps), "%llx-%llx rw-p 00000000 00:00 0 \n",
			 (unsigned long long)base, (unsigned long long)end);
	size_t len = (size_t)(h2 - d1);
	unsigned char *buf = malloc(len), *zero = calloc(1, len);
	uint64_t out;

	(void)state;
	/* pagemap covers the whole mapping: a short read would mean "populated" */
	assert_int_equal(ftruncate(pm, (off_t)((end / P + 512) * 8)), 0);
	maps_free(&r->maps);
	assert_int_equal(maps_parse(maps, (size_t)n, &r->maps), 0);
	r->mem_size = end;
	assert_int_equal(reader_mem_seek(r, d1, SEEK_HOLE, end, &out), 0);
	assert_int_equal(out, h2);		/* past the short hole, at the long one */
	assert_int_equal(reader_mem_seek(r, h1, SEEK_HOLE, end, &out), 0);
	assert_int_equal(out, h2);		/* from inside the short hole too */
	assert_int_equal(reader_mem_seek(r, h2, SEEK_DATA, end, &out), 0);
	assert_int_equal(out, d3);
	assert_int_equal(reader_mem_seek(r, d3, SEEK_HOLE, end, &out), 0);
	assert_int_equal(out, tail);		/* a hole to the mapping's end is a hole */
	assert_int_equal(reader_mem_seek(r, tail, SEEK_DATA, end, &out), -ENXIO);
	/* The extent reads: the short hole as zeros, data from the target. */
	assert_int_equal(reader_mem_read(r, buf, len, d1), (ssize_t)len);
	assert_content(buf, P, d1);
	assert_memory_equal(buf + P, zero, (size_t)(d2 - h1));
	assert_content(buf + (d2 - d1), P, d2);
	assert_int_equal(vm_calls, 2);
	free(buf);
	free(zero);
	free_reader(r);
	close(pm);
}

static int pages_4k(void **state) { (void)state; P = 4096; return 0; }
static int pages_16k(void **state) { (void)state; P = 16384; return 0; }
static int pages_64k(void **state) { (void)state; P = 65536; return 0; }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_read_uses_process_vm_readv),
		cmocka_unit_test(test_mem_read_falls_back_to_proc_mem),
		cmocka_unit_test(test_mem_read_short_readv_continues_in_proc_mem),
		cmocka_unit_test(test_mem_read_unreadable_page_reads_as_zeros),
		cmocka_unit_test(test_mem_read_target_gone_is_eio),
		cmocka_unit_test(test_mem_read_after_target_died_is_eio),
		cmocka_unit_test(test_mem_read_clips_to_data_mappings),
		cmocka_unit_test(test_mem_seek_walks_mappings),
		cmocka_unit_test(test_mem_seek_data_past_last_is_enxio),
		cmocka_unit_test(test_mem_read_never_populated_anon_is_a_hole),
		cmocka_unit_test(test_mem_seek_hole_coalesces_short_holes),
	};

	int failed = 0;

	/* x86 and most arm64; LoongArch and Apple arm64; arm64 with 64 KiB. */
	failed += cmocka_run_group_tests_name("4 KiB pages", tests, pages_4k, NULL);
	failed += cmocka_run_group_tests_name("16 KiB pages", tests, pages_16k, NULL);
	failed += cmocka_run_group_tests_name("64 KiB pages", tests, pages_64k, NULL);
	return failed ? 1 : 0;
}
