/*
 * The FUSE callbacks: thin glue between the kernel's requests and the node
 * tables. Every path goes through fs_walk(); text files are rendered once
 * per open into the file handle, blobs are read on demand.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/ptracefs.h"
#include "fs/tree.h"

struct fs_fh {
	struct node_ctx ctx;
	char *text;		/* text nodes: the snapshot taken at open */
	size_t len;
	bool lazy;		/* cached text: rendered at the first read, if any */
	pthread_mutex_t mu;	/* lazy rendering */
	char *path;		/* to walk again after a refresh */
	bool held;		/* holds the target stopped until release */
	struct fs_fh *prev, *next;	/* on open_fhs */
};

/*
 * Every handle not yet released. A daemon told to exit (SIGTERM, a lazy
 * unmount) while readers still hold files open never sees their release:
 * op_destroy frees what is left.
 */
static pthread_mutex_t fh_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fs_fh *open_fhs;

static void fh_link(struct fs_fh *fh)
{
	pthread_mutex_lock(&fh_mu);
	fh->next = open_fhs;
	if (open_fhs)
		open_fhs->prev = fh;
	open_fhs = fh;
	pthread_mutex_unlock(&fh_mu);
}

static void fh_free(struct fs_fh *fh)
{
	pthread_mutex_lock(&fh_mu);
	if (fh->prev)
		fh->prev->next = fh->next;
	else
		open_fhs = fh->next;
	if (fh->next)
		fh->next->prev = fh->prev;
	pthread_mutex_unlock(&fh_mu);
	if (fh->held)
		reader_release_suspend(fh->ctx.r);
	pthread_mutex_destroy(&fh->mu);
	free(fh->text);
	free(fh->path);
	free(fh);
}

/*
 * getattr renders a text file to report its exact size, and the open
 * that follows (cat: LOOKUP, which is a getattr, then OPEN) would render
 * it again; in live mode each rendering of regs interrupts the thread.
 * So getattr keeps its rendering, and an open of the same path and
 * snapshot generation within RENDER_TTL_MS takes it instead of rendering:
 * one rendering per cat, and the size the kernel was told is the size of
 * what that open serves. The TTL is attr_timeout, the time the kernel
 * trusts that size anyway.
 */
#define RENDER_SLOTS 8
#define RENDER_TTL_MS 1000

struct rendering {
	char *path;		/* NULL: a free slot */
	unsigned gen;
	char *text;
	size_t len;
	uint64_t at_ms;
};

static pthread_mutex_t render_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rendering renders[RENDER_SLOTS];

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void render_clear(struct rendering *x)
{
	free(x->path);
	free(x->text);
	memset(x, 0, sizeof(*x));
}

/* Keeps text (taking it) for the next open of path; frees it if it cannot. */
static void render_keep(const char *path, unsigned gen, char *text, size_t len)
{
	struct rendering *slot = &renders[0];
	char *p = strdup(path);

	if (!p) {
		free(text);
		return;
	}
	pthread_mutex_lock(&render_mu);
	/* The same path's older rendering, else a free slot, else the oldest. */
	for (size_t i = 0; i < RENDER_SLOTS; i++) {
		struct rendering *x = &renders[i];

		if (x->path && strcmp(x->path, path) == 0) {
			slot = x;
			break;
		}
		if (slot->path && (!x->path || x->at_ms < slot->at_ms))
			slot = x;
	}
	render_clear(slot);
	*slot = (struct rendering){ p, gen, text, len, mono_ms() };
	pthread_mutex_unlock(&render_mu);
}

/* The rendering getattr kept for path, if fresh: the caller owns it. */
static char *render_take(const char *path, unsigned gen, size_t *len)
{
	uint64_t now = mono_ms();
	char *text = NULL;

	pthread_mutex_lock(&render_mu);
	for (size_t i = 0; i < RENDER_SLOTS; i++) {
		struct rendering *x = &renders[i];

		if (!x->path || strcmp(x->path, path) != 0)
			continue;
		if (x->gen == gen && now - x->at_ms < RENDER_TTL_MS) {
			text = x->text;
			*len = x->len;
			x->text = NULL;
		}
		render_clear(x);
		break;
	}
	pthread_mutex_unlock(&render_mu);
	return text;
}

