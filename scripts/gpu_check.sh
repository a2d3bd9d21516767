#!/usr/bin/env bash
# scripts/gpu_check.sh [--dry-run] [--with-cpu-suites] [OUT]: everything that needs a GPU, in one
# run of at most 8 minutes on a bare GPU machine (no network, no apt; CUDA toolkit, meson, ninja
# and python3 with PyTorch). Bring the working tree and the kit of scripts/gpu_kit.sh (build-kit/:
# zlib, libpng, doctest). In order, each step under its own time limit:
#
#   1. the machine's facts (GPU, driver, toolkit, compilers, headers, loader cache, PyTorch);
#   2. configure build-gpu (-Dcuda=enabled for this GPU's architecture only, no MPI) and build fm
#      and the gpu suites;
#   3. the gpu suites (every op against the CPU, the CUDA semantics, whole runs, every command on
#      both devices); a failing suite is run again with CUDA_LAUNCH_BLOCKING=1, and under
#      compute-sanitizer where there is one;
#   4. a --device cuda smoke run of every command;
#   5. fm bench --device cuda beside the same rows in PyTorch on the GPU (TF32 off on both);
#   6. with --with-cpu-suites, the CPU suites, if time remains.
#
# OUT (default build/gpu-check) gets three files: summary.txt (the facts and every step's result),
# table.md (fm against PyTorch, launches per step) and logs.tar.gz (every log).
#
# --dry-run runs it all here, without a GPU, as on the GPU machine: as root, in a mount namespace
# that hides what that machine lacks (the zlib, libpng and doctest headers and libraries, nccl.h,
# the CUDA entries of the loader cache), so the build must use the kit; the gpu suites must skip
# and the commands must refuse --device cuda in one line. CI runs it.
set -uo pipefail
cd "$(dirname "$0")/.."

dry=0
cpu_suites=0
out=build/gpu-check
for a in "$@"; do
  case "$a" in
    --dry-run) dry=1 ;;
    --with-cpu-suites) cpu_suites=1 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    -*) echo "gpu_check: unknown option $a" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done
budget=${GPU_CHECK_SECONDS:-450}  # the whole run; the GPU machine's call allows 8 minutes

# ---- the dry run's view of the GPU machine ------------------------------------------------------
# hide DIR NAME...: DIR seen through an overlay in which each NAME is deleted (a whiteout).
hide() {
  local dir=$1 tmp
  shift
  tmp=$(mktemp -d)
  mkdir -p "$tmp/up" "$tmp/work"
  for n in "$@"; do [ -e "$dir/$n" ] && mknod "$tmp/up/$n" c 0 0; done
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$tmp/up,workdir=$tmp/work" "$dir"
}
if [ "$dry" = 1 ] && [ -z "${GPU_CHECK_HIDDEN:-}" ]; then
  [ -d build-kit ] || ./scripts/gpu_kit.sh >&2 || { echo "gpu_check: could not make the kit" >&2; exit 1; }
  if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    GPU_CHECK_HIDDEN=1 exec unshare -m bash "$0" "$@"
  fi
  echo "gpu_check: cannot hide packages here (needs root and unshare -m): dry run on the full machine" >&2
fi
if [ -n "${GPU_CHECK_HIDDEN:-}" ]; then
  mount --make-rprivate /
  arch_dir=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  hide /usr/include zlib.h zconf.h png.h pngconf.h pnglibconf.h libpng16 libpng doctest
  hide "$arch_dir" libz.so libz.a libpng.so libpng.a libpng16.so libpng16.a
  hide "$arch_dir/pkgconfig" zlib.pc libpng.pc libpng16.pc
  hide /usr/lib/cmake doctest
  cuda_inc=$(readlink -f /usr/local/cuda 2>/dev/null)/include
  [ -e "$cuda_inc/nccl.h" ] && hide "$cuda_inc" nccl.h
  # The loader cache without the CUDA toolkit's directory.
  tmp=$(mktemp -d)
  grep -rhv cuda /etc/ld.so.conf.d/ > "$tmp/ld.so.conf" 2>/dev/null
  ldconfig -C "$tmp/ld.so.cache" -f "$tmp/ld.so.conf" && mount --bind "$tmp/ld.so.cache" /etc/ld.so.cache
fi

