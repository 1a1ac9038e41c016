#!/usr/bin/env bash
# Checks the declared cuda seams (docs/architecture.md "A stage's cuda seam"):
#  1. HMR_DECLARE_CUDA appears only in seam headers host/<dir>/<name>_cuda.h, and every
#     host/**/<name>_cuda.cpp includes its own <name>_cuda.h (host/cuda/'s library wrappers:
#     <name>.h, declared in the build's own namespace), so caller and definition read the same
#     declaration;
#  2. every host/ and kernels/ source of this build is compiled with -Werror=missing-declarations
#     (compile_commands.json of BUILD_DIR), so a definition without a declaration stops the build;
#  3. planted drift: a definition whose signature differs from its seam declaration, compiled with
#     the flags of a real *_cuda.cpp, must fail to compile.
# Usage: tests/check_seams.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
root=$1
build=$2
fail=0

stray=$(grep -rln --include='*.cpp' --include='*.h' --include='*.cuh' --include='*.cu' 'HMR_DECLARE_CUDA(' \
          "$root/host" "$root/apps" "$root/kernels" | grep -v -E '_cuda\.h$|/cuda/dispatch\.h$' || true)
if [ -n "$stray" ]; then
  echo "HMR_DECLARE_CUDA outside a seam header (*_cuda.h):"; echo "$stray"; fail=1
fi
while IFS= read -r -d '' def; do
  rel=${def#"$root/host/"}
  seam="${rel%.cpp}.h"
  plain="${rel%_cuda.cpp}.h"
  if [ -f "$root/host/$seam" ]; then
    grep -q "#include \"$seam\"" "$def" || { echo "$rel does not include its seam header $seam"; fail=1; }
  elif [[ $rel == cuda/* && -f "$root/host/$plain" ]]; then
    grep -q "#include \"$plain\"" "$def" || { echo "$rel does not include its interface $plain"; fail=1; }
  else
    echo "$rel has no seam header host/$seam"; fail=1
  fi
done < <(find "$root/host" -name '*_cuda.cpp' -print0)

python3 - "$root" "$build" <<'PY' || fail=1
import json, os, sys
root, build = sys.argv[1], sys.argv[2]
cc = json.load(open(os.path.join(build, "compile_commands.json")))
missing, seen = [], 0
for e in cc:
    rel = os.path.relpath(e["file"], root)
    if not (rel.startswith("host/") or rel.startswith("kernels/")):
        continue
    if rel.startswith("host/emu/"):
        continue  # the emulator itself is not a stage
    cmd = e.get("command") or " ".join(e.get("arguments", []))
    if "nvcc" in cmd.split()[0] or " -x cu " in cmd:
        continue  # device compiles: covered by their emulated (g++) twin
    seen += 1
    if "-Werror=missing-declarations" not in cmd:
        missing.append(rel)
if missing:
    print("compiled without -Werror=missing-declarations:", *sorted(set(missing)), sep="\n  ")
    sys.exit(1)
print(f"ok: {seen} host/kernels compile commands carry -Werror=missing-declarations")
PY

# 3. The planted drift: apply_scaler defined with an extra parameter.
python3 - "$root" "$build" <<'PY' || fail=1
import json, os, shlex, subprocess, sys, tempfile
root, build = sys.argv[1], sys.argv[2]
cc = json.load(open(os.path.join(build, "compile_commands.json")))
ent = next(e for e in cc if e["file"].endswith("host/prep/standardize_cuda.cpp"))
args = shlex.split(ent["command"]) if "command" in ent else ent["arguments"]
if "ccache" in os.path.basename(args[0]):
    args = args[1:]
with tempfile.TemporaryDirectory() as d:
    src = os.path.join(d, "drift_cuda.cpp")
    open(src, "w").write(
        '#include "prep/standardize_cuda.h"\n'
        "namespace hmr::HMR_CUDA_NS {\n"
        "hmr::Matrix apply_scaler(hmr::Backend&, const hmr::prep::Scaler&, hmr::ConstMatrixView, int) { return {}; }\n"
        "}\n")
    out, cmd, skip = os.path.join(d, "drift.o"), [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a == "-c" or a == ent["file"] or a.endswith("standardize_cuda.cpp"):
            continue
        cmd.append(a)
    cmd += ["-fsyntax-only", src]
    r = subprocess.run(cmd, cwd=ent["directory"], capture_output=True, text=True)
    if r.returncode == 0:
        print("planted drift compiled: a definition that differs from its seam declaration went unnoticed")
        sys.exit(1)
    if "missing-declarations" not in r.stderr:
        print("planted drift failed for another reason:\n" + r.stderr[-2000:])
        sys.exit(1)
    print("ok: a definition that drifted from its seam declaration fails to compile")
PY
if [ "$fail" -ne 0 ]; then exit 1; fi
echo "ok: every cuda entry point is declared once in its stage's seam header"