static struct ptracefs *app(void)
{
	return fuse_get_context()->private_data;
}

/*
 * The reader a path is about: the mount's, or with -o tree the member's
 * whose directory the path is in (NULL for the tree's own files, which no
 * snapshot holds, and for anything that is no member).
 */
static struct reader *path_reader(const char *path)
{
	char *end;
	long pid;

	if (!fs_ptree)
		return app()->r;
	while (*path == '/')
		path++;
	if (*path < '1' || *path > '9')
		return NULL;
	pid = strtol(path, &end, 10);
	if ((*end && *end != '/') || pid > 0x7fffffff)
		return NULL;
	return reader_tree_reader(fs_ptree, (pid_t)pid);
}

/* -o tree: whether any member runs (ctl resume): nothing may be cached then. */
static bool any_live(void)
{
	if (!fs_ptree)
		return reader_is_live(app()->r);
	for (size_t i = 0; i < reader_tree_count(fs_ptree); i++) {
		struct reader *r = reader_tree_member(fs_ptree, i)->r;

		if (r && !reader_gone(r) && reader_is_live(r))
			return true;
	}
	return false;
}

/*
 * Kernel caching while the target is suspended. The tree cannot change
 * then but for a few events, so names, attributes and text files are
 * trusted for FROZEN_TIMEOUT_S and every event that changes the tree
 * drops all of it at once (tree_changed): a ctl command, a thread's exit
 * (the group's SIGKILL: nothing else ends a stopped thread), a lazy
 * unmount's release. Live mode (asked for with -o live or ctl resume)
 * caches nothing but attributes for a second, as before.
 *
 * The drop is FUSE_NOTIFY_INC_EPOCH (FUSE 7.44, Linux 6.16): every dentry
 * made before it fails its next revalidation, so the next walk LOOKUPs
 * again and gets fresh attributes, whose new mtime (tree_mtime) makes
 * the kernel drop the file's cached pages (FUSE_CAP_AUTO_INVAL_DATA).
 * It only increments a counter in the kernel: unlike inval_entry and
 * inval_inode it takes no lock and waits on no page, so it is safe inside
 * a request (the ctl write that resumes) and on the tracer thread, and it
 * is done before that write returns or the exit is reaped: nobody sees
 * the old tree after the event. libfuse 3.14 has no call for it; the
 * message is a bare header. Older kernels: no caching at all.
 */
#define FROZEN_TIMEOUT_S 86400.0
#define FUSE_NOTIFY_INC_EPOCH_CODE 8	/* <linux/fuse.h> 7.44; Debian 12's is 7.38 */

static struct fuse_config *conf;	/* libfuse's own, read at every reply */
static _Atomic int notify_fd = -1;		/* /dev/fuse; -1: the kernel cannot drop */
static atomic_bool cache_on;		/* suspended by the user's wish */
static _Atomic unsigned tree_version;	/* bumped by each tree_changed */

/* Timeouts for the mode: libfuse copies them into each reply. */
static void cache_mode(bool frozen)
{
	bool on = frozen && notify_fd >= 0;

	atomic_store(&cache_on, on);
	/* Plain doubles that libfuse reads unlocked: aligned, so never torn. */
	conf->entry_timeout = on ? FROZEN_TIMEOUT_S : 0;
	/*
	 * Live: attributes for a second. Every walk still revalidates each
	 * name with a LOOKUP, which refreshes them; with 0 the permission
	 * check on every directory of every walk (default_permissions) and
	 * every fstat cost one more GETATTR.
	 */
	conf->attr_timeout = on ? FROZEN_TIMEOUT_S : 1.0;
}

/* Whatever the kernel cached of the tree is stale from now on. */
static void tree_changed(void)
{
	struct { uint32_t len; int32_t error; uint64_t unique; } oh = {
		.len = sizeof(oh), .error = FUSE_NOTIFY_INC_EPOCH_CODE,	/* fuse_out_header */
	};

	atomic_fetch_add(&tree_version, 1);
	if (notify_fd >= 0 && write(notify_fd, &oh, sizeof(oh)) < 0)
		(void)0;	/* the connection is gone: nothing is cached any more */
}

void ptracefs_tree_changed(void)
{
	tree_changed();
}

static void on_reader_change(void *arg)
{
	(void)arg;
	tree_changed();
}

