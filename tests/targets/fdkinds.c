/*
 * A test target holding one descriptor of every kind it can open, for the
 * mount suite's fds/ checks (tests/mount/test_state.py):
 *
 *     fdkinds -s STATUSFILE [-n COUNT] [-x]
 *
 * a regular file at a known position with a flock, an O_APPEND file with
 * an fcntl lock, a pipe, a unix socketpair, a listening unix socket, a
 * listening TCP socket on 127.0.0.1 with a connection to it, a bound UDP
 * socket, an eventfd, an epoll watching two of them, an inotify watch, an
 * armed timerfd, a signalfd, a memfd, a deleted file; a deleted file
 * mapped; SIGPIPE ignored, SIGUSR2 caught, SIGUSR1 blocked and pending
 * (for the process and for the main thread). -n adds COUNT more
 * descriptors (dups of /dev/null, RLIMIT_NOFILE raised to fit, or as many
 * as the hard limit allows: `extra` says how many); -x first
 * re-executes a copy of itself that it deletes, so the executable is a
 * deleted file. The status file names each descriptor ("fd_pipe_r 5").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "status.h"

static char status[1 << 14];
static size_t slen;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int must(int fd, const char *what)
{
	if (fd < 0)
		die(what);
	return fd;
}

static void add(const char *key, long v)
{
	if (status_add(status, sizeof(status), &slen, "%s %ld\n", key, v))
		die("status");
}

static void on_usr2(int sig)
{
	(void)sig;
}

/* -x: run a copy of this program from dir, which the copy then deletes. */
static void exec_copy(const char *dir, char **argv, int argc)
{
	char path[4096], buf[65536];
	char **args = calloc((size_t)argc + 3, sizeof(*args));
	int in = must(open("/proc/self/exe", O_RDONLY), "exe"), out, k = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%.4000s/fdkinds-copy", dir);
	out = must(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0700), path);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			die("copy");
	close(in);
	close(out);
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "-x") != 0)
			args[k++] = argv[i];
	args[k++] = "-u";
	args[k++] = path;
	execv(path, args);
	die("execv");
}

