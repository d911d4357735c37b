/*
 * What the live tests know about a process without asking the reader:
 * /proc read directly, and targets started under a keeper process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "live.h"

void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };

	nanosleep(&ts, NULL);
}

ssize_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Value of "key value" in text (status files, /proc/PID/status). */
static int text_field(const char *text, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) || (p[klen] != ' ' && p[klen] != ':' &&
					      p[klen] != '\t'))
			continue;
		p += klen + 1;
		p += strspn(p, " \t");
		size_t n = strcspn(p, "\n");
		if (n >= outlen)
			n = outlen - 1;
		memcpy(out, p, n);
		out[n] = '\0';
		return 0;
	}
	return -1;
}

static uint64_t text_u64(const char *text, const char *key)
{
	char v[64];

	if (text_field(text, key, v, sizeof(v)))
		fail_msg("status has no '%s'", key);
	return strtoull(v, NULL, 0);
}

long proc_status_long(pid_t pid, const char *key)
{
	char path[64], text[4096], v[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (slurp(path, text, sizeof(text)) < 0 || text_field(text, key, v, sizeof(v)))
		return -1;
	return strtol(v, NULL, 10);
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

size_t proc_tasks(pid_t pid, pid_t *tids, char *states, size_t cap)
{
	char path[64], stat[512];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < cap)
		if (de->d_name[0] != '.')
			tids[n++] = (pid_t)atoi(de->d_name);
	closedir(d);
	qsort(tids, n, sizeof(*tids), cmp_pid);
	/* the state is the field after the last ')' of task/TID/stat */
	for (size_t i = 0; states && i < n; i++) {
		const char *rp;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tids[i]);
		states[i] = '?';
		if (slurp(path, stat, sizeof(stat)) > 0 && (rp = strrchr(stat, ')')))
			states[i] = rp[2];
	}
	return n;
}

bool wait_task_states(pid_t pid, const char *want, bool neg, unsigned ms,
			     char *seen, size_t seenlen)
{
	uint64_t deadline = now_ms() + ms;
	pid_t tids[MAX_TASKS];
	char states[MAX_TASKS];

	for (;;) {
		size_t n = proc_tasks(pid, tids, states, MAX_TASKS), i, o = 0;

		for (i = 0; i < n; i++)
			if ((strchr(want, states[i]) != NULL) == neg)
				break;
		if (n && i == n)
			return true;
		if (now_ms() > deadline) {
			for (i = 0; i < n && o + 16 < seenlen; i++)
				o += (size_t)snprintf(seen + o, seenlen - o, "%d:%c ",
						      (int)tids[i], states[i]);
			if (!n)
				snprintf(seen, seenlen, "no threads");
			return false;
		}
		sleep_ms(5);
	}
}

uint64_t read_counter(const struct target *t)
{
	char path[64];
	uint64_t v = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)t->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &v, sizeof(v), (off_t)t->counter), sizeof(v));
	close(fd);
	return v;
}

bool counter_moves(const struct target *t, unsigned ms)
{
	uint64_t c0 = read_counter(t), deadline = now_ms() + ms;

	while (now_ms() <= deadline) {
		sleep_ms(5);
		if (read_counter(t) != c0)
			return true;
	}
	return false;
}

/*
 * Starts prog with "-s STATUS" and extra args under a keeper and waits for
 * its status file. SIGCHLD is blocked in this process (the reader needs it
 * so); the target gets the default mask back.
 */
