/*
 * ade schedule: a long-lived scheduler over one or more pipelines.
 *
 * Partitions are days.  A pipeline's cron expression says when a day's run
 * may start: the run for ds starts at the first fire time at or after the
 * end of ds's interval (ds+1 00:00Z).  `catchup: true` runs every day since
 * start_date that has no run yet, oldest first; `catchup: false` only the
 * newest due day.  One scheduler per home, held by a lock file; SIGTERM
 * stops it (running stages are stopped and marked), SIGHUP reloads the
 * pipeline files.  A clock override (--now or ADE_NOW) lets tests walk
 * through weeks of schedule in seconds.
 */
#include "cli.h"
#include "cron.h"
#include "exec.h"
#include "observe.h"
#include "pipeline.h"
#include "state.h"
#include "artifacts/artifacts.h"
#include "lineage/lineage.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

struct sched_pipeline {
	char *path;
	struct ade_pipeline *p;
	struct ade_cron cron;
};

struct sched {
	struct ade_cli *cli;
	struct ade_state *st;
	struct sched_pipeline *pl;
	int n;
	/* Old definitions stay alive while runs queued under them may use them. */
	struct ade_pipeline **old;
	int n_old;
	int once;
	int ticked;
	int64_t once_now_us;
	volatile int reload;
	int64_t clock_base_us; /* 0: real time */
	int64_t clock_mono0;
};

/* The scheduler's idea of now, in microseconds since the epoch. */
static int64_t sched_now(const struct sched *s)
{
	if (!s)
		return ade_now_wall_us();
	if (!s->clock_base_us)
		return ade_now_wall_us();
	return s->clock_base_us + (ade_now_mono_ns() - s->clock_mono0) / 1000;
}

/*
 * Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS][Z]" or "@SECONDS" (UTC)
 * into microseconds since the epoch.
 */
static int parse_time(const char *text, int64_t *us)
{
	int32_t days;
	int h = 0, m = 0, sec = 0;

	if (text[0] == '@') {
		char *end;
		long long v = strtoll(text + 1, &end, 10);
		if (!text[1] || *end)
			return -1;
		*us = (int64_t)v * 1000000;
		return 0;
	}
	if (strlen(text) < 10 || ade_date_parse_n(text, 10, &days))
		return -1;
	const char *p = text + 10;
	if (*p == 'T' || *p == ' ') {
		int n = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &m, &n) != 2)
			return -1;
		p += 1 + n;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &sec, &n) != 1)
				return -1;
			p += 1 + n;
		}
		if (*p == 'Z')
			p++;
		if (h > 23 || m > 59 || sec > 59)
			return -1;
	}
	if (*p)
		return -1;
	*us = ((int64_t)days * 86400 + h * 3600 + m * 60 + sec) * 1000000;
	return 0;
}

/* The first fire time at or after the end of ds's interval, in seconds. */
static int64_t due_at(const struct ade_cron *c, int32_t ds)
{
	return ade_cron_next(c, ((int64_t)ds + 1) * 86400 - 1);
}

static char *latest_state(struct ade_state *st, const char *pipeline, const char *ds)
{
	struct ade_run_row r;
	char *state = NULL;

	if (ade_state_run_latest(st, pipeline, ds, &r, NULL) == 0) {
		state = ade_xstrdup(r.state);
		ade_run_row_release(&r);
	}
	return state;
}

/* Adds the due days of one pipeline; returns when its next day falls due. */
static int64_t plan_pipeline(struct sched *s, struct ade_exec *ex, struct sched_pipeline *sp,
			     int64_t now_s)
{
	struct ade_pipeline *p = sp->p;
	int32_t first, last, end_date = INT32_MAX;
	struct ade_error err = {0};

	if (p->start_date)
		ade_date_parse(p->start_date, &first, NULL);
	else
		first = (int32_t)(now_s / 86400) - 1;
	const char *end = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p->extra, "end_date"));
	if (end)
		ade_date_parse(end, &end_date, NULL);
	/* The newest day whose run is due now. */
	last = (int32_t)(now_s / 86400);
	while (last >= first && (due_at(&sp->cron, last) < 0 || due_at(&sp->cron, last) > now_s))
		last--;
	if (last > end_date)
		last = end_date;
	int64_t next_due = -1;
	if (last + 1 <= end_date) {
		int32_t nd = last + 1 < first ? first : last + 1;
		next_due = due_at(&sp->cron, nd);
	}
	if (last < first)
		return next_due;
	int32_t from = p->catchup ? first : last;
	for (int32_t d = from; d <= last; d++) {
		char ds[11];
		ade_date_format(d, ds);
		if (ade_exec_has(ex, p->name, ds))
			continue;
		char *state = latest_state(s->st, p->name, ds);
		int unfinished = state && (!strcmp(state, "running") || !strcmp(state, "queued"));
		int wanted = !state || unfinished;
		free(state);
		if (!wanted)
			continue;
		if (p->depends_on_past && d > first) {
			char prev[11];
			ade_date_format(d - 1, prev);
			char *ps = latest_state(s->st, p->name, prev);
			int ok = ps && !strcmp(ps, "success");
			free(ps);
			if (!ok)
				break; /* later days wait for this one too */
		}
		if (ade_exec_unfinished(ex, p->name) >= p->max_active_runs)
			break;
		if (ade_exec_add(ex, p, ds, ADE_ADD_RESUME_OR_NEW, NULL, NULL, &err)) {
			fprintf(stderr, "ade schedule: %s\n", err.msg);
			continue;
		}
		ade_exec_set_due(ex, due_at(&sp->cron, d) * 1000000);
		char when[32];
		ade_format_utc(due_at(&sp->cron, d) * 1000000, when);
		printf("%s %s due at %s: queued\n", p->name, ds, when);
		fflush(stdout);
	}
	return next_due;
}

