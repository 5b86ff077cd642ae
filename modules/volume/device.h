/* device.h: find the block device of an attached EBS volume and prove
 * it is that volume (DESIGN.md invariant 2). */
#ifndef HABOOT_VOLUME_DEVICE_H
#define HABOOT_VOLUME_DEVICE_H

#include <stddef.h>

enum vdev_result {
	VDEV_FOUND,     /* *path is the proven device */
	VDEV_NOT_YET,   /* no node yet: the kernel may still be creating it */
	VDEV_MISMATCH,  /* a node claims the name but belongs to another volume: fatal */
};

/* volume_id "vol-0abc...", ec2_device as EC2 reports the attachment ("/dev/sdf").
 * On FOUND, *path (malloc'd) is the device and *how says how it was proven;
 * on MISMATCH, *why (malloc'd) says what was found instead. */
enum vdev_result vdev_resolve(const char *volume_id, const char *ec2_device, char **path,
    char **how, char **why);

/* Nitro's proof alone, for noticing an attachment the moment it lands: FOUND
 * only for an NVMe namespace whose controller serial is the volume id (it
 * cannot exist unless EBS attached that volume here); MISMATCH as above;
 * NOT_YET for anything else, a Xen name included (a name proves nothing). */
enum vdev_result vdev_by_serial(const char *volume_id, char **path, char **how, char **why);

#endif
