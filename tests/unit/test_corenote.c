/*
 * reader/corenote: the bounded note iterator and the PTRACEFS notes. A
 * hand-made set is written and parsed back in both byte orders; then
 * hand-framed segments: the kernel's own kinds of notes, the last
 * padding missing, and hostile ones (sizes past the end or near 2^32, a
 * header cut short, an owner without its NUL, repeated or short notes).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reader/bytes.h"
#include "reader/corenote.h"

static const char maps[] = "00400000-00401000 r--p 00000000 08:01 42 /bin/prog\n";
static const char status[] = "Name:\tprog\nState:\tS (sleeping)\n";
static const char cmdline[] = "/bin/prog\0-x\0";	/* NULs inside, as /proc has it */
static const char stat1[] = "100 (a) b) c) S 99 98 97 0 -1 4194560\n";
static const char sys1[] = "230 0x0 0x0 0x7ffd 0x0 0x0 0x0 0x7ffd0 0x7f01\n";
static const char stat2[] = "105 (worker) R 99 98 97\n";
static const char sys2[] = "-1 0x7f00 0x401000\n";

static void fill(struct corenote_set *s, struct corenote_thread t[2])
{
	memset(s, 0, sizeof(*s));
	s->pid = 100;
	s->producer = (struct corenote_text){ "ptracefs test", 13 };
	s->maps = (struct corenote_text){ maps, sizeof(maps) - 1 };
	s->status = (struct corenote_text){ status, sizeof(status) - 1 };
	s->cmdline = (struct corenote_text){ cmdline, sizeof(cmdline) - 1 };
	/* environ: present but empty (a target that cleared it) */
	s->environ = (struct corenote_text){ "", 0 };
	t[0] = (struct corenote_thread){ 100, { stat1, sizeof(stat1) - 1 },
					 { sys1, sizeof(sys1) - 1 } };
	t[1] = (struct corenote_thread){ 105, { stat2, sizeof(stat2) - 1 },
					 { sys2, sizeof(sys2) - 1 } };
	s->threads = t;
	s->nthreads = 2;
}

static void assert_text(struct corenote_text got, const char *want, size_t len)
{
	assert_non_null(got.p);
	assert_int_equal(got.len, len);
	assert_memory_equal(got.p, want, len);
}

static void round_trip(bool msb)
{
	struct corenote_thread t[2];
	struct corenote_set in, out;
	unsigned char *seg;
	size_t len;

	fill(&in, t);
	assert_int_equal(corenote_build(&in, msb, &seg, &len), 0);
	assert_int_equal(len % 4, 0);
	/* The header is in the requested byte order: namesz 9 */
	assert_int_equal(get_n(seg, 4, msb), 9);
	assert_int_equal(corenote_parse(seg, len, msb, &out), 0);
	assert_int_equal(out.format, CORENOTE_FORMAT);
	assert_int_equal(out.pid, 100);
	assert_text(out.producer, "ptracefs test", 13);
	assert_text(out.maps, maps, sizeof(maps) - 1);
	assert_text(out.status, status, sizeof(status) - 1);
	assert_text(out.cmdline, cmdline, sizeof(cmdline) - 1);
	assert_text(out.environ, "", 0);
	assert_int_equal(out.nthreads, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(out.threads[i].tid, t[i].tid);
		assert_text(out.threads[i].stat, t[i].stat.p, t[i].stat.len);
		assert_text(out.threads[i].syscall, t[i].syscall.p, t[i].syscall.len);
	}
	corenote_free(&out);
	/* The other byte order misreads the sizes: refused, not misparsed. */
	assert_int_equal(corenote_parse(seg, len, !msb, &out), -EINVAL);
	free(seg);
}

static void test_corenote_round_trip_lsb(void **state)
{
	(void)state;
	round_trip(false);
}

static void test_corenote_round_trip_msb(void **state)
{
	(void)state;
	round_trip(true);
}

