#!/usr/bin/env bash
# Fails if any source outside kernels/gpu/compat.h spells a raw <<<...>>> kernel launch (comments
# excepted): every launch must go through GPU_LAUNCH / HMR_LAUNCH so the emulated build runs it.
set -euo pipefail
root=$1
hits=$(find "$root/kernels" "$root/host" "$root/apps" "$root/tests" "$root/bench" \
         \( -name '*.cu' -o -name '*.cuh' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) \
         ! -path "$root/kernels/gpu/compat.h" -print0 2>/dev/null |
       xargs -0 -r perl -ne 'my $l = $_; $l =~ s{//.*}{}; print "$ARGV:$.: $_" if $l =~ /<<</; close ARGV if eof' || true)
if [ -n "$hits" ]; then
  echo "raw <<< launches outside kernels/gpu/compat.h (use GPU_LAUNCH or HMR_LAUNCH):"
  echo "$hits"
  exit 1
fi
echo "ok: no raw <<< launches outside kernels/gpu/compat.h"
