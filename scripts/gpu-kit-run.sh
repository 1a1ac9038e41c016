#!/usr/bin/env bash
# gpu-kit-run.sh — runs the hmr GPU kit (scripts/gpu-kit.sh) on any Linux x86-64 machine: unpacks
# it, puts its own libraries and the machine's CUDA libraries on the library path, checks that
# every binary's libraries resolve and that a device answers, then runs gpu-check.sh.
# The kit carries a copy of this script as hmr-kit/run.sh.
#
#   gpu-kit-run.sh hmr-gpu-kit.tar.xz [--dir DIR] [run options]   unpack into DIR (default: a new
#                                                                 folder under $TMPDIR or /tmp), run
#   hmr-kit/run.sh [run options]                                   run an unpacked kit
# run options:
#   --out DIR          results: summary.txt, summary.json, logs.tar.xz (default $OUT, else
#                      ./gpu-check-out)
#   --allow-no-device  go on without a usable CUDA device: the cuda steps are skipped with the reason
#                      (the local dry run)
#   --strict-libs      also fail when a library resolves from outside the kit other than the C/C++
#                      runtime and CUDA (proves the kit complete; the dry run uses it)
#   --check-only       stop after the library and device checks
# The steps, deadline and timeouts are gpu-check.sh's (HMR_GPU_STEPS, HMR_GPU_DEADLINE, ...).
# Exit status:
#   0  every check that ran passed          1  a check failed (summary.txt names it)
#   2  usage error                          10 the kit cannot be unpacked (missing, checksum, tar, space)
#   11 a library is missing (or, with --strict-libs, resolves from outside the kit)
#   12 no CUDA device answers, or the kit has no cuda backend (without --allow-no-device)
set -uo pipefail
export LC_ALL=C
say() { echo "gpu-kit-run: $*"; }
die() { local c=$1; shift; echo "gpu-kit-run: $*" >&2; exit "$c"; }

