/*
 * threads/<tid>/fpregs: the x86_64 formatter over hand-built FXSAVE and
 * XSAVE images whose every byte is known, then the file itself over a
 * reader of the canned process (canned_source.h). Offsets are restated here from the Intel SDM
 * (vol. 1, 10.5.1 FXSAVE area, 13.4 XSAVE area) rather than taken from
 * arch/x86_64_fp.c, so a wrong offset there shows up here.
 */
#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canned_source.h"
#include "fs/tree.h"

static struct reader *fake_reader;

#define XSAVE_LEN 832		/* legacy area + header + the AVX component */

static uint8_t fx[512], xs[XSAVE_LEN];

static void put16(uint8_t *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8 & 0xff;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i) & 0xff;
}

/* An 80-bit register in slot i: 64-bit significand, then sign+exponent. */
static void put_st(int i, unsigned sign_exp, uint64_t significand)
{
	put64(fx + 32 + 16 * i, significand);
	put16(fx + 32 + 16 * i + 8, sign_exp);
}

/*
 * The fixture: four registers in use with TOP = 4, so st0..st3 are the
 * physical registers 4..7 (the abridged tag byte has bits 4-7 set); the
 * four slots past them hold stale bytes of every other class. xmm i byte j
 * is 16 i + j; the AVX upper half of ymm i byte j is its complement.
 */
static int setup_blobs(void **state)
{
	(void)state;
	memset(fx, 0, sizeof(fx));
	put16(fx + 0, 0x037f);			/* fcw */
	put16(fx + 2, 0x2200);			/* fsw: TOP 4, C1 */
	fx[4] = 0xf0;				/* abridged ftw */
	put16(fx + 6, 0x01dd);			/* fop */
	put64(fx + 8, 0x00005555deadbeefULL);	/* fip */
	put64(fx + 16, 0x00007ffc12345678ULL);	/* fdp */
	put64(fx + 24, 0x0000ffff00009fc0ULL);	/* mxcsr, mxcsr_mask */
	put_st(0, 0x3fff, 0xc000000000000000ULL);	/* 1.5: valid */
	put_st(1, 0xc000, 0x8000000000000000ULL);	/* -2: valid */
	put_st(2, 0x0000, 0);				/* 0: zero */
	put_st(3, 0x7fff, 0x8000000000000000ULL);	/* inf: special */
	put_st(4, 0x7fff, 0xc000000000000000ULL);	/* quiet NaN */
	put_st(5, 0x3fff, 0x4000000000000000ULL);	/* unnormal */
	put_st(6, 0x8000, 0);				/* -0 */
	put_st(7, 0x0000, 1);				/* smallest denormal */
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++)
			fx[160 + 16 * i + j] = (uint8_t)(16 * i + j);

	memset(xs, 0, sizeof(xs));
	memcpy(xs, fx, sizeof(fx));
	put64(xs + 464, 0x7);			/* XCR0 as Linux stores it: x87|SSE|AVX */
	put64(xs + 512, 0x7);			/* XSTATE_BV: AVX state live */
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++)
			xs[576 + 16 * i + j] = (uint8_t)~(16 * i + j);
	return 0;
}

/* Renders the fixture; returns the text (caller frees) or NULL with *rc. */
static char *render(const void *f, size_t flen, const void *x, size_t xlen, int *rc)
{
	struct sbuf sb = SBUF_INIT;

	*rc = x86_64_format_fp(f, flen, x, xlen, &sb);
	if (*rc) {
		assert_int_equal(sb.len, 0);	/* nothing half-written */
		sbuf_free(&sb);
		return NULL;
	}
	return sbuf_detach(&sb, NULL);
}

/* The line that starts with "name ", without its newline; fails if none. */
static char *line_of(const char *text, const char *name)
{
	static char line[256];
	size_t n = strlen(name);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, name, n) == 0 && l[n] == ' ') {
			size_t len = strcspn(l, "\n");

			assert_true(len < sizeof(line));
			memcpy(line, l, len);
			line[len] = '\0';
			return line;
		}
	}
	fail_msg("no line for %s in:\n%s", name, text);
	return NULL;
}

