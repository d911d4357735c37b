/*
 * libFuzzer target for the register-file write parsers (-o rw): regs
 * (arch/regs_parse.c) and fpregs (arch/x86_64_fp.c, arch/fp.c). The first
 * byte picks one (mod 12): 0..5 arch_parse_regs for x86_64, i386, aarch64,
 * arm, riscv64, loongarch64; 6, 7 the fpregs parser of x86_64 and i386;
 * 8..11 that of aarch64, arm, riscv64, loongarch64 (one flat set, its
 * kernel size, exactly allocated); the fpregs parsers run with
 * the thread's sets made of the input's bytes, AVX enabled when bit 3 of
 * the first byte is set (x86 only: '\x1e' and '\x1f' rather than 6, 7). The
 * rest is the text written, copied to an exact-size heap block so ASan
 * reports any read past len.
 *
 * What must hold:
 *   regs    a count within cap or -EINVAL with a terminated reason; every
 *           assignment a writable register, named once, its value within
 *           its width, and arch_apply_regs stores exactly that value.
 *   fpregs  a refusal changes no byte of either set (all or nothing); a
 *           success renders, and the rendering written back to fresh
 *           copies is accepted and renders the same (a file read back
 *           and written as it is changes nothing).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FX_LEN 512
#define XS_LEN 1024

static void check_why(const char *why, size_t whylen)
{
	if (!memchr(why, '\0', whylen))
		abort();
}

static void fuzz_regs(const struct arch_desc *a, const char *text, size_t len)
{
	struct arch_reg_set v[64];
	char why[96];
	unsigned char blob[4096];
	int n;

	memset(why, 'x', sizeof(why));
	why[sizeof(why) - 1] = '\0';
	n = arch_parse_regs(a, text, len, v, sizeof(v) / sizeof(v[0]), why, sizeof(why));
	if (n < 0) {
		if (n != -EINVAL)
			abort();
		check_why(why, sizeof(why));
		return;
	}
	if ((size_t)n > sizeof(v) / sizeof(v[0]) || a->regs_size > sizeof(blob))
		abort();
	memset(blob, 0xa5, sizeof(blob));
	if (arch_apply_regs(a, v, (size_t)n, blob, a->regs_size) != 0)
		abort();
	for (int i = 0; i < n; i++) {
		const struct arch_reg *r;

		if (v[i].idx >= a->nregs)
			abort();
		r = &a->regs[v[i].idx];
		if (r->ro || (r->size < 8 && v[i].value >> (8 * r->size)))
			abort();
		for (int k = 0; k < i; k++)
			if (v[k].idx == v[i].idx)
				abort();
		if (arch_reg_value(a, blob, a->regs_size, v[i].idx) != v[i].value)
			abort();
	}
}

/* The FP set's size for the parser being fuzzed (x86: the FXSAVE image). */
static size_t fx_len = FX_LEN;

/* Sets as a thread might have them: bytes of the input, AVX on or off. */
static void seed_sets(unsigned char *fx, unsigned char *xs, const uint8_t *data, size_t size,
		      bool avx)
{
	for (size_t i = 0; i < fx_len; i++)
		fx[i] = size ? data[i % size] : 0;
	memcpy(xs, fx, fx_len);
	memset(xs + fx_len, 0, XS_LEN - fx_len);
	xs[464] = avx ? 0x7 : 0x3;		/* XCR0 in the software bytes */
	xs[512] = size ? (data[0] >> 4) & 0x7 : 0;	/* XSTATE_BV */
	for (size_t i = 576; i < XS_LEN; i++)
		xs[i] = size ? (uint8_t)~data[i % size] : 0;
}

static void render(const struct arch_desc *a, const unsigned char *fx,
		   const unsigned char *xs, struct sbuf *out)
{
	if (a->format_fp(fx, fx_len, xs, XS_LEN, out) != 0 || out->err)
		abort();
}

static void fuzz_fp(const struct arch_desc *a, const char *text, size_t len,
		    const uint8_t *data, size_t size)
{
	unsigned char *fx = malloc(fx_len), *xs = malloc(XS_LEN);
	unsigned char *fx0 = malloc(fx_len), *xs0 = malloc(XS_LEN);
	struct sbuf once = SBUF_INIT, twice = SBUF_INIT;
	char why[96];
	int rc;

	if (!fx || !xs || !fx0 || !xs0)
		abort();
	seed_sets(fx, xs, data, size, data[0] & 8);
	memcpy(fx0, fx, fx_len);
	memcpy(xs0, xs, XS_LEN);
	rc = a->parse_fp(text, len, fx, fx_len, xs, XS_LEN, why, sizeof(why));
	if (rc < 0) {
		if (rc != -EINVAL || memcmp(fx, fx0, fx_len) || memcmp(xs, xs0, XS_LEN))
			abort();
		check_why(why, sizeof(why));
		goto out;
	}
	if (rc != ARCH_FP_FX && rc != ARCH_FP_XS)
		abort();
	render(a, fx, xs, &once);
	/* The rendering, written back over the sets as they were. */
	memcpy(fx, fx0, fx_len);
	memcpy(xs, xs0, XS_LEN);
	rc = a->parse_fp(once.buf, once.len, fx, fx_len, xs, XS_LEN, why, sizeof(why));
	if (rc != ARCH_FP_FX && rc != ARCH_FP_XS)
		abort();
	render(a, fx, xs, &twice);
	if (once.len != twice.len || memcmp(once.buf, twice.buf, once.len) != 0)
		abort();
out:
	sbuf_free(&once);
	sbuf_free(&twice);
	free(fx);
	free(xs);
	free(fx0);
	free(xs0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct arch_desc *const archs[] = {
		&arch_x86_64, &arch_i386, &arch_aarch64, &arch_arm, &arch_riscv64,
		&arch_loongarch64, &arch_x86_64, &arch_i386,
		&arch_aarch64, &arch_arm, &arch_riscv64, &arch_loongarch64,
	};
	static const size_t fp_lens[] = { FX_LEN, FX_LEN, 528, 260, 264, 272 };
	unsigned pick;
	char *text;

	if (size == 0)
		return 0;
	pick = data[0] % 12;
	text = malloc(size - 1 ? size - 1 : 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	if (pick < 6)
		fuzz_regs(archs[pick], text, size - 1);
	else {
		fx_len = fp_lens[pick - 6];
		fuzz_fp(archs[pick], text, size - 1, data, size);
	}
	free(text);
	return 0;
}
