/*
 * reader/maps: the /proc/PID/maps parser on fixtures and on this process's
 * own maps, and the address queries `mem` is built on.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reader/maps.h"

/*
 * A process as a 6.x kernel prints it: padding to column 73, a path with
 * spaces, a deleted file, a memfd, unnamed and named anonymous memory, a
 * ---p guard page between two thread stacks, a file right below [vvar],
 * adjacent data mappings and the special [names].
 */
static const char fixture[] =
	"555555554000-555555556000 r--p 00000000 fd:01 1311297                    /usr/bin/my prog\n"
	"555555556000-555555558000 r-xp 00002000 fd:01 1311297                    /usr/bin/my prog\n"
	"555555558000-555555559000 rw-p 00004000 fd:01 1311297                    /usr/bin/my prog\n"
	"555555559000-55555557a000 rw-p 00000000 00:00 0                          [heap]\n"
	"7ffff7800000-7ffff7a00000 rw-p 00000000 00:00 0 \n"
	"7ffff7a00000-7ffff7a01000 ---p 00000000 00:00 0 \n"
	"7ffff7a01000-7ffff7c01000 rw-p 00000000 00:00 0\n"
	"7ffff7c01000-7ffff7c02000 rw-s 00000000 00:01 2055                       /memfd:foo (deleted)\n"
	"7ffff7c02000-7ffff7c03000 r--p 00000000 00:1f 99                         /tmp/gone (deleted)\n"
	"7ffff7c03000-7ffff7c04000 rw-p 00000000 00:00 0                          [anon:my arena]\n"
	"7ffff7fb0000-7ffff7fc1000 r--p 00000000 fd:01 320475                     /usr/lib/locale/C.utf8/LC_CTYPE\n"
	"7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0                          [vvar]\n"
	"7ffff7fc5000-7ffff7fc7000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

enum {
	F_EXE_R, F_EXE_X, F_EXE_W, F_HEAP, F_PREV, F_GUARD, F_ANON, F_MEMFD,
	F_GONE, F_NAMED, F_LOCALE, F_VVAR, F_VDSO, F_STACK, F_VSYSCALL, F_COUNT
};

static int setup_fixture(void **state)
{
	struct maps *m = calloc(1, sizeof(*m));

	if (!m || maps_parse(fixture, strlen(fixture), m) != 0)
		return -1;
	*state = m;
	return 0;
}

static int teardown_fixture(void **state)
{
	maps_free(*state);
	free(*state);
	return 0;
}

/* Parses s expecting -EINVAL, and checks nothing was left behind. */
static void assert_rejected(const char *s)
{
	struct maps m = { (void *)1, 42 };

	if (maps_parse(s, strlen(s), &m) != -EINVAL)
		fail_msg("accepted: \"%s\"", s);
	assert_null(m.v);
	assert_int_equal(m.n, 0);
}

