/*
 * Helpers shared by the unit tests: private temporary directories and
 * small files.  Header-only so every test_<module>.c stays one executable.
 * Include after <cmocka.h>.
 */
#ifndef ADE_TESTUTIL_H
#define ADE_TESTUTIL_H

#include "core/fs.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A new private directory under $TMPDIR (caller frees; remove with tu_rmdir). */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = ade_xasprintf("%s/ade-unit-XXXXXX", base && *base ? base : "/tmp");

	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

/* Removes a tree made by tu_mkdtemp and frees its name. */
static inline void tu_rmdir(char *dir)
{
	if (!dir)
		return;
	assert_int_equal(ade_fs_remove_tree(dir, NULL), 0);
	assert_false(ade_fs_exists(dir));
	free(dir);
}

/* Writes text to dir/name with mode and returns the path (caller frees). */
static inline char *tu_write_mode(const char *dir, const char *name, const char *text,
				  mode_t mode)
{
	char *path = ade_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static inline char *tu_write(const char *dir, const char *name, const char *text)
{
	return tu_write_mode(dir, name, text, 0644);
}

/* Reads a whole file (caller frees). */
static inline char *tu_read(const char *path)
{
	char *text = NULL;

	assert_int_equal(ade_fs_read_all(path, 1 << 20, &text, NULL, NULL), 0);
	return text;
}

#endif
