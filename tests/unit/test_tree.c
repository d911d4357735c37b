/* fs/tree.c and the node tables, walked over a fake reader. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fs/tree.h"

extern struct reader *fake_reader;
extern const char fake_maps_text[];

struct names {
	char v[16][32];
	size_t n;
};

static int collect(void *cookie, const char *name)
{
	struct names *ns = cookie;

	if (ns->n < 16)
		snprintf(ns->v[ns->n++], sizeof(ns->v[0]), "%s", name);
	return 0;
}

static void test_tree_walk_root_is_a_directory(void **state)
{
	struct node_ctx c;
	struct stat st;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/", &c), 0);
	assert_ptr_equal(c.node, &fs_root);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0500);
}

static void test_tree_list_root_has_every_row(void **state)
{
	struct node_ctx c;
	struct names ns = { .n = 0 };
	const char *want[] = { "status", "maps", "mem", "threads" };

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/", &c), 0);
	assert_int_equal(fs_list(&c, collect, &ns), 0);
	for (size_t i = 0; i < 4; i++) {
		bool found = false;

		for (size_t j = 0; j < ns.n; j++)
			found |= strcmp(ns.v[j], want[i]) == 0;
		assert_true(found);
	}
}

static void test_tree_threads_lists_reader_tids(void **state)
{
	struct node_ctx c;
	struct names ns = { .n = 0 };

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/threads", &c), 0);
	assert_int_equal(fs_list(&c, collect, &ns), 0);
	assert_int_equal(ns.n, 3);
	assert_string_equal(ns.v[0], "4242");
	assert_string_equal(ns.v[2], "4250");
}

static void test_tree_walk_binds_tid(void **state)
{
	struct node_ctx c;
	struct stat st;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/threads/4243/regs", &c), 0);
	assert_int_equal(c.tid, 4243);
	assert_int_equal(c.node->kind, NODE_TEXT);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0400);
}

static void test_tree_walk_unknown_names_are_enoent(void **state)
{
	struct node_ctx c;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/nope", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/threads/9999", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/threads/04242", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/threads/-1", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/threads/4242/nope", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/mem/x", &c), -ENOTDIR);
}

static void test_tree_maps_size_is_exact(void **state)
{
	struct node_ctx c;
	struct stat st;
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/maps", &c), 0);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_int_equal(st.st_size, strlen(fake_maps_text));
	assert_int_equal(fs_show(&c, &sb), 0);
	assert_int_equal(sb.len, strlen(fake_maps_text));
	assert_memory_equal(sb.buf, fake_maps_text, sb.len);
	sbuf_free(&sb);
}

static void test_tree_status_reports_reader_facts(void **state)
{
	struct node_ctx c;
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/status", &c), 0);
	assert_int_equal(fs_show(&c, &sb), 0);
	assert_non_null(strstr(sb.buf, "pid 4242\n"));
	assert_non_null(strstr(sb.buf, "threads 3\n"));
	assert_non_null(strstr(sb.buf, "mappings 2\n"));
	assert_non_null(strstr(sb.buf, "arch x86_64\n"));
	assert_non_null(strstr(sb.buf, "state suspended\n"));
	sbuf_free(&sb);
}

static void test_tree_regs_render_the_threads_blob(void **state)
{
	struct node_ctx c;
	struct sbuf sb = SBUF_INIT;
	char want[64];

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/threads/4250/regs", &c), 0);
	assert_int_equal(fs_show(&c, &sb), 0);
	/* rip is slot 16 of the kernel's user_regs_struct. */
	snprintf(want, sizeof(want), "rip 0x%016llx\n",
		 (unsigned long long)(0x1000 + 16 + 4250ULL * 0x100000));
	assert_non_null(strstr(sb.buf, want));
	sbuf_free(&sb);
}

static void test_tree_mem_is_sparse_and_huge(void **state)
{
	struct node_ctx c;
	struct stat st;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/mem", &c), 0);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_int_equal((uint64_t)st.st_size, 0x7ffd00021000ULL);
	assert_int_equal((uint64_t)st.st_blocks, (0x1000 + 0x21000) / 512);
	assert_int_equal(st.st_blksize, 1 << 20);
}

static void test_tree_regions_bind_only_exact_mappings(void **state)
{
	struct node_ctx c;
	struct stat st;
	struct names ns = { .n = 0 };

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/regions", &c), 0);
	assert_int_equal(fs_list(&c, collect, &ns), 0);
	assert_int_equal(ns.n, 2);
	assert_string_equal(ns.v[0], "400000-401000");
	assert_string_equal(ns.v[1], "7ffd00000000-7ffd00021000");
	assert_int_equal(fs_walk(fake_reader, "/regions/7ffd00000000-7ffd00021000", &c), 0);
	assert_int_equal(c.idx, 1);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_int_equal(st.st_size, 0x21000);
	/* Not a mapping, a part of one, or another spelling of one. */
	assert_int_equal(fs_walk(fake_reader, "/regions/400000-400800", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/regions/0400000-401000", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/regions/400000-401000x", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/regions/500000-501000", &c), -ENOENT);
}

static void test_tree_cmdline_is_the_raw_bytes(void **state)
{
	struct node_ctx c;
	struct stat st;
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/cmdline", &c), 0);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_int_equal(st.st_size, 12);
	assert_int_equal(fs_show(&c, &sb), 0);
	assert_memory_equal(sb.buf, "fake\0--flag\0", 12);
	sbuf_free(&sb);
	/* environ was unreadable at suspension: an empty file, not an error. */
	assert_int_equal(fs_walk(fake_reader, "/environ", &c), 0);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_int_equal(st.st_size, 0);
}

static void test_tree_exe_is_a_symlink(void **state)
{
	struct node_ctx c;
	struct stat st;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/exe", &c), 0);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, strlen("/bin/fake"));
}

static void test_tree_thread_stat_names_the_syscall(void **state)
{
	struct node_ctx c;
	struct sbuf sb = SBUF_INIT;

	(void)state;
	assert_int_equal(fs_walk(fake_reader, "/threads/4242/stat", &c), 0);
	assert_int_equal(fs_show(&c, &sb), 0);
	assert_non_null(strstr(sb.buf, "tid 4242\n"));
	assert_non_null(strstr(sb.buf, "main yes\n"));
	assert_non_null(strstr(sb.buf, "state S (sleeping)\n"));
	assert_non_null(strstr(sb.buf, "syscall 7 poll\n"));
	sbuf_free(&sb);
	assert_int_equal(fs_walk(fake_reader, "/threads/4243/stat", &c), 0);
	assert_int_equal(fs_show(&c, &sb), 0);
	assert_non_null(strstr(sb.buf, "main no\n"));
	sbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_walk_root_is_a_directory),
		cmocka_unit_test(test_tree_list_root_has_every_row),
		cmocka_unit_test(test_tree_threads_lists_reader_tids),
		cmocka_unit_test(test_tree_walk_binds_tid),
		cmocka_unit_test(test_tree_walk_unknown_names_are_enoent),
		cmocka_unit_test(test_tree_maps_size_is_exact),
		cmocka_unit_test(test_tree_status_reports_reader_facts),
		cmocka_unit_test(test_tree_regs_render_the_threads_blob),
		cmocka_unit_test(test_tree_mem_is_sparse_and_huge),
		cmocka_unit_test(test_tree_regions_bind_only_exact_mappings),
		cmocka_unit_test(test_tree_cmdline_is_the_raw_bytes),
		cmocka_unit_test(test_tree_exe_is_a_symlink),
		cmocka_unit_test(test_tree_thread_stat_names_the_syscall),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
