/*
 * minfuse: the least a FUSE file can do to serve another process's memory,
 * the baseline of the `mem` rows in bench/run.
 *
 *   minfuse PID ADDR LEN MOUNTPOINT [FUSE options, e.g. -f -s]
 *
 * One file, MOUNTPOINT/mem, LEN bytes long; byte i is the target's byte at
 * ADDR + i. Each read is answered with one process_vm_readv straight into
 * the buffer libfuse replies from. direct_io, as ptracefs opens its blobs:
 * every read reaches the daemon. No ptrace, no holes, no checks: what is
 * left is FUSE's own cost plus one copy, which ptracefs cannot go below.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

static pid_t pid;
static uint64_t base, size;

static int mf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0500;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/mem"))
		return -ENOENT;
	st->st_mode = S_IFREG | 0400;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blksize = 1 << 20;
	return 0;
}

static int mf_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/mem"))
		return -ENOENT;
	fi->direct_io = 1;
	return 0;
}

static int mf_read(const char *path, char *buf, size_t len, off_t off,
		   struct fuse_file_info *fi)
{
	struct iovec l = { buf, len }, r;
	ssize_t n;

	(void)path;
	(void)fi;
	if ((uint64_t)off >= size)
		return 0;
	if (len > size - (uint64_t)off)
		len = (size_t)(size - (uint64_t)off);
	l.iov_len = len;
	r.iov_base = (void *)(uintptr_t)(base + (uint64_t)off);
	r.iov_len = len;
	n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	return n < 0 ? -errno : (int)n;
}

static int mf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)path;
	(void)off;
	(void)fi;
	(void)flags;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "mem", NULL, 0, 0);
	return 0;
}

static const struct fuse_operations ops = {
	.getattr = mf_getattr,
	.open = mf_open,
	.read = mf_read,
	.readdir = mf_readdir,
};

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: minfuse PID ADDR LEN MOUNTPOINT [FUSE options]\n");
		return 2;
	}
	pid = (pid_t)strtol(argv[1], NULL, 0);
	base = strtoull(argv[2], NULL, 0);
	size = strtoull(argv[3], NULL, 0);
	/* argv[4..] (mountpoint and options) go to libfuse as they are */
	argv[3] = argv[0];
	return fuse_main(argc - 3, argv + 3, &ops, NULL);
}
