/*
 * The libarchive functions ade calls, forwarding to the library opened on
 * first use (larchive.h says why).  Each definition's type is checked
 * against libarchive's own declaration in <archive.h>: a forwarder that
 * disagreed with the library would not compile.
 */
#include "larchive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>

#define LIBARCHIVE_SONAME "libarchive.so.13"

/*
 * X(return type, name, parameters, arguments, value when the library is
 * missing) for the functions that return something, V(...) for the rest.
 * archive_error_string then says why the library is missing.
 * A function ade starts to call is added here, or it does not link.
 */
#define LA_FUNCS(X, V)                                                                          \
	X(struct archive *, archive_read_new, (void), (), NULL)                                 \
	X(int, archive_read_free, (struct archive *a), (a), ARCHIVE_FATAL)                      \
	X(int, archive_read_support_filter_all, (struct archive *a), (a), ARCHIVE_FATAL)        \
	X(int, archive_read_support_format_tar, (struct archive *a), (a), ARCHIVE_FATAL)        \
	X(int, archive_read_support_format_raw, (struct archive *a), (a), ARCHIVE_FATAL)        \
	X(int, archive_read_open_filename, (struct archive *a, const char *f, size_t b), (a, f, b), \
	  ARCHIVE_FATAL)                                                                        \
	X(int, archive_read_open_fd, (struct archive *a, int fd, size_t b), (a, fd, b),         \
	  ARCHIVE_FATAL)                                                                        \
	X(int, archive_read_next_header, (struct archive *a, struct archive_entry **e), (a, e), \
	  ARCHIVE_FATAL)                                                                        \
	X(la_ssize_t, archive_read_data, (struct archive *a, void *p, size_t n), (a, p, n), -1) \
	X(int, archive_read_data_block,                                                         \
	  (struct archive *a, const void **p, size_t *n, la_int64_t *o), (a, p, n, o),          \
	  ARCHIVE_FATAL)                                                                        \
	X(int, archive_read_data_skip, (struct archive *a), (a), ARCHIVE_FATAL)                 \
	X(struct archive *, archive_write_new, (void), (), NULL)                                \
	X(struct archive *, archive_write_disk_new, (void), (), NULL)                           \
	X(int, archive_write_disk_set_options, (struct archive *a, int f), (a, f), ARCHIVE_FATAL) \
	X(int, archive_write_free, (struct archive *a), (a), ARCHIVE_FATAL)                     \
	X(int, archive_write_close, (struct archive *a), (a), ARCHIVE_FATAL)                    \
	X(int, archive_write_add_filter_zstd, (struct archive *a), (a), ARCHIVE_FATAL)          \
	X(int, archive_write_add_filter_gzip, (struct archive *a), (a), ARCHIVE_FATAL)          \
	X(int, archive_write_add_filter_xz, (struct archive *a), (a), ARCHIVE_FATAL)            \
	X(int, archive_write_add_filter_bzip2, (struct archive *a), (a), ARCHIVE_FATAL)         \
	X(int, archive_write_set_filter_option,                                                 \
	  (struct archive *a, const char *m, const char *o, const char *v), (a, m, o, v),       \
	  ARCHIVE_FATAL)                                                                        \
	X(int, archive_write_set_format_pax_restricted, (struct archive *a), (a), ARCHIVE_FATAL) \
	X(int, archive_write_set_format_raw, (struct archive *a), (a), ARCHIVE_FATAL)           \
	X(int, archive_write_open_fd, (struct archive *a, int fd), (a, fd), ARCHIVE_FATAL)      \
	X(int, archive_write_open_filename, (struct archive *a, const char *f), (a, f),         \
	  ARCHIVE_FATAL)                                                                        \
	X(int, archive_write_header, (struct archive *a, struct archive_entry *e), (a, e),      \
	  ARCHIVE_FATAL)                                                                        \
	X(la_ssize_t, archive_write_data, (struct archive *a, const void *p, size_t n), (a, p, n), \
	  -1)                                                                                   \
	X(la_ssize_t, archive_write_data_block,                                                 \
	  (struct archive *a, const void *p, size_t n, la_int64_t o), (a, p, n, o), -1)         \
	X(int, archive_write_finish_entry, (struct archive *a), (a), ARCHIVE_FATAL)             \
	X(const char *, archive_error_string, (struct archive *a), (a), la_missing)             \
	V(archive_clear_error, (struct archive *a), (a))                                        \
	X(struct archive_entry *, archive_entry_new, (void), (), NULL)                          \
	V(archive_entry_free, (struct archive_entry *e), (e))                                   \
	X(const char *, archive_entry_pathname, (struct archive_entry *e), (e), NULL)           \
	X(const char *, archive_entry_hardlink, (struct archive_entry *e), (e), NULL)           \
	X(const char *, archive_entry_symlink, (struct archive_entry *e), (e), NULL)            \
	X(mode_t, archive_entry_filetype, (struct archive_entry *e), (e), 0)                    \
	X(mode_t, archive_entry_perm, (struct archive_entry *e), (e), 0)                        \
	V(archive_entry_set_pathname, (struct archive_entry *e, const char *p), (e, p))         \
	V(archive_entry_set_hardlink, (struct archive_entry *e, const char *p), (e, p))         \
	V(archive_entry_set_symlink, (struct archive_entry *e, const char *p), (e, p))          \
	V(archive_entry_set_filetype, (struct archive_entry *e, unsigned int t), (e, t))        \
	V(archive_entry_set_perm, (struct archive_entry *e, mode_t m), (e, m))                  \
	V(archive_entry_set_size, (struct archive_entry *e, la_int64_t s), (e, s))              \
	V(archive_entry_set_uid, (struct archive_entry *e, la_int64_t u), (e, u))               \
	V(archive_entry_set_gid, (struct archive_entry *e, la_int64_t g), (e, g))               \
	V(archive_entry_set_mtime, (struct archive_entry *e, time_t s, long ns), (e, s, ns))

