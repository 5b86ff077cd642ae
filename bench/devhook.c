/* devhook.c: bench/run.py's attach hook for the simulator: makes the volume's
 * block device appear in an instance's mount namespace the moment EC2
 * attaches it, as tests/integration/blockns.py does, but in a millisecond
 * instead of a Python start-up, so a zero-latency run stays zero-latency.
 *
 *   devhook nitro NVME_DIR ROOT    NVME_DIR/nvme1/{serial,model,nvme1n1/dev},
 *                                  then ROOT/dev/nvme1n1
 *   devhook xen ROOT               ROOT/dev/xvdf
 *
 * ROOT is the instance's /proc/PID/root.  The environment is the sim's
 * (SIM_ACTION attach|detach, SIM_VOLUME_ID, SIM_BACKING: the loop device).
 * On attach it prints the instant the node appeared (epoch seconds): the
 * bench measures from there.  Detach removes what attach made. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static int
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *action = getenv("SIM_ACTION"), *vol = getenv("SIM_VOLUME_ID");
	const char *backing = getenv("SIM_BACKING"), *naming = argc > 1 ? argv[1] : "";
	const char *nvme = NULL, *root;
	char node[4096], ctl[4096], p[4200], text[64];
	struct stat st;
	struct timespec ts;

	if (!strcmp(naming, "nitro") && argc == 4) {
		nvme = argv[2];
		root = argv[3];
		snprintf(node, sizeof(node), "%s/dev/nvme1n1", root);
		snprintf(ctl, sizeof(ctl), "%s/nvme1", nvme);
	} else if (!strcmp(naming, "xen") && argc == 3) {
		root = argv[2];
		snprintf(node, sizeof(node), "%s/dev/xvdf", root);
	} else {
		fprintf(stderr, "usage: devhook nitro NVME_DIR ROOT | devhook xen ROOT\n");
		return 2;
	}
	if (action == NULL || vol == NULL || backing == NULL || strncmp(vol, "vol-", 4) != 0) {
		fprintf(stderr, "devhook: SIM_ACTION, SIM_VOLUME_ID, SIM_BACKING unset\n");
		return 2;
	}
	if (!strcmp(action, "detach")) {
		unlink(node);
		if (nvme != NULL) {
			const char *files[] = {"nvme1n1/dev", "serial", "model"};

			for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
				snprintf(p, sizeof(p), "%s/%s", ctl, files[i]);
				unlink(p);
			}
			snprintf(p, sizeof(p), "%s/nvme1n1", ctl);
			rmdir(p);
			rmdir(ctl);
		}
		return 0;
	}
	if (stat(backing, &st) < 0 || !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "devhook: %s is not a block device\n", backing);
		return 1;
	}
	if (nvme != NULL) {
		/* sysfs first, as the kernel does: the node comes last. */
		snprintf(p, sizeof(p), "%s/nvme1n1", ctl);
		if ((mkdir(ctl, 0755) < 0 && access(ctl, F_OK) < 0) || (mkdir(p, 0755) < 0 &&
		    access(p, F_OK) < 0)) {
			perror(p);
			return 1;
		}
		snprintf(text, sizeof(text), "vol%s\n", vol + 4); /* the serial: no dash */
		snprintf(p, sizeof(p), "%s/serial", ctl);
		if (put(p, text) < 0)
			return 1;
		snprintf(p, sizeof(p), "%s/model", ctl);
		if (put(p, "Amazon Elastic Block Store\n") < 0)
			return 1;
		snprintf(text, sizeof(text), "%u:%u\n", major(st.st_rdev), minor(st.st_rdev));
		snprintf(p, sizeof(p), "%s/nvme1n1/dev", ctl);
		if (put(p, text) < 0)
			return 1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (mknod(node, S_IFBLK | 0660, st.st_rdev) < 0) {
		perror(node);
		return 1;
	}
	printf("%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
	return 0;
}
