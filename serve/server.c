/*
 * The HTTP side of `ade serve`: the libmicrohttpd daemon, its limits, the
 * bearer token, method and size checks, and dispatch to the routes.
 */
#include "serve.h"
#include "internal.h"

#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADE_STR_(x) #x
#define ADE_STR(x) ADE_STR_(x)

/* ---- listen address -------------------------------------------------- */

int ade_serve_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
			   int *loopback, struct ade_error *err)
{
	char host[64];
	const char *colon, *port_s;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return ade_error_set(err, ADE_EINVAL,
					     "--listen '%s': an IPv6 address is written [ADDR]:PORT", spec);
		hl = (size_t)(close - spec - 1);
		if (hl >= sizeof(host))
			return ade_error_set(err, ADE_EINVAL, "--listen '%s': address too long", spec);
		memcpy(host, spec + 1, hl);
		host[hl] = '\0';
		port_s = close + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return ade_error_set(err, ADE_EINVAL, "--listen '%s': give HOST:PORT, e.g. %s", spec,
					     ADE_SERVE_DEFAULT_LISTEN);
		hl = (size_t)(colon - spec);
		if (hl >= sizeof(host))
			return ade_error_set(err, ADE_EINVAL, "--listen '%s': address too long", spec);
		memcpy(host, spec, hl);
		host[hl] = '\0';
		port_s = colon + 1;
	}
	char *end;
	errno = 0;
	long port = strtol(port_s, &end, 10);
	if (!*port_s || *end || errno || port < 0 || port > 65535)
		return ade_error_set(err, ADE_EINVAL, "--listen '%s': the port must be 0..65535", spec);
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (spec[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		*loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (spec[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		*loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
		return 0;
	}
	return ade_error_set(err, ADE_EINVAL,
			     "--listen '%s': '%s' is not a numeric IPv4 address or a bracketed IPv6 "
			     "address (names are not resolved)",
			     spec, host);
}

/* ---- per-thread database connections --------------------------------- */

struct thread_dbs {
	sqlite3 *db[DB_N];
	dev_t dev[DB_N];
	ino_t ino[DB_N];
	int64_t deadline_ns; /* of the request this thread answers now */
};

/*
 * The busy handler of the server's connections: a few milliseconds
 * between tries, ADE_SERVE_BUSY_TIMEOUT_MS per lock wait, never past the
 * request's deadline.
 */
static int busy_wait(void *arg, int n)
{
	const struct thread_dbs *t = arg;

	if ((int64_t)n * 5 >= ADE_SERVE_BUSY_TIMEOUT_MS || ade_now_mono_ns() >= t->deadline_ns)
		return 0;
	sqlite3_sleep(5);
	return 1;
}

/* Interrupts a query still running at the request's deadline. */
static int past_deadline(void *arg)
{
	const struct thread_dbs *t = arg;

	return ade_now_mono_ns() >= t->deadline_ns;
}

static void thread_dbs_free(void *p)
{
	struct thread_dbs *t = p;

	for (int i = 0; i < DB_N; i++)
		sqlite3_close(t->db[i]);
	free(t);
}

int serve_db(struct req *r, enum serve_db which, sqlite3 **db, struct ade_error *err)
{
	struct thread_dbs *t = pthread_getspecific(r->srv->dbkey);
	struct stat st;
	int rc = 0;

	*db = NULL;
	if (!t) {
		t = ade_xcalloc(1, sizeof(*t));
		pthread_setspecific(r->srv->dbkey, t);
	}
	t->deadline_ns = r->deadline_ns;
	char *path = ade_xasprintf("%s/%s", r->srv->home,
				   which == DB_STATE ? "state.db" : "warehouse.db");
	if (stat(path, &st) < 0) {
		/* Not there (yet): a fresh home has no warehouse. */
		sqlite3_close(t->db[which]);
		t->db[which] = NULL;
		free(path);
		return 0;
	}
	if (t->db[which] && (t->dev[which] != st.st_dev || t->ino[which] != st.st_ino)) {
		sqlite3_close(t->db[which]);
		t->db[which] = NULL;
	}
	if (!t->db[which]) {
		if ((rc = ade_metrics_open_readonly(path, &t->db[which], err)) == 0) {
			t->dev[which] = st.st_dev;
			t->ino[which] = st.st_ino;
			/* Replaces the opener's long timeout: see ADE_SERVE_BUSY_TIMEOUT_MS. */
			sqlite3_busy_handler(t->db[which], busy_wait, t);
			sqlite3_progress_handler(t->db[which], 1000, past_deadline, t);
		} else if (rc == ADE_ENOTFOUND) {
			rc = 0;
		}
	}
	free(path);
	*db = t->db[which];
	return rc;
}

/* ---- responses and parameters ---------------------------------------- */

void serve_error(struct req *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddNumberToObject(e, "status", status);
	cJSON_AddStringToObject(e, "message", msg);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	ade_strbuf_reset(&r->body);
	r->status = status;
	r->html = 0;
	if (r->html_errors && status == 503) {
		/* A person reloads a page; a script reads the JSON of the API routes. */
		ade_strbuf_adds(&r->body, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
					  "<title>ade: try again</title></head><body>\n"
					  "<h1>503 Service Unavailable</h1>\n<p>");
		for (const char *p = msg; *p; p++) {
			switch (*p) {
			case '&': ade_strbuf_adds(&r->body, "&amp;"); break;
			case '<': ade_strbuf_adds(&r->body, "&lt;"); break;
			case '>': ade_strbuf_adds(&r->body, "&gt;"); break;
			case '"': ade_strbuf_adds(&r->body, "&quot;"); break;
			case '\'': ade_strbuf_adds(&r->body, "&#39;"); break;
			default: ade_strbuf_addc(&r->body, *p);
			}
		}
		ade_strbuf_addf(&r->body, "</p>\n<p>Reload in %d seconds.</p>\n</body></html>\n",
				ADE_SERVE_RETRY_AFTER_S);
		r->ctype = "text/html; charset=utf-8";
		free(text);
		return;
	}
	ade_strbuf_adds(&r->body, text);
	ade_strbuf_addc(&r->body, '\n');
	free(text);
	r->ctype = "application/json";
}

const char *serve_arg(struct req *r, const char *name)
{
	const char *v;

	if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
					  NULL) != MHD_YES)
		return NULL;
	return v ? v : "";
}

