#!/usr/bin/env bash
# The README's test command: installs what is missing, configures, builds and runs every test
# tier (ctest labels unit, conformance, interop, dist, slurm; gpu tests skip without a GPU).
#   tests/run.sh [ctest args...]      e.g. tests/run.sh -L unit
# BUILD_DIR (default build) and CMAKE_ARGS (extra configure flags) may be set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_dir=${BUILD_DIR:-build}
launch/setup.sh --tests
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSINGA_WERROR=ON ${CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$(nproc)"
# The Python package into the project's venv, as `pip install .` builds it, reusing this build
# tree (only the extension is relinked); ctest's python_installed_package checks it. pip's
# configure keeps the tests and examples (its own default is the package alone) and CMAKE_ARGS,
# which scikit-build-core reads from the environment too.
.venv/bin/python -m pip install --quiet --no-build-isolation --no-deps --disable-pip-version-check \
  --config-settings=build-dir="$build_dir" --config-settings=cmake.define.SINGA_BUILD_TESTS=ON \
  --config-settings=cmake.define.SINGA_BUILD_EXAMPLES=ON --config-settings=cmake.define.SINGA_WERROR=ON .
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$build_dir" --output-on-failure -j 2 "$@"
