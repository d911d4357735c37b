/*
 * `core`: an ELF core file of the process, laid out by reader/core on
 * first use (getattr or open, whichever comes first) and read on demand.
 * st_blocks counts the bytes likely to be data, so `cp` sees a sparse
 * file and walks it with SEEK_DATA/SEEK_HOLE instead of reading holes.
 */
#include "fs/tree.h"
#include "reader/core.h"

static int core_size(const struct node_ctx *c, uint64_t *size, uint64_t *blocks)
{
	return reader_core_size(c->r, size, blocks);
}

static ssize_t core_read(const struct node_ctx *c, void *buf, size_t len, uint64_t off)
{
	return reader_core_read(c->r, buf, len, off);
}

static int core_seek(const struct node_ctx *c, uint64_t off, int whence, uint64_t *out)
{
	return reader_core_seek(c->r, off, whence, out);
}

const struct blob_ops core_blob = { .size = core_size, .read = core_read, .seek = core_seek };
