/*
 * Link-time glue for the riscv64 guest build only.
 *
 * bookworm has no riscv64 port, so the static libfuse3, libelf and libdw
 * of that build come from trixie, while its C library is bookworm's
 * (trixie's libc.a needs relocations that bookworm's linkers cannot
 * process). The trixie archives reference what glibc 2.38 and elfutils
 * 0.192 added; this file supplies those few symbols:
 *   - the C23 strtol/sscanf entry points, which differ from the old ones
 *     only in accepting "0b" binary prefixes, which nothing here parses;
 *   - elfutils' thread-safe search tree (lib/eu-search.c, which Debian's
 *     libdw.a does not carry), over tsearch(3) with one global lock. The
 *     tree's first member is the tsearch root; its own lock is unused.
 * Never part of ptracefs itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

long __isoc23_strtol(const char *s, char **end, int base);
unsigned long __isoc23_strtoul(const char *s, char **end, int base);
int __isoc23_sscanf(const char *s, const char *fmt, ...);

long __isoc23_strtol(const char *s, char **end, int base)
{
	return strtol(s, end, base);
}

unsigned long __isoc23_strtoul(const char *s, char **end, int base)
{
	return strtoul(s, end, base);
}

int __isoc23_sscanf(const char *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsscanf(s, fmt, ap);
	va_end(ap);
	return n;
}

struct eu_tree {
	void *root;
};

typedef int (*cmp_fn)(const void *, const void *);

void *eu_tsearch(const void *key, struct eu_tree *t, cmp_fn cmp);
void *eu_tfind(const void *key, struct eu_tree *t, cmp_fn cmp);
void *eu_tdelete(const void *key, struct eu_tree *t, cmp_fn cmp);
void eu_tdestroy(struct eu_tree *t, void (*free_node)(void *));
void eu_search_tree_init(struct eu_tree *t);
void eu_search_tree_fini(struct eu_tree *t);

static pthread_mutex_t eu_lock = PTHREAD_MUTEX_INITIALIZER;

void *eu_tsearch(const void *key, struct eu_tree *t, cmp_fn cmp)
{
	void *r;

	pthread_mutex_lock(&eu_lock);
	r = tsearch(key, &t->root, cmp);
	pthread_mutex_unlock(&eu_lock);
	return r;
}

void *eu_tfind(const void *key, struct eu_tree *t, cmp_fn cmp)
{
	void *r;

	pthread_mutex_lock(&eu_lock);
	r = tfind(key, &t->root, cmp);
	pthread_mutex_unlock(&eu_lock);
	return r;
}

void *eu_tdelete(const void *key, struct eu_tree *t, cmp_fn cmp)
{
	void *r;

	pthread_mutex_lock(&eu_lock);
	r = tdelete(key, &t->root, cmp);
	pthread_mutex_unlock(&eu_lock);
	return r;
}

void eu_tdestroy(struct eu_tree *t, void (*free_node)(void *))
{
	pthread_mutex_lock(&eu_lock);
	tdestroy(t->root, free_node);
	t->root = NULL;
	pthread_mutex_unlock(&eu_lock);
}

void eu_search_tree_init(struct eu_tree *t)
{
	t->root = NULL;
}

void eu_search_tree_fini(struct eu_tree *t)
{
	(void)t;
}