# ---- output, logs, steps --------------------------------------------------------------------------
mkdir -p "$out"
rm -f "$out"/*
logs=$(mktemp -d)
began=$(date +%s)
: > "$out/summary.txt"
log() { echo "gpu_check: $*" | tee -a "$out/summary.txt"; }
left() { echo $((budget - ($(date +%s) - began))); }
failures=0
# step NAME LIMIT CMD...: CMD under `timeout` (at most LIMIT seconds and what the budget has left),
# output in NAME.log; prints and records the outcome; returns CMD's status.
step() {
  local name=$1 limit=$2 t0 rc
  shift 2
  [ "$(left)" -lt "$limit" ] && limit=$(left)
  if [ "$limit" -le 5 ]; then log "$name: skipped (out of time)"; return 124; fi
  t0=$(date +%s)
  timeout "$limit" "$@" > "$logs/$name.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then log "$name: ok ($(( $(date +%s) - t0 )) s)"
  elif [ $rc = 124 ]; then log "$name: TIMED OUT after $limit s (see $name.log)"
  else log "$name: FAILED, status $rc ($(( $(date +%s) - t0 )) s, see $name.log)"; fi
  return $rc
}
finish() {
  tar czf "$out/logs.tar.gz" -C "$logs" . 2>/dev/null
  rm -rf "$logs"
  log "done in $(( $(date +%s) - began )) s; $(ls "$out" | wc -l) files in $out"
}
trap finish EXIT
export PATH="$PATH:/usr/local/cuda/bin"

# ---- 1. the machine ----------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  host: $(uname -srm)  dry run: $dry"
  if [ "$dry" = 0 ]; then nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader; nvidia-smi -L; fi
  echo "nvcc: $(nvcc --version 2>/dev/null | tail -2 | head -1)"
  echo "c++: $(c++ --version 2>/dev/null | head -1)"
  for t in meson ninja python3 pkg-config cmake compute-sanitizer; do echo "$t: $(command -v $t || echo absent)"; done
  echo "meson $(meson --version 2>/dev/null), ninja $(ninja --version 2>/dev/null)"
  for h in /usr/include/zlib.h /usr/include/png.h /usr/include/doctest/doctest.h /usr/local/cuda/include/nccl.h; do
    echo "$h: $([ -e "$h" ] && echo present || echo absent)"
  done
  echo "kit: $(ls build-kit/include build-kit/lib 2>/dev/null | xargs)"
  echo "loader cache: $(ldconfig -p 2>/dev/null | grep -oE 'lib(cudart|cublas|nccl)\.so[^ ]*' | sort -u | xargs)"
  echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1)"
} > "$logs/facts.txt" 2>&1
sed 's/^/  /' "$logs/facts.txt" | tee -a "$out/summary.txt"
if [ "$dry" = 0 ] && ! nvidia-smi -L > /dev/null 2>&1; then log "no GPU here (nvidia-smi failed): use --dry-run"; exit 1; fi

# ---- 2. build --------------------------------------------------------------------------------
arch=90
[ "$dry" = 0 ] && arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.[:space:]')
[ "$dry" = 1 ] && rm -rf build-gpu  # a fresh configure, in this view of the machine
if [ ! -f build-gpu/build.ninja ]; then
  step configure 120 meson setup build-gpu --buildtype=release -Dcuda=enabled -Dgpu_arch="$arch" -Dmpi=disabled ||
    { tail -5 "$logs/configure.log"; exit 1; }
fi
gpu_tests=(tests/test_backend_ops tests/test_emulation tests/test_gpu_runs tests/test_gpu_cli)
step build 300 ninja -C build-gpu apps/fm "${gpu_tests[@]}" || { grep -m5 -E 'error' "$logs/build.log"; exit 1; }
fm=./build-gpu/apps/fm

# ---- 3. the gpu suites -------------------------------------------------------------------------
gpu_rc=0
step gpu-suites 240 meson test -C build-gpu --suite gpu --no-rebuild --print-errorlogs || gpu_rc=$?
grep -E '^ *[0-9]+/[0-9]+ ' "$logs/gpu-suites.log" | sed 's/^/  /' | tee -a "$out/summary.txt"
if [ "$dry" = 1 ]; then
  skipped=$(grep -cE '^ *[0-9]+/[0-9]+ .* SKIP ' "$logs/gpu-suites.log")
  [ "$skipped" = ${#gpu_tests[@]} ] && log "gpu suites skipped without a GPU, as they must" ||
    { log "expected ${#gpu_tests[@]} skipped gpu suites, got $skipped"; failures=$((failures + 1)); }
else
  [ "$gpu_rc" = 0 ] || failures=$((failures + 1))
  for t in $(grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT) ' "$logs/gpu-suites.log" | sed -E 's/.*gpu \/ ([a-z_]+) .*/\1/'); do
    step "rerun-$t-blocking" 90 env CUDA_LAUNCH_BLOCKING=1 FM_BIN="$fm" "./build-gpu/tests/test_$t"
    command -v compute-sanitizer > /dev/null &&
      step "rerun-$t-memcheck" 150 env FM_BIN="$fm" compute-sanitizer --tool memcheck "./build-gpu/tests/test_$t"
  done
