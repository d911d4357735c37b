/* modules/ and modules/<name>/{info,build-id,image}. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/tree.h"
#include "reader/state.h"

static const struct reader_module *module(const struct node_ctx *c)
{
	const struct reader_module *v;
	size_t n;

	if (reader_modules(c->r, &v, &n) || c->idx >= n)
		return NULL;
	return &v[c->idx];
}

static int modules_list(const struct node_ctx *c, node_fill_fn fill, void *cookie)
{
	const struct reader_module *v;
	size_t n;
	int rc = reader_modules(c->r, &v, &n);

	for (size_t i = 0; i < n && !rc; i++)
		rc = fill(cookie, v[i].name);
	return rc;
}

static int modules_bind(const struct node_ctx *c, const char *name, struct node_ctx *out)
{
	const struct reader_module *v, *m = reader_module_by_name(c->r, name);
	size_t n;

	if (!m || reader_modules(c->r, &v, &n))
		return -ENOENT;
	*out = *c;
	out->node = &module_dir;
	out->idx = (size_t)(m - v);
	return 0;
}

/* build-id exists only for modules that have one. */
static int module_dir_list(const struct node_ctx *c, node_fill_fn fill, void *cookie)
{
	struct mod_info mi;
	int rc;

	uint64_t size;

	if ((rc = fill(cookie, "info")) || (rc = fill(cookie, "image")))
		return rc;
	if (reader_module_file(c->r, module(c), &size) == 0 && (rc = fill(cookie, "file")))
		return rc;
	if (reader_module_info(c->r, module(c), &mi) == 0 && mi.build_id_len)
		rc = fill(cookie, "build-id");
	return rc;
}

static int module_dir_bind(const struct node_ctx *c, const char *name, struct node_ctx *out)
{
	for (size_t i = 0; i < module_dir.nchildren; i++)
		if (strcmp(module_dir.children[i].name, name) == 0) {
			struct mod_info mi;
			uint64_t size;

			if (strcmp(name, "file") == 0 && reader_module_file(c->r, module(c), &size))
				return -ENOENT;
			if (strcmp(name, "build-id") == 0 &&
			    (reader_module_info(c->r, module(c), &mi) || !mi.build_id_len))
				return -ENOENT;
			*out = *c;
			out->node = &module_dir.children[i];
			return 0;
		}
	return -ENOENT;
}

static const char *type_name(int t)
{
	return t == MOD_ELF ? "ELF" : t == MOD_PE ? "PE" : "unknown";
}

static const char *elf_type_name(uint16_t t)
{
	switch (t) {
	case 1: return "REL";
	case 2: return "EXEC";
	case 3: return "DYN";
	case 4: return "CORE";
	default: return "other";
	}
}

