#!/usr/bin/env bash
# Transfer learning from the command line, as the ONNX tutorial does it: a CNN trained briefly and
# exported, then imported with its final layer cut, the whole imported graph frozen (--freeze base)
# and a new head trained with every fine-tuning flag at once. Checks the effect of each:
#  * --freeze base: every base.* tensor of the final checkpoint equals the ONNX file's initializer;
#  * --keep-best: CHECKPOINT_DIR/best is the epoch with the highest printed test accuracy;
#  * --early-stopping 1 with a flat accuracy (learning rates of 1e-12) stops before --epochs;
#  * patterns that select nothing are errors naming the flag;
#  * with EXAMPLE (examples/finetune_onnx, the same fine-tuning written against the library), the
#    command line reaches the example's test accuracy on the same model, data and epochs.
# Usage: finetune_cli_test.sh SINGA_TRAIN SCRATCH_DIR [EXAMPLE]
set -uo pipefail
bin=$1 scratch=$2 example=${3:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${SINGA_TEST_PYTHON:-$root/.venv/bin/python}
rm -rf "$scratch" && mkdir -p "$scratch"
failures=0 passed=0
check() {  # check NAME EXIT-CODE
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failures=$((failures + 1)); echo "FAIL $1"; fi
}
contains() { grep -q -- "$2" "$1"; }
common=(--limit-train 3200 --limit-test 1000 --batch-size 32 --threads 2 --seed 1 --momentum 0.9 --log-every 50)

"$bin" --model cnn --epochs 1 "${common[@]}" --lr 0.01 -q --export "$scratch/cnn.onnx" > "$scratch/pre.out" 2>&1
check "pretrained CNN exported" $?

ft=(--onnx "$scratch/cnn.onnx" --last-layers -1 --num-classes 10 --freeze base --head-lr 0.05 --lr 0.01
    --clip-grad-norm 5 --label-smoothing 0.1 --warmup-epochs 0.5 --lr-schedule cosine "${common[@]}")
"$bin" "${ft[@]}" --epochs 3 --keep-best --checkpoint-dir "$scratch/ck" --metrics-json "$scratch/m.json" \
  > "$scratch/ft.out" 2> "$scratch/ft.err"; rc=$?
check "fine-tuning with every flag succeeds (rc $rc)" $rc
grep -E "^epoch|^final" "$scratch/ft.out"

best_epoch=$(sed -n 's/^epoch \([0-9]*\): .*test accuracy \([0-9.]*\)%/\2 \1/p' "$scratch/ft.out" | sort -k1,1nr -k2,2n | head -1 | cut -d' ' -f2)
/usr/bin/python3 - "$scratch/ck/best/meta.json" "$scratch/m.json" "${best_epoch:-0}" <<'PY'; check "--keep-best kept the epoch with the best test accuracy (epoch ${best_epoch:-?})" $?
import json, sys
meta, metrics, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
best = meta["config"]["best"]
print("best:", best, "metrics best_epoch:", metrics.get("best_epoch"))
assert meta["epoch"] == want and best["epoch"] == want and metrics["best_epoch"] == want
assert abs(best["value"] - metrics["best_test_accuracy"]) < 1e-12
PY

/usr/bin/python3 - "$scratch/m.json" <<'PY'; check "transfer learning reaches > 60% test accuracy" $?
import json, sys
m = json.load(open(sys.argv[1]))
print("test_accuracy", m["test_accuracy"])
sys.exit(0 if m["test_accuracy"] > 0.6 else 1)
PY

if [ -n "$example" ]; then
  # The example: lr 0.01, head lr 0.02, momentum 0.9, batch 32, the first 1000 test images.
  OMP_NUM_THREADS=2 "$example" "$scratch/cnn.onnx" "$scratch/ex_ck" 3 3200 > "$scratch/ex.out" 2>&1
  check "examples/finetune_onnx runs on the same model" $?
  ex_acc=$(sed -n 's/.*: test accuracy \([0-9.]*\)%.*/\1/p' "$scratch/ex.out" | tail -1)
  /usr/bin/python3 - "$scratch/m.json" "${ex_acc:-nan}" <<'PY'; check "the command line reaches the C++ example's accuracy (example ${ex_acc:-?}%)" $?
import json, sys
cli, ex = 100 * json.load(open(sys.argv[1]))["test_accuracy"], float(sys.argv[2])
print(f"command line {cli:.2f}%, examples/finetune_onnx {ex:.2f}%")
sys.exit(0 if cli >= ex - 2.0 else 1)
PY
fi

if [ -x "$py" ]; then
  last=$(ls -d "$scratch/ck"/step-* | sort | tail -1)
  "$py" - "$scratch/cnn.onnx" "$last/model.safetensors" <<'PY'; check "--freeze base: every imported tensor is unchanged, the head trained" $?
import sys, onnx
from onnx import numpy_helper
from safetensors.numpy import load_file
inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(sys.argv[1]).graph.initializer}
ck = load_file(sys.argv[2])
base = {k[len("base."):]: v for k, v in ck.items() if k.startswith("base.")}
assert base.keys() == inits.keys(), (sorted(base), sorted(inits))
for k, v in inits.items():
    assert base[k].tobytes() == v.astype(base[k].dtype).tobytes(), f"{k} changed"
assert {"head.weight", "head.bias"} <= ck.keys()
print(f"{len(base)} imported tensors bit-identical to the ONNX file")
PY
else
  echo "skip the --freeze comparison: no Python venv at $py"
fi

ft_tiny=("${ft[@]}")
for i in "${!ft_tiny[@]}"; do case "${ft_tiny[$i]}" in --lr|--head-lr) ft_tiny[$((i + 1))]=1e-12;; esac; done
"$bin" "${ft_tiny[@]}" --epochs 5 --early-stopping 1 > "$scratch/es.out" 2>&1; rc=$?
[ $rc -eq 0 ] && contains "$scratch/es.out" "early stopping after epoch" && [ "$(grep -c '^epoch [0-9]*:' "$scratch/es.out")" -lt 5 ]
check "--early-stopping 1 ends the run before --epochs" $?
grep "early stopping" "$scratch/es.out"

"$bin" "${ft[@]}" --epochs 1 --freeze 'nothing*' > "$scratch/bad.out" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/bad.out" "--freeze 'nothing\*' selects no parameter"
check "--freeze matching nothing -> exit 1 naming the pattern and the parameters" $?
"$bin" --model cnn --epochs 1 --limit-train 64 --head-lr 0.1 > "$scratch/bad2.out" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/bad2.out" "'head' selects no parameter"
check "--head-lr on a model without a head -> exit 1 (use --head PATTERN)" $?

echo "finetune_cli_test: $passed passed, $failures failed"
[ $failures -eq 0 ]
