/* Path walk, listing and stat over the node tables. */
#include <errno.h>
#include <string.h>

#include "fs/tree.h"

/* For a static table, the child named name; NULL if none. */
static const struct node *table_find(const struct node *dir, const char *name,
				     size_t len)
{
	for (size_t i = 0; i < dir->nchildren; i++)
		if (strlen(dir->children[i].name) == len &&
		    memcmp(dir->children[i].name, name, len) == 0)
			return &dir->children[i];
	return NULL;
}

void (*fs_on_detach)(void);

int fs_walk(struct reader *r, const char *path, struct node_ctx *out)
{
	struct node_ctx ctx = { .node = &fs_root, .r = r, .gen = reader_generation(r) };
	const char *p = path;

	while (*p) {
		char name[256];
		size_t len;
		const struct node *child;

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

		/* An instance directory binds a name to its entry's context. */
		if (ctx.node->ops && ctx.node->ops->bind) {
			struct node_ctx next = ctx;
			int rc = ctx.node->ops->bind(&ctx, name, &next);

			if (rc)
				return rc;
			ctx = next;
			continue;
		}
		child = table_find(ctx.node, name, len);
		if (!child)
			return -ENOENT;
		ctx.node = child;
	}
	*out = ctx;
	return 0;
}

int fs_list(const struct node_ctx *ctx, node_fill_fn fill, void *cookie)
{
	const struct node *n = ctx->node;

	if (n->kind != NODE_DIR)
		return -ENOTDIR;
	if (n->ops && n->ops->list)
		return n->ops->list(ctx, fill, cookie);
	for (size_t i = 0; i < n->nchildren; i++) {
		int rc = fill(cookie, n->children[i].name);

		if (rc)
			return rc;
	}
	return 0;
}

int fs_show(const struct node_ctx *ctx, struct sbuf *out)
{
	int rc;

	if (ctx->node->kind != NODE_TEXT)
		return -EINVAL;
	rc = ctx->node->ops->show(ctx, out);
	return rc ? rc : out->err;
}

int fs_stat(const struct node_ctx *ctx, struct stat *st)
{
	const struct node *n = ctx->node;
	struct sbuf sb = SBUF_INIT;
	uint64_t size = 0, blocks = 0;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	st->st_blksize = n->blksize ? n->blksize : 4096;
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
		st->st_mode = S_IFREG | n->mode;
		break;
	case NODE_BLOB:
		rc = n->ops->size(ctx, &size, &blocks);
		st->st_mode = S_IFREG | n->mode;
		break;
	case NODE_LINK:
		rc = n->ops->link(ctx, &sb);
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
