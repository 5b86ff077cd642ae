/* test_service.c: the service module's lifetime with real processes, called
 * as the engine calls it: apply starts a daemon, check probes it, repair
 * restarts it (never onto an unproven volume), release stops it within its
 * timeout or fails and says the volume stays mounted (DESIGN.md 6), and a
 * release run again finishes.  The "volume" is the filesystem holding the
 * test's directory, with a signature file in that directory. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "unit.h"

#include "context.h"
#include "log.h"
#include "manifest/manifest.h"
#include "module.h"
#include "spawn.h"
#include "util.h"

struct fixture {
	char *dir, *sig, *mnt, *ready, *pidfile;
	struct manifest *m;
	const struct module *mod;
	void *cfg;
	struct effects eff;
	struct hb_ctx ctx;
};

static int
quiet(void **state)
{
	(void)state;
	log_setup(LOG_FMT_TEXT, LOG_ERROR);
	return 0;
}

/* The top directory of the filesystem holding path: a mount point. */
static char *
mount_of(const char *path)
{
	char *cur = xstrdup(path);
	struct stat st, up;

	assert_int_equal(stat(cur, &st), 0);
	for (;;) {
		char *slash = strrchr(cur, '/');
		char *parent = slash == cur ? xstrdup("/") : xstrndup(cur, (size_t)(slash - cur));

		if (strcmp(cur, "/") == 0 || stat(parent, &up) < 0 || up.st_dev != st.st_dev) {
			free(parent);
			return cur;
		}
		free(cur);
		cur = parent;
	}
}

/* A manifest with one service module; %s in body is the test's directory. */
static void
setup(struct fixture *f, const char *body)
{
	struct diag d;
	char *text;
	struct buf b;

	memset(f, 0, sizeof(*f));
	f->dir = unit_tmpdir();
	f->sig = unit_path(f->dir, "SIGNATURE");
	f->ready = unit_path(f->dir, "ready");
	f->pidfile = unit_path(f->dir, "svc.pid");
	unit_write(f->sig, "volume\n");
	f->mnt = mount_of(f->dir);
	buf_init(&b);
	/* Every %s in body is the directory. */
	for (const char *p = body; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			buf_adds(&b, f->dir);
			p++;
		} else
			buf_addc(&b, *p);
	}
	/* A unit has no log or pid file of haboot's. */
	if (strstr(body, "unit:") != NULL)
		text = xasprintf("version: 1\nname: t\nmodules:\n  - service:\n%s", b.data);
	else
		text = xasprintf("version: 1\nname: t\nmodules:\n  - service:\n"
		    "      log: %s/svc.log\n      pidfile: %s\n%s", f->dir, f->pidfile, b.data);
	buf_free(&b);
	diag_init(&d, "t.yaml");
	f->m = manifest_parse(text, strlen(text), false, &d);
	if (f->m == NULL)
		diag_print(&d, stderr);
	assert_non_null(f->m);
	diag_free(&d);
	free(text);
	f->mod = f->m->mods[0].mod;
	f->cfg = f->m->mods[0].cfg;
	eff_init(&f->eff, EFF_APPLY);
	f->eff.module = "service";
	ctx_init(&f->ctx);
	f->ctx.eff = &f->eff;
	f->ctx.module = "service";
	f->ctx.service = "t";
	ctx_set_fact(&f->ctx, FACT_FS_MOUNTPOINT, "%s", f->mnt);
	ctx_set_fact(&f->ctx, FACT_FS_SIGNATURE, "%s", f->sig);
}

/* The pid in the pid file, or 0. */
static pid_t
pidfile_pid(struct fixture *f)
{
	char *text = unit_slurp(f->pidfile);
	int pid = 0;

	if (text != NULL)
		sscanf(text, "%d", &pid);
	free(text);
	return (pid_t)pid;
}

static bool
alive(pid_t pid)
{
	return pid > 0 && proc_start_time(pid) >= 0;
}

static void
teardown(struct fixture *f)
{
	pid_t pid = pidfile_pid(f);

	if (alive(pid)) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	ctx_free(&f->ctx);
	eff_free(&f->eff);
	manifest_free(f->m);
	free(f->sig);
	free(f->mnt);
	free(f->ready);
	free(f->pidfile);
	unit_rmtree(f->dir);
}

