#!/usr/bin/env bash
# Install, on Debian 12, the packages haboot's build, tests and demo need.
# Idempotent and quick when everything is there: only missing packages are
# fetched, so `make check` can call it every time.
#
# Usage: scripts/install-deps.sh [build|test|demo|all]   (default: all)
set -euo pipefail

BUILD=(gcc make pkg-config libc6-dev libcurl4-openssl-dev libjson-c-dev libyaml-dev
    libssl-dev libexpat1-dev zlib1g-dev libmbedtls-dev)
TEST=(clang libclang-rt-14-dev libcmocka-dev python3 python3-pytest python3-pytest-xdist
    python3-jsonschema
    python3-yaml python3-botocore awscli e2fsprogs xfsprogs util-linux iproute2
    nfs-ganesha nfs-ganesha-vfs libnfs-utils nfs-kernel-server systemd
    lintian file binutils nodejs postgresql python3-psycopg2)
DEMO=(e2fsprogs util-linux nfs-ganesha nfs-ganesha-vfs libnfs-utils python3 python3-botocore)

case "${1:-all}" in
build) want=("${BUILD[@]}") ;;
test) want=("${BUILD[@]}" "${TEST[@]}") ;;
demo) want=("${BUILD[@]}" "${DEMO[@]}") ;;
all) want=("${BUILD[@]}" "${TEST[@]}" "${DEMO[@]}") ;;
*) echo "usage: $0 [build|test|demo|all]" >&2; exit 2 ;;
esac

# npm ships inside some nodejs builds and as its own package in Debian's.
case "${1:-all}" in test | all) command -v npm >/dev/null 2>&1 || want+=(npm) ;; esac

missing=()
for p in "${want[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
# shellcheck disable=SC2207
missing=($(printf '%s\n' "${missing[@]}" | sort -u))
# The CloudFormation validator (deploy/validate): npm packages at the versions
# package-lock.json pins, into build/npm, when the lock changed.
npm_deps() {
    local top lock
    top=$(cd "$(dirname "$0")/.." && pwd)
    lock=$top/deploy/validate/package-lock.json
    if cmp -s "$lock" "$top/build/npm/package-lock.json" &&
        [ -d "$top/build/npm/node_modules/cfn-lint" ]; then
        return 0
    fi
    echo "install-deps: npm ci (deploy/validate) into build/npm" >&2
    mkdir -p "$top/build/npm"
    cp "$top/deploy/validate/package.json" "$lock" "$top/build/npm/"
    (cd "$top/build/npm" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
}

if [ ${#missing[@]} -eq 0 ]; then
    case "${1:-all}" in test | all) npm_deps ;; esac
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# nfs-kernel-server's postinst tries to start services; there may be no init system.
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
case "${1:-all}" in test | all) npm_deps ;; esac
