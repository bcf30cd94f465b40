/*
 * ade report: one self-contained HTML file about a pipeline's runs and
 * data (report/report.h, docs/report.md).
 */
#include "cli.h"
#include "pipeline.h"
#include "core/date.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/util.h"
#include "report/report.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ade_cmd_report(int argc, char **argv, struct ade_cli *cli)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'F'},
					     {"to", required_argument, NULL, 'T'},
					     {"out", required_argument, NULL, 'o'},
					     {NULL, 0, NULL, 0}};
	const char *from = NULL, *to = NULL, *outp = NULL, *name;
	struct ade_pipeline *p = NULL;
	struct ade_strbuf html = ADE_STRBUF_INIT;
	struct ade_error err = {0};
	char *path = NULL;
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			if ((rc = ade_cli_check_date("report", "--from", optarg)))
				return rc;
			from = optarg;
			break;
		case 'T':
			if ((rc = ade_cli_check_date("report", "--to", optarg)))
				return rc;
			to = optarg;
			break;
		case 'o':
			if (!*optarg)
				return ade_cli_usage_error("report", "--out needs a file name");
			outp = optarg;
			break;
		default:
			return ade_cli_usage_error("report", "unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return ade_cli_usage_error("report", "give exactly one pipeline (a name or a file)");
	if (from && to && strcmp(from, to) > 0)
		return ade_cli_usage_error("report", "--from %s is after --to %s", from, to);
	name = argv[optind];
	if (ade_cli_is_file_arg(name)) {
		if ((rc = ade_pipeline_load(name, cli->exec_dir, &p, &err))) {
			fprintf(stderr, "%s\n", err.msg);
			return rc == ADE_EPARSE ? ADE_EXIT_PIPELINE : ADE_EXIT_USAGE;
		}
		name = p->name;
	}
	if (!ade_cli_name_ok(name)) {
		rc = ade_cli_usage_error("report", "'%s' is not a pipeline name", name);
		goto out;
	}

	if ((rc = ade_report_render(cli->home, name, from, to, &html, &err))) {
		fprintf(stderr, "ade report: %s\n", err.msg);
		rc = rc == ADE_ENOTFOUND ? ADE_EXIT_FAILED : ade_exit_code_for(rc);
		goto out;
	}
	if (outp && !strcmp(outp, "-")) {
		fwrite(html.buf, 1, html.len, stdout);
		rc = fflush(stdout) ? ADE_EXIT_FAILED : ADE_EXIT_OK;
		goto out;
	}
	if (outp) {
		path = ade_xstrdup(outp);
	} else {
		char *dir = ade_xasprintf("%s/reports", cli->home);
		rc = ade_fs_mkdirs(dir, &err);
		free(dir);
		if (rc) {
			fprintf(stderr, "ade report: %s\n", err.msg);
			rc = ADE_EXIT_FAILED;
			goto out;
		}
		path = ade_xasprintf("%s/reports/%s.html", cli->home, name);
	}
	/* Atomic: a reader (or a browser reloading) never sees half a report. */
	if (ade_fs_write_atomic(path, html.buf, html.len, &err)) {
		fprintf(stderr, "ade report: cannot write the report to '%s': %s\n", path, err.msg);
		rc = ADE_EXIT_FAILED;
		goto out;
	}
	printf("%s\n", path);
	rc = ADE_EXIT_OK;
out:
	free(path);
	ade_strbuf_release(&html);
	ade_pipeline_free(p);
	return rc;
}
