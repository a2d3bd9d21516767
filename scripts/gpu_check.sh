#!/usr/bin/env bash
# scripts/gpu_check.sh [OUTDIR]: everything that needs a GPU, in one run of a few minutes.
#
#   1. configure build-gpu with -Dcuda=enabled for this GPU's architecture, and build it;
#   2. run the `gpu` suite (every op against the CPU, whole runs on both devices) and the CPU suites;
#   3. time `fm bench --device cuda` and the same rows in PyTorch on the GPU (if torch is here);
#   4. write the logs and a side-by-side table (OUTDIR/table.md) into OUTDIR (default build/gpu-check).
#
# It stops at the first step that fails, saying which; the logs of the steps so far stay in OUTDIR.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/gpu-check}
mkdir -p "$out"
log() { echo "gpu_check: $*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"
export PATH="$PATH:/usr/local/cuda/bin"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1; then
  log "no GPU here (nvidia-smi failed): nothing to check"; exit 1
fi
log "$(head -1 "$out/nvidia-smi.txt"), $(date -u +%Y-%m-%d)"
for tool in meson ninja nvcc; do command -v $tool >/dev/null || { log "missing $tool"; exit 1; }; done

# Only this GPU's architecture: a third of the compile time of the default list.
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.[:space:]')
[ -n "$arch" ] || arch=90
if [ ! -f build-gpu/build.ninja ]; then
  meson setup build-gpu --buildtype=release -Dcuda=enabled -Dgpu_arch="$arch" > "$out/configure.log" 2>&1 ||
    { log "configure failed (see configure.log)"; exit 1; }
fi
start=$(date +%s)
ninja -C build-gpu > "$out/build.log" 2>&1 || { log "build failed (see build.log)"; tail -30 "$out/build.log"; exit 1; }
log "built for sm_$arch in $(( $(date +%s) - start )) s"

meson test -C build-gpu --suite gpu --print-errorlogs > "$out/gpu-tests.log" 2>&1
gpu_status=$?
grep -E '^ *[0-9]+/[0-9]+ ' "$out/gpu-tests.log" | tee -a "$out/summary.txt"
meson test -C build-gpu --no-suite gpu --num-processes 8 > "$out/cpu-tests.log" 2>&1
log "cpu suites: $(grep -cE ' OK ' "$out/cpu-tests.log") ok, $(grep -cE ' FAIL |TIMEOUT' "$out/cpu-tests.log") failed"
[ $gpu_status -eq 0 ] || log "the gpu suite FAILED (see gpu-tests.log)"

./build-gpu/apps/fm bench --device cuda --json > "$out/fm-bench-cuda.jsonl" 2> "$out/fm-bench-cuda.err" ||
  log "fm bench --device cuda failed (see fm-bench-cuda.err)"
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  python3 scripts/bench_pytorch.py --device cuda --json > "$out/torch-bench-cuda.jsonl" 2> "$out/torch-bench-cuda.err" ||
    log "the PyTorch reference failed (see torch-bench-cuda.err)"
else
  log "no PyTorch with CUDA here: the table has fm's column only"
  : > "$out/torch-bench-cuda.jsonl"
fi

# The table: one row per fm bench row, PyTorch's time beside it where it has the row.
python3 - "$out" <<'PY' || log "could not write the table"
import json, sys
out = sys.argv[1]
def rows(path):
    r = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            r[d["name"]] = d
    return r
fm, pt = rows(f"{out}/fm-bench-cuda.jsonl"), rows(f"{out}/torch-bench-cuda.jsonl")
lines = ["| row | fm ms | PyTorch ms | fm / PyTorch | fm launches |", "|---|---:|---:|---:|---:|"]
for name, d in fm.items():
    ms, p = d["ms"], pt.get(name, {}).get("ms")
    launches = int(d["launches"]) if "launches" in d else "-"
    ratio = f"{ms / p:.2f}" if p else "-"
    lines.append(f"| {name} | {ms:.3f} | {p:.3f} | {ratio} | {launches} |" if p else f"| {name} | {ms:.3f} | - | - | {launches} |")
open(f"{out}/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
log "logs and table in $out"
exit $gpu_status