struct args_walk {
	const char *const *allowed, *const *repeatable;
	const char *bad;
	const char *dup;
	const char *seen[32];
	int n_seen;
	int too_many;
};

static int in_list(const char *const *l, const char *k)
{
	for (; l && *l; l++)
		if (!strcmp(*l, k))
			return 1;
	return 0;
}

static enum MHD_Result walk_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct args_walk *w = cls;

	(void)kind;
	(void)value;
	if (!in_list(w->allowed, key)) {
		w->bad = key;
		return MHD_NO;
	}
	if (in_list(w->repeatable, key))
		return MHD_YES;
	for (int i = 0; i < w->n_seen; i++)
		if (!strcmp(w->seen[i], key)) {
			w->dup = key;
			return MHD_NO;
		}
	if (w->n_seen < (int)(sizeof(w->seen) / sizeof(w->seen[0])))
		w->seen[w->n_seen++] = key;
	return MHD_YES;
}

int serve_args_check(struct req *r, const char *const *allowed, const char *const *repeatable)
{
	struct args_walk w = {.allowed = allowed, .repeatable = repeatable};
	int n = MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, walk_arg, &w);

	if (w.bad) {
		struct ade_strbuf sb = ADE_STRBUF_INIT;
		for (const char *const *a = allowed; a && *a; a++)
			ade_strbuf_addf(&sb, "%s%s", a == allowed ? "" : ", ", *a);
		serve_error(r, 400, "unknown parameter '%.64s'%s%s", w.bad,
			    sb.len ? "; this route takes " : "; this route takes no parameters",
			    sb.len ? sb.buf : "");
		ade_strbuf_release(&sb);
		return -1;
	}
	if (w.dup) {
		serve_error(r, 400, "parameter '%s' given twice", w.dup);
		return -1;
	}
	if (n > 64) {
		serve_error(r, 400, "too many parameters (%d; at most 64)", n);
		return -1;
	}
	return 0;
}

/* ---- the request handler --------------------------------------------- */

/* Compares without an early exit, so timing does not tell how much matched. */
static int token_equal(const char *given, size_t glen, const char *want)
{
	size_t wlen = strlen(want);
	volatile unsigned char diff = (unsigned char)(glen != wlen);

	for (size_t i = 0; i < wlen; i++)
		diff |= (unsigned char)(want[i] ^ (i < glen ? given[i] : 0));
	return diff == 0;
}

static int authorized(struct req *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);

	if (!h || strncasecmp(h, "Bearer ", 7))
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	size_t n = strlen(h);
	while (n && h[n - 1] == ' ')
		n--;
	return token_equal(h, n, r->srv->token);
}