# ---- unpack mode -------------------------------------------------------------------------------
if (($#)) && [[ $1 == *.tar.xz ]]; then
  tarball=$1
  shift
  dir=""
  if (($#)) && [ "$1" = --dir ]; then
    dir=${2:-}
    shift 2 || die 2 "--dir needs a folder"
  fi
  [ -f "$tarball" ] || die 10 "no kit at $tarball"
  if [ -f "$tarball.sha256" ] && command -v sha256sum >/dev/null; then
    (cd "$(dirname "$tarball")" && sha256sum --quiet -c "$(basename "$tarball").sha256") >/dev/null 2>&1 ||
      die 10 "$tarball does not match $tarball.sha256 (truncated copy?)"
  fi
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/hmr-kit.XXXXXX") || die 10 "cannot make a folder under ${TMPDIR:-/tmp}"
  fi
  mkdir -p "$dir" || die 10 "cannot make $dir"
  t=$(date +%s)
  tar -C "$dir" -xJf "$tarball" || die 10 "cannot unpack $tarball into $dir (tar/xz missing, corrupt file or no space)"
  [ -x "$dir/hmr-kit/run.sh" ] && [ -f "$dir/hmr-kit/KIT.txt" ] || die 10 "$tarball is not an hmr kit (no hmr-kit/run.sh)"
  say "unpacked into $dir/hmr-kit in $(($(date +%s) - t))s"
  exec "$dir/hmr-kit/run.sh" "$@"
fi

# ---- kit mode ----------------------------------------------------------------------------------
kit=$(cd "$(dirname "$0")" && pwd)
[ -f "$kit/KIT.txt" ] || die 2 "run it on a kit tarball (gpu-kit-run.sh hmr-gpu-kit.tar.xz) or as hmr-kit/run.sh"
out=${OUT:-$PWD/gpu-check-out} allow_no_device=0 strict=0 check_only=0
while (($#)); do
  case "$1" in
    --out) out=$2; shift ;;
    --allow-no-device) allow_no_device=1 ;;
    --strict-libs) strict=1 ;;
    --check-only) check_only=1 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die 2 "unknown argument $1 (see --help)" ;;
  esac
  shift
done
cuda_built=$(cat "$kit/CUDA_BUILT" 2>/dev/null || echo 0)
system_re='^(linux-vdso|ld-linux|libc\.so|libm\.so|libmvec|libstdc\+\+|libgcc_s|libdl\.so|libpthread|librt\.so|libutil\.so|libresolv)'
cuda_re='^(libcuda\.|libcudart|libcublas|libcublasLt|libcufft|libcurand|libcusolver|libcusparse|libnvJitLink|libnvrtc|libnvToolsExt|libnvtx|libcupti|libnvperf)'
ldd_of() { if command -v ldd >/dev/null; then ldd "$1"; else /lib64/ld-linux-x86-64.so.2 --list "$1"; fi 2>&1; }
bins=("$kit"/build/apps/* "$kit"/build/tests/* "$kit"/build/bench/*)

# The machine's CUDA libraries (toolkit, or a Python wheel's nvidia/*/lib) and the driver's libcuda:
# a folder is added when it holds a library the binaries need and the path does not yet give.
cuda_dirs=()
candidates=(${CUDA_HOME:+$CUDA_HOME/lib64} ${CUDA_HOME:+$CUDA_HOME/lib} /usr/local/cuda/lib64 /usr/local/cuda/lib
  /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 /usr/local/cuda-*/targets/x86_64-linux/lib
  /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/wsl/lib
  /usr/local/lib/python3*/dist-packages/nvidia/*/lib /usr/lib/python3/dist-packages/nvidia/*/lib
  /usr/local/lib/python3*/site-packages/nvidia/*/lib /opt/conda/lib/python3*/site-packages/nvidia/*/lib)
set_path() {
  local p="$kit/lib" d
  for d in "${cuda_dirs[@]}"; do p+=":$d"; done
  export LD_LIBRARY_PATH=$p${HMR_KIT_EXTRA_LD_PATH:+:$HMR_KIT_EXTRA_LD_PATH}
}
add_dir_with() {
  local so=$1 d
  for d in "${candidates[@]}"; do
    [ -e "$d/$so" ] || continue
    [[ " ${cuda_dirs[*]} " == *" $d "* ]] || cuda_dirs+=("$d")
    return 0
  done
  return 1
}
set_path
if ((cuda_built)); then
  for so in $(for b in "${bins[@]}"; do ldd_of "$b"; done | awk '$3 == "not" { print $1 }' | grep -E "$cuda_re" | sort -u); do
    add_dir_with "$so" || true
    set_path
  done
  # libcuda is loaded by the CUDA runtime at its first call (dlopen), so ldd does not list it.
  if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then add_dir_with libcuda.so.1 || true; fi
  set_path
fi

# ---- every library of every binary resolves ------------------------------------------------------
bad=""
for b in "${bins[@]}"; do
  while read -r so arrow path _; do
    [ "$arrow" = "=>" ] || continue
    if [ "$path" = not ]; then
      bad+="  ${b#"$kit"/}: $so not found"$'\n'
    elif ((strict)) && [[ $path != "$kit"/* ]] && ! [[ $so =~ $system_re || $so =~ $cuda_re ]]; then
      bad+="  ${b#"$kit"/}: $so resolves outside the kit: $path"$'\n'
    fi
  done < <(ldd_of "$b")
done
if [ -n "$bad" ]; then
  printf '%s' "$bad" >&2
  die 11 "libraries missing (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)"
fi
say "libraries: every one of ${#bins[@]} binaries resolves (kit lib/${cuda_dirs[*]:+ + ${cuda_dirs[*]}})"

# ---- the environment the tests and plots read -----------------------------------------------------
export HMR_REPO_DIR="$kit/repo" HMR_BINARY_DIR="$kit/build"
# No development data on such a machine: the tests that read it skip (never the compiled-in path).
export HMR_SHARED_DATA="$kit/no-shared-data"
export FONTCONFIG_FILE="$kit/etc/fonts.conf" XDG_CACHE_HOME="${XDG_CACHE_HOME:-$kit/.cache}"
export PATH="${PATH:-/usr/bin:/bin}"
[ -n "${HOME:-}" ] || export HOME="$kit"

# ---- a device answers ------------------------------------------------------------------------------
info=$("$kit/build/apps/hmr" info 2>&1) || die 11 "hmr does not start: $(tail -1 <<<"$info")"
if ! grep -Eq '^  cuda +available' <<<"$info"; then
  why=$(awk '$1 == "cuda" { $1 = ""; sub(/^ +/, ""); print; exit }' <<<"$info")
  ((cuda_built)) || why="this kit has no cuda backend (built without nvcc)"
  ((allow_no_device)) || die 12 "no CUDA device answers: $why (nvidia-smi: $(nvidia-smi -L 2>&1 | head -1))"
  say "no usable CUDA device ($why): going on for the cpu backend (--allow-no-device)"
else
  say "device: $(grep -E '^  cuda ' <<<"$info" | sed 's/^  cuda *available *//')"
fi
((check_only)) && { say "checks passed (--check-only)"; exit 0; }

exec "$kit/gpu-check.sh" --build "$kit/build" --repo "$kit/repo" --sample "$kit/sample" --out "$out"
