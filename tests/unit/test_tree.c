/* fs/tree.c and the node tables, walked over a reader of a canned process. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canned_source.h"
#include "fs/tree.h"

/* The canned process (canned_source.h), opened once for the group. */
static struct reader *fake_reader;

struct names {
	char v[32][64];
	size_t n;
};

static int collect(void *cookie, const char *name)
{
	struct names *ns = cookie;

	if (ns->n < 32)
		snprintf(ns->v[ns->n++], sizeof(ns->v[0]), "%s", name);
	return 0;
}

static bool listed(const struct names *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], name) == 0)
			return true;
	return false;
}

static void list(const char *path, struct names *ns)
{
	struct node_ctx c;

	ns->n = 0;
	assert_int_equal(fs_walk(fake_reader, path, &c), 0);
	assert_int_equal(fs_list(&c, collect, ns), 0);
}

/* The rendered text of a file, NUL terminated; its st_size must match. */
static char *show(const char *path)
{
	struct node_ctx c;
	struct stat st;
	struct sbuf sb = SBUF_INIT;
	size_t len;
	char *text;

	assert_int_equal(fs_walk(fake_reader, path, &c), 0);
	assert_int_equal(fs_stat(&c, &st), 0);
	assert_int_equal(fs_show(&c, &sb), 0);
	assert_int_equal(st.st_size, sb.len);
	sbuf_append(&sb, "", 1);
	text = sbuf_detach(&sb, &len);
	assert_non_null(text);
	return text;
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

/*
 * The root holds exactly the files the man page's tree shows (THE TREE in
 * doc/ptracefs.1.scd), with their modes: kept here by hand, not taken from
 * the table under test.
 */
static void test_tree_list_root_is_the_documented_tree(void **state)
{
	static const struct { const char *name; mode_t type, mode; } want[] = {
		{ "status", S_IFREG, 0400 }, { "maps", S_IFREG, 0400 },
		{ "cmdline", S_IFREG, 0400 }, { "environ", S_IFREG, 0400 },
		{ "auxv", S_IFREG, 0400 }, { "exe", S_IFLNK, 0777 },
		{ "stack", S_IFREG, 0400 }, { "mem", S_IFREG, 0400 },
		{ "core", S_IFREG, 0400 }, { "ctl", S_IFREG, 0600 },
		{ "regions", S_IFDIR, 0500 }, { "modules", S_IFDIR, 0500 },
		{ "threads", S_IFDIR, 0500 }, { "fds", S_IFDIR, 0500 },
		{ "cwd", S_IFLNK, 0777 }, { "root", S_IFLNK, 0777 },
		{ "limits", S_IFREG, 0400 }, { "signals", S_IFREG, 0400 },
		{ "cgroup", S_IFREG, 0400 }, { "ns", S_IFDIR, 0500 },
		{ "smaps", S_IFREG, 0400 }, { "personality", S_IFREG, 0400 },
	};
	struct names ns;

	(void)state;
	list("/", &ns);
	assert_int_equal(ns.n, NODE_COUNT(want));
	for (size_t i = 0; i < NODE_COUNT(want); i++) {
		char path[64];
		struct node_ctx c;

		assert_true(listed(&ns, want[i].name));
		snprintf(path, sizeof(path), "/%s", want[i].name);
		assert_int_equal(fs_walk(fake_reader, path, &c), 0);
		/*
		 * stat, not show: stack and core would unwind and lay out; cwd
		 * and root read /proc of the fake pid, which is no process.
		 */
		if (strcmp(want[i].name, "stack") && strcmp(want[i].name, "core") &&
		    strcmp(want[i].name, "cwd") && strcmp(want[i].name, "root")) {
			struct stat st;

			assert_int_equal(fs_stat(&c, &st), 0);
			assert_int_equal(st.st_mode & S_IFMT, want[i].type);
			assert_int_equal(st.st_mode & 07777, want[i].mode);
		} else {
			assert_int_equal(c.node->mode, want[i].mode);
		}
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

/* One present(): what readdir leaves out, a walk does not find. */
static void test_tree_exited_thread_is_absent_from_list_and_walk(void **state)
{
	struct reader *shared = fake_reader;
	struct node_ctx c;
	struct names ns;

	(void)state;
	/* A reader of its own: the group's keeps all three threads. */
	fake_reader = fake_open(NULL, 0);
	assert_non_null(fake_reader);
	reader_thread_exited(fake_reader, 4243);
	list("/threads", &ns);
	assert_int_equal(ns.n, 2);
	assert_false(listed(&ns, "4243"));
	assert_int_equal(fs_walk(fake_reader, "/threads/4243", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/threads/4243/regs", &c), -ENOENT);
	reader_close(fake_reader);
	fake_reader = shared;
	list("/threads", &ns);
	assert_true(listed(&ns, "4243"));
}

static void test_tree_module_without_build_id_has_no_build_id_file(void **state)
{
	struct node_ctx c;
	struct names ns;

	(void)state;
	/* The canned process has no memory: its one module has no build id. */
	list("/modules", &ns);
	assert_int_equal(ns.n, 1);
	assert_string_equal(ns.v[0], "fake");
	list("/modules/fake", &ns);
	assert_int_equal(ns.n, 2);
	assert_true(listed(&ns, "info"));
	assert_true(listed(&ns, "image"));
	assert_int_equal(fs_walk(fake_reader, "/modules/fake/build-id", &c), -ENOENT);
	assert_int_equal(fs_walk(fake_reader, "/modules/fake/image", &c), 0);
	assert_int_equal(fs_walk(fake_reader, "/modules/nope", &c), -ENOENT);
}

/* Every name a directory lists walks, down the whole tree. */
static void walk_all(const char *dir, size_t *seen)
{
	struct names ns;

	list(dir, &ns);
	for (size_t i = 0; i < ns.n; i++) {
		char path[256];
		struct node_ctx c;

		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", ns.v[i]);
		assert_int_equal(fs_walk(fake_reader, path, &c), 0);
		(*seen)++;
		if (c.node->kind == NODE_DIR)
			walk_all(path, seen);
	}
}

static void test_tree_every_listed_name_walks(void **state)
{
	size_t seen = 0;

	(void)state;
	walk_all("/", &seen);
	/*
	 * 22 in the root, 3 threads x 5, 2 regions, 1 module x 2 (no build id;
	 * no file: the fake pid has no map_files); fds/ and ns/ of the fake
	 * pid are empty.
	 */
	assert_int_equal(seen, 22 + 3 * 5 + 2 + 1 + 2);
}

static void test_tree_ctl_reads_mode_commands_and_last_error(void **state)
{
	struct node_ctx c;
	char *text;

	(void)state;
	text = show("/ctl");
	assert_non_null(strstr(text, "mode suspended\n"));
	assert_non_null(strstr(text, "commands suspend resume refresh detach restore\n"));
	free(text);

	assert_int_equal(fs_walk(fake_reader, "/ctl", &c), 0);
	assert_int_equal(fs_write(&c, "bogus\n", 6), -EINVAL);
	text = show("/ctl");
	assert_non_null(strstr(text, "last_error unknown command 'bogus'\n"));
	free(text);
	assert_int_equal(fs_write(&c, "\n", 1), -EINVAL);
	text = show("/ctl");
	assert_non_null(strstr(text, "last_error empty command\n"));
	free(text);
	/* A command on two lines is still shown on one. */
	assert_int_equal(fs_write(&c, "a\nb", 3), -EINVAL);
	text = show("/ctl");
	assert_non_null(strstr(text, "last_error unknown command 'a?b'\n"));
	free(text);
	/* restore takes a path, absolute, and a -o rw mount; the others none. */
	assert_int_equal(fs_write(&c, "restore\n", 8), -EINVAL);
	text = show("/ctl");
	assert_non_null(strstr(text, "last_error restore needs an argument\n"));
	free(text);
	assert_int_equal(fs_write(&c, "refresh now\n", 12), -EINVAL);
	text = show("/ctl");
	assert_non_null(strstr(text, "last_error refresh takes no argument\n"));
	free(text);
	assert_int_equal(fs_write(&c, "restore app.core\n", 17), -EINVAL);
	text = show("/ctl");
	assert_non_null(strstr(text, "last_error restore: 'app.core' is not an absolute path\n"));
	free(text);
	assert_int_equal(fs_write(&c, "restore  /tmp/app.core\n", 23), -EROFS);
	text = show("/ctl");
	assert_non_null(strstr(text, "last_error restore: needs a -o rw mount\n"));
	free(text);
	/* Only ctl takes writes. */
	assert_int_equal(fs_walk(fake_reader, "/status", &c), 0);
	assert_int_equal(fs_write(&c, "x", 1), -EROFS);
}

static int open_fake(void **state)
{
	(void)state;
	fake_reader = fake_open(NULL, 0);
	return fake_reader ? 0 : -1;
}

static int close_fake(void **state)
{
	(void)state;
	reader_close(fake_reader);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_walk_root_is_a_directory),
		cmocka_unit_test(test_tree_list_root_is_the_documented_tree),
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
		cmocka_unit_test(test_tree_exited_thread_is_absent_from_list_and_walk),
		cmocka_unit_test(test_tree_module_without_build_id_has_no_build_id_file),
		cmocka_unit_test(test_tree_every_listed_name_walks),
		cmocka_unit_test(test_tree_ctl_reads_mode_commands_and_last_error),
	};

	return cmocka_run_group_tests(tests, open_fake, close_fake);
}
