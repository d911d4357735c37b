/*
 * libFuzzer target for reader/corenote: ELF notes from untrusted bytes.
 * The first byte's low bit picks the byte order; the rest is a note
 * segment, copied to an exact-size heap block so ASan reports any read
 * past its end. Checks:
 *   - the iterator hands out names and descriptors inside the segment,
 *     moves forward, ends or breaks, and stays broken once broken;
 *   - corenote_parse agrees with the iterator (a broken segment is never
 *     accepted) and points every text inside the segment;
 *   - a parsed set, written back with corenote_build, parses to the same
 *     texts and threads (the lossless round trip core files rely on);
 *   - corenote_stat_set_state writes at most one byte, inside the line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader/corenote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const void *p, size_t n, const unsigned char *buf, size_t len)
{
	const unsigned char *q = p;

	return q >= buf && q <= buf + len && n <= (size_t)(buf + len - q);
}

static bool same_text(struct corenote_text a, struct corenote_text b)
{
	if (!a.p || !b.p)
		return !a.p && !b.p;
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool text_inside(struct corenote_text t, const unsigned char *buf, size_t len)
{
	return !t.p || inside(t.p, t.len, buf, len);
}

static void check_round_trip(const struct corenote_set *s, bool msb)
{
	struct corenote_set again;
	unsigned char *seg;
	size_t len;

	if (corenote_build(s, msb, &seg, &len) != 0)
		abort();
	if (corenote_parse(seg, len, msb, &again) != 0)
		abort();
	if (again.pid != s->pid || again.nthreads != s->nthreads ||
	    again.producer.len != s->producer.len ||
	    memcmp(again.producer.p, s->producer.p, s->producer.len) != 0 ||
	    !same_text(again.maps, s->maps) || !same_text(again.status, s->status) ||
	    !same_text(again.cmdline, s->cmdline) || !same_text(again.environ, s->environ))
		abort();
	for (size_t i = 0; i < s->nthreads; i++)
		if (again.threads[i].tid != s->threads[i].tid ||
		    !same_text(again.threads[i].stat, s->threads[i].stat) ||
		    !same_text(again.threads[i].syscall, s->threads[i].syscall))
			abort();
	corenote_free(&again);
	free(seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elfnote_iter it;
	struct elfnote n;
	struct corenote_set s;
	unsigned char *buf;
	size_t len, last = 0;
	bool msb;
	int rc;

	if (size < 1)
		return 0;
	msb = data[0] & 1;
	len = size - 1;
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);

	elfnote_iter_init(&it, buf, len, msb);
	while ((rc = elfnote_next(&it, &n)) > 0) {
		if (!inside(n.name, n.namesz, buf, len) || !inside(n.desc, n.descsz, buf, len) ||
		    (const unsigned char *)n.name < buf + last + 12)
			abort();
		last = (size_t)(n.desc + n.descsz - buf);
		(void)elfnote_owner_is(&n, CORENOTE_OWNER);
	}
	if (rc < 0 && elfnote_next(&it, &n) != -EINVAL)
		abort();

	switch (corenote_parse(buf, len, msb, &s)) {
	case 0:
		if (rc < 0 || !text_inside(s.producer, buf, len) || !text_inside(s.maps, buf, len) ||
		    !text_inside(s.status, buf, len) || !text_inside(s.cmdline, buf, len) ||
		    !text_inside(s.environ, buf, len))
			abort();
		for (size_t i = 0; i < s.nthreads; i++)
			if (!text_inside(s.threads[i].stat, buf, len) ||
			    !text_inside(s.threads[i].syscall, buf, len))
				abort();
		check_round_trip(&s, msb);
		corenote_free(&s);
		break;
	case -EINVAL:
	case -ENOENT:
	case -ENOTSUP:
	case -ENOMEM:
		break;
	default:
		abort();
	}

	/* The input as a stat line: one byte may change, after the last ')'. */
	if (len) {
		unsigned char *copy = malloc(len);

		if (copy) {
			size_t diff = 0;

			memcpy(copy, buf, len);
			corenote_stat_set_state((char *)copy, len, 'S');
			for (size_t i = 0; i < len; i++)
				diff += copy[i] != buf[i];
			if (diff > 1)
				abort();
			free(copy);
		}
	}
	free(buf);
	return 0;
}
