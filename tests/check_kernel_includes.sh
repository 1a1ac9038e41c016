#!/usr/bin/env bash
# Fails if any file under kernels/ includes a header of the host library (a quoted include that
# resolves to host/<path>) or the CUDA runtime directly: kernels see only kernels/ headers
# (gpu/compat.h brings in the runtime or the emulator), so the device code builds without host/.
set -euo pipefail
root=$1
status=0
while IFS= read -r -d '' f; do
  while IFS= read -r hit; do
    inc=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"${hit#*:}")
    if [ -e "$root/host/$inc" ] && [ ! -e "$root/kernels/$inc" ]; then
      echo "${f#$root/}:${hit%%:*}: includes the host header $inc"
      status=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
  if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<cuda_runtime' "$f" >/dev/null &&
     [ "$f" != "$root/kernels/gpu/compat.h" ]; then
    echo "${f#$root/}: includes <cuda_runtime...> (use gpu/compat.h)"
    status=1
  fi
done < <(find "$root/kernels" -type f \( -name '*.cu' -o -name '*.cuh' -o -name '*.h' -o -name '*.hpp' \) -print0)
if [ $status -ne 0 ]; then
  echo "kernels/ must include only kernels/ headers (move what is shared to kernels/gpu/)"
  exit 1
fi
echo "ok: kernels/ includes no host/ header"
