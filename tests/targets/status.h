/*
 * The status file the test targets write for their tests: "key value"
 * lines, "ready" last. It appears atomically (written to FILE.tmp, then
 * renamed), so a reader that sees the file sees all of it.
 */
#ifndef PTRACEFS_TARGET_STATUS_H
#define PTRACEFS_TARGET_STATUS_H

#include <stddef.h>
#include <stdint.h>

/* Builds one line; returns -1 when it does not fit. */
int status_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Writes buf plus the final "ready" line to path; 0 or -1 (errno set). */
int status_publish(const char *path, char *buf, size_t cap, size_t len);
/*
 * "4096", "64k", "1M", "4G": a byte count with an optional binary suffix,
 * at most max. 0, or -1 when s is not one.
 */
int parse_size(const char *s, uint64_t max, uint64_t *out);

#endif
