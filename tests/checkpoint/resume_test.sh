#!/usr/bin/env bash
# End-to-end checkpoint tests of singa_train (one process, CPU):
#  1. exact resume: SIGTERM mid-epoch (exit 3), resume, SIGINT in the next epoch, resume again:
#     the final parameters and optimizer state are bit-identical to an uninterrupted run;
#  2. Python's safetensors reads the checkpoint with the model's parameter names;
#  3. damaged newest checkpoint -> reported and the previous one used; a checkpoint of another
#     model -> an error naming the file and the first mismatched tensor;
#  4. kill safety: SIGKILL at random moments inside checkpoint writes (>= 20 kills that land
#     inside a write, see kill_during_writes.py); every checkpoint visible afterwards verifies,
#     no progress is lost, and training resumes.
# Usage: resume_test.sh SINGA_TRAIN CHECKPOINT_VERIFY SCRATCH_DIR
set -uo pipefail
bin=$1 verify=$2 scratch=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${SINGA_TEST_PYTHON:-$root/.venv/bin/python}
rm -rf "$scratch" && mkdir -p "$scratch"
failures=0 passed=0
check() {  # check NAME EXIT-CODE
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failures=$((failures + 1)); echo "FAIL $1"; fi
}
contains() { grep -q -- "$2" "$1"; }

common=(--limit-train 3200 --limit-test 200 --batch-size 32 --seed 5 --threads 2
        --momentum 0.9 --lr 0.02 --lr-schedule step --log-every 1)
cnn=(--model cnn --epochs 2 "${common[@]}")

# ---- 1. exact resume --------------------------------------------------------------------------
"$bin" "${cnn[@]}" --checkpoint-dir "$scratch/ref" > "$scratch/ref.out" 2> "$scratch/ref.err"; rc=$?
check "uninterrupted run succeeds (rc $rc)" $rc

# Starts a run in the background and sends SIGNAL once its log shows PATTERN; returns its exit code.
interrupt_at() {  # interrupt_at SIGNAL PATTERN LOGNAME args...
  local sig=$1 pattern=$2 log=$3; shift 3
  "$bin" "$@" > "$scratch/$log.out" 2> "$scratch/$log.err" &
  local pid=$! waited=0
  until grep -q -- "$pattern" "$scratch/$log.err" 2>/dev/null; do
    sleep 0.02; waited=$((waited + 1))
    if [ $waited -gt 3000 ] || ! kill -0 $pid 2>/dev/null; then break; fi
  done
  kill -s "$sig" $pid 2>/dev/null
  wait $pid
}
run_dir="$scratch/int"
interrupt_at TERM "epoch 1/2 step 30/100" int1 "${cnn[@]}" --checkpoint-dir "$run_dir" --checkpoint-every 7; rc=$?
[ $rc -eq 3 ] && contains "$scratch/int1.err" "stopping on signal 15"; check "SIGTERM mid-epoch -> checkpoint + exit 3 (rc $rc)" $?
grep "stopping on signal" "$scratch/int1.err"
stop_step=$(sed -n 's/.*epoch 1 step \([0-9]*\) .*/\1/p' "$scratch/int1.err")
[ -n "$stop_step" ] && [ "$stop_step" -gt 0 ] && [ "$stop_step" -lt 100 ]; check "the stop was mid-epoch (step ${stop_step:-?} of 100)" $?
interrupt_at INT "epoch 2/2 step 20/100" int2 "${cnn[@]}" --checkpoint-dir "$run_dir" --checkpoint-every 7 --resume; rc=$?
[ $rc -eq 3 ] && contains "$scratch/int2.err" "resuming from" && contains "$scratch/int2.err" "stopping on signal 2"
check "resume, then SIGINT in epoch 2 -> exit 3 (rc $rc)" $?
grep -E "resuming from|stopping on signal" "$scratch/int2.err"
"$bin" "${cnn[@]}" --checkpoint-dir "$run_dir" --checkpoint-every 7 --resume > "$scratch/int3.out" 2> "$scratch/int3.err"; rc=$?
check "second resume runs to the end (rc $rc)" $rc
grep "resuming from" "$scratch/int3.err"
"$verify" "$run_dir" > "$scratch/verify.txt"; rc=$?
check "every kept checkpoint verifies; 3 kept by default" $(( rc != 0 || $(grep -c '^ok' "$scratch/verify.txt") != 3 ))

"$py" - "$scratch/ref/step-000000000200" "$run_dir/step-000000000200" <<'PY'; check "final parameters and optimizer state bit-identical to the uninterrupted run" $?
import sys, numpy as np
from safetensors.numpy import load_file
a, b = sys.argv[1], sys.argv[2]
for f in ("model.safetensors", "optimizer.safetensors"):
    x, y = load_file(f"{a}/{f}"), load_file(f"{b}/{f}")
    assert x.keys() == y.keys(), (f, x.keys(), y.keys())
    for k in x:
        assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape, k
        assert x[k].tobytes() == y[k].tobytes(), f"{f}: {k} differs"
    print(f"{f}: {len(x)} tensors identical")
PY
tail -1 "$scratch/ref.out" | sed 's/^/  reference: /'; tail -1 "$scratch/int3.out" | sed 's/^/  resumed:   /'

