/*
 * live suite: the reader against real processes, no FUSE.
 *
 * Every case starts its own target (tests/targets) and checks what the
 * reader says against what /proc says about the same process: task
 * states, TracerPid, task/TID/syscall, maps, pagemap and mem.
 *
 * PTRACEFS_TARGET and PTRACEFS_CHURN name the target programs. Where
 * ptrace is unavailable the program exits 77 (skip), or fails when
 * PTRACEFS_NO_SKIP=1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reader/reader.h"
#include "live.h"

struct fixture {
	struct target t;
	struct reader *r;
};

static const char *sample_path, *churn_path;

static struct reader *attach(pid_t pid)
{
	struct reader_opts opts = { 0 };
	struct reader *r = NULL;
	char why[256] = "";
	int rc = reader_attach(pid, &opts, &r, why, sizeof(why));

	if (rc)
		fail_msg("reader_attach(%d) = %d (%s): %s", (int)pid, rc, strerror(-rc), why);
	assert_non_null(r);
	return r;
}

static int setup_sample(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	target_start(&f->t, sample_path, "-q");
	*state = f;
	return 0;
}

static int setup_churn(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	target_start(&f->t, churn_path, "-m8");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->r)
		reader_close(f->r);
	target_stop(&f->t);
	free(f);
	return 0;
}

/* After close: nobody traces it, no thread is stopped, it makes progress. */
static void assert_undisturbed(const struct target *t)
{
	char seen[512] = "";

	assert_int_equal(proc_status_long(t->pid, "TracerPid"), 0);
	if (!wait_task_states(t->pid, "tT", true, 1000, seen, sizeof(seen)))
		fail_msg("threads still stopped after close: %s", seen);
	if (!counter_moves(t, 2000))
		fail_msg("progress counter stands still after close");
}

static void test_attach_close_resumes_target(void **state)
{
	struct fixture *f = *state;

	f->r = attach(f->t.pid);
	assert_int_equal(reader_pid(f->r), f->t.pid);
	assert_string_equal(reader_state(f->r), "suspended");
	assert_false(reader_gone(f->r));
	assert_false(counter_moves(&f->t, 50));
	reader_close(f->r);
	f->r = NULL;
	assert_undisturbed(&f->t);
	/* and it still works: SIGTERM makes it exit cleanly */
	assert_int_equal(target_stop(&f->t), 0);
}

static void test_attach_stops_every_thread(void **state)
{
	struct fixture *f = *state;
	pid_t tids[MAX_TASKS];
	char states[MAX_TASKS];
	size_t n;

	f->r = attach(f->t.pid);
	n = proc_tasks(f->t.pid, tids, states, MAX_TASKS);
	assert_int_equal(n, f->t.threads);
	for (size_t i = 0; i < n; i++)
		if (states[i] != 't')
			fail_msg("thread %d is in state '%c', not 't'", (int)tids[i], states[i]);
}

static void test_attach_identity_matches_proc(void **state)
{
	struct fixture *f = *state;
	char path[64], comm[64], exe[4096];
	ssize_t n;

	f->r = attach(f->t.pid);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)f->t.pid);
	assert_true(slurp(path, comm, sizeof(comm)) > 0);
	comm[strcspn(comm, "\n")] = '\0';
	assert_string_equal(reader_comm(f->r), comm);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)f->t.pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_string_equal(reader_exe(f->r), exe);
	assert_ptr_equal(reader_arch(f->r), arch_host());
}

static void test_attach_threads_match_proc_task(void **state)
{
	struct fixture *f = *state;
	pid_t want[MAX_TASKS], got[MAX_TASKS];
	size_t nwant, ngot;

	f->r = attach(f->t.pid);
	nwant = proc_tasks(f->t.pid, want, NULL, MAX_TASKS);
	ngot = reader_threads(f->r, got, MAX_TASKS);
	assert_int_equal(ngot, nwant);
	for (size_t i = 0; i < ngot; i++) {
		assert_int_equal(got[i], want[i]);
		assert_int_equal(reader_thread_alive(f->r, got[i]), 0);
	}
	assert_int_equal(reader_thread_alive(f->r, 0), -ENOENT);
}

