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
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/*
 * fpregs written back (-o rw): the lines format_fx renders, any subset in
 * any order. Every line is parsed and checked before a byte of fx or xs
 * changes. st<i> takes its 80 bits in hex; the decimal after it, when
 * given (a line read back and written as it was), must be the one the
 * hex renders to, so an edit of the decimal alone is refused rather than
 * ignored. ftw takes the full tag word and stores what FXSAVE keeps of
 * it: empty (11) or not, per register. ymm<i> sets xmm<i> too, so the two
 * in one write are refused.
 */
enum fp_field { F_FCW, F_FSW, F_FTW, F_FOP, F_FIP, F_FCS, F_FDP, F_FDS, F_MXCSR,
		F_ST, F_XMM, F_YMM };

struct fp_set {
	enum fp_field f;
	unsigned i;		/* st<i>, xmm<i>, ymm<i> */
	uint8_t v[32];		/* little-endian */
};

__attribute__((format(printf, 3, 4)))
static int fp_refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * [s, e) into n little-endian bytes: 0x and at most 2n hex digits, or
 * (n <= 8) a decimal that fits.
 */
static bool parse_bytes(const char *s, const char *e, size_t n, uint8_t *out)
{
	memset(out, 0, n);
	if (e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		if ((size_t)(e - s) > 2 * n)
			return false;
		for (size_t k = 0; e > s; k++) {
			int lo = hexval(*--e), hi = e > s ? hexval(e[-1]) : 0;

			if (lo < 0 || hi < 0)
				return false;
			if (e > s)
				e--;
			out[k] = (uint8_t)(hi << 4 | lo);
		}
		return true;
	}
	if (n <= 8 && s < e) {
		uint64_t v = 0;

		for (; s < e; s++) {
			if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10u, &v) ||
			    __builtin_add_overflow(v, (unsigned)(*s - '0'), &v))
				return false;
		}
		if (n < 8 && v >> (8 * n))
			return false;
		for (size_t k = 0; k < n; k++)
			out[k] = (uint8_t)(v >> (8 * k));
		return true;
	}
	return false;
}

/* A name of format_fx's, with its width in bytes; false if not one. */
static bool fp_name(const char *s, size_t len, bool is64, bool ymm, enum fp_field *f,
		    unsigned *i, size_t *width)
{
	static const struct { const char *name; enum fp_field f; size_t w; bool only64, only32; } fixed[] = {
		{ "fcw", F_FCW, 2, false, false }, { "fsw", F_FSW, 2, false, false },
		{ "ftw", F_FTW, 2, false, false }, { "fop", F_FOP, 2, false, false },
		{ "fip", F_FIP, 8, true, false }, { "fdp", F_FDP, 8, true, false },
		{ "fip", F_FIP, 4, false, true }, { "fdp", F_FDP, 4, false, true },
		{ "fcs", F_FCS, 2, false, true }, { "fds", F_FDS, 2, false, true },
		{ "mxcsr", F_MXCSR, 4, false, false },
	};
	static const struct { const char *prefix; enum fp_field f; size_t w; } vec[] = {
		{ "st", F_ST, 10 }, { "xmm", F_XMM, 16 }, { "ymm", F_YMM, 32 },
	};

	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
		if (strlen(fixed[k].name) == len && memcmp(fixed[k].name, s, len) == 0 &&
		    !(fixed[k].only64 && !is64) && !(fixed[k].only32 && is64)) {
			*f = fixed[k].f;
			*i = 0;
			*width = fixed[k].w;
			return true;
		}
	for (size_t k = 0; k < sizeof(vec) / sizeof(vec[0]); k++) {
		size_t pl = strlen(vec[k].prefix);
		unsigned max = vec[k].f == F_ST ? 8 : is64 ? 16 : 8, v = 0;

		if (len <= pl || len > pl + 2 || memcmp(s, vec[k].prefix, pl) != 0)
			continue;
		if (len == pl + 2 && s[pl] == '0')
			return false;	/* "st05" */
		for (size_t j = pl; j < len; j++) {
			if (s[j] < '0' || s[j] > '9')
				return false;
			v = v * 10 + (unsigned)(s[j] - '0');
		}
		if (v >= max || (vec[k].f == F_YMM && !ymm))
			return false;
		*f = vec[k].f;
		*i = v;
		*width = vec[k].w;
		return true;
	}
	return false;
}

static bool fp_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void put_le(uint8_t *p, const uint8_t *v, size_t n)
{
	memcpy(p, v, n);
}

