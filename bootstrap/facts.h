/* facts.h: the values modules hand each other, and the report shows, named
 * once.  A module sets a fact with ctx_set_fact(ctx, FACT_VOLUME_DEVICE, ...)
 * and a later one reads it with ctx_fact(): the compiler checks both names.
 * The status file keeps them under their dotted names, so `watch` and
 * `release` take up where `run` left off. */
#ifndef HABOOT_FACTS_H
#define HABOOT_FACTS_H

/* X(ENUM, "dotted.name", what it holds) */
#define HB_FACTS(X) \
	X(VOLUME_ID, "volume.id", "the EBS volume attached and proven here") \
	X(VOLUME_DEVICE, "volume.device", "its block device, proven to be that volume") \
	X(VOLUME_AZ, "volume.az", "the volume's availability zone") \
	X(VOLUME_PREVIOUS_OWNER, "volume.previous_owner", "the instance it was taken from") \
	X(VOLUME_FENCED, "volume.fenced", "the owner stopped before the takeover") \
	X(VOLUME_RESTORED_FROM, "volume.restored_from", "the snapshot it was restored from") \
	X(VOLUME_DATA_AS_OF, "volume.data_as_of", "restored: its snapshot's start time; later writes are not on it") \
	X(VOLUME_DATA_AGE, "volume.data_age_seconds", "restored: how old its data was when it first served") \
	X(VOLUME_SUPERSEDED, "volume.superseded", "the volume it replaced, now tagged haboot:superseded-by") \
	X(FS_MOUNTPOINT, "filesystem.mountpoint", "where the volume is mounted") \
	X(FS_SIGNATURE, "filesystem.signature", "the signature file's path") \
	X(FS_DEVICE, "filesystem.device", "the device mounted") \
	X(FS_TYPE, "filesystem.type", "ext4 or xfs, as found on the device") \
	X(FS_UUID, "filesystem.uuid", "the filesystem's UUID") \
	X(FS_GENERATION, "filesystem.generation", "the takeover generation now") \
	X(FS_PREVIOUS_HOLDER, "filesystem.previous_holder", "the generation's previous holder") \
	X(FS_PREVIOUS_HOLDER_TIME, "filesystem.previous_holder_time", "since when it held it") \
	X(FS_HANDOFF, "filesystem.handoff", "planned (released cleanly) or crash (taken over)") \
	X(EXPORTS_CONFIG, "exports.config", "the NFS server configuration haboot owns") \
	X(EXPORTS_RECOVERY, "exports.recovery", "ganesha's NFSv4 recovery directory") \
	X(ROUTE53_NAME, "route53.name", "the DNS name pointed here") \
	X(ROUTE53_VALUE, "route53.value", "the address it holds") \
	X(ROUTE53_CHANGE_ID, "route53.change_id", "the last change made") \
	X(SERVICE_PID, "service.pid", "the daemon haboot started (command), if it still runs") \
	X(SERVICE_READY, "service.ready", "the probe that proved the service ready, and when") \
	X(ADDRESS_IP, "address.ip", "the floating address clients use") \
	X(ADDRESS_MODE, "address.mode", "how EC2 gives it here: secondary-ip, eni, overlay-ip, elastic-ip") \
	X(ADDRESS_INTERFACE, "address.interface", "the local interface that holds it") \
	X(ADDRESS_LOCAL, "address.local", "the address configured on that interface") \
	X(ADDRESS_ENI, "address.eni", "the network interface EC2 gives it to") \
	X(ADDRESS_PREVIOUS, "address.previous", "where EC2 had it before this instance took it") \
	X(SNAPSHOT_LATEST, "snapshot.latest", "the newest completed snapshot of the service") \
	X(SNAPSHOT_TIME, "snapshot.time", "its start time: a restore now would lack later writes") \
	X(SNAPSHOT_NEXT, "snapshot.next", "when the watcher takes the next one")

enum fact {
#define HB_FACT_ENUM(e, name, doc) FACT_##e,
	HB_FACTS(HB_FACT_ENUM)
#undef HB_FACT_ENUM
	FACT_COUNT
};

/* "volume.id" for FACT_VOLUME_ID. */
const char *fact_name(enum fact f);
/* The fact named name, or -1: a status file may hold names this build lacks. */
int fact_by_name(const char *name);

#endif
