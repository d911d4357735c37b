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
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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

/* A mountinfo path, unescaped: the kernel writes space, tab, newline and \\ as \\ooo. */
void mountinfo_unescape(const char *p, char *out, size_t outlen)
{
	size_t k = 0;

	for (; *p && k + 1 < outlen; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			out[k++] = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
			p += 3;
		} else {
			out[k++] = *p;
		}
	}
	out[k] = 0;
}

/*
 * Calls fn(dev, point, source, cookie) for each mount of
 * /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] -
 * TYPE SOURCE SUPEROPTS". Spaces in names are escaped (\040), so " - "
 * ends the tags; point comes escaped. -errno if the table cannot be read.
 */
static int each_mount(void (*fn)(const char *, const char *, const char *, void *), void *cookie)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char dev[32], point[4096], source[256];
		const char *sep = strstr(line, " - ");

		if (sep && sscanf(line, "%*s %*s %31s %*s %4095s", dev, point) == 2 &&
		    sscanf(sep + 3, "%*s %255s", source) == 1)
			fn(dev, point, source, cookie);
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
static void find_source(const char *dev, const char *point, const char *source, void *cookie)
{
	struct find *f = cookie;

	(void)point;
	if (strcmp(source, f->source) == 0)
		snprintf(f->found, sizeof(f->found), "%s", dev);
}

/* Any mount of the device counts: a bind mount keeps the tree in reach. */
static void find_dev(const char *dev, const char *point, const char *source, void *cookie)
{
	struct find *f = cookie;

	(void)point;
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

/*
 * The unmount guard: what fusermount3's auto_unmount does, without its
 * costs and its hole. auto_unmount keeps a setuid helper that unmounts
 * once the daemon is gone, killed included, at the price of a fork and
 * exec of fusermount3 at every mount (3 ms of a 15 ms mount, measured on
 * a 2-vCPU KVM guest); and libfuse 3.14's helper (Debian 12) looks at the
 * dead mount as root, which a mount without allow_other refuses (EACCES,
 * libfuse issue #586, fixed in 3.15), so a user's mount outlived a killed
 * daemon. Here root mounts with mount(2) (libfuse does when not asked for
 * auto_unmount), a user through fusermount3, and this process, forked
 * before the mount, holds the read end of a pipe whose write end only the
 * daemon has. Told our device once mounted, it waits for end of file (the
 * daemon exited, however) and unmounts whatever mount of that device is
 * still in the table: MNT_DETACH as root, `fusermount3 -u -z` as a user,
 * which may unmount its own mounts. Only a dead mount, though: a clean
 * exit says "done" before it unmounts, and then the guard leaves. A device
 * number is free again once its mount is gone, and a mount made right
 * after ours (a script's next ptracefs) may well get the same one; a dead
 * mount still holds its number, so the one found is ours. It
 * keeps no other descriptor (not /dev/fuse, whose last close ends the
 * connection, nor a caller's pipe on stdout) and is no child of the
 * daemon (CLONE_PARENT), whose tracer reaps every child it has.
 */
struct guard_unmount {
	const char *dev;
	bool root;
};

static void unmount_dev(const char *dev, const char *point, const char *source, void *cookie)
{
	struct guard_unmount *u = cookie;
	char path[4096];

	(void)source;
	if (strcmp(dev, u->dev) != 0)
		return;
	mountinfo_unescape(point, path, sizeof(path));
	if (u->root) {
		if (umount2(path, MNT_DETACH) != 0)
			(void)0;	/* gone meanwhile: nothing more to do */
		return;
	}
	/* Where libfuse looks for it (Debian's FUSERMOUNT_DIR), then PATH. */
	execl("/bin/fusermount3", "fusermount3", "-u", "-z", "-q", "--", path, (char *)NULL);
	execlp("fusermount3", "fusermount3", "-u", "-z", "-q", "--", path, (char *)NULL);
}

static _Noreturn void guard_main(int rfd)
{
	static const int quiet[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2 };
	char msg[64];
	size_t n = 0;
	sigset_t none;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* A Ctrl-C or SIGTERM of the whole group must not take it first. */
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		signal(quiet[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (null >= 0)
		for (int fd = 0; fd < 3; fd++)
			dup2(null, fd);
	if (dup2(rfd, 3) != 3)
		_exit(1);
	syscall(SYS_close_range, 4, ~0U, 0);
	if (chdir("/") != 0)
		(void)0;
	prctl(PR_SET_NAME, "ptracefs-guard");
	for (;;) {
		ssize_t got = read(3, msg + n, sizeof(msg) - 1 - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n == sizeof(msg) - 1)
			break;
	}
	msg[n] = 0;
	/* "MAJ:MIN\n", then "done\n" from a clean exit. */
	if (strstr(msg, "done\n"))
		_exit(0);
	msg[strcspn(msg, "\n")] = 0;
	if (msg[0]) {
		struct guard_unmount u = { msg, geteuid() == 0 };

		each_mount(unmount_dev, &u);
	}
	_exit(0);
}

int mount_guard_start(struct mount_guard *g)
{
	int p[2];
	long child;

	g->wfd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* fork(), but a sibling: the daemon's parent gets it (SIGCHLD). */
	child = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (child == 0)
		guard_main(p[0]);
	close(p[0]);
	if (child < 0) {
		int err = errno;

		close(p[1]);
		return -err;
	}
	g->wfd = p[1];
	return 0;
}

int mount_guard_arm(struct mount_guard *g, const char *source)
{
	struct find f = { .source = source };
	char msg[40];
	int rc = each_mount(find_source, &f);

	if (rc == 0 && !f.found[0])
		rc = -ENOENT;
	if (g->wfd < 0)
		return -EBADF;
	if (rc)
		return rc;
	snprintf(msg, sizeof(msg), "%s\n", f.found);
	return write(g->wfd, msg, strlen(msg)) == (ssize_t)strlen(msg) ? 0 : -EIO;
}

void mount_guard_done(struct mount_guard *g)
{
	if (g->wfd >= 0 && write(g->wfd, "done\n", 5) != 5)
		(void)0;	/* the guard is gone: nobody to tell */
}
