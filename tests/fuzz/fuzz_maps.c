/*
 * libFuzzer target for reader/maps: parse arbitrary bytes, then run every
 * query at addresses taken from the result (each boundary and its
 * neighbours) and from the input's tail, checking the answers agree.
 *
 * The input is copied to an exact-size heap block so ASan reports any read
 * past len; the parser must never rely on a terminator.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/maps.h"

/* Consistency between the queries; a violation aborts so libFuzzer saves it. */
static void check_addr(const struct maps *m, uint64_t addr, uint64_t len)
{
	size_t i = maps_lower_bound(m, addr);
	const struct map_entry *e = maps_find(m, addr);
	uint64_t span = maps_data_span(m, addr, len);

	if (i > m->n || (i < m->n && m->v[i].end <= addr) ||
	    (i > 0 && m->v[i - 1].end > addr))
		abort();
	if (e != (i < m->n && m->v[i].start <= addr ? &m->v[i] : NULL))
		abort();
	if (span > len || (span && (!e || !map_is_data(e))))
		abort();
	/* A span never stops short inside a data mapping it started in. */
	if (e && map_is_data(e) && span < len && span < e->end - addr)
		abort();
}

static uint64_t tail_u64(const uint8_t *data, size_t size, size_t back)
{
	uint64_t v = 0;

	if (size >= back)
		memcpy(&v, data + size - back, sizeof(v) < back ? sizeof(v) : back);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct maps m;
	uint64_t lens[3];

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (maps_parse(buf, size, &m) != 0) {
		if (m.v || m.n)
			abort();
		free(buf);
		return 0;
	}
	free(buf);		/* paths must not point into the input */

	lens[0] = 1;
	lens[1] = tail_u64(data, size, 8);
	lens[2] = UINT64_MAX;
	for (size_t i = 0; i < m.n; i++) {
		const struct map_entry *e = &m.v[i];
		uint64_t probes[] = { e->start - 1, e->start, e->end - 1, e->end,
				      e->start + (e->end - e->start) / 2 };

		(void)strlen(e->path);
		(void)map_is_anon(e);
		for (size_t p = 0; p < sizeof(probes) / sizeof(probes[0]); p++)
			for (size_t l = 0; l < 3; l++)
				check_addr(&m, probes[p], lens[l]);
	}
	check_addr(&m, tail_u64(data, size, 16), lens[1]);
	check_addr(&m, 0, UINT64_MAX);
	check_addr(&m, UINT64_MAX, UINT64_MAX);
	maps_free(&m);
	return 0;
}
