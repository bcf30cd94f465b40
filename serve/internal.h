/* Shared between the server (server.c) and its routes (routes.c). */
#ifndef ADE_SERVE_INTERNAL_H
#define ADE_SERVE_INTERNAL_H

#include "core/util.h"

#include <microhttpd.h>
#include <pthread.h>
#include <sqlite3.h>

struct ade_error;

struct ade_serve {
	char *home;
	char *home_real;   /* realpath of home, for the containment check */
	char *token;       /* NULL: no token */
	char url[96];
	struct MHD_Daemon *d;
	pthread_key_t dbkey; /* per-thread read-only connections (struct thread_dbs) */
};

enum serve_db { DB_STATE, DB_WAREHOUSE, DB_N };

/* One request being answered. */
struct req {
	struct ade_serve *srv;
	struct MHD_Connection *conn;
	const char *path;        /* decoded, without the query */
	int status;
	const char *ctype;
	struct ade_strbuf body;  /* the response body (owned until sent) */
	int html;                /* body is the HTML report: stricter CSP */
	int html_errors;         /* a browser page: a 503 is answered in HTML, not JSON */
	int64_t deadline_ns;     /* ade_now_mono_ns() after which queries give up */
};

/*
 * A read-only connection to home/state.db or home/warehouse.db for this
 * thread, kept between requests (no statement stays open, so no read
 * transaction does either) and reopened when the file was replaced.
 * *db is borrowed; NULL with 0 returned when the file does not exist.
 */
int serve_db(struct req *r, enum serve_db which, sqlite3 **db, struct ade_error *err);

/*
 * Sets a JSON error response {"error": {"status", "message"}}; a 503 of a
 * request with html_errors set is a small HTML page instead.
 */
void serve_error(struct req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A query parameter's value, or NULL when absent; an empty "?name" gives "".
 */
const char *serve_arg(struct req *r, const char *name);

/*
 * Refuses (400, returns -1) a parameter not in allowed (NULL-terminated)
 * or given twice, unless it is in repeatable.
 */
int serve_args_check(struct req *r, const char *const *allowed, const char *const *repeatable);

/* Routes: each fills r->status, r->ctype and r->body (or an error). */
void route_dashboard(struct req *r, const char *pipeline);
void route_runs(struct req *r);
void route_run(struct req *r, const char *id);
void route_kpis(struct req *r);
void route_lineage(struct req *r);
void route_artifacts(struct req *r);
void route_metrics(struct req *r);
void route_openapi(struct req *r);

/* The OpenAPI 3.0 document (openapi.c). */
extern const char serve_openapi_json[];

#endif
