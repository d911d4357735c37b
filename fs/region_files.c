/*
 * regions/<start>-<end>: one file per mapping, named as /proc/PID/map_files
 * names them, holding the mapping's bytes. Offsets are relative to the
 * mapping, so even [vsyscall] (above 2^63, out of `mem`'s reach) has a file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/tree.h"

static void region_name(const struct map_entry *e, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIx64 "-%" PRIx64, e->start, e->end);
}

/* regions/: mapping i of the snapshot, or the one named exactly so. */
int regions_gen(const struct node_ctx *dir, const char *name, size_t i,
		struct node_ent *out)
{
	const struct maps *m = reader_maps(dir->r);

	if (name) {
		unsigned long long start, end;
		const struct map_entry *e;
		int n = 0;

		if (sscanf(name, "%llx-%llx%n", &start, &end, &n) != 2 || name[n])
			return -ENOENT;
		e = maps_find(m, start);
		if (!e || e->start != start || e->end != end)
			return -ENOENT;
		i = (size_t)(e - m->v);
	}
	if (i >= m->n)
		return -ENOENT;
	region_name(&m->v[i], out->name, sizeof(out->name));
	/* One spelling per region, as map_files has it: no leading zeros. */
	if (name && strcmp(out->name, name) != 0)
		return -ENOENT;
	out->ctx = *dir;
	out->ctx.node = &region_file;
	out->ctx.idx = i;
	return 0;
}

static const struct map_entry *region(const struct node_ctx *c)
{
	return &reader_maps(c->r)->v[c->idx];
}

static int region_size(const struct node_ctx *c, uint64_t *size, uint64_t *blocks)
{
	const struct map_entry *e = region(c);

	*size = e->end - e->start;
	*blocks = map_is_data(e) ? *size / 512 : 0;
	return 0;
}

static ssize_t region_read(const struct node_ctx *c, void *buf, size_t len, uint64_t off)
{
	const struct map_entry *e = region(c);
	uint64_t size = e->end - e->start;

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	/* reader_mem_read gives zeros for what is not data: ---p, [vvar]. */
	return reader_mem_read(c->r, buf, len, e->start + off);
}

static int region_seek(const struct node_ctx *c, uint64_t off, int whence, uint64_t *out)
{
	const struct map_entry *e = region(c);
	uint64_t size = e->end - e->start, at;
	int rc;

	if (off >= size)
		return -ENXIO;
	rc = reader_mem_seek(c->r, e->start + off, whence, e->end, &at);
	if (rc)
		return rc;
	*out = at - e->start;
	return 0;
}

static const struct blob_ops region_blob = {
	.size = region_size, .read = region_read, .seek = region_seek,
};
const struct node region_file = BLOB("<start>-<end>", 0400, &region_blob);
