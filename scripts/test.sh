#!/usr/bin/env bash
# scripts/test.sh: build (installing what is missing), run every test suite with `meson test`, then
# the CUDA backend on the emulated GPU under AddressSanitizer and UBSan (build-emu-asan: the gpu
# suites, then the CPU unit suites in the same build), then scripts/gpu_check.sh --dry-run (the GPU
# check as the bare GPU machine would run it), then each fuzz target for 10 s (scripts/fuzz.sh);
# end with one summary line "N passed, N failed, N skipped" counting the doctest test cases of both
# builds (and, as skipped, the suites that exit 77). Arguments go to the first `meson test`.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh || exit 1

meson test -C build --num-processes 2 --print-errorlogs "$@"
status=$?

# The emulated GPU (cuda/emulation/) with the sanitizers: only fm and the gpu suites are built.
# -O1 -g1 (line tables only), as the ASan documentation suggests: the reports keep their file:line,
# and this build and the CPU suites' one below take 9 minutes on 2 cores instead of 18 with -O2 -g
# (measured 2026-12-07; the tests themselves run about a minute longer).
emu=build-emu-asan
if [ ! -f $emu/build.ninja ]; then
  meson setup $emu --buildtype=plain -Doptimization=1 -Ddebug=false -Dcpp_args=-g1 -Demulate_cuda=true -Dmpi=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false > /dev/null || exit 1
fi
ninja -C $emu apps/fm tests/test_backend_ops tests/test_emulation tests/test_gpu_runs tests/test_gpu_cli || exit 1
meson test -C $emu --suite gpu --no-rebuild --num-processes 2 --print-errorlogs || status=1

# The CPU suites under the same sanitizers, in the same build (its libraries are compiled already):
# every suite of cpu_suites in tests/meson.build, so a new one joins by itself. The end-to-end suites
# (cli, train_cli, kill, install, mpi) run in the release build only: they drive the same code through
# the fm binary, and under ASan they would add minutes. Its own log, beside the gpu suites' one.
cpu=$(sed -n '/^cpu_suites = \[/,/\]/p' tests/meson.build | grep -o "'[a-z_0-9]*'" | tr -d "'")
ninja -C $emu $(for s in $cpu; do echo tests/test_$s; done) || exit 1
meson test -C $emu --no-rebuild --num-processes 2 --print-errorlogs --logbase asan-cpu $cpu || status=1

./scripts/gpu_check.sh --dry-run build/gpu-check-dry || status=1

# The fuzz targets (tests/fuzz/) with clang, ASan and UBSan, 10 s each (scripts/fuzz.sh: the campaign;
# 10 s rather than 15 keeps the whole CI run under 25 minutes on 2 cores).
./scripts/fuzz.sh 10 || status=1

# Each suite's doctest footer reads "[doctest] test cases: T | P passed | F failed | S skipped".
logs=(build/meson-logs/testlog.txt $emu/meson-logs/testlog.txt $emu/meson-logs/asan-cpu.txt)
read -r passed failed < <(cat "${logs[@]}" | grep -h '^\[doctest\] test cases:' |
  awk -F'|' '{ split($2, p, " "); split($3, f, " "); P += p[1]; F += f[1] } END { print P + 0, F + 0 }')
# A suite that crashed prints no footer: count it as a failure so the line never hides it.
crashed=$(cat "${logs[@]}" | grep -cE '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT) ' || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=${crashed:-1}; [ "$failed" -eq 0 ] && failed=1; fi
# Suites that exit 77 (the gpu suites without a GPU) are skipped, not passed.
skipped=$(cat "${logs[@]}" | awk '/^Skipped:/ {s += $2} END {print s + 0}')
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
