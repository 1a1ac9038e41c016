#!/usr/bin/env bash
# Fails if a file under host/core/ includes a header from anywhere else in hmr: core/ is the
# bottom of the house (errors, logging, timers, matrices, the abstract Backend) and depends on
# nothing above it. Standard and third-party headers are fine; a project header is any "..."
# include outside core/, or a <...> one whose path exists under host/ or kernels/.
# The check then plants such an include in a scratch tree and must catch it.
# Usage: tests/check_core_includes.sh SOURCE_DIR
set -euo pipefail

# Prints the offending include lines of ROOT/host/core; status 1 when there are any.
upward_includes() {
  local root=$1 bad="" f line inc
  while IFS= read -r -d '' f; do
    while IFS= read -r line; do
      inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"$line")
      if [[ $inc == core/* && -f "$root/host/$inc" ]]; then continue; fi
      if [[ $line == *\"* ]] || [ -e "$root/host/$inc" ] || [ -e "$root/kernels/$inc" ]; then
        bad+="${f#"$root/"}: $line"$'\n'
      fi
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$f" || true)
  done < <(find "$root/host/core" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cuh' -o -name '*.cu' \) -print0)
  printf '%s' "$bad"
  [ -z "$bad" ]
}

root=$1
if ! out=$(upward_includes "$root"); then
  echo "host/core/ includes headers from above it (move the code that needs them out of core/):"
  echo "$out"
  exit 1
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/host/core" "$scratch/host/cuda"
printf '#pragma once\n' >"$scratch/host/cuda/dispatch.h"
printf '#pragma once\n' >"$scratch/host/core/error.h"
printf '#include <vector>\n#include "core/error.h"\n#include <cuda/dispatch.h>\n' >"$scratch/host/core/planted.cpp"
if upward_includes "$scratch" >/dev/null; then
  echo "planted upward include (host/core/planted.cpp -> cuda/dispatch.h) went unnoticed"
  exit 1
fi
echo "ok: host/core/ includes only core/ and standard or third-party headers (a planted upward include is caught)"
