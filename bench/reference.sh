#!/bin/bash
# The seed's approach, for bench/run.py: the user-data script of
# "Serving NFS on Amazon EC2" (docs/reference-setup.md), AWS part only (describe, attach,
# describe until attached, Route53 change), one /usr/bin/aws process per call.
# Changes from the original, all needed to aim it at the local simulator:
# IMDSv2 (token) instead of IMDSv1 curls, --endpoint-url on every aws call,
# the record file in a temporary directory.  Mount and NFS steps are left out:
# haboot's side of the benchmark runs the volume and route53 modules only.
# Env: IMDS (base URL), ENDPOINT (AWS endpoint URL).
REGION=us-west-2
NFSVOLUME=vol-073769c7
DEVICE=/dev/sdf
AWS="/usr/bin/aws --endpoint-url $ENDPOINT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TOKEN=$(curl -s -X PUT "$IMDS/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")
INSTANCEID=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/instance-id")
# wait until volume is available
n=0
until [ $n -ge 5 ]
do
$AWS ec2 describe-volumes --volume-ids $NFSVOLUME --region $REGION|grep -q available && break
echo "waiting $NFSVOLUME to be available"
((n += 1))
sleep 2
done
# if the volume is available
if $AWS ec2 describe-volumes --volume-ids $NFSVOLUME --region $REGION|grep -qi available; then
# attach the volume
$AWS ec2 attach-volume --volume-id $NFSVOLUME --device $DEVICE --instance-id "$INSTANCEID" --region $REGION
# wait until volume is attached
n=0
until [ $n -ge 5 ]
do
$AWS ec2 describe-volumes --volume-ids $NFSVOLUME --region $REGION|grep -q attached && break
echo "waiting $NFSVOLUME to be attached"
((n += 1))
sleep 2
done
# if the volume is attached
if $AWS ec2 describe-volumes --volume-ids $NFSVOLUME --region $REGION|grep -q attached; then
echo "$NFSVOLUME is attached"
else
echo "A problem occurred, $NFSVOLUME is not attached"
fi
else
echo "A problem occurred, $NFSVOLUME is not available"
fi
# Route53 update
LOCALIP=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/local-ipv4")
DOMAIN=nfs.helloawsworld.com
HOSTEDZONEID=Z1G9ZB2OW5990Z
cat > "$TMP/route53-record.txt" <<- EOR
{
"Comment": "A new record set for the zone.",
"Changes": [
{
"Action": "UPSERT",
"ResourceRecordSet": {
"Name": "$DOMAIN",
"Type": "A",
"TTL": 60,
"ResourceRecords": [
{
"Value": "$LOCALIP"
}
]
}
}
]
}
EOR
$AWS route53 change-resource-record-sets --hosted-zone-id $HOSTEDZONEID \
--change-batch "file://$TMP/route53-record.txt"
