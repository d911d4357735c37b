/*
 * threads/<tid>/fpregs for the architectures whose FP state is one flat
 * regset: a bank of registers of one width, then a control/status word or
 * two. Each is described by a table (where the bank starts, how wide a
 * register is, the names) and rendered as "name 0x<hex>" lines, the hex
 * as wide as the register. Bytes are assembled little-endian one at a
 * time, so the text does not depend on the host.
 */
#include <errno.h>
#include <stdint.h>

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