static void test_attach_regs_match_proc_syscall(void **state)
{
	struct fixture *f = *state;
	const struct arch_desc *a;
	pid_t tids[MAX_TASKS];
	size_t n;

	f->r = attach(f->t.pid);
	a = reader_arch(f->r);
	assert_non_null(a);
#if defined(__x86_64__)
	/* gdb's names, which regs files show */
	assert_int_equal(arch_reg_index(a, "rip"), a->pc);
	assert_int_equal(arch_reg_index(a, "rsp"), a->sp);
#endif
	n = proc_tasks(f->t.pid, tids, NULL, MAX_TASKS);
	assert_true(n >= 5);
	for (size_t i = 0; i < n; i++) {
		uint64_t sp, pc;
		const void *blob;
		size_t len;
		int rc = reader_thread_regs(f->r, tids[i], &blob, &len);

		if (rc)
			fail_msg("reader_thread_regs(%d) = %d", (int)tids[i], rc);
		assert_true(len >= a->regs_size);
		proc_syscall_sp_pc(f->t.pid, tids[i], &sp, &pc);
		if (arch_reg_value(a, blob, len, (size_t)a->pc) != pc ||
		    arch_reg_value(a, blob, len, (size_t)a->sp) != sp)
			fail_msg("thread %d: pc %#llx sp %#llx, /proc says pc %#llx sp %#llx",
				 (int)tids[i],
				 (unsigned long long)arch_reg_value(a, blob, len, (size_t)a->pc),
				 (unsigned long long)arch_reg_value(a, blob, len, (size_t)a->sp),
				 (unsigned long long)pc, (unsigned long long)sp);
	}
}

static void test_attach_maps_text_matches_proc(void **state)
{
	struct fixture *f = *state;
	static char want[1 << 16];
	char path[64];
	const char *got;
	ssize_t n;
	size_t len = 0, lines = 0;

	f->r = attach(f->t.pid);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)f->t.pid);
	n = slurp(path, want, sizeof(want));
	assert_true(n > 0 && (size_t)n < sizeof(want) - 1);
	got = reader_maps_text(f->r, &len);
	assert_non_null(got);
	assert_int_equal(len, (size_t)n);
	assert_memory_equal(got, want, len);
	for (const char *p = want; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(reader_maps(f->r)->n, lines);
}

/* Every 8-byte word of the buffer holds its own address; the guard is a hole. */
static void test_mem_read_buffer_words(void **state)
{
	struct fixture *f = *state;
	uint64_t *buf = malloc(f->t.buflen), edge[2];

	assert_non_null(buf);
	f->r = attach(f->t.pid);
	assert_int_equal(reader_mem_read(f->r, buf, f->t.buflen, f->t.buf),
			 (ssize_t)f->t.buflen);
	for (size_t i = 0; i < f->t.buflen / 8; i++)
		if (buf[i] != f->t.buf + 8 * i) {
			uint64_t v = buf[i];

			free(buf);
			fail_msg("word at %#llx reads %#llx",
				 (unsigned long long)(f->t.buf + 8 * i), (unsigned long long)v);
		}
	free(buf);
	/* across the end of the buffer into the PROT_NONE guard */
	assert_int_equal(reader_mem_read(f->r, edge, sizeof(edge), f->t.guard - 8),
			 (ssize_t)sizeof(edge));
	assert_int_equal(edge[0], f->t.guard - 8);
	assert_int_equal(edge[1], 0);
}

/*
 * The untouched mapping reads as zeros, and reading it allocates nothing:
 * a fault-in would show in pagemap (the zero page counts as present) even
 * where it does not show in VmRSS.
 */
static void test_mem_read_untouched_faults_nothing(void **state)
{
	struct fixture *f = *state;
	size_t chunk = 1 << 20;
	char *buf = malloc(chunk);
	long rss0, rss1;
	size_t faulted;

	assert_non_null(buf);
	f->r = attach(f->t.pid);
	assert_int_equal(pages_resident(f->t.pid, f->t.untouched, f->t.untouchedlen, NULL), 0);
	rss0 = proc_status_long(f->t.pid, "VmRSS");
	for (uint64_t off = 0; off < f->t.untouchedlen; off += chunk) {
		memset(buf, 0xa5, chunk);
		assert_int_equal(reader_mem_read(f->r, buf, chunk, f->t.untouched + off),
				 (ssize_t)chunk);
		for (size_t i = 0; i < chunk; i++)
			if (buf[i]) {
				free(buf);
				fail_msg("untouched byte at %#llx is not zero",
					 (unsigned long long)(f->t.untouched + off + i));
			}
	}
	free(buf);
	rss1 = proc_status_long(f->t.pid, "VmRSS");
	faulted = pages_resident(f->t.pid, f->t.untouched, f->t.untouchedlen, NULL);
	if (faulted)
		fail_msg("reading the untouched mapping faulted in %zu of its pages", faulted);
	if (rss1 - rss0 > 16)
		fail_msg("VmRSS grew from %ld kB to %ld kB", rss0, rss1);
}

