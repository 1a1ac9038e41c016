#!/usr/bin/env bash
# Python environment for reference and benchmark scripts only (fixture generators in tests/,
# peer-tool runners in bench/): librosa 0.10, scikit-learn, openTSNE, PyTorch (CPU). hmr itself
# never needs Python. Usage: scripts/setup-venv.sh [--torch]; prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${HMR_VENV:-build/venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q 'librosa==0.10.2.post1' 'scikit-learn>=1.3' 'openTSNE>=1.0' 'numpy<2.3' scipy soundfile \
  soxr safetensors pandas >&2
if [ "${1:-}" = "--torch" ]; then
  "$venv/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu >&2 ||
    "$venv/bin/pip" install -q torch >&2
fi
echo "$venv/bin/python"
