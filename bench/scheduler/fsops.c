/* The file-system work ade does for each stage of a run, alone: the
 * stage's folder, the attempt's private output folder and its log are made,
 * and the output folder is published by a rename (docs/scheduler.md),
 * relative to the run folder's descriptor as ade does it.  No process is
 * started, so what this prints is what the file system under DIR charges
 * per stage, to set beside the same work on tmpfs.
 * Usage: fsops DIR N   (DIR must not exist; it is left behind) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fsops DIR N\n");
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	if (n < 1 || mkdir(argv[1], 0755) < 0) {
		perror(argv[1]);
		return 1;
	}
	int run = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (run < 0) {
		perror(argv[1]);
		return 1;
	}
	double t[4] = {0};
	char stage[32], tmp[48], log[48], out[48];
	double start = now_us();
	for (long i = 0; i < n; i++) {
		snprintf(stage, sizeof(stage), "s%ld", i);
		snprintf(tmp, sizeof(tmp), "s%ld/attempt-1.tmp", i);
		snprintf(log, sizeof(log), "s%ld/attempt-1.log", i);
		snprintf(out, sizeof(out), "s%ld/out", i);
		double a = now_us();
		int rc = mkdirat(run, stage, 0755);
		double b = now_us();
		rc |= mkdirat(run, tmp, 0755);
		double c = now_us();
		int fd = openat(run, log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		double d = now_us();
		rc |= renameat(run, tmp, run, out);
		double e = now_us();
		if (rc < 0 || fd < 0) {
			perror(stage);
			return 1;
		}
		t[0] += b - a;
		t[1] += c - b;
		t[2] += d - c;
		t[3] += e - d;
	}
	printf("%.1f %.1f %.1f %.1f %.1f\n", (now_us() - start) / n, t[0] / n, t[1] / n, t[2] / n,
	       t[3] / n);
	return 0;
}