static int parse_fx(const char *text, size_t len, uint8_t *fx, size_t fxlen, uint8_t *xs,
		    size_t xslen, bool is64, char *why, size_t whylen)
{
	const char *p = text, *end = text + len;
	unsigned nxmm = is64 ? 16 : 8, line = 0;
	bool ymm = false, ymm_live;
	struct fp_set v[64];
	size_t n = 0;
	bool any_ymm = false;

	if (!fx || fxlen < FX_SIZE)
		return fp_refuse(why, whylen, "no FP state to change");
	if (xs && xslen >= XS_HEADER_END) {
		ymm = le64(xs + XS_XCR0) & XFEATURE_AVX;
		if (ymm && xslen < XS_YMM_HI + 16 * nxmm)
			return fp_refuse(why, whylen, "the extended state is too short");
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *nl, *name, *ne, *val, *ve, *rest;
		enum fp_field f;
		unsigned idx;
		size_t width;

		if (!eol)
			eol = end;
		nl = eol;
		line++;
		while (p < eol && fp_blank(*p))
			p++;
		if (p == eol) {
			p = eol + 1;
			continue;
		}
		name = p;
		while (p < eol && !fp_blank(*p))
			p++;
		ne = p;
		while (p < eol && fp_blank(*p))
			p++;
		val = p;
		while (p < eol && !fp_blank(*p))
			p++;
		ve = p;
		while (p < eol && fp_blank(*p))
			p++;
		rest = p;
		while (eol > rest && fp_blank(eol[-1]))
			eol--;
		if (val == ve)
			return fp_refuse(why, whylen, "line %u: want `name value`", line);
		if (!fp_name(name, (size_t)(ne - name), is64, ymm, &f, &idx, &width))
			return fp_refuse(why, whylen, "line %u: no register %.*s%s", line,
					 (int)(ne - name > 16 ? 16 : ne - name), name,
					 !ymm && ne - name > 3 && memcmp(name, "ymm", 3) == 0 ?
					 " (no AVX state)" : "");
		if (n == sizeof(v) / sizeof(v[0]))
			return fp_refuse(why, whylen, "line %u: too many lines", line);
		if (!parse_bytes(val, ve, width, v[n].v))
			return fp_refuse(why, whylen, "line %u: %.*s: not a %zu-bit number", line,
					 (int)(ne - name), name, width * 8);
		/* xmm<i> is ymm<i>'s low half: both (a whole file) if they agree. */
		for (size_t k = 0; k < n; k++)
			if ((v[k].f == f && v[k].i == idx) ||
			    (v[k].i == idx && ((v[k].f == F_XMM && f == F_YMM) ||
					       (v[k].f == F_YMM && f == F_XMM)) &&
			     memcmp(v[k].v, v[n].v, 16) != 0))
				return fp_refuse(why, whylen, "line %u: %.*s set twice", line,
						 (int)(ne - name), name);
		if (rest < eol) {
			struct sbuf sb = SBUF_INIT;
			bool same;

			/* Only st<i>'s own "(value)", as read. */
			if (f != F_ST)
				return fp_refuse(why, whylen, "line %u: want `name value`", line);
			put_st_value(&sb, v[n].v);
			same = !sb.err && sb.len == (size_t)(eol - rest) + 1 &&
			       memcmp(sb.buf + 1, rest, (size_t)(eol - rest)) == 0;
			sbuf_free(&sb);
			if (!same)
				return fp_refuse(why, whylen,
						 "line %u: %.*s: the value in parentheses is not the hex's; "
						 "give the hex alone", line, (int)(ne - name), name);
		}
		v[n].f = f;
		v[n].i = idx;
		any_ymm |= f == F_YMM;
		n++;
		p = nl + 1;
	}
	if (n == 0)
		return fp_refuse(why, whylen, "nothing to set");

	/* All checked: now the bytes. */
	ymm_live = ymm && (le64(xs + XS_XSTATE_BV) & XFEATURE_AVX);
	if (any_ymm && !ymm_live)
		memset(xs + XS_YMM_HI, 0, 16 * nxmm);	/* init state reads as zeros */
	for (size_t k = 0; k < n; k++) {
		const uint8_t *b = v[k].v;
		unsigned i = v[k].i;

		switch (v[k].f) {
		case F_FCW: put_le(fx + FX_FCW, b, 2); break;
		case F_FSW: put_le(fx + FX_FSW, b, 2); break;
		case F_FOP: put_le(fx + FX_FOP, b, 2); break;
		case F_FTW: {
			unsigned tw = le16(b), ab = 0;

			for (unsigned phys = 0; phys < 8; phys++)
				if (((tw >> (2 * phys)) & 3) != TAG_EMPTY)
					ab |= 1u << phys;
			fx[FX_FTW] = (uint8_t)ab;
			break;
		}
		case F_FIP: put_le(fx + FX_FIP, b, is64 ? 8 : 4); break;
		case F_FDP: put_le(fx + FX_FDP, b, is64 ? 8 : 4); break;
		case F_FCS: put_le(fx + FX_FIP + 4, b, 2); break;
		case F_FDS: put_le(fx + FX_FDP + 4, b, 2); break;
		case F_MXCSR: put_le(fx + FX_MXCSR, b, 4); break;
		case F_ST: put_le(fx + FX_ST + 16 * i, b, 10); break;
		case F_XMM: put_le(fx + FX_XMM + 16 * i, b, 16); break;
		case F_YMM:
			put_le(fx + FX_XMM + 16 * i, b, 16);
			put_le(xs + XS_YMM_HI + 16 * i, b + 16, 16);
			break;
		}
	}
	if (!any_ymm)
		return ARCH_FP_FX;
	/*
	 * The upper halves only go in through the XSAVE area, which carries
	 * the legacy state too: fx's registers (not its reserved tail), and
	 * x87, SSE and AVX marked as not in their init state.
	 */
	memcpy(xs, fx, FX_XMM + 16 * 16);
	xs[XS_XSTATE_BV] |= 0x7;
	return ARCH_FP_XS;
}

int x86_64_parse_fp(const char *text, size_t len, void *fx, size_t fxlen, void *xs,
		    size_t xslen, char *why, size_t whylen)
{
	return parse_fx(text, len, fx, fxlen, xs, xslen, true, why, whylen);
}

int i386_parse_fp(const char *text, size_t len, void *fx, size_t fxlen, void *xs,
		  size_t xslen, char *why, size_t whylen)
{
	return parse_fx(text, len, fx, fxlen, xs, xslen, false, why, whylen);
}
