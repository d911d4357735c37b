/*
 * ptracefs [-f] [-d] [-s] [-o opt,...] PID MOUNTPOINT
 * ptracefs [-f] [-d] [-s] [-o opt,...] CORE MOUNTPOINT
 *
 * Order matters (libfuse 3.14, ptrace): refusals are checked at the prompt;
 * then we fork, and the child — the process that will serve the mount —
 * seizes the target, mounts, and only then tells the waiting parent, which
 * exits 0 or prints the child's one-line reason and exits 1. A tracee
 * belongs to the thread that seized it, so nothing is seized before fork.
 */
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs/ptracefs.h"
#include "fs/tree.h"
#include "fs/watch.h"

struct options {
	const char *pid;	/* the first argument: a pid, or a core file's path */
	const char *core;	/* set when it is a core file */
	const char *mountpoint;
	int nargs;
	int help, version, foreground, debug, single, force, allow_other, live, snapshot, rw, tree;
	char *coredump_filter;
	int64_t filter;		/* parsed coredump_filter, -1 if none */
	char *freeze_timeout;
	unsigned freeze_ms;	/* parsed freeze_timeout, 0 if none */
};

enum { KEY_HELP, KEY_VERSION, KEY_DEBUG, KEY_ALLOW_OTHER };

#define OPT(t, f, v) { t, offsetof(struct options, f), v }

static const struct fuse_opt spec[] = {
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	OPT("-f", foreground, 1),
	OPT("-s", single, 1),
	OPT("force", force, 1),
	OPT("live", live, 1),
	OPT("snapshot", snapshot, 1),
	OPT("rw", rw, 1),
	OPT("tree", tree, 1),
	OPT("coredump_filter=%s", coredump_filter, 0),
	OPT("freeze_timeout=%s", freeze_timeout, 0),
	FUSE_OPT_END
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: ptracefs [-f] [-d] [-s] [-o opt,...] PID MOUNTPOINT\n"
"       ptracefs [-f] [-d] [-s] [-o opt,...] CORE MOUNTPOINT\n"
"\n"
"Mounts process PID, suspended, as a read-only tree at MOUNTPOINT:\n"
"  status maps mem cmdline environ auxv exe stack core ctl\n"
"  threads/<tid>/{regs,fpregs,stat,stack} regions/<start>-<end>\n"
"  modules/<name>/{info,build-id,image}   (see ptracefs(1))\n"
"Unmount with 'fusermount3 -u MOUNTPOINT'; the process then runs on.\n"
"The second form mounts an ELF core file (a path, not a number) as the\n"
"same tree, read-only; status says what it was reconstructed from.\n"
"\n"
"options:\n"
"  -h, --help        this text\n"
"  -V, --version     the version\n"
"  -f                stay in the foreground\n"
"  -d, -o debug      log every request (implies -f)\n"
"  -s                serve requests on one thread\n"
"  -o force          mount a non-dumpable process anyway; allow -o rw\n"
"                    with -o allow_other\n"
"  -o live           seize the threads but let them run: maps, mem and\n"
"                    threads/ follow the process; regs stops one thread\n"
"                    for the read; ctl switches between the modes\n"
"  -o snapshot       stop the process only for a fork(): serve a frozen\n"
"                    copy-on-write clone of it while it runs on\n"
"  -o freeze_timeout=MS\n"
"                    -o snapshot: the longest the process may stay stopped\n"
"                    (attach, capture and fork together; default 10000);\n"
"                    past it all is undone and the mount fails\n"
"  -o rw             writable mem and threads/<tid>/{regs,fpregs}: a\n"
"                    pwrite pokes memory (offset == address, read-only\n"
"                    text too), and `name value` lines set registers\n"
"                    (off by default);\n"
"                    `echo \"restore /abs/app.core\" > ctl` puts a saved\n"
"                    core back (memory and every thread's registers)\n"
"  -o tree           PID and every descendant, frozen together as one\n"
"                    instant: MOUNTPOINT/processes lists them, ctl acts on\n"
"                    all, MOUNTPOINT/<pid>/ is each one's tree (not with\n"
"                    -o live; with -o snapshot, one clone each)\n"
"  -o coredump_filter=MASK\n"
"                    which mappings `core` carries bytes of (hex, as\n"
"                    /proc/PID/coredump_filter; 0x7f for a full backup)\n"
"  -o allow_other    let other users in (needs user_allow_other in\n"
"                    /etc/fuse.conf; they can then read the target's memory)\n"
"  other -o options are passed to FUSE (see mount.fuse3(8))\n");
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		o->help = 1;
		return 0;
	case KEY_VERSION:
		o->version = 1;
		return 0;
	case KEY_DEBUG:
		o->debug = o->foreground = 1;
		return 1;	/* FUSE logs requests too */
	case KEY_ALLOW_OTHER:
		o->allow_other = 1;
		return 1;
	case FUSE_OPT_KEY_OPT:
		/* "-5" is a (bad) pid, not an option: let the pid check say so. */
		if (arg[0] == '-' && arg[1] >= '0' && arg[1] <= '9' && o->nargs == 0) {
			o->pid = arg;
			o->nargs++;
			return 0;
		}
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		if (o->nargs == 0)
			o->pid = arg;
		else if (o->nargs == 1)
			o->mountpoint = arg;
		o->nargs++;
		return 0;
	default:
		return 1;
	}
}

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT32_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

