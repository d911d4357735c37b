/*
 * reader_attach(): stop the target, then take the snapshot the tree is made
 * of (registers, maps, identity). The snapshot is taken once: the target
 * cannot change while every thread is stopped.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <unistd.h>

#include "reader/reader_int.h"

struct attach_arg {
	char why[512];
};

/* On the tracer thread: the registers of every stopped thread. */
static int snapshot_regs(struct reader *r)
{
	for (size_t i = 0; i < r->nthreads; i++) {
		struct rthread *t = &r->threads[i];
		struct iovec iov = { t->regs, sizeof(t->regs) };

		if (atomic_load(&t->state) != RT_STOPPED)
			continue;
		if (ptrace(PTRACE_GETREGSET, t->tid, (void *)(long)NT_PRSTATUS, &iov) == 0)
			t->regs_len = iov.iov_len;
	}
	return fault_hit("snapshot") ? -EIO : 0;
}

static int attach_fn(struct reader *r, void *p)
{
	struct attach_arg *a = p;
	int rc = attach_all(r, a->why, sizeof(a->why));

	if (rc == 0) {
		rc = snapshot_regs(r);
		if (rc)
			snprintf(a->why, sizeof(a->why), "cannot read registers: %s",
				 strerror(-rc));
	}
	if (rc)
		detach_all(r);
	return rc;
}

static int detach_fn(struct reader *r, void *p)
{
	(void)p;
	detach_all(r);
	return 0;
}

/* The target's architecture, from its executable's ELF header. */
static const struct arch_desc *detect_arch(pid_t pid)
{
	unsigned char h[EI_NIDENT + 4];
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return arch_host();
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, ELFMAG, SELFMAG) != 0)
		return arch_host();
	{
		uint16_t machine = h[EI_DATA] == ELFDATA2MSB ?
			(uint16_t)(h[18] << 8 | h[19]) : (uint16_t)(h[19] << 8 | h[18]);
		const struct arch_desc *a = arch_by_elf(machine, h[EI_CLASS]);

		return a ? a : arch_host();
	}
}

static int snapshot_process(struct reader *r, char *why, size_t whylen)
{
	char path[64], *comm;
	size_t len;
	ssize_t n;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)r->pid);
	rc = proc_read_file(path, &r->maps_text, &r->maps_len, (size_t)1 << 30);
	if (rc == 0)
		rc = maps_parse(r->maps_text, r->maps_len, &r->maps);
	if (rc) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < r->maps.n; i++) {
		const struct map_entry *e = &r->maps.v[i];

		if (!map_is_data(e) || e->end > (UINT64_C(1) << 63))
			continue;
		r->mem_data_bytes += e->end - e->start;
		if (e->end > r->mem_size)
			r->mem_size = e->end;
	}

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)r->pid);
	if (proc_read_file(path, &comm, &len, 4096) == 0) {
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(r->comm, sizeof(r->comm), "%s", comm);
		free(comm);
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)r->pid);
	n = readlink(path, r->exe, sizeof(r->exe) - 1);
	r->exe[n > 0 ? n : 0] = '\0';
	r->arch = detect_arch(r->pid);

	/* Memory goes through a live thread: a zombie leader has no mm. */
	r->mem_pid = r->pid;
	if (reader_thread_alive(r, r->pid) != 0)
		for (size_t i = 0; i < r->nthreads; i++)
			if (atomic_load(&r->threads[i].state) == RT_STOPPED) {
				r->mem_pid = r->threads[i].tid;
				break;
			}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/mem", (int)r->pid, (int)r->mem_pid);
	r->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/pagemap", (int)r->pid, (int)r->mem_pid);
	r->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	r->map_fds = calloc(r->maps.n ? r->maps.n : 1, sizeof(*r->map_fds));
	for (size_t i = 0; r->map_fds && i < r->maps.n; i++)
		atomic_init(&r->map_fds[i], -2);
	return 0;
}

int reader_attach(pid_t pid, const struct reader_opts *opts,
		  struct reader **out, char *why, size_t whylen)
{
	struct reader *r = calloc(1, sizeof(*r));
	struct attach_arg a = { "" };
	unsigned budget;
	int rc;

	if (!r)
		return -ENOMEM;
	r->pid = pid;
	if (opts)
		r->opts = *opts;
	r->mem_fd = r->pagemap_fd = -1;
	snprintf(r->comm, sizeof(r->comm), "?");
	budget = (r->opts.attach_timeout_ms ? r->opts.attach_timeout_ms : 10000) + 5000;

	rc = tracer_start(r);
	if (rc) {
		snprintf(why, whylen, "cannot start the tracer thread: %s", strerror(-rc));
		free(r);
		return rc;
	}
	rc = tracer_call(r, attach_fn, &a, sizeof(a), budget);
	if (rc) {
		snprintf(why, whylen, "%s", a.why[0] ? a.why : strerror(-rc));
		goto out_stop;
	}
	rc = snapshot_process(r, why, whylen);
	if (rc)
		goto out_detach;
	*out = r;
	return 0;

out_detach:
	tracer_call(r, detach_fn, &a, sizeof(a), 5000);
out_stop:
	tracer_stop(r);
	maps_free(&r->maps);
	free(r->maps_text);
	free(r->threads);
	free(r);
	return rc;
}

void reader_close(struct reader *r)
{
	struct attach_arg a;

	if (!r)
		return;
	tracer_call(r, detach_fn, &a, sizeof(a), 5000);
	tracer_stop(r);
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	if (r->pagemap_fd >= 0)
		close(r->pagemap_fd);
	for (size_t i = 0; r->map_fds && i < r->maps.n; i++)
		if (r->map_fds[i] >= 0)
			close(r->map_fds[i]);
	free(r->map_fds);
	maps_free(&r->maps);
	free(r->maps_text);
	free(r->threads);
	free(r);
}

pid_t reader_pid(const struct reader *r) { return r->pid; }
const char *reader_comm(const struct reader *r) { return r->comm; }
const char *reader_exe(const struct reader *r) { return r->exe; }
const struct arch_desc *reader_arch(const struct reader *r) { return r->arch; }
const struct maps *reader_maps(const struct reader *r) { return &r->maps; }

bool reader_gone(const struct reader *r)
{
	return atomic_load(&r->nalive) <= 0;
}

const char *reader_state(const struct reader *r)
{
	return reader_gone(r) ? "exited" : "suspended";
}

const char *reader_maps_text(const struct reader *r, size_t *len)
{
	*len = r->maps_len;
	return r->maps_text;
}

size_t reader_threads(const struct reader *r, pid_t *tids, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nthreads; i++) {
		if (atomic_load(&r->threads[i].state) == RT_DEAD)
			continue;
		if (n < cap)
			tids[n] = r->threads[i].tid;
		n++;
	}
	return n;
}

int reader_thread_alive(const struct reader *r, pid_t tid)
{
	struct rthread *t = reader_find_thread(r, tid);

	if (!t || atomic_load(&t->state) == RT_DEAD)
		return -ENOENT;
	return 0;
}

int reader_thread_regs(const struct reader *r, pid_t tid, const void **blob,
		       size_t *len)
{
	struct rthread *t = reader_find_thread(r, tid);

	if (!t)
		return -ENOENT;
	if (atomic_load(&t->state) == RT_DEAD || t->regs_len == 0)
		return -EIO;
	*blob = t->regs;
	*len = t->regs_len;
	return 0;
}
