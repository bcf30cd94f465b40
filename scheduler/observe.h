/*
 * Several observers of one executor: ade_exec_opts has a single on_event
 * callback, and run archives, OpenLineage events and metrics each want
 * every event.  Register each (fn, arg) pair, then pass
 * ade_observers_dispatch as on_event and the struct as event_arg; events
 * reach the observers in the order they were added.
 */
#ifndef ADE_OBSERVE_H
#define ADE_OBSERVE_H

#include "exec.h"

#define ADE_OBSERVERS_MAX 8

struct ade_observers {
	struct {
		void (*fn)(void *arg, const struct ade_exec_event *ev);
		void *arg; /* borrowed: must outlive the executor */
	} v[ADE_OBSERVERS_MAX];
	int n;
};

/* Adds an observer; returns 0, or -1 when all ADE_OBSERVERS_MAX are taken. */
int ade_observers_add(struct ade_observers *o,
		      void (*fn)(void *arg, const struct ade_exec_event *ev), void *arg);

/* An ade_exec_opts.on_event callback; arg is a struct ade_observers. */
void ade_observers_dispatch(void *arg, const struct ade_exec_event *ev);

#endif