/* ctl: each command is an event (and its refusal changes ctl itself). */
static void on_ctl(int want_live)
{
	/* -o snapshot: resume lets the target go, the tree stays frozen. */
	if (want_live >= 0)
		cache_mode(fs_ptree ? !any_live() :
			   (!want_live || strcmp(reader_state(app()->r), "snapshot") == 0));
	tree_changed();
}

/*
 * Every file's times: when the tree of this version was first seen. A
 * new version's new mtime is what makes the kernel drop cached pages.
 */
static struct timespec tree_mtime(void)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static unsigned seen;
	static struct timespec at;
	/* -o tree: every refresh of a member comes with a tree_changed. */
	unsigned v = (app()->r ? reader_generation(app()->r) : 0) + atomic_load(&tree_version);
	struct timespec now;

	pthread_mutex_lock(&mu);
	if (at.tv_sec == 0) {
		at = app()->suspended;
		seen = v;
	} else if (v != seen) {
		clock_gettime(CLOCK_REALTIME, &now);
		/* strictly later, so two versions never share an mtime */
		if (now.tv_sec < at.tv_sec || (now.tv_sec == at.tv_sec && now.tv_nsec <= at.tv_nsec)) {
			now = at;
			if (++now.tv_nsec == 1000000000L) {
				now.tv_sec++;
				now.tv_nsec = 0;
			}
		}
		at = now;
		seen = v;
	}
	now = at;
	pthread_mutex_unlock(&mu);
	return now;
}

/*
 * A thread of the target asking about its own process would wait on a
 * request that cannot finish while the target is suspended: fail it fast.
 * The last caller found not to be one is remembered, which spares the
 * /proc lookup (a fifth of the daemon's time in `cat threads/<tid>/regs`)
 * on the run of requests one reader makes: a suspended target starts no
 * thread, so that pid cannot turn into one of its threads until it runs
 * again. Live mode asks every time; each suspension bumps the generation.
 */
static _Atomic uint64_t last_outsider;	/* generation << 32 | pid */

static bool caller_is_target(struct reader *r)
{
	pid_t caller = fuse_get_context()->pid;
	uint64_t key = (uint64_t)reader_generation(r) << 32 | (uint32_t)caller;
	bool live = reader_is_live(r);
	char path[64];

	if (!live && key == atomic_load_explicit(&last_outsider, memory_order_relaxed))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)reader_pid(r), (int)caller);
	if (access(path, F_OK) == 0)
		return true;
	if (!live)
		atomic_store_explicit(&last_outsider, key, memory_order_relaxed);
	return false;
}

/* The tree's own files (-o tree) need no reader: r NULL. */
static int walk(struct reader *r, const char *path, struct node_ctx *ctx)
{
	if (r && caller_is_target(r))
		return -EDEADLK;
	return fs_walk(app()->r, path, ctx);
}

/*
 * Every request runs with the snapshot held shared, so a refresh (live
 * mode, ctl) never changes it under a reader. A node that needs the
 * target stopped (stack, core) first takes a hold, which in live mode
 * suspends it. On success the lock is held: leave() drops it.
 */
static int enter(const char *path, struct fs_fh *fh, struct node_ctx *ctx,
		 bool *held, bool fresh)
{
	struct reader *r = fh ? fh->ctx.r : path_reader(path);
	int rc;

	*held = false;
	if (atomic_load(&app()->released))
		return -EIO;
	/* -o tree: processes, ctl, the root itself; ctx->r stays NULL. */
	if (!r) {
		if (!fh)
			return walk(NULL, path, ctx);
		*ctx = fh->ctx;
		return 0;
	}
	/* Opens in live mode first catch up with a changed address space. */
	if (fresh)
		reader_refresh_if_changed(r);
	for (;;) {
		reader_rdlock(r);
		if (fh && fh->ctx.gen == reader_generation(r)) {
			*ctx = fh->ctx;
			rc = 0;
		} else {
			/* A refresh since the open: indexes into maps moved. */
			rc = walk(r, fh ? fh->path : path, ctx);
		}
		if (rc == 0 && (!(ctx->node->flags & NF_HOLD) || *held || !reader_is_live(r)))
			return 0;
		reader_unlock(r);
		if (rc || *held) {
			if (*held)
				reader_release_suspend(r);
			return rc ? rc : -EIO;
		}
		rc = reader_hold_suspend(r);
		if (rc)
			return rc;
		*held = true;
	}
}

