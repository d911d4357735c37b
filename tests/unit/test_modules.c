/*
 * reader/modules.c over a reader built from canned maps text (no target):
 * which mappings make modules, how they group by path, the name@base
 * rule for shared basenames, and the module file size.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "reader/reader_int.h"
#include "reader/source.h"

static struct reader *canned(const char *maps_text)
{
	struct reader *r = calloc(1, sizeof(*r));

	r->src = &source_ptrace;
	assert_non_null(r);
	pthread_mutex_init(&r->lazy_mu, NULL);
	r->maps_text = strdup(maps_text);
	assert_non_null(r->maps_text);
	r->maps_len = strlen(maps_text);
	assert_int_equal(maps_parse(r->maps_text, r->maps_len, &r->maps), 0);
	return r;
}

static void canned_free(struct reader *r)
{
	state_free(r);	/* what reader_module_file opened */
	free(r->modules);
	free(r->mod_infos);
	free(r->mod_parsed);
	free(r->map_fds);
	maps_free(&r->maps);
	free(r->maps_text);
	pthread_mutex_destroy(&r->lazy_mu);
	free(r);
}

static const char process_maps[] =
	"55d000000000-55d000001000 r--p 00000000 08:01 11   /usr/bin/prog\n"
	"55d000001000-55d000003000 r-xp 00001000 08:01 11   /usr/bin/prog\n"
	"55d000003000-55d000004000 rw-p 00003000 08:01 11   /usr/bin/prog\n"
	"55d000004000-55d000025000 rw-p 00000000 00:00 0    [heap]\n"
	"7f0000000000-7f0000028000 r--p 00000000 08:01 22   /usr/lib/libc.so.6\n"
	"7f0000028000-7f00001bd000 r-xp 00028000 08:01 22   /usr/lib/libc.so.6\n"
	"7f00001bd000-7f00001c0000 rw-p 00000000 00:00 0 \n"
	"7f00001c0000-7f00001c4000 rw-p 001bf000 08:01 22   /usr/lib/libc.so.6\n"
	"7f0000200000-7f0000201000 r--p 00000000 08:01 33   /usr/share/data.bin\n"
	"7f0000300000-7f0000400000 rw-s 00000000 00:05 44   /memfd:pool (deleted)\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0    [stack]\n"
	"7ffd00100000-7ffd00104000 r--p 00000000 00:00 0    [vvar]\n"
	"7ffd00104000-7ffd00106000 r-xp 00000000 00:00 0    [vdso]\n";

