/*
 * `ade serve`: a read-only HTTP server over a home directory, on
 * libmicrohttpd (docs/serve.md): the HTML report as dashboard, a JSON API
 * over state.db, the warehouse, lineage and archives, Prometheus metrics
 * and a health check.
 *
 * Nothing a request says can change the home or read a file outside it:
 * SQLite files are opened with SQLITE_OPEN_READONLY and query_only, no
 * route maps a URL to a path, and the names that build paths (pipeline,
 * date, run number) are validated and must be known to state.db or the
 * warehouse first.
 *
 * Every function returns 0 or a negative ADE_E* code with a message in err.
 */
#ifndef ADE_SERVE_H
#define ADE_SERVE_H

#include <stddef.h>
#include <sys/socket.h>

struct ade_error;

/* Limits, also documented in docs/serve.md. */
#define ADE_SERVE_DEFAULT_LISTEN "127.0.0.1:8080"
#define ADE_SERVE_MAX_CONNECTIONS 128       /* open connections in all */
#define ADE_SERVE_MAX_PER_IP 64             /* open connections from one address */
#define ADE_SERVE_CONNECTION_MEMORY 16384   /* request line and headers, per connection */
#define ADE_SERVE_MAX_HEADERS 64            /* header fields per request */
#define ADE_SERVE_MAX_URL 2048              /* bytes of the decoded path */
#define ADE_SERVE_TIMEOUT_S 15              /* idle connection timeout */
#define ADE_SERVE_DEFAULT_THREADS 4
/*
 * A request waits at most this long for a writer's lock on state.db or
 * the warehouse, per statement, and stops querying at the deadline; then
 * it is answered 503 with Retry-After.  Each pool thread multiplexes many
 * connections, so a handler blocked on a lock would stall the others
 * (even /healthz): waits are kept short.
 */
#define ADE_SERVE_BUSY_TIMEOUT_MS 250
#define ADE_SERVE_REQUEST_DEADLINE_MS 5000
#define ADE_SERVE_RETRY_AFTER_S 2           /* the Retry-After of a 503 */

struct ade_serve_opts {
	const char *home;   /* absolute; borrowed for the server's life */
	const char *listen; /* "HOST:PORT", IPv4 or [IPv6]; NULL: ADE_SERVE_DEFAULT_LISTEN */
	const char *token;  /* bearer token every route but /healthz requires; NULL: none */
	int threads;        /* request threads; 0: ADE_SERVE_DEFAULT_THREADS */
};

/*
 * Parses "HOST:PORT" (HOST a numeric IPv4 address, or an IPv6 address in
 * brackets; PORT 0..65535, 0 = any free port) into ss/len and tells whether
 * it is a loopback address (127.0.0.0/8, ::1).  Names are not resolved:
 * what the server binds to must be what the user read.
 */
int ade_serve_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
			   int *loopback, struct ade_error *err);

struct ade_serve;

/*
 * Starts serving in background threads.  Refuses (ADE_EINVAL) a
 * non-loopback address without a token, and a malformed address; a port
 * in use or a denied bind is ADE_ESYS.  *out is the caller's, stopped and
 * freed with ade_serve_stop().
 */
int ade_serve_start(const struct ade_serve_opts *o, struct ade_serve **out,
		    struct ade_error *err);

/* "http://HOST:PORT/" as bound (the real port when 0 was asked); borrowed. */
const char *ade_serve_url(const struct ade_serve *s);

/* Stops accepting, finishes the requests in progress, frees s. */
void ade_serve_stop(struct ade_serve *s);

#endif
