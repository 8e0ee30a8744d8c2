#!/usr/bin/env bash
# run.sh — builds the fuzzers with clang + libFuzzer, AddressSanitizer and UBSan (the library's
# .c files compiled directly, instrumented) and runs each for the given time.
#
#   fuzz/run.sh [SECONDS] [--seeds] [--only NAME]
#
#   SECONDS     how long each fuzzer runs (default 60)
#   --seeds     first rebuild the seed corpus fuzz/corpus/checkpoint with make_corpus
#   --only NAME run only fuzz_NAME (checkpoint or shapes)
#
# The build and the growing working corpora go to $FUZZ_BUILD (default build-fuzz/); the
# committed seeds in fuzz/corpus/ are read, never written. A crash, leak or sanitizer report
# stops the run with a non-zero status and leaves the input in $FUZZ_BUILD/crash-*.
# Needs the Debian packages clang and libclang-rt-14-dev (tools/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=60 seeds=0 only=""
while [ $# -gt 0 ]; do
    case $1 in
        --seeds) seeds=1 ;;
        --only) only=$2; shift ;;
        *) secs=$1 ;;
    esac
    shift
done

out=${FUZZ_BUILD:-build-fuzz}
CC=${CC:-clang}
mkdir -p "$out/obj" "$out/corpus-checkpoint" "$out/corpus-shapes"
inc=(-I. -Iautograd -Iops -Inn -Ioptim -Iio -Idata -Ifuzz)
# -U__ELF__ turns off ops' target_clones (AGI_SIMD): clang 14 does not emit the dispatcher
# of a target_clones function for calls from another file (undefined reference at link).
common=(-std=c11 -D_GNU_SOURCE -U__ELF__ -g -O1 "${inc[@]}")
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
libs=(-lxxhash -lz -lm -lpthread)

# The library's sources, as each layer's meson.build lists them.
sources=()
for layer in autograd ops nn optim io data; do
    for f in $(grep -o "'[^']*\.c'" "$layer/meson.build" | tr -d "'"); do
        sources+=("$layer/$f")
    done
done

# Instrumented objects (coverage for libFuzzer, sanitizers), compiled on every core; again
# only when a library file (or a layer's source list) changed since the last build.
stamp="$out/obj/.stamp"
if [ ! -f "$stamp" ] || [ -n "$(find autograd ops nn optim io data \( -name '*.[ch]' -o \
        -name meson.build \) -newer "$stamp" | head -n1)" ]; then
    echo "fuzz: compiling ${#sources[@]} library files with $CC" >&2
    rm -f "$out"/obj/*.o
    printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -I{} sh -c \
        'src=$1; shift; exec "$@" -c "$src" -o "$0/obj/$(echo "$src" | tr / _).o"' \
        "$out" {} "$CC" "${common[@]}" -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
        -fsanitize=fuzzer-no-link "${san[@]}"
    touch "$stamp"
fi
objs=("$out"/obj/*.o)

if [ "$seeds" = 1 ]; then
    echo "fuzz: rebuilding the seed corpus" >&2
    "$CC" "${common[@]}" "${san[@]}" fuzz/make_corpus.c "${objs[@]}" "${libs[@]}" \
        -o "$out/make_corpus"
    rm -f fuzz/corpus/checkpoint/*
    "$out/make_corpus" fuzz/corpus/checkpoint
fi

status=0
for name in checkpoint shapes; do
    [ -n "$only" ] && [ "$only" != "$name" ] && continue
    "$CC" "${common[@]}" -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=fuzzer "${san[@]}" \
        "fuzz/fuzz_$name.c" "${objs[@]}" "${libs[@]}" -o "$out/fuzz_$name"
    echo "fuzz: fuzz_$name for $secs s" >&2
    "$out/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/" \
        "$out/corpus-$name" "fuzz/corpus/$name" 2>&1 | tail -n 25 || status=1
done
exit $status
