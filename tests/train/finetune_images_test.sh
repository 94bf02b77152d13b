#!/usr/bin/env bash
# examples/finetune_images.sh as a user runs it: resnet18 (exported by Debian's PyTorch) fine-tuned
# on 2 ranks on a small image folder of mixed colour modes and sizes (write_image_folders.py),
# 1 epoch, then the same command with 2 epochs resumes from the checkpoint and trains one more;
# the exported model imports and evaluates on the folder to the accuracy the run reported.
# Exit 77 (skipped) without Debian's PyTorch or the Python venv.
# Usage: finetune_images_test.sh SINGA_TRAIN SCRATCH_DIR
set -uo pipefail
bin=$1 scratch=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${SINGA_TEST_PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || { echo "skip: no Python venv at $py (launch/setup.sh --tests)"; exit 77; }
/usr/bin/python3 -c "import torch, torchvision" 2>/dev/null || { echo "skip: no python3-torchvision"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
"$py" "$root/tests/data/write_image_folders.py" mixed "$scratch/images" || fail "writing the image folder"
export SINGA_TRAIN=$bin
"$root/examples/finetune_images.sh" "$scratch/images" "" "$scratch/out" 1 > "$scratch/run1.out" 2>&1 ||
  { tail -20 "$scratch/run1.out"; fail "the example's first run"; }
grep -q "^epoch 1: " "$scratch/run1.out" || { cat "$scratch/run1.out"; fail "no epoch line"; }
"$root/examples/finetune_images.sh" "$scratch/images" "" "$scratch/out" 2 > "$scratch/run2.out" 2>&1 ||
  { tail -20 "$scratch/run2.out"; fail "the example's second run (resume)"; }
grep -q "resuming from .*epoch 1 done\|resuming from" "$scratch/run2.out" || { cat "$scratch/run2.out"; fail "did not resume"; }
grep -q "^epoch 2: " "$scratch/run2.out" && ! grep -q "^epoch 1: " "$scratch/run2.out" ||
  { cat "$scratch/run2.out"; fail "the resumed run did not continue with epoch 2 only"; }
[ -f "$scratch/out/finetuned.onnx" ] && [ -d "$scratch/out/checkpoints/best" ] || fail "no export or best checkpoint"
# The export evaluates (one process) on the validation split as the run reported.
"$bin" --onnx "$scratch/out/finetuned.onnx" --epochs 0 --data "imagefolder:$scratch/images" --resize 72 --crop 64 \
  --normalize imagenet --threads 2 -q --metrics-json "$scratch/eval.json" > "$scratch/eval.out" 2>&1 ||
  { cat "$scratch/eval.out"; fail "evaluating the export"; }
"$py" - "$scratch/out/metrics.json" "$scratch/eval.json" <<'PY' || fail "the export's accuracy differs from the run's"
import json, sys
run, ev = (json.load(open(p)) for p in sys.argv[1:3])
print(f"fine-tuned resnet18: run {100 * run['test_accuracy']:.2f}%, exported model {100 * ev['test_accuracy']:.2f}%")
assert abs(run["test_accuracy"] - ev["test_accuracy"]) < 1e-9
PY
echo "finetune_images test passed"
