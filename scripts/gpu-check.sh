#!/usr/bin/env bash
# gpu-check.sh — every GPU check of hmr in one command, for a workstation with a CUDA GPU or a bare
# remote machine (run from the kit, scripts/gpu-kit.sh). Steps, in priority order:
#   probe        nvidia-smi, driver / runtime / library versions, `hmr info`
#   conformance  every Backends/Conf* case on cuda and its cpu twin (+ the cuda E2e cases), the
#                test binaries run directly (not through ctest), HMR_SYNC_LAUNCHES=1 so an
#                asynchronous fault names its kernel
#   kernels      bench_kernels_gpu: every launcher beside its CPU reference, device sizes
#   experiments  hmr easy|medium|hard on the sample, --device cuda and --device cpu, stage timings
#   bench        Google Benchmark per stage, cpu vs cuda (short min_time)
#   memcheck     compute-sanitizer memcheck on one conformance case per stage
#   racecheck    compute-sanitizer racecheck on the kernels whose blocks cooperate in shared memory
#   ncu          Nsight Compute (--clock-control none, basic set) on the heaviest kernels
# A step that cannot run (no device, a tool missing, no cuda backend in this build) is recorded as
# skipped with the reason; a step past its own timeout or the global deadline as timeout.
#
#   scripts/gpu-check.sh [--build DIR] [--repo DIR] [--sample DIR] [--out DIR]
#     --build   build folder with apps/hmr, tests/test_*, bench/bench_* (default: build/ci, else
#               build/default, else build/cpu-only of the repository)
#     --repo    source tree the tests read fixtures from (default: this script's repository);
#               exported as HMR_REPO_DIR, --build as HMR_BINARY_DIR (tests/support)
#     --sample  sample data set of data/make-sample.sh (default: generated into the work folder
#               when sox and espeak-ng exist)
#     --out     where the results go (default: gpu-check-out): summary.txt, summary.json and
#               logs.tar.xz (every log, metrics.json of each run, benchmark JSON, ncu reports)
#   HMR_GPU_STEPS      comma-separated steps to run (default: all, in the order above)
#   HMR_GPU_DEADLINE   global deadline in seconds from the start (default 450: fits in 8 minutes
#                      with the kit's unpack and library checks)
#   HMR_GPU_TIMEOUT_<STEP>  a step's own timeout in seconds (e.g. HMR_GPU_TIMEOUT_BENCH=120)
#   HMR_GPU_BENCH_MIN_TIME  Google Benchmark --benchmark_min_time (default 0.05)
# Exit status: 0 when every step that ran passed (skips allowed), 1 when a step failed or timed
# out, 2 on a usage error.
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
repo="" build="" sample="" out="gpu-check-out"
while (($#)); do
  case "$1" in
    --build) build=$2; shift ;;
    --repo) repo=$2; shift ;;
    --sample) sample=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$repo" ] || repo=$(cd "$here/.." && pwd)
if [ -z "$build" ]; then
  for b in build/ci build/default build/cpu-only; do
    [ -x "$repo/$b/apps/hmr" ] && { build="$repo/$b"; break; }
  done
fi
[ -n "$build" ] && [ -x "$build/apps/hmr" ] || { echo "gpu-check.sh: no hmr under --build '${build}'" >&2; exit 2; }
build=$(cd "$build" && pwd) repo=$(cd "$repo" && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd) || { echo "gpu-check.sh: cannot create $out" >&2; exit 2; }
hmr="$build/apps/hmr"
export HMR_REPO_DIR="$repo" HMR_BINARY_DIR="$build"