/* 1 when s[0..n) is an IPv4 address in 127.0.0.0/8 written in dotted decimal. */
static int loopback_v4(const char *s, size_t n)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/*
 * Without a token, the only protection is that the server listens on
 * loopback; a web page could still reach it through the user's browser by
 * DNS rebinding (its own name, re-pointed at 127.0.0.1).  The browser then
 * sends that name as Host, so only loopback names and addresses are
 * accepted: 127.x.x.x, [::1], localhost, each with an optional :PORT.
 * The bound address is always one of these (without a token only loopback
 * is allowed).  A request without Host (HTTP/1.0) comes from no browser.
 */
static int host_ok(struct req *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	size_t n;

	if (!h)
		return 1;
	if (h[0] == '[') {
		const char *close = strchr(h, ']');
		if (!close || (size_t)(close - h) != 4 || strncmp(h, "[::1]", 5))
			return 0;
		n = 5;
	} else {
		n = strcspn(h, ":");
		if (!((n == 9 && !strncasecmp(h, "localhost", 9)) || loopback_v4(h, n)))
			return 0;
	}
	if (h[n] == '\0')
		return 1;
	if (h[n] != ':' || !h[n + 1] || strlen(h + n + 1) > 5)
		return 0;
	for (const char *p = h + n + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

static void dispatch(struct req *r)
{
	const char *p = r->path;

	if (!strcmp(p, "/healthz")) {
		static const char *const none[] = {NULL};
		if (serve_args_check(r, none, NULL))
			return;
		r->status = 200;
		r->ctype = "application/json";
		ade_strbuf_adds(&r->body, "{\"status\":\"ok\",\"version\":\"" ADE_VERSION "\"}\n");
	} else if (!strcmp(p, "/")) {
		route_dashboard(r, NULL);
	} else if (!strncmp(p, "/report/", 8) && p[8] && !strchr(p + 8, '/')) {
		route_dashboard(r, p + 8);
	} else if (!strcmp(p, "/metrics")) {
		route_metrics(r);
	} else if (!strcmp(p, "/api/v1/openapi.json")) {
		route_openapi(r);
	} else if (!strcmp(p, "/api/v1/runs")) {
		route_runs(r);
	} else if (!strncmp(p, "/api/v1/runs/", 13) && p[13] && !strchr(p + 13, '/')) {
		route_run(r, p + 13);
	} else if (!strcmp(p, "/api/v1/kpis")) {
		route_kpis(r);
	} else if (!strcmp(p, "/api/v1/lineage")) {
		route_lineage(r);
	} else if (!strcmp(p, "/api/v1/artifacts")) {
		route_artifacts(r);
	} else {
		serve_error(r, 404, "no route %.200s%s; see /api/v1/openapi.json", p,
			    strlen(p) > 200 ? "..." : "");
	}
}

static enum MHD_Result send_req(struct req *r, const char *allow)
{
	size_t len = r->body.len;
	char *body = ade_strbuf_detach(&r->body);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ok;

	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
	/* Always current: nothing here may be served from a cache. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	/* The report is self-contained: inline CSS and SVG, no script. */
	MHD_add_response_header(resp, "Content-Security-Policy",
				r->html ? "default-src 'none'; style-src 'unsafe-inline'; "
					  "img-src data:; frame-ancestors 'none'"
					: "default-src 'none'; frame-ancestors 'none'");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (r->status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
					ADE_STR(ADE_SERVE_RETRY_AFTER_S));
	if (r->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"ade\"");
	ok = MHD_queue_response(r->conn, (unsigned int)r->status, resp);
	MHD_destroy_response(resp);
	return ok;
}

/*
 * libmicrohttpd calls this once when the headers are in, then again for
 * each piece of body and once more at the end.  A response queued on the
 * first call closes the connection (the body may be unread), so good GET
 * requests are answered on the last call and keep their connection alive;
 * requests refused on their headers alone are answered at once and lose it.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	static int headers_ok;
	struct req r = {.srv = cls, .conn = conn, .path = url, .ctype = "application/json"};
	const char *allow = NULL;

	(void)version;
	(void)upload_data;
	if (*con_cls) {
		if (*upload_data_size) {
			/* Only reachable past the checks below; never wanted. */
			*upload_data_size = 0;
			return MHD_YES;
		}
		r.deadline_ns = ade_now_mono_ns() + (int64_t)ADE_SERVE_REQUEST_DEADLINE_MS * 1000000;
		dispatch(&r);
	} else {
		int n_headers = MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL);
		const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_TRANSFER_ENCODING);

		if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
			allow = "GET, HEAD";
			serve_error(&r, 405,
				    "method %.16s not allowed: ade serve is read-only (GET, HEAD)", method);
		} else if (n_headers > ADE_SERVE_MAX_HEADERS) {
			serve_error(&r, 431, "too many header fields (%d; at most %d)", n_headers,
				    ADE_SERVE_MAX_HEADERS);
		} else if (strlen(url) > ADE_SERVE_MAX_URL) {
			serve_error(&r, 414, "path longer than %d bytes", ADE_SERVE_MAX_URL);
		} else if ((clen && strcmp(clen, "0")) || te) {
			serve_error(&r, 413, "a GET request takes no body");
		} else if (!r.srv->token && !host_ok(&r)) {
			serve_error(&r, 421, "Host '%.100s' is not this server: without a token only "
					     "localhost, 127.x.x.x and [::1] are answered (DNS rebinding)",
				    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								MHD_HTTP_HEADER_HOST));
		} else if (r.srv->token && strcmp(url, "/healthz") && !authorized(&r)) {
			serve_error(&r, 401, "this server needs 'Authorization: Bearer TOKEN'");
		} else {
			*con_cls = &headers_ok;
			return MHD_YES;
		}
	}
	enum MHD_Result ok = send_req(&r, allow);
	ade_strbuf_release(&r.body);
	return ok;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	ade_log_debug("libmicrohttpd: %s", msg);
}

