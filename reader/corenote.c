/*
 * ELF notes from untrusted bytes, and the PTRACEFS notes of `core` (the
 * format is in corenote.h). Every length is checked against what is left
 * before it is used, in 64-bit arithmetic, so hostile sizes cannot wrap.
 */
#include "reader/corenote.h"
#include "reader/bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NOTE_HDR 12u
#define NOTE_ALIGN 4u

static uint64_t pad4(uint64_t v)
{
	return (v + NOTE_ALIGN - 1) & ~(uint64_t)(NOTE_ALIGN - 1);
}

void elfnote_iter_init(struct elfnote_iter *it, const void *buf, size_t len, bool msb)
{
	it->p = buf;
	it->len = buf ? len : 0;
	it->off = 0;
	it->msb = msb;
}

int elfnote_next(struct elfnote_iter *it, struct elfnote *n)
{
	const unsigned char *h;
	uint64_t left, name_end, desc_end;

	if (it->off > it->len)
		return -EINVAL;		/* a broken note before: stay broken */
	left = it->len - it->off;
	if (left == 0)
		return 0;
	if (left < NOTE_HDR)
		goto broken;
	h = it->p + it->off;
	n->namesz = (uint32_t)get_n(h, 4, it->msb);
	n->descsz = (uint32_t)get_n(h + 4, 4, it->msb);
	n->type = (uint32_t)get_n(h + 8, 4, it->msb);
	/* Both sizes are at most 2^32 - 1: these sums cannot wrap. */
	name_end = NOTE_HDR + pad4(n->namesz);
	desc_end = name_end + n->descsz;
	if (desc_end > left)
		goto broken;
	n->name = (const char *)h + NOTE_HDR;
	n->desc = h + name_end;
	desc_end = pad4(desc_end);	/* the next note */
	it->off += desc_end < left ? (size_t)desc_end : (size_t)left;
	return 1;
broken:
	it->off = it->len + 1;
	return -EINVAL;
}

bool elfnote_owner_is(const struct elfnote *n, const char *owner)
{
	size_t k = strlen(owner);

	return n->namesz == k + 1 && memcmp(n->name, owner, k) == 0 && n->name[k] == '\0';
}

void corenote_free(struct corenote_set *s)
{
	free(s->threads);
	s->threads = NULL;
	s->nthreads = 0;
}

static int cmp_tid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* One of the file notes: twice is ambiguous, so malformed. */
static int take_text(struct corenote_text *t, const struct elfnote *n)
{
	if (t->p)
		return -EINVAL;
	t->p = (const char *)n->desc;
	t->len = n->descsz;
	return 0;
}

static int take_thread(struct corenote_thread *t, const struct elfnote *n, bool msb)
{
	uint64_t statlen;

	if (n->descsz < 8)
		return -EINVAL;
	statlen = get_n(n->desc + 4, 4, msb);
	if (statlen > n->descsz - 8)
		return -EINVAL;
	t->tid = (pid_t)(int32_t)get_n(n->desc, 4, msb);
	t->stat.p = (const char *)n->desc + 8;
	t->stat.len = (size_t)statlen;
	t->syscall.p = t->stat.p + statlen;
	t->syscall.len = n->descsz - 8 - (size_t)statlen;
	return 0;
}

static int take_version(struct corenote_set *s, const struct elfnote *n, bool msb)
{
	if (s->producer.p || n->descsz < 8)
		return -EINVAL;
	s->format = (uint32_t)get_n(n->desc, 4, msb);
	s->pid = (pid_t)(int32_t)get_n(n->desc + 4, 4, msb);
	s->producer.p = (const char *)n->desc + 8;
	s->producer.len = strnlen(s->producer.p, n->descsz - 8);
	return 0;
}

/* Duplicate tids would make two thread directories of one name. */
static int check_tids(const struct corenote_set *s)
{
	pid_t *v;
	int rc = 0;

	if (s->nthreads < 2)
		return 0;
	v = malloc(s->nthreads * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->nthreads; i++)
		v[i] = s->threads[i].tid;
	qsort(v, s->nthreads, sizeof(*v), cmp_tid);
	for (size_t i = 1; i < s->nthreads && rc == 0; i++)
		if (v[i] == v[i - 1])
			rc = -EINVAL;
	free(v);
	return rc;
}

