#!/usr/bin/env bash
# Arrays as users save them: Fashion-MNIST written by numpy.save (uint8 images [N, 1, 28, 28],
# int64 labels; the test labels as int32), trained with --data npy:... --val-data npy:..., reaches
# the IDX run's test accuracy and final loss to the last digit (the same images in the same order
# with the same seed). The same arrays in two safetensors files written by the safetensors package
# (--data safetensors:FILE, --val-data safetensors:FILE:x,y) train to the same digits. Also CIFAR-10 binary files written by numpy in the official record layout
# train through --data cifar10:DIR. Exit 77 (skipped) without the Python venv.
# Usage: npy_train_test.sh SINGA_TRAIN SCRATCH_DIR
set -euo pipefail
bin=$1 scratch=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${SINGA_TEST_PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || { echo "skip: no Python venv at $py (launch/setup.sh --tests)"; exit 77; }
rm -rf "$scratch" && mkdir -p "$scratch/cifar"
"$py" - "$scratch" <<'PY'
import gzip, sys, numpy as np
out, src = sys.argv[1], "/usr/share/datasets/fashion-mnist/"
def idx(name, offset):
    return np.frombuffer(gzip.open(src + name).read(), dtype=np.uint8, offset=offset)
tx = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:3200]
ty = idx("train-labels-idx1-ubyte.gz", 8)[:3200].astype(np.int64)
vx = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:1000]
vy = idx("t10k-labels-idx1-ubyte.gz", 8)[:1000].astype(np.int32)
for name, a in (("train_x", tx), ("train_y", ty), ("test_x", vx), ("test_y", vy)):
    np.save(f"{out}/{name}.npy", np.ascontiguousarray(a))
from safetensors.numpy import save_file
save_file({"images": np.ascontiguousarray(tx), "labels": ty}, f"{out}/train.safetensors")
save_file({"x": np.ascontiguousarray(vx), "y": vy}, f"{out}/test.safetensors", metadata={"split": "t10k[:1000]"})
# CIFAR-10 records: a label byte, then 32 x 32 red, green, blue. Class c: a bright 8 x 8 square
# at cell c of a 4 x 4 grid, over noise.
rng = np.random.default_rng(0)
def batch(n):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    img = rng.integers(0, 60, (n, 3, 32, 32)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, q = c // 4 * 8, c % 4 * 8
        img[i, :, r:r + 8, q:q + 8] += 180
    return np.concatenate([labels[:, None], img.reshape(n, -1)], axis=1).tobytes()
for b in range(1, 6):
    open(f"{out}/cifar/data_batch_{b}.bin", "wb").write(batch(400))
open(f"{out}/cifar/test_batch.bin", "wb").write(batch(500))
PY
common=(--model cnn --epochs 1 --batch-size 64 --lr 0.01 --seed 0 --threads 2 -q)
"$bin" "${common[@]}" --data fashion-mnist --limit-train 3200 --limit-test 1000 > "$scratch/idx.out"
"$bin" "${common[@]}" --data "npy:$scratch/train_x.npy,$scratch/train_y.npy" \
  --val-data "npy:$scratch/test_x.npy,$scratch/test_y.npy" > "$scratch/npy.out"
idx=$(grep '^final:' "$scratch/idx.out" | sed 's/, [0-9]* train images.s//')
npy=$(grep '^final:' "$scratch/npy.out" | sed 's/, [0-9]* train images.s//')
echo "IDX: $idx"
echo "npy: $npy"
[ -n "$idx" ] && [ "$idx" = "$npy" ] || { echo "FAIL: the .npy run differs from the IDX run"; exit 1; }
"$bin" "${common[@]}" --data "safetensors:$scratch/train.safetensors" \
  --val-data "safetensors:$scratch/test.safetensors:x,y" > "$scratch/safetensors.out"
st=$(grep '^final:' "$scratch/safetensors.out" | sed 's/, [0-9]* train images.s//')
echo "safetensors: $st"
[ "$st" = "$npy" ] || { echo "FAIL: the safetensors run differs from the .npy run"; exit 1; }
# Without --val-data an npy data set has no test split: said so, not a 0% accuracy.
"$bin" "${common[@]}" --data "npy:$scratch/train_x.npy,$scratch/train_y.npy" --limit-train 640 > "$scratch/noval.out"
grep -q '^final: no test data (add --val-data)' "$scratch/noval.out" || { cat "$scratch/noval.out"; echo "FAIL: no-test message"; exit 1; }
"$bin" --model cnn --epochs 2 --batch-size 32 --lr 0.01 --momentum 0.9 --seed 0 --threads 2 -q \
  --data "cifar10:$scratch/cifar" > "$scratch/cifar.out"
grep '^final:' "$scratch/cifar.out"
acc=$(sed -n 's/^final: test accuracy \([0-9.]*\)%.*/\1/p' "$scratch/cifar.out")
/usr/bin/python3 -c "import sys; sys.exit(0 if float('${acc:-0}') > 90 else 1)" || { echo "FAIL: CIFAR-10 accuracy ${acc:-?}% <= 90%"; exit 1; }
echo "npy_train_test passed"