static void test_corenote_absent_file_has_no_note(void **state)
{
	struct corenote_thread t[2];
	struct corenote_set in, out;
	unsigned char *seg;
	size_t len;

	(void)state;
	fill(&in, t);
	in.status.p = NULL;
	in.nthreads = 0;
	assert_int_equal(corenote_build(&in, false, &seg, &len), 0);
	assert_int_equal(corenote_parse(seg, len, false, &out), 0);
	assert_null(out.status.p);
	assert_non_null(out.environ.p);
	assert_int_equal(out.nthreads, 0);
	assert_null(out.threads);
	corenote_free(&out);
	free(seg);
}

/* Appends one little-endian note with raw sizes; returns the new length. */
static size_t put_note(unsigned char *buf, size_t at, uint32_t namesz, const void *name,
		       size_t name_bytes, uint32_t descsz, uint32_t type,
		       const void *desc, size_t desc_bytes)
{
	put_n(buf + at, 4, false, namesz);
	put_n(buf + at + 4, 4, false, descsz);
	put_n(buf + at + 8, 4, false, type);
	at += 12;
	memcpy(buf + at, name, name_bytes);
	at += (name_bytes + 3) & ~(size_t)3;
	if (desc_bytes)
		memcpy(buf + at, desc, desc_bytes);
	return at + ((desc_bytes + 3) & ~(size_t)3);
}

static size_t version_note(unsigned char *buf, size_t at, uint32_t format, uint32_t descsz)
{
	unsigned char d[16] = { 0 };

	put_n(d, 4, false, format);
	put_n(d + 4, 4, false, 77);
	return put_note(buf, at, 9, "PTRACEFS", 9, descsz, CORENOTE_VERSION, d, descsz);
}

static void test_corenote_iterates_kernel_notes(void **state)
{
	unsigned char buf[256] = { 0 }, desc[5] = { 1, 2, 3, 4, 5 };
	struct elfnote_iter it;
	struct elfnote n;
	size_t len = 0;

	(void)state;
	len = put_note(buf, len, 5, "CORE", 5, 5, 1, desc, 5);
	len = put_note(buf, len, 6, "LINUX", 6, 0, 0x202, NULL, 0);
	len = put_note(buf, len, 0, "", 0, 1, 7, desc, 1);
	/* the last descriptor's padding left out */
	len = put_note(buf, len, 4, "GNU", 4, 3, 3, desc, 3) - 1;
	elfnote_iter_init(&it, buf, len, false);
	assert_int_equal(elfnote_next(&it, &n), 1);
	assert_true(elfnote_owner_is(&n, "CORE"));
	assert_false(elfnote_owner_is(&n, "COR"));
	assert_int_equal(n.type, 1);
	assert_int_equal(n.descsz, 5);
	assert_memory_equal(n.desc, desc, 5);
	assert_int_equal(elfnote_next(&it, &n), 1);
	assert_true(elfnote_owner_is(&n, "LINUX"));
	assert_int_equal(n.descsz, 0);
	assert_int_equal(elfnote_next(&it, &n), 1);
	assert_int_equal(n.namesz, 0);
	assert_false(elfnote_owner_is(&n, ""));	/* no room for the NUL */
	assert_int_equal(n.type, 7);
	assert_int_equal(elfnote_next(&it, &n), 1);
	assert_true(elfnote_owner_is(&n, "GNU"));
	assert_int_equal(n.descsz, 3);
	assert_int_equal(elfnote_next(&it, &n), 0);
	assert_int_equal(elfnote_next(&it, &n), 0);
	/* An empty segment, and none at all */
	elfnote_iter_init(&it, NULL, 100, false);
	assert_int_equal(elfnote_next(&it, &n), 0);
}

static void expect_broken(const unsigned char *buf, size_t len, int good_before)
{
	struct elfnote_iter it;
	struct elfnote n;

	elfnote_iter_init(&it, buf, len, false);
	for (int i = 0; i < good_before; i++)
		assert_int_equal(elfnote_next(&it, &n), 1);
	assert_int_equal(elfnote_next(&it, &n), -EINVAL);
	assert_int_equal(elfnote_next(&it, &n), -EINVAL);	/* and stays so */
}

