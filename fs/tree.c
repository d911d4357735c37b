/* Path walk, listing and stat over the node tables and generators. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/tree.h"

void (*fs_on_detach)(void);
void (*fs_on_exit)(void);
void (*fs_on_ctl)(int want_live);

int fs_table_gen(const struct node_ctx *dir, const char *name, size_t i,
		 struct node_ent *out)
{
	const struct node *n = dir->node;

	if (name) {
		for (i = 0; i < n->nchildren; i++)
			if (strcmp(n->children[i].name, name) == 0)
				break;
	}
	if (i >= n->nchildren)
		return -ENOENT;
	out->ctx = *dir;
	out->ctx.node = &n->children[i];
	snprintf(out->name, sizeof(out->name), "%s", n->children[i].name);
	return 0;
}

/*
 * Entry i (name NULL) or the entry called name of a directory, if present:
 * walk and readdir both come through here.
 */
static int dir_gen(const struct node_ctx *dir, const char *name, size_t i,
		   struct node_ent *out)
{
	node_gen_fn gen = dir->node->gen ? dir->node->gen : fs_table_gen;
	int rc = gen(dir, name, i, out);

	if (rc)
		return rc;	/* -ENODATA from a generator: absent, as below */
	if (out->ctx.node->present && !out->ctx.node->present(&out->ctx))
		return -ENODATA;
	return 0;
}

int fs_walk(struct reader *r, const char *path, struct node_ctx *out)
{
	struct node_ctx ctx = { .node = &fs_root, .r = r };
	const char *p = path;

	if (r)
		ctx.gen = reader_generation(r);
	else if (fs_ptree)
		ctx.node = &fs_tree_root;	/* members bind their reader */
	else
		return -ENOENT;

	while (*p) {
		struct node_ent ent;
		char name[NAME_MAX + 1];
		size_t len;
		int rc;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		len = strcspn(p, "/");
		if (ctx.node->kind != NODE_DIR)
			return -ENOTDIR;
		if (len >= sizeof(name))
			return -ENAMETOOLONG;
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		rc = dir_gen(&ctx, name, 0, &ent);
		if (rc)
			return rc == -ENODATA ? -ENOENT : rc;
		ctx = ent.ctx;
	}
	*out = ctx;
	return 0;
}

int fs_list(const struct node_ctx *ctx, node_fill_fn fill, void *cookie)
{
	struct node_ent ent;

	if (ctx->node->kind != NODE_DIR)
		return -ENOTDIR;
	for (size_t i = 0;; i++) {
		int rc = dir_gen(ctx, NULL, i, &ent);

		if (rc == -ENOENT)
			return 0;
		if (rc == -ENODATA)	/* absent now: a later entry may not be */
			continue;
		if (rc || (rc = fill(cookie, ent.name)))
			return rc;
	}
}

int fs_show(const struct node_ctx *ctx, struct sbuf *out)
{
	int rc;

	if (ctx->node->kind != NODE_TEXT)
		return -EINVAL;
	rc = ctx->node->show(ctx, out);
	return rc ? rc : out->err;
}

int fs_link(const struct node_ctx *ctx, struct sbuf *out)
{
	int rc;

	if (ctx->node->kind != NODE_LINK)
		return -EINVAL;
	rc = ctx->node->show(ctx, out);
	return rc ? rc : out->err;
}

ssize_t fs_read(const struct node_ctx *ctx, void *buf, size_t len, uint64_t off)
{
	if (ctx->node->kind != NODE_BLOB)
		return -EINVAL;
	return ctx->node->blob->read(ctx, buf, len, off);
}

int fs_seek(const struct node_ctx *ctx, uint64_t off, int whence, uint64_t *out)
{
	uint64_t size = 0, blocks;
	int rc;

	if (ctx->node->kind != NODE_BLOB)
		return -EINVAL;
	if (ctx->node->blob->seek)
		return ctx->node->blob->seek(ctx, off, whence, out);
	/* No holes: data up to the end. */
	rc = ctx->node->blob->size(ctx, &size, &blocks);
	if (rc)
		return rc;
	if (off >= size)
		return -ENXIO;
	*out = whence == SEEK_DATA ? off : size;
	return 0;
}

bool fs_writable(const struct node_ctx *ctx)
{
	const struct node *n = ctx->node;

	if (n->flags & NF_RW)
		return reader_writable(ctx->r) && (!n->can_write || n->can_write(ctx));
	return n->write != NULL;
}

mode_t fs_mode(const struct node_ctx *ctx)
{
	if ((ctx->node->flags & NF_RW) && fs_writable(ctx))
		return ctx->node->mode | S_IWUSR;
	return ctx->node->mode;
}

int fs_write(const struct node_ctx *ctx, const char *buf, size_t len)
{
	if (!ctx->node->write || !fs_writable(ctx))
		return -EROFS;
	return ctx->node->write(ctx, buf, len);
}

ssize_t fs_pwrite(const struct node_ctx *ctx, const void *buf, size_t len, uint64_t off)
{
	if (ctx->node->kind != NODE_BLOB || !ctx->node->blob->write || !fs_writable(ctx))
		return -EROFS;
	return ctx->node->blob->write(ctx, buf, len, off);
}

int fs_stat(const struct node_ctx *ctx, struct stat *st)
{
	const struct node *n = ctx->node;
	struct sbuf sb = SBUF_INIT;
	uint64_t size = 0, blocks = 0;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	st->st_blksize = n->blksize ? (blksize_t)n->blksize : (blksize_t)sysconf(_SC_PAGESIZE);
	switch (n->kind) {
	case NODE_DIR:
		st->st_mode = S_IFDIR | n->mode;
		st->st_nlink = 2;
		return 0;
	case NODE_TEXT:
		/* Exact size: render it, as the open will. */
		rc = fs_show(ctx, &sb);
		size = sb.len;
		blocks = (size + 511) / 512;
		sbuf_free(&sb);
		st->st_mode = S_IFREG | fs_mode(ctx);
		break;
	case NODE_BLOB:
		rc = n->blob->size(ctx, &size, &blocks);
		st->st_mode = S_IFREG | fs_mode(ctx);
		break;
	case NODE_LINK:
		rc = fs_link(ctx, &sb);
		size = sb.len;
		sbuf_free(&sb);
		st->st_mode = S_IFLNK | 0777;
		break;
	}
	if (rc)
		return rc;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)blocks;
	return 0;
}
