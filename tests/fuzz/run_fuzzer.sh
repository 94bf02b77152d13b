#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its committed seed corpus, and replays the
# committed crash regressions (tests/fuzz/regressions/<target>/) first.
# Usage: run_fuzzer.sh FUZZER SEED_CORPUS_DIR WORK_DIR SECONDS [MORE_SEED_DIRS...]
# New corpus entries go to WORK_DIR/corpus (the committed seeds are never modified); a crash is
# written to WORK_DIR/crash-* and fails the run. Prints the executions count ("stat::...") and the
# coverage reached (the last "cov: ... ft: ..." status line). Longer runs by hand, e.g. 10 minutes
# with ONNX's own node models as extra seeds:
#   run_fuzzer.sh build-asan/tests/fuzz_onnx_exec tests/fuzz/corpus/onnx_exec /tmp/f 600 \
#                 tests/hostile/inputs/models /usr/share/libonnx-testdata/data/node
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
extra=()
for d in "$@"; do [ -d "$d" ] && extra+=("$d"); done
name=$(basename "$seeds")
regressions=$(cd "$(dirname "$0")" && pwd)/regressions/$name
rm -rf "$work" && mkdir -p "$work/corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
  "$fuzzer" -rss_limit_mb=2048 -timeout=20 "$regressions"/* 2>&1 | tail -3
  echo "replayed $(ls "$regressions" | wc -l) crash regressions"
fi
# A fixed seed (SINGA_FUZZ_SEED, default 1) makes a CI run reproducible: the same binary and corpus
# explore the same inputs in the same order, so a red run can be replayed; 0 lets libFuzzer pick.
"$fuzzer" -seed="${SINGA_FUZZ_SEED:-1}" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=20 -max_len=65536 \
          -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" "${extra[@]}" > "$work/log.txt" 2>&1 || {
  tail -60 "$work/log.txt"
  echo "run_fuzzer: $name found a crash; input saved in $work (add it to tests/fuzz/regressions/$name and fix)"
  exit 1
}
grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^#[0-9]+.*DONE" "$work/log.txt"
# Coverage at the end: edges (cov) and features (ft) libFuzzer reached.
grep -E "^#[0-9]+.*cov: " "$work/log.txt" | tail -1
echo "corpus: $(ls "$seeds" | wc -l) seeds -> $(ls "$work/corpus" | wc -l) new entries"
