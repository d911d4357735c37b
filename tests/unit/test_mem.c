/*
 * reader/mem.c without a target: process_vm_readv and pread64 are wrapped
 * (-Wl,--wrap), so every path — the fast syscall, the /proc/PID/mem
 * fallback, zero-filled unreadable pages, a vanished target, clipping to
 * data mappings, pagemap holes — runs against scripted answers.
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

#define FAKE_MEM_FD 1000
#define PAGE 4096

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

static const char maps_fixture[] =
	"10000-13000 r--p 00000000 00:00 0 \n"		/* anon, readable */
	"13000-14000 ---p 00000000 00:00 0 \n"		/* guard: a hole */
	"14000-16000 rw-p 00000000 00:00 0 \n"		/* adjacent to the guard */
	"20000-22000 r-xp 00000000 00:00 0          [vdso]\n"
	"22000-24000 r--p 00000000 00:00 0          [vvar]\n";

static struct reader *make_reader(int pagemap_fd)
{
	struct reader *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(maps_parse(maps_fixture, sizeof(maps_fixture) - 1, &r->maps), 0);
	r->pid = r->mem_pid = 4242;
	r->mem_fd = FAKE_MEM_FD;
	r->pagemap_fd = pagemap_fd;
	r->mem_size = 0x22000;
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
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 0x10010), sizeof(buf));
	assert_content(buf, sizeof(buf), 0x10010);
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
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 0x10100), sizeof(buf));
	assert_content(buf, sizeof(buf), 0x10100);
	assert_int_equal(pread_calls, 1);
	free_reader(r);
}

static void test_mem_read_short_readv_continues_in_proc_mem(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char buf[2 * PAGE];

	(void)state;
	vm_limit = PAGE;	/* page-granular partial transfer */
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 0x10000), sizeof(buf));
	assert_content(buf, sizeof(buf), 0x10000);
	assert_int_equal(pread_calls, 1);
	free_reader(r);
}

static void test_mem_read_unreadable_page_reads_as_zeros(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char buf[3 * PAGE], zero[PAGE] = { 0 };

	(void)state;
	vm_errno = EFAULT;
	unreadable_lo = 0x11000;
	unreadable_hi = 0x12000;
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 0x10000), sizeof(buf));
	assert_content(buf, PAGE, 0x10000);
	assert_memory_equal(buf + PAGE, zero, PAGE);
	assert_content(buf + 2 * PAGE, PAGE, 0x12000);
	free_reader(r);
}

static void test_mem_read_target_gone_is_eio(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char buf[64];

	(void)state;
	vm_errno = ESRCH;
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 0x10000), -EIO);
	free_reader(r);
}

static void test_mem_read_after_target_died_is_eio(void **state)
{
	struct reader *r = make_reader(-1);
	unsigned char buf[64];

	(void)state;
	atomic_store(&r->nalive, 0);
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 0x10000), -EIO);
	assert_int_equal(vm_calls, 0);
	free_reader(r);
}

static void test_mem_read_clips_to_data_mappings(void **state)
{
	struct reader *r = make_reader(-1);
	size_t len = 0x24000 - 0x12000;
	unsigned char *buf = malloc(len), *zero = calloc(1, len);

	(void)state;
	memset(buf, 0xee, len);
	assert_int_equal(reader_mem_read(r, buf, len, 0x12000), (ssize_t)len);
	/* [0x12000,0x13000) data; guard hole; [0x14000,0x16000) data; gap;
	 * [vdso] data; [vvar] hole. */
	assert_content(buf, 0x1000, 0x12000);
	assert_memory_equal(buf + 0x1000, zero, 0x1000);
	assert_content(buf + 0x2000, 0x2000, 0x14000);
	assert_memory_equal(buf + 0x4000, zero, 0xa000);
	assert_content(buf + 0xe000, 0x2000, 0x20000);
	assert_memory_equal(buf + 0x10000, zero, 0x2000);
	assert_int_equal(vm_calls, 3);
	assert_true(vm_addrs[0] == 0x12000 && vm_addrs[1] == 0x14000 &&
		    vm_addrs[2] == 0x20000);
	free(buf);
	free(zero);
	free_reader(r);
}

