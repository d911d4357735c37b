/*
 * x86_64_parse_fp / i386_parse_fp: a -o rw fpregs write into copies of
 * the thread's FXSAVE and XSAVE images. Each field lands at its SDM
 * offset; ftw keeps only empty or not; a ymm line goes through the XSAVE
 * area with x87/SSE/AVX marked live; every refusal leaves both images
 * byte for byte as they were. The flat layouts (aarch64, arm, riscv64,
 * loongarch64): their rendering written back over other bytes gives the
 * rendered bytes back, values land at the kernel structs' offsets, and
 * refusals change nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/arch.h"

static uint8_t fx[512], xs[1024];

static void reset(int avx)
{
	memset(fx, 0, sizeof(fx));
	memset(xs, 0, sizeof(xs));
	fx[0] = 0x7f;			/* fcw 0x037f */
	fx[1] = 0x03;
	xs[464] = avx ? 0x7 : 0x3;	/* XCR0 as ptrace gives it */
	xs[512] = 0x3;			/* XSTATE_BV: AVX in its init state */
	memset(xs + 576, 0xee, 256);	/* stale upper halves, not live */
}

static int parse(const char *text)
{
	char why[128];

	return x86_64_parse_fp(text, strlen(text), fx, sizeof(fx), xs, sizeof(xs), why,
			       sizeof(why));
}

static void test_fp_parse_fields_land_at_their_offsets(void **state)
{
	uint32_t mxcsr;
	uint64_t fip;

	(void)state;
	reset(1);
	assert_int_equal(parse("mxcsr 0x1f80\nfip 0x401000\nfcw 895\n"
			       "st2 0x3fff8000000000000000 (1)\n"
			       "xmm15 0x000102030405060708090a0b0c0d0e0f\n"), ARCH_FP_FX);
	memcpy(&mxcsr, fx + 24, 4);
	assert_int_equal(mxcsr, 0x1f80);
	memcpy(&fip, fx + 8, 8);
	assert_int_equal(fip, 0x401000);
	assert_int_equal(fx[0], 0x7f);
	assert_int_equal(fx[32 + 2 * 16 + 9], 0x3f);	/* st2's sign/exponent */
	assert_int_equal(fx[32 + 2 * 16 + 7], 0x80);
	assert_int_equal(fx[160 + 15 * 16], 0x0f);	/* xmm15, least significant first */
	assert_int_equal(fx[160 + 15 * 16 + 15], 0x00);
	assert_int_equal(xs[512], 0x3);			/* no ymm line: xs untouched */
}

static void test_fp_parse_ftw_keeps_empty_or_not(void **state)
{
	(void)state;
	reset(0);
	/* physical 0 valid (00), 1 empty (11), 2 zero (01), the rest empty */
	assert_int_equal(parse("ftw 0xffdc\n"), ARCH_FP_FX);
	assert_int_equal(fx[4], 0x05);
}

static void test_fp_parse_ymm_goes_through_xsave(void **state)
{
	char text[200];

	(void)state;
	reset(1);
	snprintf(text, sizeof(text), "ymm1 0x%032x%032x\nxmm1 0x%032x\nmxcsr 0x1f80\n", 2, 1, 1);
	assert_int_equal(parse(text), ARCH_FP_XS);
	assert_int_equal(xs[512] & 0x7, 0x7);		/* x87, SSE, AVX live */
	assert_int_equal(xs[576 + 16], 0x02);		/* ymm1's upper half */
	assert_int_equal(xs[576], 0x00);		/* ymm0's: init state was zeros */
	assert_int_equal(xs[160 + 16], 0x01);		/* xmm1 in the legacy area */
	assert_int_equal(fx[160 + 16], 0x01);
	assert_int_equal(xs[24], 0x80);			/* mxcsr carried over */
	assert_int_equal(xs[464], 0x7);			/* XCR0 bytes kept */
}

static void test_fp_parse_refusals_change_nothing(void **state)
{
	static const char *const bad[] = {
		"xmm0 0x1\nnosuch 1\n", "xmm16 0x1\n", "st8 0\n", "fcw 0x10000\n",
		"xmm0 zz\n", "xmm0 0x1\nxmm0 0x2\n", "xmm0\n", "\n", "", "xmm0 0x1 2\n",
		"st1 0x3fff8000000000000000 (2)\n", "fcs 0x1\n", "xmm0 1\n",
		"xmm0 0x111111111111111111111111111111111\n", "xmm1 0x1\nymm1 0x2\n",
		"st01 0\n", "mxcsr -1\n",
	};
	uint8_t fx0[sizeof(fx)], xs0[sizeof(xs)];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset(1);
		memcpy(fx0, fx, sizeof(fx));
		memcpy(xs0, xs, sizeof(xs));
		if (parse(bad[i]) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_memory_equal(fx, fx0, sizeof(fx));
		assert_memory_equal(xs, xs0, sizeof(xs));
	}
	/* Without AVX there is no ymm to set. */
	reset(0);
	assert_int_equal(parse("ymm0 0x1\n"), -EINVAL);
}