/* info: `key value` lines; the keys are documented in doc/ptracefs.1. */
static int info_show(const struct node_ctx *c, struct sbuf *sb)
{
	const struct reader_module *m = module(c);
	struct mod_info mi;
	uint64_t fsize = 0;
	char hex[2 * MOD_BUILD_ID_MAX + 1];
	int rc;

	if (!m)
		return -ENOENT;
	if ((rc = reader_module_info(c->r, m, &mi)))
		return rc;
	/* An unlinked file's path without the " (deleted)" maps adds. */
	sbuf_printf(sb, "path %.*s\n", (int)(strlen(m->path) - (m->deleted ? 10 : 0)), m->path);
	sbuf_printf(sb, "deleted %s\n", m->deleted ? "yes" : "no");
	sbuf_printf(sb, "base 0x%" PRIx64 "\n", m->base);
	sbuf_printf(sb, "end 0x%" PRIx64 "\n", m->end);
	sbuf_printf(sb, "type %s\n", type_name(mi.type));
	sbuf_printf(sb, "corrupt %s\n", mi.corrupt ? "yes" : "no");
	if (mi.corrupt && mi.why)
		sbuf_printf(sb, "problem %s\n", mi.why);
	if (mod_build_id_hex(&mi, hex, sizeof(hex)) > 0)
		sbuf_printf(sb, "build-id %s\n", hex);
	sbuf_printf(sb, "image_size 0x%" PRIx64 "\n", mi.image_size);
	sbuf_printf(sb, "executable %s\n", m->executable ? "yes" : "no");
	rc = reader_module_file_size(c->r, m, &fsize);
	if (rc == 0)
		sbuf_printf(sb, "file_size %" PRIu64 "\n", fsize);
	else
		sbuf_puts(sb, rc == -EIO ? "file_size unknown\n" : "file_size missing\n");
	if (mi.type == MOD_ELF) {
		sbuf_printf(sb, "elf_class %d\n", mi.elf_class == 2 ? 64 : 32);
		sbuf_printf(sb, "elf_type %s\n", elf_type_name(mi.elf_type));
		sbuf_printf(sb, "elf_machine %u\n", mi.elf_machine);
		if (mi.version[0])
			sbuf_printf(sb, "version %s\n", mi.version);
	} else if (mi.type == MOD_PE) {
		sbuf_printf(sb, "pe_machine 0x%04x\n", mi.pe_machine);
		sbuf_printf(sb, "pe_timestamp 0x%08x\n", mi.pe_timestamp);
		sbuf_printf(sb, "pe_size_of_image 0x%x\n", mi.pe_size_of_image);
	}
	return sb->err;
}

static int build_id_show(const struct node_ctx *c, struct sbuf *sb)
{
	struct mod_info mi;
	char hex[2 * MOD_BUILD_ID_MAX + 1];
	int rc = reader_module_info(c->r, module(c), &mi);

	if (rc)
		return rc;
	if (mod_build_id_hex(&mi, hex, sizeof(hex)) <= 0)
		return -ENOENT;
	return sbuf_printf(sb, "%s\n", hex);
}

static int image_size(const struct node_ctx *c, uint64_t *size, uint64_t *blocks)
{
	const struct reader_module *m = module(c);

	if (!m)
		return -ENOENT;
	*size = m->end - m->base;
	*blocks = *size / 512;
	return 0;
}

static ssize_t image_read(const struct node_ctx *c, void *buf, size_t len, uint64_t off)
{
	const struct reader_module *m = module(c);
	uint64_t size;

	if (!m)
		return -ENOENT;
	size = m->end - m->base;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	return reader_mem_read(c->r, buf, len, m->base + off);
}

static int image_seek(const struct node_ctx *c, uint64_t off, int whence, uint64_t *out)
{
	const struct reader_module *m = module(c);
	uint64_t at;
	int rc;

	if (!m)
		return -ENOENT;
	if (off >= m->end - m->base)
		return -ENXIO;
	rc = reader_mem_seek(c->r, m->base + off, whence, m->end, &at);
	if (rc == 0)
		*out = at - m->base;
	return rc;
}

const struct node_ops modules_ops = { .list = modules_list, .bind = modules_bind };
static const struct node_ops module_dir_ops = { .list = module_dir_list, .bind = module_dir_bind };
static const struct node_ops info_ops = { .show = info_show };
static const struct node_ops build_id_ops = { .show = build_id_show };
static const struct node_ops image_ops = { .size = image_size, .read = image_read, .seek = image_seek };

/* modules/<name>/: one row a file; build-id is hidden when there is none. */
static const struct node module_entries[] = {
	NODE_TEXT_("info", 0400, info_ops),
	NODE_TEXT_("build-id", 0400, build_id_ops),
	NODE_BLOB_("image", 0400, image_ops, 1 << 20),
	/* The mapped file's bytes on disk, even unlinked (fs/state_files.c). */
	NODE_BLOB_("file", 0400, module_file_ops, 1 << 20),
};

const struct node module_dir = {
	.name = "<module>", .mode = 0500, .kind = NODE_DIR, .ops = &module_dir_ops,
	.children = module_entries, .nchildren = NODE_COUNT(module_entries),
};
