/* fs/watch.c: notices our mount leaving the mount table (a lazy unmount). */
#ifndef PTRACEFS_WATCH_H
#define PTRACEFS_WATCH_H

struct mount_watch;

/*
 * Watches the mount whose source (fsname) is source, found in
 * /proc/self/mountinfo now: once no mount of its device is left in our
 * namespace, gone(arg) runs, once, on the watcher's thread. 0, or -errno
 * (-ENOENT: no such mount) and nothing started.
 */
int mount_watch_start(struct mount_watch **w, const char *source,
		      void (*gone)(void *), void *arg);
/* Stops the watcher (waiting out a gone() under way) and frees it. */
void mount_watch_stop(struct mount_watch *w);

/* A mountinfo path unescaped (\\ooo), into out. */
void mountinfo_unescape(const char *p, char *out, size_t outlen);

/*
 * The auto-unmount for when the daemon dies (in place of fusermount3's
 * auto_unmount): a process started before the mount (mount_guard_start)
 * and told the mount's device after it (mount_guard_arm, with the mount's
 * source) that unmounts it once the daemon has exited without saying
 * mount_guard_done. -errno from each.
 */
struct mount_guard {
	int wfd;	/* the pipe's write end, kept open until we exit; -1: none */
};

int mount_guard_start(struct mount_guard *g);
int mount_guard_arm(struct mount_guard *g, const char *source);
/* Before a clean exit's own unmount: the guard then leaves the table alone. */
void mount_guard_done(struct mount_guard *g);

#endif
