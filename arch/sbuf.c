#include "arch/sbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sbuf_grow(struct sbuf *sb, size_t extra)
{
	size_t need, cap;
	char *p;

	if (sb->err)
		return sb->err;
	if (extra > SIZE_MAX - sb->len - 1)
		return sb->err = -ENOMEM;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return 0;
	cap = sb->cap ? sb->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(sb->buf, cap);
	if (!p)
		return sb->err = -ENOMEM;
	sb->buf = p;
	sb->cap = cap;
	return 0;
}

int sbuf_append(struct sbuf *sb, const void *data, size_t len)
{
	int rc = sbuf_grow(sb, len);

	if (rc)
		return rc;
	if (len)
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return 0;
}

int sbuf_zero(struct sbuf *sb, size_t len)
{
	int rc = sbuf_grow(sb, len);

	if (rc)
		return rc;
	memset(sb->buf + sb->len, 0, len + 1);
	sb->len += len;
	return 0;
}

int sbuf_puts(struct sbuf *sb, const char *s)
{
	return sbuf_append(sb, s, strlen(s));
}

int sbuf_vprintf(struct sbuf *sb, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	if (sb->err)
		return sb->err;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return sb->err = -EINVAL;
	rc = sbuf_grow(sb, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
	return 0;
}

int sbuf_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = sbuf_vprintf(sb, fmt, ap);
	va_end(ap);
	return rc;
}

char *sbuf_detach(struct sbuf *sb, size_t *len)
{
	char *p = sb->buf;

	if (len)
		*len = sb->len;
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	sb->err = 0;
	return p;
}

void sbuf_free(struct sbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	sb->err = 0;
}
