/* spawn.c: run as another user; start daemons detached (see spawn.h). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

/* A numeric id: digits only, at most 10 of them, below 2^32-1 ((uid_t)-1 means "unchanged"). */
static bool
numeric_id(const char *s, unsigned long *out)
{
	char *end;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *out < 4294967295UL;
}

/* Accounts come from /etc/passwd and /etc/group, not through NSS: the
 * static binary cannot load NSS modules (glibc's libnss_systemd, named in
 * Debian's nsswitch.conf, crashes a static program), and the system users
 * services run as live in these files. */
#define PASSWD_FILE "/etc/passwd"
#define GROUP_FILE "/etc/group"

struct acct {
	char *name, *home, *shell;
	unsigned long id, gid;
	char *members;      /* group: the member list */
};

static void
acct_free(struct acct *a)
{
	free(a->name);
	free(a->home);
	free(a->shell);
	free(a->members);
	memset(a, 0, sizeof(*a));
}

/* Splits a colon-separated line into at most n fields; returns how many. */
static int
split_fields(char *line, char *f[], int n)
{
	int k = 0;

	f[k++] = line;
	for (char *p = line; *p && k < n; p++)
		if (*p == ':') {
			*p = '\0';
			f[k++] = p + 1;
		}
	return k;
}

/* Finds the entry named name (or, name NULL, with id) in a passwd (7
 * fields) or group (4 fields) file.  With each, calls each(a, arg) for every
 * entry instead and returns 0. */
static int
acct_find(const char *file, bool group, const char *name, unsigned long id, struct acct *a,
    void (*each)(const struct acct *, void *), void *arg)
{
	FILE *fp = fopen(file, "re");
	char *line = NULL, *f[7];
	size_t cap = 0;
	int rc = -1, want = group ? 4 : 7;

	memset(a, 0, sizeof(*a));
	if (fp == NULL)
		return -1;
	while (getline(&line, &cap, fp) > 0) {
		unsigned long fid, fgid = 0;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '+' || line[0] == '-' ||
		    split_fields(line, f, want) != want || !numeric_id(f[2], &fid) ||
		    (!group && !numeric_id(f[3], &fgid)))
			continue;
		if (each == NULL && (name ? strcmp(f[0], name) != 0 : fid != id))
			continue;
		a->name = xstrdup(f[0]);
		a->id = fid;
		a->gid = fgid;
		if (group)
			a->members = xstrdup(f[3]);
		else {
			a->home = xstrdup(f[5]);
			a->shell = xstrdup(f[6]);
		}
		if (each == NULL) {
			rc = 0;
			break;
		}
		each(a, arg);
		acct_free(a);
	}
	if (each != NULL)
		rc = 0;
	free(line);
	fclose(fp);
	return rc;
}

struct members_of {
	const char *user;
	struct exec_as *as;
};

/* The groups listing user as a member: its supplementary groups. */
static void
add_if_member(const struct acct *g, void *arg)
{
	struct members_of *m = arg;
	char *list = xstrdup(g->members), *save = NULL;

	for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save))
		if (strcmp(u, m->user) == 0 && (gid_t)g->id != m->as->gid) {
			m->as->groups = xrealloc(m->as->groups,
			    (size_t)(m->as->ngroups + 1) * sizeof(gid_t));
			m->as->groups[m->as->ngroups++] = (gid_t)g->id;
			break;
		}
	free(list);
}