all_steps="probe conformance kernels experiments bench memcheck racecheck ncu"
steps=${HMR_GPU_STEPS:-$all_steps}
steps=${steps//,/ }
for s in $steps; do
  [[ " $all_steps " == *" $s "* ]] || { echo "gpu-check.sh: unknown step '$s' in HMR_GPU_STEPS (steps: $all_steps)" >&2; exit 2; }
done
deadline_s=${HMR_GPU_DEADLINE:-450}
min_time=${HMR_GPU_BENCH_MIN_TIME:-0.05}
t0=$(date +%s)
deadline_at=$((t0 + deadline_s))

work=$(mktemp -d "${TMPDIR:-/tmp}/hmr-gpu-check.XXXXXX")
logs="$work/logs"
mkdir -p "$logs" "$work/details"
: >"$work/steps.tsv"

now() { date +%s; }
secs_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
# The seconds a command may still take: the step's own end or the global deadline, whichever first.
left() { local e=$step_end; ((deadline_at < e)) && e=$deadline_at; echo $((e - $(now))); }
# tmo SECONDS CMD...: runs CMD with at most min(SECONDS, left) seconds; 124 when that ran out.
tmo() {
  local want=$1 l
  shift
  l=$(left)
  ((want < l)) && l=$want
  ((l < 2)) && return 124
  timeout -k 5 "$l" "$@"
}
detail() { printf '%s\n' "$*" >>"$work/details/$step.txt"; }
# A step ends with one of: pass, fail NOTE, skip REASON (status and note recorded by run_step).
fail() { status=fail; note=${note:+$note; }$*; }
skipped() { status=skip; note=$*; }
find_tool() {
  local name=$1 d
  command -v "$name" 2>/dev/null && return 0
  for d in ${CUDA_HOME:+$CUDA_HOME/bin} /usr/local/cuda/bin /usr/local/cuda-*/bin /opt/nvidia/nsight-compute/* \
    /usr/local/cuda/nsight-compute-*; do
    [ -x "$d/$name" ] && { echo "$d/$name"; return 0; }
  done
  return 1
}
have_test() { [ -x "$build/tests/$1" ]; }

# ---- what this machine and build have -----------------------------------------------------------
info=$("$hmr" info 2>&1) || true
cuda_built=0 cuda_usable=0
grep -q 'CUDA backend compiled: yes' <<<"$info" && cuda_built=1
grep -Eq '^  cuda +available' <<<"$info" && cuda_usable=1
no_cuda_reason=""
if ((!cuda_built)); then
  no_cuda_reason="this build has no cuda backend (built without nvcc)"
elif ((!cuda_usable)); then
  no_cuda_reason="no usable CUDA device: $(awk '$1 == "cuda" { $1 = $2 = ""; sub(/^ +/, ""); print; exit }' <<<"$info")"
fi
gpu_name=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -1)

# ---- steps ---------------------------------------------------------------------------------------
step_probe() {
  {
    echo "== date: $(date -u +%FT%TZ)  host: $(uname -n)  kernel: $(uname -r)  cpus: $(nproc)"
    [ -f "$build/../KIT.txt" ] && { echo "== kit"; cat "$build/../KIT.txt"; }
    echo "== nvidia-smi"
    nvidia-smi 2>&1 || echo "(nvidia-smi failed or is absent)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm,power.limit --format=csv 2>&1
    echo "== nvcc"
    "$(find_tool nvcc || echo nvcc)" --version 2>&1 || echo "(no nvcc)"
    echo "== CUDA libraries the binaries load"
    ldd "$hmr" 2>&1 | grep -E 'libcu|libnv' | while read -r so _ path _; do echo "$so -> $(readlink -f "$path" 2>/dev/null || echo "$path")"; done
    for so in libcuda.so.1; do
      p=$(ldconfig -p 2>/dev/null | awk -v s="$so" '$1 == s { print $NF; exit }')
      echo "$so -> ${p:+$(readlink -f "$p")}${p:-(not in the ldconfig cache; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-})}"
    done
    for t in compute-sanitizer ncu; do echo "$t: $(find_tool $t || echo absent)"; done
    echo "== hmr info"
    echo "$info"
  } >"$logs/probe.txt" 2>&1
  detail "hmr: $(head -1 <<<"$info")"
  detail "$(grep '^build:' <<<"$info")"
  detail "device: ${gpu_name:-none (nvidia-smi absent or failed)}"
  grep -E 'CUDA Version|Driver Version' "$logs/probe.txt" | head -1 | sed 's/|//g; s/  */ /g; s/^ //' | while read -r l; do detail "$l"; done
  grep -E '^lib(cublas|cufft|curand|cusolver|cudart|cuda)\.' "$logs/probe.txt" | while read -r l; do detail "$l"; done
  grep -E '^(compute-sanitizer|ncu):' "$logs/probe.txt" | while read -r l; do detail "$l"; done
  grep -E '^  (cpu|cuda|cuda-emu) ' <<<"$info" | while read -r l; do detail "backend $l"; done
  [ -n "$no_cuda_reason" ] && note="cuda: $no_cuda_reason"
  "$hmr" info >/dev/null 2>&1 || fail "hmr info failed"
}

# Runs one gtest binary with a filter; records pass/fail/skip counts, failed cases with their first
# message lines (which name the kernel for a launch or execution fault) and the skip reasons.
gtest_run() {
  local bin=$1 filter=$2 tag=$3 rc secs t
  local log="$logs/$tag.txt"
  t=$(date +%s.%N)
  HMR_SYNC_LAUNCHES=1 tmo "${4:-120}" "$build/tests/$bin" --gtest_filter="$filter" --gtest_color=no \
    --gtest_output="json:$logs/$tag.json" >"$log" 2>&1
  rc=$?
  secs=$(secs_since "$t")
  local ok nfail nskip
  ok=$(grep -c '^\[       OK \]' "$log") nfail=$(grep -c '^\[  FAILED  \] .*(' "$log") nskip=$(grep -c '^\[  SKIPPED \] .*(' "$log")
  detail "$bin: $ok passed, $nfail failed, $nskip skipped (${secs}s)"
  awk '/^\[ RUN      \]/ { name = $4; n = 0; body = ""; next }
       /^\[  FAILED  \] .*\(/ { printf "  FAILED %s\n%s", $4, body; next }
       /^\[       OK \]|^\[  SKIPPED \]/ { name = ""; next }
       name != "" && NF && n < 4 { body = body "    " $0 "\n"; n++ }' "$log" | while IFS= read -r l; do detail "$l"; done
  awk '/Skipped$/ { getline r; print r }' "$log" | sort | uniq -c | while read -r c r; do detail "  skipped x$c: $r"; done
  if ((rc == 124)); then
    fail "$bin timed out (last case: $(grep '^\[ RUN' "$log" | tail -1 | awk '{print $4}'))"
  elif ((rc > 1)); then
    fail "$bin crashed, rc $rc, in $(grep '^\[ RUN' "$log" | tail -1 | awk '{print $4}')"
  elif ((rc == 1 || nfail > 0)); then
    fail "$bin: $nfail failed"
  fi
  return 0
}

step_conformance() {
  local s filter='Backends/Conf*.*/cuda:Backends/Conf*.*/cpu:Backends/E2e*.*/cuda'
  for s in core audio text nn cluster embed pipeline; do
    if ! have_test "test_$s"; then
      fail "test_$s missing"
      continue
    fi
    gtest_run "test_$s" "$filter" "conformance_$s" 150
  done
  [ -n "$no_cuda_reason" ] && note=${note:+$note; }"cuda cases skipped: $no_cuda_reason"
}

step_kernels() {
  [ -x "$build/bench/bench_kernels_gpu" ] || { skipped "no bench_kernels_gpu: $no_cuda_reason"; return; }
  [ -n "$no_cuda_reason" ] && { skipped "$no_cuda_reason"; return; }
  local rc
  HMR_SYNC_LAUNCHES=1 tmo 90 "$build/bench/bench_kernels_gpu" --repeat 3 >"$logs/kernels.txt" 2>&1
  rc=$?
  while IFS= read -r l; do detail "$l"; done <"$logs/kernels.txt"
  ((rc == 0)) || fail "bench_kernels_gpu rc $rc$( ((rc == 1)) && echo ': a kernel out of tolerance')"
}

# The "timings_s" object of a metrics.json, as one line of JSON.
timings_json() { awk '/"timings_s": \{/ { on = 1; next } on && /\}/ { exit } on { gsub(/^ +| +$/, ""); s = s $0 } END { print "{" s "}" }' "$1"; }
step_experiments() {
  [ -d "$sample" ] || { skipped "no sample (${sample_reason:-})"; return; }
  local dev task rc t secs args
  for dev in cuda cpu; do
    if [ "$dev" = cuda ] && [ -n "$no_cuda_reason" ]; then
      detail "cuda: skipped: $no_cuda_reason"
      continue
    fi
    for task in easy medium hard; do
      case $task in
        easy) args=(--lyrics "$sample/lyrics_bn.csv:bn" --lyrics "$sample/lyrics_en.csv:en") ;;
        medium) args=(--manifest "$sample/manifest.csv") ;;
        hard) args=(--gtzan "$sample/gtzan") ;;
      esac
      t=$(date +%s.%N)
      HMR_SYNC_LAUNCHES=0 tmo 60 "$hmr" "$task" "${args[@]}" --device "$dev" --out "$work/exp/$dev/$task" \
        >"$logs/exp_${dev}_$task.txt" 2>&1
      rc=$?
      secs=$(secs_since "$t")
      if ((rc != 0)); then
        fail "$dev $task rc $rc"
        detail "$dev $task: FAILED rc $rc (${secs}s): $(tail -1 "$logs/exp_${dev}_$task.txt")"
        continue
      fi
      cp "$work/exp/$dev/$task/metrics.json" "$logs/exp_${dev}_$task.metrics.json"
      cp "$work/exp/$dev/$task/report.md" "$logs/exp_${dev}_$task.report.md" 2>/dev/null
      printf '%s\t%s\t%s\n' "$dev" "$task" "$(timings_json "$work/exp/$dev/$task/metrics.json")" >>"$work/timings.tsv"
      detail "$dev $task: ok (${secs}s wall)"
    done
  done
  # Stage timings side by side, and each method's ARI / NMI on both devices.
  [ -f "$work/timings.tsv" ] || return
  detail "stage timings (s):"
  awk -F'\t' '{ gsub(/[{}"]/, "", $3); n = split($3, kv, ","); for (i = 1; i <= n; i++) { split(kv[i], p, ":");
       key = $2 "/" p[1]; v[key, $1] = p[2]; if (!(key in seen)) { seen[key] = 1; order[++m] = key } } }
       END { printf "    %-26s %10s %10s %8s\n", "task/stage", "cpu", "cuda", "cpu/cuda";
             for (i = 1; i <= m; i++) { k = order[i]; c = v[k, "cpu"]; g = v[k, "cuda"];
               printf "    %-26s %10s %10s %8s\n", k, c == "" ? "-" : sprintf("%.4f", c), g == "" ? "-" : sprintf("%.4f", g),
                 (c != "" && g != "" && g > 0) ? sprintf("%.2fx", c / g) : "-" } }' "$work/timings.tsv" |
    while IFS= read -r l; do detail "$l"; done
  detail "metrics (ari / nmi), cpu vs cuda:"
  for task in easy medium hard; do
    for dev in cpu cuda; do
      local f="$logs/exp_${dev}_$task.metrics.json"
      [ -f "$f" ] && awk -v d="$dev" -v t="$task" '/"results": \{/ { on = 1; next }
        on && /^    "[a-z_]+": \{/ { m = $1; gsub(/[":]/, "", m) }
        on && /"ari":/ { a = $2 } on && /"nmi":/ { printf "%s %s %s %s %s\n", t, m, d, a, $2 }' "$f"
    done
  done | sed 's/,//g' | awk '{ k = $1 " " $2; if (!(k in o)) { o[k] = ++n; key[n] = k } v[k, $3] = $4 " / " $5 }
      END { for (i = 1; i <= n; i++) { k = key[i]; printf "    %-30s cpu %-24s cuda %s\n", k, v[k, "cpu"], v[k, "cuda"] } }' |
    while IFS= read -r l; do detail "$l"; done
}

step_bench() {
  local s b rc any=0
  if [ -n "$no_cuda_reason" ]; then
    # Nothing to compare; still prove each binary starts (libraries, registration).
    for s in core audio text nn cluster embed; do
      b="$build/bench/bench_$s"
      [ -x "$b" ] || { fail "bench_$s missing"; continue; }
      tmo 20 "$b" --benchmark_list_tests >"$logs/bench_${s}_list.txt" 2>&1 || fail "bench_$s does not start"
    done
    [ "$status" = fail ] || skipped "$no_cuda_reason (each bench binary listed its benchmarks)"
    return
  fi
  local linebuf=()
  command -v stdbuf >/dev/null && linebuf=(stdbuf -oL)
  for s in core audio text nn cluster embed; do
    b="$build/bench/bench_$s"
    [ -x "$b" ] || { fail "bench_$s missing"; continue; }
    # The cpu t-SNE on 70k points takes minutes; its cuda twin and the 10k pair still run.
    # Line-buffered, so a binary stopped by its timeout still leaves the lines it finished.
    tmo 40 ${linebuf[@]+"${linebuf[@]}"} "$b" --benchmark_min_time="$min_time" --benchmark_filter='-/cpu/70000' \
      --benchmark_out="$logs/bench_$s.json" --benchmark_out_format=json >"$logs/bench_$s.txt" 2>&1
    rc=$?
    ((rc == 0)) || fail "bench_$s rc $rc"
    any=1
  done
  ((any)) || return
  # Pairs: a cpu benchmark and the one whose name differs only in cpu -> cuda; times in ms.
  cat "$logs"/bench_*.txt | awk '
    function ms(v, u) { return u == "ns" ? v / 1e6 : u == "us" ? v / 1e3 : u == "s" ? v * 1e3 : v }
    $1 ~ /^BM_/ && $3 ~ /^(ns|us|ms|s)$/ { k = $1; gsub(/cuda/, "@", k); gsub(/cpu/, "@", k);
      d = ($1 ~ /cuda/) ? "cuda" : "cpu"; t[k, d] = ms($2, $3); if (!(k in seen)) { seen[k] = 1; o[++n] = k } }
    $1 ~ /^BM_/ && /ERROR OCCURRED/ { k = $1; gsub(/cuda/, "@", k); gsub(/cpu/, "@", k); d = ($1 ~ /cuda/) ? "cuda" : "cpu";
      t[k, d] = "error"; if (!(k in seen)) { seen[k] = 1; o[++n] = k } }
    END { printf "    %-62s %12s %12s %9s\n", "benchmark (@ = cpu|cuda), real time ms", "cpu", "cuda", "cpu/cuda";
      for (i = 1; i <= n; i++) { k = o[i]; c = t[k, "cpu"]; g = t[k, "cuda"];
        printf "    %-62s %12s %12s %9s\n", k, c == "" ? "-" : c, g == "" ? "-" : g,
          (c + 0 > 0 && g + 0 > 0) ? sprintf("%.2fx", c / g) : "-" } }' | while IFS= read -r l; do detail "$l"; done
  grep -h 'ERROR OCCURRED' "$logs"/bench_*.txt | sed 's/^/    /' | while IFS= read -r l; do detail "$l"; done
}

# One case per stage (the cluster and embed stages: one per folder), the library calls included.
memcheck_cases=(
  "test_core Backends/ConfStandardize.ApplyMatchesCpuAndGivesZeroMeanUnitVariance/cuda"
  "test_audio Backends/ConfMfcc.MatchesTheCpuBackendOnLongerMixedBatches/cuda"
  "test_text Backends/ConfTfidf.FitTransformMatchesSklearnFixture/cuda"
  "test_nn Backends/ConfVae.OneStepLossAndGradientsMatchCpu/cuda"
  "test_cluster Backends/ConfKMeans.MatchesTheCpuBackend/cuda"
  "test_cluster Backends/ConfPca.TallMatrixMatchesScikitLearn/cuda"
  "test_cluster Backends/ConfMetrics.LatentsMatchScikitLearn/cuda"
  "test_embed Backends/ConfTsneAffinity.SymmetrizedPMatchesSklearnCsr/cuda"
  "test_embed Backends/ConfTsne.SameSeedGivesTheSameEmbeddingAndDuplicatesWork/cuda"
  "test_pipeline Backends/ConfPipelineFusion.BlocksAreStandardisedThenWeighted/cuda"
)
# Kernels whose threads cooperate through shared memory (block reductions, tiles), by their
# bench_kernels bench at a small size, and the Barnes-Hut partial sums through a t-SNE case.
racecheck_cases=(
  "bench kmeans_assign 20000" "bench kmeans_inertia 20000" "bench kmeans_update 20000" "bench knn_tiled 2000"
  "bench mfcc_peak_dct_summary 8" "bench silhouette_tile 5000" "bench standardize_fit 50000"
  "bench pca_gram_double 50000" "bench tfidf_weight_rows 4000" "bench vae_clip_adam 300000"
  "test test_embed Backends/ConfTsneAffinity.ThetaHalfGradientIsCloseToExact/cuda"
)
sanitizer_step() {
  local tool=$1 per=$2
  shift 2
  local cs rc c tag
  cs=$(find_tool compute-sanitizer) || { skipped "compute-sanitizer not found"; return; }
  [ -n "$no_cuda_reason" ] && { skipped "$no_cuda_reason"; return; }
  for c in "$@"; do
    set -- $c
    if [ "$1" = bench ]; then
      tag="${tool}_$2"
      HMR_SYNC_LAUNCHES=1 tmo "$per" "$cs" --tool "$tool" --error-exitcode 99 --print-limit 20 \
        "$build/bench/bench_kernels_gpu" --kernel "$2" --size "$3" --repeat 1 >"$logs/$tag.txt" 2>&1
    else
      [ "$1" = test ] && shift
      tag="${tool}_$(sed 's#Backends/##; s#/cuda##; s#[^A-Za-z0-9_.]#_#g' <<<"$2")"
      HMR_SYNC_LAUNCHES=1 tmo "$per" "$cs" --tool "$tool" --error-exitcode 99 --print-limit 20 \
        "$build/tests/$1" --gtest_filter="$2" --gtest_color=no >"$logs/$tag.txt" 2>&1
    fi
    rc=$?
    local summary
    summary=$(grep -E '========= (ERROR SUMMARY|RACECHECK SUMMARY)' "$logs/$tag.txt" | tail -1 | sed 's/^========= //')
    if ((rc == 0)) && ! grep -q '^\[  FAILED  \]' "$logs/$tag.txt"; then
      detail "ok    $c: ${summary:-no summary}"
    else
      detail "FAIL  $c: rc $rc ${summary}"
      grep -m 6 -E '^========= (Invalid|Error|.*hazard|    at |Program hit)' "$logs/$tag.txt" | sed 's/^/        /' |
        while IFS= read -r l; do detail "$l"; done
      fail "$c"
    fi
  done
}
step_memcheck() { sanitizer_step memcheck 60 "${memcheck_cases[@]}"; }
step_racecheck() { sanitizer_step racecheck 60 "${racecheck_cases[@]}"; }

# The heaviest kernels (by work per launch at device sizes): regex, then the program that launches it.
ncu_cases=(
  "knn_tiled_kernel|bench knn_tiled" "silhouette_dist_tile_kernel|bench silhouette_tile"
  "kmeans_assign_kernel|bench kmeans_assign" "bias_act_forward_kernel|bench vae_bias_act"
  "dct_kernel|bench mfcc_peak_dct_summary" "tfidf_weight_rows_kernel|bench tfidf_weight_rows"
  "repulsion_kernel|tsne" "attraction_kernel|tsne"
)
step_ncu() {
  local ncu c k what rc
  ncu=$(find_tool ncu) || { skipped "ncu not found"; return; }
  [ -n "$no_cuda_reason" ] && { skipped "$no_cuda_reason"; return; }
  mkdir -p "$logs/ncu"
  for c in "${ncu_cases[@]}"; do
    k=${c%%|*} what=${c#*|}
    local cmd=()
    if [ "$what" = tsne ]; then
      cmd=("$build/bench/bench_embed" --benchmark_filter='BM_TsneIterations/cuda/10000')
    else
      cmd=("$build/bench/bench_kernels_gpu" --kernel "${what#bench }" --repeat 1)
    fi
    tmo 45 "$ncu" --clock-control none --set basic --kernel-name "regex:${k}" --launch-count 1 \
      -o "$logs/ncu/$k" --force-overwrite "${cmd[@]}" >"$logs/ncu/$k.log" 2>&1
    rc=$?
    if ((rc != 0)) || [ ! -f "$logs/ncu/$k.ncu-rep" ]; then
      fail "ncu $k rc $rc"
      detail "FAIL  $k: rc $rc $(grep -m1 -E '==ERROR==|==WARNING==' "$logs/ncu/$k.log")"
      continue
    fi
    "$ncu" --import "$logs/ncu/$k.ncu-rep" --page details >"$logs/ncu/$k.txt" 2>&1
    detail "$k: $(grep -E '^ +(Duration|Memory Throughput|Compute \(SM\) Throughput|Registers Per Thread|Achieved Occupancy|Grid Size|Block Size) ' "$logs/ncu/$k.txt" |
      awk '{ u = $(NF - 1); v = $NF; $NF = ""; $(NF - 1) = ""; gsub(/ +$/, ""); sub(/^ +/, ""); printf "%s%s %s %s", sep, $0, v, u; sep = "; " }')"
  done
}

# ---- the run and its summary ---------------------------------------------------------------------
json_str() {
  local s=$1
  s=${s//\\/\\\\} s=${s//\"/\\\"} s=${s//$'\t'/\\t} s=${s//$'\r'/}
  printf '"%s"' "$s"
}
write_summary() {
  local name st secs nt tot
  tot=$(($(now) - t0))
  {
    echo "hmr gpu-check — $(date -u +%FT%TZ) on $(uname -n)"
    echo "device: ${gpu_name:-none}; cuda backend: ${no_cuda_reason:-usable}"
    echo "build: $build; $(grep '^build:' <<<"$info")"
    echo "total ${tot}s (deadline ${deadline_s}s)"
    echo
    printf '%-12s %-8s %8s  %s\n' step status seconds note
    while IFS=$'\t' read -r name st secs nt; do printf '%-12s %-8s %8s  %s\n' "$name" "$st" "$secs" "$nt"; done <"$work/steps.tsv"
    while IFS=$'\t' read -r name _; do
      [ -s "$work/details/$name.txt" ] || continue
      echo
      echo "== $name"
      cat "$work/details/$name.txt"
    done <"$work/steps.tsv"
  } >"$out/summary.txt"
  {
    printf '{\n  "tool": "hmr gpu-check",\n  "date": %s,\n  "host": %s,\n' "$(json_str "$(date -u +%FT%TZ)")" "$(json_str "$(uname -n)")"
    printf '  "device": %s,\n  "cuda_backend": %s,\n' "$(json_str "${gpu_name:-none}")" "$(json_str "${no_cuda_reason:-usable}")"
    printf '  "hmr": %s,\n  "total_s": %s,\n  "deadline_s": %s,\n  "steps": [' "$(json_str "$(head -1 <<<"$info")")" "$tot" "$deadline_s"
    local sep=""
    while IFS=$'\t' read -r name st secs nt; do
      printf '%s\n    {"name": %s, "status": %s, "seconds": %s, "note": %s, "details": [' "$sep" "$(json_str "$name")" \
        "$(json_str "$st")" "$secs" "$(json_str "$nt")"
      local dsep=""
      if [ -f "$work/details/$name.txt" ]; then
        while IFS= read -r l; do printf '%s%s' "$dsep" "$(json_str "$l")"; dsep=", "; done <"$work/details/$name.txt"
      fi
      printf ']}'
      sep=","
    done <"$work/steps.tsv"
    printf '\n  ],\n  "experiment_timings_s": {'
    sep=""
    if [ -f "$work/timings.tsv" ]; then
      while IFS=$'\t' read -r dev task tj; do printf '%s\n    "%s/%s": %s' "$sep" "$dev" "$task" "$tj"; sep=","; done <"$work/timings.tsv"
    fi
    printf '\n  }\n}\n'
  } >"$out/summary.json"
}
pack_logs() { tar -C "$work" -cJf "$out/logs.tar.xz" logs 2>/dev/null; }
trap 'write_summary; pack_logs; rm -rf "$work"; exit 1' TERM INT

sample_reason=""
if [ -z "$sample" ]; then
  if [[ " $steps " == *" experiments "* ]]; then
    if "$repo/data/make-sample.sh" "$work/sample" --songs 4 >"$logs/make-sample.txt" 2>&1; then
      sample="$work/sample"
    else
      sample_reason="no --sample given and data/make-sample.sh could not make one: $(tail -1 "$logs/make-sample.txt")"
    fi
  fi
fi

overall=0
for step in $all_steps; do
  [[ " $steps " == *" $step "* ]] || continue
  v="HMR_GPU_TIMEOUT_${step^^}"
  case $step in probe) d=30 ;; conformance) d=150 ;; kernels) d=60 ;; experiments) d=90 ;; bench) d=120 ;;
    memcheck) d=100 ;; racecheck) d=60 ;; ncu) d=60 ;; esac
  step_end=$(($(now) + ${!v:-$d}))
  status=pass note=""
  echo "== $step"
  ts=$(date +%s.%N)
  if (($(left) < 3)); then
    status=timeout note="global deadline (${deadline_s}s) reached before the step started"
  else
    "step_$step"
    if [ "$status" != skip ] && (($(now) >= step_end || $(now) >= deadline_at)); then
      status=timeout note=${note:+$note; }"ran out of time ($( ((deadline_at < step_end)) && echo "global deadline ${deadline_s}s" || echo "step timeout ${!v:-$d}s"))"
    fi
  fi
  printf '%s\t%s\t%s\t%s\n' "$step" "$status" "$(secs_since "$ts")" "$note" >>"$work/steps.tsv"
  echo "   $status ${note}"
  [[ $status == fail || $status == timeout ]] && overall=1
  write_summary
done
pack_logs
rm -rf "$work"
echo
cat "$out/summary.txt"
exit $overall
