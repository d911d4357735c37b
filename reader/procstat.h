/*
 * The one parser of /proc/PID/stat, /proc/PID/status and /proc/PID/cmdline
 * text (and their task/TID twins). Bytes in, never NUL terminated: the text
 * is untrusted, since a comm may hold ") ", digits, '(' or a newline, and
 * nothing here reads past len. Returns 0 or -errno, like the rest of reader/.
 */
#ifndef PTRACEFS_PROCSTAT_H
#define PTRACEFS_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The fields of a stat line ptracefs uses, numbered as in proc(5). */
struct procstat {
	pid_t pid;			/* 1 */
	char comm[64];			/* 2, without its parentheses; truncated */
	char state;			/* 3: R, S, D, T, t, Z, X, ... */
	pid_t ppid, pgrp, session;	/* 4-6 */
	int tty_nr;			/* 7 */
	pid_t tpgid;			/* 8 */
	unsigned flags;			/* 9: PF_* */
	uint64_t utime, stime;		/* 14-15, clock ticks */
	int64_t cutime, cstime;		/* 16-17 */
	long priority, nice;		/* 18-19 */
	long num_threads;		/* 20 */
	uint64_t starttime;		/* 22, ticks after boot; 0 if absent */
	int processor;			/* 39, last CPU it ran on; -1 if absent */
	unsigned nfields;		/* how many fields the line held */
};

/*
 * Parses one stat line. The comm is what lies between the first '(' and
 * the last ')' (the fields after it are numbers). Fields 1-19 must be
 * there and well formed; later ones are read when present (older kernels
 * print fewer, newer ones more). -EINVAL on anything else.
 */
int procstat_parse(const char *text, size_t len, struct procstat *out);

/*
 * The value of the "Key:" line of status text: *val points into text
 * after the blanks, *vlen runs to the end of the line. -ENOENT if absent.
 */
int procstat_status_field(const char *text, size_t len, const char *key,
			  const char **val, size_t *vlen);
/* Its first number, decimal ("Uid", "Tgid", "Threads"): -EINVAL if none. */
int procstat_status_u64(const char *text, size_t len, const char *key,
			uint64_t *out);
/* Its first number, hexadecimal ("SigBlk", "SigPnd", "CapEff"). */
int procstat_status_mask(const char *text, size_t len, const char *key,
			 uint64_t *out);

/*
 * A /proc/PID/task/TID/syscall line: "nr a1..a6 sp pc" in a call (0, the
 * call in *nr), "-1 sp pc" in user code (0, *nr -1). -EINVAL for
 * anything else, "running" included; then nothing is set.
 */
int procstat_syscall(const char *text, size_t len, long *nr, uint64_t args[6],
		     uint64_t *sp, uint64_t *pc);

/*
 * cmdline as ps prints it: NUL separators become spaces, truncated to
 * cap - 1 bytes, the rest of out zeroed (ELF's pr_psargs).
 */
void procstat_cmdline(const char *cmdline, size_t len, char *out, size_t cap);

#endif
