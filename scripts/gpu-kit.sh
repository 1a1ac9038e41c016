#!/usr/bin/env bash
# gpu-kit.sh — builds hmr and packs a relocatable kit that runs every GPU check (scripts/gpu-check.sh)
# on a bare CUDA machine that has none of hmr's Debian libraries: one tar.xz under 48 MiB plus the
# script that unpacks and runs it (docs/gpu.md).
#
#   scripts/gpu-kit.sh [--build DIR] [--archs LIST] [--out DIR] [--songs N] [--sample DIR]
#     --build   an existing build folder to pack (its targets are brought up to date first);
#               default: the ci preset (nvcc, sm_90 + PTX) when nvcc exists and --archs is 90,
#               build/kit-<archs> for other architectures, the cpu-only preset without nvcc (the kit
#               then has no cuda backend and says so: enough for the local dry run)
#     --archs   CMAKE_CUDA_ARCHITECTURES (default 90: CMake builds sm_90 SASS and compute_90 PTX)
#     --out     where the kit goes (default build/gpu-kit)
#     --songs   songs per genre and language of the generated sample (default 4: 32 tracks)
#     --sample  a data/make-sample.sh output folder to carry instead of generating one
#   HMR_KIT_JOBS  build parallelism (default: nproc)
#
# Output (--out): hmr-gpu-kit.tar.xz, hmr-gpu-kit.tar.xz.sha256, gpu-kit-run.sh (the runner).
# The kit (hmr-kit/ inside the tarball):
#   run.sh                 = scripts/gpu-kit-run.sh: library path, checks, then gpu-check.sh
#   gpu-check.sh, KIT.txt  the checks; what was built, from which commit, for which architectures
#   build/apps/hmr, build/tests/test_<stage>, build/bench/bench_<stage>[, bench_kernels_gpu]
#                          stripped; the layout of a build folder, so tests/support's
#                          binary_dir() (HMR_BINARY_DIR) finds apps/hmr
#   lib/                   the shared libraries the binaries need (ldd), except the C/C++ runtime
#                          (libc, libm, libstdc++, libgcc_s, ld-linux, ...) and the CUDA libraries,
#                          which the target machine's toolkit and driver provide
#   repo/                  tests/fixtures, data/ (configs, lyric lines, make-sample.sh): HMR_REPO_DIR
#   sample/                the generated sample the experiments run on
#   fonts/, etc/fonts.conf a font for the plots and a fontconfig file that names only it
# Exit status: 0 packed, 1 a build, sample, library or size problem, 2 usage.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$PWD

build="" archs=90 out=build/gpu-kit songs=4 sample=""
while (($#)); do
  case "$1" in
    --build) build=$2; shift ;;
    --archs) archs=$2; shift ;;
    --out) out=$2; shift ;;
    --songs) songs=$2; shift ;;
    --sample) sample=$2; shift ;;
    -h | --help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "gpu-kit.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
jobs=${HMR_KIT_JOBS:-$(nproc)}
limit_mib=48
say() { echo "gpu-kit: $*"; }
die() { echo "gpu-kit: $*" >&2; exit 1; }

nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; } || true
if [ -z "$build" ]; then
  if [ -n "$nvcc" ] && [ "$archs" = 90 ]; then
    build=build/ci
    cmake --preset ci >/dev/null
  elif [ -n "$nvcc" ]; then
    build="build/kit-${archs//[^0-9a-z]/_}"
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHMR_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$archs" >/dev/null
  else
    say "nvcc not found: building the cpu-only preset; this kit has NO cuda backend (dry runs only)"
    build=build/cpu-only
    cmake --preset cpu-only >/dev/null
  fi
fi
[ -f "$build/build.ninja" ] || [ -f "$build/Makefile" ] || die "$build is not a configured build folder"
build=$(cd "$build" && pwd)

stages="core audio text nn cluster embed pipeline"
targets="hmr"
for s in $stages; do targets+=" test_$s"; done
for s in $stages; do [ "$s" = pipeline ] || targets+=" bench_$s"; done
cuda_built=0
if cmake --build "$build" --target help | grep -q '^bench_kernels_gpu:'; then
  cuda_built=1
  targets+=" bench_kernels_gpu"
fi
say "building in $build: $targets"
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" --target $targets >/dev/null || die "build failed (cmake --build $build --target ...)"
cuda_archs=$(awk -F= '/^CMAKE_CUDA_ARCHITECTURES:/ { print $2 }' "$build/CMakeCache.txt")

# ---- stage the kit --------------------------------------------------------------------------------
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage="$out/stage"
kit="$stage/hmr-kit"
rm -rf "$stage"
mkdir -p "$kit"/{build/apps,build/tests,build/bench,lib,repo/tests,repo/data,fonts,etc}
bins=(apps/hmr)
for s in $stages; do bins+=("tests/test_$s"); done
for s in $stages; do [ "$s" = pipeline ] || bins+=("bench/bench_$s"); done
((cuda_built)) && bins+=(bench/bench_kernels_gpu)
for b in "${bins[@]}"; do
  [ -x "$build/$b" ] || die "$build/$b was not built"
  strip --strip-unneeded -o "$kit/build/$b" "$build/$b"
