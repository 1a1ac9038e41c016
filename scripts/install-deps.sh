#!/usr/bin/env bash
# Installs the Debian packages hmr needs, non-interactively, and only those that are missing.
# Usage: scripts/install-deps.sh   (sox and espeak-ng are for the sample generator and audio tests;
# clang-14 and libclang-rt-14-dev build the parser fuzzers, tests/fuzz)
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config libboost-context-dev libfftw3-dev libopenblas-dev libopenblas-openmp-dev liblapacke-dev
      libsndfile1-dev libsoxr-dev libicu-dev libcairo2-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
      libtomlplusplus-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
      sox libsox-fmt-all espeak-ng python3-venv
      clang-14 libclang-rt-14-dev)  # libFuzzer + sanitizer runtimes for scripts/run-fuzz.sh
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "hmr: installing missing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
