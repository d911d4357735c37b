/*
 * /proc/PID/smaps parser. Each mapping is its maps line followed by
 * "Key:   value" lines, VmFlags last:
 *
 *   7fd74611c000-7fd74621c000 rw-p 00000000 00:00 0
 *   Rss:                1024 kB
 *   Anonymous:          1024 kB
 *   Swap:                  0 kB
 *   VmFlags: rd wr mr mw me ac
 *
 * A header is told from a field by its shape, hex '-' hex ' ': no field
 * name fits that, even those starting with hex letters ("Anonymous").
 * The input is untrusted bytes: no NUL terminator is assumed and every
 * number is overflow-checked.
 */
#include "reader/smaps.h"
#include "reader/textcur.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* "start-end " at the head of a line; the rest of it is maps' business. */
static bool parse_header(struct cur c, uint64_t *start, uint64_t *end)
{
	if (cur_num(&c, 16, UINT64_MAX, start) || cur_char(&c, '-') ||
	    cur_num(&c, 16, UINT64_MAX, end) || c.p == c.end || *c.p != ' ')
		return false;
	return true;
}

/* "  1234 kB": a size in kB, capped so that kB * 1024 cannot overflow. */
static int parse_kb(struct cur c, uint64_t *out)
{
	uint64_t v;

	cur_skip_blanks(&c);
	if (cur_num(&c, 10, UINT64_MAX, &v))
		return -EINVAL;
	*out = v > UINT64_MAX / 1024 ? UINT64_MAX / 1024 : v;
	return 0;
}

static unsigned parse_vmflags(struct cur c)
{
	static const struct { char code[2]; unsigned bit; } known[] = {
		{ "sh", VMF_SH }, { "io", VMF_IO }, { "pf", VMF_PF },
		{ "dd", VMF_DD }, { "ht", VMF_HT }, { "um", VMF_UM },
		{ "uw", VMF_UW }, { "dc", VMF_DC }, { "wf", VMF_WF },
	};
	unsigned flags = 0;

	for (;;) {
		const char *tok;

		cur_skip_blanks(&c);
		if (c.p == c.end)
			break;
		tok = c.p;
		while (c.p < c.end && *c.p != ' ' && *c.p != '\t')
			c.p++;
		if (c.p - tok != 2)
			continue;	/* the kernel prints two letters; skip anything else */
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (tok[0] == known[i].code[0] && tok[1] == known[i].code[1])
				flags |= known[i].bit;
	}
	return flags;
}

static bool key_is(const char *k, size_t klen, const char *want)
{
	return klen == strlen(want) && memcmp(k, want, klen) == 0;
}

static int parse_line(struct cur c, struct smaps *s, size_t *cap)
{
	struct smaps_entry *e;
	const char *key = c.p;
	uint64_t start, end;
	size_t klen;

	if (parse_header(c, &start, &end)) {
		if (start >= end || (s->n && start < s->v[s->n - 1].end))
			return -EINVAL;
		if (s->n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct smaps_entry *v = realloc(s->v, ncap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			s->v = v;
			*cap = ncap;
		}
		e = &s->v[s->n++];
		memset(e, 0, sizeof(*e));
		e->start = start;
		e->end = end;
		return 0;
	}
	/* A field: a name of letters, digits and '_', then ':'. */
	while (c.p < c.end && (*c.p == '_' || (*c.p >= 'a' && *c.p <= 'z') ||
			       (*c.p >= 'A' && *c.p <= 'Z') ||
			       (*c.p >= '0' && *c.p <= '9')))
		c.p++;
	klen = (size_t)(c.p - key);
	if (klen == 0 || c.p == c.end || *c.p != ':' || s->n == 0)
		return -EINVAL;
	c.p++;
	e = &s->v[s->n - 1];
	if (key_is(key, klen, "Rss"))
		return parse_kb(c, &e->rss_kb);
	if (key_is(key, klen, "Anonymous"))
		return parse_kb(c, &e->anon_kb);
	if (key_is(key, klen, "Swap"))
		return parse_kb(c, &e->swap_kb);
	if (key_is(key, klen, "VmFlags")) {
		e->vmflags = parse_vmflags(c);
		e->has_vmflags = true;
	}
	return 0;
}

int smaps_parse(const char *buf, size_t len, struct smaps *out)
{
	const char *p = buf, *end = buf + len;
	size_t cap = 0;

	out->v = NULL;
	out->n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cur line = { p, nl ? nl : end };
		int rc = 0;

		if (line.p < line.end)		/* the kernel prints no empty line */
			rc = parse_line(line, out, &cap);
		if (rc) {
			smaps_free(out);
			return rc;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

void smaps_free(struct smaps *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

const struct smaps_entry *smaps_find(const struct smaps *s, uint64_t start,
				     uint64_t end)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && s->v[lo].start == start && s->v[lo].end == end)
		return &s->v[lo];
	return NULL;
}
