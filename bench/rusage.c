/* rusage.c: run a command; write its wall time, CPU time and peak RSS.
 *
 * usage: rusage OUTFILE COMMAND [ARG]...
 * OUTFILE gets one line: "WALL_NS UTIME_US STIME_US MAXRSS_KB EXIT" for the
 * command and every child it waited for (wait4).  bench/run.py needs this
 * because a process forked from Python and then exec'd keeps Python's peak
 * RSS as its own ru_maxrss; a child of this small program starts from this
 * program's few hundred KiB instead.  EXIT is 128+N for a signal N. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	FILE *f;
	pid_t pid;
	int status, code;

	if (argc < 3) {
		fprintf(stderr, "usage: rusage OUTFILE COMMAND [ARG]...\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) < 0) {
		perror("rusage: fork");
		return 2;
	}
	if (pid == 0) {
		execv(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("rusage: wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if ((f = fopen(argv[1], "w")) == NULL) {
		perror(argv[1]);
		return 2;
	}
	fprintf(f, "%lld %lld %lld %ld %d\n",
	    (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec),
	    (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
	    (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec,
	    ru.ru_maxrss, code);
	if (fclose(f) != 0) {
		perror(argv[1]);
		return 2;
	}
	return code;
}
