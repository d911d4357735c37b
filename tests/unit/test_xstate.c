/*
 * reader/xstate.c on this machine's CPU: a backup's XSAVE image of
 * another size (gdb's: x87, SSE and AVX only) fitted into the kernel's,
 * and ptrace's image cut to what a signal frame may hold. AVX's place is
 * architectural (576, 256 bytes), so it is the oracle here, not CPUID.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reader/bytes.h"
#include "reader/xstate.h"

#define at64(p) get_n((p), 8, false)

#if defined(__x86_64__)
#include <cpuid.h>

/* The XCR0 the OS enabled, and the size of a standard image of it. */
static int host(uint64_t *xcr0, size_t *size)
{
	unsigned a, b, c, d;

	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 27)))	/* OSXSAVE */
		return -1;
	__asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	*xcr0 = (uint64_t)d << 32 | a;
	__cpuid_count(0xd, 0, a, b, c, d);
	*size = b;
	return (*xcr0 & 4) ? 0 : -1;	/* AVX on */
}

static void merge_avx_backup(void **state)
{
	static unsigned char cur[16384], bak[832], out[16384];
	uint64_t xcr0 = 0, v;
	size_t size = 0;

	(void)state;
	if (host(&xcr0, &size) || size > sizeof(cur) || size <= sizeof(bak))
		skip();
	for (size_t i = 0; i < size; i++)
		cur[i] = (unsigned char)(i * 3 + 1);
	for (size_t i = 0; i < sizeof(bak); i++)
		bak[i] = (unsigned char)(i * 5 + 2);
	memcpy(cur + 464, &xcr0, 8);
	v = xcr0;				/* all in use now */
	memcpy(cur + 512, &v, 8);
	memset(cur + 520, 0, 56);		/* standard format, reserved zero */
	v = 7;					/* gdb: x87, SSE, AVX */
	memcpy(bak + 464, &v, 8);
	v = 5;					/* SSE in its init state */
	memcpy(bak + 512, &v, 8);
	memset(bak + 520, 0, 56);

	assert_int_equal(xstate_merge(cur, size, bak, sizeof(bak), out), 0);
	assert_memory_equal(out, bak, 464);			/* x87, SSE */
	assert_memory_equal(out + 576, bak + 576, 256);		/* AVX's upper halves */
	assert_memory_equal(out + 832, cur + 832, size - 832);	/* the rest as now */
	assert_int_equal(at64(out + 464), xcr0);		/* the kernel's XCR0 word */
	assert_int_equal(at64(out + 512), 5 | (xcr0 & ~7ULL));	/* XSTATE_BV */
	assert_int_equal(at64(out + 520), 0);

	/* Not images: refused. */
	assert_int_equal(xstate_merge(cur, size, bak, 100, out), -22);
}

/* A dynamic feature (AMX tile data) not in use is cut; in use, kept. */
static void fit_drops_unused_dynamic(void **state)
{
	static unsigned char img[16384];
	uint64_t xcr0 = 0, bv;
	size_t size = 0, len;
	uint64_t drop;

	(void)state;
	if (host(&xcr0, &size) || size > sizeof(img))
		skip();
	memset(img, 0, sizeof(img));
	memcpy(img + 464, &xcr0, 8);
	bv = 7;
	memcpy(img + 512, &bv, 8);
	len = size;
	xstate_fit(img, &len, &drop);
	if (xcr0 & (1ULL << 18)) {
		/* tile data is the last feature: cut off, and said so */
		assert_true(drop & (1ULL << 18));
		assert_true(len <= size - 8192);
	} else {
		assert_int_equal(drop, 0);
		assert_int_equal(len, size);
	}
	bv = xcr0;				/* everything in use: nothing dropped */
	memcpy(img + 512, &bv, 8);
	len = size;
	xstate_fit(img, &len, &drop);
	assert_int_equal(drop, 0);
	assert_int_equal(len, size);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
#if defined(__x86_64__)
		cmocka_unit_test(merge_avx_backup),
		cmocka_unit_test(fit_drops_unused_dynamic),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
