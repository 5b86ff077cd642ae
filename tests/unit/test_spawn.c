/* test_spawn.c: a daemon haboot starts outlives it and takes nothing of
 * haboot's along (no signal mask, no descriptor, no environment with AWS
 * keys, no session); a program run as a user is that user; a process is
 * named by pid and start time, so a dead one is never mistaken for another. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>

#include "unit.h"

#include "exec.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

static int
quiet(void **state)
{
	(void)state;
	log_setup(LOG_FMT_TEXT, LOG_ERROR);
	return 0;
}

/* A field of /proc/PID/status ("SigBlk"), as a malloc'd string. */
static char *
status_field(pid_t pid, const char *field)
{
	char path[64], *text, *p, *out;
	size_t n = strlen(field);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = unit_slurp(path);
	assert_non_null(text);
	for (p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, field, n) == 0 && p[n] == ':')
			break;
	assert_non_null(p);
	p += n + 1;
	p += strspn(p, " \t");
	out = strndup(p, strcspn(p, "\n"));
	free(text);
	return out;
}

static void
reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
test_spawned_daemon_takes_nothing_of_haboots(void **state)
{
	char *dir = unit_tmpdir(), *log = unit_path(dir, "daemon.log"), *why = NULL;
	char *names[] = {"SERVICE_MODE"}, *values[] = {"test"};
	const char *const argv[] = {"sh", "-c", "echo started; echo to-stderr >&2; exec sleep 30",
	    NULL};
	struct exec_as as;
	sigset_t block, old;
	char path[64], link[256], *v, *env;
	int fd, nfds = 0;
	pid_t pid;
	DIR *d;
	struct dirent *e;
	(void)state;

	/* What haboot holds that a daemon must not get: a blocked signal, an
	 * ignored one, an open descriptor, AWS keys in the environment. */
	setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-daemon", 1);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	signal(SIGHUP, SIG_IGN);
	fd = open("/dev/null", O_RDONLY); /* not CLOEXEC on purpose */
	assert_true(fd > 2);

	assert_int_equal(exec_as_resolve(&as, NULL, NULL, &why), 0);
	exec_as_env(&as, names, values, 1);
	assert_int_equal(exec_spawn(argv, &as, log, &pid, &why), 0);
	assert_null(why);
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGHUP, SIG_DFL);
	close(fd);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	/* Wait for the shell to exec sleep (its output is in the log by then). */
	for (int i = 0; i < 200; i++) {
		char *text = unit_slurp(log);
		bool both = text && strstr(text, "started\n") && strstr(text, "to-stderr\n");

		free(text);
		if (both)
			break;
		usleep(10 * 1000);
	}
	v = unit_slurp(log);
	assert_non_null(strstr(v, "started\n"));
	assert_non_null(strstr(v, "to-stderr\n"));
	free(v);
	/* Its own session and process group: a signal to haboot's group, or a
	 * terminal's hangup, does not reach it. */
	assert_int_equal(getsid(pid), pid);
	assert_int_equal(getpgid(pid), pid);
	v = status_field(pid, "SigBlk");
	assert_string_equal(v, "0000000000000000");
	free(v);
	/* No signal ignored either, save glibc's own two (32 and 33, which its
	 * sigaction will not touch and its startup in the daemon sets). */
	v = status_field(pid, "SigIgn");
	assert_int_equal(strtoull(v, NULL, 16) & ~0x180000000ULL, 0);
	free(v);
	/* Descriptors: /dev/null in, the log out and err, nothing else. */
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			nfds++;
	closedir(d);
	assert_int_equal(nfds, 3);
	snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)pid);
	link[readlink(path, link, sizeof(link) - 1)] = '\0';
	assert_string_equal(link, "/dev/null");
	snprintf(path, sizeof(path), "/proc/%d/fd/2", (int)pid);
	link[readlink(path, link, sizeof(link) - 1)] = '\0';
	assert_string_equal(link, log);
	/* Only the environment it was given. */
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	{
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = '\n';
		buf[n] = '\0';
		env = strdup(buf);
	}
	close(fd);
	assert_null(strstr(env, "AWS_SECRET_ACCESS_KEY"));
	assert_non_null(strstr(env, "SERVICE_MODE=test\n"));
	assert_non_null(strstr(env, "PATH=" EXEC_AS_PATH "\n"));
	free(env);
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
	link[readlink(path, link, sizeof(link) - 1)] = '\0';
	assert_string_equal(link, "/");
	assert_true(proc_running(pid, proc_start_time(pid)));
	reap(pid);
	exec_as_free(&as);
	free(log);
	unit_rmtree(dir);
}

