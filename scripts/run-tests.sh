#!/usr/bin/env bash
# The README's test command: installs missing Debian packages, builds everything (nvcc target
# for sm_90 when nvcc exists) and runs the whole suite: all labels in forward thread order, the
# emulated and conformance tests again in reverse and seeded-random order, a check that every
# __global__ kernel was executed by the emulated suite, and the emulated kernels once more under
# AddressSanitizer + UndefinedBehaviorSanitizer, the parser fuzzers for 20 s each with their planted-bug
# self-check (scripts/run-fuzz.sh, clang-14 libFuzzer), then the GPU kit's dry run (scripts/gpu-kit-dryrun.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake --preset ci >/dev/null
cmake --build build/ci -j"$jobs"
echo "== all tests (thread order: forward)"
launch_log=$PWD/build/ci/kernel_launches.txt
rm -f "$launch_log"
CUEMU_LAUNCH_LOG=$launch_log ctest --test-dir build/ci -j"$jobs" --output-on-failure
echo "== every kernel executed under the emulator"
tests/check_kernel_coverage.sh "$PWD" "$launch_log"
echo "== emulated kernels and conformance (thread order: reverse)"
CUEMU_ORDER=reverse ctest --test-dir build/ci -j"$jobs" --output-on-failure -L 'emu|conformance'
echo "== emulated kernels (thread order: random, seed 7)"
CUEMU_ORDER=random CUEMU_SEED=7 ctest --test-dir build/ci -j"$jobs" --output-on-failure -L emu

echo "== emulated kernels under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake --preset asan >/dev/null
targets=$(cmake --build build/asan --target help | awk -F: '/^test_[a-z]+:/{print $1}' | sort -u | tr '\n' ' ')
cmake --build build/asan -j"$jobs" --target $targets
ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -j"$jobs" --output-on-failure -L emu
echo "== parser fuzzers: saved regressions, then 20 s per target, then the planted-bug self-check (scripts/run-fuzz.sh)"
scripts/run-fuzz.sh 20
echo "== the GPU kit from build/ci, unpacked and run in a minimal root (cpu backend; docs/gpu.md)"
scripts/gpu-kit-dryrun.sh --build build/ci --out build/gpu-kit-dryrun
echo "== all test stages passed"