/* The library's functions; all NULL until it is open, all set once it is. */
static struct {
#define FIELD(ret, name, params, args, missing) ret(*name) params;
#define VFIELD(name, params, args) void(*name) params;
	LA_FUNCS(FIELD, VFIELD)
#undef FIELD
#undef VFIELD
} la;
static int la_open;
static char la_missing[320];
static pthread_once_t la_once = PTHREAD_ONCE_INIT;

static void la_load(void)
{
	void *h = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *why = dlerror();
		snprintf(la_missing, sizeof(la_missing), "cannot load %s: %s", LIBARCHIVE_SONAME,
			 why ? why : "not found");
		return;
	}
	/* The handle stays open for the process: archives in use point into it. */
	const char *lacking = NULL;
#define RESOLVE(name)                                                                           \
	do {                                                                                    \
		*(void **)&la.name = dlsym(h, #name);                                           \
		if (!la.name && !lacking)                                                       \
			lacking = #name;                                                        \
	} while (0);
#define XRESOLVE(ret, name, params, args, missing) RESOLVE(name)
#define VRESOLVE(name, params, args) RESOLVE(name)
	LA_FUNCS(XRESOLVE, VRESOLVE)
#undef XRESOLVE
#undef VRESOLVE
#undef RESOLVE
	if (lacking) {
		snprintf(la_missing, sizeof(la_missing), "%s lacks %s", LIBARCHIVE_SONAME, lacking);
		return;
	}
	la_open = 1;
}

const char *ade_larchive_error(void)
{
	pthread_once(&la_once, la_load);
	return la_open ? NULL : la_missing;
}

#define FORWARD(ret, name, params, args, missing)                                               \
	ret name params                                                                         \
	{                                                                                       \
		if (ade_larchive_error())                                                       \
			return missing;                                                         \
		return la.name args;                                                            \
	}
#define VFORWARD(name, params, args)                                                            \
	void name params                                                                        \
	{                                                                                       \
		if (!ade_larchive_error())                                                      \
			la.name args;                                                           \
	}
LA_FUNCS(FORWARD, VFORWARD)
