/*
 * threads/<tid>/regs written back: the text arch_format_regs renders,
 * parsed into assignments. The whole write is checked before anything is
 * applied, so a write is either all of it or none of it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"

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

/* A number of [s, e) fitting in bits: 0x hex, decimal, or -decimal. */
static bool parse_value(const char *s, const char *e, unsigned bits, uint64_t *out)
{
	uint64_t v = 0, max = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
	bool neg = false, hex = false;

	if (s < e && *s == '-') {
		neg = true;
		s++;
	} else if (e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		hex = true;
		s += 2;
	}
	if (s == e)
		return false;
	for (; s < e; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (hex && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (hex && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (__builtin_mul_overflow(v, hex ? 16u : 10u, &v) ||
		    __builtin_add_overflow(v, d, &v))
			return false;
	}
	if (neg) {
		/* Down to -2^(bits-1): the most negative value of the width. */
		if (v > max / 2 + 1)
			return false;
		v = (0 - v) & max;
	} else if (v > max) {
		return false;
	}
	*out = v;
	return true;
}

int arch_parse_regs(const struct arch_desc *a, const char *text, size_t len,
		    struct arch_reg_set *out, size_t cap, char *why, size_t whylen)
{
	const char *p = text, *end = text + len;
	size_t n = 0;
	unsigned line = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *name, *name_end, *val, *val_end;
		char key[32];
		int idx;

		if (!eol)
			eol = end;
		line++;
		while (p < eol && blank(*p))
			p++;
		if (p == eol) {
			p = eol + 1;
			continue;
		}
		name = p;
		while (p < eol && !blank(*p))
			p++;
		name_end = p;
		while (p < eol && blank(*p))
			p++;
		val = p;
		while (p < eol && !blank(*p))
			p++;
		val_end = p;
		while (p < eol && blank(*p))
			p++;
		if (val == val_end || p != eol)
			return refuse(why, whylen, "line %u: want `name value`", line);
		if ((size_t)(name_end - name) >= sizeof(key) || memchr(name, '\0', (size_t)(name_end - name)))
			return refuse(why, whylen, "line %u: no such register", line);
		memcpy(key, name, (size_t)(name_end - name));
		key[name_end - name] = '\0';
		idx = arch_reg_index(a, key);
		if (idx < 0)
			return refuse(why, whylen, "line %u: no register %s on %s", line, key, a->name);
		if (a->regs[idx].ro)
			return refuse(why, whylen, "line %u: %s is read-only", line, key);
		for (size_t k = 0; k < n; k++)
			if (out[k].idx == idx)
				return refuse(why, whylen, "line %u: %s given twice", line, key);
		if (n == cap)
			return refuse(why, whylen, "line %u: too many lines", line);
		if (!parse_value(val, val_end, a->regs[idx].size * 8u, &out[n].value))
			return refuse(why, whylen, "line %u: %s: not a %u-bit number", line, key,
				      a->regs[idx].size * 8u);
		out[n++].idx = (uint16_t)idx;
		p = eol + 1;
	}
	return (int)n;
}

int arch_apply_regs(const struct arch_desc *a, const struct arch_reg_set *v, size_t n,
		    void *blob, size_t len)
{
	unsigned char *b = blob;

	if (len < a->regs_size)
		return -EIO;
	for (size_t k = 0; k < n; k++) {
		const struct arch_reg *r;

		if (v[k].idx >= a->nregs)
			return -EIO;
		r = &a->regs[v[k].idx];
		if ((size_t)r->offset + r->size > len)
			return -EIO;
		if (r->size == 4) {
			uint32_t x = (uint32_t)v[k].value;

			memcpy(b + r->offset, &x, 4);
		} else {
			memcpy(b + r->offset, &v[k].value, 8);
		}
	}
	return 0;
}
