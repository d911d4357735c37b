/*
 * x86 FP and vector state for threads/<tid>/fpregs, for x86_64 and i386
 * tasks, from the two regsets the kernel hands out: the 512-byte FXSAVE
 * image (NT_PRFPREG of a 64-bit task, NT_PRXFPREG of a 32-bit one; x87, SSE,
 * mxcsr), and NT_X86_XSTATE, the XSAVE area in standard (non-compacted)
 * form, whose AVX component holds the upper halves of ymm0..15. Offsets
 * are the Intel SDM's (vol. 1, 10.5.1 and 13.4); bytes are read one at a
 * time so the formatter gives the same text on a big-endian host.
 *
 * Names follow the issue, which follows the Intel manuals; gdb spells
 * three of them differently: fcw = fctrl, fsw = fstat, ftw = ftag, and
 * splits fip into fiseg:fioff and fdp into foseg:fooff (high:low 32 bits).
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/arch.h"

/* The FXSAVE image (offsets of the 64-bit form; see format_fx). */
enum {
	FX_FCW = 0,
	FX_FSW = 2,
	FX_FTW = 4,		/* abridged: one "not empty" bit per register */
	FX_FOP = 6,
	FX_FIP = 8,
	FX_FDP = 16,
	FX_MXCSR = 24,
	FX_ST = 32,		/* st0..7, 16 bytes apart, 10 used */
	FX_XMM = 160,		/* xmm0..15, 16 bytes each */
	FX_SIZE = 512,
};

/* The XSAVE area: the FXSAVE image, then the header, then components. */
enum {
	/*
	 * Software-usable bytes of the legacy area: in the ptrace and core
	 * copies Linux stores XCR0 here (asm/user.h), the features the OS
	 * enabled, so a CPU without AVX gets no ymm lines at all.
	 */
	XS_XCR0 = 464,
	XS_XSTATE_BV = 512,	/* which components hold non-init state */
	XS_HEADER_END = 576,
	XS_YMM_HI = 576,	/* AVX: bits 255:128 of ymm0..15 */
};

#define XFEATURE_AVX (UINT64_C(1) << 2)

