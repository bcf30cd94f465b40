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
 * later events: nothing they write (archives, summaries, metrics) depends
 * on what an asynchronous observer writes.  ade_observers_close waits for
 * the worker to finish the queue, so every event is written before ade
 * exits.
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
	} v[ADE_OBSERVERS_MAX];
	int n;
	struct ade_observer_queue *q; /* owned; made by the first async add */
};

/* Adds an observer; returns 0, or -1 when all ADE_OBSERVERS_MAX are taken. */
int ade_observers_add(struct ade_observers *o,
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

/* An ade_exec_opts.on_event callback; arg is a struct ade_observers. */
void ade_observers_dispatch(void *arg, const struct ade_exec_event *ev);

/*
 * Handles every queued event, stops the worker and frees the queue; call
 * after ade_exec_run and before freeing what the observers borrow.  Safe on
 * an ade_observers without async observers, and twice.
 */
void ade_observers_close(struct ade_observers *o);

#endif
