/*
 * reader/procstat.c: stat lines with hostile comms and cut short, status
 * keys, cmdline; and this process's own /proc/self/stat (under a hostile
 * name) checked field by field against sscanf from the last ')'.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "reader/procstat.h"

/* The parser gets an exact-size heap copy: ASan sees any read past len. */
static int parse(const char *text, size_t len, struct procstat *ps)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	rc = procstat_parse(copy, len, ps);
	free(copy);
	return rc;
}

/* Fields 3-44 of a 6.x kernel's line, after a comm of the caller's. */
static const char tail[] =
	" t 1 4240 4200 34817 4240 4194560 100 0 0 0 1234 56 3 -4 20 -3 5 0 "
	"999 1000 1 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 7 0 0 0 0 0\n";

static void test_procstat_parse_reads_every_field(void **state)
{
	char line[256];
	struct procstat ps;

	(void)state;
	snprintf(line, sizeof(line), "4242 (prog)%s", tail);
	assert_int_equal(parse(line, strlen(line), &ps), 0);
	assert_int_equal(ps.pid, 4242);
	assert_string_equal(ps.comm, "prog");
	assert_int_equal(ps.state, 't');
	assert_int_equal(ps.ppid, 1);
	assert_int_equal(ps.pgrp, 4240);
	assert_int_equal(ps.session, 4200);
	assert_int_equal(ps.tty_nr, 34817);
	assert_int_equal(ps.tpgid, 4240);
	assert_int_equal(ps.flags, 4194560);
	assert_int_equal(ps.utime, 1234);
	assert_int_equal(ps.stime, 56);
	assert_int_equal(ps.cutime, 3);
	assert_int_equal(ps.cstime, -4);
	assert_int_equal(ps.priority, 20);
	assert_int_equal(ps.nice, -3);
	assert_int_equal(ps.num_threads, 5);
	assert_int_equal(ps.starttime, 999);
	assert_int_equal(ps.processor, 7);
	assert_int_equal(ps.nfields, 44);
}

/* Whatever the name holds, the fields are those after the last ')'. */
static void test_procstat_parse_takes_the_comm_to_the_last_paren(void **state)
{
	static const char *const comms[] = {
		"a) (b c)", ") R 1 2 3 4", "x\ny", "((", "))", "9 (9) 9", "",
		") S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
	};
	char line[512];
	struct procstat ps;

	(void)state;
	for (size_t i = 0; i < sizeof(comms) / sizeof(comms[0]); i++) {
		snprintf(line, sizeof(line), "77 (%s)%s", comms[i], tail);
		if (parse(line, strlen(line), &ps) != 0)
			fail_msg("comm %zu refused", i);
		assert_string_equal(ps.comm, comms[i]);
		assert_int_equal(ps.pid, 77);
		assert_int_equal(ps.state, 't');
		assert_int_equal(ps.processor, 7);
	}
}

static void test_procstat_parse_truncates_a_long_comm(void **state)
{
	char line[512], comm[200];
	struct procstat ps;

	(void)state;
	memset(comm, 'k', sizeof(comm) - 1);
	comm[sizeof(comm) - 1] = '\0';
	snprintf(line, sizeof(line), "2 (%s)%s", comm, tail);
	assert_int_equal(parse(line, strlen(line), &ps), 0);
	assert_int_equal(strlen(ps.comm), sizeof(ps.comm) - 1);
	assert_int_equal(ps.nice, -3);
}

/* Older kernels print fewer fields: 19 are needed, the rest optional. */
static void test_procstat_parse_accepts_a_short_old_line(void **state)
{
	static const char line[] = "5 (old) S 1 5 5 0 -1 0 0 0 0 0 7 8 0 0 20 0";
	struct procstat ps;

	(void)state;
	assert_int_equal(parse(line, strlen(line), &ps), 0);
	assert_int_equal(ps.nfields, 19);
	assert_int_equal(ps.utime, 7);
	assert_int_equal(ps.tty_nr, 0);
	assert_int_equal(ps.tpgid, -1);
	assert_int_equal(ps.processor, -1);
	assert_int_equal(ps.starttime, 0);
}

