#!/usr/bin/env bash
# examples/finetune_onnx under `mpirun -np 2`: fine-tunes an exported CNN for one epoch, then the
# same command with 2 epochs resumes from the checkpoint and trains only the second; the earlier
# best epoch is remembered across the resume, and the frozen imported graph is identical in both
# checkpoints (when the Python venv is there to read them).
# Usage: finetune_onnx_test.sh SINGA_TRAIN FINETUNE_ONNX MPIEXEC SCRATCH_DIR
set -uo pipefail
train=$1 example=$2 mpiexec=$3 scratch=$4
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${SINGA_TEST_PYTHON:-$root/.venv/bin/python}
rm -rf "$scratch" && mkdir -p "$scratch"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=("$mpiexec" --bind-to none -np 2 --oversubscribe)
fail() { echo "FAIL: $*"; exit 1; }

"$train" --model cnn --epochs 1 --limit-train 2000 --limit-test 100 --threads 1 -q --export "$scratch/cnn.onnx" \
  > "$scratch/pre.out" 2>&1 || { cat "$scratch/pre.out"; fail "exporting the CNN"; }
"${mpi[@]}" "$example" "$scratch/cnn.onnx" "$scratch/ck" 1 640 > "$scratch/run1.out" 2>&1 || {
  cat "$scratch/run1.out"; fail "first run"; }
cat "$scratch/run1.out"
grep -q "on 2 ranks" "$scratch/run1.out" || fail "not 2 ranks"
"${mpi[@]}" "$example" "$scratch/cnn.onnx" "$scratch/ck" 2 640 > "$scratch/run2.out" 2>&1 || {
  cat "$scratch/run2.out"; fail "resumed run"; }
cat "$scratch/run2.out"
grep -q "finetune_onnx: resuming from $scratch/ck/step-" "$scratch/run2.out" || fail "no resume"
grep -q "^epoch 1:" "$scratch/run2.out" && fail "the resumed run trained epoch 1 again"
grep -q "^epoch 2:" "$scratch/run2.out" || fail "no second epoch"
[ -f "$scratch/ck/best/meta.json" ] || fail "no best checkpoint"
best() { sed -n 's/.*, best \([0-9.]*\)%.*/\1/p' "$1"; }
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) >= float(sys.argv[1]) else 1)" \
  "$(best "$scratch/run1.out")" "$(best "$scratch/run2.out")" || fail "the resumed run forgot the earlier best epoch"
if [ -x "$py" ]; then
  steps=($(ls -d "$scratch/ck"/step-* | sort))
  "$py" - "${steps[0]}/model.safetensors" "${steps[-1]}/model.safetensors" <<'PY' || fail "frozen base changed"
import sys
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
base = [k for k in a if k.startswith("base.")]
assert base and all(a[k].tobytes() == b[k].tobytes() for k in base)
assert a["head.weight"].tobytes() != b["head.weight"].tobytes()
print(f"ok   {len(base)} frozen tensors identical across epochs; the head trained")
PY
fi
echo "finetune_onnx test passed"