static void test_maps_parse_empty_gives_no_entries(void **state)
{
	struct maps m = { (void *)1, 42 };

	(void)state;
	assert_int_equal(maps_parse(NULL, 0, &m), 0);
	assert_null(m.v);
	assert_int_equal(m.n, 0);
	assert_int_equal(maps_parse("x", 0, &m), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(maps_lower_bound(&m, 0), 0);
	assert_null(maps_find(&m, 0x1000));
	assert_int_equal(maps_data_span(&m, 0x1000, 10), 0);
	maps_free(&m);
}

static void test_maps_parse_reads_every_field(void **state)
{
	const struct maps *m = *state;
	const struct map_entry *e = &m->v[F_EXE_X];

	assert_int_equal(m->n, F_COUNT);
	assert_int_equal(e->start, 0x555555556000);
	assert_int_equal(e->end, 0x555555558000);
	assert_int_equal(e->perms, PERM_R | PERM_X);
	assert_int_equal(e->offset, 0x2000);
	assert_int_equal(e->dev_major, 0xfd);
	assert_int_equal(e->dev_minor, 0x01);
	assert_int_equal(e->inode, 1311297);
	assert_string_equal(e->path, "/usr/bin/my prog");
	assert_int_equal(m->v[F_EXE_W].perms, PERM_R | PERM_W);
	assert_int_equal(m->v[F_GUARD].perms, 0);
	assert_int_equal(m->v[F_MEMFD].perms, PERM_R | PERM_W | PERM_SHARED);
	assert_int_equal(m->v[F_MEMFD].inode, 2055);
	assert_int_equal(m->v[F_GONE].dev_minor, 0x1f);
}

static void test_maps_parse_keeps_paths_verbatim(void **state)
{
	const struct maps *m = *state;

	assert_string_equal(m->v[F_EXE_R].path, "/usr/bin/my prog");
	assert_string_equal(m->v[F_MEMFD].path, "/memfd:foo (deleted)");
	assert_string_equal(m->v[F_GONE].path, "/tmp/gone (deleted)");
	assert_string_equal(m->v[F_NAMED].path, "[anon:my arena]");
	assert_string_equal(m->v[F_HEAP].path, "[heap]");
	assert_string_equal(m->v[F_VVAR].path, "[vvar]");
	assert_string_equal(m->v[F_VDSO].path, "[vdso]");
	assert_string_equal(m->v[F_STACK].path, "[stack]");
	assert_string_equal(m->v[F_VSYSCALL].path, "[vsyscall]");
	assert_int_equal(m->v[F_VSYSCALL].start, 0xffffffffff600000);
	assert_int_equal(m->v[F_VSYSCALL].end, 0xffffffffff601000);
}

/* Old kernels print "0 " and new ones "0" when there is no path. */
static void test_maps_parse_no_path_is_empty(void **state)
{
	const struct maps *m = *state;

	assert_string_equal(m->v[F_GUARD].path, "");
	assert_string_equal(m->v[F_ANON].path, "");
}

/* Trailing spaces belong to the file name; only the padding is dropped. */
static void test_maps_parse_keeps_trailing_spaces_of_path(void **state)
{
	static const char s[] = "1000-2000 r--p 00000000 08:02 7    /tmp/a  \n";
	struct maps m;

	(void)state;
	assert_int_equal(maps_parse(s, strlen(s), &m), 0);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.v[0].path, "/tmp/a  ");
	maps_free(&m);
}

/* The parser must not read past len: the byte after is a poisoned '\n'. */
static void test_maps_parse_stops_at_len(void **state)
{
	static const char s[] = "1000-2000 r--p 0 0:0 0 /a\n3000-4000 r--p 0 0:0 0 /bc\n";
	size_t cut = strlen(s) - 2;	/* "...0 /b", unterminated */
	char *buf = malloc(cut);
	struct maps m;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, s, cut);		/* ASan catches a read of buf[cut] */
	assert_int_equal(maps_parse(buf, cut, &m), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.v[1].path, "/b");
	maps_free(&m);
	free(buf);
}