/* After enter: r is the ctx->r it gave. */
static void leave(struct reader *r, bool held)
{
	if (!r)
		return;
	reader_unlock(r);
	if (held)
		reader_release_suspend(r);
}

static void *exit_soon(void *arg)
{
	(void)arg;
	/* Let the worker's reply to the ctl write reach the kernel first. */
	usleep(100 * 1000);
	/*
	 * libfuse 3.14's loop wakes only for a signal on its own thread;
	 * every other thread blocks SIGTERM, so this one lands there.
	 */
	kill(getpid(), SIGTERM);
	return NULL;
}

static void request_exit(void)
{
	pthread_t t;
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, NULL, exit_soon, NULL) == 0)
		pthread_detach(t);
	else
		kill(getpid(), SIGTERM);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fuse *f = fuse_get_context()->fuse;

	conf = cfg;
	/* A thread may come back after a refresh: never cache its absence. */
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	/* Each request is small: splicing it out of /dev/fuse costs a syscall. */
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	if (conn->proto_major > 7 || (conn->proto_major == 7 && conn->proto_minor >= 44))
		notify_fd = fuse_session_fd(fuse_get_session(f));
	cache_mode(!any_live());
	if (fs_ptree) {
		for (size_t i = 0; i < reader_tree_count(fs_ptree); i++)
			if (reader_tree_member(fs_ptree, i)->r)
				reader_on_change(reader_tree_member(fs_ptree, i)->r,
						 on_reader_change, NULL);
	} else {
		reader_on_change(app()->r, on_reader_change, NULL);
	}
	/* -o tree: a member's detach leaves the others mounted. */
	fs_on_detach = fs_ptree ? tree_changed : request_exit;
	fs_on_exit = request_exit;
	fs_on_ctl = on_ctl;
	return app();
}

static void text_attr(const struct node_ctx *ctx, size_t len, struct stat *st)
{
	const struct node *n = ctx->node;

	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | fs_mode(ctx);
	st->st_nlink = 1;
	st->st_size = (off_t)len;
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
	st->st_blksize = n->blksize ? (blksize_t)n->blksize : (blksize_t)sysconf(_SC_PAGESIZE);
}

/* A text file's exact size, by rendering it: kept for the open to come. */
static int text_stat(const char *path, const struct node_ctx *ctx, struct stat *st)
{
	struct sbuf sb = SBUF_INIT;
	size_t len;
	char *text;
	int rc = fs_show(ctx, &sb);

	if (rc) {
		sbuf_free(&sb);
		return rc;
	}
	text = sbuf_detach(&sb, &len);
	text_attr(ctx, len, st);
	if (!text)
		text = strdup("");
	if (text)
		render_keep(path, ctx->gen, text, len);
	return 0;
}

/*
 * A cached text file's rendering, made at its first read: an open the
 * kernel answers from its page cache renders nothing.
 */
static int fh_text(struct fs_fh *fh)
{
	struct node_ctx ctx;
	struct sbuf sb = SBUF_INIT;
	bool held;
	int rc = 0;

	pthread_mutex_lock(&fh->mu);
	if (!fh->text && !(fh->text = render_take(fh->path, fh->ctx.gen, &fh->len))) {
		if ((rc = enter(NULL, fh, &ctx, &held, false)) == 0) {
			rc = fs_show(&ctx, &sb);
			leave(ctx.r, held);
		}
		fh->text = rc ? NULL : sbuf_detach(&sb, &fh->len);
		if (!rc && !fh->text && !(fh->text = strdup("")))
			rc = -ENOMEM;
		sbuf_free(&sb);
	}
	pthread_mutex_unlock(&fh->mu);
	return rc == -ENOENT ? -EIO : rc;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs_fh *fh = fi ? (struct fs_fh *)(uintptr_t)fi->fh : NULL;
	struct node_ctx ctx;
	bool held;
	int rc;

	if (fh && (fh->text || fh->lazy)) {
		/* The snapshot this reader has: its size, without a new one. */
		if ((rc = fh_text(fh)))
			return rc;
		text_attr(&fh->ctx, fh->len, st);
		rc = 0;
		held = false;
		ctx = fh->ctx;
		if (ctx.r)
			reader_rdlock(ctx.r);
	} else {
		if ((rc = enter(path, fh, &ctx, &held, false)))
			return rc;
		if (!fh && ctx.node->kind == NODE_TEXT)
			rc = text_stat(path, &ctx, st);
		else
			rc = fs_stat(&ctx, st);
	}
	leave(ctx.r, held);
	if (rc)
		return rc;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atim = st->st_mtim = st->st_ctim = tree_mtime();
	return 0;
}