/* Parent side of the fork: wait for the child's verdict on the pipe. */
static int wait_for_child(int fd, pid_t child)
{
	char msg[1024];
	size_t n = 0;
	ssize_t got;
	int status;

	while (n < sizeof(msg) - 1 &&
	       (got = read(fd, msg + n, sizeof(msg) - 1 - n)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n += (size_t)got;
	}
	msg[n] = '\0';
	if (strcmp(msg, "ok") == 0)
		return 0;
	if (n)
		fprintf(stderr, "ptracefs: %s\n", msg);
	else
		fprintf(stderr, "ptracefs: the daemon exited before the mount was ready\n");
	waitpid(child, &status, 0);
	return 1;
}

static void tell(int fd, const char *msg)
{
	if (fd < 0) {
		if (strcmp(msg, "ok") != 0)
			fprintf(stderr, "ptracefs: %s\n", msg);
		return;
	}
	if (write(fd, msg, strlen(msg)) < 0)
		(void)0;	/* the parent is gone: nobody to tell */
	close(fd);
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

/*
 * auto_unmount's helper (fusermount3) unmounts what we leave behind when we
 * die (SIGKILL, a crash) once our end of its socket closes, but only if the
 * mount then answers ENOTCONN. A dying process's files are released last
 * closed first, and that socket is numbered above /dev/fuse: the helper
 * could look before the connection is aborted and keep a dead mount (seen
 * about once in ten kills). A copy of /dev/fuse numbered above every other
 * descriptor is released first.
 */
static void fuse_fd_last(struct fuse *fuse)
{
	int fd = fuse_session_fd(fuse_get_session(fuse)), top = fd;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (atoi(e->d_name) > top)
			top = atoi(e->d_name);
	if (d)
		closedir(d);
	if (fcntl(fd, F_DUPFD_CLOEXEC, top + 1) < 0)
		(void)0;	/* then only the race above remains */
}

/*
 * Whether libfuse can run fusermount3, which auto_unmount needs: it execs
 * it from /bin (Debian's FUSERMOUNT_DIR), else through PATH. Minimal
 * systems (an initramfs, a container) may have only /dev/fuse.
 */
static int have_fusermount(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (access("/bin/fusermount3", X_OK) == 0 || access("/usr/bin/fusermount3", X_OK) == 0)
		return 1;
	while (path && *path) {
		size_t n = strcspn(path, ":");

		if (n > 0 && n < sizeof(buf) - 16) {
			snprintf(buf, sizeof(buf), "%.*s/fusermount3", (int)n, path);
			if (access(buf, X_OK) == 0)
				return 1;
		}
		path += n + (path[n] == ':');
	}
	return 0;
}

/*
 * Our mount has left the mount table (a lazy unmount) while an open file or
 * a cwd inside keeps the connection: nobody can see the mount any more, so
 * let the target go, as ctl's detach does. Requests fail with EIO until
 * the kernel drops the connection, which ends the loop.
 */
static void on_unmounted(void *arg)
{
	struct ptracefs *fs = arg;

	atomic_store(&fs->released, true);
	if (fs->tree)
		reader_tree_detach(fs->tree);
	else
		reader_detach(fs->r);
	ptracefs_tree_changed();	/* what the kernel cached must fail too */
}

/*
 * Whether the loop's error rc is only the end of the connection. The
 * kernel ends a connection by aborting it, the last unmount of a lazily
 * unmounted mount too: a read of /dev/fuse then fails ENODEV, which
 * libfuse 3.14 takes for the end, but a read that had already taken a
 * request (the last RELEASE of the file the unmount waited on, say) off
 * the queue when the abort came fails ECONNABORTED, which it takes for an
 * error of its own. Only when the device says so too (POLLERR: no longer
 * connected) is it the end; any other error is one.
 */
static bool connection_ended(struct fuse *fuse, int rc)
{
	struct pollfd p = { .fd = fuse_session_fd(fuse_get_session(fuse)), .events = POLLIN };

	return rc == -ECONNABORTED && poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

/* The process that serves the mount: attach, mount, report, loop. */
static int serve(struct fuse *fuse, struct ptracefs *fs, pid_t pid,
		 const struct options *o, int report_fd)
{
	struct reader_opts ropts = { .force_nondumpable = o->force,
				     .coredump_filter = o->filter, .live = o->live,
				     .snapshot = o->snapshot, .rw = o->rw,
				     .freeze_timeout_ms = o->freeze_ms };
	char why[512] = "";
	struct mount_watch *watch = NULL;
	struct mount_guard guard = { -1 };
	char source[32];
	sigset_t stop, old;
	int rc;

	if (o->core)
		snprintf(source, sizeof(source), "ptracefs:core");
	else
		snprintf(source, sizeof(source), "ptracefs:%d", (int)pid);
	/* Before anything stops: a daemon killed after the mount is unmounted. */
	if ((rc = mount_guard_start(&guard)) != 0)
		fprintf(stderr, "ptracefs: warning: no unmount guard (%s): if ptracefs is killed, run 'umount %s'\n",
			strerror(-rc), o->mountpoint);

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	/*
	 * -o snapshot: a stop signal's default action (we die) in the few
	 * milliseconds a target's thread runs our clone() would leave that
	 * thread to run on with the injected registers. Held until libfuse's
	 * handlers are in, which end the mount cleanly (only SIGKILL cannot
	 * wait: ptracefs(1), snapshot mode).
	 */
	pthread_sigmask(SIG_BLOCK, o->snapshot ? &stop : NULL, &old);
	if (o->core)
		rc = reader_open_core(o->core, &ropts, &fs->r, why, sizeof(why));
	else if (o->tree)
		rc = reader_tree_attach(pid, &ropts, &fs->tree, why, sizeof(why));
	else
		rc = reader_attach(pid, &ropts, &fs->r, why, sizeof(why));
	fs_ptree = fs->tree;
	if (rc) {
		tell(report_fd, why[0] ? why : strerror(-rc));
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &fs->suspended);
	/*
	 * Dying between fusermount3's mount and its handing over of /dev/fuse
	 * leaves the mount behind (fusermount3 3.14 does not undo it): a stop
	 * signal waits until libfuse's handlers are in, which exit cleanly.
	 */
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	if (fuse_mount(fuse, o->mountpoint) != 0) {
		reader_close(fs->r);
		reader_tree_close(fs->tree);
		snprintf(why, sizeof(why), "cannot mount on %s", o->mountpoint);
		tell(report_fd, why);
		return 1;
	}
	fuse_fd_last(fuse);
	if (guard.wfd >= 0 && (rc = mount_guard_arm(&guard, source)) != 0)
		fprintf(stderr, "ptracefs: warning: the unmount guard lost the mount (%s): if ptracefs is killed, run 'umount %s'\n",
			strerror(-rc), o->mountpoint);
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0) {
		mount_guard_done(&guard);
		fuse_unmount(fuse);
		reader_close(fs->r);
		reader_tree_close(fs->tree);
		tell(report_fd, "cannot install signal handlers");
		return 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Before "ok": a lazy unmount may follow at once. Without a watcher
	 * (no /proc?) it keeps the target until the connection goes. */
	if (mount_watch_start(&watch, source, on_unmounted, fs))
		watch = NULL;
	if (report_fd >= 0) {
		if (chdir("/") < 0)
			(void)0;
		detach_stdio();
	}
	tell(report_fd, "ok");

	if (o->single) {
		rc = fuse_loop(fuse);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_max_threads(cfg, 16);
		rc = fuse_loop_mt(fuse, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	if (rc < 0 && connection_ended(fuse, rc))
		rc = 0;
	mount_watch_stop(watch);	/* before the reader it uses goes */
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	mount_guard_done(&guard);	/* ours to unmount: the guard stands down */
	fuse_unmount(fuse);
	/* Unmount, SIGINT, SIGTERM, SIGHUP: every thread detached, target runs. */
	reader_close(fs->r);
	fs->r = NULL;
	reader_tree_close(fs->tree);
	fs->tree = NULL;
	fs_ptree = NULL;
	return rc < 0 ? 1 : 0;
}

/*
 * The next ptracefs mount (named "ptracefs:PID") of the mountinfo file f:
 * 0 with the mounted pid and the mountpoint, or -1 when there are no more.
 */
static int next_mount(FILE *f, pid_t *pid, char *point, size_t pointlen)
{
	char line[4096], raw[4096];

	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		int p;

		/* "ID PARENT MAJ:MIN ROOT POINT OPTS ... - TYPE SOURCE SUPEROPTS" */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", raw) != 1 ||
		    sscanf(sep + 3, "%*s ptracefs:%d", &p) != 1)
			continue;
		*pid = (pid_t)p;
		mountinfo_unescape(raw, point, pointlen);
		return 0;
	}
	return -1;
}

/* Where process pid is mounted already: 0 and the mountpoint, or -1. */
static int mounted_at(pid_t pid, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int found = -1;
	pid_t p;

	while (f && found && next_mount(f, &p, out, outlen) == 0)
		found = p == pid ? 0 : -1;
	if (f)
		fclose(f);
	return found;
}

/* Which process of ptracefs mounts at dir (the topmost one): its pid, or 0. */
static pid_t mount_on(const char *dir)
{
	char want[PATH_MAX], point[4096];
	FILE *f;
	pid_t p, found = 0;

	if (!realpath(dir, want) || !(f = fopen("/proc/self/mountinfo", "re")))
		return 0;
	while (next_mount(f, &p, point, sizeof(point)) == 0)
		if (strcmp(point, want) == 0)
			found = p;
	fclose(f);
	return found;
}

/*
 * The daemon that serves pid's mount: TracerPid names the tracer thread,
 * whose Tgid is the daemon. 0 when nothing traces pid.
 */
/* A number from /proc/PID/status ("TracerPid", "Tgid"), 0 if none. */
static pid_t status_pid(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v > 0 && v <= INT32_MAX ? (pid_t)v : 0;
}

static pid_t daemon_of(pid_t pid)
{
	pid_t tracer = status_pid(pid, "TracerPid"), tgid;

	if (tracer <= 0)
		return 0;
	tgid = status_pid(tracer, "Tgid");
	return tgid > 0 ? tgid : tracer;
}

/* " (daemon pid N)" for pid's mount, or "" when no daemon traces it. */
static const char *daemon_note(pid_t pid, char *buf, size_t len)
{
	pid_t d = daemon_of(pid);

	buf[0] = 0;
	if (d > 0)
		snprintf(buf, len, " (daemon pid %d)", (int)d);
	return buf;
}

/*
 * fusermount3 opens /dev/fuse as the calling user, and a refusal there
 * comes out as two lines of its own and one of ours: say what to do once.
 */
static int fuse_device_usable(void)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
		fprintf(stderr, "ptracefs: /dev/fuse: %s; load the fuse module (modprobe fuse) as root\n",
			strerror(errno));
	else if (errno == EACCES || errno == EPERM)
		fprintf(stderr, "ptracefs: /dev/fuse: %s for uid %d; as root, 'chmod 0666 /dev/fuse' (its usual mode) or mount as root\n",
			strerror(errno), (int)geteuid());
	else
		fprintf(stderr, "ptracefs: /dev/fuse: %s\n", strerror(errno));
	return -1;
}

/* Whether dir has an entry besides . and .. (an unreadable one: say no). */
static bool dir_nonempty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool any = false;

	while (d && !any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d)
		closedir(d);
	return any;
}

/*
 * A core file: the file itself is judged at the prompt (open, decode,
 * close: a refusal mounts nothing), then /dev/fuse.
 */
static int check_core(struct options *o)
{
	struct reader *r;
	char why[512] = "";

	if (reader_open_core(o->core, NULL, &r, why, sizeof(why))) {
		fprintf(stderr, "ptracefs: %s\n", why);
		return -1;
	}
	reader_close(r);
	if (fuse_device_usable())
		return -1;
	if (dir_nonempty(o->mountpoint))
		fprintf(stderr, "ptracefs: warning: %s is not empty: its files are hidden until the unmount\n",
			o->mountpoint);
	return 0;
}

/*
 * Everything that can be refused before a fork or a mount: 0 to go on,
 * else the exit status (0 for --help and --version).
 */
static int check_args(struct options *o, pid_t *pid, int *status)
{
	struct reader_opts ropts = { 0 };
	char why[512] = "", note[48];
	struct stat st;
	pid_t other;

	*status = 1;
	if (o->help || o->version) {
		if (o->help)
			usage(stdout);
		else
			/* fuse_version() is major * 100 + minor: 314 is 3.14. */
			printf("ptracefs %s (libfuse %d.%d)\n", PTRACEFS_VERSION,
			       fuse_version() / 100, fuse_version() % 100);
		*status = 0;
		return -1;
	}
	if (o->nargs != 2) {
		fprintf(stderr, "ptracefs: %s (usage: ptracefs [-f] [-d] [-s] [-o opt,...] PID|CORE MOUNTPOINT)\n",
			o->nargs < 2 ? "expected a PID (or a CORE file) and a MOUNTPOINT" : "too many arguments");
		return -1;
	}
	o->filter = -1;
	if (o->coredump_filter) {
		char *end;

		errno = 0;
		o->filter = (int64_t)strtoull(o->coredump_filter, &end, 16);
		if (errno || end == o->coredump_filter || *end || o->filter > 0x1ff) {
			fprintf(stderr, "ptracefs: invalid coredump_filter '%s': a hex mask of at most 0x1ff\n",
				o->coredump_filter);
			return -1;
		}
	}
	if (o->freeze_timeout) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(o->freeze_timeout, &end, 10);
		if (errno || end == o->freeze_timeout || *end || o->freeze_timeout[0] == '-' ||
		    v == 0 || v > 3600000) {
			fprintf(stderr, "ptracefs: invalid freeze_timeout '%s': milliseconds, 1 to 3600000\n",
				o->freeze_timeout);
			return -1;
		}
		o->freeze_ms = (unsigned)v;
		if (!o->snapshot) {
			fprintf(stderr, "ptracefs: -o freeze_timeout is for -o snapshot (its freeze's deadline)\n");
			return -1;
		}
	}
	if (o->live && o->snapshot) {
		fprintf(stderr, "ptracefs: -o live and -o snapshot exclude each other\n");
		return -1;
	}
	/* A number is a pid; anything else names a core file. */
	if (parse_pid(o->pid, pid)) {
		if (strspn(o->pid, "-+0123456789") == strlen(o->pid)) {
			fprintf(stderr, "ptracefs: invalid pid '%s': must be a positive number\n", o->pid);
			return -1;
		}
		if (stat(o->pid, &st) != 0) {
			fprintf(stderr, "ptracefs: invalid pid '%s': not a number, nor a core file (%s)\n",
				o->pid, strerror(errno));
			return -1;
		}
		/* The daemon serves from "/": status names the file absolutely. */
		o->core = realpath(o->pid, NULL);
		if (!o->core)
			o->core = strdup(o->pid);
		*pid = 0;
	}
	if (stat(o->mountpoint, &st) != 0) {
		fprintf(stderr, "ptracefs: mountpoint %s: %s\n", o->mountpoint, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ptracefs: mountpoint %s: not a directory\n", o->mountpoint);
		return -1;
	}
	/* A second mount would stack on it, and unmounting would find only ours. */
	if ((other = mount_on(o->mountpoint)) > 0) {
		fprintf(stderr, "ptracefs: %s already holds the ptracefs mount of process %d%s; unmount it first\n",
			o->mountpoint, (int)other, daemon_note(other, note, sizeof(note)));
		return -1;
	}
	/* -o tree: one freeze for all; a live tree would need a mode of its own. */
	if (o->tree && o->live) {
		fprintf(stderr, "ptracefs: -o tree and -o live exclude each other: a tree is mounted as one instant\n");
		return -1;
	}
	if (o->rw && o->snapshot) {
		fprintf(stderr, "ptracefs: -o rw and -o snapshot exclude each other: a snapshot's memory is a clone's, not the process's\n");
		return -1;
	}
	if (o->core && (o->live || o->snapshot || o->rw || o->tree)) {
		fprintf(stderr, "ptracefs: -o %s needs a running process, not a core file\n",
			o->live ? "live" : o->snapshot ? "snapshot" : o->rw ? "rw" : "tree");
		return -1;
	}
	/* Other users could then write another user's process. */
	if (o->rw && o->allow_other && !o->force) {
		fprintf(stderr, "ptracefs: -o rw with -o allow_other lets other users write process %s's memory and registers; add -o force to mean it\n",
			o->pid);
		return -1;
	}
	if (o->core)
		return check_core(o);
	if (mounted_at(*pid, why, sizeof(why)) == 0) {
		fprintf(stderr, "ptracefs: process %d is already mounted at %s%s\n", (int)*pid, why,
			daemon_note(*pid, note, sizeof(note)));
		return -1;
	}
	ropts.force_nondumpable = o->force;
	if (reader_preflight(*pid, &ropts, why, sizeof(why))) {
		fprintf(stderr, "ptracefs: %s\n", why);
		return -1;
	}
	/* After the target's checks: a /dev/fuse fix is no use without them. */
	if (fuse_device_usable())
		return -1;
	/* As fuse3 and sshfs do, mount anyway; unlike them, say so. */
	if (dir_nonempty(o->mountpoint))
		fprintf(stderr, "ptracefs: warning: %s is not empty: its files are hidden until the unmount\n",
			o->mountpoint);
	if (o->allow_other)
		fprintf(stderr, "ptracefs: warning: allow_other lets every user who can reach %s %s process %d's memory\n",
			o->mountpoint, o->rw ? "read and write" : "read", (int)*pid);
	return 0;
}

/*
 * Started with stdin, stdout or stderr closed, the pipes to the parent
 * and to the guard would take those numbers, and detach_stdio's dup2
 * onto 0-2 would close them: the parent would hear no "ok", and the guard
 * would unmount the mount it guards. /dev/null fills the gaps first.
 */
static void fill_stdio(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options o = { 0 };
	struct ptracefs fs = { 0 };
	struct fuse *fuse = NULL;
	char fsname[64];
	sigset_t chld;
	pid_t pid;
	int rc = 1, pfd[2];

	fill_stdio();
	if (fuse_opt_parse(&args, &o, spec, opt_proc) != 0)
		goto out;
	if (check_args(&o, &pid, &rc))
		goto out;
	rc = 1;

	/* default_permissions: the kernel enforces the 0400/0500 modes. */
	if (o.core)
		snprintf(fsname, sizeof(fsname), "-ofsname=ptracefs:core,subtype=ptracefs");
	else
		snprintf(fsname, sizeof(fsname), "-ofsname=ptracefs:%d,subtype=ptracefs", (int)pid);
	/*
	 * A killed daemon's mount is unmounted by our guard (watch.h), not by
	 * fusermount3's auto_unmount: root mounts with mount(2) (libfuse does
	 * when not asked for auto_unmount), which spares a fork and exec of
	 * fusermount3; anyone else mounts through fusermount3.
	 */
	if (geteuid() != 0 && !have_fusermount()) {
		fprintf(stderr, "ptracefs: fusermount3 not found (install the fuse3 package)\n");
		goto out;
	}
	if (fuse_opt_add_arg(&args, "-odefault_permissions") ||
	    fuse_opt_add_arg(&args, fsname)) {
		fprintf(stderr, "ptracefs: out of memory\n");
		goto out;
	}
	fuse = fuse_new(&args, ptracefs_ops(), sizeof(struct fuse_operations), &fs);
	if (!fuse)
		goto out;	/* libfuse printed why (an unknown -o option, say) */

	/* The tracer reads SIGCHLD from a signalfd: no thread may take it. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);

	if (o.foreground) {
		rc = serve(fuse, &fs, pid, &o, -1);
	} else {
		pid_t child;

		if (pipe2(pfd, O_CLOEXEC) < 0) {
			perror("ptracefs: pipe");
			goto out;
		}
		child = fork();
		if (child < 0) {
			perror("ptracefs: fork");
			goto out;
		}
		if (child > 0) {
			close(pfd[1]);
			rc = wait_for_child(pfd[0], child);
			goto out;
		}
		close(pfd[0]);
		setsid();
		rc = serve(fuse, &fs, pid, &o, pfd[1]);
	}
out:
	if (fuse)
		fuse_destroy(fuse);
	fuse_opt_free_args(&args);
	free(o.coredump_filter);
	free(o.freeze_timeout);
	free((char *)o.core);
	return rc;
}