static void test_corenote_hostile_framing_rejected(void **state)
{
	unsigned char buf[256] = { 0 };
	struct corenote_set out;
	size_t len;

	(void)state;
	len = version_note(buf, 0, CORENOTE_FORMAT, 8);
	/* a header cut short after a good note */
	expect_broken(buf, len + 5, 1);
	assert_int_equal(corenote_parse(buf, len + 5, false, &out), -EINVAL);
	/* huge namesz: name and padding would wrap a 32-bit sum */
	put_n(buf + len, 4, false, 0xffffffffu);
	expect_broken(buf, len + 12, 1);
	assert_int_equal(corenote_parse(buf, len + 12, false, &out), -EINVAL);
	/* huge descsz */
	put_n(buf + len, 4, false, 4);
	put_n(buf + len + 4, 4, false, 0xfffffffdu);
	expect_broken(buf, len + 20, 1);
	assert_int_equal(corenote_parse(buf, len + 20, false, &out), -EINVAL);
	/* a descriptor one byte longer than the segment */
	put_n(buf + len + 4, 4, false, 5);
	expect_broken(buf, len + 12 + 4 + 4, 1);
	/* a name one byte past the end */
	expect_broken(buf, 12 + 8, 0);
}

static void test_corenote_owner_without_nul_is_not_ours(void **state)
{
	unsigned char buf[256] = { 0 }, d[8] = { 1 };
	struct corenote_set out;
	size_t len;

	(void)state;
	/* "PTRACEFS" with namesz 8: no NUL, so some other owner's note */
	len = put_note(buf, 0, 8, "PTRACEFS", 8, 8, CORENOTE_VERSION, d, 8);
	assert_int_equal(corenote_parse(buf, len, false, &out), -ENOENT);
	/* "PTRACEFSX" with namesz 9 */
	len = put_note(buf, 0, 9, "PTRACEFSX", 9, 8, CORENOTE_VERSION, d, 8);
	assert_int_equal(corenote_parse(buf, len, false, &out), -ENOENT);
	/* a kernel segment: no PTRACEFS notes at all */
	len = put_note(buf, 0, 5, "CORE", 5, 8, 1, d, 8);
	assert_int_equal(corenote_parse(buf, len, false, &out), -ENOENT);
}

static void test_corenote_bad_records_rejected(void **state)
{
	unsigned char buf[512] = { 0 }, d[16] = { 0 };
	struct corenote_set out;
	size_t len;

	(void)state;
	/* VERSION shorter than format and pid */
	len = version_note(buf, 0, CORENOTE_FORMAT, 7);
	assert_int_equal(corenote_parse(buf, len, false, &out), -EINVAL);
	/* twice */
	len = version_note(buf, 0, CORENOTE_FORMAT, 8);
	len = version_note(buf, len, CORENOTE_FORMAT, 8);
	assert_int_equal(corenote_parse(buf, len, false, &out), -EINVAL);
	/* a format this parser does not know */
	len = version_note(buf, 0, CORENOTE_FORMAT + 1, 8);
	assert_int_equal(corenote_parse(buf, len, false, &out), -ENOTSUP);
	/* maps twice */
	len = version_note(buf, 0, CORENOTE_FORMAT, 8);
	len = put_note(buf, len, 9, "PTRACEFS", 9, 1, CORENOTE_MAPS, "a", 1);
	len = put_note(buf, len, 9, "PTRACEFS", 9, 1, CORENOTE_MAPS, "b", 1);
	assert_int_equal(corenote_parse(buf, len, false, &out), -EINVAL);
	/* a THREAD note too short for its tid and length */
	len = version_note(buf, 0, CORENOTE_FORMAT, 8);
	len = put_note(buf, len, 9, "PTRACEFS", 9, 7, CORENOTE_THREAD, d, 7);
	assert_int_equal(corenote_parse(buf, len, false, &out), -EINVAL);
	/* its stat length past its descriptor, and near 2^32 */
	put_n(d, 4, false, 5);
	put_n(d + 4, 4, false, 9);
	len = version_note(buf, 0, CORENOTE_FORMAT, 8);
	len = put_note(buf, len, 9, "PTRACEFS", 9, 16, CORENOTE_THREAD, d, 16);
	assert_int_equal(corenote_parse(buf, len, false, &out), -EINVAL);
	put_n(d + 4, 4, false, 0xfffffffcu);
	len = version_note(buf, 0, CORENOTE_FORMAT, 8);
	len = put_note(buf, len, 9, "PTRACEFS", 9, 16, CORENOTE_THREAD, d, 16);
	assert_int_equal(corenote_parse(buf, len, false, &out), -EINVAL);
	/* two threads with one tid */
	put_n(d + 4, 4, false, 8);
	len = version_note(buf, 0, CORENOTE_FORMAT, 8);
	len = put_note(buf, len, 9, "PTRACEFS", 9, 16, CORENOTE_THREAD, d, 16);
	len = put_note(buf, len, 9, "PTRACEFS", 9, 16, CORENOTE_THREAD, d, 16);
	assert_int_equal(corenote_parse(buf, len, false, &out), -EINVAL);
}

