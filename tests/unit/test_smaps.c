/*
 * reader/smaps: the /proc/PID/smaps parser on fixtures shaped as a 6.x
 * kernel prints them, on malformed input, and on this process's own smaps.
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

#include "reader/maps.h"
#include "reader/smaps.h"

/* Three mappings: a written anonymous one, [vvar], a MADV_DONTDUMP one. */
static const char fixture[] =
	"7fd74611c000-7fd74621c000 rw-p 00000000 00:00 0 \n"
	"Size:               1024 kB\n"
	"KernelPageSize:        4 kB\n"
	"Rss:                1020 kB\n"
	"Pss:                1020 kB\n"
	"Anonymous:          1016 kB\n"
	"AnonHugePages:         0 kB\n"
	"FilePmdMapped:         0 kB\n"
	"Swap:                  8 kB\n"
	"THPeligible:    0\n"
	"ProtectionKey:         0\n"
	"VmFlags: rd wr mr mw me ac wf \n"
	"7fd74640f000-7fd746413000 r--p 00000000 00:00 0                          [vvar]\n"
	"Size:                 16 kB\n"
	"Rss:                   0 kB\n"
	"Anonymous:             0 kB\n"
	"Swap:                  0 kB\n"
	"VmFlags: rd mr pf io de dd \n"
	"7fd800000000-7fd800100000 rw-s 00000000 00:01 2055                       /memfd:x (deleted)\n"
	"Rss:                   4 kB\n"
	"VmFlags: rd wr sh mr mw me ms dd dc um uw ht";	/* no final newline */

static void test_smaps_parse_reads_sizes_and_flags(void **state)
{
	struct smaps s;

	(void)state;
	assert_int_equal(smaps_parse(fixture, strlen(fixture), &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.v[0].start, 0x7fd74611c000);
	assert_int_equal(s.v[0].end, 0x7fd74621c000);
	assert_int_equal(s.v[0].rss_kb, 1020);
	assert_int_equal(s.v[0].anon_kb, 1016);
	assert_int_equal(s.v[0].swap_kb, 8);
	assert_true(s.v[0].has_vmflags);
	assert_int_equal(s.v[0].vmflags, VMF_WF);
	assert_int_equal(s.v[1].vmflags, VMF_PF | VMF_IO | VMF_DD);
	assert_int_equal(s.v[2].rss_kb, 4);
	assert_int_equal(s.v[2].anon_kb, 0);
	assert_int_equal(s.v[2].vmflags,
			 VMF_SH | VMF_DD | VMF_DC | VMF_UM | VMF_UW | VMF_HT);
	smaps_free(&s);
	assert_null(s.v);
	assert_int_equal(s.n, 0);
}

static void test_smaps_find_needs_exact_range(void **state)
{
	struct smaps s;

	(void)state;
	assert_int_equal(smaps_parse(fixture, strlen(fixture), &s), 0);
	assert_ptr_equal(smaps_find(&s, 0x7fd74640f000, 0x7fd746413000), &s.v[1]);
	assert_ptr_equal(smaps_find(&s, 0x7fd800000000, 0x7fd800100000), &s.v[2]);
	assert_null(smaps_find(&s, 0x7fd74640f000, 0x7fd746412000));
	assert_null(smaps_find(&s, 0x7fd74611d000, 0x7fd74621c000));
	assert_null(smaps_find(&s, 0, 0x1000));
	assert_null(smaps_find(&s, 0x7fd900000000, 0x7fd900001000));
	smaps_free(&s);
}

static void test_smaps_parse_without_vmflags_line(void **state)
{
	static const char old[] = "00400000-00401000 r-xp 00000000 08:01 42 /bin/x\n"
				  "Rss: 4 kB\n";
	struct smaps s;

	(void)state;
	assert_int_equal(smaps_parse(old, strlen(old), &s), 0);
	assert_int_equal(s.n, 1);
	assert_false(s.v[0].has_vmflags);
	smaps_free(&s);
}

static void test_smaps_parse_empty_is_empty(void **state)
{
	struct smaps s;

	(void)state;
	assert_int_equal(smaps_parse("", 0, &s), 0);
	assert_int_equal(s.n, 0);
	smaps_free(&s);
}

static void test_smaps_parse_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"Rss: 4 kB\n",					/* field before any header */
		"00400000-00401000 r-xp 0 0:0 0\nRss: x kB\n",	/* not a number */
		"00400000-00401000 r-xp 0 0:0 0\nRss:\n",	/* no number */
		"00400000-00401000 r-xp 0 0:0 0\nRss: 99999999999999999999 kB\n",
		"00400000-00401000 r-xp 0 0:0 0\n: 4 kB\n",	/* no key */
		"00400000-00401000 r-xp 0 0:0 0\nRss 4 kB\n",	/* no colon */
		"00401000-00400000 r-xp 0 0:0 0\n",		/* end before start */
		"00400000-00400000 r-xp 0 0:0 0\n",		/* empty */
		"00400000-00402000 r-xp 0 0:0 0\n00401000-00403000 r-xp 0 0:0 0\n",
		"00500000-00501000 r-xp 0 0:0 0\n00400000-00401000 r-xp 0 0:0 0\n",
		"0040000000000000000-00401000 r-xp 0 0:0 0\n",	/* overflow */
		"00400000-00401000\n",				/* header without a space */
		"garbage\n",
	};
	struct smaps s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = smaps_parse(bad[i], strlen(bad[i]), &s);

		if (rc != -EINVAL)
			fail_msg("case %zu: %d", i, rc);
		assert_null(s.v);
		assert_int_equal(s.n, 0);
	}
}

