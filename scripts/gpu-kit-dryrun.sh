#!/usr/bin/env bash
# gpu-kit-dryrun.sh — proves the GPU kit complete without a GPU: builds it (scripts/gpu-kit.sh),
# then unpacks and runs it the way a bare remote machine would (scripts/gpu-kit-run.sh
# --allow-no-device --strict-libs) inside a minimal root: a fresh mount namespace (unshare) and
# chroot whose /lib holds only the C/C++ runtime and the libraries of the shell tools the scripts
# use, no /usr/share, no /etc/fonts, no source tree. --strict-libs fails when any binary's library
# resolves from outside the kit other than the C/C++ runtime. Without root / unshare it falls back to
# env -i with the kit's libraries only on the library path (same --strict-libs check).
# The cpu backend runs (conformance cpu cases, the three experiments); the cuda steps are skipped
# with the reason. Where the CUDA toolkit is installed here, its library folder alone is mounted at
# /usr/local/cuda/lib64 in the root (a kit built with nvcc links cuBLAS, cuFFT, cuRAND, cuSOLVER).
#
#   scripts/gpu-kit-dryrun.sh [--build DIR] [--out DIR]    (default: gpu-kit.sh's choice; build/gpu-kit-dryrun)
# Exit status: the runner's (0 passed; docs/gpu.md lists the others), 1 when the kit did not build.
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
build_args=() out=build/gpu-kit-dryrun
while (($#)); do
  case "$1" in
    --build) build_args=(--build "$2"); shift ;;
    --out) out=$2; shift ;;
    *) echo "gpu-kit-dryrun.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
t0=$(date +%s)
scripts/gpu-kit.sh "${build_args[@]}" --out "$out/kit" || exit 1
t_kit=$(($(date +%s) - t0))
out=$(cd "$out" && pwd)
rm -rf "$out/root" "$out/results"
mkdir -p "$out/results"

steps=${HMR_GPU_STEPS:-probe,conformance,kernels,experiments,bench,memcheck,racecheck,ncu}
run_args=(--allow-no-device --strict-libs)
rc=0
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v chroot >/dev/null; then
  r="$out/root"
  mkdir -p "$r"/{bin,usr/bin,lib64,lib/x86_64-linux-gnu,dev,proc,tmp,kit,results,etc}
  chmod 1777 "$r/tmp"
  ln -s usr/bin "$r/sbin" 2>/dev/null || true
  tools="bash sh env tar xz sha256sum mktemp dirname basename readlink mkdir rm cp mv cat ls ln date sed grep awk
    head tail tr wc sort uniq cut timeout nproc uname sleep ldd du stat find touch chmod id df"
  for t in $tools; do
    p=$(command -v "$t") || { echo "gpu-kit-dryrun: $t missing here" >&2; exit 1; }
    cp -L "$p" "$r/usr/bin/$t"
    ln -sf "/usr/bin/$t" "$r/bin/$t"
    # The tools' own libraries (and so the C/C++ runtime), nothing of hmr's.
    ldd "$p" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/lib/ { print $1 }' |
      while read -r l; do cp -Ln "$l" "$r/lib/x86_64-linux-gnu/" 2>/dev/null; done
  done
  for l in libstdc++.so.6 libgcc_s.so.1 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1; do
    cp -Ln "/lib/x86_64-linux-gnu/$l" "$r/lib/x86_64-linux-gnu/" 2>/dev/null
  done
  ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
  cp "$out/kit"/hmr-gpu-kit.tar.xz* "$out/kit/gpu-kit-run.sh" "$r/kit/"
  echo "gpu-kit-dryrun: minimal root $r ($(ls "$r/lib/x86_64-linux-gnu" | wc -l) libraries in /lib: the tools' and the C/C++ runtime)"
  HMR_GPU_STEPS="$steps" unshare --mount --fork bash -c '
    r=$1; shift
    mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" || exit 10
    # A kit with the cuda backend links cuBLAS & co.: only the toolkit'"'"'s library folder comes in,
    # as on the remote machine (found there by the runner under /usr/local/cuda/lib64).
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
      [ -e "$d/libcublas.so.13" ] || [ -n "$(ls "$d"/libcublas.so.* 2>/dev/null)" ] || continue
      mkdir -p "$r/usr/local/cuda/lib64" && mount --bind -o ro "$d" "$r/usr/local/cuda/lib64"
      break
    done
    exec chroot "$r" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp TMPDIR=/tmp HMR_GPU_STEPS="$HMR_GPU_STEPS" \
      /bin/bash /kit/gpu-kit-run.sh /kit/hmr-gpu-kit.tar.xz --dir /tmp "$@"' _ "$r" "${run_args[@]}" --out /results 2>&1 | tee "$out/results/dryrun.log"
  rc=${PIPESTATUS[0]}
  cp -r "$r/results/." "$out/results/"
  rm -rf "$r"
else
  echo "gpu-kit-dryrun: no root or no unshare/chroot here: a clean environment (env -i) instead"
  tmp=$(mktemp -d)
  env -i PATH=/usr/bin:/bin HOME="$tmp" TMPDIR="$tmp" HMR_GPU_STEPS="$steps" \
    bash scripts/gpu-kit-run.sh "$out/kit/hmr-gpu-kit.tar.xz" --dir "$tmp" "${run_args[@]}" --out "$out/results" 2>&1 |
    tee "$out/results/dryrun.log"
  rc=${PIPESTATUS[0]}
  rm -rf "$tmp"
fi
echo "gpu-kit-dryrun: rc $rc; kit $(du -m "$out/kit/hmr-gpu-kit.tar.xz" | cut -f1) MiB built in ${t_kit}s; total $(($(date +%s) - t0))s; results in $out/results"
exit "$rc"