/* The parsed snapshot agrees with /proc, and so does its idea of data. */
static void test_attach_maps_entries_match_proc(void **state)
{
	struct fixture *f = *state;
	const struct maps *m;
	struct pmap want[512];
	size_t n;

	f->r = attach(f->t.pid);
	n = proc_maps(f->t.pid, want, 512);
	m = reader_maps(f->r);
	assert_int_equal(m->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct map_entry *e = &m->v[i];

		if (e->start != want[i].start || e->end != want[i].end ||
		    strcmp(e->path, want[i].path) ||
		    map_is_data(e) != pmap_is_data(&want[i]) ||
		    (map_is_data(e) && map_is_anon(e) != pmap_is_anon(&want[i])))
			fail_msg("mapping %zu (%#llx-%#llx %s): reader has %#llx-%#llx '%s' data %d anon %d",
				 i, (unsigned long long)want[i].start,
				 (unsigned long long)want[i].end, want[i].path,
				 (unsigned long long)e->start, (unsigned long long)e->end,
				 e->path, map_is_data(e), map_is_anon(e));
	}
}

/*
 * Compares reader_mem_read with /proc/PID/mem over [addr, addr+len) of m,
 * page by page; pages of anonymous memory that do not exist yet are only
 * checked to read as zeros (reading them through /proc would create them).
 */
static void compare_range(struct reader *r, pid_t pid, int memfd,
			  const struct pmap *m, uint64_t addr, uint64_t len)
{
	static unsigned char got[PAGE_MAX], want[PAGE_MAX];
	size_t npages = (size_t)(len / PAGE);
	bool *res = calloc(npages ? npages : 1, sizeof(bool));

	assert_non_null(res);
	assert_true(PAGE <= PAGE_MAX);
	pages_resident(pid, addr, len, res);
	for (size_t i = 0; i < npages; i++) {
		uint64_t a = addr + i * PAGE;
		bool real = res[i] || !pmap_is_anon(m);

		assert_int_equal(reader_mem_read(r, got, PAGE, a), PAGE);
		if (real)
			assert_int_equal(pread(memfd, want, PAGE, (off_t)a), PAGE);
		else
			memset(want, 0, PAGE);
		if (memcmp(got, want, PAGE)) {
			free(res);
			fail_msg("%s page %#llx of %s differs from /proc/PID/mem",
				 real ? "resident" : "absent", (unsigned long long)a,
				 m->path[0] ? m->path : "anonymous memory");
		}
	}
	free(res);
}

static void test_mem_read_matches_proc_mem(void **state)
{
	struct fixture *f = *state;
	struct pmap maps[512];
	size_t n, ndata = 0;
	char path[64];
	int memfd;

	f->r = attach(f->t.pid);
	n = proc_maps(f->t.pid, maps, 512);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)f->t.pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(memfd >= 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t len = maps[i].end - maps[i].start;

		if (!pmap_is_data(&maps[i]))
			continue;
		ndata++;
		compare_range(f->r, f->t.pid, memfd, &maps[i], maps[i].start,
			      len < SAMPLE ? len : SAMPLE);
		if (maps[i].start <= f->t.buf && f->t.buf < maps[i].end)
			compare_range(f->r, f->t.pid, memfd, &maps[i], f->t.buf, f->t.buflen);
	}
	close(memfd);
	assert_true(ndata >= 10);
}

struct extent {
	uint64_t start, end;
};

static void add_extent(struct extent *v, size_t *n, size_t cap, uint64_t s, uint64_t e)
{
	if (*n && v[*n - 1].end == s) {
		v[*n - 1].end = e;
		return;
	}
	assert_true(*n < cap);
	v[*n].start = s;
	v[*n].end = e;
	(*n)++;
}

/*
 * SEEK_DATA/SEEK_HOLE must report exactly the data mappings, less the
 * anonymous pages pagemap shows neither present nor swapped.
 */
