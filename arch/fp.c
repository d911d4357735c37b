/*
 * threads/<tid>/fpregs for the architectures whose FP state is one flat
 * regset: a bank of registers of one width, then a control/status word or
 * two. Each is described by a table (where the bank starts, how wide a
 * register is, the names) and rendered as "name 0x<hex>" lines, the hex
 * as wide as the register. Bytes are assembled little-endian one at a
 * time, so the text does not depend on the host.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"

/* A control or status word after the bank. */
struct fp_word {
	const char *name;
	uint16_t offset;
	uint8_t size;
};

struct fp_layout {
	size_t min_len;			/* the regset must hold this much */
	uint16_t bank;			/* offset of register 0 */
	uint8_t width;			/* bytes per register */
	uint8_t count;
	const char *prefix;		/* names: prefix + index ... */
	const char *const *names;	/* ... unless a list is given */
	const struct fp_word *words;
	size_t nwords;
};

/* Appends n little-endian bytes as hex, most significant first. */
static void put_hex(struct sbuf *out, const uint8_t *p, size_t n)
{
	static const char digit[] = "0123456789abcdef";
	char buf[64];

	for (size_t i = 0; i < n && i < sizeof(buf) / 2; i++) {
		buf[2 * i] = digit[p[n - 1 - i] >> 4];
		buf[2 * i + 1] = digit[p[n - 1 - i] & 0xf];
	}
	sbuf_append(out, buf, 2 * (n < sizeof(buf) / 2 ? n : sizeof(buf) / 2));
}

static int format_flat(const struct fp_layout *l, const void *blob, size_t len,
		       struct sbuf *out)
{
	const uint8_t *p = blob;

	if (!p || len < l->min_len)
		return -EIO;
	for (unsigned i = 0; i < l->count; i++) {
		if (l->names)
			sbuf_printf(out, "%s 0x", l->names[i]);
		else
			sbuf_printf(out, "%s%u 0x", l->prefix, i);
		put_hex(out, p + l->bank + (size_t)l->width * i, l->width);
		sbuf_puts(out, "\n");
	}
	for (size_t k = 0; k < l->nwords; k++) {
		sbuf_printf(out, "%s 0x", l->words[k].name);
		put_hex(out, p + l->words[k].offset, l->words[k].size);
		sbuf_puts(out, "\n");
	}
	return out->err;
}

/* ---- written back (-o rw) ---- */

__attribute__((format(printf, 3, 4)))
static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int hexdigit(char c)
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
 * [s, e) as n little-endian bytes: 0x and 1 to 2n hex digits (as
 * format_flat writes, or shorter), or a decimal that fits when n <= 8.
 */
static bool value_bytes(const char *s, const char *e, size_t n, uint8_t *out)
{
	memset(out, 0, n);
	if (e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		if ((size_t)(e - s) > 2 * n)
			return false;
		for (size_t k = 0; e > s; k++) {
			int lo = hexdigit(*--e), hi = 0;

			if (e > s)
				hi = hexdigit(*--e);
			if (lo < 0 || hi < 0)
				return false;
			out[k] = (uint8_t)(hi << 4 | lo);
		}
		return true;
	}
	if (n <= 8 && s < e) {
		uint64_t v = 0;

		for (; s < e; s++)
			if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10u, &v) ||
			    __builtin_add_overflow(v, (unsigned)(*s - '0'), &v))
				return false;
		if (n < 8 && v >> (8 * n))
			return false;
		for (size_t k = 0; k < n; k++)
			out[k] = (uint8_t)(v >> (8 * k));
		return true;
	}
	return false;
}

/* The slot of a name format_flat writes: 0..count-1 the bank, then words. */
static int flat_slot(const struct fp_layout *l, const char *s, size_t len)
{
	for (unsigned i = 0; i < l->count; i++) {
		char name[16];

		if (l->names)
			snprintf(name, sizeof(name), "%s", l->names[i]);
		else
			snprintf(name, sizeof(name), "%s%u", l->prefix, i);
		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return (int)i;
	}
	for (size_t k = 0; k < l->nwords; k++)
		if (strlen(l->words[k].name) == len && memcmp(l->words[k].name, s, len) == 0)
			return (int)(l->count + k);
	return -1;
}

/*
 * fpregs written back on a flat layout: `name value` lines as
 * format_flat renders them, any subset in any order, each name once;
 * applied to a copy, and to fp only when every line is good.
 */
static int parse_flat(const struct fp_layout *l, const char *text, size_t len, void *fp,
		      size_t fplen, char *why, size_t whylen)
{
	const char *p = text, *end = text + len;
	uint8_t copy[1024], seen[64] = { 0 };
	unsigned line = 0, n = 0;

	if (!fp || fplen < l->min_len || fplen > sizeof(copy))
		return refuse(why, whylen, "no FP state to change");
	memcpy(copy, fp, fplen);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *name, *ne, *val, *ve;
		uint8_t v[32];
		size_t width, off;
		int slot;

		if (!eol)
			eol = end;
		line++;
		while (p < eol && blank(*p))
			p++;
		if (p == eol) {
			p = eol + 1;
			continue;
		}
		for (name = p; p < eol && !blank(*p); p++)
			;
		ne = p;
		while (p < eol && blank(*p))
			p++;
		for (val = p; p < eol && !blank(*p); p++)
			;
		ve = p;
		while (p < eol && blank(*p))
			p++;
		if (val == ve || p != eol)
			return refuse(why, whylen, "line %u: want `name value`", line);
		slot = flat_slot(l, name, (size_t)(ne - name));
		if (slot < 0)
			return refuse(why, whylen, "line %u: no such FP register", line);
		if (seen[slot])
			return refuse(why, whylen, "line %u: a register named twice", line);
		seen[slot] = 1;
		if (slot < l->count) {
			width = l->width;
			off = l->bank + (size_t)l->width * (size_t)slot;
		} else {
			width = l->words[slot - l->count].size;
			off = l->words[slot - l->count].offset;
		}
		if (width > sizeof(v) || !value_bytes(val, ve, width, v))
			return refuse(why, whylen, "line %u: not a value of %zu bytes", line, width);
		memcpy(copy + off, v, width);
		n++;
		p = eol + 1;
	}
	if (n == 0)
		return refuse(why, whylen, "nothing to set");
	memcpy(fp, copy, fplen);
	return ARCH_FP_FX;
}