static unsigned le16(const uint8_t *p)
{
	return p[0] | (unsigned)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Appends n little-endian bytes as hex, most significant first. */
static void put_hex(struct sbuf *out, const uint8_t *p, size_t n)
{
	static const char digit[] = "0123456789abcdef";
	char buf[64];

	while (n) {
		size_t k = n > sizeof(buf) / 2 ? sizeof(buf) / 2 : n;

		for (size_t i = 0; i < k; i++) {
			buf[2 * i] = digit[p[n - 1 - i] >> 4];
			buf[2 * i + 1] = digit[p[n - 1 - i] & 0xf];
		}
		sbuf_append(out, buf, 2 * k);
		n -= k;
	}
}

/* Tag classes of the full x87 tag word (SDM vol. 1, 8.1.7). */
enum { TAG_VALID = 0, TAG_ZERO = 1, TAG_SPECIAL = 2, TAG_EMPTY = 3 };

/*
 * The class of an 80-bit register. FXSAVE keeps only empty/non-empty, so
 * the full tag word gdb shows as ftag is rebuilt from the contents, as
 * FSAVE would have stored it: NaN, infinity, denormal and the encodings
 * with the integer bit wrong are all "special".
 */
static unsigned st_class(const uint8_t *st)
{
	uint64_t sig = le64(st);
	unsigned exp = le16(st + 8) & 0x7fff;

	if (exp == 0x7fff)
		return TAG_SPECIAL;
	if (exp == 0)
		return sig ? TAG_SPECIAL : TAG_ZERO;
	return sig >> 63 ? TAG_VALID : TAG_SPECIAL;
}

static unsigned full_tag_word(const uint8_t *fx)
{
	unsigned top = (le16(fx + FX_FSW) >> 11) & 7;
	unsigned tw = 0;

	/* Tags are by physical register; st(i) is physical (top + i) mod 8. */
	for (unsigned phys = 0; phys < 8; phys++) {
		unsigned tag = TAG_EMPTY;

		if (fx[FX_FTW] >> phys & 1)
			tag = st_class(fx + FX_ST + 16 * ((phys - top) & 7));
		tw |= tag << (2 * phys);
	}
	return tw;
}

/*
 * " (value)" for an st register, as a decimal with enough digits (21) to
 * give back the same 80 bits. Only when the host's long double holds every
 * x87 value exactly (x86, and the IEEE quad of arm64 and riscv64): a host
 * with a narrower one would print rounded, overflowed or flushed values,
 * so there the raw hex stands alone.
 */
static void put_st_value(struct sbuf *out, const uint8_t *st)
{
	uint64_t sig = le64(st);
	unsigned se = le16(st + 8), exp = se & 0x7fff;
	bool neg = se >> 15, integer = sig >> 63;
	const char *sign = neg ? "-" : "";

	if (exp == 0x7fff) {
		/* Without the integer bit these are pseudo-infinity/NaN. */
		if (!integer)
			sbuf_puts(out, " (invalid)");
		else if ((sig << 1) == 0)
			sbuf_printf(out, " (%sinf)", sign);
		else
			sbuf_printf(out, " (%snan)", sign);
		return;
	}
	if (exp != 0 && !integer) {
		sbuf_puts(out, " (invalid)");	/* unnormal: the FPU refuses it */
		return;
	}
#if LDBL_MANT_DIG >= 64 && LDBL_MAX_EXP >= 16384 && LDBL_MIN_EXP <= -16381
	{
		/* Denormals use the exponent of the smallest normal, 1. */
		int e = (exp ? (int)exp : 1) - 16383 - 63;
		long double v = ldexpl((long double)sig, e);

		sbuf_printf(out, " (%.21Lg)", neg ? -v : v);
	}
#endif
}

/*
 * Both flavours of the FXSAVE image: the 64-bit one (REX.W form) holds
 * 64-bit fip and fdp and sixteen xmm registers; the 32-bit one, as an
 * i386 task's NT_PRXFPREG carries it, splits each pointer into a 32-bit
 * offset and a 16-bit selector (fcs at 12, fds at 20) and has eight.
 */
static int format_fx(const uint8_t *fx, size_t fxlen, const uint8_t *xs, size_t xslen,
		     bool is64, struct sbuf *out)
{
	unsigned nxmm = is64 ? 16 : 8;
	bool ymm = false, ymm_live = false;

	/* Check every length first, so a failure leaves out untouched. */
	if (!fx || fxlen < FX_SIZE)
		return -EIO;
	if (xs && xslen) {
		if (xslen < XS_HEADER_END)
			return -EIO;
		ymm = le64(xs + XS_XCR0) & XFEATURE_AVX;
		/*
		 * A clear XSTATE_BV bit means the component is in its init
		 * state: the upper halves are zero, whatever the bytes say.
		 */
		ymm_live = ymm && (le64(xs + XS_XSTATE_BV) & XFEATURE_AVX);
		if (ymm && xslen < XS_YMM_HI + 16 * nxmm)
			return -EIO;
	}

	sbuf_printf(out, "fcw 0x%04x\n", le16(fx + FX_FCW));
	sbuf_printf(out, "fsw 0x%04x\n", le16(fx + FX_FSW));
	sbuf_printf(out, "ftw 0x%04x\n", full_tag_word(fx));
	sbuf_printf(out, "fop 0x%04x\n", le16(fx + FX_FOP));
	if (is64) {
		sbuf_printf(out, "fip 0x%016llx\n", (unsigned long long)le64(fx + FX_FIP));
		sbuf_printf(out, "fdp 0x%016llx\n", (unsigned long long)le64(fx + FX_FDP));
	} else {
		sbuf_printf(out, "fip 0x%08lx\n", (unsigned long)le32(fx + FX_FIP));
		sbuf_printf(out, "fcs 0x%04x\n", le16(fx + FX_FIP + 4));
		sbuf_printf(out, "fdp 0x%08lx\n", (unsigned long)le32(fx + FX_FDP));
		sbuf_printf(out, "fds 0x%04x\n", le16(fx + FX_FDP + 4));
	}
	sbuf_printf(out, "mxcsr 0x%08lx\n", (unsigned long)le32(fx + FX_MXCSR));

	for (unsigned i = 0; i < 8; i++) {
		const uint8_t *st = fx + FX_ST + 16 * i;

		sbuf_printf(out, "st%u 0x", i);
		put_hex(out, st, 10);
		put_st_value(out, st);
		sbuf_puts(out, "\n");
	}
	for (unsigned i = 0; i < nxmm; i++) {
		sbuf_printf(out, "xmm%u 0x", i);
		put_hex(out, fx + FX_XMM + 16 * i, 16);
		sbuf_puts(out, "\n");
	}
	for (unsigned i = 0; ymm && i < nxmm; i++) {
		static const uint8_t zero[16];

		sbuf_printf(out, "ymm%u 0x", i);
		put_hex(out, ymm_live ? xs + XS_YMM_HI + 16 * i : zero, 16);
		put_hex(out, fx + FX_XMM + 16 * i, 16);
		sbuf_puts(out, "\n");
	}
	return out->err;
}

int x86_64_format_fp(const void *fx, size_t fxlen, const void *xs, size_t xslen,
		     struct sbuf *out)
{
	return format_fx(fx, fxlen, xs, xslen, true, out);
}

int i386_format_fp(const void *fx, size_t fxlen, const void *xs, size_t xslen,
		   struct sbuf *out)
{
	return format_fx(fx, fxlen, xs, xslen, false, out);
}