static int load_one(struct sched *s, const char *path, struct sched_pipeline *sp,
		    struct ade_error *err)
{
	struct ade_pipeline *p = NULL;
	struct ade_cron c;
	int rc = ade_pipeline_load(path, s->cli->exec_dir, &p, err);

	if (rc)
		return rc;
	if (!p->schedule) {
		ade_pipeline_free(p);
		return ade_error_set(err, ADE_EPARSE, "%s: no schedule: ade schedule needs one", path);
	}
	if ((rc = ade_cron_parse(p->schedule, &c, err))) {
		ade_error_prefix(err, "%s: schedule", path);
		ade_pipeline_free(p);
		return ADE_EPARSE;
	}
	sp->p = p;
	sp->cron = c;
	return 0;
}

/* SIGHUP: reload every file; one that no longer loads keeps its old definition. */
static void reload_all(struct sched *s)
{
	for (int i = 0; i < s->n; i++) {
		struct sched_pipeline fresh = {0};
		struct ade_error err = {0};
		if (load_one(s, s->pl[i].path, &fresh, &err)) {
			printf("reload: keeping the old definition of '%s': %s\n", s->pl[i].p->name,
			       err.msg);
			continue;
		}
		s->old = ade_xrealloc(s->old, sizeof(*s->old) * (size_t)(s->n_old + 1));
		s->old[s->n_old++] = s->pl[i].p;
		s->pl[i].p = fresh.p;
		s->pl[i].cron = fresh.cron;
		printf("reload: %s reloaded from %s\n", fresh.p->name, s->pl[i].path);
	}
	fflush(stdout);
}

static int64_t clock_cb(void *arg)
{
	return sched_now(arg);
}

static void on_hup(void *arg)
{
	((struct sched *)arg)->reload = 1;
}

static int tick(struct ade_exec *ex, void *arg, int64_t *wake_ns)
{
	struct sched *s = arg;
	int64_t now_us = sched_now(s), next = -1;

	*wake_ns = -1;
	if (s->reload) {
		s->reload = 0;
		reload_all(s);
	}
	/*
	 * --once plans against the clock as it was at the start, and goes on
	 * planning as runs end (max_active_runs, depends_on_past) until
	 * nothing more can start.
	 */
	if (s->once) {
		if (!s->ticked)
			s->once_now_us = now_us;
		now_us = s->once_now_us;
	}
	s->ticked = 1;
	int before = ade_exec_queued_total(ex);
	for (int i = 0; i < s->n; i++) {
		int64_t due = plan_pipeline(s, ex, &s->pl[i], now_us / 1000000);
		if (due >= 0 && (next < 0 || due < next))
			next = due;
	}
	if (s->once) {
		int busy = 0;
		for (int i = 0; i < s->n; i++)
			busy |= ade_exec_unfinished(ex, s->pl[i].p->name) > 0;
		int added = ade_exec_queued_total(ex) > before;
		if (added)
			*wake_ns = 0; /* plan again as soon as these started (or failed to) */
		return busy || added;
	}
	/*
	 * Sleep until the next day falls due, but wake at least every minute
	 * to pick up runs that finished (depends_on_past, max_active_runs).
	 */
	int64_t wait = next < 0 ? 60 : next - now_us / 1000000;
	if (wait > 60)
		wait = 60;
	if (wait < 0)
		wait = 0;
	*wake_ns = wait * 1000000000 + 1000000;
	return 1;
}

/* One scheduler per home: a lock with the holder's pid. */
static int take_lock(struct ade_cli *cli, int *fd_out)
{
	char *path = ade_xasprintf("%s/scheduler.lock", cli->home);
	char buf[32] = "";
	int fd, rc = 0;

	ade_fs_mkdirs(cli->home, NULL);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "ade schedule: cannot open '%s': %s\n", path, strerror(errno));
		free(path);
		return ADE_EXIT_STATE;
	}
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "ade schedule: another scheduler (pid %ld) holds %s\n", atol(buf), path);
		close(fd);
		rc = ADE_EXIT_STATE;
	} else {
		/*
		 * flock dies with its holder, so a lock file that still names a
		 * pid here was left by a scheduler that was killed.
		 */
		if (atol(buf) > 0 && atol(buf) != getpid())
			printf("taking over the lock left by scheduler pid %ld, which is gone\n",
			       atol(buf));
		char me[32];
		int len = snprintf(me, sizeof(me), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) < 0 || pwrite(fd, me, (size_t)len, 0) != len)
			fprintf(stderr, "ade schedule: cannot write '%s'\n", path);
		*fd_out = fd;
	}
	free(path);
	return rc;
}

