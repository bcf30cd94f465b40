/*
 * The executor; see exec.h.  The plan (which stage may start) and the
 * runner (spawn, reap, kill) live in one loop because both are small; the
 * plan's only input is the stage states, so it is recomputed after every
 * event rather than maintained incrementally.
 */
#include "exec.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum sstate {
	S_QUEUED,
	S_READY,
	S_RUNNING,
	S_RETRY_WAIT, /* up_for_retry */
	S_SUCCESS,
	S_FAILED,
	S_UPSTREAM_FAILED,
	S_SKIPPED,
};

static const char *sstate_name[] = {"queued",  "queued", "running",         "up_for_retry",
				    "success", "failed", "upstream_failed", "skipped"};

/*
 * Where a stage's next attempt's files are (prepare_files()): not made,
 * queued for this thread (prep_ahead), handed to the files thread
 * (prep_far) and being made there, or made.  HANDED and BUSY, and the
 * step out of them, are read and written under the files thread's mutex.
 */
enum { PREP_NONE, PREP_QUEUED, PREP_HANDED, PREP_BUSY, PREP_DONE };

static int terminal(enum sstate s)
{
	return s >= S_SUCCESS;
}

struct stage_rt {
	enum sstate state;
	int64_t start_us;    /* wall clock of the current attempt's start */
	int attempt;      /* number of the current or last attempt */
	int tries;        /* attempts made by this process, against `retries` */
	pid_t pid;
	int64_t start_ns;
	int64_t deadline_ns; /* timeout; 0 = none */
	int64_t kill_ns;     /* SIGKILL due after SIGTERM; 0 = none */
	int64_t retry_ns;    /* when up_for_retry becomes ready */
	const char *reason;  /* why it is being stopped: timeout, interrupted */
	char *dir;           /* run_dir/<stage> */
	char *reuse_dir;     /* a published output of an earlier run, when reused */
	int selected;
	/*
	 * Files of the next attempt made ahead, while the stages it needs still
	 * run, so that starting it after they end is little more than a spawn.
	 */
	int prep;           /* PREP_* */
	int far;            /* handed to the files thread, not yet taken back (this thread's) */
	int prep_logfd;
	/* With the files, the argv and environment of the attempt (may be NULL). */
	char **prep_argv, **prep_envp, **prep_owned;
	int prep_n_owned;
	/* A stage sensor (wait_for) polling: ready, but not in the queue. */
	int sensing;
	int64_t sensor_since_us; /* wall clock, when it first found no file */
	/* db_commit's bookkeeping: the latest OP_STAGE of this stage in the batch. */
	int64_t commit_gen;
	int commit_op;
	/* ... and its latest OP_ATTEMPT_START, which its end may join. */
	int64_t start_gen;
	int start_op;
};

/* The run-wide entries of a stage's environment (run_rt.envc), in the contract's order. */
enum {
	ENVC_PIPELINE, ENVC_DS, ENVC_ISTART, ENVC_IEND, ENVC_RUN_ID, ENVC_BATCH, ENVC_HOME,
	ENVC_WAREHOUSE, ENVC_RUN_DIR, ENVC_PIPELINE_FILE, ENVC_SOURCE, ENVC_N
};

struct run_rt {
	struct ade_pipeline *p;
	struct ade_run_row row;
	char ds[11], ds_nodash[9], istart[21], iend[21];
	/*
	 * The run folder, open while the run is active: a stage's files are
	 * made and published relative to it, two path components instead of
	 * eight or more for every mkdir, open and rename (-1: closed).
	 */
	int dirfd;
	/*
	 * What every stage's environment shares, made at the first stage
	 * (envc_ready): our environment without the contract's names, and the
	 * contract's run-wide NAME=VALUE strings (owned; NULL where unset).
	 */
	int envc_ready;
	char **env_inherit; /* owned array of borrowed environ strings, NULL-terminated */
	int n_env_inherit;
	char *envc[ENVC_N];
	struct stage_rt *st;
	int *dep_off;        /* dependents of stage i: deps[dep_off[i] .. dep_off[i+1]) */
	int *deps;
	char *empty_config;  /* ADE_CONFIG of stages without `with:` */
	int n_done;
	int active;
	int finished;
	int activated;       /* taken out of the queue (active now or ended) */
	int prep_cursor;     /* prep_far: the next stage of p->order to look at */
	int64_t due_us;      /* wall clock: when a pipeline sensor starts counting */
	int64_t sensor_next_ns; /* mono: next check of the pipeline sensor */
	int64_t start_ns;
	int64_t start_us;    /* wall clock */
	/* What to do when activated. */
	enum ade_add_mode mode;
	char *only;
	char *from_stage;
};

/* A first-in first-out queue of stages (a run and a stage index). */
struct stage_fifo {
	struct stage_ref {
		struct run_rt *r;
		int i;
	} *v;
	int n, head, cap;
};

static void fifo_push(struct stage_fifo *q, struct run_rt *r, int i)
{
	if (q->head == q->n)
		q->head = q->n = 0;
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 64;
		q->v = ade_xrealloc(q->v, sizeof(*q->v) * (size_t)q->cap);
	}
	q->v[q->n].r = r;
	q->v[q->n].i = i;
	q->n++;
}

/* The oldest entry into *out; 0 when the queue is empty. */
static int fifo_pop(struct stage_fifo *q, struct stage_ref *out)
{
	while (q->head < q->n) {
		*out = q->v[q->head++];
		if (out->r)
			return 1;
	}
	return 0;
}

/* Takes stage i of run r out of the queue (a hole fifo_pop skips). */
static void fifo_forget(struct stage_fifo *q, const struct run_rt *r, int i)
{
	for (int k = q->head; k < q->n; k++)
		if (q->v[k].r == r && q->v[k].i == i)
			q->v[k].r = NULL;
}

/*
 * dir/attempt-N<suffix> in a new string: several a stage, so without
 * printf (ade_xconcat).
 */
static char *attempt_path(const char *dir, int attempt, const char *suffix)
{
	char num[16];

	snprintf(num, sizeof(num), "%d", attempt);
	return ade_xconcat(dir, "/attempt-", num, suffix, NULL);
}

/*
 * stage/attempt-N<suffix>, relative to the run folder (run_rt.dirfd), in
 * out; stage names are at most 64 characters (the loader checks them).
 */
static const char *rel_attempt(char out[128], const char *stage, int attempt, const char *suffix)
{
	snprintf(out, 128, "%s/attempt-%d%s", stage, attempt, suffix);
	return out;
}

