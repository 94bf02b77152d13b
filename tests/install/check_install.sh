#!/usr/bin/env bash
# Installs the built tree into a scratch prefix and builds + runs a downstream project that uses
# find_package(singa). Usage: check_install.sh BUILD_DIR SOURCE_DIR SCRATCH_DIR
set -euo pipefail
build=$1 src=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch"
cmake --install "$build" --prefix "$scratch/prefix" > "$scratch/install.log"
cmake -S "$src/tests/install/downstream" -B "$scratch/downstream" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" > "$scratch/configure.log"
cmake --build "$scratch/downstream" > "$scratch/build.log"
"$scratch/downstream/downstream" "$scratch"
# A CUDA build's module is installed beside libsinga, where libsinga looks for it.
if [ -f "$build/libsinga_cuda.so" ]; then
  lib=$(dirname "$(find "$scratch/prefix" -name libsinga.so.0 | head -n 1)")
  [ -f "$lib/libsinga_cuda.so" ] || { echo "FAIL: the CUDA module is not installed beside libsinga ($lib)"; exit 1; }
  if ldd "$lib/libsinga_cuda.so" | grep -q 'not found'; then
    ldd "$lib/libsinga_cuda.so"; echo "FAIL: the installed CUDA module does not resolve its libraries"; exit 1
  fi
  echo "CUDA module installed: $lib/libsinga_cuda.so"
fi