int corenote_parse(const void *seg, size_t len, bool msb, struct corenote_set *out)
{
	struct elfnote_iter it;
	struct elfnote n;
	size_t nthreads = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	/* First pass: the framing, and how many threads. */
	elfnote_iter_init(&it, seg, len, msb);
	while ((rc = elfnote_next(&it, &n)) > 0)
		if (elfnote_owner_is(&n, CORENOTE_OWNER) && n.type == CORENOTE_THREAD)
			nthreads++;
	if (rc < 0)
		return rc;
	if (nthreads) {
		out->threads = calloc(nthreads, sizeof(*out->threads));
		if (!out->threads)
			return -ENOMEM;
	}
	elfnote_iter_init(&it, seg, len, msb);
	while (rc == 0 && elfnote_next(&it, &n) > 0) {
		if (!elfnote_owner_is(&n, CORENOTE_OWNER))
			continue;
		switch (n.type) {
		case CORENOTE_VERSION:
			rc = take_version(out, &n, msb);
			break;
		case CORENOTE_MAPS:
			rc = take_text(&out->maps, &n);
			break;
		case CORENOTE_STATUS:
			rc = take_text(&out->status, &n);
			break;
		case CORENOTE_CMDLINE:
			rc = take_text(&out->cmdline, &n);
			break;
		case CORENOTE_ENVIRON:
			rc = take_text(&out->environ, &n);
			break;
		case CORENOTE_THREAD:
			rc = take_thread(&out->threads[out->nthreads++], &n, msb);
			break;
		default:	/* a later writer's: not ours to judge */
			break;
		}
	}
	if (rc == 0 && !out->producer.p)
		rc = -ENOENT;
	if (rc == 0 && out->format != CORENOTE_FORMAT)
		rc = -ENOTSUP;
	if (rc == 0)
		rc = check_tids(out);
	if (rc)
		corenote_free(out);
	return rc;
}

/* Appends notes to one buffer sized in advance. */
struct wbuf {
	unsigned char *p;
	size_t len;
	bool msb;
};

static uint64_t note_size(uint64_t descsz)
{
	return NOTE_HDR + pad4(sizeof(CORENOTE_OWNER)) + pad4(descsz);
}

/* The header and owner; returns where the descriptor goes (zeroed). */
static unsigned char *wnote(struct wbuf *b, uint32_t type, size_t descsz)
{
	unsigned char *p = b->p + b->len;
	size_t name_end = NOTE_HDR + (size_t)pad4(sizeof(CORENOTE_OWNER));

	put_n(p, 4, b->msb, sizeof(CORENOTE_OWNER));
	put_n(p + 4, 4, b->msb, descsz);
	put_n(p + 8, 4, b->msb, type);
	memcpy(p + NOTE_HDR, CORENOTE_OWNER, sizeof(CORENOTE_OWNER));
	b->len += (size_t)note_size(descsz);
	return p + name_end;
}

static void wtext(struct wbuf *b, uint32_t type, const struct corenote_text *t)
{
	if (t->p)
		memcpy(wnote(b, type, t->len), t->p, t->len);
}

/* Every descriptor below 4 GiB, and the whole sum in size_t. */
static int add_size(size_t *total, uint64_t descsz)
{
	if (descsz > UINT32_MAX - NOTE_ALIGN || note_size(descsz) > SIZE_MAX - *total)
		return -EFBIG;
	*total += (size_t)note_size(descsz);
	return 0;
}

int corenote_build(const struct corenote_set *s, bool msb, unsigned char **out,
		   size_t *len)
{
	const struct corenote_text *texts[] = { &s->maps, &s->status, &s->cmdline, &s->environ };
	static const uint32_t types[] = {
		CORENOTE_MAPS, CORENOTE_STATUS, CORENOTE_CMDLINE, CORENOTE_ENVIRON,
	};
	size_t plen = s->producer.p ? s->producer.len : 0, total = 0;
	struct wbuf b = { .msb = msb };
	unsigned char *d;
	int rc;

	*out = NULL;
	*len = 0;
	rc = add_size(&total, 8 + (uint64_t)plen + 1);
	for (size_t i = 0; rc == 0 && i < 4; i++)
		if (texts[i]->p)
			rc = add_size(&total, texts[i]->len);
	for (size_t i = 0; rc == 0 && i < s->nthreads; i++)
		rc = add_size(&total, 8 + (uint64_t)s->threads[i].stat.len +
			      s->threads[i].syscall.len);
	if (rc)
		return rc;
	b.p = calloc(1, total);
	if (!b.p)
		return -ENOMEM;

	d = wnote(&b, CORENOTE_VERSION, 8 + plen + 1);
	put_n(d, 4, msb, CORENOTE_FORMAT);
	put_n(d + 4, 4, msb, (uint32_t)s->pid);
	if (plen)
		memcpy(d + 8, s->producer.p, plen);
	for (size_t i = 0; i < 4; i++)
		wtext(&b, types[i], texts[i]);
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct corenote_thread *t = &s->threads[i];

		d = wnote(&b, CORENOTE_THREAD, 8 + t->stat.len + t->syscall.len);
		put_n(d, 4, msb, (uint32_t)t->tid);
		put_n(d + 4, 4, msb, t->stat.len);
		if (t->stat.len)
			memcpy(d + 8, t->stat.p, t->stat.len);
		if (t->syscall.len)
			memcpy(d + 8 + t->stat.len, t->syscall.p, t->syscall.len);
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

bool corenote_stat_set_state(char *line, size_t len, char state)
{
	char *close = NULL;

	/* comm may hold ')' itself: the state follows the last one. */
	for (size_t i = 0; i < len; i++)
		if (line[i] == ')')
			close = line + i;
	if (!close || (size_t)(close - line) + 2 >= len || close[1] != ' ')
		return false;
	close[2] = state;
	return true;
}
