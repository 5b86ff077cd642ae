/* test_devwatch.c: device events.  A scratch directory stands for /dev; a
 * "block device" in it is a link to a real one of this machine (or a node
 * made with mknod when root), which is what the watcher must report, and
 * nothing else.  Network interfaces: lo brought up in a new network
 * namespace (root only). */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "unit.h"

#include "devwatch.h"
#include "util.h"

/* Generous: the machine may be loaded; an event normally takes microseconds. */
#define WAIT_MS 5000

/* A block device of this machine, for links to point at; NULL if none. */
static const char *
some_block_device(void)
{
	static char path[64];
	struct stat st;

	for (int i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "/dev/loop%d", i);
		if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
			return path;
	}
	return NULL;
}

struct scratch {
	char *dir;
	struct devwatch *w;
	const char *blk;
};

static int
setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));
	const char *why;

	assert_non_null(s);
	unsetenv("HABOOT_DEVICE_EVENTS");
	s->dir = unit_tmpdir();
	s->blk = some_block_device();
	s->w = devwatch_start(DEVWATCH_BLOCK, s->dir, &why);
	assert_non_null(s->w);
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct scratch *s = *state;

	devwatch_stop(s->w);
	unit_rmtree(s->dir);
	free(s);
	return 0;
}

static void
link_block(struct scratch *s, const char *name, const char *target)
{
	char *p = unit_path(s->dir, name);

	assert_int_equal(symlink(target ? target : s->blk, p), 0);
	free(p);
}

static void
test_block_device_appearing_is_reported(void **state)
{
	struct scratch *s = *state;
	char name[64];

	if (s->blk == NULL)
		skip();
	assert_int_equal(devwatch_wait(s->w, 0, name, sizeof(name)), 0);
	link_block(s, "xvdf", NULL);
	assert_int_equal(devwatch_wait(s->w, WAIT_MS, name, sizeof(name)), 1);
	assert_string_equal(name, "xvdf");
	/* Drained: the same appearance is not reported twice. */
	assert_int_equal(devwatch_wait(s->w, 0, name, sizeof(name)), 0);
}

static void
test_node_made_by_mknod_is_reported(void **state)
{
	struct scratch *s = *state;
	char name[64], *p;

	if (geteuid() != 0)
		skip(); /* mknod needs CAP_MKNOD; make check runs as root */
	p = unit_path(s->dir, "nvme1n1");
	assert_int_equal(mknod(p, S_IFBLK | 0600, makedev(7, 0)), 0);
	assert_int_equal(devwatch_wait(s->w, WAIT_MS, name, sizeof(name)), 1);
	assert_string_equal(name, "nvme1n1");
	free(p);
}

static void
test_other_files_are_not_reported(void **state)
{
	struct scratch *s = *state;
	char name[64], *p;

	if (s->blk == NULL)
		skip();
	p = unit_path(s->dir, "ttyS9");
	unit_write(p, "not a device\n");
	free(p);
	link_block(s, "null", "/dev/null");   /* a character device */
	link_block(s, "dangling", "/nonexistent");
	p = unit_path(s->dir, "shm");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	assert_int_equal(devwatch_wait(s->w, 200, name, sizeof(name)), 0);
	/* A link renamed into place, as udev makes them, counts (made in shm/,
	 * which is not watched). */
	link_block(s, "shm/xvdg", NULL);
	assert_int_equal(devwatch_wait(s->w, 200, name, sizeof(name)), 0);
	{
		char *from = unit_path(s->dir, "shm/xvdg"), *to = unit_path(s->dir, "xvdg");

		assert_int_equal(rename(from, to), 0);
		free(from);
		free(to);
	}
	assert_int_equal(devwatch_wait(s->w, WAIT_MS, name, sizeof(name)), 1);
	assert_string_equal(name, "xvdg");
}

static void
test_by_id_links_are_watched_once_udev_makes_the_directory(void **state)
{
	struct scratch *s = *state;
	char name[128], *p;

	if (s->blk == NULL)
		skip();
	p = unit_path(s->dir, "disk");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = unit_path(s->dir, "disk/by-id");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	/* The directories alone are not devices. */
	assert_int_equal(devwatch_wait(s->w, 200, name, sizeof(name)), 0);
	link_block(s, "disk/by-id/nvme-Amazon_Elastic_Block_Store_vol073769c7", NULL);
	assert_int_equal(devwatch_wait(s->w, WAIT_MS, name, sizeof(name)), 1);
	assert_string_equal(name, "nvme-Amazon_Elastic_Block_Store_vol073769c7");
}

static void
test_events_can_be_turned_off(void **state)
{
	const char *why = NULL;
	char *dir = unit_tmpdir();
	(void)state;

	setenv("HABOOT_DEVICE_EVENTS", "off", 1);
	assert_true(devwatch_disabled());
	assert_null(devwatch_start(DEVWATCH_BLOCK, dir, &why));
	assert_non_null(why);
	assert_non_null(strstr(why, "HABOOT_DEVICE_EVENTS"));
	setenv("HABOOT_DEVICE_EVENTS", "on", 1);
	assert_false(devwatch_disabled());
	unsetenv("HABOOT_DEVICE_EVENTS");
	unit_rmtree(dir);
}

static void
test_missing_directory_means_no_events(void **state)
{
	const char *why = NULL;
	(void)state;

	assert_null(devwatch_start(DEVWATCH_BLOCK, "/nonexistent/dev", &why));
	assert_non_null(why);
}

/* In a new network namespace (a child process, so this one keeps its own):
 * lo going up is an RTM_NEWLINK the watcher must report by name. */
static void
test_network_interface_change_is_reported(void **state)
{
	pid_t pid;
	int status;
	(void)state;

	if (geteuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct devwatch *w;
		struct ifreq ifr;
		const char *why;
		char name[IFNAMSIZ + 1];
		int fd;

		if (unshare(CLONE_NEWNET) < 0)
			_exit(10);
		if ((w = devwatch_start(DEVWATCH_NETIF, NULL, &why)) == NULL)
			_exit(11);
		if (devwatch_wait(w, 0, name, sizeof(name)) != 0)
			_exit(12);
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
		if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
			_exit(13);
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			_exit(14);
		if (devwatch_wait(w, WAIT_MS, name, sizeof(name)) != 1)
			_exit(15);
		if (strcmp(name, "lo") != 0)
			_exit(16);
		close(fd);
		devwatch_stop(w);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_block_device_appearing_is_reported, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_node_made_by_mknod_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_files_are_not_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_by_id_links_are_watched_once_udev_makes_the_directory, setup, teardown),
		cmocka_unit_test(test_events_can_be_turned_off),
		cmocka_unit_test(test_missing_directory_means_no_events),
		cmocka_unit_test(test_network_interface_change_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
