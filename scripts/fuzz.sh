#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS]: the fuzzing campaign. Builds tests/fuzz/'s libFuzzer targets with clang
# under AddressSanitizer and UBSan (build-fuzz: -Dfuzz=enabled, a debug build without the x86 SIMD
# kernels, which no parser reaches), then runs each target for SECONDS (default 600) from its seed
# corpus, on a working copy of it (build-fuzz/corpus/NAME) so the repository's corpus stays small.
# An input that crashes, leaks, trips a sanitizer, allocates over 1 GiB at once (-malloc_limit_mb)
# or runs over 10 s lands in build-fuzz/findings/NAME/; keep it as tests/fuzz/regressions/NAME/ once
# fixed (every build replays those). Ends with a table: target, executions, findings; exits 1 on any.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
build=build-fuzz
need=()
command -v clang++ > /dev/null || need+=(clang)
dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "install ok installed" || need+=(libclang-rt-14-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" > /dev/null || exit 1
fi
if [ ! -f $build/build.ninja ]; then
  CC=clang CXX=clang++ meson setup $build --buildtype=debug -Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false \
    -Dmpi=disabled -Dcuda=disabled -Dsimd_x86=false > /dev/null || exit 1
fi
targets=$(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" tests/fuzz/meson.build | tr -d "'" | tr ',' ' ')
ninja -C $build $(for t in $targets; do echo tests/fuzz/fuzz_$t; done) > $build/fuzz-build.log 2>&1 || { tail -30 $build/fuzz-build.log; exit 1; }

status=0
table="| target | seconds | executions | findings |\n|---|---:|---:|---:|\n"
for t in $targets; do
  corpus=$build/corpus/$t findings=$build/findings/$t
  mkdir -p "$corpus" "$findings"
  log=$build/fuzz-$t.log
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    $build/tests/fuzz/fuzz_$t "$corpus" tests/fuzz/corpus/$t -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -artifact_prefix="$findings/" -print_final_stats=1 \
    -close_fd_mask=1 -fork=1 -ignore_crashes=1 > "$log" 2>&1
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
  [ "$runs" -eq 0 ] && runs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
  found=$(find "$findings" -type f | wc -l)
  [ "$found" -gt 0 ] && status=1
  echo "fuzz: $t: ${runs:-0} executions in $seconds s, $found findings ($log)"
  table+="| $t | $seconds | ${runs:-0} | $found |\n"
done
printf "$table"
exit $status
