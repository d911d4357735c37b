/*
 * What the two guest programs share (vmtest.c, vmfs.c): result counting
 * and the kernel's own view of a stopped thread. Each is one translation
 * unit, so these are static.
 */
#ifndef PTRACEFS_VMCOMMON_H
#define PTRACEFS_VMCOMMON_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* Results, printed as "vmtest LABEL: N passed, M failed". */
static int passed, failed;
static char label[64];

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		return;
	}
	failed++;
	printf("FAIL %s: ", label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* The state letter of /proc/PID/task/TID/stat. */
static char thread_state(pid_t pid, pid_t tid)
{
	char path[96], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] ? p[2] : '?';
}

/* sp and pc, the last two fields of /proc/PID/task/TID/syscall. */
static int proc_sp_pc(pid_t pid, pid_t tid, uint64_t *sp, uint64_t *pc)
{
	char path[96], buf[512], *f[16];
	int fd, nf = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	for (char *s = strtok(buf, " \n"); s && nf < 16; s = strtok(NULL, " \n"))
		f[nf++] = s;
	if (nf != 3 && nf != 9)		/* "-1 sp pc" or "nr a0..a5 sp pc" */
		return -EIO;
	*sp = strtoull(f[nf - 2], NULL, 16);
	*pc = strtoull(f[nf - 1], NULL, 16);
	return 0;
}

/*
 * The targets' common part: the main thread and a reader thread block in
 * read() with counts no register holds by accident (the third argument,
 * so its register is known); a spinner runs the caller's loop.
 */
#define COUNT_MAIN 0x3a1
#define COUNT_THREAD 0x2b7

static atomic_int reader_tid, spinner_tid;
static int block_fd;
static char rbuf[2][4096];

static void *reader(void *p)
{
	(void)p;
	atomic_store(&reader_tid, (int)syscall(SYS_gettid));
	if (read(block_fd, rbuf[1], COUNT_THREAD) < 0)
		_exit(3);
	return NULL;
}

/* Starts the reader and the spinner; returns once both know their tids. */
static void start_threads(void *(*spinner)(void *))
{
	pthread_t t;
	int p[2];

	if (pipe(p) != 0)
		_exit(2);
	block_fd = p[0];
	if (pthread_create(&t, NULL, reader, NULL) || pthread_create(&t, NULL, spinner, NULL))
		_exit(2);
	while (!atomic_load(&reader_tid) || !atomic_load(&spinner_tid))
		sched_yield();
}

/* The main thread's blocked read(), for good. */
static void block_forever(void)
{
	for (;;)
		if (read(block_fd, rbuf[0], COUNT_MAIN) < 0)
			_exit(3);
}

#endif