struct fill_cookie {
	void *buf;
	fuse_fill_dir_t filler;
	const char *dir;	/* suspended: subdirectories come with attributes */
	off_t next, from;	/* this entry's offset; the first one wanted */
};

/*
 * Entries carry offsets (1, 2, ...): libfuse 3.14 makes readdirplus
 * entries only in that mode. Suspended, a subdirectory's entry carries
 * its attributes, which saves the LOOKUP of each threads/<tid> a glob
 * makes. Files do not: their attributes are a rendering (stack unwinds
 * every thread).
 */
static int fill_one(void *cookie, const char *name)
{
	struct fill_cookie *fc = cookie;
	char path[PATH_MAX];
	struct node_ctx ctx;
	struct stat st;
	off_t off = ++fc->next;

	if (off <= fc->from)
		return 0;
	if (fc->dir && (size_t)snprintf(path, sizeof(path), "%s/%s",
					strcmp(fc->dir, "/") ? fc->dir : "", name) < sizeof(path) &&
	    fs_walk(app()->r, path, &ctx) == 0 && ctx.node->kind == NODE_DIR &&
	    fs_stat(&ctx, &st) == 0) {
		st.st_uid = getuid();
		st.st_gid = getgid();
		st.st_atim = st.st_mtim = st.st_ctim = tree_mtime();
		return fc->filler(fc->buf, name, &st, off, FUSE_FILL_DIR_PLUS) ? -ENOBUFS : 0;
	}
	memset(&st, 0, sizeof(st));
	return fc->filler(fc->buf, name, &st, off, 0) ? -ENOBUFS : 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fill_cookie fc = { buf, filler, NULL, 0, off };
	struct node_ctx ctx;
	bool held;
	int rc;

	(void)fi;
	if ((rc = enter(path, NULL, &ctx, &held, true)))
		return rc;
	if ((flags & FUSE_READDIR_PLUS) && atomic_load(&cache_on))
		fc.dir = path;
	rc = fill_one(&fc, ".");
	if (rc == 0)
		rc = fill_one(&fc, "..");
	if (rc == 0)
		rc = fs_list(&ctx, fill_one, &fc);
	leave(ctx.r, held);
	return rc == -ENOBUFS ? 0 : rc;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;
	struct fs_fh *fh;
	struct node_ctx ctx;
	bool held;
	int rc;

	if ((rc = enter(path, NULL, &ctx, &held, true)))
		return rc;
	rc = -EACCES;
	if (ctx.node->kind == NODE_DIR)
		rc = -EISDIR;
	else if (acc == O_RDONLY && !(fi->flags & O_TRUNC))
		rc = 0;
	/* ctl; with -o rw mem and regs. mem is never truncated (op_truncate). */
	else if (fs_writable(&ctx))
		rc = (fi->flags & O_TRUNC) && ctx.node->kind == NODE_BLOB ? -EPERM : 0;
	fh = rc ? NULL : calloc(1, sizeof(*fh));
	if (!rc && (!fh || !(fh->path = strdup(path))))
		rc = -ENOMEM;
	if (!rc) {
		fh->ctx = ctx;
		pthread_mutex_init(&fh->mu, NULL);
		/*
		 * Suspended: the kernel keeps the pages. Not what a write may
		 * change: ctl, and regs with -o rw (without it regs is read-only
		 * here, and cached like any other text).
		 */
		fh->lazy = atomic_load(&cache_on) && ctx.node->kind == NODE_TEXT &&
			   !fs_writable(&ctx);
		/* What the getattr before this open rendered, else a rendering now. */
		if (ctx.node->kind == NODE_TEXT && !fh->lazy &&
		    !(fh->text = render_take(path, ctx.gen, &fh->len))) {
			struct sbuf sb = SBUF_INIT;

			rc = fs_show(&ctx, &sb);
			fh->text = rc ? NULL : sbuf_detach(&sb, &fh->len);
			if (!rc && !fh->text)
				fh->text = strdup("");
			sbuf_free(&sb);
		}
	}
	/* A text file is made: only a blob (core) keeps its hold open. */
	if (!rc && held && ctx.node->kind == NODE_BLOB) {
		fh->held = true;
		held = false;
	}
	leave(ctx.r, held);
	if (rc) {
		if (fh) {
			if (fh->path)
				pthread_mutex_destroy(&fh->mu);
			free(fh->text);
			free(fh->path);
			free(fh);
		}
		return rc;
	}
	/*
	 * Live, and blobs: every read reaches us, content is a snapshot per
	 * open. Suspended text: the pages stay valid until tree_changed.
	 */
	fi->direct_io = !fh->lazy;
	fi->keep_cache = fh->lazy;
	fi->fh = (uintptr_t)fh;
	fh_link(fh);
	return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;

	(void)path;
	if (fh)
		fh_free(fh);
	return 0;
}