static void test_mem_seek_matches_maps(void **state)
{
	struct fixture *f = *state;
	static struct extent want[1 << 16], got[1 << 16];
	struct pmap maps[512];
	size_t n, nwant = 0, ngot = 0;
	uint64_t end = 0, off = 0, d, h;
	int rc;

	f->r = attach(f->t.pid);
	n = proc_maps(f->t.pid, maps, 512);
	for (size_t i = 0; i < n; i++) {
		const struct pmap *m = &maps[i];
		size_t npages = (size_t)((m->end - m->start) / PAGE);
		bool *res;

		if (!pmap_is_data(m))
			continue;
		end = m->end;
		if (!pmap_is_anon(m)) {
			add_extent(want, &nwant, 1 << 16, m->start, m->end);
			continue;
		}
		res = calloc(npages, sizeof(bool));
		assert_non_null(res);
		pages_resident(f->t.pid, m->start, m->end - m->start, res);
		for (size_t p = 0; p < npages; p++)
			if (res[p])
				add_extent(want, &nwant, 1 << 16, m->start + p * PAGE,
					   m->start + (p + 1) * PAGE);
		free(res);
	}
	assert_true(nwant > 0);
	assert_int_equal(reader_mem_size(f->r), end);

	while (off < end) {
		rc = reader_mem_seek(f->r, off, SEEK_DATA, end, &d);
		if (rc == -ENXIO)
			break;
		assert_int_equal(rc, 0);
		if (d < off || d >= end)
			fail_msg("SEEK_DATA from %#llx gave %#llx", (unsigned long long)off,
				 (unsigned long long)d);
		assert_int_equal(reader_mem_seek(f->r, d, SEEK_HOLE, end, &h), 0);
		if (h <= d || h > end)
			fail_msg("SEEK_HOLE from data at %#llx gave %#llx",
				 (unsigned long long)d, (unsigned long long)h);
		add_extent(got, &ngot, 1 << 16, d, h);
		off = h;
	}
	/*
	 * Truthful where it matters: a hole holds no populated page (every
	 * extent of maps+pagemap lies inside one the walk gives), and the walk
	 * starts and ends its extents on populated pages. A short run of
	 * unpopulated pages between two populated ones may be told as data
	 * (it reads as zeros): fewer round trips for sparse readers.
	 */
	for (size_t i = 0, j = 0; i < nwant; i++) {
		while (j < ngot && got[j].end <= want[i].start)
			j++;
		if (j == ngot || got[j].start > want[i].start || got[j].end < want[i].end)
			fail_msg("data %#llx-%#llx (maps+pagemap) is not inside one extent of the seek walk",
				 (unsigned long long)want[i].start, (unsigned long long)want[i].end);
	}
	for (size_t j = 0; j < ngot; j++) {
		bool starts = false, ends = false;

		for (size_t i = 0; i < nwant; i++) {
			starts |= want[i].start == got[j].start;
			ends |= want[i].end == got[j].end;
		}
		if (!starts || !ends)
			fail_msg("seek walk extent %#llx-%#llx does not start and end on data",
				 (unsigned long long)got[j].start, (unsigned long long)got[j].end);
	}
	/*
	 * From inside an extent SEEK_DATA stays put; from the first page of a
	 * hole, SEEK_HOLE stays put or (a short hole told as data) goes on to
	 * the end of a later extent, never into data.
	 */
	for (size_t i = 0; i < nwant; i++) {
		uint64_t mid = want[i].start + (want[i].end - want[i].start) / 2;
		bool at_end = false;

		assert_int_equal(reader_mem_seek(f->r, mid, SEEK_DATA, end, &d), 0);
		assert_int_equal(d, mid);
		if (want[i].end < end) {
			assert_int_equal(reader_mem_seek(f->r, want[i].end, SEEK_HOLE, end, &h), 0);
			for (size_t k = i; k < nwant; k++)
				at_end |= want[k].end == h;
			if (h < want[i].end || !(at_end || h == end))
				fail_msg("SEEK_HOLE from the hole at %#llx gave %#llx",
					 (unsigned long long)want[i].end, (unsigned long long)h);
		}
	}
	/* nothing after the last extent */
	assert_int_equal(reader_mem_seek(f->r, want[nwant - 1].end, SEEK_DATA, end, &d),
			 -ENXIO);
}

