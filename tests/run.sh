#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine:
#   1. installs the Debian packages the build needs (when missing, as root);
#   2. builds and runs every test in the normal build (build/);
#   3. builds and runs every test under AddressSanitizer + UBSan (build-asan/);
#   4. builds the libFuzzer targets with clang and runs each for a bounded
#      time (build-fuzz/; CAIRN_FUZZ_SECONDS, default 30).
# Environment: CAIRN_SKIP_ASAN=1, CAIRN_SKIP_FUZZ=1 to skip a stage;
# CAIRN_TEST_SEED fixes the randomized tests' seed; CAIRN_SOAK=1 runs them long.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

bash "$top/deploy/install-deps.sh"

run_build() { # dir, then cmake options
    local dir=$1
    shift
    echo "=== build $dir ($*)"
    cmake -S "$top" -B "$top/$dir" "$@" >/dev/null
    cmake --build "$top/$dir" -j"$jobs"
}

run_tests() { # dir, then ctest options
    local dir=$1
    shift
    echo "=== test $dir"
    ctest --test-dir "$top/$dir" --output-on-failure "$@"
}

run_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_tests build -LE fuzz

if [ "${CAIRN_SKIP_ASAN:-0}" != 1 ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    run_build build-asan -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON
    run_tests build-asan -LE 'fuzz|bench'
fi

if [ "${CAIRN_SKIP_FUZZ:-0}" != 1 ]; then
    CC=clang run_build build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON \
        -DCAIRN_FUZZ=ON -DCAIRN_FUZZ_SECONDS="${CAIRN_FUZZ_SECONDS:-30}"
    run_tests build-fuzz -L fuzz
fi
echo "=== all test stages passed"