static void
fresh(struct fixture *f)
{
	free(f->ctx.message);
	f->ctx.message = NULL;
	f->ctx.scope = FAIL_HERE;
	f->ctx.changed = false;
}

/* A daemon that says it is ready by creating the ready file. */
#define READY_DAEMON \
	"      command: [sh, -c, \"touch %s/ready; exec sleep 300\"]\n" \
	"      data: {path: %s/data, mode: \"0750\"}\n" \
	"      stop: {timeout: 2s}\n" \
	"      ready: {command: [test, -e, %s/ready], timeout: 10s}\n"

static void
test_start_check_repair_release(void **state)
{
	struct fixture f;
	pid_t first, second;
	struct stat st;
	char *data;
	(void)state;

	setup(&f, READY_DAEMON);
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), 0);
	assert_true(f.ctx.changed);
	first = pidfile_pid(&f);
	assert_true(alive(first));
	data = unit_path(f.dir, "data");
	assert_int_equal(stat(data, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	free(data);
	fresh(&f);
	assert_int_equal(f.mod->check(&f.ctx, f.cfg), HEALTH_OK);

	/* It dies: the check fails and says so; the repair starts it again. */
	kill(first, SIGKILL);
	waitpid(first, NULL, 0);
	unlink(f.ready);
	fresh(&f);
	assert_int_equal(f.mod->check(&f.ctx, f.cfg), HEALTH_FAILED);
	assert_non_null(strstr(f.ctx.message, "the process haboot started is gone"));
	fresh(&f);
	assert_int_equal(f.mod->repair(&f.ctx, f.cfg), 0);
	second = pidfile_pid(&f);
	assert_true(second != first && alive(second));
	fresh(&f);
	assert_int_equal(f.mod->check(&f.ctx, f.cfg), HEALTH_OK);

	/* A planned stop: SIGTERM, and it is gone before release returns. */
	fresh(&f);
	assert_int_equal(f.mod->release(&f.ctx, f.cfg), 0);
	assert_non_null(strstr(f.ctx.message, "with SIGTERM"));
	assert_false(alive(second));
	/* Run again (an interrupted release): it finishes, nothing to do. */
	unlink(f.ready);
	fresh(&f);
	assert_int_equal(f.mod->release(&f.ctx, f.cfg), 0);
	assert_non_null(strstr(f.ctx.message, "was not running"));
	teardown(&f);
}

static void
test_release_fails_when_the_service_will_not_stop(void **state)
{
	struct fixture f;
	long long t0;
	pid_t pid;
	(void)state;

	/* SIGTERM is ignored: only SIGKILL would end it, and release never kills. */
	setup(&f, "      command: [sh, -c, \"trap '' TERM; touch %s/ready; "
	    "while :; do sleep 1; done\"]\n"
	    "      stop: {timeout: 1s}\n"
	    "      ready: {command: [test, -e, %s/ready], timeout: 10s}\n");
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), 0);
	pid = pidfile_pid(&f);
	fresh(&f);
	t0 = mono_ms();
	assert_int_equal(f.mod->release(&f.ctx, f.cfg), -1);
	assert_true(mono_ms() - t0 < 10000);
	assert_non_null(strstr(f.ctx.message, "still runs 1s after it was asked to stop"));
	assert_non_null(strstr(f.ctx.message, "the volume stays mounted"));
	assert_true(alive(pid));
	/* A repair may use force: it is broken anyway. */
	fresh(&f);
	assert_int_equal(f.mod->repair(&f.ctx, f.cfg), 0);
	assert_false(alive(pid));
	assert_true(alive(pidfile_pid(&f)));
	teardown(&f);
}

/* A stop command that fails and a process that stays: the release fails,
 * and its message carries the stop command's own failure, the cause. */
