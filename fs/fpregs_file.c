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

/* -o rw: where the architecture parses what fpregs renders. */
bool fpregs_writable(const struct node_ctx *c)
{
	const struct arch_desc *a = reader_arch(c->r);

	return a && a->format_fp && a->parse_fp;
}

/*
 * One write is a set of `name value` lines as fpregs reads, parsed whole
 * into copies of the thread's sets, then set with one PTRACE_SETREGSET:
 * the FP set, or the extended state when a ymm line needs it (it carries
 * the rest too). A bad line changes nothing (EINVAL).
 */
int fpregs_write(const struct node_ctx *c, const char *buf, size_t len)
{
	const struct arch_desc *a = reader_arch(c->r);
	unsigned char *fx, *xs;
	int fxlen, xslen = 0, rc;
	char why[160] = "";

	if (!fpregs_writable(c))
		return -EROFS;
	fx = malloc(2 * REGSET_MAX);
	if (!fx)
		return -ENOMEM;
	xs = fx + REGSET_MAX;
	fxlen = reader_thread_regset_copy(c->r, c->tid, a->fp_regset, fx, REGSET_MAX);
	if (fxlen < 0) {
		rc = fxlen == -ENOENT ? -ENOENT : -EIO;
		goto out;
	}
	if (a->xstate_regset) {
		xslen = reader_thread_regset_copy(c->r, c->tid, a->xstate_regset, xs, REGSET_MAX);
		if (xslen == -ENODATA) {
			xslen = 0;
		} else if (xslen < 0) {
			rc = xslen == -ENOENT ? -ENOENT : -EIO;
			goto out;
		}
	}
	rc = a->parse_fp(buf, len, fx, (size_t)fxlen, xslen ? xs : NULL, (size_t)xslen, why,
			 sizeof(why));
	if (rc == ARCH_FP_FX)
		rc = reader_thread_set_regset(c->r, c->tid, a->fp_regset, fx, (size_t)fxlen);
	else if (rc == ARCH_FP_XS)
		rc = reader_thread_set_regset(c->r, c->tid, a->xstate_regset, xs, (size_t)xslen);
out:
	free(fx);
	return rc;
}
