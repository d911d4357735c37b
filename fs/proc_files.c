/* Files about the whole process, and the root table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/tree.h"

static int status_show(const struct node_ctx *c, struct sbuf *sb)
{
	const struct arch_desc *a = reader_arch(c->r);

	sbuf_printf(sb, "pid %d\n", (int)reader_pid(c->r));
	sbuf_printf(sb, "comm %s\n", reader_comm(c->r));
	sbuf_printf(sb, "exe %s\n", reader_exe(c->r));
	sbuf_printf(sb, "arch %s\n", a ? a->name : "unknown");
	sbuf_printf(sb, "state %s\n", reader_state(c->r));
	sbuf_printf(sb, "threads %zu\n", reader_threads(c->r, NULL, 0));
	sbuf_printf(sb, "mappings %zu\n", reader_maps(c->r)->n);
	return sb->err;
}

static int maps_show(const struct node_ctx *c, struct sbuf *sb)
{
	size_t len;
	const char *text = reader_maps_text(c->r, &len);

	return sbuf_append(sb, text, len);
}

static int mem_size(const struct node_ctx *c, uint64_t *size, uint64_t *blocks)
{
	*size = reader_mem_size(c->r);
	*blocks = reader_mem_data_bytes(c->r) / 512;
	return 0;
}

static ssize_t mem_read(const struct node_ctx *c, void *buf, size_t len, uint64_t off)
{
	uint64_t size = reader_mem_size(c->r);

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	return reader_mem_read(c->r, buf, len, off);
}

static int mem_seek(const struct node_ctx *c, uint64_t off, int whence, uint64_t *out)
{
	uint64_t size = reader_mem_size(c->r);

	if (off >= size)
		return -ENXIO;
	return reader_mem_seek(c->r, off, whence, size, out);
}

static const struct node_ops status_ops = { .show = status_show };
static const struct node_ops maps_ops = { .show = maps_show };
static const struct node_ops mem_ops = {
	.size = mem_size, .read = mem_read, .seek = mem_seek,
};

/*
 * The root directory, one row a file. A 1 MiB st_blksize makes cp and cat
 * ask for 1 MiB at a time: each request is a round trip to the daemon.
 */
static const struct node root_entries[] = {
	NODE_TEXT_("status", 0400, status_ops),
	NODE_TEXT_("maps", 0400, maps_ops),
	NODE_BLOB_("mem", 0400, mem_ops, 1 << 20),
	NODE_INST("threads", 0500, threads_ops),
	NODE_INST("modules", 0500, modules_ops),
	NODE_BLOB_("core", 0400, core_ops, 1 << 20),
};

const struct node fs_root = NODE_TABLE("/", 0500, root_entries);
