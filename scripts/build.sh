#!/usr/bin/env bash
# scripts/build.sh: install what is missing (Debian 12 packages), then configure and build fm.cpp
# in ./build (release). Safe to run again: it only installs and reconfigures when needed.
set -euo pipefail
cd "$(dirname "$0")/.."

# libpng-dev: PNG folders as training data; librsvg2-bin: the plot test renders SVG with rsvg-convert;
# python3-torch and python3-numpy: the 'torch' test suite (scripts/fm_torch.py against fm), skipped without them;
# libopenmpi-dev and openmpi-bin: data-parallel training under mpirun and the 'mpi' suite.
packages=(g++ meson ninja-build pkg-config doctest-dev zlib1g-dev libpng-dev dataset-fashion-mnist librsvg2-bin python3-torch python3-numpy
          libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build.sh: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release "$@"
elif [ $# -gt 0 ]; then
  meson configure build "$@"
fi
ninja -C build
