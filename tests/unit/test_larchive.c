/* libarchive opened on first use (core/larchive.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/larchive.h"

/* Whether a library whose file name contains name is mapped in this process. */
static int mapped(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, name) != NULL;
	fclose(f);
	return found;
}

/*
 * The test is linked like ade: until the first libarchive call nothing of
 * libarchive, nor libxml2 behind it, is loaded; the call opens it.  Runs
 * first, before any other test has called libarchive.
 */
static void test_opened_on_first_use(void **state)
{
	(void)state;
	assert_int_equal(mapped("libarchive.so"), 0);
	assert_int_equal(mapped("libxml2.so"), 0);
	assert_null(ade_larchive_error());
	assert_int_equal(mapped("libarchive.so"), 1);
	assert_null(ade_larchive_error()); /* once is enough; again is harmless */
}

/* The forwarders carry arguments and results both ways: a tar.zst round trip. */
static void test_round_trip(void **state)
{
	(void)state;
	char path[] = "/tmp/ade-test-larchive.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);

	static const char body[] = "a,b\n1,2\n";
	struct archive *w = archive_write_new();
	assert_non_null(w);
	assert_int_equal(archive_write_add_filter_zstd(w), ARCHIVE_OK);
	assert_int_equal(archive_write_set_format_pax_restricted(w), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "dir/data.csv");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0640);
	archive_entry_set_size(e, (la_int64_t)(sizeof(body) - 1));
	archive_entry_set_mtime(e, 0, 0);
	assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(w, body, sizeof(body) - 1), (la_ssize_t)(sizeof(body) - 1));
	archive_entry_free(e);
	assert_int_equal(archive_write_close(w), ARCHIVE_OK);
	assert_int_equal(archive_write_free(w), ARCHIVE_OK);

	struct archive *r = archive_read_new();
	assert_non_null(r);
	archive_read_support_filter_all(r);
	archive_read_support_format_tar(r);
	assert_int_equal(archive_read_open_filename(r, path, 1 << 16), ARCHIVE_OK);
	assert_int_equal(archive_read_next_header(r, &e), ARCHIVE_OK);
	assert_string_equal(archive_entry_pathname(e), "dir/data.csv");
	assert_int_equal(archive_entry_perm(e), 0640);
	assert_int_equal(archive_entry_filetype(e), AE_IFREG);
	char got[64] = {0};
	assert_int_equal(archive_read_data(r, got, sizeof(got)), (la_ssize_t)(sizeof(body) - 1));
	assert_string_equal(got, body);
	assert_int_equal(archive_read_next_header(r, &e), ARCHIVE_EOF);
	assert_int_equal(archive_read_free(r), ARCHIVE_OK);

	/* The library's own error text comes through archive_error_string. */
	r = archive_read_new();
	archive_read_support_format_tar(r);
	assert_int_not_equal(archive_read_open_filename(r, "/nonexistent/ade.tar", 1 << 16),
			     ARCHIVE_OK);
	assert_non_null(archive_error_string(r));
	assert_non_null(strstr(archive_error_string(r), "nonexistent"));
	archive_read_free(r);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opened_on_first_use),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
