/*
 * The executor: runs the stages of one or more (pipeline, ds) runs as
 * child processes, as soon as their needs are met, up to `jobs` at once.
 *
 * Usage:
 *   1. ade_exec_new() with options and an open state.db;
 *   2. ade_exec_add() once per (pipeline, ds) to run, in the order to run
 *      them; at most max_active_runs are active at a time;
 *   3. ade_exec_run() runs everything and returns when every run ended or
 *      the process was interrupted (SIGINT or SIGTERM);
 *   4. ade_exec_free().
 *
 * Stages are started with posix_spawn (no shell), each in its own process
 * group, stdin from /dev/null and stdout/stderr into the attempt's log.
 * The loop sleeps in sigtimedwait() until a child exits, a signal arrives
 * or the next timer (a timeout, a kill grace, a retry delay) is due, so a
 * finished stage releases its dependents at once, without polling.
 */
#ifndef ADE_EXEC_H
#define ADE_EXEC_H

#include "pipeline.h"
#include "state.h"

struct ade_error;
struct ade_exec;

/*
 * What happened, for observers (OpenLineage events, run archives, metrics).
 * Every pointer is borrowed for the duration of the call.
 */
enum ade_exec_event_kind {
	ADE_EV_RUN_START,    /* a run was created or resumed */
	ADE_EV_STAGE_START,  /* an attempt was spawned */
	ADE_EV_STAGE_END,    /* an attempt ended (state success, failed or up_for_retry) */
	ADE_EV_RUN_END,      /* every stage decided; state success or failed */
};

struct ade_exec_event {
	enum ade_exec_event_kind kind;
	const struct ade_pipeline *pipeline;
	const char *home;
	const char *run_id;
	const char *ds;
	const char *interval_start, *interval_end;
	int run_number;
	const char *run_dir;
	const char *state;          /* run or attempt state */
	int64_t start_us, end_us;   /* wall clock; end_us 0 for starts */
	/* Stage events only. */
	const struct ade_stage_def *stage;
	int attempt;
	const char *out_dir;        /* published output (success), else NULL */
	const char *log_path;
	int exit_code;              /* -1 when killed by a signal */
	int signal;
	const char *reason;         /* timeout, interrupted, ...; may be NULL */
	double wall_ms, user_ms, sys_ms;
	long maxrss_kb;
};

struct ade_exec_opts {
	const char *home;     /* absolute */
	int jobs;             /* stages at once, >= 1 */
	int max_active_runs;  /* runs at once, >= 1 */
	int progress;         /* 0 quiet, 1 a line per event, 2 overprinted tty line */
	/*
	 * Long-lived use (ade schedule).  tick is called on every turn of the
	 * loop and may ade_exec_add() runs; it returns 1 to keep the loop
	 * going when no run is active, 0 when it has nothing more to add, and
	 * sets *wake_ns to when it wants to be called again (-1: no wish).
	 * on_hup is called for SIGHUP instead of treating it as an interrupt.
	 */
	int (*tick)(struct ade_exec *ex, void *arg, int64_t *wake_ns);
	void (*on_hup)(void *arg);
	void *arg;
	/* The clock sensors' timeouts are measured on (default: real time). */
	int64_t (*now_us)(void *arg);
	/*
	 * Called for every event, in order, from the executor's loop (so it
	 * must not block for long: a stage's dependents wait for it).
	 */
	void (*on_event)(void *arg, const struct ade_exec_event *ev);
	/*
	 * Called with event_arg before the loop blocks (may be NULL), so that
	 * events handed to other threads are worth one wake-up per batch, not
	 * one each (waking a thread on another CPU is an interrupt to it).
	 * Returns how long the loop may sleep before it must call again (ns),
	 * or -1 for as long as it likes.
	 */
	int64_t (*on_wait)(void *arg);
	void *event_arg;
};

enum ade_add_mode {
	ADE_ADD_RESUME_OR_NEW, /* resume an unfinished run of that date, else a new run */
	ADE_ADD_NEW,           /* always a new run; an unfinished one is abandoned */
};

struct ade_exec;

/* The executor borrows st and the pipelines added; both must outlive it. */
struct ade_exec *ade_exec_new(struct ade_state *st, const struct ade_exec_opts *opts);
void ade_exec_free(struct ade_exec *ex);

/*
 * Queues a run of p for ds.  only (may be NULL) selects stages to run:
 * the rest are reused from the newest earlier run of that date where they
 * succeeded, or skipped when nothing selected needs them.
 * from_stage (may be NULL) selects that stage and everything downstream.
 */
int ade_exec_add(struct ade_exec *ex, struct ade_pipeline *p, const char *ds,
		 enum ade_add_mode mode, const char *only, const char *from_stage,
		 struct ade_error *err);

/*
 * Sets when a queued run's pipeline-level sensor started waiting
 * (microseconds since the epoch); by default the time it was added.  Its
 * timeout counts from there.  Applies to the run added last.
 */
void ade_exec_set_due(struct ade_exec *ex, int64_t due_us);

/* 1 if a run of (pipeline, ds) is queued, waiting or active in ex. */
int ade_exec_has(struct ade_exec *ex, const char *pipeline, const char *ds);
/* Runs ever added to ex. */
int ade_exec_queued_total(struct ade_exec *ex);
/* Runs of pipeline that are queued, waiting or active in ex. */
int ade_exec_unfinished(struct ade_exec *ex, const char *pipeline);

struct ade_exec_summary {
	int runs_ok;
	int runs_failed;
	int interrupted;
	int starts;       /* attempts started */
	int files_ahead;  /* of them, with files the files thread made ahead (prep_far in exec.c) */
};

/* Runs every queued run to its end.  Returns 0, or an error from state.db. */
int ade_exec_run(struct ade_exec *ex, struct ade_exec_summary *sum, struct ade_error *err);

#endif
