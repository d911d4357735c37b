/*
 * The tree, as tables. Each directory is a static array of nodes (Linux
 * fs/proc/base.c's pid_entry, Plan 9's Dirtab); instance directories
 * (threads/<tid>) have list/bind operations instead of a table. One walk
 * function resolves a path for getattr, readdir, open, read and lseek, so
 * they cannot disagree. Knows nothing of FUSE: tests drive it directly.
 */
#ifndef PTRACEFS_TREE_H
#define PTRACEFS_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "arch/sbuf.h"
#include "reader/reader.h"

enum node_kind { NODE_DIR, NODE_TEXT, NODE_BLOB, NODE_LINK };

struct node;

/* Where a walk ended: the node plus the instance it is about. */
struct node_ctx {
	const struct node *node;
	struct reader *r;
	pid_t tid;		/* threads/<tid>/... */
	size_t idx;		/* modules/<i>, regions/<i> */
	unsigned gen;		/* the snapshot generation idx belongs to */
};

typedef int (*node_fill_fn)(void *cookie, const char *name);

struct node_ops {
	/* text: rendered once per open (and for getattr's exact size) */
	int (*show)(const struct node_ctx *, struct sbuf *);
	/* blob: exact size, sparse reads and SEEK_DATA/SEEK_HOLE */
	int (*size)(const struct node_ctx *, uint64_t *size, uint64_t *blocks);
	ssize_t (*read)(const struct node_ctx *, void *buf, size_t len, uint64_t off);
	int (*seek)(const struct node_ctx *, uint64_t off, int whence, uint64_t *out);
	/* instance directory: its children's names, and one name resolved */
	int (*list)(const struct node_ctx *, node_fill_fn, void *cookie);
	int (*bind)(const struct node_ctx *, const char *name, struct node_ctx *out);
	/* symlink target */
	int (*link)(const struct node_ctx *, struct sbuf *);
	/* a write-only control file: one command per write */
	int (*write)(const struct node_ctx *, const char *buf, size_t len);
};

struct node {
	const char *name;
	mode_t mode;			/* permission bits only */
	enum node_kind kind;
	const struct node_ops *ops;
	const struct node *children;	/* static directory */
	size_t nchildren;
	unsigned blksize;		/* preferred I/O size, 0: default */
	bool hold;			/* live mode: stop the target while open */
};

#define NODE_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NODE_TEXT_(n, m, o) { .name = n, .mode = m, .kind = NODE_TEXT, .ops = &(o) }
#define NODE_BLOB_(n, m, o, bs) { .name = n, .mode = m, .kind = NODE_BLOB, .ops = &(o), .blksize = bs }
#define NODE_LINK_(n, o) { .name = n, .mode = 0777, .kind = NODE_LINK, .ops = &(o) }
#define NODE_TABLE(n, m, t) { .name = n, .mode = m, .kind = NODE_DIR, .children = t, .nchildren = NODE_COUNT(t) }
#define NODE_INST(n, m, o) { .name = n, .mode = m, .kind = NODE_DIR, .ops = &(o) }

/* The root of the tree. */
extern const struct node fs_root;

/* Resolves "/a/b" from the root. -ENOENT, -ENOTDIR. */
int fs_walk(struct reader *r, const char *path, struct node_ctx *out);
/* Lists a directory's entries (without . and ..). */
int fs_list(const struct node_ctx *ctx, node_fill_fn fill, void *cookie);
/* Fills mode, size, blocks, blksize, nlink for a walked node. */
int fs_stat(const struct node_ctx *ctx, struct stat *st);
/* Renders a text node. */
int fs_show(const struct node_ctx *ctx, struct sbuf *out);

/* ctl's "detach": set by the FUSE glue to end the mount. */
extern void (*fs_on_detach)(void);

/* Per-directory tables and ops, defined next to their files. */
extern const struct node thread_dir;
extern const struct node region_file;
extern const struct node module_dir;
extern const struct node_ops threads_ops;	/* fs/thread_files.c */
extern const struct node_ops fpregs_ops;	/* fs/fpregs_file.c */
extern const struct node_ops core_ops;		/* fs/core_file.c */
extern const struct node_ops regions_ops;	/* fs/region_files.c */
extern const struct node_ops ctl_ops;		/* fs/ctl_file.c */
extern const struct node_ops modules_ops;	/* fs/module_files.c */
/* fs/state_files.c */
extern const struct node_ops fds_ops, ns_ops, cwd_ops, root_ops, limits_ops, signals_ops,
	cgroup_ops, smaps_ops, personality_ops, module_file_ops;

#endif
