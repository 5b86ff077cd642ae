#!/usr/bin/env bash
# Builds haboot_<version>_amd64.deb with dpkg-deb: the static binary, the
# manual pages, the systemd units of UNITS_DIR, the example manifests, the
# generated IAM policy and the CloudFormation template, copyright and
# changelog.  No maintainer scripts: baking an AMI enables the units it wants
# (README "Deploy on AWS").
#
# Usage: scripts/mkdeb.sh STATIC_BINARY OUT_DIR [UNITS_DIR]   (default contrib/systemd)
# Prints the .deb's path.
set -euo pipefail

bin=$1
out=$2
top=$(cd "$(dirname "$0")/.." && pwd)
units=${3:-$top/contrib/systemd}
version=$("$top/scripts/deb-version.sh")
pkg=haboot
arch=amd64
deb="$out/${pkg}_${version}_${arch}.deb"
# Reproducible: every date is the commit's.
epoch=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH=$epoch

mkdir -p "$out"
root=$(mktemp -d "$out/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
doc=$root/usr/share/doc/$pkg

install -d -m 0755 "$root/usr/sbin" "$root/usr/share/man/man8" "$root/usr/share/man/man5" \
    "$doc/examples" "$root/usr/share/lintian/overrides"
# The copy in the package is stripped: debugging symbols stay with the build.
install -m 0755 "$bin" "$root/usr/sbin/haboot"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/sbin/haboot"
gzip -9n < "$top/man/haboot.8" > "$root/usr/share/man/man8/haboot.8.gz"
gzip -9n < "$top/man/haboot.yaml.5" > "$root/usr/share/man/man5/haboot.yaml.5.gz"
for f in nfs.yaml nfs-kernel.yaml iam-policy.json; do
    install -m 0644 "$top/examples/$f" "$doc/examples/$f"
done
install -m 0644 "$top/deploy/nfs-stack.yaml" "$doc/examples/nfs-stack.yaml"
if [ -d "$units" ]; then
    for u in "$units"/*; do
        case "$u" in
        *.service | *.timer | *.target | *.path | *.socket)
            install -D -m 0644 "$u" "$root/lib/systemd/system/$(basename "$u")" ;;
        esac
    done
fi

install -m 0644 "$top/contrib/debian/copyright" "$doc/copyright"
install -m 0644 "$top/contrib/debian/lintian-overrides" "$root/usr/share/lintian/overrides/$pkg"
subject=$(git -C "$top" log -1 --format=%s 2>/dev/null || echo "local build")
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    printf '%s (%s) unstable; urgency=medium\n\n' "$pkg" "$version"
    printf '  * Built from commit %s: %s\n' "$commit" "$subject" | fold -s -w 78 | sed '2,$s/^/    /'
    printf '\n -- %s  %s\n' "haboot maintainers <haboot@packages.invalid>" \
        "$(date -u -R -d "@$epoch")"
} | gzip -9n > "$doc/changelog.gz"

find "$root" -type d -exec chmod 0755 {} +
size=$(du -k -s --apparent-size "$root" | cut -f1)
mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: haboot maintainers <haboot@packages.invalid>
Installed-Size: $size
Recommends: e2fsprogs, nfs-ganesha, nfs-ganesha-vfs
Suggests: xfsprogs, nfs-kernel-server
Section: admin
Priority: optional
Description: first-boot runner for one stateful service on a shared EBS volume
 haboot brings one stateful service (NFS first) up on a shared EBS volume at
 the first boot of an EC2 instance in an Auto Scaling group of one: it
 attaches the volume (taking it over from a dead owner safely, or fencing a
 live one), proves and mounts the filesystem, exports it, points a Route 53
 name at the instance and reports to SNS and CloudWatch.  When the instance
 dies, the group starts another and haboot on it takes the service over.
 .
 It reads a YAML manifest from the instance's user-data (IMDSv2).  The binary
 is statically linked: it needs no library and runs on Debian, Ubuntu and
 Amazon Linux alike.  "haboot iam-policy" prints the instance role's
 least-privilege IAM policy for a manifest.
EOF
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$epoch" {} +
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