done

# Shared libraries: every one ldd resolves for any binary, except the C/C++ runtime the target
# system has and the CUDA libraries its toolkit and driver provide (the runner finds those).
system_re='^(linux-vdso|ld-linux|libc\.so|libm\.so|libmvec|libstdc\+\+|libgcc_s|libdl\.so|libpthread|librt\.so|libutil\.so|libresolv)'
cuda_re='^(libcuda\.|libcudart|libcublas|libcublasLt|libcufft|libcurand|libcusolver|libcusparse|libnvJitLink|libnvrtc|libnvToolsExt|libnvtx|libcupti|libnvperf)'
missing=""
for b in "${bins[@]}"; do
  while read -r so arrow path _; do
    [ "$arrow" = "=>" ] || continue
    [[ $so =~ $system_re || $so =~ $cuda_re ]] && continue
    if [ "$path" = not ]; then
      missing+=" $so($b)"
      continue
    fi
    [ -f "$kit/lib/$so" ] || cp -L "$path" "$kit/lib/$so"
  done < <(ldd "$build/$b")
done
[ -z "$missing" ] || die "libraries not found on this machine:$missing"
strip --strip-unneeded "$kit"/lib/*.so* 2>/dev/null || true

# Plots: cairo's "sans-serif" through fontconfig, which on a bare machine has no fonts and no
# configuration. One font and a fonts.conf that names its folder relative to itself.
font=$(fc-match -f '%{file}' sans-serif 2>/dev/null || true)
[ -f "$font" ] || die "no sans-serif font found (fc-match); install fonts-dejavu-core"
cp "$font" "$kit/fonts/"
cat >"$kit/etc/fonts.conf" <<'EOF'
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<!-- hmr kit: the one font carried in ../fonts; the cache goes under $XDG_CACHE_HOME (run.sh sets it). -->
<fontconfig>
  <dir prefix="relative">../fonts</dir>
  <cachedir prefix="xdg">fontconfig</cachedir>
  <alias><family>sans-serif</family><prefer><family>DejaVu Sans</family></prefer></alias>
</fontconfig>
EOF

# Data the tests read through repo_dir() (fixtures, configs) and the sample the experiments use.
cp -r tests/fixtures "$kit/repo/tests/"
cp -r data/configs data/sample data/make-sample.sh data/run-demo.sh "$kit/repo/data/"
if [ -z "$sample" ]; then
  sample="$build/kit-sample-$songs"
  say "generating the sample ($songs songs per genre and language) in $sample"
  data/make-sample.sh "$sample" --if-missing --songs "$songs" >/dev/null ||
    die "data/make-sample.sh failed (needs sox and espeak-ng: scripts/install-deps.sh); or pass --sample DIR"
fi
[ -f "$sample/manifest.csv" ] || die "$sample is not a data/make-sample.sh output"
mkdir -p "$kit/sample"
cp -r "$sample"/. "$kit/sample/"

cp scripts/gpu-check.sh "$kit/gpu-check.sh"
cp scripts/gpu-kit-run.sh "$kit/run.sh"
{
  echo "hmr GPU kit"
  echo "built: $(date -u +%FT%TZ) on $(uname -n) ($(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"))"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "build folder: $build ($(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$build/CMakeCache.txt"))"
  if ((cuda_built)); then
    echo "cuda backend: yes; CMAKE_CUDA_ARCHITECTURES=$cuda_archs; $("$nvcc" --version 2>/dev/null | grep release)"
  else
    echo "cuda backend: no (built without nvcc: cpu and cuda-emu only; for dry runs)"
  fi
  echo "cuda libraries the binaries need from the target machine: $(for b in "${bins[@]}"; do ldd "$build/$b"; done |
    awk '{ print $1 }' | grep -E "$cuda_re" | sort -u | tr '\n' ' ')"
  echo "sample: $(grep -E '^tracks:' "$kit/sample/SAMPLE.txt")"
  echo "binaries: ${bins[*]}"
  echo "libraries: $(ls "$kit/lib" | tr '\n' ' ')"
} >"$kit/KIT.txt"
echo "$cuda_built" >"$kit/CUDA_BUILT"

raw=$(du -sm "$kit" | awk '{ print $1 }')
say "packing $raw MiB with xz"
tarball="$out/hmr-gpu-kit.tar.xz"
tar -C "$stage" --owner=0 --group=0 -cf - hmr-kit | xz -9 -T"$jobs" >"$tarball.tmp"
mv "$tarball.tmp" "$tarball"
(cd "$out" && sha256sum hmr-gpu-kit.tar.xz >hmr-gpu-kit.tar.xz.sha256)
cp scripts/gpu-kit-run.sh "$out/gpu-kit-run.sh"
rm -rf "$stage"
bytes=$(stat -c %s "$tarball")
say "kit: $tarball ($(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB from $raw MiB; cuda backend: $( ((cuda_built)) && echo "yes, archs $cuda_archs" || echo no))"
((bytes < limit_mib * 1048576)) || die "the kit is over $limit_mib MiB: use a smaller --songs or fewer --archs"