/* Files and the vDSO make modules, one per path; nothing else does. */
static void test_modules_group_mappings_by_path(void **state)
{
	struct reader *r = canned(process_maps);
	const struct reader_module *v;
	size_t n;

	(void)state;
	assert_int_equal(reader_modules(r, &v, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[0].path, "/usr/bin/prog");
	assert_string_equal(v[0].name, "prog");
	assert_int_equal(v[0].base, 0x55d000000000);
	assert_int_equal(v[0].end, 0x55d000004000);
	assert_true(v[0].executable);
	assert_int_equal(v[0].first_map, 0);
	/* the anonymous .bss inside libc's span is not part of the module list */
	assert_string_equal(v[1].name, "libc.so.6");
	assert_int_equal(v[1].base, 0x7f0000000000);
	assert_int_equal(v[1].end, 0x7f00001c4000);
	assert_int_equal(v[1].first_map, 4);
	assert_true(v[1].executable);
	assert_string_equal(v[2].name, "data.bin");
	assert_false(v[2].executable);
	assert_int_equal(v[2].first_map, 8);
	/* a deleted file (a memfd's too) is named without " (deleted)" */
	assert_string_equal(v[3].name, "memfd:pool");
	assert_true(v[3].deleted);
	assert_false(v[1].deleted);
	assert_int_equal(v[3].end, 0x7f0000400000);
	assert_string_equal(v[4].name, "[vdso]");
	assert_int_equal(v[4].base, 0x7ffd00104000);
	assert_true(v[4].executable);
	assert_int_equal(v[4].first_map, 12);
	canned_free(r);
}

/* Every module of a shared basename is named <basename>@<base>. */
static void test_modules_shared_basenames_are_named_at_base(void **state)
{
	struct reader *r = canned(
		"10000-11000 r-xp 00000000 08:01 1 /opt/a/libx.so\n"
		"20000-21000 r-xp 00000000 08:01 2 /opt/b/libx.so\n"
		"30000-31000 r-xp 00000000 08:01 3 /opt/b/liby.so\n"
		"40000-41000 r--p 00000000 08:01 2 /opt/b/libx.so\n"
		"50000-51000 r-xp 00000000 08:01 4 /libx.so\n");
	const struct reader_module *v;
	size_t n;

	(void)state;
	assert_int_equal(reader_modules(r, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].name, "libx.so@10000");
	assert_string_equal(v[1].name, "libx.so@20000");
	assert_int_equal(v[1].end, 0x41000);
	assert_string_equal(v[2].name, "liby.so");
	assert_string_equal(v[3].name, "libx.so@50000");
	assert_ptr_equal(reader_module_by_name(r, "libx.so@20000"), &v[1]);
	assert_ptr_equal(reader_module_by_name(r, "liby.so"), &v[2]);
	assert_null(reader_module_by_name(r, "libx.so"));
	assert_null(reader_module_by_name(r, "liby"));
	canned_free(r);
}

/* A basename that cannot be a directory entry: module@<base>. */
static void test_modules_unlistable_names_become_module_at_base(void **state)
{
	struct reader *r = canned(
		"10000-11000 r--p 00000000 08:01 1 /srv/..\n"
		"20000-21000 r--p 00000000 08:01 2 /srv/.\n"
		"30000-31000 r--p 00000000 08:01 3 /srv/\n");
	const struct reader_module *v;
	size_t n;

	(void)state;
	assert_int_equal(reader_modules(r, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "module@10000");
	assert_string_equal(v[1].name, "module@20000");
	assert_string_equal(v[2].name, "module@30000");
	canned_free(r);
}

static void test_modules_without_mappings_is_empty(void **state)
{
	struct reader *r = canned("");
	const struct reader_module *v;
	size_t n = 99;

	(void)state;
	assert_int_equal(reader_modules(r, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(reader_module_by_name(r, ""));
	canned_free(r);
}

/*
 * The mapped file's size, opened through the path when map_files cannot
 * (the canned pid is not a process): only if its inode is the mapping's,
 * and never where only the stopped target could answer.
 */
static void test_modules_file_size_opens_the_mapped_inode_unless_self_served(void **state)
{
	struct reader *r;
	const struct reader_module *v;
	struct stat st;
	uint64_t size = 0;
	char maps[512], other[] = "/tmp/ptracefs-test-modules.XXXXXX";
	struct stat ost;
	size_t n;
	int fd;

	(void)state;
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	/* a real file, mapped (says maps) with another inode than its own */
	fd = mkstemp(other);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &ost), 0);
	close(fd);
	snprintf(maps, sizeof(maps),
		 "10000-11000 r--p 00000000 08:01 %lu /proc/self/exe\n"
		 "20000-21000 r--p 00000000 08:01 2 /nonexistent/ptracefs/lib.so\n"
		 "30000-31000 r--p 00000000 00:2f 3 /mnt/fuse/lib.so\n"
		 "40000-41000 r-xp 00000000 00:00 0 [vdso]\n"
		 "50000-51000 r--p 00000000 08:01 %lu %s\n",
		 (unsigned long)st.st_ino, (unsigned long)ost.st_ino + 1, other);
	r = canned(maps);
	r->map_fds = calloc(r->maps.n, sizeof(*r->map_fds));
	assert_non_null(r->map_fds);
	for (size_t i = 0; i < r->maps.n; i++)
		atomic_init(&r->map_fds[i], -2);
	atomic_store(&r->map_fds[2], MAP_FD_SELF_SERVED);
	assert_int_equal(reader_modules(r, &v, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(reader_module_file_size(r, &v[0], &size), 0);
	assert_int_equal(size, (uint64_t)st.st_size);
	assert_int_equal(reader_module_file_size(r, &v[1], &size), -ENOENT);
	assert_int_equal(reader_module_file_size(r, &v[2], &size), -EIO);
	assert_int_equal(reader_module_file_size(r, &v[3], &size), -ENOENT);
	assert_int_equal(reader_module_file_size(r, &v[4], &size), -ENOENT);
	unlink(other);
	canned_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modules_group_mappings_by_path),
		cmocka_unit_test(test_modules_shared_basenames_are_named_at_base),
		cmocka_unit_test(test_modules_unlistable_names_become_module_at_base),
		cmocka_unit_test(test_modules_without_mappings_is_empty),
		cmocka_unit_test(test_modules_file_size_opens_the_mapped_inode_unless_self_served),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