int ade_cmd_schedule(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"once", no_argument, NULL, 'o'},
					     {"now", required_argument, NULL, 'n'},
					     {"jobs", required_argument, NULL, 'j'},
					     {NULL, 0, NULL, 0}};
	struct sched s = {.cli = cli};
	struct ade_state st;
	const char *now_text = getenv("ADE_NOW");
	int jobs = 1, c, rc = 0, lockfd = -1;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "j:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': s.once = 1; break;
		case 'n': now_text = optarg; break;
		case 'j':
			if (ade_cli_parse_int(optarg, 1, 1024, &jobs))
				return ade_cli_usage_error("schedule", "-j needs a number from 1 to 1024, not '%s'",
							   optarg);
			break;
		default:
			return ade_cli_usage_error("schedule", "unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ade_cli_usage_error("schedule", "give one or more pipeline files");
	if (now_text && *now_text) {
		if (parse_time(now_text, &s.clock_base_us))
			return ade_cli_usage_error(
				"schedule", "bad time '%s' (YYYY-MM-DD[THH:MM[:SS]Z] or @SECONDS, UTC)",
				now_text);
		s.clock_mono0 = ade_now_mono_ns();
	}
	s.n = argc - optind;
	s.pl = ade_xcalloc((size_t)s.n, sizeof(*s.pl));
	int max_active = 0;
	for (int i = 0; i < s.n; i++) {
		struct ade_error err = {0};
		s.pl[i].path = argv[optind + i];
		if ((rc = load_one(&s, s.pl[i].path, &s.pl[i], &err))) {
			fprintf(stderr, "%s\n", err.msg);
			rc = rc == ADE_EPARSE ? ADE_EXIT_PIPELINE : ADE_EXIT_USAGE;
			goto out;
		}
		max_active += s.pl[i].p->max_active_runs;
	}
	if ((rc = take_lock(cli, &lockfd)))
		goto out;
	{
		struct ade_error err = {0};
		if (ade_state_open(&st, cli->home, &err)) {
			fprintf(stderr, "ade: %s\n", err.msg);
			rc = ADE_EXIT_STATE;
			goto out;
		}
	}
	s.st = &st;
	{
		char when[32];
		ade_format_utc(sched_now(&s), when);
		printf("ade schedule: %d pipeline%s, now %s%s\n", s.n, s.n == 1 ? "" : "s", when,
		       s.clock_base_us ? " (clock overridden)" : "");
		fflush(stdout);
	}
	struct ade_exec_opts o = {.home = cli->home, .jobs = jobs, .max_active_runs = max_active,
				  .progress = 1, .tick = tick, .on_hup = on_hup, .arg = &s,
				  .now_us = clock_cb};
	/*
	 * Scheduled runs are archived and emit OpenLineage events like any
	 * other; the emitter reads each event's own pipeline (p = NULL), as
	 * one scheduler serves several pipelines.
	 */
	struct ade_observers obs = {0};
	struct ade_lineage_emitter *lineage = NULL;
	struct ade_error err = {0};
	if (ade_lineage_emitter_new(cli->home, NULL, &lineage, &err))
		fprintf(stderr, "ade schedule: lineage events off: %s\n", err.msg);
	ade_cli_add_observers(&obs, &o, lineage);
	struct ade_exec *ex = ade_exec_new(&st, &o);
	struct ade_exec_summary sum = {0};
	rc = ade_exec_run(ex, &sum, &err);
	ade_observers_close(&obs);
	ade_exec_free(ex);
	ade_lineage_emitter_free(lineage);
	ade_state_close(&st);
	if (rc) {
		fprintf(stderr, "ade: %s\n", err.msg);
		rc = ADE_EXIT_STATE;
	} else if (sum.interrupted) {
		printf("ade schedule: stopped\n");
		rc = 0; /* SIGTERM is the way to stop a scheduler, not a failure */
	} else {
		rc = s.once && sum.runs_failed ? ADE_EXIT_FAILED : 0;
	}
out:
	if (lockfd >= 0) {
		if (ftruncate(lockfd, 0) < 0) {
			/* A pid left behind is harmless: flock is what holds. */
		}
		close(lockfd);
	}
	for (int i = 0; i < s.n; i++)
		ade_pipeline_free(s.pl[i].p);
	for (int i = 0; i < s.n_old; i++)
		ade_pipeline_free(s.old[i]);
	free(s.old);
	free(s.pl);
	return rc;
}
