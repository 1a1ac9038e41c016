#!/usr/bin/env bash
# Builds the libFuzzer targets of hmr's parsers (tests/fuzz, clang++-14 with
# -fsanitize=fuzzer,address,undefined, in build/fuzz) and fuzzes each for SECONDS (default 20),
# FUZZ_JOBS targets at a time (default 2). Fails when any target finds a crash, a sanitizer report
# or a defect (an exception other than an input error, a multi-line message: tests/fuzz/fuzz_common.h);
# the input is left in build/fuzz/run/<parser>/crash-* and belongs in tests/fuzz/regressions/<parser>/
# once the parser is fixed. Each target starts from tests/fuzz/corpus/<parser>/ and keeps what it
# learns in build/fuzz/run/<parser>/corpus (not committed).
# Then the self-check: fuzz_csv_planted (the CSV reader with HMR_FUZZ_PLANT's out-of-bounds read)
# must be caught by AddressSanitizer within PLANT_SECONDS (default 60), or the script fails.
# Usage: scripts/run-fuzz.sh [SECONDS] [PARSER...]   (parsers: npy npz csv config safetensors
#        manifest lyrics audio; default all). Summary lines: build/fuzz/run/summary.txt.
#        FUZZ_BUILD_DIR (default build/fuzz) keeps a long run's binaries apart from quick rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
parsers=("$@")
((${#parsers[@]})) || parsers=(npy npz csv config safetensors manifest lyrics audio)
jobs=${FUZZ_JOBS:-2}
plant_seconds=${PLANT_SECONDS:-60}
cxx=${FUZZ_CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "run-fuzz: $cxx not found (scripts/install-deps.sh installs clang-14)" >&2; exit 2; }

start=$(date +%s)
build=${FUZZ_BUILD_DIR:-build/fuzz}
cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
nice -n 10 cmake --build "$build" -j"$(nproc)" >/dev/null
echo "== fuzz targets built in $(($(date +%s) - start)) s"

run=$PWD/$build/run
mkdir -p "$run"
: >"$run/summary.txt"
# One target: fresh log, seeds + the corpus it grew before; -rss_limit_mb/-malloc_limit_mb make
# an allocation sized by a lying header a finding rather than a slow machine.
fuzz_one() {
  local p=$1 secs=$2 bin=$PWD/$build/$3 seeds=$PWD/tests/fuzz/corpus/${4:-$1} dir=$run/$1
  rm -rf "$dir/crash-"* "$dir/leak-"* "$dir/timeout-"* "$dir/oom-"*
  mkdir -p "$dir/corpus"
  (cd "$dir" && nice -n 10 "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$dir/" corpus "$seeds" >"$dir/log.txt" 2>&1)
}
summarise() {
  local p=$1 rc=$2 log=$run/$1/log.txt
  local execs cov
  execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  printf '%-12s rc=%s execs=%s cov=%s %s\n' "$p" "$rc" "${execs:-?}" "${cov:-?}" \
    "$(ls "$run/$p"/crash-* "$run/$p"/oom-* "$run/$p"/timeout-* 2>/dev/null | head -1)" | tee -a "$run/summary.txt"
}

failed=()
# Every input a fuzzer once crashed on, replayed under the sanitizers first (the g++ replay in
# ctest has none, so an undefined-behaviour finding would pass there).
for p in "${parsers[@]}"; do
  reg=tests/fuzz/regressions/$p
  [ -d "$reg" ] || continue
  if ! "$build/fuzz_$p" -runs=0 "$reg" >"$run/replay_$p.txt" 2>&1; then
    echo "run-fuzz: FAILED: a saved regression of $p fails again (see $run/replay_$p.txt)" >&2
    failed+=("$p-regressions")
  fi
done
echo "== saved regressions replayed under ASan + UBSan"
pids=()
names=()
for p in "${parsers[@]}"; do
  fuzz_one "$p" "$seconds" "fuzz_$p" &
  pids+=($!)
  names+=("$p")
  if ((${#pids[@]} >= jobs)); then
    rc=0; wait "${pids[0]}" || rc=$?
    summarise "${names[0]}" "$rc"; ((rc == 0)) || failed+=("${names[0]}")
    pids=("${pids[@]:1}"); names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  rc=0; wait "${pids[$i]}" || rc=$?
  summarise "${names[$i]}" "$rc"; ((rc == 0)) || failed+=("${names[$i]}")
done

echo "== self-check: the planted out-of-bounds read in the CSV reader (HMR_FUZZ_PLANT) must be found"
t0=$(date +%s)
rc=0
fuzz_one csv_planted "$plant_seconds" fuzz_csv_planted csv || rc=$?
took=$(($(date +%s) - t0))
if ((rc != 0)) && grep -aq 'heap-buffer-overflow' "$run/csv_planted/log.txt"; then
  echo "planted bug found in ${took} s (AddressSanitizer: heap-buffer-overflow)" | tee -a "$run/summary.txt"
else
  echo "run-fuzz: FAILED: the planted bug was not found in ${plant_seconds} s (see $run/csv_planted/log.txt)" >&2
  failed+=(self-check)
fi

echo "== fuzzing took $(($(date +%s) - start)) s in all"
if ((${#failed[@]})); then
  echo "run-fuzz: FAILED: ${failed[*]} (logs and inputs in $run/<parser>/)" >&2
  exit 1
fi
echo "== no fuzz target found a defect"