/* After the loop: no request runs any more, released or not. */
static void op_destroy(void *private_data)
{
	(void)private_data;
	while (open_fhs)
		fh_free(open_fhs);
	for (size_t i = 0; i < RENDER_SLOTS; i++)
		render_clear(&renders[i]);
}

static int op_read(const char *path, char *buf, size_t len, off_t off,
		   struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	struct node_ctx ctx;
	ssize_t n;
	bool held;
	int rc;

	(void)path;
	if (off < 0)
		return -EINVAL;
	/* Lazily unmounted: the target runs on, no snapshot holds any more. */
	if (atomic_load(&app()->released))
		return -EIO;
	/* A file of a thread that has exited: the snapshot no longer holds. */
	if (fh->ctx.tid && reader_thread_alive(fh->ctx.r, fh->ctx.tid))
		return -EIO;
	if (fh->lazy && (rc = fh_text(fh)))
		return rc;
	if (fh->text) {
		if ((uint64_t)off >= fh->len)
			return 0;
		if (len > fh->len - (size_t)off)
			len = fh->len - (size_t)off;
		memcpy(buf, fh->text + off, len);
		return (int)len;
	}
	if (fh->ctx.node->kind != NODE_BLOB)
		return -EINVAL;
	if ((rc = enter(NULL, fh, &ctx, &held, false)))
		return rc == -ENOENT ? -EIO : rc;
	n = fs_read(&ctx, buf, len, (uint64_t)off);
	leave(ctx.r, held);
	return (int)n;
}

static off_t op_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	struct node_ctx ctx;
	uint64_t out;
	bool held;
	int rc;

	(void)path;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	if (fh->lazy && (rc = fh_text(fh)))
		return rc;
	if (fh->text) {
		if ((uint64_t)off >= fh->len)
			return -ENXIO;
		return whence == SEEK_DATA ? off : (off_t)fh->len;
	}
	if ((rc = enter(NULL, fh, &ctx, &held, false)))
		return rc == -ENOENT ? -EIO : rc;
	rc = fs_seek(&ctx, (uint64_t)off, whence, &out);
	leave(ctx.r, held);
	return rc ? rc : (off_t)out;
}

/*
 * mem (-o rw): bytes at off == address, under the snapshot like a read.
 * ctl, regs: one command (a set of registers) per write, outside the
 * snapshot lock (ctl may refresh). Whatever a write changed, the reader's
 * caches of it are dropped after (reader_written; a register write does
 * it itself, under the exclusive lock), and with them the
 * renderings keyed by the generation; and so is everything the kernel
 * cached of the tree while suspended (tree_changed: regs of the thread
 * written, its stat, a text file that shows the memory).
 */
