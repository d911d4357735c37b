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

#endif
