#!/usr/bin/env bash
# Data-parallel figures of issue 4, in one run:
#  (a) the DistributedOptimizer's gradient exchange against a bare MPI_Allreduce of the same bytes
#      (algbw, busbw = algbw x 2(n-1)/n, ratio), from build/tests/bench_allreduce;
#  (b) CNN training throughput, -np 2 (1 thread per rank) against -np 1 (1 thread), same per-rank
#      batch, `singa_train --benchmark`;
#  (c) the share of all-reduce time hidden behind backward: default buckets (the first closes at
#      1 MiB, so for this CNN [fc2, fc1] is exchanged while the convolutions' backward runs, then
#      [conv2, conv1]); and --first-bucket-mb 25, one bucket exchanged after backward.
# Usage: launch/bench/dist_scaling.sh [BUILD_DIR] [BATCH] [STEPS] [ROUNDS]   (defaults: build 32 200 3)
# (b) alternates -np 1 and -np 2 for ROUNDS rounds and compares the medians, so a burst of load
# from elsewhere on a shared machine hits both sides. Needs at least 2 cores.
set -euo pipefail
build=${1:-build} batch=${2:-32} steps=${3:-200} rounds=${4:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np 2 --bind-to core)
train=("$build/singa_train" --model cnn --benchmark --benchmark-steps "$steps" --batch-size "$batch" --threads 1)
ips() { sed -n 's/^train_images_per_sec \([0-9.]*\)/\1/p'; }

echo "== (a) gradient exchange vs bare MPI_Allreduce (2 ranks)"
"${mpi[@]}" "$build/tests/bench_allreduce" 30

echo "== (b) training throughput, batch $batch per rank, 1 thread per rank, $steps timed steps, $rounds rounds"
ones=() twos=()
for r in $(seq 1 "$rounds"); do
  one=$("${train[@]}" | ips)
  out=$("${mpi[@]}" "${train[@]}" 2>&1)
  two=$(echo "$out" | ips)
  echo "round $r: np 1 $one images/s, np 2 $two images/s"
  ones+=("$one") twos+=("$two")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m1=$(median "${ones[@]}") m2=$(median "${twos[@]}")
awk -v a="$m1" -v b="$m2" 'BEGIN { printf "median np 1 %.1f, np 2 %.1f images/s: np 2 / np 1 = %.2fx (target >= 1.8x)\n", a, b, b / a }'

echo "== (c) all-reduce hidden behind backward"
echo "$out" | grep "gradient exchange:" | sed 's/^/default buckets (1 MiB first, then 25 MB): /'
"${mpi[@]}" "${train[@]}" --first-bucket-mb 25 2>&1 | grep -E "gradient exchange:|train_images_per_sec" \
  | sed 's/^/--first-bucket-mb 25 (one bucket): /'
