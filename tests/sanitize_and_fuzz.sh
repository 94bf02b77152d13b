#!/usr/bin/env bash
# CI's second build: AddressSanitizer + UndefinedBehaviorSanitizer with clang-14, CPU only
# (-DSINGA_USE_CUDA=OFF, the configuration the CUDA issue asks CI to check), running the unit
# tests and then each libFuzzer target for SINGA_FUZZ_SECONDS (default 30) from its seed corpus.
#   tests/sanitize_and_fuzz.sh            (ASAN_BUILD_DIR defaults to build-asan)
# Needs clang-14 and libclang-rt-14-dev (launch/setup.sh --tests installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_dir=${ASAN_BUILD_DIR:-build-asan}
seconds=${SINGA_FUZZ_SECONDS:-30}
# Coverage for the fuzzers everywhere but the kernels' per-element loops (see the ignore list).
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -fsanitize=fuzzer-no-link"
flags="$flags -fsanitize-coverage-ignorelist=$root/tests/fuzz/coverage_ignorelist.txt -g1"
t0=$(date +%s)
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DSINGA_USE_CUDA=OFF -DSINGA_BUILD_PYTHON=OFF -DSINGA_BUILD_EXAMPLES=OFF -DSINGA_BUILD_FUZZERS=ON -DSINGA_FUZZ_SECONDS="$seconds"
cmake --build "$build_dir" -j "$(nproc)"
t1=$(date +%s)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Leaks inside Open MPI's and protobuf's own static state are not ours; everything else fails.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The unit tier's GoogleTest executables (the end-to-end scripts run in the Release build).
ctest --test-dir "$build_dir" --output-on-failure -j 2 -L unit -E "singa_train_cli|example_|checkpoint_resume|checkpoint_hostile_resume|install_|hostile_inputs|data_npy_cifar_train|train_finetune_cli"
t2=$(date +%s)
fuzz_rc=0
ctest --test-dir "$build_dir" --output-on-failure -j 2 -L fuzz -V > "$build_dir/fuzz.log" 2>&1 || fuzz_rc=$?
grep -E "stat::number_of_executed_units|corpus:|replayed|found a crash|tests passed|Passed|Failed" "$build_dir/fuzz.log" || true
if [ "$fuzz_rc" != 0 ]; then
  # The sanitizer's report of each failing fuzzer (ctest -V prefixes its lines with the test number).
  for n in $(sed -n 's/^ *[0-9]*\/[0-9]* Test *#\([0-9]*\): .*\*\*\*Failed.*/\1/p' "$build_dir/fuzz.log"); do
    echo "---- fuzz test #$n, last lines ----"
    grep "^$n: " "$build_dir/fuzz.log" | tail -80
  done
fi
t3=$(date +%s)
echo "sanitize_and_fuzz: build $((t1 - t0)) s, sanitized unit tests $((t2 - t1)) s, fuzzers $((t3 - t2)) s"
exit $fuzz_rc