static void test_procstat_parse_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"", "4242", "4242 (x", "4242 x) S 1", "(x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"4242 (x) S 1 2 3", "4242 (x)S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"4242 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 99999999999999999999",
		"4242 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -9223372036854775809",
		"-1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"0 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"4294967297 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"42  (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"42 (x) 7 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16x",
		"42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16  17",
		"42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\n",
		"42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -",
	};
	struct procstat ps;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], strlen(bad[i]), &ps) != -EINVAL)
			fail_msg("case %zu accepted", i);
}

/*
 * A line cut anywhere before its 19th field is refused; cut after it,
 * on a field boundary, it is a shorter line. A cut inside a number is
 * a smaller number: the text itself cannot tell.
 */
static void test_procstat_parse_refuses_a_line_cut_short(void **state)
{
	char line[512];
	struct procstat ps;
	size_t len, need;

	(void)state;
	snprintf(line, sizeof(line), "31 (a) b) c)%s", tail);
	len = strlen(line);
	need = (size_t)(strstr(line, " -3 ") + 3 - line);	/* through field 19 */
	for (size_t cut = 0; cut < len; cut++) {
		int rc = parse(line, cut, &ps);

		if (cut < need && rc != -EINVAL)
			fail_msg("cut at %zu accepted", cut);
		if (rc == 0 && strcmp(ps.comm, "a) b) c") != 0)
			fail_msg("cut at %zu: comm %s", cut, ps.comm);
	}
}

/* Our own line, under a name built to mislead, against sscanf. */
static void test_procstat_parse_matches_proc_self_stat(void **state)
{
	static const char hostile[] = ") R 1 2\n(x) ";
	char old[17] = "", buf[4096], comm[64];
	struct procstat ps;
	const char *close;
	FILE *f;
	size_t len;
	int ppid, pgrp, session, tty, tpgid, processor;
	unsigned flags;
	unsigned long long utime, stime, start;
	long long cutime, cstime, prio, nice, nthreads;
	char st;

	(void)state;
	assert_int_equal(prctl(PR_GET_NAME, old), 0);
	assert_int_equal(prctl(PR_SET_NAME, hostile), 0);
	f = fopen("/proc/self/stat", "r");
	assert_non_null(f);
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	prctl(PR_SET_NAME, old);
	buf[len] = '\0';

	assert_int_equal(parse(buf, len, &ps), 0);
	assert_int_equal(ps.pid, getpid());
	assert_string_equal(ps.comm, hostile);
	close = strrchr(buf, ')');
	assert_non_null(close);
	snprintf(comm, sizeof(comm), "%.*s", (int)(close - strchr(buf, '(') - 1),
		 strchr(buf, '(') + 1);
	assert_string_equal(ps.comm, comm);
	assert_int_equal(sscanf(close + 1,
				" %c %d %d %d %d %d %u %*s %*s %*s %*s %llu %llu %lld %lld"
				" %lld %lld %lld %*s %llu %*s %*s %*s %*s %*s %*s %*s %*s"
				" %*s %*s %*s %*s %*s %*s %*s %*s %d",
				&st, &ppid, &pgrp, &session, &tty, &tpgid, &flags, &utime,
				&stime, &cutime, &cstime, &prio, &nice, &nthreads, &start,
				&processor), 16);
	assert_int_equal(ps.state, st);
	assert_int_equal(ps.state, 'R');
	assert_int_equal(ps.ppid, ppid);
	assert_int_equal(ps.ppid, getppid());
	assert_int_equal(ps.pgrp, pgrp);
	assert_int_equal(ps.pgrp, getpgrp());
	assert_int_equal(ps.session, session);
	assert_int_equal(ps.session, getsid(0));
	assert_int_equal(ps.tty_nr, tty);
	assert_int_equal(ps.tpgid, tpgid);
	assert_int_equal(ps.flags, flags);
	assert_int_equal(ps.utime, utime);
	assert_int_equal(ps.stime, stime);
	assert_int_equal(ps.cutime, cutime);
	assert_int_equal(ps.cstime, cstime);
	assert_int_equal(ps.priority, prio);
	assert_int_equal(ps.nice, nice);
	assert_int_equal(ps.num_threads, nthreads);
	assert_int_equal(ps.starttime, start);
	assert_int_equal(ps.processor, processor);
	assert_true(ps.nfields >= 44);
}

