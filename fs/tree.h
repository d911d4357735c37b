/*
 * The tree, as tables. Each directory is a static array of rows (Linux
 * fs/proc/base.c's pid_entry, Plan 9's Dirtab), each row carrying the
 * function that makes its file; instance directories (threads/<tid>,
 * modules/<name>, regions/<start>-<end>) have a generator instead (Plan 9's
 * procgen). One walk resolves a path for getattr, readdir, open, read and
 * lseek, and walk and readdir ask the same present() of a row, so they
 * cannot disagree. Knows nothing of FUSE: tests drive it directly.
 */
#ifndef PTRACEFS_TREE_H
#define PTRACEFS_TREE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "arch/sbuf.h"
#include "reader/reader.h"

enum node_kind { NODE_DIR, NODE_TEXT, NODE_BLOB, NODE_LINK };

/* node.flags */
#define NF_HOLD 0x1	/* live mode: the target stops while the file is open */
#define NF_RW 0x2	/* -o rw: takes writes (mode gains u+w); else read-only */

struct node;

/* Where a walk ended: the node plus the instance it is about. */
struct node_ctx {
	const struct node *node;
	struct reader *r;
	pid_t tid;		/* threads/<tid>/... */
	size_t idx;		/* modules/<i>, regions/<i> */
	unsigned gen;		/* the snapshot generation idx belongs to */
};

/* One entry of a directory, as a generator makes it. */
struct node_ent {
	struct node_ctx ctx;
	char name[NAME_MAX + 1];
};

typedef int (*node_show_fn)(const struct node_ctx *, struct sbuf *);
typedef int (*node_fill_fn)(void *cookie, const char *name);

/*
 * An instance directory's generator, after Plan 9's procgen. With a name
 * (a walk): the entry of that name, spelled as listed. Without (readdir):
 * entry i, 0, 1, 2, ..., with its name. Fills out->ctx (node and
 * instance) from dir; returns 0, -ENOENT for no such name or when i is
 * past the last entry, or -ENODATA when entry i is gone but later ones
 * may not be. Whether an entry exists now is also its node's present(),
 * which the caller asks of walks and listings alike.
 */
typedef int (*node_gen_fn)(const struct node_ctx *dir, const char *name, size_t i,
			   struct node_ent *out);

/* A file read on demand: exact size, sparse reads, SEEK_DATA/SEEK_HOLE. */
struct blob_ops {
	int (*size)(const struct node_ctx *, uint64_t *size, uint64_t *blocks);
	ssize_t (*read)(const struct node_ctx *, void *buf, size_t len, uint64_t off);
	int (*seek)(const struct node_ctx *, uint64_t off, int whence, uint64_t *out);
	/* NF_RW: bytes written at off (a short count stops at a hole), or -errno. */
	ssize_t (*write)(const struct node_ctx *, const void *buf, size_t len, uint64_t off);
};

struct node {
	const char *name;
	mode_t mode;			/* permission bits only */
	enum node_kind kind;
	unsigned flags;			/* NF_* */
	node_show_fn show;		/* text: its bytes, rendered once per open; link: its target */
	const struct blob_ops *blob;	/* blob */
	int (*write)(const struct node_ctx *, const char *buf, size_t len); /* one command per write */
	node_gen_fn gen;		/* instance directory */
	const struct node *children;	/* static directory */
	size_t nchildren;
	bool (*present)(const struct node_ctx *); /* NULL: always there */
	bool (*can_write)(const struct node_ctx *); /* NF_RW: NULL, or whether it can now */
	int arg;			/* the row's argument to show (PROC: which file) */
	unsigned blksize;		/* preferred I/O size, 0: the page size */
};

/*
 * Rows. One macro a kind, so a table reads like `ls -l`. After the
 * required arguments a row may add designators:
 *	TEXT("stack", 0400, stack_show, .flags = NF_HOLD)
 *	TEXT("build-id", 0400, build_id_show, .present = has_build_id)
 * A 1 MiB st_blksize makes cp and cat ask for 1 MiB at a time, and each
 * request is a round trip to the daemon: every blob has it.
 */
#define NODE_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define TEXT(n, m, ...) { .name = n, .mode = m, .kind = NODE_TEXT, .show = __VA_ARGS__ }
/* A /proc file's bytes as they were at suspension: PROC("cmdline", RB_CMDLINE) */
#define PROC(n, ...) { .name = n, .mode = 0400, .kind = NODE_TEXT, .show = fs_proc_show, .arg = __VA_ARGS__ }
#define BLOB(n, m, ...) { .name = n, .mode = m, .kind = NODE_BLOB, .blksize = 1 << 20, .blob = __VA_ARGS__ }
#define LINK(n, ...) { .name = n, .mode = 0777, .kind = NODE_LINK, .show = __VA_ARGS__ }
#define TABLE(n, m, t) { .name = n, .mode = m, .kind = NODE_DIR, .children = t, .nchildren = NODE_COUNT(t) }
#define INST(n, m, ...) { .name = n, .mode = m, .kind = NODE_DIR, .gen = __VA_ARGS__ }

