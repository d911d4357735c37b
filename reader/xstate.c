/* reader/xstate.h: XSAVE images sized for the task they go into. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "reader/xstate.h"

#define LEGACY 512		/* the FXSAVE area */
#define HEADER 576		/* and the XSAVE header */
#define SW_XCR0 464		/* ptrace's (and gdb's) XCR0 word */
#define XSTATE_BV 512

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* Feature i's offset and size in the standard format, and its XFD flag; false if none. */
static bool feature(unsigned i, size_t *off, size_t *size, bool *dynamic)
{
	unsigned a, b, c, d;

	if (!__get_cpuid_count(0xd, i, &a, &b, &c, &d) || a == 0)
		return false;
	*off = b;
	*size = a;
	*dynamic = c & 4;
	return true;
}
#else
static bool feature(unsigned i, size_t *off, size_t *size, bool *dynamic)
{
	(void)i, (void)off, (void)size, (void)dynamic;
	return false;
}
#endif

static uint64_t word(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

void xstate_fit(const unsigned char *img, size_t *len, uint64_t *drop)
{
	uint64_t xcr0 = word(img + SW_XCR0), bv = word(img + XSTATE_BV);
	size_t end = HEADER;

	*drop = 0;
	for (unsigned i = 2; i < 63; i++) {
		size_t off, size;
		bool dynamic;

		if (!(xcr0 >> i & 1) || !feature(i, &off, &size, &dynamic))
			continue;
		if (dynamic && !(bv >> i & 1)) {
			*drop |= 1ULL << i;
			continue;
		}
		if (off + size > end)
			end = off + size;
	}
	if (end < *len)
		*len = end;
}

int xstate_merge(const unsigned char *cur, size_t cur_len, const unsigned char *bak,
		 size_t bak_len, unsigned char *out)
{
	uint64_t have, cur_xcr0, bv;
	size_t off, size;
	bool dynamic, any = false;

	if (cur_len < HEADER || bak_len < HEADER)
		return -EINVAL;
	have = word(bak + SW_XCR0);
	cur_xcr0 = word(cur + SW_XCR0);
	memcpy(out, cur, cur_len);
	memcpy(out, bak, LEGACY);
	memcpy(out + SW_XCR0, cur + SW_XCR0, 8);
	for (unsigned i = 2; i < 63; i++) {
		if (!(have >> i & 1 & cur_xcr0 >> i) || !feature(i, &off, &size, &dynamic))
			continue;
		any = true;
		if (off + size > bak_len || off + size > cur_len)
			return -EINVAL;	/* laid out otherwise than here */
		memcpy(out + off, bak + off, size);
	}
	if (!any && have & ~3ULL)
		return -EINVAL;		/* features, but no CPUID to place them */
	/* in use: the backup's features as it says, the others as now */
	bv = (word(bak + XSTATE_BV) & have) | (word(cur + XSTATE_BV) & ~have);
	memcpy(out + XSTATE_BV, &bv, 8);
	return 0;
}
