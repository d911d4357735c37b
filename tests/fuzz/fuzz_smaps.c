/*
 * libFuzzer target for reader/smaps: parse arbitrary bytes; on success the
 * entries must ascend without overlap and smaps_find must return each of
 * them for its exact range and nothing for a range off by one page.
 *
 * The input is copied to an exact-size heap block so ASan reports any read
 * past len; the parser must never rely on a terminator.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/smaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct smaps s;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (smaps_parse(buf, size, &s) != 0) {
		if (s.v || s.n)
			abort();
		free(buf);
		return 0;
	}
	free(buf);
	for (size_t i = 0; i < s.n; i++) {
		const struct smaps_entry *e = &s.v[i];

		if (e->start >= e->end || (i && e->start < s.v[i - 1].end))
			abort();
		if (e->rss_kb > UINT64_MAX / 1024 || e->anon_kb > UINT64_MAX / 1024 ||
		    e->swap_kb > UINT64_MAX / 1024)
			abort();
		if (e->vmflags & ~(unsigned)((VMF_WF << 1) - 1))
			abort();
		if (smaps_find(&s, e->start, e->end) != e)
			abort();
		if (e->end - e->start > 4096 &&
		    smaps_find(&s, e->start, e->end - 4096) != NULL)
			abort();
	}
	smaps_free(&s);
	return 0;
}