static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	struct node_ctx ctx;
	bool held;
	ssize_t n;
	int rc;

	(void)path;
	if (!fh)
		return -EROFS;
	if (atomic_load(&app()->released))
		return -EIO;
	if (fh->ctx.node->kind == NODE_BLOB) {
		if (off < 0)
			return -EINVAL;
		if ((rc = enter(NULL, fh, &ctx, &held, false)))
			return rc == -ENOENT ? -EIO : rc;
		n = fs_pwrite(&ctx, buf, size, (uint64_t)off);
		leave(ctx.r, held);
		if (n > 0 && fh->ctx.r) {
			reader_written(fh->ctx.r);
			tree_changed();
		}
		return (int)n;
	}
	/* regs, fpregs: the reader drops its own caches, under its lock. */
	rc = fs_write(&fh->ctx, buf, size);
	if (rc == 0 && (fh->ctx.node->flags & NF_RW))
		tree_changed();
	return rc < 0 ? rc : (int)size;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	struct sbuf sb = SBUF_INIT;
	struct node_ctx ctx;
	bool held;
	int rc;

	if ((rc = enter(path, NULL, &ctx, &held, false)))
		return rc;
	rc = fs_link(&ctx, &sb);
	leave(ctx.r, held);
	if (rc == 0 && size) {
		size_t n = sb.len < size - 1 ? sb.len : size - 1;

		memcpy(buf, sb.buf ? sb.buf : "", n);
		buf[n] = '\0';
	}
	sbuf_free(&sb);
	return rc;
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct node_ctx ctx;
	bool held;
	int rc;

	(void)fi;
	if ((rc = enter(path, NULL, &ctx, &held, true)))
		return rc;
	rc = ctx.node->kind == NODE_DIR ? 0 : -ENOTDIR;
	leave(ctx.r, held);
	return rc;
}

/* The tree is read-only: every modifying request fails the same way. */
static int ro_path(const char *p) { (void)p; return -EROFS; }
static int ro_mode(const char *p, mode_t m) { (void)p; (void)m; return -EROFS; }
static int ro_two(const char *a, const char *b) { (void)a; (void)b; return -EROFS; }
static int ro_rename(const char *a, const char *b, unsigned f) { (void)a; (void)b; (void)f; return -EROFS; }
static int ro_mknod(const char *p, mode_t m, dev_t d) { (void)p; (void)m; (void)d; return -EROFS; }
static int ro_chmod(const char *p, mode_t m, struct fuse_file_info *fi) { (void)p; (void)m; (void)fi; return -EROFS; }
static int ro_chown(const char *p, uid_t u, gid_t g, struct fuse_file_info *fi) { (void)p; (void)u; (void)g; (void)fi; return -EROFS; }
/*
 * "echo resume > ctl" truncates first: ctl (and regs, -o rw) have nothing
 * to lose. mem's size is the address space: a truncate, which `cp` and
 * `dd` without conv=notrunc ask for before writing, is refused with EPERM
 * and nothing is written.
 */
static int ro_truncate(const char *p, off_t o, struct fuse_file_info *fi)
{
	struct node_ctx ctx;
	bool held;
	int rc;

	(void)fi;
	if ((rc = enter(p, NULL, &ctx, &held, false)))
		return rc;
	if (!fs_writable(&ctx))
		rc = -EROFS;
	else
		rc = ctx.node->kind == NODE_TEXT && o == 0 ? 0 : -EPERM;
	leave(ctx.r, held);
	return rc;
}
static int ro_create(const char *p, mode_t m, struct fuse_file_info *fi) { (void)p; (void)m; (void)fi; return -EROFS; }
static int ro_utimens(const char *p, const struct timespec tv[2], struct fuse_file_info *fi) { (void)p; (void)tv; (void)fi; return -EROFS; }
static int ro_setxattr(const char *p, const char *n, const char *v, size_t s, int f) { (void)p; (void)n; (void)v; (void)s; (void)f; return -EROFS; }
static int ro_removexattr(const char *p, const char *n) { (void)p; (void)n; return -EROFS; }

static const struct fuse_operations ops = {
	.init = op_init,
	.destroy = op_destroy,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.opendir = op_opendir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.lseek = op_lseek,
	.readlink = op_readlink,
	.mkdir = ro_mode,
	.mknod = ro_mknod,
	.unlink = ro_path,
	.rmdir = ro_path,
	.symlink = ro_two,
	.link = ro_two,
	.rename = ro_rename,
	.chmod = ro_chmod,
	.chown = ro_chown,
	.truncate = ro_truncate,
	.create = ro_create,
	.utimens = ro_utimens,
	.write = op_write,
	.setxattr = ro_setxattr,
	.removexattr = ro_removexattr,
};

const struct fuse_operations *ptracefs_ops(void)
{
	return &ops;
}