static void test_attach_churn_suspended_completely(void **state)
{
	struct fixture *f = *state;
	pid_t want[MAX_TASKS], got[MAX_TASKS];
	char seen[2048] = "";
	size_t nwant, ngot;

	for (int round = 0; round < 10; round++) {
		f->r = attach(f->t.pid);
		/* a thread caught mid-exit may linger in /proc for a moment */
		if (!wait_task_states(f->t.pid, "t", false, 1000, seen, sizeof(seen)))
			fail_msg("round %d: not every thread stopped: %s", round, seen);
		assert_false(counter_moves(&f->t, 50));
		nwant = proc_tasks(f->t.pid, want, NULL, MAX_TASKS);
		ngot = reader_threads(f->r, got, MAX_TASKS);
		assert_int_equal(ngot, nwant);
		assert_memory_equal(got, want, ngot * sizeof(pid_t));
		reader_close(f->r);
		f->r = NULL;
		assert_undisturbed(&f->t);
	}
	assert_int_equal(target_stop(&f->t), 0);
}

static void test_attach_stopped_target_stays_stopped(void **state)
{
	struct fixture *f = *state;
	char seen[512] = "";
	uint64_t c0;

	assert_int_equal(kill(f->t.pid, SIGSTOP), 0);
	if (!wait_task_states(f->t.pid, "T", false, 2000, seen, sizeof(seen)))
		fail_msg("SIGSTOP did not stop the target: %s", seen);
	f->r = attach(f->t.pid);
	reader_close(f->r);
	f->r = NULL;
	c0 = read_counter(&f->t);
	sleep_ms(200);
	if (!wait_task_states(f->t.pid, "T", false, 10, seen, sizeof(seen)))
		fail_msg("a job-control stopped target was resumed by close: %s", seen);
	assert_int_equal(read_counter(&f->t), c0);
	assert_int_equal(proc_status_long(f->t.pid, "TracerPid"), 0);
	assert_int_equal(kill(f->t.pid, SIGCONT), 0);
	assert_undisturbed(&f->t);
}

static void assert_refused(pid_t pid, const char *what)
{
	char why[256];
	int rc;

	memset(why, 0, sizeof(why));
	rc = reader_preflight(pid, NULL, why, sizeof(why));
	if (rc >= 0)
		fail_msg("preflight accepted %s (pid %d)", what, (int)pid);
	if (rc < -4095)
		fail_msg("preflight of %s returned %d, not -errno", what, rc);
	if (!why[0])
		fail_msg("preflight refused %s with no reason", what);
	if (strchr(why, '\n') && strchr(why, '\n')[1])
		fail_msg("preflight reason for %s is not one line: '%s'", what, why);
}

static void test_preflight_refuses_bad_pids(void **state)
{
	struct fixture *f = *state;
	char why[256] = "";
	pid_t gone = fork();
	int rc;

	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);

	assert_refused(0, "pid 0");
	assert_refused(-1, "pid -1");
	assert_refused(gone, "a process that exited");
	assert_refused(getpid(), "ourselves");
	assert_refused(getppid(), "our parent");

	rc = reader_preflight(f->t.pid, NULL, why, sizeof(why));
	if (rc)
		fail_msg("preflight refused a plain target: %d %s", rc, why);
	f->r = attach(f->t.pid);
	assert_refused(f->t.pid, "a process already traced");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attach_close_resumes_target,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_attach_stops_every_thread,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_attach_identity_matches_proc,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_attach_threads_match_proc_task,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_attach_regs_match_proc_syscall,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_attach_maps_text_matches_proc,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_attach_maps_entries_match_proc,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_mem_read_buffer_words,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_mem_read_untouched_faults_nothing,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_mem_read_matches_proc_mem,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_mem_seek_matches_maps,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_attach_churn_suspended_completely,
						setup_churn, teardown),
		cmocka_unit_test_setup_teardown(test_attach_stopped_target_stays_stopped,
						setup_sample, teardown),
		cmocka_unit_test_setup_teardown(test_preflight_refuses_bad_pids,
						setup_sample, teardown),
	};
	const char *no_skip = getenv("PTRACEFS_NO_SKIP");
	const char *why;
	sigset_t chld;

	sample_path = getenv("PTRACEFS_TARGET");
	churn_path = getenv("PTRACEFS_CHURN");
	if (!sample_path || !churn_path) {
		fprintf(stderr, "test_attach: PTRACEFS_TARGET and PTRACEFS_CHURN must name "
			"the target programs (meson test sets them)\n");
		return 1;
	}
	/* the reader reads SIGCHLD from a signalfd: block it before any thread exists */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);

	why = ptrace_unavailable();
	if (why) {
		bool strict = no_skip && strcmp(no_skip, "1") == 0;

		fprintf(stderr, "test_attach: %s ptrace unavailable: %s\n",
			strict ? "FAIL (PTRACEFS_NO_SKIP=1):" : "skipping,", why);
		return strict ? 1 : 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
