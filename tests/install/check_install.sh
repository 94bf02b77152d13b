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
