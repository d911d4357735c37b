/* A growable byte buffer for rendered text files and note blobs. */
#ifndef PTRACEFS_SBUF_H
#define PTRACEFS_SBUF_H

#include <stdarg.h>
#include <stddef.h>

struct sbuf {
	char *buf;
	size_t len;
	size_t cap;
	int err;		/* sticky: -ENOMEM after a failed grow */
};

#define SBUF_INIT { NULL, 0, 0, 0 }

int sbuf_append(struct sbuf *sb, const void *data, size_t len);
int sbuf_puts(struct sbuf *sb, const char *s);
int sbuf_printf(struct sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int sbuf_vprintf(struct sbuf *sb, const char *fmt, va_list ap);
/* Appends len zero bytes. */
int sbuf_zero(struct sbuf *sb, size_t len);
/* Hands the buffer to the caller (may be NULL when empty); sb is reset. */
char *sbuf_detach(struct sbuf *sb, size_t *len);
void sbuf_free(struct sbuf *sb);

#endif
