#!/usr/bin/env bash
# test.sh — sets up, builds with -Werror, and runs every test three times: a gcc release build,
# a gcc ASan+UBSan build and a clang build; then the installed library through pkg-config,
# valgrind over the examples and a short fuzz run. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh || exit 1

passed=0
failed=0
# Counts meson's per-test results from its JSON log.
count() {
    local r
    r=$(python3 - "$1" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
        ok += 1
    else:
        bad += 1
        print("FAILED:", t.get("name"), t.get("result"), file=sys.stderr)
print(ok, bad)
PY
)
    passed=$((passed + ${r% *}))
    failed=$((failed + ${r#* }))
}

# run_suite DIR SETUP-ARGS...: configure, build and test one build directory.
run_suite() {
    local dir=$1; shift
    echo "== $dir: meson setup $*"
    if ! { [ -f "$dir/build.ninja" ] || meson setup "$dir" --werror "$@" >"$dir.setup.log" 2>&1; }; then
        cat "$dir.setup.log"; failed=$((failed + 1)); return
    fi
    if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
        tail -50 "$dir.build.log"; failed=$((failed + 1)); return
    fi
    meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tail -40
    count "$dir/meson-logs/testlog.json"
}

run_suite build -Dbuildtype=release
run_suite build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
# Criterion exits 0 even when LeakSanitizer or ASan report during a test's cleanup: read the
# log too.
if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" build-asan/meson-logs/testlog.txt 2>/dev/null; then
    echo "sanitizer reports in build-asan/meson-logs/testlog.txt:"
    grep -E -A12 "ERROR: (Address|Leak)Sanitizer|runtime error:" build-asan/meson-logs/testlog.txt | head -60
    failed=$((failed + 1))
else
    echo "sanitizer log: clean"; passed=$((passed + 1))
fi
CC=clang run_suite build-clang -Dbuildtype=release

# ThreadSanitizer over the two-threads tests (Criterion does not start under TSan, so this
# file also builds stand-alone).
tsan_check() {
    { [ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread \
        -Dbuildtype=debugoptimized >/dev/null; } &&
    ninja -C build-tsan libagrad64.a >/dev/null &&
    cc -std=c11 -fsanitize=thread -g -O1 -DAG_TEST_STANDALONE -DAG_DOUBLE -I. -Iautograd -Iops \
        -Inn -Ioptim -Iio -Idata tests/test_hostile_optim.c build-tsan/libagrad64.a \
        -lm -lpthread -lxxhash -lz -o build-tsan/tsan_hostile_optim &&
    TSAN_OPTIONS=halt_on_error=1 build-tsan/tsan_hostile_optim
}
if tsan_check >build-tsan.log 2>&1; then
    echo "ThreadSanitizer (two threads training): clean"; passed=$((passed + 1))
else
    echo "ThreadSanitizer: FAILED"; tail -40 build-tsan.log; failed=$((failed + 1))
fi

# The installed library: stage `meson install`, then build the custom-op example as a user
# would, with pkg-config, against both precisions.
install_check() {
    local stage
    stage=$(mktemp -d)
    DESTDIR="$stage" meson install -C build --quiet >/dev/null 2>&1 || return 1
    local pc
    pc=$(dirname "$(find "$stage" -name agrad.pc | head -n1)")
    for lib in agrad agrad64; do
        PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$stage" \
            cc -std=c11 -Wall -Wextra -Werror examples/custom_op.c -o "$stage/custom_op_$lib" \
            $(PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --cflags --libs $lib) -lm \
            || return 1
        LD_LIBRARY_PATH=$(dirname "$(find "$stage" -name 'libagrad.so' | head -n1)") \
            "$stage/custom_op_$lib" >/dev/null || return 1
    done
    rm -rf "$stage"
}
if install_check; then
    echo "install + pkg-config build of examples/custom_op.c: ok"; passed=$((passed + 1))
else
    echo "install + pkg-config build of examples/custom_op.c: FAILED"; failed=$((failed + 1))
fi

# valgrind: no errors and no leaks in the examples.
for ex in notebook train_linear custom_op; do
    if valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "build/examples/$ex" >/dev/null 2>"build/valgrind-$ex.log"; then
        echo "valgrind $ex: clean"; passed=$((passed + 1))
    else
        echo "valgrind $ex: FAILED"; cat "build/valgrind-$ex.log"; failed=$((failed + 1))
    fi
done

# Fuzzing: both libFuzzer harnesses, 30 s each (clang, ASan + UBSan).
if bash fuzz/run.sh 30 >build-fuzz.log 2>&1; then
    echo "fuzz: clean"; passed=$((passed + 1))
else
    echo "fuzz: FAILED"; tail -40 build-fuzz.log; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
