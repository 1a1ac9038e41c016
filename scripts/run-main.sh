#!/usr/bin/env bash
# The README's main command: installs missing Debian packages, builds hmr and runs the main job.
# Usage: scripts/run-main.sh [output-dir]   (default: out/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build build/default -j"$(nproc)" --target hmr
out=${1:-out}
mkdir -p "$out"
hmr=build/default/apps/hmr
"$hmr" info
if [ -x data/run-demo.sh ]; then
  data/run-demo.sh "$hmr" "$out"
fi
echo "hmr is at $hmr; outputs are in $out/"
