/*
 * Event transports: the NDJSON file every event goes to, the HTTP
 * endpoint some go to, and the outbox that keeps what could not be sent.
 */
#include "lineage.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ade_lineage_append_fd(int fd, const char *path, const char *line, size_t len,
			  struct ade_error *err)
{
	struct stat sb;
	int rc = 0;

	/* Other ade processes (a parallel backfill) append to the same file. */
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	if (fstat(fd, &sb) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot stat '%s': %s", path, strerror(errno));
	} else {
		ssize_t n = write(fd, line, len);
		if (n != (ssize_t)len) {
			int e = n < 0 ? errno : ENOSPC;
			/* Never leave half a line for a reader to trip on. */
			if (n > 0 && ftruncate(fd, sb.st_size) < 0)
				e = errno;
			rc = ade_error_set(err, ADE_EIO, "cannot append to '%s': %s", path, strerror(e));
		}
	}
	flock(fd, LOCK_UN);
	return rc;
}

int ade_lineage_open_append(const char *path, int *fd, struct ade_error *err)
{
	char *dir = ade_fs_dirname(path);
	int rc = ade_fs_mkdirs(dir, err);

	free(dir);
	if (rc)
		return rc;
	*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", path, strerror(errno));
	return 0;
}

int ade_lineage_append_line(const char *path, const char *line, size_t len, struct ade_error *err)
{
	int fd, rc = ade_lineage_open_append(path, &fd, err);

	if (rc)
		return rc;
	rc = ade_lineage_append_fd(fd, path, line, len, err);
	close(fd);
	return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/*
 * libcurl is opened when the first event is posted, not linked: with
 * gnutls, krb5 and ldap behind it, linking it cost every ade command about
 * 3 ms of start-up (half of it), and most homes post nothing.  The
 * headers still come from the libcurl package found by pkg-config; its
 * soname has been libcurl.so.4 since 2006.
 */
#define LIBCURL_SONAME "libcurl.so.4"

static struct {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} curl;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_missing[256];

static void curl_load(void)
{
	void *h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(curl_missing, sizeof(curl_missing), "cannot load %s: %s", LIBCURL_SONAME,
			 dlerror());
		return;
	}
	/* The handle stays open for the process: libcurl keeps global state. */
	*(void **)&curl.easy_init = dlsym(h, "curl_easy_init");
	*(void **)&curl.easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&curl.easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&curl.easy_getinfo = dlsym(h, "curl_easy_getinfo");
	*(void **)&curl.easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&curl.easy_strerror = dlsym(h, "curl_easy_strerror");
	*(void **)&curl.slist_append = dlsym(h, "curl_slist_append");
	*(void **)&curl.slist_free_all = dlsym(h, "curl_slist_free_all");
	if (!curl.easy_init || !curl.easy_setopt || !curl.easy_perform || !curl.easy_getinfo ||
	    !curl.easy_cleanup || !curl.easy_strerror || !curl.slist_append ||
	    !curl.slist_free_all) {
		snprintf(curl_missing, sizeof(curl_missing), "%s lacks a curl_easy function",
			 LIBCURL_SONAME);
		curl.easy_init = NULL;
	}
}

int ade_lineage_http_post(const struct ade_lineage_config *c, const char *body,
			  struct ade_error *err)
{
	pthread_once(&curl_once, curl_load);
	if (!curl.easy_init)
		return ade_error_set(err, ADE_EIO, "POST to %s: %s", c->url, curl_missing);

	CURL *h = curl.easy_init();
	struct curl_slist *hdr = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	int rc = ADE_EIO;

