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
#include <time.h>
#include <unistd.h>

#include "scheduler/observe.h"

struct seen {
	int n;
	int kinds[512];
	char ids[512][16];
	pthread_t thread[512];
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

static int seen_count(struct seen *s, pthread_mutex_t *mu)
{
	pthread_mutex_lock(mu);
	int n = s->n;
	pthread_mutex_unlock(mu);
	return n;
}

struct locked {
	pthread_mutex_t mu;
	struct seen s;
};

static void record_locked(void *arg, const struct ade_exec_event *ev)
{
	struct locked *l = arg;

	pthread_mutex_lock(&l->mu);
	record(&l->s, ev);
	pthread_mutex_unlock(&l->mu);
}

/*
 * The worker is woken per batch: the first queued event asks for a call
 * within 50 ms, a due call wakes it, and so does a full batch at once.
 */
static void test_batched_wake(void **state)
{
	(void)state;
	struct ade_observers o = {0};
	struct locked l = {.mu = PTHREAD_MUTEX_INITIALIZER};
	assert_int_equal(ade_observers_add_async(&o, record_locked, &l), 0);
	assert_int_equal(ade_observers_wake(&o), -1); /* nothing queued */

	struct ade_exec_event ev = {.kind = ADE_EV_STAGE_START, .run_id = "r"};
	ade_observers_dispatch(&o, &ev);
	int64_t left = ade_observers_wake(&o);
	assert_true(left > 0 && left <= 50 * 1000000LL);
	struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
	nanosleep(&ts, NULL);
	assert_int_equal(ade_observers_wake(&o), -1); /* due: woken */
	for (int t = 0; t < 5000 && seen_count(&l.s, &l.mu) < 1; t++)
		usleep(1000);
	assert_int_equal(seen_count(&l.s, &l.mu), 1);

	/* A full batch is not kept waiting. */
	int64_t last = 0;
	for (int k = 0; k < 256; k++) {
		ade_observers_dispatch(&o, &ev);
		last = ade_observers_wake(&o);
		if (k < 40)
			assert_true(last > 0);
	}
	assert_int_equal(last, -1);
	ade_observers_close(&o); /* delivers whatever is left */
	assert_int_equal(l.s.n, 257);
}

/*
 * At a run's end only the observers added with add_after_async wait for
 * the worker; the others run while it catches up.  The worker is held
 * at its first event until the plain observer has seen the run's end, so
 * a plain observer that waited too would never return.
 */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t open_cv;
	int open;
	int async_n;            /* events the async observer handled */
	int plain_saw, after_saw; /* async_n when each got the run's end */
};

static void gated_async(void *arg, const struct ade_exec_event *ev)
{
	struct gate *g = arg;
	(void)ev;
	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->open_cv, &g->mu);
	g->async_n++;
	pthread_mutex_unlock(&g->mu);
}

static void plain_sync(void *arg, const struct ade_exec_event *ev)
{
	struct gate *g = arg;
	if (ev->kind != ADE_EV_RUN_END)
		return;
	pthread_mutex_lock(&g->mu);
	g->plain_saw = g->async_n;
	g->open = 1;
	pthread_cond_broadcast(&g->open_cv);
	pthread_mutex_unlock(&g->mu);
}

static void after_sync(void *arg, const struct ade_exec_event *ev)
{
	struct gate *g = arg;
	if (ev->kind != ADE_EV_RUN_END)
		return;
	pthread_mutex_lock(&g->mu);
	g->after_saw = g->async_n;
	pthread_mutex_unlock(&g->mu);
}

static void test_run_end_barrier(void **state)
{
	(void)state;
	struct ade_observers o = {0};
	struct gate g = {.mu = PTHREAD_MUTEX_INITIALIZER, .open_cv = PTHREAD_COND_INITIALIZER,
			 .plain_saw = -1, .after_saw = -1};
	assert_int_equal(ade_observers_add(&o, plain_sync, &g), 0);
	assert_int_equal(ade_observers_add_after_async(&o, after_sync, &g), 0);
	assert_int_equal(ade_observers_add_async(&o, gated_async, &g), 0);

	struct ade_exec_event ev = {.kind = ADE_EV_STAGE_END, .run_id = "r"};
	for (int k = 0; k < 10; k++)
		ade_observers_dispatch(&o, &ev);
	ev.kind = ADE_EV_RUN_END;
	ade_observers_dispatch(&o, &ev);
	assert_int_equal(g.plain_saw, 0);
	/* Every event before the run's end; the worker may be past the end itself. */
	assert_true(g.after_saw == 10 || g.after_saw == 11);
	ade_observers_close(&o);
	assert_int_equal(g.async_n, 11);
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
		cmocka_unit_test(test_batched_wake),
		cmocka_unit_test(test_run_end_barrier),
		cmocka_unit_test(test_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