static void test_smaps_parse_stops_at_len(void **state)
{
	struct smaps s;
	/* Cut before the second path: its header is still whole. */
	size_t cut = (size_t)(strstr(fixture, "[vvar]") - fixture);

	(void)state;
	assert_int_equal(smaps_parse(fixture, cut, &s), 0);
	assert_int_equal(s.n, 2);
	smaps_free(&s);
	/* Cut inside it: "7fd7" is neither a header nor a field. */
	cut = (size_t)(strstr(fixture, "7fd74640f000") - fixture) + 4;
	assert_int_equal(smaps_parse(fixture, cut, &s), -EINVAL);
}

/* Our own smaps: every maps line has its entry, in the same order. */
static void test_smaps_parse_matches_proc_self(void **state)
{
	char *mtext = NULL, *stext = NULL;
	size_t mlen = 0, slen = 0;
	FILE *f;
	struct maps m;
	struct smaps s;

	(void)state;
	f = fopen("/proc/self/smaps", "r");
	if (!f)
		skip();
	{
		char buf[65536];
		size_t n;
		FILE *o = open_memstream(&stext, &slen);

		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, o);
		fclose(o);
		fclose(f);
	}
	f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	{
		char buf[65536];
		size_t n;
		FILE *o = open_memstream(&mtext, &mlen);

		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, o);
		fclose(o);
		fclose(f);
	}
	assert_int_equal(maps_parse(mtext, mlen, &m), 0);
	assert_int_equal(smaps_parse(stext, slen, &s), 0);
	/*
	 * The two reads are moments apart and anonymous memory may change
	 * between them (the allocator, a sanitizer's shadow): compare the
	 * mappings of files and the special ones, which stay put.
	 */
	assert_true(s.n > 0);
	for (size_t i = 0; i < s.n; i++)
		assert_true(s.v[i].has_vmflags);
	for (size_t i = 0; i < m.n; i++) {
		const struct smaps_entry *e = smaps_find(&s, m.v[i].start, m.v[i].end);

		if (m.v[i].path[0] != '/' && strcmp(m.v[i].path, "[vvar]") != 0 &&
		    strcmp(m.v[i].path, "[vdso]") != 0)
			continue;
		if (!e)
			fail_msg("no smaps entry for %s at %llx", m.v[i].path,
				 (unsigned long long)m.v[i].start);
		if (strcmp(m.v[i].path, "[vvar]") == 0)
			assert_true(e->vmflags & VMF_IO);
		else
			assert_false(e->vmflags & (VMF_IO | VMF_DD));
	}
	smaps_free(&s);
	maps_free(&m);
	free(mtext);
	free(stext);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smaps_parse_reads_sizes_and_flags),
		cmocka_unit_test(test_smaps_find_needs_exact_range),
		cmocka_unit_test(test_smaps_parse_without_vmflags_line),
		cmocka_unit_test(test_smaps_parse_empty_is_empty),
		cmocka_unit_test(test_smaps_parse_rejects_malformed),
		cmocka_unit_test(test_smaps_parse_stops_at_len),
		cmocka_unit_test(test_smaps_parse_matches_proc_self),
	};

	return cmocka_run_group_tests_name("smaps", tests, NULL, NULL);
}
