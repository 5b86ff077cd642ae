#!/usr/bin/env bash
# Builds the manifest fuzzer (libFuzzer + ASan + UBSan, the parser and the
# modules compiled into the harness) and runs it for N seconds.
# Usage: tests/fuzz/run.sh [SECONDS]      (default 60)
#        tests/fuzz/run.sh --coverage     line coverage of the corpus so far
# New inputs it finds stay in build/fuzz/corpus, so later runs start from
# them; a crash, leak or UB report leaves its input in build/fuzz/artifacts/
# and makes this script fail.  Replay one: build/fuzz/fuzz_manifest FILE
set -euo pipefail
cd "$(dirname "$0")/../.."

out=build/fuzz
cc=${FUZZ_CC:-clang}
pkgs="libcurl json-c yaml-0.1 expat zlib"
srcs=$(ls bootstrap/*.c bootstrap/*/*.c modules/*.c modules/*/*.c | grep -v '^bootstrap/main\.c$')
mkdir -p "$out/corpus" "$out/artifacts"

build() { # build BINARY EXTRA-FLAGS...
    local bin=$1
    shift
    # shellcheck disable=SC2086
    "$cc" -std=c11 -Wall -Wextra -Werror -Wvla -Wshadow -D_GNU_SOURCE \
        -iquote bootstrap -iquote modules -O1 -g -fno-omit-frame-pointer "$@" $(pkg-config --cflags $pkgs) \
        -o "$bin" tests/fuzz/fuzz_manifest.c $srcs $(pkg-config --libs $pkgs)
}

if [ "${1:-}" = --coverage ]; then
    build "$out/fuzz_manifest_cov" -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping
    rm -f "$out"/cov-*.profraw
    LLVM_PROFILE_FILE="$out/cov-%p.profraw" \
        "$out/fuzz_manifest_cov" -runs=0 "$out/corpus" tests/fuzz/corpus >/dev/null 2>&1
    llvm-profdata merge -o "$out/cov.profdata" "$out"/cov-*.profraw
    # shellcheck disable=SC2086
    llvm-cov report "$out/fuzz_manifest_cov" -instr-profile="$out/cov.profdata" $srcs
    exit 0
fi

secs=${1:-60}
case "$secs" in
'' | 0 | *[!0-9]*) echo "usage: $0 [SECONDS] | --coverage" >&2; exit 2 ;;
esac
build "$out/fuzz_manifest" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

# The first directory receives new inputs; the seeds are only read.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/fuzz_manifest" "$out/corpus" tests/fuzz/corpus \
    -dict=tests/fuzz/manifest.dict \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$out/artifacts/" -print_final_stats=1
echo "fuzz: $secs s of fuzzing, no crash, leak or undefined behaviour"