static void test_maps_parse_rejects_malformed_lines(void **state)
{
	static const char *const bad[] = {
		"\n",
		" 1000-2000 r--p 0 0:0 0\n",		/* leading space */
		"1000 2000 r--p 0 0:0 0\n",		/* no '-' */
		"1000-2000 r--p 0 0:0\n",		/* no inode */
		"1000-2000\n",
		"1000-",
		"-2000 r--p 0 0:0 0\n",
		"1000-2000 r--x 0 0:0 0\n",		/* last perm not p/s */
		"1000-2000 w--p 0 0:0 0\n",		/* letter in wrong column */
		"1000-2000 r-p 0 0:0 0\n",		/* three perms */
		"1000-2000 r--pp 0 0:0 0\n",
		"1000-2000  r--p 0 0:0 0\n",		/* double separator */
		"1000-2000\tr--p 0 0:0 0\n",
		"1000-2000 r--p 0 00 0\n",		/* no ':' in dev */
		"1000-2000 r--p 0 100000000:0 0\n",	/* major > 32 bits */
		"1000-2000 r--p 0 0:100000000 0\n",
		"1000-2000 r--p g 0:0 0\n",
		"1000-2000 r--p 0 0:0 1a\n",		/* hex inode */
		"1000-2000 r--p 0 0:0 18446744073709551616\n",	/* 2^64 */
		"10000000000000000-10000000000000001 r--p 0 0:0 0\n",
		"1000-2000 r--p 0 0:0 0\tx\n",		/* tab is not padding */
		"1000-2000 r--p 0 0:0 0 /a\n\n",	/* blank line */
		"1000-2000 r--p 0 0:0 0 /a\n3000-4000 r--p 0 0:0 0 bad\n5000",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_rejected(bad[i]);
}

/* A NUL would truncate the path; strlen-based fixtures cannot hold one. */
static void test_maps_parse_rejects_nul_in_path(void **state)
{
	static const char s[] = "1000-2000 r--p 0 0:0 0 /a\0b\n";
	struct maps m;

	(void)state;
	assert_int_equal(maps_parse(s, sizeof(s) - 1, &m), -EINVAL);
	assert_int_equal(maps_parse(s, 4, &m), -EINVAL);	/* cut mid-field */
}

static void test_maps_parse_rejects_non_ascending(void **state)
{
	static const char *const bad[] = {
		"2000-2000 r--p 0 0:0 0\n",			/* empty */
		"3000-2000 r--p 0 0:0 0\n",			/* inverted */
		"3000-4000 r--p 0 0:0 0\n1000-2000 r--p 0 0:0 0\n",
		"1000-3000 r--p 0 0:0 0\n2000-4000 r--p 0 0:0 0\n", /* overlap */
		"1000-2000 r--p 0 0:0 0\n1000-2000 r--p 0 0:0 0\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_rejected(bad[i]);
}

static void test_maps_parse_accepts_max_values(void **state)
{
	static const char s[] =
		"0-ffffffffffffffff rwxs ffffffffffffffff ffffffff:ffffffff 18446744073709551615";
	struct maps m;

	(void)state;
	assert_int_equal(maps_parse(s, strlen(s), &m), 0);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.v[0].end, UINT64_MAX);
	assert_int_equal(m.v[0].offset, UINT64_MAX);
	assert_int_equal(m.v[0].dev_major, UINT32_MAX);
	assert_int_equal(m.v[0].dev_minor, UINT32_MAX);
	assert_int_equal(m.v[0].inode, UINT64_MAX);
	assert_int_equal(m.v[0].perms, PERM_R | PERM_W | PERM_X | PERM_SHARED);
	assert_string_equal(m.v[0].path, "");
	maps_free(&m);
}

/* Many lines: the string pool is moved after parsing, paths must follow. */
static void test_maps_parse_handles_many_lines(void **state)
{
	size_t n = 20000, cap = n * 64, len = 0;
	char *buf = malloc(cap);
	struct maps m;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len,
				"%zx-%zx r--p 0 0:0 %zu /lib/%zu.so\n",
				(2 * i + 1) << 12, (2 * i + 2) << 12, i, i);
	assert_int_equal(maps_parse(buf, len, &m), 0);
	free(buf);
	assert_int_equal(m.n, n);
	for (size_t i = 0; i < n; i++) {
		char want[32];

		snprintf(want, sizeof(want), "/lib/%zu.so", i);
		assert_string_equal(m.v[i].path, want);
		assert_ptr_equal(maps_find(&m, ((2 * i + 1) << 12) + 5), &m.v[i]);
		assert_null(maps_find(&m, (2 * i) << 12));
	}
	maps_free(&m);
}

/* The whole file, NUL terminated. */
static char *read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY);
	ssize_t r;

	assert_non_null(buf);
	assert_true(fd >= 0);
	while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (n == cap - 1) {	/* keep a byte for the NUL */
			buf = realloc(buf, cap *= 2);
			assert_non_null(buf);
		}
	}
	assert_int_equal(r, 0);
	close(fd);
	buf[n] = '\0';	/* for strtok_r; maps_parse only sees len */
	*len = n;
	return buf;
}

/* Our own maps, cross-checked line by line against sscanf. */
static void test_maps_parse_matches_proc_self_maps(void **state)
{
	size_t len, i = 0;
	char *buf = read_file("/proc/self/maps", &len);
	char *line, *save = NULL;
	struct maps m;

	(void)state;
	assert_int_equal(maps_parse(buf, len, &m), 0);
	assert_true(m.n > 5);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), i++) {
		uint64_t start, end, off, ino;
		unsigned maj, min;
		char perms[5];
		int pos = -1;

		assert_true(i < m.n);
		assert_int_equal(sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64
					" %x:%x %" SCNu64 " %n", &start, &end,
					perms, &off, &maj, &min, &ino, &pos), 7);
		assert_true(pos > 0);
		assert_int_equal(m.v[i].start, start);
		assert_int_equal(m.v[i].end, end);
		assert_int_equal(m.v[i].offset, off);
		assert_int_equal(m.v[i].dev_major, maj);
		assert_int_equal(m.v[i].dev_minor, min);
		assert_int_equal(m.v[i].inode, ino);
		assert_int_equal(!!(m.v[i].perms & PERM_R), perms[0] == 'r');
		assert_int_equal(!!(m.v[i].perms & PERM_SHARED), perms[3] == 's');
		assert_string_equal(m.v[i].path, line + pos);
	}
	assert_int_equal(i, m.n);
	/* Something we know is there: the stack this function runs on. */
	assert_non_null(maps_find(&m, (uintptr_t)&len));
	assert_string_equal(maps_find(&m, (uintptr_t)&len)->path, "[stack]");
	free(buf);
	maps_free(&m);
}

