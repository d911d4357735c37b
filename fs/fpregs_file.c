/*
 * threads/<tid>/fpregs: the thread's FP and vector registers as text, from
 * the regsets captured at suspension. The architecture names the regsets
 * and formats them (arch/x86_64_fp.c); this file only fetches the blobs.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "fs/tree.h"

/* The largest register set we copy: an XSAVE area with AVX-512 is ~2.7 KiB. */
#define REGSET_MAX 16384

/* An architecture without a formatter has no such file. */
bool fpregs_present(const struct node_ctx *c)
{
	const struct arch_desc *a = reader_arch(c->r);

	return a && a->format_fp;
}

int fpregs_show(const struct node_ctx *c, struct sbuf *sb)
{
	const struct arch_desc *a = reader_arch(c->r);
	unsigned char *fx, *xs;
	int fxlen, xslen = 0, rc;

	if (!fpregs_present(c))
		return -ENOENT;
	fx = malloc(2 * REGSET_MAX);
	if (!fx)
		return -ENOMEM;
	xs = fx + REGSET_MAX;
	fxlen = reader_thread_regset_copy(c->r, c->tid, a->fp_regset, fx, REGSET_MAX);
	if (fxlen < 0) {
		rc = fxlen == -ENOENT ? -ENOENT : -EIO;
		goto out;
	}
	/* No extended state (an old kernel or CPU) only drops the ymm lines. */
	if (a->xstate_regset) {
		xslen = reader_thread_regset_copy(c->r, c->tid, a->xstate_regset, xs, REGSET_MAX);
		if (xslen == -ENODATA) {
			xslen = 0;
		} else if (xslen < 0) {
			rc = xslen == -ENOENT ? -ENOENT : -EIO;
			goto out;
		}
	}
	rc = a->format_fp(fx, (size_t)fxlen, xslen ? xs : NULL, (size_t)xslen, sb);
out:
	free(fx);
	return rc;
}
