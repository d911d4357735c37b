/* modules/ and modules/<name>/{info,build-id,image}. */
#include <elf.h>
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

/* modules/: module i of the list, or the one of that name. */
int modules_gen(const struct node_ctx *dir, const char *name, size_t i,
		struct node_ent *out)
{
	const struct reader_module *v;
	size_t n;
	int rc = reader_modules(dir->r, &v, &n);

	if (rc)
		return rc;
	if (name) {
		const struct reader_module *m = reader_module_by_name(dir->r, name);

		if (!m)
			return -ENOENT;
		i = (size_t)(m - v);
	}
	if (i >= n)
		return -ENOENT;
	out->ctx = *dir;
	out->ctx.node = &module_dir;
	out->ctx.idx = i;
	snprintf(out->name, sizeof(out->name), "%s", v[i].name);
	return 0;
}

/* build-id exists only for modules that have one. */
static bool has_build_id(const struct node_ctx *c)
{
	const struct reader_module *m = module(c);
	struct mod_info mi;

	return m && reader_module_info(c->r, m, &mi) == 0 && mi.build_id_len;
}

static const char *type_name(int t)
{
	return t == MOD_ELF ? "ELF" : t == MOD_PE ? "PE" : "unknown";
}

static const char *elf_type_name(uint16_t t)
{
	switch (t) {
	case ET_REL: return "REL";
	case ET_EXEC: return "EXEC";
	case ET_DYN: return "DYN";
	case ET_CORE: return "CORE";
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
		sbuf_printf(sb, "elf_class %d\n", mi.elf_class == ELFCLASS64 ? 64 : 32);
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
	const struct reader_module *m = module(c);
	struct mod_info mi;
	char hex[2 * MOD_BUILD_ID_MAX + 1];
	int rc;

	if (!m)
		return -ENOENT;
	if ((rc = reader_module_info(c->r, m, &mi)))
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

/* file: the bytes of the file the module is mapped from (reader/state.c). */
static int file_size(const struct node_ctx *c, uint64_t *size, uint64_t *blocks)
{
	const struct reader_module *m = module(c);
	int rc = m ? reader_module_file(c->r, m, size) : -ENOENT;

	if (rc == 0)
		*blocks = (*size + 511) / 512;
	return rc;
}

static ssize_t file_read(const struct node_ctx *c, void *buf, size_t len, uint64_t off)
{
	const struct reader_module *m = module(c);

	return m ? reader_module_file_read(c->r, m, buf, len, off) : -EIO;
}

/* Whether modules/<name>/file can be served: mapped from a file we may open. */
static bool module_file_present(const struct node_ctx *c)
{
	const struct reader_module *m = module(c);
	uint64_t size;

	return m && reader_module_file(c->r, m, &size) == 0;
}

static const struct blob_ops module_file_blob = { .size = file_size, .read = file_read };

static const struct blob_ops image_blob = { .size = image_size, .read = image_read, .seek = image_seek };

/* modules/<name>/: one row a file. */
static const struct node module_entries[] = {
	TEXT("info", 0400, info_show),
	TEXT("build-id", 0400, build_id_show, .present = has_build_id),
	BLOB("image", 0400, &image_blob),
	/* The mapped file's bytes on disk, even unlinked. */
	BLOB("file", 0400, &module_file_blob, .present = module_file_present),
};

const struct node module_dir = TABLE("<module>", 0500, module_entries);
