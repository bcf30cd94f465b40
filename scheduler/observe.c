/* Fan-out of executor events to several observers (observe.h). */
#include "observe.h"

int ade_observers_add(struct ade_observers *o,
		      void (*fn)(void *arg, const struct ade_exec_event *ev), void *arg)
{
	if (o->n >= ADE_OBSERVERS_MAX)
		return -1;
	o->v[o->n].fn = fn;
	o->v[o->n].arg = arg;
	o->n++;
	return 0;
}

void ade_observers_dispatch(void *arg, const struct ade_exec_event *ev)
{
	const struct ade_observers *o = arg;

	for (int i = 0; i < o->n; i++)
		o->v[i].fn(o->v[i].arg, ev);
}