static int count_prefix(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		n += strncmp(l, prefix, strlen(prefix)) == 0;
		if (!strchr(l, '\n'))
			break;
	}
	return n;
}

static void test_fpregs_x86_64_desc_names_the_regsets(void **state)
{
	(void)state;
	/* NT_PRFPREG and NT_X86_XSTATE, from the kernel's uapi elf.h */
	assert_int_equal(arch_x86_64.fp_regset, 2);
	assert_int_equal(arch_x86_64.xstate_regset, 0x202);
	assert_ptr_equal(arch_x86_64.format_fp, x86_64_format_fp);
}

static void test_fpregs_xmm_prints_most_significant_byte_first(void **state)
{
	int rc;
	char *t = render(fx, sizeof(fx), xs, sizeof(xs), &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_string_equal(line_of(t, "xmm0"), "xmm0 0x0f0e0d0c0b0a09080706050403020100");
	assert_string_equal(line_of(t, "xmm1"), "xmm1 0x1f1e1d1c1b1a19181716151413121110");
	assert_string_equal(line_of(t, "xmm15"), "xmm15 0xfffefdfcfbfaf9f8f7f6f5f4f3f2f1f0");
	free(t);
}

static void test_fpregs_control_words_come_from_fxsave_offsets(void **state)
{
	int rc;
	char *t = render(fx, sizeof(fx), NULL, 0, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_string_equal(line_of(t, "fcw"), "fcw 0x037f");
	assert_string_equal(line_of(t, "fsw"), "fsw 0x2200");
	assert_string_equal(line_of(t, "fop"), "fop 0x01dd");
	assert_string_equal(line_of(t, "fip"), "fip 0x00005555deadbeef");
	assert_string_equal(line_of(t, "fdp"), "fdp 0x00007ffc12345678");
	/* mxcsr_mask, the next 4 bytes, is not mxcsr */
	assert_string_equal(line_of(t, "mxcsr"), "mxcsr 0x00009fc0");
	free(t);
}

/*
 * Full tag word, two bits per physical register (11 empty, 01 zero,
 * 10 special, 00 valid): physical 0-3 empty = 0x00ff; 4 (st0, 1.5) and
 * 5 (st1, -2) valid; 6 (st2, 0) zero = 0x1000; 7 (st3, inf) special =
 * 0x8000. The stale st4..st7 are empty whatever their bytes say.
 */
static void test_fpregs_ftw_is_the_full_tag_word(void **state)
{
	int rc;
	char *t = render(fx, sizeof(fx), NULL, 0, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_string_equal(line_of(t, "ftw"), "ftw 0x90ff");
	free(t);

	/* All eight empty, as after fninit: 0xffff. */
	fx[4] = 0;
	t = render(fx, sizeof(fx), NULL, 0, &rc);
	assert_string_equal(line_of(t, "ftw"), "ftw 0xffff");
	free(t);
}

/* The raw bytes always; the decimal where the host's long double holds it. */
static void expect_st(const char *text, const char *name, const char *raw,
		      const char *value)
{
	char want[128];

#if LDBL_MANT_DIG >= 64 && LDBL_MAX_EXP >= 16384 && LDBL_MIN_EXP <= -16381
	if (value)
		snprintf(want, sizeof(want), "%s %s (%s)", name, raw, value);
	else
		snprintf(want, sizeof(want), "%s %s", name, raw);
#else
	/* Only the non-finite and invalid encodings keep a value here. */
	if (value && (strstr(value, "inf") || strstr(value, "nan") ||
		      strcmp(value, "invalid") == 0))
		snprintf(want, sizeof(want), "%s %s (%s)", name, raw, value);
	else
		snprintf(want, sizeof(want), "%s %s", name, raw);
#endif
	assert_string_equal(line_of(text, name), want);
}

static void test_fpregs_st_prints_raw_80_bits_and_value(void **state)
{
	int rc;
	char *t = render(fx, sizeof(fx), NULL, 0, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	expect_st(t, "st0", "0x3fffc000000000000000", "1.5");
	expect_st(t, "st1", "0xc0008000000000000000", "-2");
	expect_st(t, "st2", "0x00000000000000000000", "0");
	expect_st(t, "st3", "0x7fff8000000000000000", "inf");
	expect_st(t, "st4", "0x7fffc000000000000000", "nan");
	expect_st(t, "st5", "0x3fff4000000000000000", "invalid");
	expect_st(t, "st6", "0x80000000000000000000", "-0");
	/* 2^-16445, to the 21 digits that give back the same 80 bits */
	expect_st(t, "st7", "0x00000000000000000001", "3.64519953188247460253e-4951");
	free(t);
}

static void test_fpregs_ymm_upper_half_from_avx_component(void **state)
{
	int rc;
	char *t = render(fx, sizeof(fx), xs, sizeof(xs), &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_string_equal(line_of(t, "ymm0"), "ymm0 0x"
			    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
			    "0f0e0d0c0b0a09080706050403020100");
	assert_string_equal(line_of(t, "ymm15"), "ymm15 0x"
			    "000102030405060708090a0b0c0d0e0f"
			    "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0");
	free(t);
}

static void test_fpregs_ymm_upper_half_zero_when_xstate_bv_clear(void **state)
{
	int rc;
	char *t;

	(void)state;
	put64(xs + 512, 0x3);	/* AVX in its init state; the bytes are stale */
	t = render(fx, sizeof(fx), xs, sizeof(xs), &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(line_of(t, "ymm0"), "ymm0 0x"
			    "00000000000000000000000000000000"
			    "0f0e0d0c0b0a09080706050403020100");
	assert_int_equal(count_prefix(t, "ymm"), 16);
	free(t);
}

static void test_fpregs_no_ymm_without_xstate_or_avx(void **state)
{
	int rc;
	char *t;

	(void)state;
	t = render(fx, sizeof(fx), NULL, 0, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(count_prefix(t, "ymm"), 0);
	assert_int_equal(count_prefix(t, "xmm"), 16);
	free(t);

	/* A CPU without AVX: XCR0 lacks bit 2 and the area can stop at 576. */
	put64(xs + 464, 0x3);
	t = render(fx, sizeof(fx), xs, 576, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(count_prefix(t, "ymm"), 0);
	free(t);
}

static void test_fpregs_lines_come_in_order(void **state)
{
	static const char *const fixed[] = {
		"fcw", "fsw", "ftw", "fop", "fip", "fdp", "mxcsr",
	};
	int rc, n = 0;
	char *t = render(fx, sizeof(fx), xs, sizeof(xs), &rc), *save, *l;
	char want[16];

	(void)state;
	assert_int_equal(rc, 0);
	assert_int_equal(t[strlen(t) - 1], '\n');
	for (l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save), n++) {
		if (n < 7)
			snprintf(want, sizeof(want), "%s", fixed[n]);
		else if (n < 15)
			snprintf(want, sizeof(want), "st%d", n - 7);
		else if (n < 31)
			snprintf(want, sizeof(want), "xmm%d", n - 15);
		else
			snprintf(want, sizeof(want), "ymm%d", n - 31);
		assert_int_equal(strncmp(l, want, strlen(want)), 0);
		assert_int_equal(l[strlen(want)], ' ');
		assert_int_equal(strncmp(l + strlen(want) + 1, "0x", 2), 0);
	}
	assert_int_equal(n, 7 + 8 + 16 + 16);
	free(t);
}

static void test_fpregs_short_blobs_are_eio(void **state)
{
	int rc;

	(void)state;
	assert_null(render(NULL, 0, NULL, 0, &rc));
	assert_int_equal(rc, -EIO);
	assert_null(render(fx, 511, xs, sizeof(xs), &rc));
	assert_int_equal(rc, -EIO);
	/* An XSAVE area must at least hold its header... */
	assert_null(render(fx, sizeof(fx), xs, 575, &rc));
	assert_int_equal(rc, -EIO);
	/* ...and, when XCR0 says AVX, the whole AVX component. */
	assert_null(render(fx, sizeof(fx), xs, XSAVE_LEN - 1, &rc));
	assert_int_equal(rc, -EIO);
}

/* The file: thread 4243 has both regsets, 4250 only FXSAVE, 4242 none. */
static int setup_tree(void **state)
{
	struct fake_extra extra[] = {
		{ 4243, { 2, fx, sizeof(fx) } },
		{ 4243, { 0x202, xs, sizeof(xs) } },
		{ 4250, { 2, fx, sizeof(fx) } },
	};

	setup_blobs(state);
	/* The reader copies the blobs: the tests' render() keeps the originals. */
	fake_reader = fake_open(extra, NODE_COUNT(extra));
	return fake_reader ? 0 : -1;
}

static int teardown_tree(void **state)
{
	(void)state;
	reader_close(fake_reader);
	return 0;
}

static char *show(const char *path, int *rc)
{
	struct node_ctx c;
	struct sbuf sb = SBUF_INIT;

	assert_int_equal(fs_walk(fake_reader, path, &c), 0);
	*rc = fs_show(&c, &sb);
	if (*rc) {
		sbuf_free(&sb);
		return NULL;
	}
	return sbuf_detach(&sb, NULL);
}

static void test_fpregs_file_renders_the_threads_regsets(void **state)
{
	struct node_ctx c;
	struct stat st;
	int rc;
	char *t = show("/threads/4243/fpregs", &rc), *direct;

	(void)state;
	assert_int_equal(rc, 0);
	direct = render(fx, sizeof(fx), xs, sizeof(xs), &rc);
	assert_string_equal(t, direct);
	assert_int_equal(count_prefix(t, "ymm"), 16);

	/* Exact size, a read-only file. */
	assert_int_equal(fs_walk(fake_reader, "/threads/4243/fpregs", &c), 0);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_int_equal(st.st_size, strlen(t));
	assert_int_equal(st.st_mode, S_IFREG | 0400);
	free(direct);
	free(t);
}

static void test_fpregs_file_without_xstate_has_no_ymm(void **state)
{
	int rc;
	char *t = show("/threads/4250/fpregs", &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_int_equal(count_prefix(t, "ymm"), 0);
	assert_string_equal(line_of(t, "xmm0"), "xmm0 0x0f0e0d0c0b0a09080706050403020100");
	free(t);
}

static void test_fpregs_file_without_fxsave_is_eio(void **state)
{
	int rc;

	(void)state;
	assert_null(show("/threads/4242/fpregs", &rc));
	assert_int_equal(rc, -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fpregs_x86_64_desc_names_the_regsets),
		cmocka_unit_test_setup(test_fpregs_xmm_prints_most_significant_byte_first, setup_blobs),
		cmocka_unit_test_setup(test_fpregs_control_words_come_from_fxsave_offsets, setup_blobs),
		cmocka_unit_test_setup(test_fpregs_ftw_is_the_full_tag_word, setup_blobs),
		cmocka_unit_test_setup(test_fpregs_st_prints_raw_80_bits_and_value, setup_blobs),
		cmocka_unit_test_setup(test_fpregs_ymm_upper_half_from_avx_component, setup_blobs),
		cmocka_unit_test_setup(test_fpregs_ymm_upper_half_zero_when_xstate_bv_clear, setup_blobs),
		cmocka_unit_test_setup(test_fpregs_no_ymm_without_xstate_or_avx, setup_blobs),
		cmocka_unit_test_setup(test_fpregs_lines_come_in_order, setup_blobs),
		cmocka_unit_test_setup(test_fpregs_short_blobs_are_eio, setup_blobs),
	};
	const struct CMUnitTest tree_tests[] = {
		cmocka_unit_test(test_fpregs_file_renders_the_threads_regsets),
		cmocka_unit_test(test_fpregs_file_without_xstate_has_no_ymm),
		cmocka_unit_test(test_fpregs_file_without_fxsave_is_eio),
	};
	int failed = cmocka_run_group_tests_name("format", tests, NULL, NULL);

	return failed + cmocka_run_group_tests_name("file", tree_tests, setup_tree, teardown_tree);
}
