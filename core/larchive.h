/*
 * libarchive, opened on first use.
 *
 * ade and its stages are not linked with libarchive: core/larchive.c
 * defines the libarchive functions ade calls, each forwarding to the
 * library, which it opens (dlopen of libarchive.so.13) the first time one
 * of them is called.  libarchive brings libxml2, ICU and libstdc++ with it;
 * loading them took half of every ade command's and every stage's start,
 * and most never read or write an archive (docs/dependencies.md).
 *
 * Code includes <archive.h> and <archive_entry.h> and calls libarchive as
 * usual.  Where the library cannot be opened, the constructors
 * (archive_read_new, archive_write_new, archive_write_disk_new,
 * archive_entry_new) return NULL, every other function returns
 * ARCHIVE_FATAL, -1, NULL or 0 and does nothing, and archive_error_string
 * says why; so a caller that checks the open of its archive reports it.
 */
#ifndef ADE_CORE_LARCHIVE_H
#define ADE_CORE_LARCHIVE_H

/*
 * Opens libarchive if it is not yet open; NULL when it is, else why it
 * cannot be (a static string).  Thread-safe; the library stays open.
 */
const char *ade_larchive_error(void);

#endif