static void test_fp_parse_i386_has_selectors(void **state)
{
	char why[128];
	uint32_t fip;
	const char *text = "fip 0x08048000\nfcs 0x23\nxmm7 0x1\n";

	(void)state;
	reset(0);
	assert_int_equal(i386_parse_fp(text, strlen(text), fx, sizeof(fx), xs, sizeof(xs), why,
				       sizeof(why)), ARCH_FP_FX);
	memcpy(&fip, fx + 8, 4);
	assert_int_equal(fip, 0x08048000);
	assert_int_equal(fx[12], 0x23);
	text = "xmm8 0x1\n";
	assert_int_equal(i386_parse_fp(text, strlen(text), fx, sizeof(fx), xs, sizeof(xs), why,
				       sizeof(why)), -EINVAL);
}

/* Renders blob with a's format_fp; the text (caller frees) or NULL. */
static char *render_flat(const struct arch_desc *a, const uint8_t *blob, size_t len)
{
	struct sbuf sb = SBUF_INIT;

	if (a->format_fp(blob, len, NULL, 0, &sb) != 0 || sb.err) {
		sbuf_free(&sb);
		return NULL;
	}
	sbuf_append(&sb, "", 1);	/* a C string */
	return sb.buf;
}

static void test_fp_parse_flat_round_trip(void **state)
{
	static const struct { const struct arch_desc *a; size_t len; } v[] = {
		{ &arch_aarch64, 528 }, { &arch_arm, 260 }, { &arch_riscv64, 264 },
		{ &arch_loongarch64, 272 },
	};
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t want[528], got[528];
		char *text;

		for (size_t k = 0; k < v[i].len; k++)
			want[k] = (uint8_t)(k * 37 + 11 + i);
		text = render_flat(v[i].a, want, v[i].len);
		assert_non_null(text);
		assert_non_null(v[i].a->parse_fp);
		memset(got, 0xa5, sizeof(got));
		assert_int_equal(v[i].a->parse_fp(text, strlen(text), got, v[i].len, NULL, 0, why,
						  sizeof(why)), ARCH_FP_FX);
		/* every byte the rendering shows came back (reserved ones stay) */
		{
			char *again = render_flat(v[i].a, got, v[i].len);

			assert_non_null(again);
			assert_string_equal(again, text);
			free(again);
		}
		free(text);
	}
}

static void test_fp_parse_flat_offsets(void **state)
{
	uint8_t fp[528] = { 0 }, want[16];
	char why[128];
	const char *t = "v8 0x00112233445566778899aabbccddeeff\n  fpcr   0x12345678\nv31 0x5\n";

	(void)state;
	assert_int_equal(aarch64_parse_fp(t, strlen(t), fp, sizeof(fp), NULL, 0, why, sizeof(why)),
			 ARCH_FP_FX);
	for (int k = 0; k < 16; k++)
		want[k] = (uint8_t)(0xff - 0x11 * k);	/* little-endian of the hex */
	assert_memory_equal(fp + 8 * 16, want, 16);
	assert_int_equal(fp[516] | fp[517] << 8 | fp[518] << 16 | (uint32_t)fp[519] << 24, 0x12345678);
	assert_int_equal(fp[31 * 16], 5);
	/* riscv64 by ABI name: fs0 is f8 */
	{
		uint8_t rv[264] = { 0 };
		const char *r = "fs0 0x400921fb54442d18\nfcsr 0x1f\n";

		assert_int_equal(riscv64_parse_fp(r, strlen(r), rv, sizeof(rv), NULL, 0, why,
						  sizeof(why)), ARCH_FP_FX);
		assert_int_equal(rv[8 * 8], 0x18);
		assert_int_equal(rv[8 * 8 + 7], 0x40);
		assert_int_equal(rv[256], 0x1f);
	}
}

static void test_fp_parse_flat_refusals_change_nothing(void **state)
{
	static const char *const bad[] = {
		"", "\n\n", "v32 0x1\n", "x0 0x1\n", "v1\n", "v1 0x1 0x2\n",
		"v1 0x1\nv1 0x2\n", "v1 0x112233445566778899aabbccddeeff0011\n",
		"v1 12\n" /* decimal for a 16-byte register */, "fpsr 0x123456789\n",
		"fpsr -1\n", "v2 0xzz\n", "v3 0x1\nbogus 1\n",
	};
	uint8_t fp[528], before[528];
	char why[128];

	(void)state;
	for (size_t k = 0; k < sizeof(fp); k++)
		fp[k] = (uint8_t)k;
	memcpy(before, fp, sizeof(fp));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(aarch64_parse_fp(bad[i], strlen(bad[i]), fp, sizeof(fp), NULL, 0,
						  why, sizeof(why)), -EINVAL);
		assert_memory_equal(fp, before, sizeof(fp));
		assert_true(why[0] != '\0');
	}
	/* too short a set to hold the layout */
	assert_int_equal(aarch64_parse_fp("v0 1\n", 5, fp, 512, NULL, 0, why, sizeof(why)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fp_parse_fields_land_at_their_offsets),
		cmocka_unit_test(test_fp_parse_ftw_keeps_empty_or_not),
		cmocka_unit_test(test_fp_parse_ymm_goes_through_xsave),
		cmocka_unit_test(test_fp_parse_refusals_change_nothing),
		cmocka_unit_test(test_fp_parse_i386_has_selectors),
		cmocka_unit_test(test_fp_parse_flat_round_trip),
		cmocka_unit_test(test_fp_parse_flat_offsets),
		cmocka_unit_test(test_fp_parse_flat_refusals_change_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