# ---- 2. Python reads the checkpoint with the model's names --------------------------------------
"$py" - "$scratch/ref/step-000000000200" <<'PY'; check "Python safetensors (numpy and torch) loads the checkpoint with the model's names" $?
import json, sys
from safetensors.numpy import load_file
from safetensors import safe_open
d = sys.argv[1]
m = load_file(f"{d}/model.safetensors")
want = {"conv1.weight": (20, 1, 5, 5), "conv1.bias": (20,), "conv2.weight": (50, 20, 5, 5), "conv2.bias": (50,),
        "fc1.weight": (500, 800), "fc2.weight": (10, 500)}
got = {k: v.shape for k, v in m.items()}
assert got == want, got
assert all(str(v.dtype) == "float32" for v in m.values())
with safe_open(f"{d}/model.safetensors", framework="pt") as f:
    assert f.metadata() == {"format": "pt"}
    t = f.get_tensor("fc2.weight")
    assert tuple(t.shape) == (10, 500)
o = load_file(f"{d}/optimizer.safetensors")
assert int(o["step"]) == 200 and "fc1.weight.momentum_buffer" in o, sorted(o)
meta = json.load(open(f"{d}/meta.json"))
assert meta["epoch"] == 2 and meta["global_step"] == 200 and meta["world_size"] == 1, meta
assert meta["config"]["model"] == "cnn" and meta["config"]["seed"] == 5
print("names:", sorted(m))
PY

# ---- 3. damaged and mismatched checkpoints ------------------------------------------------------
cp -r "$run_dir" "$scratch/damaged"
newest=$(ls -d "$scratch/damaged"/step-* | sort | tail -1)
"$py" -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-3]^=0xff; open(p,'wb').write(b)" "$newest/model.safetensors"
"$bin" "${cnn[@]}" --checkpoint-dir "$scratch/damaged" --resume > "$scratch/dmg.out" 2> "$scratch/dmg.err"; rc=$?
[ $rc -eq 0 ] && contains "$scratch/dmg.err" "skipping damaged checkpoint $newest" && contains "$scratch/dmg.err" "'fc2.weight' fails its CRC-32" \
  && contains "$scratch/dmg.err" "resuming from $(ls -d "$scratch/damaged"/step-* | sort | sed -n 2p)"
check "damaged newest checkpoint reported (file and tensor), the previous one used" $?
grep -E "skipping|resuming" "$scratch/dmg.err" | cut -c1-250

"$bin" --model mlp --epochs 2 "${common[@]}" --checkpoint-dir "$run_dir" --resume > "$scratch/mm.out" 2> "$scratch/mm.err"; rc=$?
[ $rc -eq 1 ] && contains "$scratch/mm.err" "model.safetensors" && contains "$scratch/mm.err" "first mismatched tensor is 'fc1.weight'"
check "checkpoint of another model -> exit 1 naming the file and the first mismatched tensor" $?
cat "$scratch/mm.err" | cut -c1-300

mkdir -p "$scratch/trunc" && cp -r "$newest" "$scratch/trunc/"
t=$(ls -d "$scratch/trunc"/step-*)
truncate -s -1000 "$t/optimizer.safetensors"
"$bin" --model cnn --epochs 0 "${common[@]}" --checkpoint-dir "$scratch/trunc" --resume > "$scratch/tr.out" 2> "$scratch/tr.err"
contains "$scratch/tr.err" "optimizer.safetensors' is truncated" && contains "$scratch/tr.err" "first incomplete tensor is 'fc2.weight.momentum_buffer'" \
  && contains "$scratch/tr.err" "no valid checkpoint"
check "truncated checkpoint -> named file and tensor, started afresh" $?

# ---- 4. kill safety ----------------------------------------------------------------------------
kdir="$scratch/kill"
kargs=(--model mlp --epochs 100000 --limit-train 640 --limit-test 100 --batch-size 32 --seed 9 --threads 1
       --momentum 0.9 --checkpoint-every 1 --keep-checkpoints 2 --resume -q)
# The driver waits until a write is in progress, then kills at a random moment inside it; it
# adds --checkpoint-dir itself.
"$py" "$root/tests/checkpoint/kill_during_writes.py" "$bin" "$verify" "$kdir" --kills-in-write 20 -- \
  "${kargs[@]}" > "$scratch/kill.txt" 2>&1; rc=$?
tail -4 "$scratch/kill.txt"
check "at least 20 SIGKILLs inside checkpoint writes; no torn checkpoint, no lost progress (rc $rc)" $rc
lastbest=$("$verify" "$kdir" | tail -1 | sed 's/.*newest valid step \([0-9]*\).*/\1/')
interrupt_at TERM "resuming from" kf "${kargs[@]}" --checkpoint-dir "$kdir"; rc=$?
after=$("$verify" "$kdir" | tail -1 | sed 's/.*newest valid step \([0-9]*\).*/\1/')
[ $rc -eq 3 ] && [ "$after" -ge "$lastbest" ] && "$verify" "$kdir" > /dev/null
check "after the kills, training resumes and stops cleanly on SIGTERM (rc $rc, step $lastbest -> $after)" $?

echo "resume_test: $passed passed, $failures failed"
[ $failures -eq 0 ]
