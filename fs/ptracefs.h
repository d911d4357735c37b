/* Shared by the FUSE glue and main: the mounted state. */
#ifndef PTRACEFS_FS_H
#define PTRACEFS_FS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "reader/reader.h"

struct ptracefs {
	struct reader *r;		/* NULL with -o tree: */
	struct reader_tree *tree;	/* one reader a member (fs/ptree_files.c) */
	bool debug;
	struct timespec suspended;	/* every file's times: the snapshot's */
	/* Lazily unmounted (fs/watch.c): the target is let go and every
	 * request fails with EIO until the kernel drops the connection. */
	atomic_bool released;
};

/* The FUSE operations (fs/fuse_ops.c); user_data is a struct ptracefs. */
struct fuse_operations;
const struct fuse_operations *ptracefs_ops(void);
/* Drops whatever the kernel cached of the tree (fs/fuse_ops.c). */
void ptracefs_tree_changed(void);

#endif
