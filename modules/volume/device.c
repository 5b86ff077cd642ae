/* device.c: EBS volume -> block device, with proof.
 *
 * Nitro instances expose EBS volumes as NVMe namespaces whose controller
 * serial is the volume id without its dash ("vol0abc..."); the name the
 * kernel gives them (nvme1n1) has nothing to do with the AttachVolume device.
 * Xen instances name /dev/sdf as /dev/xvdf and carry no serial.  A node found
 * by name is accepted only if no NVMe controller claims it with another
 * serial: a mismatch means the wrong disk and is fatal. */
#include "device.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "util.h"

#define NVME_CLASS "/sys/class/nvme"
#define BY_ID_PREFIX "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"

/* First line of a small sysfs file, trimmed; NULL if unreadable. */
static char *
read_attr(const char *path)
{
	struct buf b;
	char *s;

	buf_init(&b);
	if (read_file(path, 4096, &b) < 0) {
		buf_free(&b);
		return NULL;
	}
	s = buf_steal(&b);
	s[strcspn(s, "\n")] = '\0';
	for (size_t n = strlen(s); n > 0 && s[n - 1] == ' '; n--)
		s[n - 1] = '\0';
	return s;
}

/* "vol-0abc" -> "vol0abc", the form NVMe serials use. */
static void
serial_of(const char *volume_id, char *out, size_t n)
{
	snprintf(out, n, "vol%s", str_starts(volume_id, "vol-") ? volume_id + 4 : volume_id);
}

struct nvme_ns {
	char name[256];   /* nvme1n1 */
	char serial[256]; /* vol0abc... */
	dev_t rdev;
};

/* Every NVMe namespace sysfs knows, with its controller's serial. */
static size_t
nvme_scan(struct nvme_ns *out, size_t max)
{
	DIR *d = opendir(NVME_CLASS), *cd;
	struct dirent *e, *ce;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < max) {
		char path[PATH_MAX - 512], *serial;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), NVME_CLASS "/%s/serial", e->d_name);
		if ((serial = read_attr(path)) == NULL)
			continue;
		snprintf(path, sizeof(path), NVME_CLASS "/%s", e->d_name);
		if ((cd = opendir(path)) == NULL) {
			free(serial);
			continue;
		}
		while ((ce = readdir(cd)) != NULL && n < max) {
			char devpath[PATH_MAX], *dev;
			unsigned maj, min;

			/* namespaces are nvmeXnY (or nvmeXcYnZ with multipath) */
			if (!str_starts(ce->d_name, "nvme") || strchr(ce->d_name, 'n') == NULL ||
			    strrchr(ce->d_name, 'n') == ce->d_name)
				continue;
			snprintf(devpath, sizeof(devpath), "%s/%s/dev", path, ce->d_name);
			if ((dev = read_attr(devpath)) == NULL)
				continue;
			if (sscanf(dev, "%u:%u", &maj, &min) == 2) {
				snprintf(out[n].name, sizeof(out[n].name), "%s", ce->d_name);
				snprintf(out[n].serial, sizeof(out[n].serial), "%s", serial);
				out[n].rdev = makedev(maj, min);
				n++;
			}
			free(dev);
		}
		closedir(cd);
		free(serial);
	}
	closedir(d);
	return n;
}

static const struct nvme_ns *
ns_by_rdev(const struct nvme_ns *ns, size_t n, dev_t rdev)
{
	for (size_t i = 0; i < n; i++)
		if (ns[i].rdev == rdev)
			return &ns[i];
	return NULL;
}

static int
block_rdev(const char *path, dev_t *rdev)
{
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
		return -1;
	*rdev = st.st_rdev;
	return 0;
}