#define NWORDS(w) (sizeof(w) / sizeof(w[0]))

/* struct user_fpsimd_state: vregs[32] (128-bit), fpsr, fpcr, 8 reserved. */
static const struct fp_word aarch64_words[] = {
	{ "fpsr", 512, 4 }, { "fpcr", 516, 4 },
};

static const struct fp_layout aarch64_fp = {
	.min_len = 520, .bank = 0, .width = 16, .count = 32, .prefix = "v",
	.words = aarch64_words, .nwords = NWORDS(aarch64_words),
};

/* The VFP regset (struct user_vfp): fpregs[32] (64-bit), then fpscr. */
static const struct fp_word arm_words[] = { { "fpscr", 256, 4 } };

static const struct fp_layout arm_fp = {
	.min_len = 260, .bank = 0, .width = 8, .count = 32, .prefix = "d",
	.words = arm_words, .nwords = NWORDS(arm_words),
};

/* struct __riscv_d_ext_state: f[32] (64-bit), fcsr; gdb's ABI names. */
static const char *const riscv64_fp_names[32] = {
	"ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7",
	"fs0", "fs1", "fa0", "fa1", "fa2", "fa3", "fa4", "fa5",
	"fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7",
	"fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
};

static const struct fp_word riscv64_words[] = { { "fcsr", 256, 4 } };

static const struct fp_layout riscv64_fp = {
	.min_len = 260, .bank = 0, .width = 8, .count = 32, .names = riscv64_fp_names,
	.words = riscv64_words, .nwords = NWORDS(riscv64_words),
};

/*
 * struct user_fp_state: fpr[32] (64-bit), fcc (the eight one-byte
 * condition flags gdb shows as fcc0..fcc7), fcsr.
 */
static const struct fp_word loongarch64_words[] = {
	{ "fcc0", 256, 1 }, { "fcc1", 257, 1 }, { "fcc2", 258, 1 }, { "fcc3", 259, 1 },
	{ "fcc4", 260, 1 }, { "fcc5", 261, 1 }, { "fcc6", 262, 1 }, { "fcc7", 263, 1 },
	{ "fcsr", 264, 4 },
};

static const struct fp_layout loongarch64_fp = {
	.min_len = 268, .bank = 0, .width = 8, .count = 32, .prefix = "f",
	.words = loongarch64_words, .nwords = NWORDS(loongarch64_words),
};

int aarch64_format_fp(const void *fp, size_t len, const void *xs, size_t xslen,
		      struct sbuf *out)
{
	(void)xs, (void)xslen;
	return format_flat(&aarch64_fp, fp, len, out);
}

int arm_format_fp(const void *fp, size_t len, const void *xs, size_t xslen,
		  struct sbuf *out)
{
	(void)xs, (void)xslen;
	return format_flat(&arm_fp, fp, len, out);
}

int riscv64_format_fp(const void *fp, size_t len, const void *xs, size_t xslen,
		      struct sbuf *out)
{
	(void)xs, (void)xslen;
	return format_flat(&riscv64_fp, fp, len, out);
}

int loongarch64_format_fp(const void *fp, size_t len, const void *xs, size_t xslen,
			  struct sbuf *out)
{
	(void)xs, (void)xslen;
	return format_flat(&loongarch64_fp, fp, len, out);
}

int aarch64_parse_fp(const char *text, size_t len, void *fp, size_t fplen, void *xs,
		size_t xslen, char *why, size_t whylen)
{
	(void)xs, (void)xslen;
	return parse_flat(&aarch64_fp, text, len, fp, fplen, why, whylen);
}

int arm_parse_fp(const char *text, size_t len, void *fp, size_t fplen, void *xs,
		size_t xslen, char *why, size_t whylen)
{
	(void)xs, (void)xslen;
	return parse_flat(&arm_fp, text, len, fp, fplen, why, whylen);
}

int riscv64_parse_fp(const char *text, size_t len, void *fp, size_t fplen, void *xs,
		size_t xslen, char *why, size_t whylen)
{
	(void)xs, (void)xslen;
	return parse_flat(&riscv64_fp, text, len, fp, fplen, why, whylen);
}

int loongarch64_parse_fp(const char *text, size_t len, void *fp, size_t fplen, void *xs,
		size_t xslen, char *why, size_t whylen)
{
	(void)xs, (void)xslen;
	return parse_flat(&loongarch64_fp, text, len, fp, fplen, why, whylen);
}
