/*
 * The mount watcher. A lazy unmount (fusermount3 -uz, umount -l) takes the
 * mount out of the namespace at once, but the kernel keeps the connection
 * until the last file open in it, or cwd inside it, goes away: until then
 * the daemon hears nothing, and the target would stay stopped with nothing
 * left to show why. This thread waits on /proc/self/mountinfo, which polls
 * POLLPRI on every change of the mount table, and once no mount of our
 * device is left it calls back (main.c lets the target go).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fs/watch.h"

struct mount_watch {
	pthread_t thread;
	int mfd;		/* /proc/self/mountinfo, for poll */
	int efd;		/* posted by mount_watch_stop */
	char dev[32];		/* our mount's MAJ:MIN, as mountinfo spells it */
	void (*gone)(void *);
	void *arg;
};

/*
 * Calls fn(dev, source, cookie) for each mount of /proc/self/mountinfo:
 * "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - TYPE SOURCE SUPEROPTS".
 * Spaces in names are escaped (\040), so " - " ends the tags. -errno if
 * the table cannot be read.
 */
static int each_mount(void (*fn)(const char *, const char *, void *), void *cookie)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char dev[32], source[256];
		const char *sep = strstr(line, " - ");

		if (sep && sscanf(line, "%*s %*s %31s", dev) == 1 &&
		    sscanf(sep + 3, "%*s %255s", source) == 1)
			fn(dev, source, cookie);
	}
	free(line);
	fclose(f);
	return 0;
}

struct find {
	const char *source, *dev;
	char found[32];
	bool present;
};

/* The newest mount of our source (listed last) is ours: a mount of the
 * same process made before ours can only be a dead one left behind. */
static void find_source(const char *dev, const char *source, void *cookie)
{
	struct find *f = cookie;

	if (strcmp(source, f->source) == 0)
		snprintf(f->found, sizeof(f->found), "%s", dev);
}

/* Any mount of the device counts: a bind mount keeps the tree in reach. */
static void find_dev(const char *dev, const char *source, void *cookie)
{
	struct find *f = cookie;

	(void)source;
	if (strcmp(dev, f->dev) == 0)
		f->present = true;
}

/* Whether our device is still mounted; yes when we cannot tell. */
static bool still_mounted(const struct mount_watch *w)
{
	struct find f = { .dev = w->dev };

	return each_mount(find_dev, &f) < 0 || f.present;
}

static void *watch_main(void *p)
{
	struct mount_watch *w = p;

	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = w->mfd, .events = POLLPRI },
			{ .fd = w->efd, .events = POLLIN },
		};

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		/* POLLERR|POLLPRI: the table changed since the last poll. */
		if ((pf[0].revents & (POLLPRI | POLLERR)) && !still_mounted(w)) {
			w->gone(w->arg);
			break;
		}
	}
	return NULL;
}

int mount_watch_start(struct mount_watch **out, const char *source,
		      void (*gone)(void *), void *arg)
{
	struct mount_watch *w = calloc(1, sizeof(*w));
	struct find f = { .source = source };
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->gone = gone;
	w->arg = arg;
	w->efd = -1;
	/* Opened before the device is looked up: no change can slip between. */
	w->mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (w->mfd < 0) {
		rc = -errno;
		goto out_free;
	}
	rc = each_mount(find_source, &f);
	if (rc == 0 && !f.found[0])
		rc = -ENOENT;
	if (rc)
		goto out_close;
	memcpy(w->dev, f.found, sizeof(w->dev));
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0) {
		rc = -errno;
		goto out_close;
	}
	/* Signals are the FUSE loop's (SIGTERM) and the tracer's (SIGCHLD). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto out_close;
	*out = w;
	return 0;

out_close:
	if (w->efd >= 0)
		close(w->efd);
	close(w->mfd);
out_free:
	free(w);
	return rc;
}

void mount_watch_stop(struct mount_watch *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	if (write(w->efd, &one, sizeof(one)) < 0)
		(void)0;	/* an eventfd write cannot fail here */
	pthread_join(w->thread, NULL);
	close(w->efd);
	close(w->mfd);
	free(w);
}