int main(int argc, char **argv)
{
	const char *statusfile = NULL, *unlink_me = NULL;
	char dir[4000], path[4200];
	long count = 0;
	bool copy = false;
	int opt, fd, lfd, efd, p[2], sv[2], one = 1;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t slen_in = sizeof(sin);
	struct epoll_event ev = { .events = EPOLLIN };
	struct itimerspec its = { { 50, 0 }, { 100, 0 } };
	sigset_t usr1;
	char *map;

	while ((opt = getopt(argc, argv, "s:n:xu:")) != -1) {
		if (opt == 's')
			statusfile = optarg;
		else if (opt == 'n')
			count = strtol(optarg, NULL, 10);
		else if (opt == 'x')
			copy = true;
		else if (opt == 'u')
			unlink_me = optarg;
		else
			return 2;
	}
	if (!statusfile)
		return 2;
	snprintf(dir, sizeof(dir), "%s", statusfile);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (copy)
		exec_copy(dir, argv, argc);
	if (unlink_me)
		unlink(unlink_me);
	add("pid", (long)getpid());

	/* A regular file at position 1234, flock()ed. */
	snprintf(path, sizeof(path), "%s/regular", dir);
	fd = must(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), "regular");
	for (int i = 0; i < 5000; i++)
		if (write(fd, "x", 1) != 1)
			die("write");
	lseek(fd, 1234, SEEK_SET);
	if (flock(fd, LOCK_EX))
		die("flock");
	add("fd_file", fd);

	/* O_APPEND, with a POSIX lock on its first 10 bytes. */
	snprintf(path, sizeof(path), "%s/append", dir);
	fd = must(open(path, O_WRONLY | O_CREAT | O_APPEND, 0600), "append");
	if (fcntl(fd, F_SETLK, &(struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET,
						 .l_start = 0, .l_len = 10 }))
		die("fcntl lock");
	add("fd_append", fd);

	must(pipe(p), "pipe");
	add("fd_pipe_r", p[0]);
	add("fd_pipe_w", p[1]);
	must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	add("fd_unix_a", sv[0]);
	add("fd_unix_b", sv[1]);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.90s/sock", dir);
	unlink(sun.sun_path);
	fd = must(socket(AF_UNIX, SOCK_STREAM, 0), "unix socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 4))
		die("unix listen");
	add("fd_unix_listen", fd);

	fd = lfd = must(socket(AF_INET, SOCK_STREAM, 0), "tcp");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen_in))
		die("tcp listen");
	add("fd_tcp_listen", fd);
	add("tcp_port", ntohs(sin.sin_port));
	fd = must(socket(AF_INET, SOCK_STREAM, 0), "tcp client");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		die("connect");
	add("fd_tcp_client", fd);
	add("fd_tcp_accepted", must(accept(lfd, NULL, NULL), "accept"));

	fd = must(socket(AF_INET, SOCK_DGRAM, 0), "udp");
	sin.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
		die("udp bind");
	add("fd_udp", fd);

	fd = must(eventfd(7, 0), "eventfd");
	add("fd_eventfd", fd);
	efd = must(epoll_create1(0), "epoll");
	add("fd_epoll", efd);
	ev.data.fd = p[0];
	if (epoll_ctl(efd, EPOLL_CTL_ADD, p[0], &ev))
		die("epoll_ctl");
	ev.data.fd = fd;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev))
		die("epoll_ctl");

	fd = must(inotify_init1(0), "inotify");
	if (inotify_add_watch(fd, dir, IN_CREATE | IN_DELETE) < 0)
		die("inotify_add_watch");
	add("fd_inotify", fd);

	fd = must(timerfd_create(CLOCK_MONOTONIC, 0), "timerfd");
	if (timerfd_settime(fd, 0, &its, NULL))
		die("timerfd_settime");
	add("fd_timerfd", fd);

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	add("fd_signalfd", must(signalfd(-1, &usr1, 0), "signalfd"));
	add("fd_memfd", must(memfd_create("ptracefs-memfd", 0), "memfd"));

	snprintf(path, sizeof(path), "%s/deleted", dir);
	fd = must(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), "deleted");
	unlink(path);
	add("fd_deleted", fd);

	/* A mapped file, deleted: modules/mapped-deleted/file still has it. */
	snprintf(path, sizeof(path), "%s/mapped-deleted", dir);
	fd = must(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), "mapped");
	for (int i = 0; i < 3 * 4096 + 100; i++)
		if (write(fd, &"0123456789abcdef"[i % 16], 1) != 1)
			die("write");
	map = mmap(NULL, 3 * 4096 + 100, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	close(fd);
	unlink(path);
	add("mapped_deleted", (long)(unsigned long)map);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR2, on_usr2);
	kill(getpid(), SIGUSR1);			/* shared pending */
	syscall(SYS_tgkill, getpid(), getpid(), SIGUSR1);	/* the thread's */

	if (count > 0) {
		struct rlimit rl = { (rlim_t)count + 256, (rlim_t)count + 256 };
		int null = must(open("/dev/null", O_RDONLY), "/dev/null");

		/* Without CAP_SYS_RESOURCE the hard limit caps it: say how many. */
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			if (getrlimit(RLIMIT_NOFILE, &rl))
				die("getrlimit");
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl))
				die("setrlimit");
			if ((rlim_t)count + 256 > rl.rlim_max)
				count = (long)rl.rlim_max - 256;
		}
		for (long i = 0; i < count; i++)
			must(dup(null), "dup");
		add("extra", count);
	}
	if (status_publish(statusfile, status, sizeof(status), slen))
		die("status");
	for (;;)
		pause();
}
