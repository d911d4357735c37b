/*
 * A cursor over untrusted /proc text, [p, end), never NUL terminated:
 * the scanning maps.c and smaps.c share. Every number is bounds- and
 * overflow-checked; nothing reads past end.
 */
#ifndef PTRACEFS_TEXTCUR_H
#define PTRACEFS_TEXTCUR_H

#include <errno.h>
#include <stdint.h>

struct cur {
	const char *p;
	const char *end;
};

/* The value of digit c in base (10 or 16), or -1. */
static inline int cur_digit(char c, unsigned base)
{
	int d = -1;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	return d >= 0 && (unsigned)d < base ? d : -1;
}

/* One or more digits in base, no larger than max: 0, or -EINVAL. */
static inline int cur_num(struct cur *c, unsigned base, uint64_t max, uint64_t *out)
{
	const char *start = c->p;
	uint64_t v = 0;
	int d;

	while (c->p < c->end && (d = cur_digit(*c->p, base)) >= 0) {
		if (v > (max - (unsigned)d) / base)
			return -EINVAL;
		v = v * base + (unsigned)d;
		c->p++;
	}
	if (c->p == start)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The character want, consumed: 0, or -EINVAL. */
static inline int cur_char(struct cur *c, char want)
{
	if (c->p == c->end || *c->p != want)
		return -EINVAL;
	c->p++;
	return 0;
}

static inline void cur_skip_blanks(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

#endif