static void
test_spawn_failures_say_why(void **state)
{
	char *dir = unit_tmpdir(), *log = unit_path(dir, "x.log"), *why = NULL;
	char *nolog = unit_path(dir, "missing/x.log");
	const char *const missing[] = {"haboot-no-such-program", NULL};
	const char *const sleep_argv[] = {"sleep", "1", NULL};
	struct exec_as as;
	pid_t pid;
	(void)state;

	assert_int_equal(exec_spawn(missing, NULL, log, &pid, &why), -1);
	assert_non_null(strstr(why, "cannot run haboot-no-such-program: No such file"));
	free(why);
	assert_int_equal(exec_spawn(sleep_argv, NULL, nolog, &pid, &why), -1);
	assert_non_null(strstr(why, "cannot open its log"));
	free(why);
	assert_int_equal(exec_as_resolve(&as, NULL, NULL, &why), 0);
	as.dir = strdup("/nonexistent-haboot-dir");
	assert_int_equal(exec_spawn(sleep_argv, &as, log, &pid, &why), -1);
	assert_non_null(strstr(why, "cannot enter directory /nonexistent-haboot-dir"));
	free(why);
	exec_as_free(&as);
	free(log);
	free(nolog);
	unit_rmtree(dir);
}

static void
test_run_as_a_user(void **state)
{
	const char *const id[] = {"sh", "-c", "id -u; id -g; pwd; echo $HOME $USER", NULL};
	struct passwd *pw = getpwnam("nobody");
	struct exec_result r;
	struct exec_as as;
	char *why = NULL, *want;
	(void)state;

	if (pw == NULL || getuid() != 0)
		skip();
	assert_int_equal(exec_as_resolve(&as, "nobody", NULL, &why), 0);
	assert_true(as.switch_ids);
	assert_int_equal(as.uid, pw->pw_uid);
	exec_as_env(&as, NULL, NULL, 0);
	as.dir = strdup("/");
	assert_int_equal(exec_argv_as(id, &as, 5000, &r), 0);
	assert_int_equal(r.status, 0);
	want = xasprintf("%u\n%u\n/\n%s nobody\n", pw->pw_uid, pw->pw_gid, pw->pw_dir);
	assert_string_equal(r.out.data, want);
	free(want);
	exec_result_free(&r);
	exec_as_free(&as);
	/* Unknown names are said as such; a numeric id without an entry needs a group. */
	assert_int_equal(exec_as_resolve(&as, "haboot-no-such-user", NULL, &why), -1);
	assert_non_null(strstr(why, "user haboot-no-such-user is not known on this machine"));
	free(why);
	assert_int_equal(exec_as_resolve(&as, "nobody", "haboot-no-such-group", &why), -1);
	assert_non_null(strstr(why, "group haboot-no-such-group is not known"));
	free(why);
	assert_int_equal(exec_as_resolve(&as, "987654321", NULL, &why), -1);
	assert_non_null(strstr(why, "set group too"));
	free(why);
	assert_int_equal(exec_as_resolve(&as, "987654321", "987654321", &why), 0);
	assert_string_equal(as.who, "987654321:987654321");
	exec_as_free(&as);
}

static void
test_a_process_is_its_pid_and_start_time(void **state)
{
	const char *const argv[] = {"sleep", "30", NULL};
	char *dir = unit_tmpdir(), *log = unit_path(dir, "s.log"), *why = NULL;
	long long start;
	pid_t pid;
	(void)state;

	assert_int_equal(exec_spawn(argv, NULL, log, &pid, &why), 0);
	start = proc_start_time(pid);
	assert_true(start > 0);
	assert_true(proc_running(pid, start));
	/* Same pid, another start time: another process, not ours. */
	assert_false(proc_running(pid, start + 1));
	kill(pid, SIGKILL);
	/* A zombie is not running, and proc_running reaps its own child. */
	for (int i = 0; i < 200 && proc_running(pid, start); i++)
		usleep(10 * 1000);
	assert_false(proc_running(pid, start));
	assert_int_equal(proc_start_time(pid), -1);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(proc_start_time(0), -1);
	free(log);
	unit_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawned_daemon_takes_nothing_of_haboots),
		cmocka_unit_test(test_spawn_failures_say_why),
		cmocka_unit_test(test_run_as_a_user),
		cmocka_unit_test(test_a_process_is_its_pid_and_start_time),
	};

	return cmocka_run_group_tests_name("spawn", tests, quiet, NULL);
}