static void test_mem_seek_walks_mappings(void **state)
{
	struct reader *r = make_reader(-1);
	uint64_t out = 0;

	(void)state;
	assert_int_equal(reader_mem_seek(r, 0, SEEK_DATA, 0x22000, &out), 0);
	assert_int_equal(out, 0x10000);
	assert_int_equal(reader_mem_seek(r, 0x10000, SEEK_HOLE, 0x22000, &out), 0);
	assert_int_equal(out, 0x13000);		/* the ---p guard */
	assert_int_equal(reader_mem_seek(r, 0x13000, SEEK_DATA, 0x22000, &out), 0);
	assert_int_equal(out, 0x14000);
	assert_int_equal(reader_mem_seek(r, 0x14800, SEEK_DATA, 0x22000, &out), 0);
	assert_int_equal(out, 0x14800);		/* already in data */
	assert_int_equal(reader_mem_seek(r, 0x14000, SEEK_HOLE, 0x22000, &out), 0);
	assert_int_equal(out, 0x16000);
	assert_int_equal(reader_mem_seek(r, 0x20000, SEEK_HOLE, 0x22000, &out), 0);
	assert_int_equal(out, 0x22000);		/* [vdso] runs to the end */
	assert_int_equal(reader_mem_seek(r, 0x21fff, SEEK_DATA, 0x22000, &out), 0);
	assert_int_equal(out, 0x21fff);
	free_reader(r);
}

static void test_mem_seek_data_past_last_is_enxio(void **state)
{
	struct reader *r = make_reader(-1);
	uint64_t out;

	(void)state;
	assert_int_equal(reader_mem_seek(r, 0x22000, SEEK_DATA, 0x30000, &out), -ENXIO);
	free_reader(r);
}

/* A pagemap as a memfd: 8 bytes per page, bit 63 present, bit 62 swapped. */
static int make_pagemap(const uint64_t *pages, const uint64_t *bits, size_t n)
{
	int fd = memfd_create("pagemap", 0);

	assert_true(fd >= 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pwrite(fd, &bits[i], 8, (off_t)(pages[i] / PAGE * 8)), 8);
	return fd;
}

static void test_mem_read_never_populated_anon_is_a_hole(void **state)
{
	/* 0x10000 present, 0x11000 absent, 0x12000 swapped. */
	const uint64_t pages[] = { 0x10000, 0x11000, 0x12000 };
	const uint64_t bits[] = { 1ULL << 63, 0, 1ULL << 62 };
	int pm = make_pagemap(pages, bits, 3);
	struct reader *r = make_reader(pm);
	unsigned char buf[3 * PAGE], zero[PAGE] = { 0 };
	uint64_t out;

	(void)state;
	assert_int_equal(reader_mem_read(r, buf, sizeof(buf), 0x10000), sizeof(buf));
	assert_content(buf, PAGE, 0x10000);
	assert_memory_equal(buf + PAGE, zero, PAGE);
	assert_content(buf + 2 * PAGE, PAGE, 0x12000);
	/* Only populated pages reached the target. */
	assert_int_equal(vm_calls, 2);
	assert_true(vm_addrs[0] == 0x10000 && vm_addrs[1] == 0x12000);

	assert_int_equal(reader_mem_seek(r, 0x10000, SEEK_HOLE, 0x22000, &out), 0);
	assert_int_equal(out, 0x11000);
	assert_int_equal(reader_mem_seek(r, 0x11000, SEEK_DATA, 0x22000, &out), 0);
	assert_int_equal(out, 0x12000);
	free_reader(r);
	close(pm);
}

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
