/*
 * threads/<tid>/fpregs: the thread's FP and vector registers as text, from
 * the regsets captured at suspension. The architecture names the regsets
 * and formats them (arch/x86_64_fp.c); this file only fetches the blobs.
 */
#include <errno.h>
#include <stddef.h>

#include "fs/tree.h"

static int fpregs_show(const struct node_ctx *c, struct sbuf *sb)
{
	const struct arch_desc *a = reader_arch(c->r);
	const void *fx, *xs = NULL;
	size_t fxlen, xslen = 0;
	int rc;

	/* An architecture without a formatter has no such file. */
	if (!a || !a->format_fp)
		return -ENOENT;
	rc = reader_thread_regset(c->r, c->tid, a->fp_regset, &fx, &fxlen);
	if (rc)
		return rc == -ENOENT ? -ENOENT : -EIO;
	/* No extended state (an old kernel or CPU) only drops the ymm lines. */
	if (a->xstate_regset) {
		rc = reader_thread_regset(c->r, c->tid, a->xstate_regset, &xs, &xslen);
		if (rc == -ENODATA) {
			xs = NULL;
			xslen = 0;
		} else if (rc) {
			return rc == -ENOENT ? -ENOENT : -EIO;
		}
	}
	return a->format_fp(fx, fxlen, xs, xslen, sb);
}

const struct node_ops fpregs_ops = { .show = fpregs_show };
