/*
 * Several observers of one executor: ade_exec_opts has a single on_event
 * callback, and run archives, OpenLineage events and metrics each want
 * every event.  Register each (fn, arg) pair, then pass
 * ade_observers_dispatch as on_event and the struct as event_arg; events
 * reach the observers in the order they were added.
 *
 * An observer added with ade_observers_add_async runs on a worker thread,
 * off the executor's critical path: per-stage work (OpenLineage events read
 * result.json files and append to a shared log) then overlaps the next
 * stage's process instead of delaying its start.  It sees every event, in
 * order, as a copy, possibly after the synchronous observers have seen
 * later events, with one exception: a synchronous observer added with
 * ade_observers_add_after_async sees a run's end (ADE_EV_RUN_END) only
 * after the worker has handled every event before it, so it may use what
 * an asynchronous observer gathered from the run's stages (the archive's
 * collected folders).  The synchronous observers added before it handle
 * the run's end while the worker catches up.  ade_observers_close
 * waits for the worker to finish the queue, so every event is written
 * before ade exits.
 */
#ifndef ADE_OBSERVE_H
#define ADE_OBSERVE_H

#include "exec.h"

#define ADE_OBSERVERS_MAX 8

struct ade_observer_queue; /* observe.c */

struct ade_observers {
	struct {
		void (*fn)(void *arg, const struct ade_exec_event *ev);
		void *arg; /* borrowed: must outlive the executor */
		int async;
		int after_async; /* waits for the worker at a run's end */
	} v[ADE_OBSERVERS_MAX];
	int n;
	struct ade_observer_queue *q; /* owned; made by the first async add */
	struct {
		void (*free_fn)(void *p);
		void *p;
	} owned[ADE_OBSERVERS_MAX]; /* freed by ade_observers_close, last first */
	int n_owned;
};

/* Adds an observer; returns 0, or -1 when all ADE_OBSERVERS_MAX are taken. */
int ade_observers_add(struct ade_observers *o,
		      void (*fn)(void *arg, const struct ade_exec_event *ev), void *arg);

/*
 * Adds a synchronous observer that gets a run's end only once the worker
 * has handled every earlier event; returns as ade_observers_add.
 */
int ade_observers_add_after_async(struct ade_observers *o,
				  void (*fn)(void *arg, const struct ade_exec_event *ev), void *arg);
/*
 * Adds an observer called on the worker thread (started here, with every
 * signal blocked so that signals reach the executor's thread).  fn must not
 * share unlocked state with the synchronous observers; the pipeline and
 * stage pointers of the events it gets stay valid because the executor's
 * pipelines outlive their runs.  Returns 0, or -1 when no slot is left or
 * the thread cannot start (the observer is then called synchronously).
 */
int ade_observers_add_async(struct ade_observers *o,
			    void (*fn)(void *arg, const struct ade_exec_event *ev), void *arg);

/*
 * An ade_exec_opts.on_event callback; arg is a struct ade_observers.  The
 * worker is not woken for each event: pass ade_observers_wake as on_wait.
 * Asynchronous observers thus see an event up to 50 ms after it happened:
 * the event's own times (start_us, end_us) say when.
 */
void ade_observers_dispatch(void *arg, const struct ade_exec_event *ev);

/*
 * An ade_exec_opts.on_wait callback: wakes the worker when queued events
 * are due (the oldest has waited 50 ms, or 256 are queued); returns the ns
 * until the next is due, or -1.
 */
int64_t ade_observers_wake(void *arg);

/*
 * Hands p to o: ade_observers_close calls free_fn(p) after the worker has
 * stopped (for state shared by observers, such as the archive's cache).
 * Returns 0, or -1 when ADE_OBSERVERS_MAX are held.
 */
int ade_observers_own(struct ade_observers *o, void (*free_fn)(void *p), void *p);

/*
 * Handles every queued event, stops the worker and frees the queue and
 * what o owns; call
 * after ade_exec_run and before freeing what the observers borrow.  Safe on
 * an ade_observers without async observers, and twice.
 */
void ade_observers_close(struct ade_observers *o);

#endif
