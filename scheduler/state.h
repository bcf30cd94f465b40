/*
 * state.db: the scheduler's memory of runs and stage attempts, in SQLite
 * (WAL, busy timeout), so that several ade processes can share a home and
 * a killed scheduler finds its unfinished runs.  One handle per process;
 * strings returned in structs are owned by the struct and freed with the
 * matching *_release function.
 */
#ifndef ADE_STATE_H
#define ADE_STATE_H

#include <sqlite3.h>
#include <stdint.h>

struct ade_error;

struct ade_state {
	sqlite3 *db;
	char *path;
	/* Statements the executor runs per stage, prepared once (owned). */
	sqlite3_stmt *cache[5];
};

/* Opens (creating and migrating) home/state.db. */
int ade_state_open(struct ade_state *st, const char *home, struct ade_error *err);
void ade_state_close(struct ade_state *st);

struct ade_run_row {
	char *run_id;
	char *pipeline;
	char *ds;
	int run_number;
	char *state;       /* queued, running, success, failed */
	char *started_at;
	char *ended_at;
	int owner_pid;
	int64_t owner_start; /* process start time of the owner, for liveness */
	char *pipeline_path;
	char *pipeline_hash;
	char *dir;         /* runs/<pipeline>/<ds>/run-<N> under home */
};
void ade_run_row_release(struct ade_run_row *r);

/*
 * Creates a run with the next run number for (pipeline, ds), owned by this
 * process.  Fills r (caller releases).
 */
int ade_state_run_create(struct ade_state *st, const char *pipeline, const char *ds,
			 const char *pipeline_path, const char *pipeline_hash,
			 const char *home, struct ade_run_row *r, struct ade_error *err);

/*
 * Finds the newest unfinished run of (pipeline, ds).  Returns 0 and fills
 * r, ADE_ENOTFOUND when there is none.
 */
int ade_state_run_unfinished(struct ade_state *st, const char *pipeline, const char *ds,
			     struct ade_run_row *r, struct ade_error *err);

/* The newest run of (pipeline, ds) whatever its state; ADE_ENOTFOUND if none. */
int ade_state_run_latest(struct ade_state *st, const char *pipeline, const char *ds,
			 struct ade_run_row *r, struct ade_error *err);

/* A run by id, by unique id prefix, or as "pipeline/ds/N". */
int ade_state_run_find(struct ade_state *st, const char *spec, struct ade_run_row *r,
		       struct ade_error *err);

/* Takes over a run for this process (resume). */
int ade_state_run_claim(struct ade_state *st, const char *run_id, struct ade_error *err);

int ade_state_run_set_state(struct ade_state *st, const char *run_id, const char *state,
			    int ended, struct ade_error *err);

/* Records why a run ended as it did (e.g. a sensor's timeout). */
int ade_state_run_note(struct ade_state *st, const char *run_id, const char *note,
		       struct ade_error *err);

/* Per-stage state inside a run, as of at_us (wall clock, us; 0: now). */
int ade_state_stage_set(struct ade_state *st, const char *run_id, const char *stage,
			const char *state, int attempts, const char *note, int64_t at_us,
			struct ade_error *err);
/* The state of a stage in a run, in a new string (caller frees); NULL if none. */
char *ade_state_stage_get(struct ade_state *st, const char *run_id, const char *stage,
			  int *attempts);

struct ade_attempt_row {
	int attempt;
	int pid;
	int64_t pid_start;
	char *state;
	char *log_path;
};

/*
 * Records an attempt as started at started_us (wall clock, us; 0: now):
 * the executor writes its changes in batches, after they happened.
 */
int ade_state_attempt_start(struct ade_state *st, const char *run_id, const char *stage,
			    int attempt, int pid, int64_t pid_start, int64_t started_us,
			    const char *log_path, struct ade_error *err);

struct ade_attempt_end {
	const char *state;   /* success, failed, up_for_retry */
	double wall_ms, user_ms, sys_ms;
	long maxrss_kb;
	int exit_code;       /* -1 when killed by a signal */
	int signal;          /* 0 when it exited */
	const char *reason;  /* timeout, interrupted, exit, signal, spawn; may be NULL */
	int64_t ended_us;    /* wall clock, us; 0: now */
};

int ade_state_attempt_end(struct ade_state *st, const char *run_id, const char *stage,
			  int attempt, const struct ade_attempt_end *e, struct ade_error *err);

/*
 * An attempt's start and end in one row written once: what
 * ade_state_attempt_start then ade_state_attempt_end leave, for an attempt
 * that started and ended between two of the executor's commits.
 */
int ade_state_attempt_record(struct ade_state *st, const char *run_id, const char *stage,
			     int attempt, int pid, int64_t pid_start, int64_t started_us,
			     const char *log_path, const struct ade_attempt_end *e,
			     struct ade_error *err);

/* The last attempt of a stage still marked running, if any (caller releases). */
int ade_state_attempt_running(struct ade_state *st, const char *run_id, const char *stage,
			      struct ade_attempt_row *a);
void ade_attempt_row_release(struct ade_attempt_row *a);

/* Start time of a process (clock ticks since boot), 0 if it is gone. */
int64_t ade_proc_start_time(int pid);

/*
 * The start time /proc would give a process started now, in the same
 * ticks, without reading /proc: a process started just after this call
 * has ade_proc_start_time() equal to it or one tick more.
 */
int64_t ade_proc_ticks_now(void);

/* 1 if a start time read from /proc matches one recorded as above. */
int ade_proc_same_start(int64_t recorded, int64_t now_start);

/*
 * Groups the writes between them into one transaction (one commit instead
 * of one per write); ade_state_commit() also ends it after an error.
 */
int ade_state_begin(struct ade_state *st, struct ade_error *err);
int ade_state_commit(struct ade_state *st, struct ade_error *err);

/* Runs one statement with no result rows. */
int ade_state_exec(struct ade_state *st, const char *sql, struct ade_error *err);

#endif