void target_start(struct target *t, const char *prog, const char *extra)
{
	uint64_t deadline;
	char text[1024];
	int wst;

	memset(t, 0, sizeof(*t));
	strcpy(t->dir, "/tmp/ptracefs-live-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->status, sizeof(t->status), "%s/status", t->dir);

	t->keeper = fork();
	assert_true(t->keeper >= 0);
	if (t->keeper == 0) {
		sigset_t none;
		pid_t child;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigemptyset(&none);
		child = fork();
		if (child == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			sigprocmask(SIG_SETMASK, &none, NULL);
			execl(prog, prog, "-s", t->status, extra, (char *)NULL);
			_exit(127);
		}
		while (child > 0 && waitpid(child, &wst, 0) < 0 && errno == EINTR)
			;
		_exit(child < 0 ? 126 : WIFEXITED(wst) ? WEXITSTATUS(wst)
						      : 128 + WTERMSIG(wst));
	}

	deadline = now_ms() + 5000;
	while (slurp(t->status, text, sizeof(text)) <= 0 || !strstr(text, "ready\n")) {
		if (waitpid(t->keeper, &wst, WNOHANG) == t->keeper) {
			t->keeper = 0;
			fail_msg("%s exited before it was ready", prog);
		}
		if (now_ms() > deadline)
			fail_msg("%s wrote no status file in 5 s", prog);
		sleep_ms(2);
	}
	t->pid = (pid_t)text_u64(text, "pid");
	t->counter = text_u64(text, "counter");
	if (strstr(text, "\nbuf ")) {
		t->buf = text_u64(text, "buf");
		t->buflen = text_u64(text, "buflen");
		t->guard = text_u64(text, "guard");
		t->untouched = text_u64(text, "untouched");
		t->untouchedlen = text_u64(text, "untouchedlen");
		t->threads = text_u64(text, "threads");
	}
}

int target_stop(struct target *t)
{
	uint64_t deadline = now_ms() + 3000;
	int wst, rc = -1;

	if (t->pid > 0) {
		kill(t->pid, SIGCONT);
		kill(t->pid, SIGTERM);
	}
	while (t->keeper > 0) {
		pid_t w = waitpid(t->keeper, &wst, WNOHANG);

		if (w == t->keeper) {
			rc = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
			break;
		}
		if (w < 0 && errno != EINTR)
			break;
		if (now_ms() > deadline) {
			if (t->pid > 0)
				kill(t->pid, SIGKILL);
			kill(t->keeper, SIGKILL);
			waitpid(t->keeper, &wst, 0);
			break;
		}
		sleep_ms(5);
	}
	unlink(t->status);
	rmdir(t->dir);
	t->keeper = t->pid = 0;
	return rc;
}

/* sp and pc of task/TID/syscall: "nr a1..a6 sp pc" or "-1 sp pc". */
void proc_syscall_sp_pc(pid_t pid, pid_t tid, uint64_t *sp, uint64_t *pc)
{
	char path[96], text[512], *tok[16];
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	assert_true(slurp(path, text, sizeof(text)) > 0);
	for (char *s = strtok(text, " \n"); s && n < 16; s = strtok(NULL, " \n"))
		tok[n++] = s;
	if (n != 9 && n != 3)
		fail_msg("thread %d: syscall file is '%s', expected a stopped thread",
			 (int)tid, text);
	*sp = strtoull(tok[n - 2], NULL, 16);
	*pc = strtoull(tok[n - 1], NULL, 16);
}

size_t pages_resident(pid_t pid, uint64_t addr, uint64_t len, bool *each)
{
	size_t npages = (size_t)(len / PAGE), count = 0;
	uint64_t *pm = calloc(npages ? npages : 1, 8);
	char path[64];
	int fd;

	assert_non_null(pm);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, pm, npages * 8, (off_t)(addr / PAGE * 8)),
			 (ssize_t)(npages * 8));
	close(fd);
	for (size_t i = 0; i < npages; i++) {
		bool in = (pm[i] >> 62) != 0;

		count += in;
		if (each)
			each[i] = in;
	}
	free(pm);
	return count;
}

size_t proc_maps(pid_t pid, struct pmap *v, size_t cap)
{
	char path[64], line[512];
	size_t n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fp = fopen(path, "re");
	assert_non_null(fp);
	while (n < cap && fgets(line, sizeof(line), fp)) {
		unsigned long long s, e;
		int off = 0;

		if (sscanf(line, "%llx-%llx %4s %*s %*s %*s %n", &s, &e, v[n].perms, &off) < 3)
			continue;
		v[n].start = s;
		v[n].end = e;
		snprintf(v[n].path, sizeof(v[n].path), "%s", off ? line + off : "");
		v[n].path[strcspn(v[n].path, "\n")] = '\0';
		n++;
	}
	fclose(fp);
	return n;
}

bool pmap_is_data(const struct pmap *m)
{
	return m->perms[0] == 'r' && strcmp(m->path, "[vvar]") &&
	       strcmp(m->path, "[vvar_vclock]") && strcmp(m->path, "[vsyscall]");
}

bool pmap_is_anon(const struct pmap *m)
{
	return !m->path[0] || !strcmp(m->path, "[heap]") || !strcmp(m->path, "[stack]") ||
	       !strncmp(m->path, "[anon:", 6);
}

/* Seizes a sleeping child to find out. */
const char *ptrace_unavailable(void)
{
	static char why[128];
	pid_t child = fork();
	long rc;
	int err;

	if (child < 0)
		return "fork failed";
	if (child == 0) {
		pause();
		_exit(0);
	}
	rc = ptrace(PTRACE_SEIZE, child, NULL, NULL);
	err = errno;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (rc == 0)
		return NULL;
	snprintf(why, sizeof(why), "PTRACE_SEIZE of a child: %s", strerror(err));
	return why;
}
