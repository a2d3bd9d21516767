#!/usr/bin/env bash
# scripts/bench_compare.sh: `fm bench` next to its PyTorch reference (scripts/bench_pytorch.py),
# as a markdown table:  row | fm ms | PyTorch ms | ratio (fm/PyTorch) | fm peak RSS | PyTorch peak RSS.
#
# Each group (matmul, mlp-train, mlp-field, unet-train, unet-forward, unet-field), and each U-Net
# width, runs as its own process on both sides, so the peak RSS of a row is its own, not that of
# everything before it.
#
# usage: scripts/bench_compare.sh [--threads N] [--reps N] [--warmup N] [--only GROUP] [--channels C]
#   --threads  threads for both (fm: OMP_NUM_THREADS, which its thread pool reads; PyTorch:
#              torch.set_num_threads and OMP/OPENBLAS_NUM_THREADS) (default 2)
#   --channels U-Net widths, e.g. "32 16" (the default); each runs in its own process
#   --reps, --warmup are passed through to both benchmarks (defaults: theirs, --reps 10 --warmup 2).
#   --rounds   repeat everything, fm and PyTorch alternating, this many times (default 3); the
#              table gives each side's median over the rounds and the median of the per-round
#              ratios. This VM's speed drifts by up to 2x over tens of seconds, so one round can
#              favour either side; alternating and taking medians keeps the ratios honest.
# Environment: FM (default build/apps/fm), PYTHON (default /usr/bin/python3, which has PyTorch).
# PyTorch's OpenBLAS picks its own kernels: the machine may pin OPENBLAS_CORETYPE (Haswell: AVX2
# only) and OPENBLAS_L2_SIZE for everything else, so both are unset in the PyTorch command alone.
set -euo pipefail

cd "$(dirname "$0")/.."
FM=${FM:-build/apps/fm}
PYTHON=${PYTHON:-/usr/bin/python3}

threads=2
only=""
channels="32 16"  # U-Net widths, each measured in its own process
rounds=3          # fm and PyTorch alternate this many times; each row reports the median round
pass=()  # arguments for both benchmarks
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --reps|--warmup) pass+=("$1" "$2"); shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --channels) channels="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_compare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
  echo "bench_compare.sh: $PYTHON cannot import torch; install it with: apt-get install python3-torch" >&2
  exit 1
fi
# Debian's python3-torch takes whatever libblas.so.3 the system selects, the reference BLAS
# included (about 50x slower than OpenBLAS: 7.5 GFLOP/s on sgemm 1024 here): name PyTorch's BLAS
# and its kernels, and refuse a comparison against anything but OpenBLAS.
blas=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PYTHON" - <<'PY'
import ctypes, torch
libs = sorted({l.split()[-1] for l in open('/proc/self/maps').read().splitlines() if 'blas' in l.split()[-1]})
openblas = [l for l in libs if 'openblas' in l]
if openblas:
    core = ctypes.CDLL(openblas[0]).openblas_get_corename
    core.restype = ctypes.c_char_p
    print('OpenBLAS, ' + core().decode() + ' kernels')
else:
    print('not OpenBLAS: ' + (' '.join(libs) or 'no BLAS library loaded'))
PY
) || blas="unknown (the check failed)"
if [[ "$blas" != OpenBLAS* ]]; then
  echo "bench_compare.sh: PyTorch's BLAS is $blas; install OpenBLAS for a fair comparison: apt-get install libopenblas0-pthread" >&2
  exit 1
fi
echo "bench_compare.sh: PyTorch uses $blas" >&2

if [[ ! -x "$FM" ]]; then
  echo "bench_compare.sh: $FM not found; build it first (scripts/build.sh)" >&2
  exit 1
fi

all_groups=(matmul mlp-train mlp-field unet-train unet-forward unet-field)
if [[ -n "$only" ]]; then
  groups=("$only")
else
  groups=("${all_groups[@]}")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_pair() {  # one group (and U-Net width) on both sides
  echo "bench_compare.sh: $* (fm)..." >&2
  OMP_NUM_THREADS="$threads" "$FM" bench --json "$@" ${pass[@]+"${pass[@]}"} >>"$tmp/fm.jsonl"
  echo "bench_compare.sh: $* (PyTorch)..." >&2
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
    "$PYTHON" scripts/bench_pytorch.py --json --threads "$threads" "$@" ${pass[@]+"${pass[@]}"} >>"$tmp/torch.jsonl"
}

for ((round = 1; round <= rounds; round++)); do
  for g in "${groups[@]}"; do
    case "$g" in
      unet-forward) run_pair --only "$g" --channels "${channels%% *}" ;;  # the first width only
      unet-*) for ch in $channels; do run_pair --only "$g" --channels "$ch"; done ;;
      *) run_pair --only "$g" ;;
    esac
  done
done

# Join the two outputs by row name (fm's row order) and print the table.
"$PYTHON" - "$tmp/fm.jsonl" "$tmp/torch.jsonl" "$threads" "$rounds" "$blas" <<'EOF'
import json, statistics, sys

def rows(path):  # name -> the results of every round, in order
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                if "name" in r:
                    out.setdefault(r["name"], []).append(r)
    return out

fm, pt = rows(sys.argv[1]), rows(sys.argv[2])
names = list(fm) + [n for n in pt if n not in fm]

def med(rs, key):
    return statistics.median(r[key] for r in rs)

def ms(name, rs):
    if not rs:
        return "-"
    s = f"{med(rs, 'ms'):.2f}"
    return s + (f" ({med(rs, 'gflops'):.1f} GFLOP/s)" if name.startswith("matmul") else "")

def ratio(a, b):  # the median of the per-round ratios, and their range
    rs = [x["ms"] / y["ms"] for x, y in zip(a or [], b or []) if y["ms"] > 0]
    if not rs:
        return "-"
    return f"{statistics.median(rs):.2f}" + (f" ({min(rs):.2f}-{max(rs):.2f})" if len(rs) > 1 else "")

def rss(rs):
    return "-" if not rs else f"{max(r['peak_rss_mib'] for r in rs):.0f}"

print(f"{sys.argv[3]} threads, {sys.argv[4]} rounds, PyTorch with {sys.argv[5]}; ms = median over the rounds of each round's median\n")
print("| row | fm ms | PyTorch ms | ratio fm/PyTorch (range over rounds) | fm peak RSS MiB | PyTorch peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|")
for n in names:
    a, b = fm.get(n), pt.get(n)
    print(f"| {n} | {ms(n, a)} | {ms(n, b)} | {ratio(a, b)} | {rss(a)} | {rss(b)} |")
EOF