	if (!h)
		return ade_error_set(err, ADE_ENOMEM, "cannot start libcurl");
	size_t ul = strlen(c->url);
	while (ul && c->url[ul - 1] == '/')
		ul--;
	char *url = ade_xasprintf("%.*s/api/v1/lineage", (int)ul, c->url);
	hdr = curl.slist_append(hdr, "Content-Type: application/json");
	const char *key = c->api_key_env ? getenv(c->api_key_env) : NULL;
	char *auth = NULL;
	if (key && *key) {
		auth = ade_xasprintf("Authorization: Bearer %s", key);
		hdr = curl.slist_append(hdr, auth);
	}
	curl.easy_setopt(h, CURLOPT_URL, url);
	curl.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl.easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	/* No SIGALRM-based resolver timeouts: the executor owns the signals. */
	curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl.easy_setopt(h, CURLOPT_USERAGENT, "ade/" ADE_VERSION);
	for (int attempt = 0; attempt <= c->retries; attempt++) {
		if (attempt) {
			/* 100 ms, 200 ms, ...: short, as the scheduler waits for us. */
			struct timespec ts = {0, 100000000L * attempt};
			nanosleep(&ts, NULL);
		}
		errbuf[0] = '\0';
		CURLcode cc = curl.easy_perform(h);
		if (cc != CURLE_OK) {
			ade_error_set(err, ADE_EIO, "POST %s: %s", url, errbuf[0] ? errbuf : curl.easy_strerror(cc));
			continue;
		}
		curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300) {
			rc = 0;
			break;
		}
		ade_error_set(err, ADE_EIO, "POST %s: HTTP %ld", url, status);
		/* A client error will not go away by asking again. */
		if (status >= 400 && status < 500 && status != 408 && status != 429)
			break;
	}
	curl.slist_free_all(hdr);
	curl.easy_cleanup(h);
	free(auth);
	free(url);
	return rc;
}

static int lock_outbox(const char *home)
{
	char *dir = ade_xasprintf("%s/lineage", home);
	char *p = ade_xasprintf("%s/outbox.lock", dir);
	int fd = -1;

	if (!ade_fs_mkdirs(dir, NULL))
		fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	free(p);
	free(dir);
	return fd;
}

int ade_lineage_outbox_flush(const char *home, const struct ade_lineage_config *c, int *sent,
			     int *left, struct ade_error *err)
{
	char *path = ade_xasprintf("%s/lineage/outbox.ndjson", home);
	char *text = NULL;
	size_t len = 0;
	int n_sent = 0, n_left = 0, rc = 0;
	int lock = lock_outbox(home);

	if (!ade_fs_exists(path))
		goto out;
	if ((rc = ade_fs_read_all(path, (size_t)1 << 30, &text, &len, err)))
		goto out;
	char *p = text, *end = text + len;
	/* Send in order; stop at the first failure so the order is kept. */
	while (p < end && c->url) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break; /* not possible with whole-line appends; keep it */
		*nl = '\0';
		if (nl > p && ade_lineage_http_post(c, p, err)) {
			*nl = '\n';
			break;
		}
		n_sent += nl > p;
		p = nl + 1;
	}
	for (char *q = p; q < end; q++)
		n_left += *q == '\n';
	if (p != text) {
		if (p >= end) {
			if (unlink(path) < 0 && errno != ENOENT)
				rc = ade_error_set(err, ADE_EIO, "cannot remove '%s': %s", path, strerror(errno));
		} else {
			rc = ade_fs_write_atomic(path, p, (size_t)(end - p), err);
		}
	}
out:
	if (lock >= 0)
		close(lock);
	free(text);
	free(path);
	if (sent)
		*sent = n_sent;
	if (left)
		*left = n_left;
	return rc;
}

/* Appends one line to the outbox under its lock. */
int ade_lineage_outbox_add(const char *home, const char *line, size_t len, struct ade_error *err);
int ade_lineage_outbox_add(const char *home, const char *line, size_t len, struct ade_error *err)
{
	char *path = ade_xasprintf("%s/lineage/outbox.ndjson", home);
	int lock = lock_outbox(home);
	int rc = ade_lineage_append_line(path, line, len, err);

	if (lock >= 0)
		close(lock);
	free(path);
	return rc;
}