/* A node found by name: accept it unless an NVMe controller says it is another volume. */
static enum vdev_result
check_named(const char *node, const char *want, const struct nvme_ns *ns, size_t nns,
    char **path, char **how, char **why)
{
	const struct nvme_ns *owner;
	dev_t rdev;

	if (block_rdev(node, &rdev) < 0)
		return VDEV_NOT_YET;
	if ((owner = ns_by_rdev(ns, nns, rdev)) != NULL) {
		if (strcmp(owner->serial, want) != 0) {
			*why = xasprintf("%s is NVMe namespace %s whose serial is %s, not %s", node,
			    owner->name, owner->serial, want);
			return VDEV_MISMATCH;
		}
		*path = xstrdup(node);
		*how = xasprintf("NVMe namespace %s, serial %s", owner->name, owner->serial);
		return VDEV_FOUND;
	}
	/* On Nitro every EBS volume is an NVMe namespace: an unclaimed node
	 * there is some other disk, so wait for the real one instead. */
	for (size_t i = 0; i < nns; i++)
		if (str_starts(ns[i].serial, "vol"))
			return VDEV_NOT_YET;
	*path = xstrdup(node);
	*how = xstrdup("Xen naming: no NVMe controller claims it");
	return VDEV_FOUND;
}

/* Nitro's proof: the namespace whose controller serial is the volume id. */
static enum vdev_result
by_serial(const struct nvme_ns *ns, size_t nns, const char *want, char **path, char **how,
    char **why)
{
	char node[PATH_MAX];

	for (size_t i = 0; i < nns; i++) {
		dev_t rdev;

		if (strcmp(ns[i].serial, want) != 0)
			continue;
		snprintf(node, sizeof(node), "/dev/%s", ns[i].name);
		if (block_rdev(node, &rdev) < 0)
			return VDEV_NOT_YET; /* sysfs knows it, the node is not there yet */
		if (rdev != ns[i].rdev) {
			*why = xasprintf("%s is device %u:%u but sysfs says %s is %u:%u", node,
			    major(rdev), minor(rdev), ns[i].name, major(ns[i].rdev), minor(ns[i].rdev));
			return VDEV_MISMATCH;
		}
		*path = xstrdup(node);
		*how = xasprintf("NVMe namespace %s, controller serial %s", ns[i].name, want);
		return VDEV_FOUND;
	}
	return VDEV_NOT_YET;
}

enum vdev_result
vdev_by_serial(const char *volume_id, char **path, char **how, char **why)
{
	struct nvme_ns ns[64];
	size_t nns = nvme_scan(ns, HB_ARRAY_LEN(ns));
	char want[64];

	*path = *how = *why = NULL;
	serial_of(volume_id, want, sizeof(want));
	return by_serial(ns, nns, want, path, how, why);
}

enum vdev_result
vdev_resolve(const char *volume_id, const char *ec2_device, char **path, char **how, char **why)
{
	struct nvme_ns ns[64];
	size_t nns = nvme_scan(ns, HB_ARRAY_LEN(ns));
	char want[64], node[PATH_MAX], real[PATH_MAX];
	enum vdev_result r;

	*path = *how = *why = NULL;
	serial_of(volume_id, want, sizeof(want));
	/* 1. Nitro: the namespace whose controller serial is the volume id. */
	if ((r = by_serial(ns, nns, want, path, how, why)) != VDEV_NOT_YET)
		return r;
	for (size_t i = 0; i < nns; i++)
		if (!strcmp(ns[i].serial, want))
			return VDEV_NOT_YET; /* its node is not there yet */
	/* 2. udev's by-id link, when present, must agree with the serial. */
	snprintf(node, sizeof(node), BY_ID_PREFIX "%s", want);
	if (realpath(node, real) != NULL &&
	    (r = check_named(real, want, ns, nns, path, how, why)) != VDEV_NOT_YET)
		return r;
	/* 3. Xen: /dev/sdf appears as /dev/xvdf (some kernels keep /dev/sdf). */
	if (ec2_device != NULL && str_starts(ec2_device, "/dev/sd")) {
		snprintf(node, sizeof(node), "/dev/xvd%s", ec2_device + strlen("/dev/sd"));
		if ((r = check_named(node, want, ns, nns, path, how, why)) != VDEV_NOT_YET)
			return r;
	}
	if (ec2_device != NULL && (r = check_named(ec2_device, want, ns, nns, path, how, why)) !=
	    VDEV_NOT_YET)
		return r;
	return VDEV_NOT_YET;
}
