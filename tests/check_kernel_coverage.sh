#!/usr/bin/env bash
# Every __global__ kernel in kernels/ must have been executed by the emulated suite: run the tests
# with CUEMU_LAUNCH_LOG=<log> first (scripts/run-tests.sh does), then this compares the log with the
# kernels the sources define. "A kernel that no test executes under emulation is not done."
set -euo pipefail
root=$1 log=$2
[ -f "$log" ] || { echo "no launch log at $log (run the emu tests with CUEMU_LAUNCH_LOG=$log)"; exit 1; }
defined=$(find "$root/kernels" -name '*.cu' -o -name '*.cuh' | sort | xargs perl -0777 -ne \
  'while (/__global__\s+(?:static\s+)?(?:void\s+)?(?:__launch_bounds__\s*\((?:[^()]|\([^()]*\))*\)\s*)?(?:void\s+)?(\w+)\s*\(/g) { print "$1\n" }' |
  sort -u)
missing=$(comm -23 <(echo "$defined") <(sort -u "$log"))
total=$(echo "$defined" | wc -l)
if [ -n "$missing" ]; then
  echo "kernels never executed under the emulator:"
  echo "$missing" | sed 's/^/  /'
  exit 1
fi
echo "ok: all $total kernels in kernels/ were executed under the emulator"
