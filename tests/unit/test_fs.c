/* Unit tests for core/fs: mkdirs, remove_tree, atomic writes, reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/fs.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_mkdirs_nested(void **state)
{
	char *dir = tu_mkdtemp();
	char *deep = ade_xasprintf("%s/a/b/c/d", dir);
	char *slash = ade_xasprintf("%s/x/y/", dir);
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_fs_mkdirs(deep, &err), 0);
	assert_true(is_dir(deep));
	/* Existing directories are fine, and so is a trailing slash. */
	assert_int_equal(ade_fs_mkdirs(deep, &err), 0);
	assert_int_equal(ade_fs_mkdirs(dir, &err), 0);
	assert_int_equal(ade_fs_mkdirs(slash, &err), 0);
	assert_true(is_dir(slash));
	free(deep);
	free(slash);
	tu_rmdir(dir);
}

static void test_mkdirs_refusals(void **state)
{
	char *dir = tu_mkdtemp();
	char *file = tu_write(dir, "file", "x");
	char *under = ade_xasprintf("%s/file/sub", dir);
	struct ade_error err = {0};

	(void)state;
	/* A file in the way of a parent. */
	assert_int_equal(ade_fs_mkdirs(under, &err), ADE_EIO);
	assert_non_null(strstr(err.msg, "cannot create directory"));
	/* A file where the directory should be is not a directory. */
	err.msg[0] = '\0';
	assert_int_equal(ade_fs_mkdirs(file, &err), ADE_EIO);
	assert_non_null(strstr(err.msg, file));
	/* An empty path names nothing. */
	assert_int_not_equal(ade_fs_mkdirs("", &err), 0);
	free(under);
	free(file);
	tu_rmdir(dir);
}

static void test_remove_tree(void **state)
{
	char *dir = tu_mkdtemp();
	char *root = ade_xasprintf("%s/tree", dir);
	char *deep = ade_xasprintf("%s/tree/a/b/c", dir);
	char *outside = tu_write(dir, "keep.txt", "keep");
	char *link = ade_xasprintf("%s/tree/a/link", dir);
	char *dirlink = ade_xasprintf("%s/tree/dirlink", dir);
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_fs_mkdirs(deep, &err), 0);
	free(tu_write(deep, "f1", "1"));
	free(tu_write(root, "f2", "2"));
	/* Links are removed, never followed. */
	assert_int_equal(symlink(outside, link), 0);
	assert_int_equal(symlink(dir, dirlink), 0);
	assert_int_equal(ade_fs_remove_tree(root, &err), 0);
	assert_false(ade_fs_exists(root));
	assert_true(ade_fs_exists(outside));
	char *kept = tu_read(outside);
	assert_string_equal(kept, "keep");
	free(kept);
	/* A missing path is not an error; a single file is removed. */
	assert_int_equal(ade_fs_remove_tree(root, &err), 0);
	assert_int_equal(ade_fs_remove_tree(outside, &err), 0);
	assert_false(ade_fs_exists(outside));
	free(root);
	free(deep);
	free(outside);
	free(link);
	free(dirlink);
	tu_rmdir(dir);
}

/* The same checks for the durable and the quick replace: the reader's view is the same. */
static void check_replace(int (*write_fn)(const char *, const void *, size_t, struct ade_error *))
{
	char *dir = tu_mkdtemp();
	char *path = ade_xasprintf("%s/data.bin", dir);
	struct ade_error err = {0};
	char *text = NULL;
	size_t len = 0;
	DIR *d;
	struct dirent *e;
	int n = 0;

	assert_int_equal(write_fn(path, "first version", 13, &err), 0);
	assert_int_equal(write_fn(path, "a\0b", 3, &err), 0);
	assert_int_equal(ade_fs_read_all(path, 100, &text, &len, &err), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(text, "a\0b", 4); /* NUL-terminated after the data */
	free(text);
	/* Empty content is a valid file. */
	assert_int_equal(write_fn(path, "", 0, &err), 0);
	assert_int_equal(ade_fs_read_all(path, 100, &text, &len, &err), 0);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
	/* Only the target is left in the directory: no temporary file. */
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		assert_string_equal(e->d_name, "data.bin");
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
	/* A failed write leaves no temporary behind either. */
	char *missing = ade_xasprintf("%s/nodir/x", dir);
	assert_int_equal(write_fn(missing, "x", 1, &err), ADE_EIO);
	assert_false(ade_fs_exists(missing));
	free(missing);
	free(path);
	tu_rmdir(dir);
}

static void test_write_atomic(void **state)
{
	(void)state;
	check_replace(ade_fs_write_atomic);
}

static void test_write_replace(void **state)
{
	(void)state;
	check_replace(ade_fs_write_replace);
}

static void test_read_all_limits(void **state)
{
	char *dir = tu_mkdtemp();
	char *path = tu_write(dir, "ten", "0123456789");
	char *missing = ade_xasprintf("%s/missing", dir);
	struct ade_error err = {0};
	char *text = (char *)"untouched";
	size_t len = 99;

	(void)state;
	assert_int_equal(ade_fs_read_all(path, 9, &text, &len, &err), ADE_EINVAL);
	assert_string_equal(text, "untouched");
	assert_non_null(strstr(err.msg, "larger than 9 bytes"));
	/* Exactly max bytes is fine. */
	assert_int_equal(ade_fs_read_all(path, 10, &text, &len, &err), 0);
	assert_int_equal(len, 10);
	assert_string_equal(text, "0123456789");
	free(text);
	/* len may be NULL. */
	assert_int_equal(ade_fs_read_all(path, 10, &text, NULL, &err), 0);
	free(text);
	assert_int_equal(ade_fs_read_all(missing, 10, &text, &len, &err), ADE_ENOTFOUND);
	assert_int_equal(ade_fs_read_all(dir, 10, &text, &len, &err), ADE_EIO);
	free(missing);
	free(path);
	tu_rmdir(dir);
}

static void test_path_helpers(void **state)
{
	char *s;

	(void)state;
	s = ade_fs_dirname("/a/b/c.txt");
	assert_string_equal(s, "/a/b");
	free(s);
	s = ade_fs_dirname("c.txt");
	assert_string_equal(s, ".");
	free(s);
	s = ade_fs_dirname("/c.txt");
	assert_string_equal(s, "/");
	free(s);
	s = ade_fs_abspath("/");
	assert_string_equal(s, "/");
	free(s);
	s = ade_fs_abspath("no-such-file-here");
	assert_non_null(s);
	assert_int_equal(s[0], '/');
	assert_non_null(strstr(s, "/no-such-file-here"));
	free(s);
	assert_true(ade_fs_exists("/"));
	assert_false(ade_fs_exists("/no/such/path/ade"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mkdirs_nested),
		cmocka_unit_test(test_mkdirs_refusals),
		cmocka_unit_test(test_remove_tree),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_write_replace),
		cmocka_unit_test(test_read_all_limits),
		cmocka_unit_test(test_path_helpers),
	};

	return cmocka_run_group_tests_name("fs", tests, NULL, NULL);
}