static void
test_release_names_a_failed_stop_command(void **state)
{
	struct fixture f;
	pid_t pid;
	(void)state;

	setup(&f, "      command: [sh, -c, \"touch %s/ready; exec sleep 300\"]\n"
	    "      stop: {command: [sh, -c, \"echo refused >&2; exit 3\"], timeout: 1s}\n"
	    "      ready: {command: [test, -e, %s/ready]}\n");
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), 0);
	pid = pidfile_pid(&f);
	fresh(&f);
	assert_int_equal(f.mod->release(&f.ctx, f.cfg), -1);
	assert_non_null(strstr(f.ctx.message, "still runs 1s after it was asked to stop"));
	assert_non_null(strstr(f.ctx.message, "exited with status 3"));
	assert_non_null(strstr(f.ctx.message, "refused"));
	assert_non_null(strstr(f.ctx.message, "the volume stays mounted"));
	assert_true(alive(pid));
	teardown(&f);
}

static void
test_release_with_a_stop_command(void **state)
{
	struct fixture f;
	pid_t pid;
	(void)state;

	setup(&f, "      command: [sh, -c, \"touch %s/ready; exec sleep 300\"]\n"
	    "      stop: {command: [sh, -c, \"rm %s/ready; kill $(cut -d' ' -f1 %s/svc.pid)\"], "
	    "timeout: 5s}\n"
	    "      ready: {command: [test, -e, %s/ready]}\n");
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), 0);
	pid = pidfile_pid(&f);
	fresh(&f);
	assert_int_equal(f.mod->release(&f.ctx, f.cfg), 0);
	assert_non_null(strstr(f.ctx.message, "with its stop command"));
	assert_false(alive(pid));
	/* Again: the stop command would fail on a stopped service; not run. */
	fresh(&f);
	assert_int_equal(f.mod->release(&f.ctx, f.cfg), 0);
	assert_non_null(strstr(f.ctx.message, "was not running"));
	teardown(&f);
}

static void
test_release_refuses_a_service_it_cannot_find(void **state)
{
	struct fixture f;
	(void)state;

	/* Something answers, and no pid file names a process: stopping nothing
	 * and going on would unmount the volume under a running service. */
	setup(&f, "      command: [sleep, \"300\"]\n"
	    "      ready: {command: [test, -e, %s/ready]}\n");
	unit_write(f.ready, "");
	assert_int_equal(f.mod->release(&f.ctx, f.cfg), -1);
	assert_non_null(strstr(f.ctx.message, "haboot knows no process of it to stop"));
	teardown(&f);
}

static void
test_never_started_on_an_unproven_volume(void **state)
{
	struct fixture f;
	(void)state;

	setup(&f, READY_DAEMON);
	unlink(f.sig);
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), -1);
	assert_int_equal(f.ctx.scope, FAIL_ANYWHERE);
	assert_non_null(strstr(f.ctx.message, "missing from the volume"));
	fresh(&f);
	assert_int_equal(f.mod->repair(&f.ctx, f.cfg), -1);
	assert_int_equal(pidfile_pid(&f), 0);
	assert_false(unit_exists(f.ready));
	/* No filesystem module before it: nothing proves the volume. */
	kv_free(&f.ctx.facts);
	kv_init(&f.ctx.facts);
	fresh(&f);
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), -1);
	assert_non_null(strstr(f.ctx.message, "put the filesystem module"));
	assert_int_equal(pidfile_pid(&f), 0);
	teardown(&f);
}

static void
test_a_command_that_daemonizes(void **state)
{
	struct fixture f;
	(void)state;

	/* pg_ctl start's way: fork the daemon, exit 0; the probe decides. */
	setup(&f, "      command: [sh, -c, \"(sleep 1; touch %s/ready) & exit 0\"]\n"
	    "      ready: {command: [test, -e, %s/ready], timeout: 20s}\n");
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), 0);
	assert_true(unit_exists(f.ready));
	teardown(&f);
}


/* A stand-in systemctl first on haboot's PATH: it records each call and
 * makes the unit "serve" (the ready file) on start and restart. */
static char *
fake_systemctl(struct fixture *f)
{
	char *bin = unit_path(f->dir, "bin"), *prog = unit_path(bin, "systemctl");
	char *text = xasprintf("#!/bin/sh\n"
	    "echo \"$(id -u) $*\" >> %s/systemctl.calls\n"
	    "case $1 in start|restart) touch %s/ready ;; stop) rm -f %s/ready ;; esac\n",
	    f->dir, f->dir, f->dir);
	char *path = xasprintf("%s:%s", bin, getenv("PATH"));

	assert_int_equal(mkdir(bin, 0755), 0);
	unit_write(prog, text);
	assert_int_equal(chmod(prog, 0755), 0);
	free(text);
	free(prog);
	free(bin);
	return path;
}

