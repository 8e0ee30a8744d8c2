#!/usr/bin/env bash
# gemm_standalone.sh — builds and runs the GEMM and thread-pool test (tests/test_gemm.c) and
# the peak benchmark (bench/peak.c) on their own, with plain gcc and no other part of the
# library: optimised, then under AddressSanitizer + UBSan, then (if valgrind is installed)
# the benchmark's smoke run under valgrind's leak checker.
#
# Usage: tools/gemm_standalone.sh [--no-bench]
#   --no-bench  skip the full benchmark (the sanitizer and valgrind smoke runs still happen)
#
# Binaries go to ${TMPDIR:-/tmp}/agrad-gemm-standalone. Exits non-zero on the first failure.
set -euo pipefail

bench=1
for arg in "$@"; do
    case "$arg" in
    --no-bench) bench=0 ;;
    *) echo "usage: $0 [--no-bench]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/agrad-gemm-standalone"
mkdir -p "$out"

sources=(ops/gemm.c autograd/parallel.c)
cflags=(-std=c11 -Wall -Wextra -Werror -Iautograd -Iops)
libs=(-pthread -lm)
sanitize=(-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

echo "== build (-O2)"
gcc "${cflags[@]}" -O2 tests/test_gemm.c "${sources[@]}" -o "$out/test_gemm" -lcriterion "${libs[@]}"
gcc "${cflags[@]}" -O2 bench/peak.c "${sources[@]}" -o "$out/peak" -ldl "${libs[@]}"

echo "== test_gemm (-O2)"
"$out/test_gemm"

if [ "$bench" = 1 ]; then
    echo "== peak (-O2)"
    "$out/peak"
fi

echo "== build (-fsanitize=address,undefined)"
gcc "${cflags[@]}" "${sanitize[@]}" tests/test_gemm.c "${sources[@]}" -o "$out/test_gemm_san" \
    -lcriterion "${libs[@]}"
gcc "${cflags[@]}" "${sanitize[@]}" bench/peak.c "${sources[@]}" -o "$out/peak_san" -ldl \
    "${libs[@]}"

echo "== test_gemm (sanitizers)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$out/test_gemm_san"

echo "== peak --quick (sanitizers)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$out/peak_san" --quick --no-openblas

if command -v valgrind >/dev/null; then
    # valgrind hides AVX-512 from CPUID, so this runs the AVX2 kernels.
    echo "== peak --quick (valgrind)"
    gcc "${cflags[@]}" -O1 -g bench/peak.c "${sources[@]}" -o "$out/peak_vg" -ldl "${libs[@]}"
    valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
        --error-exitcode=1 "$out/peak_vg" --quick --no-openblas
fi
echo "== all passed"
