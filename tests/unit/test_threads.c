/*
 * reader/attach.c's thread records: reader_find_thread finds a tid's
 * newest record through the tid index, past the index's fill limit by a
 * scan, and with no index at all (sources that fill the array
 * themselves). The records are checked against a plain scan, the
 * definition the index must agree with.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reader/reader_int.h"

static struct reader *new_reader(size_t cap, bool index)
{
	struct reader *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->threads_cap = cap;
	r->threads = calloc(cap, sizeof(*r->threads));
	assert_non_null(r->threads);
	if (index)
		assert_int_equal(tid_index_init(r), 0);
	return r;
}

static void free_reader(struct reader *r)
{
	for (size_t i = 0; i < atomic_load(&r->nthreads); i++)
		pthread_mutex_destroy(&r->threads[i].sets_mu);
	free(r->threads);
	free(r->tid_index);
	free(r);
}

/* The definition: the last record with this tid. */
static struct rthread *scan(struct reader *r, pid_t tid)
{
	size_t n = atomic_load(&r->nthreads);

	while (n-- > 0)
		if (r->threads[n].tid == tid)
			return &r->threads[n];
	return NULL;
}

static void check_all(struct reader *r, pid_t lo, pid_t hi)
{
	for (pid_t tid = lo; tid <= hi; tid++)
		assert_ptr_equal(reader_find_thread(r, tid), scan(r, tid));
}

static void test_find_newest_record(void **state)
{
	struct reader *r = new_reader(1024, true);

	(void)state;
	for (pid_t tid = 100; tid < 400; tid++)
		assert_int_equal(attach_add_thread(r, tid, 0), 0);
	/* tids reused after their threads died: the newest record wins */
	assert_int_equal(attach_add_thread(r, 150, 0), 0);
	assert_int_equal(attach_add_thread(r, 150, 0), 0);
	assert_int_equal(attach_add_thread(r, 399, 0), 0);
	assert_ptr_equal(reader_find_thread(r, 150), &r->threads[301]);
	assert_ptr_equal(reader_find_thread(r, 399), &r->threads[302]);
	assert_ptr_equal(reader_find_thread(r, 100), &r->threads[0]);
	assert_null(reader_find_thread(r, 99));
	assert_null(reader_find_thread(r, 400));
	assert_null(reader_find_thread(r, 0));
	check_all(r, 0, 500);
	free_reader(r);
}

/* tids that collide in the index (multiples of its size) still resolve. */
static void test_find_colliding_tids(void **state)
{
	struct reader *r = new_reader(256, true);

	(void)state;
	for (pid_t k = 1; k <= 64; k++)
		assert_int_equal(attach_add_thread(r, k << 17, 0), 0);
	for (pid_t k = 1; k <= 64; k++)
		assert_ptr_equal(reader_find_thread(r, k << 17), &r->threads[k - 1]);
	assert_null(reader_find_thread(r, 65 << 17));
	free_reader(r);
}

/* More records than the index takes: the rest are found by the scan. */
static void test_find_past_index_limit(void **state)
{
	const size_t n = 110000;
	struct reader *r = new_reader(n + 2, true);

	(void)state;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(attach_add_thread(r, (pid_t)(i + 2), 0), 0);
	assert_true(atomic_load(&r->indexed) < n);
	/* a tid in the index reused past it: the scan's newer record wins */
	assert_int_equal(attach_add_thread(r, 2, 0), 0);
	assert_ptr_equal(reader_find_thread(r, 2), &r->threads[n]);
	assert_ptr_equal(reader_find_thread(r, (pid_t)(n + 1)), &r->threads[n - 1]);
	assert_ptr_equal(reader_find_thread(r, 50000), &r->threads[49998]);
	assert_null(reader_find_thread(r, (pid_t)(n + 2)));
	free_reader(r);
}

static void test_find_without_index(void **state)
{
	struct reader *r = new_reader(64, false);

	(void)state;
	for (pid_t tid = 10; tid < 40; tid++)
		assert_int_equal(attach_add_thread(r, tid, 0), 0);
	assert_int_equal(attach_add_thread(r, 12, 0), 0);
	assert_ptr_equal(reader_find_thread(r, 12), &r->threads[30]);
	check_all(r, 0, 50);
	free_reader(r);
}

static void test_add_past_capacity_fails(void **state)
{
	struct reader *r = new_reader(2, true);

	(void)state;
	assert_int_equal(attach_add_thread(r, 5, 0), 0);
	assert_int_equal(attach_add_thread(r, 6, 0), 0);
	assert_int_equal(attach_add_thread(r, 7, 0), -ENOSPC);
	assert_null(reader_find_thread(r, 7));
	free_reader(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_newest_record),
		cmocka_unit_test(test_find_colliding_tids),
		cmocka_unit_test(test_find_past_index_limit),
		cmocka_unit_test(test_find_without_index),
		cmocka_unit_test(test_add_past_capacity_fails),
	};

	return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