/* ---- start and stop -------------------------------------------------- */

int ade_serve_start(const struct ade_serve_opts *o, struct ade_serve **out,
		    struct ade_error *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int loopback, rc;
	const char *listen = o->listen ? o->listen : ADE_SERVE_DEFAULT_LISTEN;

	*out = NULL;
	if ((rc = ade_serve_parse_listen(listen, &ss, &sl, &loopback, err)))
		return rc;
	if (o->token && !*o->token)
		return ade_error_set(err, ADE_EINVAL, "--token is empty");
	if (!loopback && !o->token)
		return ade_error_set(err, ADE_EINVAL,
				     "refusing to listen on %s without --token: it is not a loopback "
				     "address, so anyone who can reach it could read every run, KPI "
				     "and log name; give --token TOKEN (or ADE_SERVE_TOKEN)",
				     listen);
	char real[PATH_MAX];
	if (!realpath(o->home, real))
		return ade_error_set(err, ADE_EIO, "home '%s': %s", o->home, strerror(errno));

	struct ade_serve *s = ade_xcalloc(1, sizeof(*s));
	s->home = ade_xstrdup(o->home);
	s->home_real = ade_xstrdup(real);
	s->token = o->token ? ade_xstrdup(o->token) : NULL;
	if (pthread_key_create(&s->dbkey, thread_dbs_free)) {
		rc = ade_error_set(err, ADE_ESYS, "pthread_key_create failed");
		goto fail_key;
	}
	int threads = o->threads > 0 ? o->threads : ADE_SERVE_DEFAULT_THREADS;
	unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)ADE_SERVE_MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)ADE_SERVE_MAX_PER_IP,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADE_SERVE_CONNECTION_MEMORY,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)ADE_SERVE_TIMEOUT_S,
		MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_END);
	if (!s->d) {
		rc = ade_error_set(err, ADE_ESYS,
				   "cannot listen on %s: the port is in use, or binding it is not "
				   "allowed",
				   listen);
		goto fail;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned port = info ? info->port : 0;
	char host[INET6_ADDRSTRLEN] = "";
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
		snprintf(s->url, sizeof(s->url), "http://[%s]:%u/", host, port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		snprintf(s->url, sizeof(s->url), "http://%s:%u/", host, port);
	}
	*out = s;
	return 0;
fail:
	pthread_key_delete(s->dbkey);
fail_key:
	free(s->token);
	free(s->home_real);
	free(s->home);
	free(s);
	return rc;
}

const char *ade_serve_url(const struct ade_serve *s)
{
	return s->url;
}

void ade_serve_stop(struct ade_serve *s)
{
	if (!s)
		return;
	/* Joins the pool's threads; their connections close in thread_dbs_free. */
	MHD_stop_daemon(s->d);
	pthread_key_delete(s->dbkey);
	if (s->token) {
		/* The token should not outlive its use in freed memory. */
		volatile char *t = s->token;
		while (*t)
			*t++ = 0;
	}
	free(s->token);
	free(s->home_real);
	free(s->home);
	free(s);
}
