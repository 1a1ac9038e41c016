#!/usr/bin/env bash
# run-demo.sh — the README's demo: generates hmr's sample data (if not present) and runs the three
# experiments on it, Easy on its lyrics CSVs, Medium on its paired manifest, Hard on its GTZAN-
# layout audio folder, then prints where the reports are.
#
#   data/run-demo.sh HMR_EXE OUT_DIR [extra hmr flags, e.g. --device cpu]
#
# Outputs: OUT_DIR/sample (the generated data), OUT_DIR/{easy,medium,hard}/report.md (+ metrics,
# plots, latents, models, config.toml). scripts/run-main.sh calls this script.
set -euo pipefail
if (($# < 2)); then
  echo "usage: data/run-demo.sh HMR_EXE OUT_DIR [hmr flags...]" >&2
  exit 2
fi
hmr=$1
out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$hmr" ] || { echo "run-demo.sh: $hmr is not an executable" >&2; exit 2; }
mkdir -p "$out"
sample="$out/sample"

echo "== generating the sample data set in $sample (espeak-ng + sox; skipped when present)"
"$here/make-sample.sh" "$sample" --if-missing

echo "== hmr easy: lyrics (Bangla + English) -> TF-IDF -> text VAE -> K-Means"
"$hmr" easy --lyrics "$sample/lyrics_bn.csv:bn" --lyrics "$sample/lyrics_en.csv:en" --out "$out/easy" "$@"
echo "== hmr medium: paired lyrics + audio -> fused latent -> K-Means"
"$hmr" medium --manifest "$sample/manifest.csv" --out "$out/medium" "$@"
echo "== hmr hard: GTZAN-layout audio -> beta-VAE -> K-Means by genre"
"$hmr" hard --gtzan "$sample/gtzan" --out "$out/hard" "$@"

echo
echo "reports:"
for t in easy medium hard; do echo "  $out/$t/report.md"; done
