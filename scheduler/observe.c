/* Fan-out of executor events to several observers (observe.h). */
#include "observe.h"
#include "core/util.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A copied event: the struct, then its strings in the same block. */
struct queued {
	struct queued *next;
	struct ade_exec_event ev;
};

struct ade_observer_queue {
	pthread_mutex_t mu;
	pthread_cond_t more; /* worker: an event was queued, or stop */
	pthread_cond_t caught_up; /* dispatch: the worker handled up to seq_wait */
	struct queued *head, *tail;
	uint64_t seq_in, seq_done; /* events queued, events handled */
	uint64_t seq_wait;         /* nonzero: dispatch waits for seq_done to reach it */
	int unwoken;               /* events queued since the last wake-up */
	int64_t unwoken_ns;        /* monotonic time of the first of them */
	int stop;
	pthread_t thread;
	const struct ade_observers *owner;
};

int ade_observers_add(struct ade_observers *o,
		      void (*fn)(void *arg, const struct ade_exec_event *ev), void *arg)
{
	if (o->n >= ADE_OBSERVERS_MAX)
		return -1;
	o->v[o->n].fn = fn;
	o->v[o->n].arg = arg;
	o->v[o->n].async = 0;
	o->v[o->n].after_async = 0;
	o->n++;
	return 0;
}

int ade_observers_add_after_async(struct ade_observers *o,
				  void (*fn)(void *arg, const struct ade_exec_event *ev), void *arg)
{
	if (ade_observers_add(o, fn, arg))
		return -1;
	o->v[o->n - 1].after_async = 1;
	return 0;
}

/* Blocks until the worker has handled every event queued before the last one. */
static void catch_up(struct ade_observer_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->seq_wait = q->seq_in - 1;
	while (q->seq_done < q->seq_wait)
		pthread_cond_wait(&q->caught_up, &q->mu);
	q->seq_wait = 0;
	pthread_mutex_unlock(&q->mu);
}

static void deliver(const struct ade_observers *o, int async, const struct ade_exec_event *ev)
{
	int waited = 0;

	for (int i = 0; i < o->n; i++) {
		if (o->v[i].async != async)
			continue;
		if (!async && !waited && o->v[i].after_async && ev->kind == ADE_EV_RUN_END && o->q) {
			catch_up(o->q);
			waited = 1;
		}
		o->v[i].fn(o->v[i].arg, ev);
	}
}

static void *worker(void *arg)
{
	struct ade_observer_queue *q = arg;

	ade_thread_set_background(); /* never ahead of the stages or the executor (core/util.h) */

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->more, &q->mu);
		if (!q->head)
			break;
		struct queued *e = q->head;
		q->head = e->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->mu);
		deliver(q->owner, 1, &e->ev);
		free(e);
		pthread_mutex_lock(&q->mu);
		q->seq_done++;
		if (q->seq_wait && q->seq_done >= q->seq_wait)
			pthread_cond_signal(&q->caught_up);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int ade_observers_add_async(struct ade_observers *o,
			    void (*fn)(void *arg, const struct ade_exec_event *ev), void *arg)
{
	if (ade_observers_add(o, fn, arg))
		return -1;
	if (!o->q) {
		struct ade_observer_queue *q = ade_xcalloc(1, sizeof(*q));
		pthread_mutex_init(&q->mu, NULL);
		pthread_cond_init(&q->more, NULL);
		pthread_cond_init(&q->caught_up, NULL);
		q->owner = o;
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int rc = pthread_create(&q->thread, NULL, worker, q);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc) {
			pthread_cond_destroy(&q->caught_up);
			pthread_cond_destroy(&q->more);
			pthread_mutex_destroy(&q->mu);
			free(q);
			return -1; /* stays a synchronous observer */
		}
		o->q = q;
	}
	o->v[o->n - 1].async = 1;
	return 0;
}

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static char *str_put(char **at, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = memcpy(*at, s, n);
	*at += n;
	return d;
}