static void test_corenote_unknown_types_and_owners_skipped(void **state)
{
	unsigned char buf[512] = { 0 }, d[12] = { 0 };
	struct corenote_set out;
	size_t len;

	(void)state;
	put_n(d, 4, false, 42);
	put_n(d + 4, 4, false, 2);
	memcpy(d + 8, "ab\n\n", 4);
	len = put_note(buf, 0, 5, "CORE", 5, 3, CORENOTE_MAPS, "xyz", 3);
	len = version_note(buf, len, CORENOTE_FORMAT, 8);	/* not first: fine */
	len = put_note(buf, len, 9, "PTRACEFS", 9, 2, 0x50544650, "zz", 2);
	len = put_note(buf, len, 9, "PTRACEFS", 9, 12, CORENOTE_THREAD, d, 12);
	assert_int_equal(corenote_parse(buf, len, false, &out), 0);
	assert_null(out.maps.p);		/* CORE's note of that type is not ours */
	assert_int_equal(out.pid, 77);
	assert_int_equal(out.producer.len, 0);	/* descriptor of 8: no producer */
	assert_int_equal(out.nthreads, 1);
	assert_int_equal(out.threads[0].tid, 42);
	assert_text(out.threads[0].stat, "ab", 2);
	assert_text(out.threads[0].syscall, "\n\n", 2);
	corenote_free(&out);
}

static void test_corenote_build_refuses_notes_past_4g(void **state)
{
	struct corenote_thread t[2];
	struct corenote_set in;
	unsigned char *seg = (unsigned char *)&in;
	size_t len = 1;

	(void)state;
	fill(&in, t);
	in.maps.len = UINT32_MAX;	/* never read: the sizes are checked first */
	assert_int_equal(corenote_build(&in, false, &seg, &len), -EFBIG);
	assert_null(seg);
	assert_int_equal(len, 0);
}

static void test_corenote_stat_state_after_last_paren(void **state)
{
	char a[] = "100 (a) b) c) t 99 98", b[] = "7 (x) ", c[] = "7 (x)", d[] = "no paren";

	(void)state;
	assert_true(corenote_stat_set_state(a, strlen(a), 'S'));
	assert_string_equal(a, "100 (a) b) c) S 99 98");
	/* nowhere to write: unchanged */
	assert_false(corenote_stat_set_state(b, strlen(b), 'S'));
	assert_false(corenote_stat_set_state(c, strlen(c), 'S'));
	assert_false(corenote_stat_set_state(d, strlen(d), 'S'));
	assert_string_equal(b, "7 (x) ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corenote_round_trip_lsb),
		cmocka_unit_test(test_corenote_round_trip_msb),
		cmocka_unit_test(test_corenote_absent_file_has_no_note),
		cmocka_unit_test(test_corenote_iterates_kernel_notes),
		cmocka_unit_test(test_corenote_hostile_framing_rejected),
		cmocka_unit_test(test_corenote_owner_without_nul_is_not_ours),
		cmocka_unit_test(test_corenote_bad_records_rejected),
		cmocka_unit_test(test_corenote_unknown_types_and_owners_skipped),
		cmocka_unit_test(test_corenote_build_refuses_notes_past_4g),
		cmocka_unit_test(test_corenote_stat_state_after_last_paren),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
