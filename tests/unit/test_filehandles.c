/* Unit tests for the guest-file-open handle table (src/cmd/filehandles.c): ids, the cap, close
 * semantics, and that one handle's operations run one at a time. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/filehandles.h"

static int devnull(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int teardown(void **state)
{
	(void)state;
	fh_close_all();
	return 0;
}

static void test_ids_grow_and_are_not_reused(void **state)
{
	(void)state;
	int64_t a, b, c;
	assert_int_equal(fh_add(devnull(), "/dev/null", 10, &a), 0);
	assert_int_equal(fh_add(devnull(), "/dev/null", 10, &b), 0);
	assert_true(a >= FH_FIRST_ID);
	assert_true(b > a);
	assert_int_equal(fh_close(a), 0);
	assert_int_equal(fh_add(devnull(), "/dev/null", 10, &c), 0);
	assert_true(c > b);
	assert_int_equal(fh_count(), 2);
	assert_null(fh_acquire(a));
	assert_int_equal(fh_close(a), -ENOENT);
}

static void test_cap(void **state)
{
	(void)state;
	int64_t ids[4], extra;
	for (int i = 0; i < 4; i++)
		assert_int_equal(fh_add(devnull(), "/dev/null", 4, &ids[i]), 0);
	int fd = devnull();
	assert_int_equal(fh_add(fd, "/dev/null", 4, &extra), -EMFILE);
	assert_true(fd_open(fd));   /* left to the caller */
	assert_int_equal(fh_close(ids[2]), 0);
	assert_int_equal(fh_add(fd, "/dev/null", 4, &extra), 0);
	assert_int_equal(fh_count(), 4);
}

static void test_acquire_release_close(void **state)
{
	(void)state;
	int fd = devnull();
	int64_t id;
	assert_int_equal(fh_add(fd, "/some/path", 4, &id), 0);
	struct fh *h = fh_acquire(id);
	assert_non_null(h);
	assert_int_equal(fh_fd(h), fd);
	assert_string_equal(fh_path(h), "/some/path");
	fh_release(h);
	assert_int_equal(fh_close(id), 0);
	assert_false(fd_open(fd));
	assert_null(fh_acquire(id));
	assert_null(fh_acquire(-1));
	assert_null(fh_acquire(999));
}

/* Threads hammer one handle: the in-critical-section counter must never exceed 1. */
struct shared {
	int64_t id;
	int inside, max_inside, ops;
	pthread_mutex_t m;
};

static void *worker(void *arg)
{
	struct shared *s = arg;
	for (int i = 0; i < 200; i++) {
		struct fh *h = fh_acquire(s->id);
		if (!h)
			break;
		pthread_mutex_lock(&s->m);
		s->inside++;
		if (s->inside > s->max_inside)
			s->max_inside = s->inside;
		s->ops++;
		pthread_mutex_unlock(&s->m);
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&s->m);
		s->inside--;
		pthread_mutex_unlock(&s->m);
		fh_release(h);
	}
	return NULL;
}

static void test_one_operation_at_a_time(void **state)
{
	(void)state;
	struct shared s = { .m = PTHREAD_MUTEX_INITIALIZER };
	assert_int_equal(fh_add(devnull(), "/dev/null", 4, &s.id), 0);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, &s), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(s.max_inside, 1);
	assert_int_equal(s.ops, 800);
}

/* Closing while operations run: close waits for the running one, later ones find no handle,
 * and nothing is freed twice (ASan/valgrind watch). */
static void *closer(void *arg)
{
	struct shared *s = arg;
	struct timespec ts = { 0, 2000000 };
	nanosleep(&ts, NULL);
	assert_int_equal(fh_close(s->id), 0);
	return NULL;
}

static void test_close_while_busy(void **state)
{
	(void)state;
	struct shared s = { .m = PTHREAD_MUTEX_INITIALIZER };
	assert_int_equal(fh_add(devnull(), "/dev/null", 4, &s.id), 0);
	pthread_t t[3], c;
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, &s), 0);
	assert_int_equal(pthread_create(&c, NULL, closer, &s), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pthread_join(c, NULL);
	assert_int_equal(s.max_inside, 1);
	assert_true(s.ops < 600);
	assert_null(fh_acquire(s.id));
	assert_int_equal(fh_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ids_grow_and_are_not_reused, teardown),
		cmocka_unit_test_teardown(test_cap, teardown),
		cmocka_unit_test_teardown(test_acquire_release_close, teardown),
		cmocka_unit_test_teardown(test_one_operation_at_a_time, teardown),
		cmocka_unit_test_teardown(test_close_while_busy, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