int
exec_as_resolve(struct exec_as *as, const char *user, const char *group, char **why)
{
	struct acct pw, gr;
	unsigned long id = 0;
	bool have_pw;
	const char *uname;
	char *gname = NULL;
	int rc = -1;

	memset(as, 0, sizeof(*as));
	memset(&gr, 0, sizeof(gr));
	*why = NULL;
	if (user == NULL)
		have_pw = acct_find(PASSWD_FILE, false, NULL, getuid(), &pw, NULL, NULL) == 0;
	else if (numeric_id(user, &id))
		have_pw = acct_find(PASSWD_FILE, false, NULL, id, &pw, NULL, NULL) == 0;
	else if (!(have_pw = acct_find(PASSWD_FILE, false, user, 0, &pw, NULL, NULL) == 0)) {
		*why = xasprintf("user %s is not known on this machine (no entry in %s): create it "
		    "in the image, or name an existing user", user, PASSWD_FILE);
		goto out;
	}
	if (!have_pw && user == NULL) {
		*why = xasprintf("haboot's own user (uid %u) has no entry in %s", getuid(),
		    PASSWD_FILE);
		goto out;
	}
	as->uid = have_pw ? (uid_t)pw.id : (uid_t)id;
	as->home = xstrdup(have_pw && *pw.home ? pw.home : "/");
	as->shell = xstrdup(have_pw && *pw.shell ? pw.shell : "/bin/sh");
	uname = have_pw ? pw.name : user;
	if (group == NULL) {
		if (!have_pw) {
			*why = xasprintf("user %s has no entry in %s, so it has no primary group: set "
			    "group too", user, PASSWD_FILE);
			goto out;
		}
		as->gid = (gid_t)pw.gid;
		gname = acct_find(GROUP_FILE, true, NULL, pw.gid, &gr, NULL, NULL) == 0 ?
		    xstrdup(gr.name) : xasprintf("%lu", pw.gid);
	} else if (numeric_id(group, &id)) {
		as->gid = (gid_t)id;
		gname = xstrdup(group);
	} else if (acct_find(GROUP_FILE, true, group, 0, &gr, NULL, NULL) < 0) {
		*why = xasprintf("group %s is not known on this machine (no entry in %s): create it "
		    "in the image, or name an existing group", group, GROUP_FILE);
		goto out;
	} else {
		as->gid = (gid_t)gr.id;
		gname = xstrdup(group);
	}
	/* The primary group, then every group that lists the user. */
	as->groups = xcalloc(1, sizeof(gid_t));
	as->groups[0] = as->gid;
	as->ngroups = 1;
	if (have_pw) {
		struct members_of m = {.user = pw.name, .as = as};
		struct acct scratch;

		acct_find(GROUP_FILE, true, NULL, 0, &scratch, add_if_member, &m);
	}
	as->who = xasprintf("%s:%s", uname, gname);
	as->switch_ids = user != NULL || group != NULL;
	rc = 0;
out:
	free(gname);
	if (have_pw)
		acct_free(&pw);
	acct_free(&gr);
	if (rc < 0)
		exec_as_free(as);
	return rc;
}

static void
env_set(char ***env, size_t *n, const char *name, const char *value)
{
	char *kv = xasprintf("%s=%s", name, value);
	size_t len = strlen(name);

	for (size_t i = 0; i < *n; i++)
		if (strncmp((*env)[i], name, len) == 0 && (*env)[i][len] == '=') {
			free((*env)[i]);
			(*env)[i] = kv;
			return;
		}
	*env = xrealloc(*env, (*n + 2) * sizeof(char *));
	(*env)[(*n)++] = kv;
	(*env)[*n] = NULL;
}

void
exec_as_env(struct exec_as *as, char *const names[], char *const values[], size_t n)
{
	char **env = xcalloc(1, sizeof(char *));
	size_t k = 0;
	char *user = as->who ? xstrndup(as->who, strcspn(as->who, ":")) : NULL;

	env_set(&env, &k, "PATH", EXEC_AS_PATH);
	if (as->home)
		env_set(&env, &k, "HOME", as->home);
	if (user) {
		env_set(&env, &k, "USER", user);
		env_set(&env, &k, "LOGNAME", user);
	}
	if (as->shell)
		env_set(&env, &k, "SHELL", as->shell);
	for (size_t i = 0; i < n; i++)
		env_set(&env, &k, names[i], values[i]);
	if (as->env)
		for (char **p = as->env; *p; p++)
			free(*p);
	free(as->env);
	as->env = env;
	free(user);
}

void
exec_as_free(struct exec_as *as)
{
	if (as->env)
		for (char **p = as->env; *p; p++)
			free(*p);
	free(as->env);
	free(as->groups);
	free(as->who);
	free(as->home);
	free(as->shell);
	free(as->dir);
	memset(as, 0, sizeof(*as));
}

int
exec_as_apply(const struct exec_as *as, const char **stage)
{
	if (as == NULL)
		return 0;
	if (as->switch_ids) {
		*stage = "setgroups";
		if (setgroups((size_t)as->ngroups, as->groups) < 0)
			return -1;
		*stage = "setgid";
		if (setgid(as->gid) < 0)
			return -1;
		*stage = "setuid";
		if (setuid(as->uid) < 0)
			return -1;
	}
	/* Entered as the user, as systemd's WorkingDirectory= is: a directory
	 * the service could not enter is an error now, not later. */
	*stage = "chdir";
	if (as->dir != NULL && chdir(as->dir) < 0)
		return -1;
	if (as->env != NULL)
		environ = as->env;
	return 0;
}

