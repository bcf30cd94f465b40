/* The observers' fan-out: synchronous and worker-thread observers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/observe.h"

struct seen {
	int n;
	int kinds[64];
	char ids[64][16];
	pthread_t thread[64];
};

static void record(void *arg, const struct ade_exec_event *ev)
{
	struct seen *s = arg;

	s->kinds[s->n] = ev->kind;
	/* The event is a copy: its strings must outlive the dispatcher's. */
	snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", ev->run_id ? ev->run_id : "");
	s->thread[s->n] = pthread_self();
	s->n++;
}

static void test_order_and_copies(void **state)
{
	(void)state;
	struct ade_observers o = {0};
	struct seen sync = {0}, async = {0};
	assert_int_equal(ade_observers_add(&o, record, &sync), 0);
	assert_int_equal(ade_observers_add_async(&o, record, &async), 0);

	for (int k = 0; k < 40; k++) {
		char id[16];
		snprintf(id, sizeof(id), "run-%d", k);
		struct ade_exec_event ev = {.kind = k % 2 ? ADE_EV_STAGE_END : ADE_EV_STAGE_START,
					    .run_id = id, .state = "running"};
		ade_observers_dispatch(&o, &ev);
		memset(id, 'x', sizeof(id) - 1); /* the dispatcher's buffer is reused */
	}
	ade_observers_close(&o);
	ade_observers_close(&o); /* twice is harmless */

	assert_int_equal(sync.n, 40);
	assert_int_equal(async.n, 40);
	for (int k = 0; k < 40; k++) {
		char id[16];
		snprintf(id, sizeof(id), "run-%d", k);
		assert_string_equal(async.ids[k], id);
		assert_int_equal(async.kinds[k], sync.kinds[k]);
		assert_true(pthread_equal(sync.thread[k], pthread_self()));
		assert_false(pthread_equal(async.thread[k], pthread_self()));
	}
}

static void test_full(void **state)
{
	(void)state;
	struct ade_observers o = {0};
	struct seen s = {0};
	for (int k = 0; k < ADE_OBSERVERS_MAX; k++)
		assert_int_equal(ade_observers_add(&o, record, &s), 0);
	assert_int_equal(ade_observers_add(&o, record, &s), -1);
	assert_int_equal(ade_observers_add_async(&o, record, &s), -1);
	ade_observers_close(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_copies),
		cmocka_unit_test(test_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