/* The sooner of two delays in ns, where -1 is none. */
static int64_t earlier(int64_t a, int64_t b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

/*
 * A thread of the executor's that this thread hands work to and wakes
 * (the helper, the files thread): side_start, side_wake, side_stop.
 */
struct side {
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the thread: work was handed over, or stop */
	pthread_cond_t done; /* this thread: handed-over work is done */
	int stop;
	int unwoken; /* work handed over since the last wake-up (this thread's) */
};

struct ade_exec {
	struct ade_state *state;
	struct ade_exec_opts o;
	struct run_rt **runs;
	int n_runs;
	int n_running; /* stage processes alive */
	int interrupted;
	/*
	 * state.db writes wait in this queue and are committed in one
	 * transaction after the stages that became ready were started, so the
	 * commit overlaps the new stages' exec instead of delaying them.
	 */
	struct db_op {
		enum { OP_NONE, OP_STAGE, OP_ATTEMPT_START, OP_ATTEMPT_END, OP_ATTEMPT_FULL } kind;
		struct run_rt *r;
		int i;
		int attempt;
		const char *state;   /* static string */
		char *note;          /* owned */
		int64_t at_us;       /* when it happened (wall clock): written later */
		int pid;
		int64_t pid_start;   /* ade_proc_ticks_now() before the spawn */
		struct ade_attempt_end end;
	} *ops;
	int n_ops, ops_cap;
	/*
	 * The helper thread writes the grouped state.db batch (and folds the
	 * WAL when a run ends) beside the stages: a commit of 50 ms worth of
	 * changes is too long to keep this thread from reaping.  It is woken
	 * once per batch, not per stage: a wake-up crosses CPUs, and on a
	 * virtual machine that costs more than the work it would hand over.
	 */
	struct helper {
		struct side s; /* wake: a batch, a checkpoint or stop; done: they finished */
		struct db_op *batch; /* handed over, the helper's until committed */
		int n_batch, committing;
		int checkpoint; /* a run ended: fold the WAL into state.db beside the observers */
		struct db_op *spare; /* the last batch's array, for reuse */
		int spare_cap;
	} h;
	/*
	 * The files thread makes the files of stages ahead of their start
	 * (prep_far).  Not the helper: the executor waits for it when a stage
	 * it is making is due, so it runs at the stages' priority, where the
	 * helper runs in SCHED_IDLE and, on a machine whose CPUs are all
	 * busy, waited seconds for a turn.
	 */
	struct filer {
		struct side s; /* wake: stages were handed over, or stop; done: a stage's files are made */
		struct stage_fifo preps; /* stages whose files it makes (PREP_HANDED) */
	} f;
	int far_out; /* stages handed to the files thread and not yet taken back */
	int64_t last_commit_ns; /* monotonic time of the last db_commit */
	int64_t commit_gen;     /* counts db_commit calls */
	sigset_t child_defs;    /* dispositions a stage gets back at default */
	int devnull;            /* a stage's stdin; opened once per ade_exec_run */
	int vfork_shares;       /* -1 unknown, 1 vfork shares memory, 0 it is a fork */
	/* Stages whose needs allow them to start, in the order they became ready. */
	struct stage_fifo ready;
	/* Stages whose next attempt's files are to be made ahead (prep_ahead). */
	struct stage_fifo preps;
	/* Stage processes this executor started and has not reaped (find_pid). */
	struct alive {
		pid_t pid;
		struct run_rt *r;
		int i;
	} *alive;
	int n_alive, alive_cap;
	int64_t t0;
	int tty_dirty;
	int64_t say_since_ns; /* when the oldest unwritten progress line was put; 0: none */
	int timed;            /* a stage may have a timer: timers() must look */
	struct ade_exec_summary sum;
};

static int64_t sensor_clock(struct ade_exec *ex);
static int build_exec(struct ade_exec *ex, struct run_rt *r, int i, int needs_done,
		      char ***argv_out, char ***envp_out, char ***owned, int *n_owned,
		      struct ade_error *err);
static void free_exec(char **argv, char **envp, char **owned, int n_owned);
static int run_env(struct ade_exec *ex, struct run_rt *r, struct ade_error *err);

struct ade_exec *ade_exec_new(struct ade_state *st, const struct ade_exec_opts *opts)
{
	struct ade_exec *ex = ade_xcalloc(1, sizeof(*ex));

	ex->state = st;
	ex->o = *opts;
	if (ex->o.jobs < 1)
		ex->o.jobs = 1;
	if (ex->o.max_active_runs < 1)
		ex->o.max_active_runs = 1;
	return ex;
}

void ade_exec_free(struct ade_exec *ex)
{
	if (!ex)
		return;
	for (int i = 0; i < ex->n_runs; i++) {
		struct run_rt *r = ex->runs[i];
		if (r->st) {
			for (int j = 0; j < r->p->n_stages; j++) {
				struct stage_rt *t = &r->st[j];
				free(t->dir);
				free(t->reuse_dir);
				free_exec(t->prep_argv, t->prep_envp, t->prep_owned, t->prep_n_owned);
			}
		}
		if (r->dirfd >= 0)
			close(r->dirfd);
		free(r->env_inherit);
		for (int k = 0; k < ENVC_N; k++)
			free(r->envc[k]);
		free(r->st);
		free(r->dep_off);
		free(r->deps);
		free(r->empty_config);
		free(r->only);
		free(r->from_stage);
		ade_run_row_release(&r->row);
		free(r);
	}
	free(ex->runs);
	free(ex->ready.v);
	free(ex->f.preps.v);
	for (int k = 0; k < ex->n_ops; k++)
		free(ex->ops[k].note);
	free(ex->ops);
	free(ex->preps.v);
	free(ex->h.spare);
	free(ex->alive);
	free(ex);
}

int ade_exec_add(struct ade_exec *ex, struct ade_pipeline *p, const char *ds,
		 enum ade_add_mode mode, const char *only, const char *from_stage,
		 struct ade_error *err)
{
	int32_t days;
	struct run_rt *r;

	if (ade_date_parse(ds, &days, err))
		return ADE_EINVAL;
	if (only && !ade_pipeline_stage(p, only))
		return ade_error_set(err, ADE_EINVAL, "pipeline '%s' has no stage '%s'", p->name, only);
	if (from_stage && !ade_pipeline_stage(p, from_stage))
		return ade_error_set(err, ADE_EINVAL, "pipeline '%s' has no stage '%s'", p->name,
				     from_stage);
	r = ade_xcalloc(1, sizeof(*r));
	r->p = p;
	r->dirfd = -1;
	ade_date_format(days, r->ds);
	ade_date_format_nodash(days, r->ds_nodash);
	ade_date_interval(days, r->istart, r->iend);
	r->mode = mode;
	r->only = only ? ade_xstrdup(only) : NULL;
	r->from_stage = from_stage ? ade_xstrdup(from_stage) : NULL;
	r->dep_off = ade_xcalloc((size_t)p->n_stages + 1, sizeof(int));
	int n_edges = 0;
	for (int i = 0; i < p->n_stages; i++)
		for (int j = 0; j < p->stages[i].n_needs; j++) {
			r->dep_off[p->stages[i].needs[j] + 1]++;
			n_edges++;
		}
	for (int i = 0; i < p->n_stages; i++)
		r->dep_off[i + 1] += r->dep_off[i];
	r->deps = ade_xcalloc((size_t)n_edges + 1, sizeof(int));
	int *fill = ade_xcalloc((size_t)p->n_stages, sizeof(int));
	for (int i = 0; i < p->n_stages; i++)
		for (int j = 0; j < p->stages[i].n_needs; j++) {
			int u = p->stages[i].needs[j];
			r->deps[r->dep_off[u] + fill[u]++] = i;
		}
	free(fill);
	r->due_us = sensor_clock(ex);
	ex->runs = ade_xrealloc(ex->runs, sizeof(*ex->runs) * (size_t)(ex->n_runs + 1));
	ex->runs[ex->n_runs++] = r;
	return 0;
}

void ade_exec_set_due(struct ade_exec *ex, int64_t due_us)
{
	if (ex->n_runs)
		ex->runs[ex->n_runs - 1]->due_us = due_us;
}

int ade_exec_has(struct ade_exec *ex, const char *pipeline, const char *ds)
{
	for (int k = 0; k < ex->n_runs; k++) {
		struct run_rt *r = ex->runs[k];
		if (!r->finished && !strcmp(r->p->name, pipeline) && !strcmp(r->ds, ds))
			return 1;
	}
	return 0;
}

int ade_exec_queued_total(struct ade_exec *ex)
{
	return ex->n_runs;
}

int ade_exec_unfinished(struct ade_exec *ex, const char *pipeline)
{
	int n = 0;

	for (int k = 0; k < ex->n_runs; k++)
		if (!ex->runs[k]->finished && !strcmp(ex->runs[k]->p->name, pipeline))
			n++;
	return n;
}

/*
 * Renders a sensor's path for a run and reports whether the file exists.
 * Relative paths are relative to the pipeline file's directory.
 */
static int sensor_ready(struct run_rt *r, const struct ade_sensor *w, const char *home,
			char **path_out)
{
	struct ade_template_vars v = {
		.ds = r->ds, .ds_nodash = r->ds_nodash, .interval_start = r->istart,
		.interval_end = r->iend, .run_id = r->row.run_id ? r->row.run_id : "",
		.batch = NULL, .home = home, .params = r->p->params,
	};
	char *path = NULL;

	if (ade_template_render(w->path, &v, &path, NULL))
		path = ade_xstrdup(w->path);
	if (path[0] != '/') {
		char *abs = ade_xasprintf("%s/%s", r->p->dir, path);
		free(path);
		path = abs;
	}
	int ok = ade_fs_exists(path);
	if (path_out)
		*path_out = path;
	else
		free(path);
	return ok;
}

/* ---- events ------------------------------------------------------------ */

static void event_base(struct ade_exec *ex, struct run_rt *r, enum ade_exec_event_kind kind,
		       struct ade_exec_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->pipeline = r->p;
	ev->home = ex->o.home;
	ev->run_id = r->row.run_id;
	ev->ds = r->ds;
	ev->interval_start = r->istart;
	ev->interval_end = r->iend;
	ev->run_number = r->row.run_number;
	ev->run_dir = r->row.dir;
	ev->start_us = r->start_us;
	ev->exit_code = -1;
}

/* ---- output ------------------------------------------------------------ */

static void clear_tty(struct ade_exec *ex)
{
	if (ex->tty_dirty) {
		fputs("\r\033[K", stdout);
		ex->tty_dirty = 0;
	}
}

static void say(struct ade_exec *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line per event; on a terminal, events overprint one status line. */
static void say(struct ade_exec *ex, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!ex->o.progress)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (ex->o.progress == 2) {
		clear_tty(ex);
		fputs(line, stdout);
		ex->tty_dirty = 1;
		fflush(stdout);
	} else {
		/*
		 * Written out before the loop waits, at most SAY_FLUSH_NS late
		 * (say_flush): a write per event was two system calls a stage
		 * on the path from one stage's start to the next one's.
		 */
		puts(line);
		if (!ex->say_since_ns)
			ex->say_since_ns = ade_now_mono_ns();
	}
}

#define SAY_FLUSH_NS (100 * 1000000LL)

/* Writes pending progress lines when due; returns ns until they are (-1: none). */
static int64_t say_flush(struct ade_exec *ex, int now_anyway)
{
	if (!ex->say_since_ns)
		return -1;
	int64_t left = ex->say_since_ns + SAY_FLUSH_NS - ade_now_mono_ns();
	if (left > 0 && !now_anyway)
		return left;
	fflush(stdout);
	ex->say_since_ns = 0;
	return -1;
}

/* Printed above the status line, never overprinted. */
static void announce(struct ade_exec *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void announce(struct ade_exec *ex, const char *fmt, ...)
{
	va_list ap;

	if (!ex->o.progress)
		return;
	clear_tty(ex);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	ex->say_since_ns = 0;
}

static void print_log_tail(struct ade_exec *ex, const char *path, int lines)
{
	char *text = NULL;
	size_t len = 0;

	if (!ex->o.progress || ade_fs_read_all(path, 64u << 20, &text, &len, NULL))
		return;
	const char *p = text + len;
	int seen = 0;
	if (p > text && p[-1] == '\n')
		p--;
	while (p > text && seen < lines) {
		p--;
		if (*p == '\n')
			seen++;
	}
	if (*p == '\n')
		p++;
	clear_tty(ex);
	if (p < text + len) {
		printf("  last lines of %s:\n", path);
		for (const char *q = p; q < text + len;) {
			const char *nl = memchr(q, '\n', (size_t)(text + len - q));
			int n = nl ? (int)(nl - q) : (int)(text + len - q);
			printf("  | %.*s\n", n, q);
			q += n + 1;
		}
	} else {
		printf("  (the log %s is empty)\n", path);
	}
	free(text);
	fflush(stdout);
}

/* ---- state changes ----------------------------------------------------- */

static struct db_op *push_op(struct ade_exec *ex, int kind, struct run_rt *r, int i)
{
	if (ex->n_ops == ex->ops_cap) {
		ex->ops_cap = ex->ops_cap ? 2 * ex->ops_cap : 64;
		ex->ops = ade_xrealloc(ex->ops, sizeof(*ex->ops) * (size_t)ex->ops_cap);
	}
	struct db_op *op = &ex->ops[ex->n_ops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->r = r;
	op->i = i;
	return op;
}

/*
 * A stage goes through several states in one batch (ready, running,
 * success): only its last row matters.  Later ops win; an earlier note
 * survives a later op without one, as the UPDATE's coalesce would have
 * kept it.  Runs in the main thread, which owns the stages' bookkeeping.
 */
static void db_collapse(struct ade_exec *ex)
{
	ex->commit_gen++;
	for (int k = ex->n_ops - 1; k >= 0; k--) {
		struct db_op *op = &ex->ops[k];
		struct stage_rt *t = &op->r->st[op->i];
		if (op->kind != OP_STAGE)
			continue;
		if (t->commit_gen != ex->commit_gen) {
			t->commit_gen = ex->commit_gen;
			t->commit_op = k;
			continue;
		}
		struct db_op *kept = &ex->ops[t->commit_op];
		if (!kept->note && op->note) {
			kept->note = op->note;
			op->note = NULL;
		}
		op->kind = OP_NONE;
	}
	/*
	 * An attempt that started and ended within the batch is one INSERT
	 * of the whole row instead of an INSERT and an UPDATE: most stages
	 * of a chain of short ones.
	 */
	for (int k = 0; k < ex->n_ops; k++) {
		struct db_op *op = &ex->ops[k];
		struct stage_rt *t = &op->r->st[op->i];
		if (op->kind == OP_ATTEMPT_START) {
			t->start_gen = ex->commit_gen;
			t->start_op = k;
		} else if (op->kind == OP_ATTEMPT_END && t->start_gen == ex->commit_gen &&
			   ex->ops[t->start_op].attempt == op->attempt) {
			struct db_op *start = &ex->ops[t->start_op];
			start->kind = OP_ATTEMPT_FULL;
			start->end = op->end;
			op->kind = OP_NONE;
			t->start_gen = 0;
		}
	}
}

/*
 * Writes ops in one transaction and frees their notes.  Reads only what
 * does not change while a run is active (run ids, stage names and
 * folders), so the helper may run it.
 */
static void db_write(struct ade_state *state, struct db_op *ops, int n)
{
	struct ade_error err;

	if (ade_state_begin(state, &err))
		ade_log_warn("%s", err.msg);
	for (int k = 0; k < n; k++) {
		struct db_op *op = &ops[k];
		const char *run_id = op->r->row.run_id;
		const char *stage = op->r->p->stages[op->i].name;
		int rc = 0;
		switch (op->kind) {
		case OP_NONE:
			break;
		case OP_STAGE:
			rc = ade_state_stage_set(state, run_id, stage, op->state, op->attempt,
						 op->note, op->at_us, &err);
			break;
		case OP_ATTEMPT_START: {
			char *log = attempt_path(op->r->st[op->i].dir, op->attempt, ".log");
			rc = ade_state_attempt_start(state, run_id, stage, op->attempt, op->pid,
						     op->pid_start, op->at_us, log, &err);
			free(log);
			break;
		}
		case OP_ATTEMPT_END:
			rc = ade_state_attempt_end(state, run_id, stage, op->attempt, &op->end, &err);
			break;
		case OP_ATTEMPT_FULL: {
			char *log = attempt_path(op->r->st[op->i].dir, op->attempt, ".log");
			rc = ade_state_attempt_record(state, run_id, stage, op->attempt, op->pid,
						      op->pid_start, op->at_us, log, &op->end, &err);
			free(log);
			break;
		}
		}
		if (rc)
			ade_log_warn("%s", err.msg);
		free(op->note);
		op->note = NULL;
	}
	if (ade_state_commit(state, &err))
		ade_log_warn("%s", err.msg);
}

static void side_wake(struct side *s);

/* Waits until the helper has written the batch it was handed. */
static void db_wait(struct ade_exec *ex)
{
	if (!ex->h.s.running)
		return;
	side_wake(&ex->h.s);
	pthread_mutex_lock(&ex->h.s.mu);
	while (ex->h.batch || ex->h.checkpoint)
		pthread_cond_wait(&ex->h.s.done, &ex->h.s.mu);
	pthread_mutex_unlock(&ex->h.s.mu);
}

/*
 * Writes the queued state changes now, after the helper's batch: for
 * this thread's own reads and writes of state.db, which follow at once.
 */
static void db_commit(struct ade_exec *ex)
{
	db_wait(ex);
	if (!ex->n_ops)
		return;
	db_collapse(ex);
	db_write(ex->state, ex->ops, ex->n_ops);
	ex->n_ops = 0;
	ex->last_commit_ns = ade_now_mono_ns();
}

/*
 * Hands the queued changes to the helper.  While it still writes the last
 * batch they stay queued for the next turn: this thread never waits here.
 */
static void db_hand_over(struct ade_exec *ex)
{
	struct helper *h = &ex->h;

	if (!h->s.running) {
		db_commit(ex);
		return;
	}
	pthread_mutex_lock(&h->s.mu);
	if (!h->batch) {
		db_collapse(ex);
		struct db_op *spare = h->spare;
		int spare_cap = h->spare_cap;
		h->batch = ex->ops;
		h->n_batch = ex->n_ops;
		h->spare = NULL;
		h->spare_cap = ex->ops_cap;
		ex->ops = spare;
		ex->ops_cap = spare_cap;
		ex->n_ops = 0;
		ex->last_commit_ns = ade_now_mono_ns();
		h->s.unwoken = 1;
	}
	pthread_mutex_unlock(&h->s.mu);
}

/*
 * state.db is written in groups while stages run: one transaction at most
 * every COMMIT_GROUP_NS, and at once when nothing runs.  A commit per stage
 * cost more than make's whole bookkeeping for a stage, and what a crash can
 * lose in between is what resume recovers from the file system anyway
 * (published out/ folders, attempt logs: docs/scheduler.md).  Every commit
 * appends each page it changed to the WAL again: groups of 50 ms instead
 * of 20 made a 1000-stage run's WAL 1.3 MB instead of 2.2, which the
 * checkpoint at the run's end syncs and copies.  Returns how
 * long the loop may sleep before the queued changes are due, or -1.
 */
#define COMMIT_GROUP_NS (50 * 1000000LL)

static int64_t group_commit(struct ade_exec *ex)
{
	if (!ex->n_ops)
		return -1;
	int64_t now = ade_now_mono_ns();
	if (ex->n_running == 0 || now - ex->last_commit_ns >= COMMIT_GROUP_NS) {
		db_hand_over(ex);
		/*
		 * Still queued behind a batch being written: look again soon,
		 * but not every millisecond while stages run.  Each of those
		 * wake-ups took the CPU from the running stage; a stage's end
		 * brings the loop round anyway.
		 */
		if (!ex->n_ops)
			return -1;
		return ex->n_running ? COMMIT_GROUP_NS / 4 : 1000000;
	}
	return ex->last_commit_ns + COMMIT_GROUP_NS - now;
}

static void discard_prep(struct ade_exec *ex, struct run_rt *r, int i);
static void evaluate(struct ade_exec *ex, struct run_rt *r, int i);

static void set_state(struct ade_exec *ex, struct run_rt *r, int i, enum sstate s,
		      const char *note)
{
	struct stage_rt *t = &r->st[i];
	int now_terminal = !terminal(t->state) && terminal(s);

	if (now_terminal)
		r->n_done++;
	t->state = s;
	if (now_terminal)
		discard_prep(ex, r, i);
	struct db_op *op = push_op(ex, OP_STAGE, r, i);
	op->state = sstate_name[s];
	op->attempt = t->attempt;
	op->at_us = ade_now_wall_us();
	op->note = note ? ade_xstrdup(note) : NULL;
	/* A decided stage may decide its dependents (ready, skipped, upstream_failed). */
	if (now_terminal && r->active)
		for (int k = r->dep_off[i]; k < r->dep_off[i + 1]; k++)
			if (r->st[r->deps[k]].state == S_QUEUED)
				evaluate(ex, r, r->deps[k]);
}

/* ---- activation: create or resume a run -------------------------------- */

/* A zombie (state Z or X in /proc/PID/stat) runs nothing: it counts as dead. */
static int pid_zombie(int pid)
{
	char path[64], buf[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "re")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static int pid_alive(int pid, int64_t start)
{
	if (pid <= 0)
		return 0;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	/*
	 * A stage orphaned by a killed scheduler is reparented to init; after
	 * recover_running's SIGKILL it stays a zombie until init reaps it, and
	 * waiting for that made every resume sleep the full 2 s bound.
	 */
	if (pid_zombie(pid))
		return 0;
	int64_t now_start = ade_proc_start_time(pid);
	return now_start != 0 && (start == 0 || ade_proc_same_start(start, now_start));
}

static char *find_reusable(struct ade_exec *ex, struct run_rt *r, const char *stage)
{
	sqlite3_stmt *s = NULL;
	char *dir = NULL;

	sqlite3_prepare_v2(ex->state->db,
			   "SELECT r.dir FROM stages s JOIN runs r USING(run_id) WHERE r.pipeline=? "
			   "AND r.ds=? AND s.stage=? AND s.state='success' AND r.run_id<>? "
			   "ORDER BY r.run_number DESC",
			   -1, &s, NULL);
	sqlite3_bind_text(s, 1, r->p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->ds, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->row.run_id ? r->row.run_id : "", -1, SQLITE_STATIC);
	while (!dir && sqlite3_step(s) == SQLITE_ROW) {
		char *out = ade_xasprintf("%s/%s/out", (const char *)sqlite3_column_text(s, 0), stage);
		if (ade_fs_exists(out))
			dir = out;
		else
			free(out);
	}
	sqlite3_finalize(s);
	return dir;
}

/* Marks which stages this run executes (--only, --from-stage). */
static int select_stages(struct ade_exec *ex, struct run_rt *r, struct ade_error *err)
{
	struct ade_pipeline *p = r->p;
	int n = p->n_stages;

	for (int i = 0; i < n; i++)
		r->st[i].selected = !r->only && !r->from_stage;
	if (r->only)
		r->st[ade_pipeline_stage(p, r->only)->index].selected = 1;
	if (r->from_stage) {
		r->st[ade_pipeline_stage(p, r->from_stage)->index].selected = 1;
		/* Topological order: a stage's needs are decided before it. */
		for (int k = 0; k < n; k++) {
			int i = p->order[k];
			for (int j = 0; j < p->stages[i].n_needs; j++)
				if (r->st[p->stages[i].needs[j]].selected)
					r->st[i].selected = 1;
		}
	}
	if (!r->only && !r->from_stage)
		return 0;
	/* Unselected stages that a selected one needs are reused, others skipped. */
	char *needed = ade_xcalloc((size_t)n, 1);
	for (int k = n - 1; k >= 0; k--) {
		int i = p->order[k];
		if (!r->st[i].selected && !needed[i])
			continue;
		for (int j = 0; j < p->stages[i].n_needs; j++)
			if (!r->st[p->stages[i].needs[j]].selected)
				needed[p->stages[i].needs[j]] = 1;
	}
	int rc = 0;
	for (int i = 0; i < n && !rc; i++) {
		if (r->st[i].selected)
			continue;
		if (needed[i]) {
			r->st[i].reuse_dir = find_reusable(ex, r, p->stages[i].name);
			if (!r->st[i].reuse_dir)
				rc = ade_error_set(err, ADE_ENOTFOUND,
						   "stage '%s' has no successful output for %s to reuse; "
						   "run the pipeline for that date without --only/--from-stage first",
						   p->stages[i].name, r->ds);
		}
	}
	free(needed);
	return rc;
}

/*
 * A stage left 'running' by a scheduler that died: its process group may
 * still be alive (stages do not die with the scheduler).  Stop it so the
 * new attempt does not race it, and record the attempt as lost.
 */
static void recover_running(struct ade_exec *ex, struct run_rt *r, int i)
{
	struct ade_attempt_row a;
	const char *name = r->p->stages[i].name;

	if (ade_state_attempt_running(ex->state, r->row.run_id, name, &a))
		return;
	if (pid_alive(a.pid, a.pid_start)) {
		kill(-a.pid, SIGKILL);
		for (int k = 0; k < 200 && pid_alive(a.pid, a.pid_start); k++)
			usleep(10000);
	}
	struct ade_attempt_end e = {.state = "failed", .exit_code = -1,
				    .reason = "scheduler lost"};
	ade_state_attempt_end(ex->state, r->row.run_id, name, a.attempt, &e, NULL);
	/* The lost attempt's private output is never published: remove it. */
	char *tmp = attempt_path(r->st[i].dir, a.attempt, ".tmp");
	ade_fs_remove_tree(tmp, NULL);
	free(tmp);
	if (a.attempt > r->st[i].attempt)
		r->st[i].attempt = a.attempt;
	ade_attempt_row_release(&a);
}

/*
 * Kills every process group holding the file (dev, ino) open, other than
 * ade's own, and waits (up to 2 s) for them to go; returns the first such
 * process, or 0.
 */
static int kill_holders(dev_t dev, ino_t ino)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	int first = 0, pids[64], n = 0;

	if (!proc)
		return 0;
	while ((de = readdir(proc)) && n < 64) {
		int pid = atoi(de->d_name);
		if (pid <= 0 || pid == getpid())
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		DIR *fds = opendir(path);
		if (!fds)
			continue;
		struct dirent *fe;
		while ((fe = readdir(fds))) {
			char fp[96];
			struct stat sb;
			snprintf(fp, sizeof(fp), "/proc/%d/fd/%s", pid, fe->d_name);
			if (fe->d_name[0] != '.' && stat(fp, &sb) == 0 && sb.st_dev == dev &&
			    sb.st_ino == ino) {
				pids[n++] = pid;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	for (int k = 0; k < n; k++) {
		pid_t g = getpgid(pids[k]);
		if (g > 0 && g != getpgrp())
			kill(-g, SIGKILL);
		kill(pids[k], SIGKILL);
		if (!first)
			first = pids[k];
	}
	for (int k = 0; k < n; k++)
		for (int t = 0; t < 200 && pid_alive(pids[k], 0); t++)
			usleep(10000);
	return first;
}

/*
 * An attempt is recorded in state.db just after its process starts (the
 * commit overlaps the stage), so a scheduler killed in between leaves a
 * stage running that state.db does not know of.  Its log, made before the
 * spawn, gives it away: stop whatever still holds the log open and record
 * the attempt as lost, so the next attempt neither races it nor reuses its
 * number.
 */
static void recover_unrecorded(struct ade_exec *ex, struct run_rt *r, int i)
{
	const char *name = r->p->stages[i].name;
	struct stage_rt *t = &r->st[i];

	for (;;) {
		char *log = attempt_path(t->dir, t->attempt + 1, ".log");
		struct stat sb;
		if (stat(log, &sb) < 0) {
			free(log);
			return;
		}
		int pid = kill_holders(sb.st_dev, sb.st_ino);
		if (!pid && sb.st_size == 0) {
			/*
			 * Made ahead for a stage that never started (or one that
			 * died silently): nothing to keep, so the number is reused.
			 */
			free(log);
			return;
		}
		struct ade_attempt_end e = {.state = "failed", .exit_code = -1,
					    .reason = "scheduler lost"};
		ade_state_attempt_start(ex->state, r->row.run_id, name, t->attempt + 1, pid, 0, 0, log,
					NULL);
		ade_state_attempt_end(ex->state, r->row.run_id, name, t->attempt + 1, &e, NULL);
		free(log);
		char *tmp = attempt_path(t->dir, t->attempt + 1, ".tmp");
		ade_fs_remove_tree(tmp, NULL);
		free(tmp);
		t->attempt++;
	}
}

static int activate(struct ade_exec *ex, struct run_rt *r, struct ade_error *err)
{
	struct ade_pipeline *p = r->p;
	int rc, resumed = 0;

	r->st = ade_xcalloc((size_t)p->n_stages, sizeof(*r->st));
	rc = ade_state_run_unfinished(ex->state, p->name, r->ds, &r->row, err);
	if (rc == 0) {
		if (r->row.owner_pid != getpid() && pid_alive(r->row.owner_pid, r->row.owner_start)) {
			rc = ade_error_set(err, ADE_EBUSY,
					   "run %d of %s for %s is being run by ade pid %d",
					   r->row.run_number, p->name, r->ds, r->row.owner_pid);
			ade_run_row_release(&r->row);
			return rc;
		}
		if (r->mode == ADE_ADD_NEW || r->only || r->from_stage) {
			/* The old run is abandoned, not resumed: its outputs stay as they were. */
			ade_state_run_set_state(ex->state, r->row.run_id, "failed", 1, NULL);
			ade_run_row_release(&r->row);
		} else {
			if ((rc = ade_state_run_claim(ex->state, r->row.run_id, err)))
				return rc;
			resumed = 1;
		}
	} else if (rc != ADE_ENOTFOUND) {
		return rc;
	}
	if (!resumed) {
		rc = ade_state_run_create(ex->state, p->name, r->ds, p->path, p->hash, ex->o.home,
					  &r->row, err);
		if (rc)
			return rc;
	}
	/*
	 * A run folder this call creates holds no published output: its
	 * stages need no look on disk (a thousand stat calls on a long chain).
	 */
	char *parent = ade_fs_dirname(r->row.dir);
	rc = ade_fs_mkdirs(parent, err);
	free(parent);
	if (rc)
		return rc;
	int fresh = mkdir(r->row.dir, 0755) == 0;
	if (!fresh && (rc = ade_fs_mkdirs(r->row.dir, err)))
		return rc;
	r->dirfd = open(r->row.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", r->row.dir, strerror(errno));
	for (int i = 0; i < p->n_stages; i++)
		r->st[i].dir = ade_xconcat(r->row.dir, "/", p->stages[i].name, NULL);
	if ((rc = select_stages(ex, r, err))) {
		ade_state_run_set_state(ex->state, r->row.run_id, "failed", 1, NULL);
		return rc;
	}
	for (int i = 0; i < p->n_stages; i++) {
		struct stage_rt *t = &r->st[i];
		int attempts = 0;
		char *prev = resumed ? ade_state_stage_get(ex->state, r->row.run_id,
							   p->stages[i].name, &attempts)
				     : NULL;
		char *out = fresh ? NULL : ade_xconcat(t->dir, "/out", NULL);
		t->attempt = attempts;
		if (prev && !strcmp(prev, "running"))
			recover_running(ex, r, i);
		int published = out && ade_fs_exists(out);
		if (resumed && !published)
			recover_unrecorded(ex, r, i);
		if (published) {
			/* Published before the crash: the stage exited 0. */
			set_state(ex, r, i, S_SUCCESS, prev && strcmp(prev, "success")
							       ? "published before a scheduler crash"
							       : NULL);
		} else if (prev && (!strcmp(prev, "failed") || !strcmp(prev, "upstream_failed") ||
				    !strcmp(prev, "skipped"))) {
			set_state(ex, r, i,
				  !strcmp(prev, "failed")   ? S_FAILED
				  : !strcmp(prev, "skipped") ? S_SKIPPED
							     : S_UPSTREAM_FAILED,
				  NULL);
		} else if (!t->selected && t->reuse_dir) {
			char note[64];
			snprintf(note, sizeof(note), "reused");
			set_state(ex, r, i, S_SUCCESS, note);
		} else if (!t->selected) {
			set_state(ex, r, i, S_SKIPPED, "not selected");
		} else {
			set_state(ex, r, i, S_QUEUED, NULL);
		}
		free(prev);
		free(out);
	}
	/*
	 * Written again by every activation (a resume too) and derived from
	 * nothing: not worth two fsyncs at every run's start, like config.json.
	 */
	r->empty_config = ade_xasprintf("%s/empty-config.json", r->row.dir);
	int fd = open(r->empty_config, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "{}\n", 3) != 3) {
		rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", r->empty_config,
				   strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	r->active = 1;
	r->start_ns = ade_now_mono_ns();
	r->start_us = ade_now_wall_us();
	if (ex->o.on_event) {
		struct ade_exec_event ev;
		event_base(ex, r, ADE_EV_RUN_START, &ev);
		ev.state = resumed ? "resumed" : "running";
		ex->o.on_event(ex->o.event_arg, &ev);
	}
	announce(ex, "%s %s run %d%s: %s", p->name, r->ds, r->row.run_number,
		 resumed ? " (resumed)" : "", r->row.dir);
	for (int k = 0; k < p->n_stages; k++)
		if (r->st[p->order[k]].state == S_QUEUED)
			evaluate(ex, r, p->order[k]);
	return 0;
}

/* ---- starting a stage -------------------------------------------------- */

static char *env_entry(const char *name, const char *value)
{
	return ade_xconcat(name, "=", value ? value : "", NULL);
}

static int write_config(struct run_rt *r, struct ade_stage_def *d, const char *path,
			const struct ade_template_vars *v, struct ade_error *err)
{
	cJSON *cfg = ade_template_render_json(d->with, v, err);
	char *text;
	int fd, rc = 0;

	if (!cfg)
		return ADE_EINVAL;
	text = cJSON_PrintUnformatted(cfg);
	cJSON_Delete(cfg);
	/*
	 * Not fsynced: the file is derived from the pipeline and rewritten by
	 * every attempt, so losing it in a crash costs nothing.
	 */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(text);
	(void)r;
	return rc;
}

/*
 * Names of the stage contract that build_env sets; inherited values of
 * them (from an ade that runs ade, say) are dropped so a stage never sees
 * a stale one.  Other ADE_ variables (ADE_LOG, a user's own, the test
 * hooks ADE_TEST_*) pass through like any other variable: dropping every
 * ADE_* left no way to hand one to a stage, as `env:` refuses ADE_ names.
 */
static int contract_var(const char *e)
{
	static const char *names[] = {
		"ADE_PIPELINE=", "ADE_STAGE=", "ADE_DS=", "ADE_INTERVAL_START=",
		"ADE_INTERVAL_END=", "ADE_RUN_ID=", "ADE_ATTEMPT=", "ADE_BATCH=", "ADE_HOME=",
		"ADE_WAREHOUSE=", "ADE_OUT=", "ADE_CONFIG=", "ADE_CONFIG_POS=", "ADE_RUN_DIR=",
		"ADE_PIPELINE_FILE=", "ADE_SOURCE=", "ADE_IN_"};

	if (strncmp(e, "ADE_", 4))
		return 0;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (!strncmp(e, names[k], strlen(names[k])))
			return 1;
	return 0;
}

/*
 * The parts of the environment every stage of run r shares, made once: a
 * thousand stages each filtered ours and formatted a dozen NAME=VALUE
 * strings that were the same for all of them.  source: the rendered
 * `source:` (NULL: none).
 */
static void env_common(struct ade_exec *ex, struct run_rt *r, const char *source)
{
	size_t n_env = 0;

	for (char **e = environ; *e; e++)
		n_env++;
	r->env_inherit = ade_xcalloc(n_env + 1, sizeof(char *));
	for (char **e = environ; *e; e++)
		if (!contract_var(*e))
			r->env_inherit[r->n_env_inherit++] = *e;
	r->envc[ENVC_PIPELINE] = env_entry("ADE_PIPELINE", r->p->name);
	r->envc[ENVC_DS] = env_entry("ADE_DS", r->ds);
	r->envc[ENVC_ISTART] = env_entry("ADE_INTERVAL_START", r->istart);
	r->envc[ENVC_IEND] = env_entry("ADE_INTERVAL_END", r->iend);
	r->envc[ENVC_RUN_ID] = env_entry("ADE_RUN_ID", r->row.run_id);
	r->envc[ENVC_BATCH] = env_entry("ADE_BATCH", "");
	r->envc[ENVC_HOME] = env_entry("ADE_HOME", ex->o.home);
	r->envc[ENVC_WAREHOUSE] = ade_xconcat("ADE_WAREHOUSE=", ex->o.home, "/warehouse.db", NULL);
	r->envc[ENVC_RUN_DIR] = env_entry("ADE_RUN_DIR", r->row.dir);
	r->envc[ENVC_PIPELINE_FILE] = env_entry("ADE_PIPELINE_FILE", r->p->path);
	r->envc[ENVC_SOURCE] = source ? env_entry("ADE_SOURCE", source) : NULL;
	r->envc_ready = 1;
}

/*
 * Builds the child's environment: ours without the contract's names, the
 * stage's env:, then the contract.  The run-wide strings are borrowed from
 * r (env_common); the stage's own are returned in owned.
 */
static char **build_env(struct run_rt *r, int i, const char *out,
			const char *config, int needs_done, char ***owned, int *n_owned)
{
	struct ade_stage_def *d = &r->p->stages[i];
	char **envp;
	char **own;
	int k = 0;
	char attempt[16];

	envp = ade_xcalloc((size_t)r->n_env_inherit + 32 + (size_t)d->n_needs + (size_t)d->n_env,
			   sizeof(char *));
	own = ade_xcalloc(8 + (size_t)d->n_needs, sizeof(char *));
	size_t m = (size_t)r->n_env_inherit;
	memcpy(envp, r->env_inherit, m * sizeof(char *));
	for (int j = 0; j < d->n_env; j++)
		envp[m++] = d->env[j];
	snprintf(attempt, sizeof(attempt), "%d", r->st[i].attempt + 1); /* the next one */
#define ADD(name, value) (own[k] = env_entry(name, value), envp[m++] = own[k++])
#define RUNWIDE(x) (envp[m++] = r->envc[x])
	RUNWIDE(ENVC_PIPELINE);
	ADD("ADE_STAGE", d->name);
	RUNWIDE(ENVC_DS);
	RUNWIDE(ENVC_ISTART);
	RUNWIDE(ENVC_IEND);
	RUNWIDE(ENVC_RUN_ID);
	ADD("ADE_ATTEMPT", attempt);
	RUNWIDE(ENVC_BATCH);
	RUNWIDE(ENVC_HOME);
	RUNWIDE(ENVC_WAREHOUSE);
	ADD("ADE_OUT", out);
	ADD("ADE_CONFIG", config);
	if (d->with->child) {
		own[k] = ade_xconcat("ADE_CONFIG_POS=", r->st[i].dir, "/config.pos.json", NULL);
		envp[m++] = own[k++];
	}
	RUNWIDE(ENVC_RUN_DIR);
	RUNWIDE(ENVC_PIPELINE_FILE);
	if (r->envc[ENVC_SOURCE])
		RUNWIDE(ENVC_SOURCE);
	for (int j = 0; j < d->n_needs; j++) {
		int u = d->needs[j];
		/* needs_done: made ahead for an all_success stage, whose needs will all have succeeded. */
		if (!needs_done && r->st[u].state != S_SUCCESS)
			continue;
		struct ade_strbuf e = ADE_STRBUF_INIT;
		ade_strbuf_adds(&e, "ADE_IN_");
		for (const char *c = r->p->stages[u].name; *c; c++)
			ade_strbuf_addc(&e, *c == '-' ? '_' : (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c));
		ade_strbuf_addc(&e, '=');
		if (r->st[u].reuse_dir) {
			ade_strbuf_adds(&e, r->st[u].reuse_dir);
		} else {
			ade_strbuf_adds(&e, r->st[u].dir);
			ade_strbuf_adds(&e, "/out");
		}
		own[k] = ade_strbuf_detach(&e);
		envp[m++] = own[k++];
	}
#undef RUNWIDE
#undef ADD
	envp[m] = NULL;
	*owned = own;
	*n_owned = k;
	return envp;
}

static void finish_attempt(struct ade_exec *ex, struct run_rt *r, int i, int status,
			   const struct rusage *ru, int spawn_errno);

static char *config_path(struct run_rt *r, int i)
{
	if (!r->p->stages[i].with->child)
		return ade_xstrdup(r->empty_config);
	return ade_xconcat(r->st[i].dir, "/config.json", NULL);
}

/*
 * Makes the files of stage i's next attempt: its directory, the empty
 * private output directory, the config and the open log (prep_logfd),
 * relative to the run folder's descriptor.
 */
static int prepare_files(struct ade_exec *ex, struct run_rt *r, int i, struct ade_error *err)
{
	struct stage_rt *t = &r->st[i];
	struct ade_stage_def *d = &r->p->stages[i];
	struct ade_template_vars v = {
		.ds = r->ds, .ds_nodash = r->ds_nodash, .interval_start = r->istart,
		.interval_end = r->iend, .run_id = r->row.run_id, .batch = NULL,
		.home = ex->o.home, .params = r->p->params,
	};
	int attempt = t->attempt + 1, rc = 0;
	char rel_out[128], rel_log[128];

	rel_attempt(rel_out, d->name, attempt, ".tmp");
	rel_attempt(rel_log, d->name, attempt, ".log");
	/* A file in the way of the stage's folder shows up as ENOTDIR below. */
	if (mkdirat(r->dirfd, d->name, 0755) < 0 && errno != EEXIST)
		return ade_error_set(err, ADE_EIO, "cannot create '%s': %s", t->dir, strerror(errno));
	if (mkdirat(r->dirfd, rel_out, 0755) < 0) {
		/* Left by an attempt that was never recorded: never published, so not kept. */
		char *out = attempt_path(t->dir, attempt, ".tmp");
		ade_fs_remove_tree(out, NULL);
		if (mkdirat(r->dirfd, rel_out, 0755) < 0)
			rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", out, strerror(errno));
		free(out);
		if (rc)
			return rc;
	}
	if (d->with->child) {
		char *config = config_path(r, i);
		rc = write_config(r, d, config, &v, err);
		free(config);
		if (rc)
			return rc;
	}
	if (d->with->child && d->with_pos) {
		char *pos = ade_xasprintf("%s/config.pos.json", t->dir);
		rc = ade_json_write_file(pos, d->with_pos, 0, err);
		free(pos);
		if (rc)
			return rc;
	}
	t->prep_logfd = openat(r->dirfd, rel_log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
			       0644);
	if (t->prep_logfd < 0)
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s/attempt-%d.log': %s", t->dir,
				   attempt, strerror(errno));
	return rc;
}

/*
 * Takes a stage handed to the files thread back: withdrawn if it has not
 * started on it, waited for if it is making it.  t->prep is then NONE or
 * DONE, and this thread's again.
 */
static void far_settle(struct ade_exec *ex, struct run_rt *r, int i)
{
	struct filer *f = &ex->f;
	struct stage_rt *t = &r->st[i];

	if (!t->far)
		return;
	pthread_mutex_lock(&f->s.mu);
	if (t->prep == PREP_HANDED) {
		/* Out of its queue too: the files thread must not look at it again. */
		t->prep = PREP_NONE;
		fifo_forget(&f->preps, r, i);
	}
	while (t->prep == PREP_BUSY)
		pthread_cond_wait(&f->s.done, &f->s.mu);
	pthread_mutex_unlock(&f->s.mu);
	t->far = 0;
	ex->far_out--;
}

/*
 * Takes the files made ahead for stage i's next attempt: 1 when they are
 * made (prep_logfd is then the caller's), 0 when they are not (a pending
 * request is withdrawn).
 */
static int prep_take(struct ade_exec *ex, struct run_rt *r, int i)
{
	struct stage_rt *t = &r->st[i];

	far_settle(ex, r, i);
	int done = t->prep == PREP_DONE;

	t->prep = PREP_NONE;
	return done;
}

/*
 * Removes what prepare_files() made (or part of it) for stage i's next
 * attempt, which will not run with them.
 */
static void remove_prep_files(struct run_rt *r, int i)
{
	struct stage_rt *t = &r->st[i];
	char *out = attempt_path(t->dir, t->attempt + 1, ".tmp");
	char *log = attempt_path(t->dir, t->attempt + 1, ".log");

	if (t->prep_logfd >= 0)
		close(t->prep_logfd);
	t->prep_logfd = -1;
	unlink(log);
	ade_fs_remove_tree(out, NULL);
	if (t->attempt == 0) {
		/* Never ran: nothing of it is left (prepare_files made the folder). */
		char *config = ade_xconcat(t->dir, "/config.json", NULL);
		char *pos = ade_xconcat(t->dir, "/config.pos.json", NULL);
		unlink(config);
		unlink(pos);
		rmdir(t->dir);
		free(config);
		free(pos);
	}
	free(out);
	free(log);
}

/* Undoes prepare_files() for a stage that will not run after all. */
static void discard_prep(struct ade_exec *ex, struct run_rt *r, int i)
{
	struct stage_rt *t = &r->st[i];

	if (!prep_take(ex, r, i))
		return;
	free_exec(t->prep_argv, t->prep_envp, t->prep_owned, t->prep_n_owned);
	t->prep_argv = t->prep_envp = t->prep_owned = NULL;
	t->prep_n_owned = 0;
	remove_prep_files(r, i);
}

/*
 * Makes stage i's files and its argv and environment, on whichever thread
 * owns its prep; 0 when the files could not be made (starting it makes
 * them again and reports why).  Its needs are running or will run, and it
 * needs them all: its ADE_IN_ names assume they succeed.
 */
static int make_prep(struct ade_exec *ex, struct run_rt *r, int i)
{
	struct stage_rt *t = &r->st[i];

	t->prep_logfd = -1;
	if (prepare_files(ex, r, i, NULL)) {
		/* What it did make goes: the stage may never run. */
		remove_prep_files(r, i);
		return 0;
	}
	if (build_exec(ex, r, i, 1, &t->prep_argv, &t->prep_envp, &t->prep_owned,
		       &t->prep_n_owned, NULL))
		t->prep_argv = t->prep_envp = t->prep_owned = NULL;
	return 1;
}

/*
 * Whether stage i's files may be made now, ahead of its start: 1 yes, 0
 * never (it is not queued, its files are someone else's, its trigger or
 * a sensor makes its start uncertain, or a need has failed), -1 not yet
 * (a need is queued and not itself made ahead).
 */
static int far_verdict(const struct run_rt *r, int i)
{
	const struct ade_stage_def *d = &r->p->stages[i];
	const struct stage_rt *t = &r->st[i];

	if (t->far || t->state != S_QUEUED || t->prep != PREP_NONE ||
	    d->trigger != ADE_TRIGGER_ALL_SUCCESS || d->wait_for || !d->n_needs)
		return 0;
	for (int j = 0; j < d->n_needs; j++) {
		const struct stage_rt *u = &r->st[d->needs[j]];
		switch (u->state) {
		case S_READY:
		case S_RUNNING:
		case S_RETRY_WAIT:
		case S_SUCCESS:
			break;
		case S_QUEUED:
			if (!u->far)
				return -1;
			break;
		default:
			return 0;
		}
	}
	return 1;
}

/*
 * Hands the files thread the files of the stages of run r that come next
 * in its order, up to PREP_FAR_MAX ahead of the stages that run, while
 * their needs are running or will run.  Making them on this thread, even
 * while a stage runs, took the stage's CPU: the kernel woke this thread on
 * the CPU where the stage it had just spawned was starting, not on the
 * idle one (sched tracepoints, 2-vCPU VM), and a new directory costs
 * 15-20 us on ext4.  The files thread, woken once per PREP_FAR_MAX / 2
 * stages, makes them on the other CPU.
 */
#define PREP_FAR_MAX 16

/* Hands stage i's files to the files thread; the caller holds its mutex. */
static void far_hand(struct ade_exec *ex, struct run_rt *r, int i)
{
	fifo_push(&ex->f.preps, r, i);
	r->st[i].prep = PREP_HANDED;
	r->st[i].far = 1;
	ex->far_out++;
}

static void prep_far(struct ade_exec *ex, struct run_rt *r)
{
	struct filer *f = &ex->f;
	const struct ade_pipeline *p = r->p;
	int handed = 0;

	if (!f->s.running || !r->active || ex->far_out > PREP_FAR_MAX / 2 ||
	    r->prep_cursor >= p->n_stages)
		return;
	/* The run-wide environment is made here, not by two threads at once. */
	if (!r->envc_ready && run_env(ex, r, NULL))
		return;
	while (ex->far_out < PREP_FAR_MAX && r->prep_cursor < p->n_stages) {
		int i = p->order[r->prep_cursor];
		int v = far_verdict(r, i);
		if (v < 0)
			break;
		r->prep_cursor++;
		if (!v)
			continue;
		if (!handed++)
			pthread_mutex_lock(&f->s.mu);
		far_hand(ex, r, i);
	}
	if (handed) {
		pthread_mutex_unlock(&f->s.mu);
		f->s.unwoken = 1;
	}
}

/*
 * Asks for the files of the dependents of stage i that will start when
 * the stages now running succeed, so that starting one after they end is
 * little more than a spawn: the files thread makes them (up to
 * PREP_FAR_MAX handed over at a time, so that taking one back stays
 * cheap), the rest this thread while the stages run (prep_ahead).  Most
 * were handed over already (prep_far).
 */
static void prepare_dependents(struct ade_exec *ex, struct run_rt *r, int i)
{
	struct filer *f = &ex->f;
	int handed = 0;

	for (int k = r->dep_off[i]; k < r->dep_off[i + 1]; k++) {
		int dpt = r->deps[k];
		struct ade_stage_def *d = &r->p->stages[dpt];
		int eligible = r->st[dpt].state == S_QUEUED && d->trigger == ADE_TRIGGER_ALL_SUCCESS;
		for (int j = 0; eligible && j < d->n_needs; j++) {
			enum sstate u = r->st[d->needs[j]].state;
			eligible = u == S_SUCCESS || u == S_RUNNING;
		}
		if (!eligible || r->st[dpt].far || r->st[dpt].prep != PREP_NONE)
			continue;
		if (f->s.running && ex->far_out < PREP_FAR_MAX && !r->p->stages[dpt].wait_for &&
		    (r->envc_ready || !run_env(ex, r, NULL))) {
			if (!handed++)
				pthread_mutex_lock(&f->s.mu);
			far_hand(ex, r, dpt);
		} else {
			fifo_push(&ex->preps, r, dpt);
			r->st[dpt].prep = PREP_QUEUED;
		}
	}
	if (handed) {
		pthread_mutex_unlock(&f->s.mu);
		f->s.unwoken = 1;
	}
}

/*
 * Without a files thread: makes the requested files while stages run, just
 * before this thread sleeps.  Stops when a stage has ended, so reaping it
 * and starting the next comes first; the rest waits for the next turn.
 * (With one they are handed to it, PREP_FAR_MAX / 2 stages per
 * wake-up: one wake-up of an idle virtual CPU per stage cost about as
 * much as making the files, ~30 us.)
 */
static void prep_ahead(struct ade_exec *ex, const sigset_t *waited)
{
	struct stage_ref q;

	while (ex->n_running > 0 && fifo_pop(&ex->preps, &q)) {
		struct stage_rt *t = &q.r->st[q.i];
		if (t->prep != PREP_QUEUED || !q.r->active || t->state != S_QUEUED) {
			if (t->prep == PREP_QUEUED)
				t->prep = PREP_NONE;
			continue;
		}
		t->prep = make_prep(ex, q.r, q.i) ? PREP_DONE : PREP_NONE;
		sigset_t pending;
		if (sigpending(&pending) == 0)
			for (int sig = 1; sig < SIGRTMIN; sig++)
				if (sigismember(waited, sig) && sigismember(&pending, sig))
					return;
	}
}

/* ---- the helper thread --------------------------------------------------- */

static void *helper_main(void *arg)
{
	struct ade_exec *ex = arg;
	struct helper *h = &ex->h;

	ade_thread_set_background(); /* never ahead of the stages or the executor (core/util.h) */

	pthread_mutex_lock(&h->s.mu);
	for (;;) {
		if (h->batch) {
			struct db_op *b = h->batch;
			int n = h->n_batch;
			h->committing = 1;
			pthread_mutex_unlock(&h->s.mu);
			db_write(ex->state, b, n);
			pthread_mutex_lock(&h->s.mu);
			h->committing = 0;
			free(h->spare);
			h->spare = b;
			h->batch = NULL;
			pthread_cond_broadcast(&h->s.done);
			continue;
		}
		if (h->checkpoint) {
			pthread_mutex_unlock(&h->s.mu);
			/*
			 * PASSIVE: readers (the run-end observers, ade runs) go on;
			 * closing state.db then has little left to copy.
			 */
			sqlite3_wal_checkpoint_v2(ex->state->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
						  NULL);
			pthread_mutex_lock(&h->s.mu);
			h->checkpoint = 0;
			pthread_cond_broadcast(&h->s.done);
			continue;
		}
		if (h->s.stop)
			break;
		pthread_cond_wait(&h->s.wake, &h->s.mu);
	}
	pthread_mutex_unlock(&h->s.mu);
	return NULL;
}

/*
 * Starts a side thread running fn(arg), with every signal blocked: signals
 * are the main thread's, which waits for them in sigtimedwait.  When no
 * thread is to be had, s->running stays 0 and its work is done inline.
 */
static void side_start(struct side *s, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;

	if (s->running)
		return;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->done, NULL);
	s->stop = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	s->running = pthread_create(&s->thread, NULL, fn, arg) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!s->running) {
		pthread_cond_destroy(&s->done);
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->mu);
	}
}

/* Wakes a side thread for what was handed over this turn: one wake-up a turn. */
static void side_wake(struct side *s)
{
	if (!s->running || !s->unwoken)
		return;
	s->unwoken = 0;
	pthread_mutex_lock(&s->mu);
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
}

/* Stops a side thread once it has finished the work in hand. */
static void side_stop(struct side *s)
{
	if (!s->running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	s->running = 0;
	pthread_cond_destroy(&s->done);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->mu);
}

/* ---- the files thread ---------------------------------------------------- */

static void *filer_main(void *arg)
{
	struct ade_exec *ex = arg;
	struct filer *f = &ex->f;
	struct stage_ref q;

	pthread_mutex_lock(&f->s.mu);
	for (;;) {
		if (!f->s.stop && fifo_pop(&f->preps, &q)) {
			struct stage_rt *t = &q.r->st[q.i];
			t->prep = PREP_BUSY;
			pthread_mutex_unlock(&f->s.mu);
			int made = make_prep(ex, q.r, q.i);
			pthread_mutex_lock(&f->s.mu);
			t->prep = made ? PREP_DONE : PREP_NONE;
			pthread_cond_broadcast(&f->s.done);
			continue;
		}
		if (f->s.stop)
			break;
		pthread_cond_wait(&f->s.wake, &f->s.mu);
	}
	pthread_mutex_unlock(&f->s.mu);
	return NULL;
}

/*
 * Signals the child must find at their default: those ade catches or
 * ignores.  Computed once per executor: glibc's posix_spawn asks the kernel
 * about all 64 dispositions in every child, which was a tenth of a no-op
 * stage's cost.
 */
static void child_signals(sigset_t *out)
{
	static const int always[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGPIPE};

	sigemptyset(out);
	for (size_t k = 0; k < sizeof(always) / sizeof(always[0]); k++)
		sigaddset(out, always[k]);
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		struct sigaction sa;
		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0)
			continue;
		if (sa.sa_handler != SIG_DFL)
			sigaddset(out, sig);
	}
}

/*
 * Starts path in a new process group, in dir, with stdin from /dev/null and
 * stdout and stderr on logfd; returns 0 and the pid, or the errno of what
 * failed in the child (then reaped).  vfork, not posix_spawn: the child
 * shares ade's memory until execve, so it only makes system calls, with
 * every signal blocked until the dispositions in defs are back at default.
 * A failure comes back through a close-on-exec pipe (end of file: execve
 * succeeded), which also holds where vfork is a fork (valgrind).  Other
 * threads (the observers' worker) keep running: they never touch this
 * thread's stack.
 */
static int spawn_stage(const char *path, char *const argv[], char *const envp[], int logfd,
		       int devnull, const char *dir, const sigset_t *defs, int *vfork_shares,
		       pid_t *pid_out)
{
	sigset_t all, old, none;
	int report[2] = {-1, -1};
	/*
	 * A real vfork child shares this frame: it marks that it ran and
	 * leaves the errno of what failed here.  Until a first spawn has
	 * shown that, and forever where vfork is a fork (valgrind), the
	 * failure comes back through the pipe instead.
	 */
	volatile int child_ran = 0, child_err = 0;
	pid_t pid;

	*pid_out = -1;
	if (*vfork_shares != 1 && pipe2(report, O_CLOEXEC) < 0)
		return errno;
	sigfillset(&all);
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = vfork();
	if (pid == 0) {
		child_ran = 1;
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (int sig = 1; sig < SIGRTMIN; sig++)
			if (sigismember(defs, sig))
				sigaction(sig, &dfl, NULL);
		if (setpgid(0, 0) < 0)
			goto fail;
		if (dup2(devnull, 0) < 0)
			goto fail;
		if (dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			goto fail;
		if (chdir(dir) < 0)
			goto fail;
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(path, argv, envp);
	fail:;
		int e = errno ? errno : EIO;
		child_err = e;
		if (report[1] >= 0 && write(report[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	int e = pid < 0 ? errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid > 0 && *vfork_shares != 1)
		*vfork_shares = child_ran ? 1 : 0;
	if (report[1] >= 0)
		close(report[1]);
	if (pid > 0) {
		int failed = 0;
		if (report[0] >= 0) {
			ssize_t n;
			int err_in = 0;
			while ((n = read(report[0], &err_in, sizeof(err_in))) < 0 && errno == EINTR)
				;
			if (n == (ssize_t)sizeof(err_in)) {
				failed = 1;
				e = err_in ? err_in : EIO;
			}
		} else if (child_err) {
			failed = 1;
			e = child_err;
		}
		if (failed) {
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			pid = -1;
		}
	}
	if (report[0] >= 0)
		close(report[0]);
	*pid_out = pid;
	return e;
}

/*
 * The argv and environment of stage i's next attempt (attempt + 1): for
 * the helper, beside the stages it waits for, or at the start.  Returns 0,
 * or an error (a template that does not render) with nothing to free.
 */
/* Makes what every stage of run r shares (env_common): once per run. */
static int run_env(struct ade_exec *ex, struct run_rt *r, struct ade_error *err)
{
	struct ade_template_vars v = {
		.ds = r->ds, .ds_nodash = r->ds_nodash, .interval_start = r->istart,
		.interval_end = r->iend, .run_id = r->row.run_id, .batch = NULL,
		.home = ex->o.home, .params = r->p->params,
	};
	char *source = NULL;
	int rc;

	/* source: renders from the run's values alone. */
	if (r->p->source && (rc = ade_template_render(r->p->source, &v, &source, err)))
		return rc;
	if (source && source[0] != '/') {
		char *abs = ade_xconcat(r->p->dir, "/", source, NULL);
		free(source);
		source = abs;
	}
	env_common(ex, r, source);
	free(source);
	return 0;
}

static int build_exec(struct ade_exec *ex, struct run_rt *r, int i, int needs_done,
		      char ***argv_out, char ***envp_out, char ***owned, int *n_owned,
		      struct ade_error *err)
{
	struct ade_stage_def *d = &r->p->stages[i];
	struct stage_rt *t = &r->st[i];
	struct ade_template_vars v = {
		.ds = r->ds, .ds_nodash = r->ds_nodash, .interval_start = r->istart,
		.interval_end = r->iend, .run_id = r->row.run_id, .batch = NULL,
		.home = ex->o.home, .params = r->p->params,
	};
	char **argv;
	int rc = 0;

	if (!r->envc_ready && (rc = run_env(ex, r, err)))
		return rc;
	argv = ade_xcalloc((size_t)d->argc + 1, sizeof(char *));
	argv[0] = ade_xstrdup(d->exe);
	for (int k = 1; k < d->argc && !rc; k++)
		rc = ade_template_render(d->argv[k], &v, &argv[k], err);
	if (rc) {
		for (int k = 0; k < d->argc; k++)
			free(argv[k]);
		free(argv);
		return rc;
	}
	char *out = attempt_path(t->dir, t->attempt + 1, ".tmp");
	char *config = config_path(r, i);
	*envp_out = build_env(r, i, out, config, needs_done, owned, n_owned);
	*argv_out = argv;
	free(out);
	free(config);
	return 0;
}

static void free_exec(char **argv, char **envp, char **owned, int n_owned)
{
	for (int k = 0; argv && argv[k]; k++)
		free(argv[k]);
	free(argv);
	for (int k = 0; k < n_owned; k++)
		free(owned[k]);
	free(owned);
	free(envp);
}

static void start_stage(struct ade_exec *ex, struct run_rt *r, int i)
{
	struct ade_stage_def *d = &r->p->stages[i];
	struct stage_rt *t = &r->st[i];
	struct ade_error err = {0};
	char *log = NULL;
	char **envp = NULL, **owned = NULL;
	int n_owned = 0, logfd = -1, spawn_errno = 0;
	char **argv = NULL;
	pid_t pid = -1;

	ex->sum.starts++;
	int far = t->far;
	if (prep_take(ex, r, i)) {
		ex->sum.files_ahead += far;
		argv = t->prep_argv;
		envp = t->prep_envp;
		owned = t->prep_owned;
		n_owned = t->prep_n_owned;
		t->prep_argv = t->prep_envp = t->prep_owned = NULL;
		t->prep_n_owned = 0;
	} else if (prepare_files(ex, r, i, &err)) {
		t->attempt++;
		t->tries++;
		goto fail;
	}
	logfd = t->prep_logfd;
	t->prep_logfd = -1;
	if (!argv && build_exec(ex, r, i, 0, &argv, &envp, &owned, &n_owned, &err)) {
		t->attempt++;
		t->tries++;
		goto fail;
	}
	t->attempt++;
	t->tries++;
	t->reason = NULL;
	log = attempt_path(t->dir, t->attempt, ".log");

	t->start_ns = ade_now_mono_ns();
	int64_t ticks = ade_proc_ticks_now();
	spawn_errno = spawn_stage(argv[0], argv, envp, logfd, ex->devnull, r->p->dir,
				  &ex->child_defs, &ex->vfork_shares, &pid);
	if (spawn_errno) {
		dprintf(logfd, "ade: cannot start '%s': %s\n", argv[0], strerror(spawn_errno));
		ade_error_set(&err, ADE_ESYS, "cannot start '%s': %s", argv[0], strerror(spawn_errno));
		goto fail;
	}
	t->pid = pid;
	if (ex->n_alive == ex->alive_cap) {
		ex->alive_cap = ex->alive_cap ? 2 * ex->alive_cap : 16;
		ex->alive = ade_xrealloc(ex->alive, sizeof(*ex->alive) * (size_t)ex->alive_cap);
	}
	ex->alive[ex->n_alive].pid = pid;
	ex->alive[ex->n_alive].r = r;
	ex->alive[ex->n_alive].i = i;
	ex->n_alive++;
	t->deadline_ns = d->timeout_ms ? t->start_ns + d->timeout_ms * 1000000 : 0;
	t->kill_ns = 0;
	if (t->deadline_ns)
		ex->timed = 1;
	ex->n_running++;
	t->start_us = ade_now_wall_us();
	if (ex->o.on_event) {
		struct ade_exec_event ev;
		event_base(ex, r, ADE_EV_STAGE_START, &ev);
		ev.stage = d;
		ev.attempt = t->attempt;
		ev.state = "running";
		ev.start_us = t->start_us;
		ev.log_path = log;
		ex->o.on_event(ex->o.event_arg, &ev);
	}
	struct db_op *op = push_op(ex, OP_ATTEMPT_START, r, i);
	op->attempt = t->attempt;
	op->pid = pid;
	op->pid_start = ticks;
	op->at_us = t->start_us;
	set_state(ex, r, i, S_RUNNING, NULL);
	say(ex, "[%d/%d] %s %s %s started%s", r->n_done, r->p->n_stages, r->p->name, r->ds,
	    d->name, t->attempt > 1 ? " (retry)" : "");
	prepare_dependents(ex, r, i);
	goto out;
fail:
	/* The attempt never ran: record it as a failed attempt with the reason. */
	struct db_op *never = push_op(ex, OP_ATTEMPT_START, r, i);
	never->attempt = t->attempt;
	never->at_us = ade_now_wall_us();
	if (logfd >= 0 && !spawn_errno)
		dprintf(logfd, "ade: %s\n", err.msg);
	ex->n_running++;
	t->pid = 0;
	t->reason = "spawn";
	/* Its times are those of the failure, not of an earlier attempt. */
	t->start_ns = ade_now_mono_ns();
	t->start_us = ade_now_wall_us();
	announce(ex, "%s %s %s: %s", r->p->name, r->ds, d->name, err.msg);
	finish_attempt(ex, r, i, -1, NULL, spawn_errno ? spawn_errno : EIO);
out:
	if (logfd >= 0)
		close(logfd);
	free_exec(argv, envp, owned, n_owned);
	free(log);
}

/* ---- finishing an attempt ---------------------------------------------- */

static int64_t retry_delay_ns(struct ade_stage_def *d, int tries)
{
	int64_t ms = d->retry_delay_ms;

	if (d->backoff_exponential) {
		for (int k = 1; k < tries && ms < d->max_retry_delay_ms; k++)
			ms *= 2;
		if (ms > d->max_retry_delay_ms)
			ms = d->max_retry_delay_ms;
		/*
		 * Equal jitter: half the delay is fixed, half random, so retries
		 * of many dates failing together do not hit a source in step.
		 */
		uint32_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)ade_now_mono_ns();
		ms = ms / 2 + (int64_t)((double)(ms - ms / 2) * (rnd / 4294967296.0));
	} else if (ms > d->max_retry_delay_ms) {
		ms = d->max_retry_delay_ms;
	}
	return ms * 1000000;
}

static int wants_retry(struct ade_stage_def *d, int code, int sig, const char *reason)
{
	if (code == ADE_EXIT_DATA)
		return 0; /* the data failed a check: running again cannot help */
	if (reason && !strcmp(reason, "interrupted"))
		return 0;
	if (d->retry_on_any)
		return 1;
	if (sig || (reason && (!strcmp(reason, "timeout") || !strcmp(reason, "spawn"))))
		return 1;
	for (int k = 0; k < d->n_retry_on; k++)
		if (d->retry_on[k] == code)
			return 1;
	return 0;
}

static void finish_attempt(struct ade_exec *ex, struct run_rt *r, int i, int status,
			   const struct rusage *ru, int spawn_errno)
{
	struct ade_stage_def *d = &r->p->stages[i];
	struct stage_rt *t = &r->st[i];
	struct ade_attempt_end e = {0};
	char *log = attempt_path(t->dir, t->attempt, ".log");
	char *out = ade_xconcat(t->dir, "/out", NULL);
	int code = -1, sig = 0, ok;
	char what[96];

	ex->n_running--;
	/* To the microsecond: finer is noise, and prints as 17 digits everywhere. */
	e.wall_ms = (double)((ade_now_mono_ns() - t->start_ns + 500) / 1000) / 1e3;
	if (ru) {
		e.user_ms = ru->ru_utime.tv_sec * 1e3 + ru->ru_utime.tv_usec / 1e3;
		e.sys_ms = ru->ru_stime.tv_sec * 1e3 + ru->ru_stime.tv_usec / 1e3;
		e.maxrss_kb = ru->ru_maxrss;
	}
	if (spawn_errno) {
		snprintf(what, sizeof(what), "could not start");
	} else if (WIFEXITED(status)) {
		code = WEXITSTATUS(status);
		snprintf(what, sizeof(what), "exit %d", code);
	} else if (WIFSIGNALED(status)) {
		sig = WTERMSIG(status);
		snprintf(what, sizeof(what), "killed by signal %d (%s)", sig, strsignal(sig));
	}
	if (t->reason && strcmp(t->reason, "spawn")) {
		size_t n = strlen(what);
		snprintf(what + n, sizeof(what) - n, ", %s", t->reason);
	}
	e.exit_code = code;
	e.signal = sig;
	e.ended_us = ade_now_wall_us();
	e.reason = t->reason ? t->reason : sig ? "signal" : code ? "exit" : NULL;
	/* Exiting 0 after a timeout's SIGTERM is still a timeout. */
	ok = code == 0 && !t->reason;
	if (t->pid > 0 && (t->reason || sig))
		kill(-t->pid, SIGKILL); /* leftovers of the group die with the stage */
	if (ok) {
		char rel_tmp[128], rel_out[128];
		snprintf(rel_out, sizeof(rel_out), "%s/out", d->name);
		if (renameat(r->dirfd, rel_attempt(rel_tmp, d->name, t->attempt, ".tmp"), r->dirfd,
			     rel_out) < 0) {
			int why = errno;
			ok = 0;
			e.reason = "publish";
			announce(ex, "%s %s %s: cannot publish '%s/%s': %s", r->p->name, r->ds,
				 d->name, r->row.dir, rel_tmp, strerror(why));
		}
	}
	if (!ok) {
		char *tmp = attempt_path(t->dir, t->attempt, ".tmp");
		if (code == ADE_EXIT_DATA) {
			/*
			 * The data failed a check: the stage's reports (result.json,
			 * violations) are what the user needs to see, so they are
			 * kept under a name no downstream stage reads.
			 */
			char *kept = attempt_path(t->dir, t->attempt, ".rejected");
			if (rename(tmp, kept) < 0)
				ade_fs_remove_tree(tmp, NULL);
			free(kept);
		} else {
			ade_fs_remove_tree(tmp, NULL);
		}
		free(tmp);
	}
	int retry = !ok && !ex->interrupted && t->tries <= d->retries &&
		    wants_retry(d, code, sig, t->reason);
	e.state = ok ? "success" : retry ? "up_for_retry" : "failed";
	struct db_op *op = push_op(ex, OP_ATTEMPT_END, r, i);
	op->attempt = t->attempt;
	op->end = e;
	if (ex->o.on_event) {
		struct ade_exec_event ev;
		event_base(ex, r, ADE_EV_STAGE_END, &ev);
		ev.stage = d;
		ev.attempt = t->attempt;
		ev.state = e.state;
		ev.start_us = t->start_us;
		ev.end_us = e.ended_us;
		ev.out_dir = ok ? out : NULL;
		ev.log_path = log;
		ev.exit_code = code;
		ev.signal = sig;
		ev.reason = e.reason;
		ev.wall_ms = e.wall_ms;
		ev.user_ms = e.user_ms;
		ev.sys_ms = e.sys_ms;
		ev.maxrss_kb = e.maxrss_kb;
		ex->o.on_event(ex->o.event_arg, &ev);
	}
	t->pid = 0;
	t->deadline_ns = t->kill_ns = 0;
	if (ok) {
		set_state(ex, r, i, S_SUCCESS, NULL);
		say(ex, "[%d/%d] %s %s %s success in %.2fs (peak %.1f MB)", r->n_done,
		    r->p->n_stages, r->p->name, r->ds, d->name, e.wall_ms / 1000,
		    e.maxrss_kb / 1024.0);
	} else if (retry) {
		int64_t delay = retry_delay_ns(d, t->tries);
		t->retry_ns = ade_now_mono_ns() + delay;
		ex->timed = 1;
		set_state(ex, r, i, S_RETRY_WAIT, NULL);
		announce(ex, "%s %s %s attempt %d failed (%s); retry %d of %d in %.1fs", r->p->name,
			 r->ds, d->name, t->attempt, what, t->tries, d->retries, delay / 1e9);
	} else {
		char note[160];
		snprintf(note, sizeof(note), "%s", what);
		set_state(ex, r, i, S_FAILED, note);
		announce(ex, "FAILED: %s %s %s (%s) after %d attempt%s; log: %s", r->p->name, r->ds,
			 d->name, what, t->attempt, t->attempt == 1 ? "" : "s", log);
		print_log_tail(ex, log, 10);
	}
	free(log);
	free(out);
}

/* ---- the plan ---------------------------------------------------------- */

static void push_ready(struct ade_exec *ex, struct run_rt *r, int i)
{
	fifo_push(&ex->ready, r, i);
}

/*
 * Decides a queued stage from the states of its needs, by its trigger
 * rule.  Called when the run starts and whenever one of its needs ends, so
 * the work per finished stage is proportional to its dependents.
 */
static void evaluate(struct ade_exec *ex, struct run_rt *r, int i)
{
	struct ade_pipeline *p = r->p;
	struct stage_rt *t = &r->st[i];
	struct ade_stage_def *d = &p->stages[i];
	int all_done = 1, any_failed = 0, any_skipped = 0;

	if (t->state != S_QUEUED || ex->interrupted)
		return;
	for (int j = 0; j < d->n_needs; j++) {
		enum sstate u = r->st[d->needs[j]].state;
		if (!terminal(u))
			all_done = 0;
		if (u == S_FAILED || u == S_UPSTREAM_FAILED)
			any_failed = 1;
		if (u == S_SKIPPED)
			any_skipped = 1;
	}
	enum sstate next = S_QUEUED;
	switch (d->trigger) {
	case ADE_TRIGGER_ALL_SUCCESS:
		if (any_failed)
			next = S_UPSTREAM_FAILED;
		else if (all_done)
			next = any_skipped ? S_SKIPPED : S_READY;
		break;
	case ADE_TRIGGER_ALL_DONE:
		if (all_done)
			next = S_READY;
		break;
	case ADE_TRIGGER_ONE_FAILED:
		/* Airflow's one_failed fires as soon as one upstream fails. */
		if (any_failed)
			next = S_READY;
		else if (all_done)
			next = S_SKIPPED;
		break;
	case ADE_TRIGGER_NONE_FAILED:
		if (any_failed && all_done)
			next = S_UPSTREAM_FAILED;
		else if (all_done)
			next = S_READY;
		break;
	}
	if (next == S_QUEUED)
		return;
	if (next == S_READY) {
		t->state = S_READY;
		push_ready(ex, r, i);
		return;
	}
	say(ex, "[%d/%d] %s %s %s %s", r->n_done + 1, p->n_stages, p->name, r->ds, d->name,
	    sstate_name[next]);
	set_state(ex, r, i, next, NULL);
}

static void end_run(struct ade_exec *ex, struct run_rt *r)
{
	int ok = 1;

	for (int i = 0; i < r->p->n_stages; i++)
		if (r->st[i].state != S_SUCCESS && r->st[i].state != S_SKIPPED)
			ok = 0;
	if (ex->interrupted)
		ok = 0;
	db_commit(ex); /* the stages' states first, then the run's */
	ade_state_run_set_state(ex->state, r->row.run_id, ok ? "success" : "failed", 1, NULL);
	if (ex->h.s.running) {
		pthread_mutex_lock(&ex->h.s.mu);
		ex->h.checkpoint = 1;
		pthread_cond_signal(&ex->h.s.wake);
		pthread_mutex_unlock(&ex->h.s.mu);
	}
	r->finished = 1;
	r->active = 0;
	/* A long ade schedule ends many runs: their folders are not held open. */
	close(r->dirfd);
	r->dirfd = -1;
	if (ex->o.on_event) {
		struct ade_exec_event ev;
		event_base(ex, r, ADE_EV_RUN_END, &ev);
		ev.state = ok ? "success" : "failed";
		ev.end_us = ade_now_wall_us();
		ex->o.on_event(ex->o.event_arg, &ev);
	}
	if (ok)
		ex->sum.runs_ok++;
	else
		ex->sum.runs_failed++;
	announce(ex, "%s %s run %d %s in %.2fs%s", r->p->name, r->ds, r->row.run_number,
		 ok ? "success" : "failed", (ade_now_mono_ns() - r->start_ns) / 1e9,
		 ex->interrupted ? " (interrupted)" : "");
}

/* ---- the loop ---------------------------------------------------------- */

static struct run_rt *find_pid(struct ade_exec *ex, pid_t pid, int *stage)
{
	/* The stages started by this loop, newest last: a few, not every stage of every run. */
	for (int k = ex->n_alive - 1; k >= 0; k--) {
		if (ex->alive[k].pid != pid)
			continue;
		struct run_rt *r = ex->alive[k].r;
		*stage = ex->alive[k].i;
		ex->alive[k] = ex->alive[--ex->n_alive];
		if (r->st[*stage].pid == pid && r->st[*stage].state == S_RUNNING)
			return r;
		break;
	}
	for (int k = 0; k < ex->n_runs; k++) {
		struct run_rt *r = ex->runs[k];
		if (!r->active)
			continue;
		for (int i = 0; i < r->p->n_stages; i++)
			if (r->st[i].pid == pid && r->st[i].state == S_RUNNING) {
				*stage = i;
				return r;
			}
	}
	return NULL;
}

static void reap(struct ade_exec *ex)
{
	for (;;) {
		struct rusage ru;
		int status = 0, i = 0;
		pid_t pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		struct run_rt *r = find_pid(ex, pid, &i);
		if (r)
			finish_attempt(ex, r, i, status, &ru, 0);
		/* The last stage process reaped: no wait4 to learn there is none. */
		if (ex->n_running == 0)
			return;
	}
}

static void stop_stage(struct stage_rt *t, const char *reason, int64_t grace_ms, int64_t now)
{
	if (!t->reason)
		t->reason = reason;
	kill(-t->pid, SIGTERM);
	t->kill_ns = now + grace_ms * 1000000;
	t->deadline_ns = 0;
}

/* Fires due timers and returns ns until the next one (-1: none). */
static int64_t timers(struct ade_exec *ex)
{
	int64_t now = ade_now_mono_ns(), next = -1;

	/* Most pipelines have no timeout, retry or sensor: no scan of every stage. */
	if (!ex->timed)
		return -1;
#define NEXT(t) (next = (next < 0 || (t) - now < next) ? ((t) - now) : next)
	for (int k = 0; k < ex->n_runs; k++) {
		struct run_rt *r = ex->runs[k];
		if (!r->active)
			continue;
		for (int i = 0; i < r->p->n_stages; i++) {
			struct stage_rt *t = &r->st[i];
			if (t->state == S_RUNNING && t->pid > 0) {
				if (t->deadline_ns && now >= t->deadline_ns)
					stop_stage(t, "timeout", r->p->stages[i].timeout_grace_ms, now);
				if (t->kill_ns && now >= t->kill_ns) {
					kill(-t->pid, SIGKILL);
					t->kill_ns = 0;
				}
				if (t->deadline_ns)
					NEXT(t->deadline_ns);
				if (t->kill_ns)
					NEXT(t->kill_ns);
			} else if (t->state == S_READY && t->sensing) {
				if (now >= t->retry_ns) {
					t->sensing = 0;
					push_ready(ex, r, i);
					next = 0;
				} else {
					NEXT(t->retry_ns);
				}
			} else if (t->state == S_RETRY_WAIT) {
				if (ex->interrupted) {
					set_state(ex, r, i, S_FAILED, "interrupted");
				} else if (now >= t->retry_ns) {
					t->state = S_QUEUED;
					evaluate(ex, r, i);
					next = 0;
				} else {
					NEXT(t->retry_ns);
				}
			}
		}
	}
#undef NEXT
	if (next < 0)
		ex->timed = 0; /* nothing pending: the sites that set a timer set it again */
	return next < 0 ? -1 : next;
}

static void interrupt_all(struct ade_exec *ex)
{
	int64_t now = ade_now_mono_ns();

	ex->interrupted = 1;
	ex->timed = 1; /* the stopped stages' SIGKILL deadlines */
	announce(ex, "interrupted: stopping running stages");
	for (int k = 0; k < ex->n_runs; k++) {
		struct run_rt *r = ex->runs[k];
		if (!r->active)
			continue;
		for (int i = 0; i < r->p->n_stages; i++) {
			struct stage_rt *t = &r->st[i];
			if (t->state == S_RUNNING && t->pid > 0) {
				int64_t grace = r->p->stages[i].timeout_grace_ms;
				t->reason = "interrupted";
				stop_stage(t, "interrupted", grace < 5000 ? grace : 5000, now);
			} else if (t->state == S_READY || t->state == S_QUEUED ||
				   t->state == S_RETRY_WAIT) {
				set_state(ex, r, i, S_FAILED, "interrupted");
			}
		}
	}
}

static void on_sigchld(int sig)
{
	(void)sig;
}

/*
 * A stage's own sensor: returns 1 (and arranges a later check, or fails
 * the stage at its timeout) while its file is missing.  A waiting stage
 * holds no job slot.
 */
static int64_t sensor_clock(struct ade_exec *ex)
{
	return ex->o.now_us ? ex->o.now_us(ex->o.arg) : ade_now_wall_us();
}

/* A duration for people: "3600s", "1.5s", "250ms". */
static void fmt_ms(int64_t ms, char out[32])
{
	if (ms < 1000)
		snprintf(out, 32, "%lldms", (long long)ms);
	else if (ms % 1000 == 0)
		snprintf(out, 32, "%llds", (long long)(ms / 1000));
	else
		snprintf(out, 32, "%.3gs", ms / 1e3);
}

static int stage_sensor_blocks(struct ade_exec *ex, struct run_rt *r, int i)
{
	const struct ade_sensor *w = r->p->stages[i].wait_for;
	struct stage_rt *t = &r->st[i];
	char *path = NULL;

	if (!w || sensor_ready(r, w, ex->o.home, &path)) {
		free(path);
		return 0;
	}
	int64_t now = sensor_clock(ex);
	char poke[32], limit[32];
	fmt_ms(w->poke_ms, poke);
	fmt_ms(w->timeout_ms, limit);
	if (!t->sensor_since_us) {
		t->sensor_since_us = now;
		announce(ex, "%s %s %s waiting for %s (every %s, up to %s)", r->p->name, r->ds,
			 r->p->stages[i].name, path, poke, limit);
	}
	if (now - t->sensor_since_us >= w->timeout_ms * 1000) {
		char note[512];
		snprintf(note, sizeof(note), "wait_for timed out after %s: '%s' does not exist", limit,
			 path);
		announce(ex, "FAILED: %s %s %s: %s", r->p->name, r->ds, r->p->stages[i].name, note);
		set_state(ex, r, i, S_FAILED, note);
	} else {
		t->sensing = 1;
		t->retry_ns = ade_now_mono_ns() + w->poke_ms * 1000000;
		ex->timed = 1;
	}
	free(path);
	return 1;
}

/*
 * A run whose pipeline sensor gave up: it is recorded as a failed run with
 * the reason, so `ade runs` shows it and a backfill can retry it.
 */
static void fail_waiting_run(struct ade_exec *ex, struct run_rt *r, const char *path)
{
	struct ade_error err = {0};
	char note[512], limit[32];

	fmt_ms(r->p->wait_for->timeout_ms, limit);
	snprintf(note, sizeof(note), "wait_for timed out after %s: '%s' does not exist", limit,
		 path);
	r->activated = 1;
	r->finished = 1;
	ex->sum.runs_failed++;
	if (ade_state_run_create(ex->state, r->p->name, r->ds, r->p->path, r->p->hash,
				 ex->o.home, &r->row, &err) == 0) {
		ade_state_run_set_state(ex->state, r->row.run_id, "failed", 1, NULL);
		ade_state_run_note(ex->state, r->row.run_id, note, NULL);
	}
	announce(ex, "FAILED: %s %s: %s", r->p->name, r->ds, note);
}

/*
 * Takes queued runs into activity while max_active_runs allows.  A run
 * whose pipeline sensor has no file yet waits without taking a place.
 * Returns ns until the next sensor check (-1: none), or sets *fatal.
 */
static int64_t activate_runs(struct ade_exec *ex, int *n_active, int *pending, int *fatal,
			     struct ade_error *err)
{
	int64_t next = -1, now = ade_now_mono_ns();

	*pending = 0;
	for (int k = 0; k < ex->n_runs && !ex->interrupted; k++) {
		struct run_rt *r = ex->runs[k];
		if (r->activated)
			continue;
		*pending = 1;
		if (*n_active >= ex->o.max_active_runs)
			break;
		if (r->p->wait_for) {
			char *path = NULL;
			if (r->sensor_next_ns > now) {
				next = earlier(next, r->sensor_next_ns - now);
				continue;
			}
			if (!sensor_ready(r, r->p->wait_for, ex->o.home, &path)) {
				int64_t waited = sensor_clock(ex) - r->due_us;
				if (waited >= r->p->wait_for->timeout_ms * 1000) {
					db_commit(ex);
					fail_waiting_run(ex, r, path);
				} else {
					if (!r->sensor_next_ns)
						announce(ex, "%s %s waiting for %s", r->p->name, r->ds, path);
					r->sensor_next_ns = now + r->p->wait_for->poke_ms * 1000000;
					next = earlier(next, r->p->wait_for->poke_ms * 1000000);
				}
				free(path);
				continue;
			}
			free(path);
		}
		db_commit(ex); /* run creation has its own transaction */
		r->activated = 1;
		int rc = activate(ex, r, err);
		if (rc) {
			announce(ex, "%s %s: %s", r->p->name, r->ds, err->msg);
			r->finished = 1;
			ex->sum.runs_failed++;
			if (rc == ADE_EDB) {
				*fatal = rc;
				return -1;
			}
			continue;
		}
		(*n_active)++;
	}
	/* What is still queued now, after activations that failed or ended at once. */
	*pending = 0;
	for (int k = 0; k < ex->n_runs; k++)
		if (!ex->runs[k]->activated)
			*pending = 1;
	return next;
}

int ade_exec_run(struct ade_exec *ex, struct ade_exec_summary *sum, struct ade_error *err)
{
	sigset_t set, old;
	struct sigaction sa = {0};
	int rc = 0, n_active = 0, keep = 0, stop_ticking = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* A handler (not SIG_DFL) so a blocked SIGCHLD stays pending for sigtimedwait. */
	sa.sa_handler = on_sigchld;
	sigaction(SIGCHLD, &sa, NULL);
	child_signals(&ex->child_defs);
	/* Above 2, so that dup2 in the child always makes a new stdin. */
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ex->devnull = nul >= 0 && nul < 3 ? fcntl(nul, F_DUPFD_CLOEXEC, 3) : nul;
	if (nul >= 0 && nul < 3)
		close(nul);
	if (ex->devnull < 0)
		return ade_error_set(err, ADE_ESYS, "cannot open /dev/null: %s", strerror(errno));
	ex->vfork_shares = -1;
	sigprocmask(SIG_BLOCK, &set, &old);
	side_start(&ex->h.s, helper_main, ex);
	/* Not in SCHED_IDLE: the executor waits for it when a stage is due (struct filer). */
	side_start(&ex->f.s, filer_main, ex);
	ex->t0 = ade_now_mono_ns();

	for (;;) {
		int64_t tick_wake = -1;
		int pending = 0, fatal = 0;
		if (ex->o.tick && !stop_ticking && !ex->interrupted) {
			db_commit(ex);
			keep = ex->o.tick(ex, ex->o.arg, &tick_wake);
		} else {
			keep = 0;
		}
		int64_t sensor_wake = activate_runs(ex, &n_active, &pending, &fatal, err);
		if (fatal) {
			rc = fatal;
			goto out;
		}
		/* Start ready stages, oldest first, while there are free slots. */
		struct stage_ref q;
		while (!ex->interrupted && ex->n_running < ex->o.jobs && fifo_pop(&ex->ready, &q)) {
			if (q.r->active && q.r->st[q.i].state == S_READY &&
			    !stage_sensor_blocks(ex, q.r, q.i))
				start_stage(ex, q.r, q.i);
		}
		/* Runs whose stages are all decided are over. */
		int ended = 0;
		for (int k = 0; k < ex->n_runs; k++) {
			struct run_rt *r = ex->runs[k];
			if (r->active && r->n_done == r->p->n_stages) {
				end_run(ex, r);
				n_active--;
				ended = 1;
			}
		}
		int64_t commit_wake = group_commit(ex);
		if (n_active == 0 && (ex->interrupted || (!pending && !keep)))
			break;
		if (ended && (pending || keep) && !ex->interrupted)
			continue; /* a place was freed, or tick may plan more: go round now */

		int64_t wait_ns = n_active ? timers(ex) : -1;
		if (wait_ns == 0)
			continue;
		wait_ns = earlier(wait_ns, sensor_wake);
		if (keep)
			wait_ns = earlier(wait_ns, tick_wake);
		wait_ns = earlier(wait_ns, commit_wake);
		wait_ns = earlier(wait_ns, say_flush(ex, ex->n_running == 0));
		if (n_active && ex->n_running == 0 && wait_ns < 0 && !keep) {
			/* Nothing runs and nothing is due: the plan is stuck. */
			rc = ade_error_set(err, ADE_ESYS, "no stage can run (internal error)");
			goto out;
		}
		for (int k = 0; k < ex->n_runs; k++)
			prep_far(ex, ex->runs[k]);
		prep_ahead(ex, &set);
		side_wake(&ex->f.s);
		side_wake(&ex->h.s);
		if (ex->o.on_wait)
			wait_ns = earlier(wait_ns, ex->o.on_wait(ex->o.event_arg));
		struct timespec ts, *tsp = NULL;
		if (wait_ns >= 0) {
			ts.tv_sec = wait_ns / 1000000000;
			ts.tv_nsec = wait_ns % 1000000000;
			tsp = &ts;
		}
		siginfo_t info;
		int sig = tsp ? sigtimedwait(&set, &info, tsp) : sigwaitinfo(&set, &info);
		if (sig == SIGHUP && ex->o.on_hup) {
			ex->o.on_hup(ex->o.arg);
		} else if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			stop_ticking = 1;
			if (!ex->interrupted)
				interrupt_all(ex);
		}
		/* Due timers fire before the next wait: reaped stages' dependents start first. */
		reap(ex);
	}
out:
	say_flush(ex, 1);
	db_commit(ex);
	side_stop(&ex->f.s); /* after the stage it is making */
	side_stop(&ex->h.s);
	/*
	 * Every stage's files are this thread's again; those made for stages
	 * that did not start (ade stopped on an error) go.
	 */
	ex->preps.head = ex->preps.n = 0;
	ex->f.preps.head = ex->f.preps.n = 0;
	ex->far_out = 0;
	for (int k = 0; k < ex->n_runs; k++) {
		struct run_rt *r = ex->runs[k];
		for (int i = 0; r->st && i < r->p->n_stages; i++) {
			r->st[i].far = 0;
			if (r->st[i].prep == PREP_DONE)
				discard_prep(ex, r, i);
			r->st[i].prep = PREP_NONE;
		}
	}
	close(ex->devnull);
	clear_tty(ex);
	sigprocmask(SIG_SETMASK, &old, NULL);
	ex->sum.interrupted = ex->interrupted;
	ade_log_debug("%d of %d attempts started with files the files thread made ahead",
		      ex->sum.files_ahead, ex->sum.starts);
	if (sum)
		*sum = ex->sum;
	return rc;
}