static struct queued *copy_event(const struct ade_exec_event *ev)
{
	const char *s[] = {ev->home,  ev->run_id,  ev->ds,       ev->interval_start, ev->interval_end,
			   ev->run_dir, ev->state, ev->out_dir, ev->log_path,      ev->reason};
	size_t need = sizeof(struct queued);
	for (size_t i = 0; i < sizeof(s) / sizeof(*s); i++)
		need += str_size(s[i]);
	struct queued *e = ade_xmalloc(need);
	char *at = (char *)(e + 1);
	e->next = NULL;
	e->ev = *ev;
	e->ev.home = str_put(&at, ev->home);
	e->ev.run_id = str_put(&at, ev->run_id);
	e->ev.ds = str_put(&at, ev->ds);
	e->ev.interval_start = str_put(&at, ev->interval_start);
	e->ev.interval_end = str_put(&at, ev->interval_end);
	e->ev.run_dir = str_put(&at, ev->run_dir);
	e->ev.state = str_put(&at, ev->state);
	e->ev.out_dir = str_put(&at, ev->out_dir);
	e->ev.log_path = str_put(&at, ev->log_path);
	e->ev.reason = str_put(&at, ev->reason);
	return e;
}

void ade_observers_dispatch(void *arg, const struct ade_exec_event *ev)
{
	const struct ade_observers *o = arg;
	struct ade_observer_queue *q = o->q;

	if (q) {
		struct queued *e = copy_event(ev);
		pthread_mutex_lock(&q->mu);
		if (q->tail)
			q->tail->next = e;
		else
			q->head = e;
		q->tail = e;
		q->seq_in++;
		if (!q->unwoken++)
			q->unwoken_ns = ade_now_mono_ns();
		/*
		 * A run's end: the worker starts on its backlog now, while the
		 * synchronous observers that do not wait for it (the run's
		 * summary) do their part.
		 */
		if (ev->kind == ADE_EV_RUN_END) {
			pthread_cond_signal(&q->more);
			q->unwoken = 0;
		}
		pthread_mutex_unlock(&q->mu);
	}
	deliver(o, 0, ev);
}

int ade_observers_own(struct ade_observers *o, void (*free_fn)(void *p), void *p)
{
	if (o->n_owned >= ADE_OBSERVERS_MAX)
		return -1;
	o->owned[o->n_owned].free_fn = free_fn;
	o->owned[o->n_owned].p = p;
	o->n_owned++;
	return 0;
}

static void free_owned(struct ade_observers *o)
{
	for (int i = o->n_owned - 1; i >= 0; i--)
		o->owned[i].free_fn(o->owned[i].p);
	o->n_owned = 0;
}

/*
 * Queued events wait for the worker at most OBS_BATCH_NS, or until
 * OBS_BATCH_MAX of them are queued: a chain of short stages then wakes it
 * once per batch instead of once per stage.
 */
#define OBS_BATCH_NS (50 * 1000000LL)
#define OBS_BATCH_MAX 256

int64_t ade_observers_wake(void *arg)
{
	const struct ade_observers *o = arg;
	struct ade_observer_queue *q = o->q;
	int64_t left = -1;

	if (!q)
		return -1;
	pthread_mutex_lock(&q->mu);
	if (q->unwoken) {
		left = q->unwoken_ns + OBS_BATCH_NS - ade_now_mono_ns();
		if (left <= 0 || q->unwoken >= OBS_BATCH_MAX) {
			q->unwoken = 0;
			left = -1;
			pthread_cond_signal(&q->more);
		}
	}
	pthread_mutex_unlock(&q->mu);
	return left;
}

void ade_observers_close(struct ade_observers *o)
{
	struct ade_observer_queue *q = o->q;

	if (!q) {
		free_owned(o);
		return;
	}
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	pthread_cond_destroy(&q->caught_up);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->mu);
	free(q);
	o->q = NULL;
	free_owned(o);
}