/* The root of the tree. */
extern const struct node fs_root;
/*
 * -o tree (fs/ptree_files.c): the mounted processes, set before the mount,
 * NULL otherwise; and the root above their directories, where a walk
 * starts when it is given no reader.
 */
extern struct reader_tree *fs_ptree;
extern const struct node fs_tree_root;

/* Resolves "/a/b" from the root (-o tree: r NULL). -ENOENT, -ENOTDIR. */
int fs_walk(struct reader *r, const char *path, struct node_ctx *out);
/* Lists a directory's entries (without . and ..). */
int fs_list(const struct node_ctx *ctx, node_fill_fn fill, void *cookie);
/* Fills mode, size, blocks, blksize, nlink for a walked node. */
int fs_stat(const struct node_ctx *ctx, struct stat *st);
/* Renders a text node. */
int fs_show(const struct node_ctx *ctx, struct sbuf *out);
/* A symlink's target. */
int fs_link(const struct node_ctx *ctx, struct sbuf *out);
/* A blob's bytes at off, and SEEK_DATA/SEEK_HOLE over it. */
ssize_t fs_read(const struct node_ctx *ctx, void *buf, size_t len, uint64_t off);
int fs_seek(const struct node_ctx *ctx, uint64_t off, int whence, uint64_t *out);
/* One command to a writable node: 0 or -errno. */
int fs_write(const struct node_ctx *ctx, const char *buf, size_t len);
/* Bytes into a writable blob at off (mem): a count or -errno. */
ssize_t fs_pwrite(const struct node_ctx *ctx, const void *buf, size_t len, uint64_t off);
/* Whether the node takes writes now: ctl always, NF_RW rows on a -o rw mount. */
bool fs_writable(const struct node_ctx *ctx);
/* Its permission bits as stat shows them (u+w where writable). */
mode_t fs_mode(const struct node_ctx *ctx);

/* A static table as a generator: row i, or the row called name. */
int fs_table_gen(const struct node_ctx *dir, const char *name, size_t i,
		 struct node_ent *out);
/* PROC rows: the reader_file named by the row's arg. */
int fs_proc_show(const struct node_ctx *c, struct sbuf *sb);

/* ctl's "detach": set by the FUSE glue to end the mount (-o tree: of one
 * member, which leaves it mounted: fs_on_exit ends it, after the root's). */
extern void (*fs_on_detach)(void);
extern void (*fs_on_exit)(void);
/* After every ctl write, done or refused: the mode asked for (1 live,
 * 0 suspended, -1 unchanged). Set by the FUSE glue, which drops caches. */
extern void (*fs_on_ctl)(int want_live);

/* Tables, generators and row functions defined next to their files. */
extern const struct node thread_dir, module_dir, region_file;
int threads_gen(const struct node_ctx *, const char *, size_t, struct node_ent *);
int modules_gen(const struct node_ctx *, const char *, size_t, struct node_ent *);
int regions_gen(const struct node_ctx *, const char *, size_t, struct node_ent *);
int fpregs_show(const struct node_ctx *, struct sbuf *);	/* fs/fpregs_file.c */
bool fpregs_present(const struct node_ctx *);
bool fpregs_writable(const struct node_ctx *);
int fpregs_write(const struct node_ctx *, const char *buf, size_t len);
int ctl_show(const struct node_ctx *, struct sbuf *);		/* fs/ctl_file.c */
int ctl_write(const struct node_ctx *, const char *buf, size_t len);
extern const struct blob_ops core_blob;				/* fs/core_file.c */
/* fs/state_files.c */
int fds_gen(const struct node_ctx *, const char *, size_t, struct node_ent *);
int ns_gen(const struct node_ctx *, const char *, size_t, struct node_ent *);
int limits_show(const struct node_ctx *, struct sbuf *);
int signals_show(const struct node_ctx *, struct sbuf *);
int cgroup_show(const struct node_ctx *, struct sbuf *);
int smaps_show(const struct node_ctx *, struct sbuf *);
int personality_show(const struct node_ctx *, struct sbuf *);
int cwd_link(const struct node_ctx *, struct sbuf *);
int root_link(const struct node_ctx *, struct sbuf *);

#endif
