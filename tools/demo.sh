#!/usr/bin/env bash
# demo.sh — sets up, builds, and runs the notebook in C (examples/notebook.c).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null   # the library, the examples, the benchmark and the tests
./build/examples/notebook
