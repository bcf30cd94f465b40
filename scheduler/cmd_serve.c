/*
 * ade serve: the read-only HTTP server (docs/serve.md) until SIGTERM or
 * SIGINT, which stop it cleanly with exit 0: stopping is how a server is
 * meant to end, not an interruption of work.
 */
#include "cli.h"
#include "serve/serve.h"
#include "core/error.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ade_cmd_serve(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'}, {"token", required_argument, NULL, 't'},
		{"threads", required_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct ade_serve_opts o = {.home = cli->home, .listen = ADE_SERVE_DEFAULT_LISTEN};
	struct ade_error err = {0};
	struct ade_serve *s = NULL;
	struct stat st;
	int c;

	/* From the environment, a token stays out of `ps`; --token wins. */
	o.token = getenv("ADE_SERVE_TOKEN");
	if (o.token && !*o.token)
		o.token = NULL;
	optind = 0;
	opterr = 0; /* our own message names the command */
	while ((c = getopt_long(argc, argv, "j:", opts, NULL)) != -1) {
		switch (c) {
		case 'l': o.listen = optarg; break;
		case 't': o.token = optarg; break;
		case 'j':
			if (ade_cli_parse_int(optarg, 1, 64, &o.threads))
				return ade_cli_usage_error("serve", "--threads needs a number from 1 to 64, "
								    "not '%s'", optarg);
			break;
		default:
			return ade_cli_usage_error("serve", "unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return ade_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (o.token && !*o.token)
		return ade_cli_usage_error("serve", "--token is empty");
	{
		struct sockaddr_storage ss;
		socklen_t sl;
		int loopback;
		if (ade_serve_parse_listen(o.listen, &ss, &sl, &loopback, &err))
			return ade_cli_usage_error("serve", "%s", err.msg);
		if (!loopback && !o.token)
			return ade_cli_usage_error(
				"serve",
				"refusing to listen on %s without a token: it is not a loopback address, "
				"so anyone who can reach it could read every run and KPI; give --token "
				"TOKEN (or set ADE_SERVE_TOKEN)",
				o.listen);
	}
	/* Read-only: a missing home is not created, only reported. */
	if (stat(cli->home, &st) < 0) {
		fprintf(stderr, "ade serve: home '%s': %s%s\n", cli->home, strerror(errno),
			errno == ENOENT ? " (run a pipeline first, or give --home)" : "");
		return ADE_EXIT_STATE;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ade serve: home '%s' is not a directory\n", cli->home);
		return ADE_EXIT_STATE;
	}

	/*
	 * Block the stop signals before the server's threads exist, so they
	 * inherit the mask and only sigwait() below sees the signals.
	 */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (ade_serve_start(&o, &s, &err)) {
		fprintf(stderr, "ade serve: %s\n", err.msg);
		/* A port in use is not a bad command line; the home was fine. */
		return err.code == ADE_EINVAL ? ADE_EXIT_USAGE : ADE_EXIT_FAILED;
	}
	/* Tests and scripts read the bound address (port 0 picks one) from here. */
	printf("ade serve: listening on %s (home %s)%s\n", ade_serve_url(s), cli->home,
	       o.token ? "; every route but /healthz needs Authorization: Bearer" : "");
	fflush(stdout);
	int sig = 0;
	while (sigwait(&set, &sig) != 0)
		;
	ade_serve_stop(s);
	printf("ade serve: stopped (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	return ADE_EXIT_OK;
}