static void test_maps_anon_covers_unnamed_heap_stack_and_named(void **state)
{
	const struct maps *m = *state;

	assert_true(map_is_anon(&m->v[F_HEAP]));
	assert_true(map_is_anon(&m->v[F_GUARD]));
	assert_true(map_is_anon(&m->v[F_PREV]));
	assert_true(map_is_anon(&m->v[F_ANON]));
	assert_true(map_is_anon(&m->v[F_NAMED]));
	assert_true(map_is_anon(&m->v[F_STACK]));
	assert_false(map_is_anon(&m->v[F_EXE_R]));
	assert_false(map_is_anon(&m->v[F_MEMFD]));
	assert_false(map_is_anon(&m->v[F_GONE]));
	assert_false(map_is_anon(&m->v[F_LOCALE]));
	assert_false(map_is_anon(&m->v[F_VDSO]));
	assert_false(map_is_anon(&m->v[F_VVAR]));
}

static void test_maps_data_excludes_unreadable_and_special(void **state)
{
	const struct maps *m = *state;
	struct map_entry vclock = m->v[F_VVAR];

	vclock.path = "[vvar_vclock]";
	assert_true(map_is_data(&m->v[F_EXE_R]));
	assert_true(map_is_data(&m->v[F_MEMFD]));
	assert_true(map_is_data(&m->v[F_VDSO]));
	assert_true(map_is_data(&m->v[F_STACK]));
	assert_false(map_is_data(&m->v[F_GUARD]));
	assert_false(map_is_data(&m->v[F_VVAR]));
	assert_false(map_is_data(&vclock));
	assert_false(map_is_data(&m->v[F_VSYSCALL]));
}

static void test_maps_lower_bound_at_boundaries(void **state)
{
	const struct maps *m = *state;

	assert_int_equal(maps_lower_bound(m, 0), 0);
	assert_int_equal(maps_lower_bound(m, 0x555555554000), 0);
	assert_int_equal(maps_lower_bound(m, 0x555555555fff), 0);
	assert_int_equal(maps_lower_bound(m, 0x555555556000), 1);
	assert_int_equal(maps_lower_bound(m, 0x55555557a000), F_PREV); /* gap */
	assert_int_equal(maps_lower_bound(m, 0xffffffffff600fff), F_VSYSCALL);
	assert_int_equal(maps_lower_bound(m, 0xffffffffff601000), F_COUNT);
	assert_int_equal(maps_lower_bound(m, UINT64_MAX), F_COUNT);
}

static void test_maps_find_at_boundaries(void **state)
{
	const struct maps *m = *state;

	assert_null(maps_find(m, 0));
	assert_null(maps_find(m, 0x555555553fff));
	assert_ptr_equal(maps_find(m, 0x555555554000), &m->v[F_EXE_R]);
	assert_ptr_equal(maps_find(m, 0x555555555fff), &m->v[F_EXE_R]);
	assert_ptr_equal(maps_find(m, 0x555555556000), &m->v[F_EXE_X]);
	assert_null(maps_find(m, 0x55555557a000));		/* after [heap] */
	assert_ptr_equal(maps_find(m, 0x7ffff7a00000), &m->v[F_GUARD]);
	assert_ptr_equal(maps_find(m, 0xffffffffff600000), &m->v[F_VSYSCALL]);
	assert_null(maps_find(m, 0xffffffffff601000));
	assert_null(maps_find(m, UINT64_MAX));
}

/* The executable's three mappings and [heap] are back to back: one run. */
static void test_maps_data_span_crosses_adjacent_mappings(void **state)
{
	const struct maps *m = *state;
	uint64_t run_end = 0x55555557a000;

	assert_int_equal(maps_data_span(m, 0x555555554000, 0x10), 0x10);
	assert_int_equal(maps_data_span(m, 0x555555555ff0, 0x20), 0x20);
	assert_int_equal(maps_data_span(m, 0x555555554000, UINT64_MAX >> 1),
			 run_end - 0x555555554000);
	assert_int_equal(maps_data_span(m, run_end - 1, 100), 1);
	/* memfd, deleted file and named anon are adjacent too. */
	assert_int_equal(maps_data_span(m, 0x7ffff7a01000, 0x10000000),
			 0x7ffff7c04000 - 0x7ffff7a01000);
}

