#!/usr/bin/env bash
# scripts/gpu_kit.sh [DIR]: gathers what a bare GPU machine lacks to build and test fm.cpp into DIR
# (default build-kit/, git-ignored, about 2 MB): the headers of zlib, libpng and doctest and the
# static libraries of zlib and libpng, from this (Debian) machine's packages. meson.build falls back
# to the kit wherever the system has none of them; scripts/gpu_check.sh needs it on the GPU machine
# (carry build-kit there with the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
kit=${1:-build-kit}
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
missing=()
for p in zlib1g-dev libpng-dev doctest-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu_kit: installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rm -rf "$kit"
mkdir -p "$kit/include" "$kit/lib"
cp -L /usr/include/zlib.h /usr/include/zconf.h /usr/include/png.h /usr/include/pngconf.h /usr/include/pnglibconf.h "$kit/include/"
cp -rL /usr/include/doctest "$kit/include/"
cp -L "/usr/lib/$multiarch/libz.a" "/usr/lib/$multiarch/libpng16.a" "$kit/lib/"
echo "gpu_kit: $(du -sh "$kit" | cut -f1) in $kit: $(cd "$kit" && find . -type f | sort | xargs)"
