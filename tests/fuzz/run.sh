#!/usr/bin/env bash
# Builds the manifest fuzzer (libFuzzer + ASan + UBSan, the parser and the
# modules compiled into the harness) and runs it for N seconds.
# Usage: tests/fuzz/run.sh [SECONDS]      (default 60)
# New inputs it finds stay in build/fuzz/corpus, so later runs start from
# them; a crash, leak or UB report leaves its input in build/fuzz/artifacts/
# and makes this script fail.  Replay one: build/fuzz/fuzz_manifest FILE
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-60}
case "$secs" in
'' | 0 | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
out=build/fuzz
cc=${FUZZ_CC:-clang}
pkgs="libcurl json-c yaml-0.1 expat openssl zlib"

mkdir -p "$out/corpus" "$out/artifacts"
srcs=$(ls bootstrap/*.c modules/*.c | grep -v '^bootstrap/main\.c$')
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -Wvla -Wshadow -D_GNU_SOURCE \
    -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    $(pkg-config --cflags $pkgs) \
    -o "$out/fuzz_manifest" tests/fuzz/fuzz_manifest.c $srcs \
    $(pkg-config --libs $pkgs)

# The first directory receives new inputs; the seeds are only read.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/fuzz_manifest" "$out/corpus" tests/fuzz/corpus \
    -dict=tests/fuzz/manifest.dict \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$out/artifacts/" -print_final_stats=1
echo "fuzz: $secs s of fuzzing, no crash, leak or undefined behaviour"
