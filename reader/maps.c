/*
 * /proc/PID/maps parser and address queries.
 *
 * One line per VMA, as the kernel's show_map_vma() prints it:
 *
 *   start-end perms offset major:minor inode   path
 *
 * start, end, offset, major and minor are hex; inode is decimal; the path
 * (if any) follows a run of padding spaces and runs to the end of the line.
 * The kernel escapes '\n' in file names, so a line never holds one; a path
 * may contain spaces, end in " (deleted)", or be a [name] such as [heap].
 * Old kernels also print a space after the inode when there is no path.
 *
 * The input is untrusted bytes (fixtures, fuzzers): nothing here assumes a
 * NUL terminator, and every field is bounds- and overflow-checked.
 */
#include "reader/maps.h"
#include "reader/textcur.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* "rwxp": each column is its letter or '-', the last is 'p' or 's'. */
static int get_perms(struct cur *c, unsigned *perms)
{
	static const char letter[3] = { 'r', 'w', 'x' };
	static const unsigned bit[3] = { PERM_R, PERM_W, PERM_X };

	if (c->end - c->p < 4)
		return -EINVAL;
	*perms = 0;
	for (int i = 0; i < 3; i++) {
		if (c->p[i] == letter[i])
			*perms |= bit[i];
		else if (c->p[i] != '-')
			return -EINVAL;
	}
	if (c->p[3] == 's')
		*perms |= PERM_SHARED;
	else if (c->p[3] != 'p')
		return -EINVAL;
	c->p += 4;
	return 0;
}

/*
 * Parses one line (without its '\n') into *e, copying the path to *pool
 * and advancing it. Separators are single spaces, as the kernel prints.
 */
static int parse_line(struct cur *c, struct map_entry *e, char **pool)
{
	uint64_t major, minor;
	size_t plen;

	e->file_note = false;	/* a core source sets it after the parse */
	if (cur_num(c, 16, UINT64_MAX, &e->start) || cur_char(c, '-') ||
	    cur_num(c, 16, UINT64_MAX, &e->end) || cur_char(c, ' ') ||
	    get_perms(c, &e->perms) || cur_char(c, ' ') ||
	    cur_num(c, 16, UINT64_MAX, &e->offset) || cur_char(c, ' ') ||
	    cur_num(c, 16, UINT32_MAX, &major) || cur_char(c, ':') ||
	    cur_num(c, 16, UINT32_MAX, &minor) || cur_char(c, ' ') ||
	    cur_num(c, 10, UINT64_MAX, &e->inode))
		return -EINVAL;
	e->dev_major = (uint32_t)major;
	e->dev_minor = (uint32_t)minor;

	/* The inode must end the line or be followed by padding. */
	if (c->p < c->end && *c->p != ' ')
		return -EINVAL;
	while (c->p < c->end && *c->p == ' ')
		c->p++;

	/* A NUL would silently cut the path short: the kernel never prints one. */
	plen = (size_t)(c->end - c->p);
	if (memchr(c->p, '\0', plen))
		return -EINVAL;
	if (plen)
		memcpy(*pool, c->p, plen);
	(*pool)[plen] = '\0';
	e->path = *pool;
	*pool += plen + 1;
	return 0;
}

/* Lines in buf: one per '\n', plus an unterminated last line. */
static size_t count_lines(const char *buf, size_t len)
{
	size_t n = 0;
	const char *p = buf, *end = buf + len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		n++;
		p = nl + 1;
	}
	return n + (p < end);
}

/*
 * The paths are copied into a pool behind the entry array, so one free()
 * releases everything. Each path plus its NUL is no longer than its line
 * plus newline, so len + 1 bytes always hold them all; once parsed, the
 * snapshot moves to a block of the exact size (it lives as long as the
 * mount, the slack is most of the input) and the paths are rebased.
 */
static void shrink(struct maps *m, size_t used)
{
	const char *old_pool = (const char *)(m->v + m->n);
	struct map_entry *v = malloc(m->n * sizeof(*v) + used);
	char *pool;

	if (!v)
		return;		/* keep the larger block: still valid */
	pool = (char *)(v + m->n);
	memcpy(v, m->v, m->n * sizeof(*v) + used);
	for (size_t i = 0; i < m->n; i++)
		v[i].path = pool + (m->v[i].path - old_pool);
	free(m->v);
	m->v = v;
}

int maps_parse(const char *buf, size_t len, struct maps *out)
{
	const char *p = buf, *end;
	char *pool, *pool0;
	struct maps m;
	size_t n;

	out->v = NULL;
	out->n = 0;
	if (len == 0)		/* before any arithmetic on a possibly NULL buf */
		return 0;
	end = buf + len;
	n = count_lines(buf, len);
	if (n > (SIZE_MAX - len - 1) / sizeof(*m.v))
		return -ENOMEM;
	m.v = malloc(n * sizeof(*m.v) + len + 1);
	if (!m.v)
		return -ENOMEM;
	m.n = n;
	pool = pool0 = (char *)(m.v + n);

	for (size_t i = 0; i < n; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cur c = { p, nl ? nl : end };
		struct map_entry *e = &m.v[i];

		if (parse_line(&c, e, &pool) || e->start >= e->end)
			goto out_free;
		/* The kernel walks VMAs in address order; they never overlap. */
		if (i > 0 && e->start < m.v[i - 1].end)
			goto out_free;
		p = nl ? nl + 1 : end;
	}
	shrink(&m, (size_t)(pool - pool0));
	*out = m;
	return 0;

out_free:
	free(m.v);
	return -EINVAL;
}

void maps_free(struct maps *m)
{
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

bool map_is_anon(const struct map_entry *e)
{
	return e->path[0] == '\0' || strcmp(e->path, "[heap]") == 0 ||
	       strncmp(e->path, "[stack", 6) == 0 ||	/* also [stack:tid] */
	       strncmp(e->path, "[anon:", 6) == 0;
}

bool map_is_data(const struct map_entry *e)
{
	/* Readable, but reading these through /proc/PID/mem fails or faults. */
	static const char *const special[] = {
		"[vvar]", "[vvar_vclock]", "[vsyscall]",
	};

	if (!(e->perms & PERM_R))
		return false;
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (strcmp(e->path, special[i]) == 0)
			return false;
	return true;
}

size_t maps_lower_bound(const struct maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	/* Ends ascend strictly (entries are sorted and disjoint). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

const struct map_entry *maps_find(const struct maps *m, uint64_t addr)
{
	size_t i = maps_lower_bound(m, addr);

	if (i < m->n && m->v[i].start <= addr)
		return &m->v[i];
	return NULL;
}

uint64_t maps_data_span(const struct maps *m, uint64_t addr, uint64_t len)
{
	size_t i = maps_lower_bound(m, addr);
	uint64_t end;

	if (len == 0 || i == m->n || m->v[i].start > addr ||
	    !map_is_data(&m->v[i]))
		return 0;
	/*
	 * Measure as end - addr, never addr + len: that may wrap past 2^64,
	 * and end > addr always holds here.
	 */
	end = m->v[i].end;
	while (end - addr < len && i + 1 < m->n && m->v[i + 1].start == end &&
	       map_is_data(&m->v[i + 1]))
		end = m->v[++i].end;
	return end - addr < len ? end - addr : len;
}

uint64_t maps_data_bytes(const struct maps *m, uint64_t *end)
{
	uint64_t bytes = 0;

	*end = 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];

		if (!map_is_data(e) || e->end > (UINT64_C(1) << 63))
			continue;
		bytes += e->end - e->start;
		if (e->end > *end)
			*end = e->end;
	}
	return bytes;
}