fi

# ---- 4. every command with --device cuda ----------------------------------------------------------
smoke=$(mktemp -d)
smoke_cmd() {  # NAME ARGS...: fm ARGS --device cuda; in a dry run it must fail, naming the missing device
  local name=$1
  shift
  if [ "$dry" = 0 ]; then step "smoke-$name" 120 "$fm" "$@" --device cuda || failures=$((failures + 1)); return; fi
  "$fm" "$@" --device cuda > "$logs/smoke-$name.log" 2>&1 && { log "smoke-$name: ran without a GPU?"; failures=$((failures + 1)); return; }
  if [ "$(wc -l < "$logs/smoke-$name.log")" = 1 ] && grep -q "no CUDA device found" "$logs/smoke-$name.log"; then
    log "smoke-$name: refused in one line, as it must: $(cat "$logs/smoke-$name.log")"
  else
    log "smoke-$name: expected one line naming the missing device (see smoke-$name.log)"; failures=$((failures + 1))
  fi
}
# A CPU model and points to evaluate it at, for the commands that read them.
{ "$fm" train --steps 5 --batch 256 --width 32 --depth 3 --eval-n 0 --out "$smoke/cpu" &&
  "$fm" sample --ckpt "$smoke/cpu/model.safetensors" --n 8 --out "$smoke/x.npy"; } > "$logs/smoke-cpu.log" 2>&1
smoke_cmd train train --steps 20 --batch 256 --width 32 --depth 3 --eval-n 100 --out "$smoke/gpu"
smoke_cmd sample sample --ckpt "$smoke/cpu/model.safetensors" --n 100 --logp --out "$smoke/s.npy"
smoke_cmd nll nll --ckpt "$smoke/cpu/model.safetensors" --n 100
smoke_cmd field field --ckpt "$smoke/cpu/model.safetensors" --x "$smoke/x.npy" --t 0.5 --out "$smoke/v.npy"
rm -rf "$smoke"

# ---- 5. fm bench against PyTorch on the GPU ---------------------------------------------------------
if [ "$dry" = 0 ]; then
  step fm-bench 150 "$fm" bench --device cuda --json --size 4096 --reps 5
  grep '^{' "$logs/fm-bench.log" > "$logs/fm-bench.jsonl"
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    step torch-bench 150 python3 scripts/bench_pytorch.py --device cuda --json --size 4096 --reps 5
    grep '^{' "$logs/torch-bench.log" > "$logs/torch-bench.jsonl"
  else
    log "no PyTorch with CUDA here: the table has fm's column only"
  fi
else
  "$fm" bench --device cuda --only matmul > "$logs/fm-bench.log" 2>&1 && { log "fm bench ran without a GPU?"; failures=$((failures + 1)); } ||
    log "fm bench --device cuda refused: $(tail -1 "$logs/fm-bench.log")"
fi
python3 - "$logs" "$out/table.md" <<'PY' || log "could not write the table"
import json, os, sys
logs, table = sys.argv[1], sys.argv[2]
def rows(name):
    path, r = os.path.join(logs, name), {}
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("{"):
                d = json.loads(line)
                r[d["name"]] = d
    return r
fm, pt = rows("fm-bench.jsonl"), rows("torch-bench.jsonl")
lines = ["| row | fm ms | PyTorch ms | fm / PyTorch | fm launches |", "|---|---:|---:|---:|---:|"]
for name, d in fm.items():
    p = pt.get(name, {}).get("ms")
    launches = int(d["launches"]) if "launches" in d else "-"
    lines.append(f"| {name} | {d['ms']:.3f} | " + (f"{p:.3f} | {d['ms'] / p:.2f}" if p else "- | -") + f" | {launches} |")
if not fm:
    lines.append("| (no fm bench rows: see the summary) | | | | |")
open(table, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY

# ---- 6. the CPU suites, last -----------------------------------------------------------------------
if [ "$cpu_suites" = 1 ]; then
  step cpu-build 200 ninja -C build-gpu && step cpu-suites 300 meson test -C build-gpu --no-suite gpu --num-processes "$(nproc)"
  grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT) ' "$logs/cpu-suites.log" 2>/dev/null | sed 's/^/  /' | tee -a "$out/summary.txt"
fi

if [ "$failures" = 0 ]; then log "PASS"; else log "FAIL: $failures problem(s)"; fi
[ "$failures" = 0 ]
