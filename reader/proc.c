/* Small readers of /proc text. /proc files report size 0, so read to EOF. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader/procstat.h"
#include "reader/reader_int.h"

/* Reads a whole file (at most cap bytes) into a NUL-terminated buffer. */
int proc_read_file(const char *path, char **buf, size_t *len, size_t cap)
{
	size_t n = 0, sz = 4096;
	char *p = NULL;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t got;

		if (n + 1 >= sz || !p) {
			char *q;

			if (p)
				sz *= 2;
			q = realloc(p, sz);
			if (!q) {
				rc = -ENOMEM;
				break;
			}
			p = q;
		}
		got = read(fd, p + n, sz - n - 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > cap) {
			rc = -EFBIG;
			break;
		}
	}
	close(fd);
	if (rc) {
		free(p);
		return rc;
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	return 0;
}

/* Copies the value of "Key:\tvalue" from /proc/PID/status. */
int proc_status_field(pid_t pid, const char *key, char *out, size_t outlen)
{
	char path[64], *buf;
	const char *v;
	size_t len, n;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	rc = proc_read_file(path, &buf, &len, 1 << 20);
	if (rc)
		return rc;
	rc = procstat_status_field(buf, len, key, &v, &n);
	if (rc == 0)
		snprintf(out, outlen, "%.*s", (int)n, v);
	free(buf);
	return rc;
}

/* The state letter of /proc/PID/task/TID/stat. */
int proc_task_state(pid_t pid, pid_t tid, char *state)
{
	struct procstat ps;
	char path[64], *buf;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	rc = proc_read_file(path, &buf, &len, 1 << 16);
	if (rc)
		return rc;
	rc = procstat_parse(buf, len, &ps);
	if (rc == 0)
		*state = ps.state;
	free(buf);
	return rc;
}

int proc_cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Lists /proc/PID/task, ascending. */
int proc_list_tasks(pid_t pid, pid_t **tids, size_t *n)
{
	char path[64];
	struct dirent *de;
	pid_t *v = NULL;
	size_t cnt = 0, cap = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long t = strtol(de->d_name, &end, 10);

		if (*end || t <= 0)
			continue;
		if (cnt == cap) {
			pid_t *q = realloc(v, (cap ? cap * 2 : 64) * sizeof(*v));

			if (!q) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = q;
			cap = cap ? cap * 2 : 64;
		}
		v[cnt++] = (pid_t)t;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), proc_cmp_pid);
	*tids = v;
	*n = cnt;
	return 0;
}
