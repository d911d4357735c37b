/*
 * Helpers of the live suite: /proc read directly (never through the code
 * under test) and targets started under a keeper. Failures end the
 * running cmocka test.
 */
#ifndef PTRACEFS_TESTS_LIVE_H
#define PTRACEFS_TESTS_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

/* The host's: /proc/PID/pagemap is indexed by it (16 or 64 KiB on some arm64). */
#define PAGE ((size_t)sysconf(_SC_PAGESIZE))
#define PAGE_MAX (64u << 10)
#define SAMPLE (64u << 10)	/* bytes compared at the start of each mapping */
#define MAX_TASKS 1024

/*
 * A target from tests/targets. The keeper, our child, forks and execs it
 * and reaps it: the target is not our child, like any process ptracefs
 * mounts, and its exit status still reaches us as the keeper's.
 */
struct target {
	pid_t keeper;
	pid_t pid;
	char dir[64];		/* holds the status file */
	char status[96];
	/* from the status file; the sample target only, except counter */
	uint64_t buf, buflen, guard, untouched, untouchedlen, counter;
	uint64_t threads;	/* the main thread and its workers */
};

/* Starts prog -s STATUS extra and waits (5 s) for its status file. */
void target_start(struct target *t, const char *prog, const char *extra);
/* SIGCONT + SIGTERM, SIGKILL after 3 s; the exit status, -1 if killed. */
int target_stop(struct target *t);
/* The progress counter, read through /proc/PID/mem. */
uint64_t read_counter(const struct target *t);
bool counter_moves(const struct target *t, unsigned ms);

/* CLOCK_MONOTONIC in ms: the reader's own (reader/attach.c). */
uint64_t now_ms(void);
void sleep_ms(unsigned ms);
/* A whole (small) file, NUL-terminated; its length or -1. */
ssize_t slurp(const char *path, char *buf, size_t cap);
/* A number from /proc/PID/status (kB fields in kB); -1 if absent. */
long proc_status_long(pid_t pid, const char *key);
/* /proc/PID/task ascending, with state letters when states != NULL. */
size_t proc_tasks(pid_t pid, pid_t *tids, char *states, size_t cap);
/*
 * Polls for ms until every thread's state letter is in want (with neg:
 * none is); on timeout writes "tid:state ..." to seen and returns false.
 */
bool wait_task_states(pid_t pid, const char *want, bool neg, unsigned ms,
		      char *seen, size_t seenlen);
/* sp and pc of task/TID/syscall; fails the test on "running". */
void proc_syscall_sp_pc(pid_t pid, pid_t tid, uint64_t *sp, uint64_t *pc);
/*
 * Pages of [addr, addr+len) that pagemap shows present (bit 63) or
 * swapped (bit 62); per page in each[] when not NULL.
 */
size_t pages_resident(pid_t pid, uint64_t addr, uint64_t len, bool *each);

/* One line of /proc/PID/maps, parsed here rather than by the code under test. */
struct pmap {
	uint64_t start, end;
	char perms[5];
	char path[256];
};

size_t proc_maps(pid_t pid, struct pmap *v, size_t cap);
/* Data of mem: readable, not [vvar], [vvar_vclock] or [vsyscall]. */
bool pmap_is_data(const struct pmap *m);
/* Anonymous: its never-populated pages are holes. */
bool pmap_is_anon(const struct pmap *m);

/* Why this process cannot ptrace a child, or NULL when it can. */
const char *ptrace_unavailable(void);

#endif
