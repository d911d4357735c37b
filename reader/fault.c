/*
 * Fault injection for the test suite (compiled only with -Dfault_injection).
 * PTRACEFS_FAULT=point[:nth] makes the nth hit (default 1st) of that point
 * fail; points: seize, read (a memory read fails with EFAULT), snapshot
 * (the post-attach snapshot fails), sleep-attach (sleeps 2 s mid-attach),
 * putsets (one SETREGSET of a batch is refused, as the kernel may: restore).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "reader/reader_int.h"

#ifdef PTRACEFS_FAULTS
static _Atomic unsigned hits;

bool fault_hit(const char *point)
{
	const char *spec = getenv("PTRACEFS_FAULT");
	size_t n = strlen(point);
	unsigned nth = 1;

	if (!spec || strncmp(spec, point, n) != 0 || (spec[n] && spec[n] != ':'))
		return false;
	if (spec[n] == ':')
		nth = (unsigned)strtoul(spec + n + 1, NULL, 10);
	return atomic_fetch_add(&hits, 1) + 1 == nth;
}
#endif
