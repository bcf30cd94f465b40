/* The floor of the scheduler benchmark: posix_spawn + wait4 of the same
 * command N times in a row, with no bookkeeping at all.  Any scheduler's
 * per-stage cost minus this is its own overhead.
 * Usage: spawnloop N /abs/path/noop */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: spawnloop N PROGRAM\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	char *args[] = {argv[2], NULL};
	for (long i = 0; i < n; i++) {
		pid_t pid;
		int status;
		if (posix_spawn(&pid, argv[2], NULL, NULL, args, environ)) {
			perror("posix_spawn");
			return 1;
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "spawnloop: child failed\n");
			return 1;
		}
	}
	return 0;
}
