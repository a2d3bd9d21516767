#!/usr/bin/env bash
# scripts/test.sh: build (installing what is missing), run every test suite with `meson test`,
# and end with one summary line "N passed, N failed, N skipped" counting the doctest test cases
# (and, as skipped, the suites that exit 77).
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh || exit 1

meson test -C build --num-processes 2 --print-errorlogs "$@"
status=$?

# Each suite's doctest footer reads "[doctest] test cases: T | P passed | F failed | S skipped".
read -r passed failed < <(grep -h '^\[doctest\] test cases:' build/meson-logs/testlog.txt |
  awk -F'|' '{ split($2, p, " "); split($3, f, " "); P += p[1]; F += f[1] } END { print P + 0, F + 0 }')
# A suite that crashed prints no footer: count it as a failure so the line never hides it.
crashed=$(grep -cE '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT) ' build/meson-logs/testlog.txt 2>/dev/null || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=${crashed:-1}; [ "$failed" -eq 0 ] && failed=1; fi
# Suites that exit 77 (the gpu suite without a GPU) are skipped, not passed.
skipped=$(awk '/^Skipped:/ {print $2}' build/meson-logs/testlog.txt 2>/dev/null)
echo "$passed passed, $failed failed, ${skipped:-0} skipped"
exit $status