static void test_maps_data_span_stops_at_gap_and_unreadable(void **state)
{
	const struct maps *m = *state;

	/* [vdso] ends at 7ffff7fc7000; [stack] starts much later. */
	assert_int_equal(maps_data_span(m, 0x7ffff7fc6000, 0x100000), 0x1000);
	/* [anon:my arena] ends at 7ffff7c04000, then a hole before LC_CTYPE. */
	assert_int_equal(maps_data_span(m, 0x7ffff7c03800, 0x10000), 0x800);
	/* Readable [vvar] right after LC_CTYPE is still not data. */
	assert_int_equal(maps_data_span(m, 0x7ffff7fc0000, 0x10000), 0x1000);
	/* A ---p guard page sits right between two anonymous runs. */
	assert_int_equal(maps_data_span(m, 0x7ffff79ff000, 0x10000), 0x1000);
	assert_int_equal(maps_data_span(m, 0x7ffff7a00000, 0x10000), 0);
	assert_int_equal(maps_data_span(m, 0x7ffff7a00fff, 2), 0);
	assert_int_equal(maps_data_span(m, 0x7ffff7a01000, 1), 1);
}

static void test_maps_data_span_zero_outside_data(void **state)
{
	const struct maps *m = *state;

	assert_int_equal(maps_data_span(m, 0, 0x1000), 0);
	assert_int_equal(maps_data_span(m, 0x55555557a000, 0x1000), 0);
	assert_int_equal(maps_data_span(m, 0x7ffff7fc1000, 0x1000), 0);	/* [vvar] */
	assert_int_equal(maps_data_span(m, 0xffffffffff600000, 0x1000), 0);
	assert_int_equal(maps_data_span(m, 0x555555554000, 0), 0);
}

/* len past the top of the address space must not wrap addr + len. */
static void test_maps_data_span_survives_wraparound(void **state)
{
	static const char s[] =
		"1000-2000 r--p 0 0:0 0\n"
		"fffffffffffff000-ffffffffffffffff r--p 0 0:0 0\n";
	struct maps m;

	(void)state;
	assert_int_equal(maps_parse(s, strlen(s), &m), 0);
	assert_int_equal(maps_data_span(&m, 0x1800, UINT64_MAX), 0x800);
	assert_int_equal(maps_data_span(&m, 0xfffffffffffff800, UINT64_MAX), 0x7ff);
	assert_int_equal(maps_data_span(&m, 0xfffffffffffffffe, 2), 1);
	assert_int_equal(maps_data_span(&m, UINT64_MAX, 1), 0);
	maps_free(&m);
}

static void test_maps_free_resets_and_is_idempotent(void **state)
{
	struct maps m;

	(void)state;
	assert_int_equal(maps_parse(fixture, strlen(fixture), &m), 0);
	maps_free(&m);
	assert_null(m.v);
	assert_int_equal(m.n, 0);
	maps_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_parse_empty_gives_no_entries),
		cmocka_unit_test(test_maps_parse_keeps_trailing_spaces_of_path),
		cmocka_unit_test(test_maps_parse_stops_at_len),
		cmocka_unit_test(test_maps_parse_rejects_malformed_lines),
		cmocka_unit_test(test_maps_parse_rejects_nul_in_path),
		cmocka_unit_test(test_maps_parse_rejects_non_ascending),
		cmocka_unit_test(test_maps_parse_accepts_max_values),
		cmocka_unit_test(test_maps_parse_handles_many_lines),
		cmocka_unit_test(test_maps_parse_matches_proc_self_maps),
		cmocka_unit_test(test_maps_data_span_survives_wraparound),
		cmocka_unit_test(test_maps_free_resets_and_is_idempotent),
	};
	const struct CMUnitTest fixture_tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_fixture, teardown_fixture)
		T(test_maps_parse_reads_every_field),
		T(test_maps_parse_keeps_paths_verbatim),
		T(test_maps_parse_no_path_is_empty),
		T(test_maps_anon_covers_unnamed_heap_stack_and_named),
		T(test_maps_data_excludes_unreadable_and_special),
		T(test_maps_lower_bound_at_boundaries),
		T(test_maps_find_at_boundaries),
		T(test_maps_data_span_crosses_adjacent_mappings),
		T(test_maps_data_span_stops_at_gap_and_unreadable),
		T(test_maps_data_span_zero_outside_data),
#undef T
	};
	int failed = cmocka_run_group_tests_name("maps", tests, NULL, NULL);

	return failed | cmocka_run_group_tests_name("maps_fixture", fixture_tests,
						    NULL, NULL);
}