static void
test_a_systemd_unit(void **state)
{
	struct fixture f;
	char *old = xstrdup(getenv("PATH")), *path, *calls, *want;
	(void)state;

	/* The user is the unit's business: systemctl itself runs as haboot. */
	setup(&f, "      unit: postgresql@15-main\n      user: nobody\n"
	    "      ready: {command: [test, -e, %s/ready], timeout: 10s}\n");
	path = fake_systemctl(&f);
	setenv("PATH", path, 1);
	assert_int_equal(chmod(f.dir, 0755), 0); /* the probe runs as nobody */
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), 0);
	assert_non_null(strstr(f.ctx.message, "started unit postgresql@15-main"));
	fresh(&f);
	assert_int_equal(f.mod->check(&f.ctx, f.cfg), HEALTH_OK);
	unlink(f.ready);
	fresh(&f);
	assert_int_equal(f.mod->check(&f.ctx, f.cfg), HEALTH_FAILED);
	fresh(&f);
	assert_int_equal(f.mod->repair(&f.ctx, f.cfg), 0);
	fresh(&f);
	assert_int_equal(f.mod->release(&f.ctx, f.cfg), 0);
	assert_false(unit_exists(f.ready));
	setenv("PATH", old, 1);
	calls = unit_path(f.dir, "systemctl.calls");
	want = xasprintf("%u start postgresql@15-main\n%u restart postgresql@15-main\n"
	    "%u stop postgresql@15-main\n", getuid(), getuid(), getuid());
	free(path);
	path = unit_slurp(calls);
	assert_string_equal(path, want);
	free(path);
	free(want);
	free(calls);
	free(old);
	teardown(&f);
}


/* A free TCP port on 127.0.0.1 (bound, then released). */
static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
test_ready_over_http(void **state)
{
	struct fixture f;
	char *body;
	int port = free_port();
	(void)state;

	/* A real HTTP server: the directory listing answers 200 once it listens. */
	body = xasprintf("      command: [/usr/bin/python3, -m, http.server, \"%d\", --bind, "
	    "127.0.0.1, --directory, %%s]\n"
	    "      ready: {http: \"http://127.0.0.1:%d/\", timeout: 20s}\n", port, port);
	setup(&f, body);
	free(body);
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), 0);
	assert_non_null(strstr(f.ctx.message, "answers 2xx"));
	fresh(&f);
	assert_int_equal(f.mod->check(&f.ctx, f.cfg), HEALTH_OK);
	teardown(&f);

	/* A 404 is not ready: the start fails at the deadline and is stopped. */
	port = free_port();
	body = xasprintf("      command: [/usr/bin/python3, -m, http.server, \"%d\", --bind, "
	    "127.0.0.1, --directory, %%s]\n"
	    "      ready: {http: \"http://127.0.0.1:%d/no-such-page\", timeout: 3s}\n",
	    port, port);
	setup(&f, body);
	free(body);
	assert_int_equal(f.mod->apply(&f.ctx, f.cfg), -1);
	assert_non_null(strstr(f.ctx.message, "answered 404"));
	assert_non_null(strstr(f.ctx.message, "haboot stopped what it started"));
	assert_false(alive(pidfile_pid(&f)));
	teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_check_repair_release),
		cmocka_unit_test(test_release_fails_when_the_service_will_not_stop),
		cmocka_unit_test(test_release_with_a_stop_command),
		cmocka_unit_test(test_release_names_a_failed_stop_command),
		cmocka_unit_test(test_release_refuses_a_service_it_cannot_find),
		cmocka_unit_test(test_never_started_on_an_unproven_volume),
		cmocka_unit_test(test_a_command_that_daemonizes),
		cmocka_unit_test(test_a_systemd_unit),
		cmocka_unit_test(test_ready_over_http),
	};

	return cmocka_run_group_tests_name("service", tests, quiet, NULL);
}