static void test_procstat_status_finds_keys_at_line_starts(void **state)
{
	static const char status[] =
		"Name:\tUid:\t7\nUmask:\t0022\nUid:\t1000\t1001\t1002\t1003\n"
		"SigQ:\t0/63\nSigBlk:\t0000000000014002\nTracerPid:  \t 0\nGid:";
	const char *v;
	size_t n, len = sizeof(status) - 1;
	uint64_t x;

	(void)state;
	assert_int_equal(procstat_status_u64(status, len, "Uid", &x), 0);
	assert_int_equal(x, 1000);
	assert_int_equal(procstat_status_mask(status, len, "SigBlk", &x), 0);
	assert_int_equal(x, 0x14002);
	assert_int_equal(procstat_status_u64(status, len, "TracerPid", &x), 0);
	assert_int_equal(x, 0);
	assert_int_equal(procstat_status_field(status, len, "Uid", &v, &n), 0);
	assert_memory_equal(v, "1000\t1001\t1002\t1003", n);
	assert_int_equal(n, strlen("1000\t1001\t1002\t1003"));
	/* a prefix of a key is not the key; nor is a value that looks like one */
	assert_int_equal(procstat_status_field(status, len, "Sig", &v, &n), -ENOENT);
	assert_int_equal(procstat_status_field(status, len, "Ui", &v, &n), -ENOENT);
	assert_int_equal(procstat_status_u64(status, len, "SigPnd", &x), -ENOENT);
	/* present, not a number */
	assert_int_equal(procstat_status_u64(status, len, "Name", &x), -EINVAL);
	assert_int_equal(procstat_status_u64(status, len, "Gid", &x), -EINVAL);
	/* the last line has no newline; the text stops at len */
	assert_int_equal(procstat_status_field(status, len, "Gid", &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(procstat_status_field(status, 4, "Name", &v, &n), -ENOENT);
	assert_int_equal(procstat_status_field(status, 0, "Name", &v, &n), -ENOENT);
	assert_int_equal(procstat_status_mask("SigBlk:\t1ffffffffffffffff\n", 27, "SigBlk", &x),
			 -EINVAL);
}

static void test_procstat_cmdline_joins_and_truncates(void **state)
{
	static const char argv[] = "/bin/prog\0-a\0b c\0";
	char long_argv[200], ps[80], small[4];

	(void)state;
	procstat_cmdline(argv, sizeof(argv) - 1, ps, sizeof(ps));
	assert_string_equal(ps, "/bin/prog -a b c");
	memset(long_argv, 'x', sizeof(long_argv));
	procstat_cmdline(long_argv, sizeof(long_argv), ps, sizeof(ps));
	assert_int_equal(strlen(ps), 79);
	procstat_cmdline("", 0, ps, sizeof(ps));
	assert_string_equal(ps, "");
	procstat_cmdline(argv, sizeof(argv) - 1, small, sizeof(small));
	assert_string_equal(small, "/bi");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_procstat_parse_reads_every_field),
		cmocka_unit_test(test_procstat_parse_takes_the_comm_to_the_last_paren),
		cmocka_unit_test(test_procstat_parse_truncates_a_long_comm),
		cmocka_unit_test(test_procstat_parse_accepts_a_short_old_line),
		cmocka_unit_test(test_procstat_parse_rejects_malformed),
		cmocka_unit_test(test_procstat_parse_refuses_a_line_cut_short),
		cmocka_unit_test(test_procstat_parse_matches_proc_self_stat),
		cmocka_unit_test(test_procstat_status_finds_keys_at_line_starts),
		cmocka_unit_test(test_procstat_cmdline_joins_and_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
