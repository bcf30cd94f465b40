/*
 * The serve library without curl: --listen parsing and the loopback rule,
 * the refusal of a non-loopback address without a token, and a start and
 * stop on port 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/testutil.h"
#include "core/error.h"
#include "serve/serve.h"

#include <string.h>

static void listen_ok(const char *spec, int family, int want_loopback)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int loopback = -1;
	struct ade_error err = {0};

	assert_int_equal(ade_serve_parse_listen(spec, &ss, &len, &loopback, &err), 0);
	assert_int_equal(ss.ss_family, family);
	assert_int_equal(loopback, want_loopback);
	assert_true(len > 0);
}

static void listen_bad(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int loopback;
	struct ade_error err = {0};

	assert_int_equal(ade_serve_parse_listen(spec, &ss, &len, &loopback, &err), ADE_EINVAL);
	assert_non_null(strstr(err.msg, "--listen"));
}

static void test_parse_listen(void **state)
{
	(void)state;
	listen_ok("127.0.0.1:8080", AF_INET, 1);
	listen_ok("127.9.9.9:0", AF_INET, 1);
	listen_ok("0.0.0.0:80", AF_INET, 0);
	listen_ok("10.1.2.3:65535", AF_INET, 0);
	listen_ok("[::1]:8080", AF_INET6, 1);
	listen_ok("[::]:8080", AF_INET6, 0);
	listen_bad("localhost:8080"); /* names are not resolved */
	listen_bad("127.0.0.1");
	listen_bad("127.0.0.1:");
	listen_bad("127.0.0.1:65536");
	listen_bad("127.0.0.1:-1");
	listen_bad("127.0.0.1:80x");
	listen_bad("::1:8080");
	listen_bad("[::1]8080");
	listen_bad("[127.0.0.1]:80");
	listen_bad(":8080");
}

static void test_start_refuses_open_address_without_token(void **state)
{
	char *home = tu_mkdtemp();
	struct ade_serve_opts o = {.home = home, .listen = "0.0.0.0:0"};
	struct ade_serve *s = (void *)1;
	struct ade_error err = {0};

	(void)state;
	assert_int_equal(ade_serve_start(&o, &s, &err), ADE_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err.msg, "--token"));
	o.token = "";
	assert_int_equal(ade_serve_start(&o, &s, &err), ADE_EINVAL);
	tu_rmdir(home);
}

static void test_start_stop_port_zero(void **state)
{
	char *home = tu_mkdtemp();
	struct ade_serve_opts o = {.home = home, .listen = "127.0.0.1:0", .threads = 2};
	struct ade_serve *s = NULL;
	struct ade_error err = {0};
	unsigned port = 0;

	(void)state;
	assert_int_equal(ade_serve_start(&o, &s, &err), 0);
	assert_non_null(s);
	assert_int_equal(sscanf(ade_serve_url(s), "http://127.0.0.1:%u/", &port), 1);
	assert_true(port > 0 && port < 65536);
	ade_serve_stop(s);
	tu_rmdir(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_start_refuses_open_address_without_token),
		cmocka_unit_test(test_start_stop_port_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
