#!/usr/bin/env bash
# Build a minimal static libcurl (mbed TLS, zlib, HTTP/HTTPS + proxies only) from
# Debian's own curl source, for linking the fully static haboot binary.
#
# Why: Debian's libcurl.a drags in Kerberos, sasl2 (via libldap) and p11-kit
# (via gnutls/librtmp), none of which ship a .a, so it cannot link statically.
# Why mbed TLS (Debian's libmbedtls-dev, static libraries included) and not
# OpenSSL: OpenSSL 3's libssl reaches every algorithm of its default provider,
# 3.9 MB of the binary that no link-time garbage collection removes; mbed TLS
# costs about 0.5 MB (measurements in bench/RESULTS.md).  TLS 1.2, which every
# AWS endpoint speaks.
#
# Usage: scripts/build-static-curl.sh [PREFIX]      (default PREFIX: build/curl-min)
# Result: PREFIX/lib/libcurl.a and PREFIX/include/curl/*.h
# Idempotent: does nothing if both exist and the stamp matches this recipe.
# Needs root (apt-get) unless the build dependencies and deb-src are already there.
set -euo pipefail

# Every line says how long the build has run: the first one takes minutes.
log() { printf 'build-static-curl: [%4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a long step with its output in a log, saying every 20 s that it is
# still going and, with a counter command, how far it got.
long_step() { # long_step LOG COUNTER-COMMAND COMMAND...
    local logf=$1 counter=$2 pid rc
    shift 2
    "$@" >"$logf" 2>&1 &
    pid=$!
    while ! wait_for "$pid" 20; do
        log "  still at it${counter:+: $(eval "$counter")}"
    done
    wait "$pid" && rc=0 || rc=$?
    return "$rc"
}
wait_for() { # wait_for PID SECONDS: 0 when it ended within SECONDS
    local i
    for ((i = 0; i < $2 * 5; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.2
    done
    return 1
}

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

PREFIX=${1:-build/curl-min}
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
WORK=${CURL_SRC_WORKDIR:-$REPO_ROOT/build/curl-src}
JOBS=${JOBS:-2}
STAMP=$PREFIX/.haboot-curl-stamp

CONFIGURE_FLAGS=(
    --disable-shared --enable-static
    --with-mbedtls --without-openssl
    --disable-ldap --disable-ldaps
    --without-libpsl --without-libidn2 --without-nghttp2 --without-brotli
    --without-zstd --without-gssapi --without-librtmp --without-libssh2
    --without-libssh
    --disable-ntlm-wb
    --disable-manual
    --disable-dict --disable-gopher --disable-imap --disable-pop3 --disable-smtp
    --disable-rtsp --disable-telnet --disable-tftp --disable-mqtt --disable-smb
    --disable-ftp --disable-file
    # What haboot does not use (bench/RESULTS.md has what each step saved):
    # it signs its own requests, keeps no cookies, sends no forms, reads no
    # .netrc, and reports curl's errors from the error buffer, not --verbose.
    # Proxies (HTTPS_PROXY, with basic auth) stay.
    --disable-crypto-auth --disable-ntlm --disable-tls-srp --disable-cookies
    --disable-doh --disable-mime --disable-netrc --disable-progress-meter
    --disable-alt-svc --disable-hsts --disable-headers-api --disable-get-easy-options
    --disable-unix-sockets --disable-dnsshuffle --disable-libcurl-option
    --disable-websockets --disable-dateparse --disable-verbose
    --prefix="$PREFIX"
)
# One section per function and object: the static link drops what haboot
# does not call (-Wl,--gc-sections in the Makefile).
CURL_CFLAGS="-O2 -ffunction-sections -fdata-sections"
# Bump RECIPE_VERSION when the steps change in a way the flags do not show.
RECIPE_VERSION=2
STAMP_CONTENT="recipe=$RECIPE_VERSION cflags=$CURL_CFLAGS flags=${CONFIGURE_FLAGS[*]}"

if [[ -f $PREFIX/lib/libcurl.a && -f $PREFIX/include/curl/curl.h && -f $STAMP ]] &&
    [[ $(cat "$STAMP") == "$STAMP_CONTENT" ]]; then
    log "up to date: $PREFIX/lib/libcurl.a"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log "building a static libcurl from Debian's curl source into $PREFIX (once; it took" \
    "2 to 4 minutes on 2 cores)"

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# --- 1. build dependencies ---------------------------------------------------
DEPS=(dpkg-dev autoconf automake libtool libmbedtls-dev zlib1g-dev pkg-config make gcc patch)
missing=()
for p in "${DEPS[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != *'install ok installed'* ]]; then
        missing+=("$p")
    fi
done

# --- 2. deb-src entry --------------------------------------------------------
have_deb_src() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        if grep -Eq '^[[:space:]]*deb-src[[:space:]]|^[[:space:]]*Types:.*deb-src' "$f"; then
            return 0
        fi
    done
    return 1
}

need_update=0
if ! have_deb_src; then
    src=/etc/apt/sources.list.d/debian.sources
    [[ -f $src ]] || die "no deb-src entry and no $src to copy it from"
    log "adding deb-src entry: /etc/apt/sources.list.d/debian-src.sources"
    sed -E 's/^Types:.*/Types: deb-src/' "$src" |
        as_root tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
    need_update=1
elif [[ $(apt-cache showsrc curl 2>/dev/null || true) != *'Package: curl'* ]]; then
    need_update=1
fi
if ((${#missing[@]} > 0)) && [[ $need_update -eq 0 ]]; then
    # Package lists may be absent (e.g. a fresh container).
    if [[ $(apt-cache policy "${missing[@]}" 2>/dev/null || true) != *'Candidate: '[0-9]* ]]; then
        need_update=1
    fi
fi

if [[ $need_update -eq 1 ]]; then
    log "apt-get update"
    as_root apt-get update -qq
fi
if ((${#missing[@]} > 0)); then
    log "installing: ${missing[*]}"
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- 3. source ---------------------------------------------------------------
mkdir -p "$WORK"
find_srcdir() {
    find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'curl-*' -exec test -d '{}/debian/patches' ';' -print |
        sort -V | tail -n 1
}
SRCDIR=$(find_srcdir)
if [[ -z $SRCDIR ]]; then
    log "apt-get source curl into $WORK"
    (cd "$WORK" && apt-get source -qq curl >apt-get-source.log 2>&1) ||
        { tail -n 30 "$WORK/apt-get-source.log" >&2; die "apt-get source curl failed"; }
    SRCDIR=$(find_srcdir)
    [[ -n $SRCDIR ]] || die "no curl source tree found in $WORK"
else
    log "reusing source tree $SRCDIR"
fi
cd "$SRCDIR"

# --- 4. undo Debian's NSS and GnuTLS patches (so the library is plain libcurl) --
# 90_gnutls renames libcurl.la to libcurl-gnutls.la and 99_nss (stacked on top)
# renames it to libcurl-nss.la; lib/Makefile.am tells which state the tree is in,
# so a re-run after a partial reversal picks up where it stopped.
lib_name() { sed -n 's/^lib_LTLIBRARIES = //p' lib/Makefile.am; }
unpatch() {
    local p=debian/patches/$1
    [[ -f $p ]] || die "missing $p"
    log "reversing $1"
    patch -R -p1 -s -f --no-backup-if-mismatch <"$p" ||
        die "$1 does not reverse cleanly in $SRCDIR (remove $WORK and retry)"
}
if [[ $(lib_name) == libcurl-nss.la ]]; then unpatch 99_nss.patch; fi
if [[ $(lib_name) == libcurl-gnutls.la ]]; then unpatch 90_gnutls.patch; fi
[[ $(lib_name) == libcurl.la ]] ||
    die "unexpected lib_LTLIBRARIES '$(lib_name)' in $SRCDIR/lib/Makefile.am"
log "Debian's NSS/GnuTLS patches are reversed"

# --- 5. configure, build, install ---------------------------------------------
log "autoreconf -fi"
long_step autoreconf.log '' autoreconf -fi || { tail -n 30 autoreconf.log >&2; die "autoreconf failed"; }

log "configure (log: $SRCDIR/configure.out)"
long_step configure.out '' env CFLAGS="$CURL_CFLAGS" ./configure "${CONFIGURE_FLAGS[@]}" ||
    { tail -n 30 configure.out >&2; die "configure failed (see $SRCDIR/config.log)"; }
grep -q '^#define USE_MBEDTLS 1' lib/curl_config.h || die "configure did not select mbed TLS"

# The tree may hold objects of another recipe: start from none.
make -C lib clean >/dev/null 2>&1 || true
nsrc=$(find lib -name '*.c' | wc -l)
log "make -C lib -j$JOBS: about $nsrc C files (log: $SRCDIR/make.log)"
long_step make.log 'echo "$(find lib -name "*.o" | wc -l) of about $nsrc compiled"' \
    make -C lib -j"$JOBS" || { tail -n 40 make.log >&2; die "make failed"; }

log "installing lib and include into $PREFIX"
rm -f "$STAMP"
make -C lib install >install.log 2>&1 || { tail -n 30 install.log >&2; die "make -C lib install failed"; }
make -C include install >>install.log 2>&1 || { tail -n 30 install.log >&2; die "make -C include install failed"; }

[[ -f $PREFIX/lib/libcurl.a && -f $PREFIX/include/curl/curl.h ]] || die "install did not produce libcurl.a/curl.h"
printf '%s\n' "$STAMP_CONTENT" >"$STAMP"
log "done: $PREFIX/lib/libcurl.a ($(sed -n 's/^#define LIBCURL_VERSION "\(.*\)"/\1/p' "$PREFIX/include/curl/curlver.h"))"