/* What a spawned child reports when it could not exec: the step and errno. */
struct spawn_err {
	char stage[16];
	int err;
};

static void
child_fail(int fd, const char *stage, int err)
{
	struct spawn_err e;

	memset(&e, 0, sizeof(e));
	strncpy(e.stage, stage, sizeof(e.stage) - 1);
	e.err = err;
	(void)!write(fd, &e, sizeof(e));
	_exit(127);
}

/* Between fork and exec: only async-signal-safe calls. */
static void
spawn_child(const char *const argv[], const struct exec_as *as, int logfd, int errw)
{
	struct sigaction sa;
	sigset_t none;
	const char *stage = "setsid";
	int devnull;

	/* A session of its own: no terminal's hangup, no process group haboot
	 * (or its supervisor) signals. */
	if (setsid() < 0)
		child_fail(errw, stage, errno);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((devnull = open("/dev/null", O_RDONLY)) < 0)
		child_fail(errw, "open /dev/null", errno);
	if (dup2(devnull, STDIN_FILENO) < 0 || dup2(logfd, STDOUT_FILENO) < 0 ||
	    dup2(logfd, STDERR_FILENO) < 0)
		child_fail(errw, "dup2", errno);
	/* Nothing else of haboot's goes with it (a socket to AWS, a lock). */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		struct rlimit rl;
		int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ?
		    (int)rl.rlim_cur : 65536;

		for (int fd = 3; fd < max; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	umask(022);
	if (as == NULL || as->dir == NULL)
		(void)chdir("/");
	if (exec_as_apply(as, &stage) < 0)
		child_fail(errw, stage, errno);
	execvp(argv[0], (char *const *)(uintptr_t)argv);
	child_fail(errw, "exec", errno);
}

int
exec_spawn(const char *const argv[], const struct exec_as *as, const char *log, pid_t *pid,
    char **why)
{
	struct spawn_err e;
	int logfd = -1, errpipe[2] = {-1, -1}, rc = -1;
	ssize_t r;
	pid_t p;

	*why = NULL;
	*pid = -1;
	if ((logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640)) < 0) {
		*why = xasprintf("cannot open its log %s: %s", log, strerror(errno));
		goto out;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		*why = xasprintf("pipe: %s", strerror(errno));
		goto out;
	}
	if ((p = fork()) < 0) {
		*why = xasprintf("fork: %s", strerror(errno));
		goto out;
	}
	if (p == 0)
		spawn_child(argv, as, logfd, errpipe[1]);
	close(errpipe[1]);
	errpipe[1] = -1;
	/* End of file: the exec succeeded (the pipe closed on exec). */
	while ((r = read(errpipe[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (r == (ssize_t)sizeof(e)) {
		e.stage[sizeof(e.stage) - 1] = '\0';
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		if (!strcmp(e.stage, "exec"))
			*why = xasprintf("cannot run %s: %s", argv[0], strerror(e.err));
		else if (!strcmp(e.stage, "chdir"))
			*why = xasprintf("cannot enter directory %s as %s: %s", as->dir,
			    as->who ? as->who : "haboot's user", strerror(e.err));
		else
			*why = xasprintf("cannot start %s (%s): %s", argv[0], e.stage,
			    strerror(e.err));
		goto out;
	}
	*pid = p;
	rc = 0;
out:
	if (logfd >= 0)
		close(logfd);
	for (int i = 0; i < 2; i++)
		if (errpipe[i] >= 0)
			close(errpipe[i]);
	return rc;
}

long long
proc_start_time(pid_t pid)
{
	char path[64], data[1024], *p;
	unsigned long long start;
	char state;
	ssize_t n;
	int fd, field;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	data[n] = '\0';
	/* The name (field 2) may hold spaces and parentheses: fields after it
	 * are counted from the last ')'. */
	if ((p = strrchr(data, ')')) == NULL || sscanf(p + 1, " %c", &state) != 1)
		return -1;
	if (state == 'Z' || state == 'X')
		return -1;
	p += 2;
	for (field = 3; field < 22 && p != NULL; field++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (p == NULL || sscanf(p, "%llu", &start) != 1)
		return -1;
	return (long long)start;
}

bool
proc_running(pid_t pid, long long start)
{
	if (pid <= 0)
		return false;
	/* Our own child that exited is a zombie until reaped. */
	(void)waitpid(pid, NULL, WNOHANG);
	return start >= 0 && proc_start_time(pid) == start;
}
