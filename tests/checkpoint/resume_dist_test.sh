#!/usr/bin/env bash
# Exact resume on 2 ranks: `mpirun -np 2 singa_train` stopped by SIGTERM mid-epoch (mpirun
# forwards it to both ranks; they agree to stop at the same step and rank 0 writes a checkpoint),
# then resumed with --resume on 2 ranks, ends with parameters and optimizer state bit-identical to
# an uninterrupted 2-rank run.
# Usage: resume_dist_test.sh SINGA_TRAIN MPIEXEC SCRATCH_DIR
set -uo pipefail
bin=$1 mpiexec=$2 scratch=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${SINGA_TEST_PYTHON:-$root/.venv/bin/python}
rm -rf "$scratch" && mkdir -p "$scratch"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=("$mpiexec" -np 2 --oversubscribe)
args=(--model cnn --epochs 1 --limit-train 9600 --limit-test 200 --batch-size 32 --seed 7 --threads 1
      --momentum 0.9 --lr 0.02 --log-every 1)
# 9600 images / (2 ranks x 32) = 150 steps (slack for the signal to land mid-epoch on a fast machine).
"${mpi[@]}" "$bin" "${args[@]}" --checkpoint-dir "$scratch/ref" --checkpoint-every 10 --keep-checkpoints 2 \
  > "$scratch/ref.out" 2>&1 || {
  echo "FAIL: uninterrupted 2-rank run"; cat "$scratch/ref.out"; exit 1; }
"${mpi[@]}" "$bin" "${args[@]}" --checkpoint-dir "$scratch/int" > "$scratch/int1.out" 2>&1 &
pid=$! waited=0
until grep -q "epoch 1/1 step 20/150" "$scratch/int1.out" 2>/dev/null; do
  sleep 0.05; waited=$((waited + 1))
  if [ $waited -gt 2400 ] || ! kill -0 $pid 2>/dev/null; then break; fi
done
kill -TERM $pid 2>/dev/null
wait $pid; rc=$?
grep -E "stopping on signal|error" "$scratch/int1.out" | head -3
grep -q "stopping on signal 15" "$scratch/int1.out" || { echo "FAIL: no orderly stop on SIGTERM (rc $rc)"; tail -5 "$scratch/int1.out"; exit 1; }
"${mpi[@]}" "$bin" "${args[@]}" --checkpoint-dir "$scratch/int" --resume > "$scratch/int2.out" 2>&1 || {
  echo "FAIL: 2-rank resume"; tail -5 "$scratch/int2.out"; exit 1; }
grep "resuming from" "$scratch/int2.out"
last() { ls -d "$1"/step-* | sort | tail -1; }
"$py" - "$(last "$scratch/ref")" "$(last "$scratch/int")" <<'PY' || exit 1
import sys
from safetensors.numpy import load_file
a, b = sys.argv[1], sys.argv[2]
print("reference", a, "resumed", b)
assert a.rsplit("/", 1)[1] == b.rsplit("/", 1)[1], "different final steps"
for f in ("model.safetensors", "optimizer.safetensors"):
    x, y = load_file(f"{a}/{f}"), load_file(f"{b}/{f}")
    assert x.keys() == y.keys(), f
    for k in x:
        assert x[k].tobytes() == y[k].tobytes(), f"FAIL: {f}: {k} differs from the uninterrupted run"
    print(f"ok   {f}: {len(x)} tensors bit-identical to the uninterrupted 2-rank run")
PY

# A different world size: the reference run's checkpoint at step 140 of 150, resumed on 1 rank with
# batch 64 (the same global batch), re-shards the data order from the saved position and ends where
# the 2-rank run ends, up to the summation order of the gradient average (few steps, so rounding
# differences stay small; a wrong data position would not).
mkdir -p "$scratch/ws" && cp -r "$scratch/ref/step-000000000140" "$scratch/ws/"
args1=("${args[@]}")
for i in "${!args1[@]}"; do [ "${args1[$i]}" = "--batch-size" ] && args1[$((i + 1))]=64; done
"$bin" "${args1[@]}" --checkpoint-dir "$scratch/ws" --resume > "$scratch/ws.out" 2>&1 || {
  echo "FAIL: resuming the 2-rank checkpoint on 1 rank"; tail -5 "$scratch/ws.out"; exit 1; }
grep "resuming from" "$scratch/ws.out"
grep -q "step 140 of the epoch.*re-sharded from 2 ranks x batch 32 to 1 x 64" "$scratch/ws.out" || { echo "FAIL: no re-shard reported"; exit 1; }
"$py" - "$(last "$scratch/ref")" "$(last "$scratch/ws")" <<'PY'
import json, sys
import numpy as np
from safetensors.numpy import load_file
a, b = sys.argv[1], sys.argv[2]
assert a.rsplit("/", 1)[1] == b.rsplit("/", 1)[1], f"different final steps: {a} vs {b}"
assert json.load(open(f"{b}/meta.json"))["world_size"] == 1
x, y = load_file(f"{a}/model.safetensors"), load_file(f"{b}/model.safetensors")
assert x.keys() == y.keys()
worst = 0.0
for k in x:
    rel = float(np.abs(x[k] - y[k]).max() / max(np.abs(x[k]).max(), 1e-12))
    worst = max(worst, rel)
    assert rel <= 1e-5, f"FAIL: {k}: relative difference {rel:.2e} from the uninterrupted 2-rank run"
print(f"ok   resumed on 1 rank x batch 64: {len(x)} parameters within {worst:.1e} (relative) of the 2-rank run")
PY
