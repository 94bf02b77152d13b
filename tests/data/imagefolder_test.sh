#!/usr/bin/env bash
# Image folders end to end through singa_train (folders written by PIL: write_image_folders.py).
#  1. A model trained on the Fashion-MNIST IDX files, exported to ONNX, evaluated on the same test
#     images as a folder of PNGs and as IDX files: the same accuracy to the last digit. Training
#     from the PNG folder (1 epoch, momentum 0.9) reaches the IDX run's accuracy within 2 points
#     (the folder lists images class by class, so the seeded shuffle orders them differently: the
#     two runs have been 0.89 and 1.00 points apart; a broken pipeline is tens of points off).
#  2. Every colour mode and size (gray, gray+alpha, RGB, RGBA, palette, 16-bit PNG; gray, RGB and
#     CMYK JPEG) trains with --resize --crop --random-crop --hflip --normalize on 2 workers, with
#     top-1/top-5 and the pipeline's figures in the metrics file; --benchmark-data runs.
#  3. Bad data: a truncated JPEG, a truncated PNG, a text file named .png and an empty class folder
#     each stop the run with an error naming the file; --skip-bad-samples trains on, with a warning
#     that counts them; --val-data labels beyond the model's classes fail before training.
#  4. mpirun -np 2 on the PNG folder with augmentation, stopped by SIGTERM mid-epoch and resumed,
#     ends bit-identical to an uninterrupted 2-rank run.
# Exit 77 (skipped) without the Python venv.
# Usage: imagefolder_test.sh SINGA_TRAIN MPIEXEC SCRATCH_DIR
set -uo pipefail
bin=$1 mpiexec=$2 scratch=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${SINGA_TEST_PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || { echo "skip: no Python venv at $py (launch/setup.sh --tests)"; exit 77; }
rm -rf "$scratch" && mkdir -p "$scratch"
fail() { echo "FAIL: $*"; exit 1; }
gen="$root/tests/data/write_image_folders.py"
metric() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# ---- 1. the same images as PNG files and as IDX files -------------------------------------------
"$py" "$gen" fmnist "$scratch/fm" || fail "writing the Fashion-MNIST PNG folders"
common=(--model cnn --epochs 1 --batch-size 64 --lr 0.01 --momentum 0.9 --seed 0 --threads 2 -q)
"$bin" "${common[@]}" --data fashion-mnist --export "$scratch/idx.onnx" --metrics-json "$scratch/idx.json" \
  > "$scratch/idx.out" 2>&1 || { cat "$scratch/idx.out"; fail "training on the IDX files"; }
for d in fashion-mnist "imagefolder:$scratch/fm"; do
  tag=$([ "$d" = fashion-mnist ] && echo idx || echo png)
  "$bin" --onnx "$scratch/idx.onnx" --epochs 0 --data "$d" --threads 2 -q --metrics-json "$scratch/eval_$tag.json" \
    > "$scratch/eval_$tag.out" 2>&1 || { cat "$scratch/eval_$tag.out"; fail "evaluating on $d"; }
done
a_idx=$(metric "$scratch/eval_idx.json" test_accuracy) a_png=$(metric "$scratch/eval_png.json" test_accuracy)
l_idx=$(metric "$scratch/eval_idx.json" test_loss) l_png=$(metric "$scratch/eval_png.json" test_loss)
echo "exported model on the test images: IDX accuracy $a_idx loss $l_idx, PNG folder accuracy $a_png loss $l_png"
[ "$a_idx" = "$a_png" ] || fail "accuracy on the PNG folder ($a_png) differs from the IDX files ($a_idx)"
"$bin" "${common[@]}" --data "$scratch/fm" --metrics-json "$scratch/png.json" > "$scratch/png.out" 2>&1 ||
  { cat "$scratch/png.out"; fail "training on the PNG folder (a plain directory of class folders)"; }
"$py" - "$scratch/idx.json" "$scratch/png.json" <<'PY' || fail "training from the PNG folder vs the IDX files"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print(f"1 epoch, momentum 0.9: IDX files {100 * a['test_accuracy']:.2f}%, PNG folder {100 * b['test_accuracy']:.2f}% "
      f"(top-5 {100 * b['val_top5']:.2f}%), pipeline {b['data_images_per_sec']:.0f} images/s on {b['data_workers']} workers, "
      f"steps waited {b['data_wait_seconds']:.2f} s for data")
assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 0.02, "more than 2 points apart"
assert b["val_top1"] == b["test_accuracy"] and b["val_top5"] >= b["val_top1"]
assert b["data_workers"] >= 1 and b["data_images_per_sec"] > 0
PY
echo "ok   1: same accuracy to the last digit; training from the folder within 2 points"

# ---- 2. every colour mode and size, with augmentation -------------------------------------------
"$py" "$gen" mixed "$scratch/mixed" || fail "writing the mixed folder"
aug=(--resize 32 --crop 28 --random-crop --hflip --normalize 0.5,0.5,0.5:0.25,0.25,0.25 --workers 2)
"$bin" --model cnn --epochs 3 --batch-size 16 --lr 0.02 --momentum 0.9 --seed 1 --threads 1 -q \
  --data "imagefolder:$scratch/mixed" "${aug[@]}" --metrics-json "$scratch/mixed.json" > "$scratch/mixed.out" 2>&1 ||
  { cat "$scratch/mixed.out"; fail "training on the mixed folder"; }
"$py" - "$scratch/mixed.json" <<'PY' || fail "mixed folder metrics"
import json, sys
m = json.load(open(sys.argv[1]))
print(f"mixed modes and sizes, 3 classes, 3 epochs: val top-1 {100 * m['val_top1']:.1f}%, top-5 {100 * m['val_top5']:.1f}%")
assert m["val_top1"] > 0.6, "the corner-square classes were not learnt"
assert m["val_top5"] == 1.0  # 3 classes
PY
"$bin" --data "imagefolder:$scratch/mixed" "${aug[@]}" --batch-size 16 --benchmark-data --benchmark-steps 20 \
  --warmup-steps 2 --metrics-json "$scratch/bd.json" > "$scratch/bd.out" 2>&1 || { cat "$scratch/bd.out"; fail "--benchmark-data"; }
grep -q "^data_images_per_sec [0-9]" "$scratch/bd.out" || fail "--benchmark-data printed no figure"
echo "ok   2: $(grep data_images_per_sec "$scratch/bd.out")"

# ---- 3. bad data ---------------------------------------------------------------------------------
cp -r "$scratch/mixed/train" "$scratch/bad" && "$py" "$gen" bad "$scratch/bad" || fail "writing the bad folder"
run_bad() { "$bin" --model cnn --epochs 1 --batch-size 16 --threads 1 -q --data "$scratch/bad" --resize 32 --crop 28 \
  --val-data "$scratch/mixed/val" "$@" > "$scratch/bad.out" 2>&1; }
run_bad && fail "an empty class folder was accepted"
grep -q "class folder '.*c3_empty' has no .jpg, .jpeg or .png files" "$scratch/bad.out" || { cat "$scratch/bad.out"; fail "empty folder message"; }
rmdir "$scratch/bad/c3_empty"
for f in c0/zz_truncated.jpg c0/zz_truncated.png c1/zz_not_an_image.png; do
  mv "$scratch/bad/$f" "$scratch/$(basename "$f")"
done
for f in c0/zz_truncated.jpg c0/zz_truncated.png c1/zz_not_an_image.png; do  # one bad file at a time
  mv "$scratch/$(basename "$f")" "$scratch/bad/$f"
  run_bad; rc=$?
  [ $rc = 1 ] || { cat "$scratch/bad.out"; fail "$f: exit code $rc, expected 1 (an error)"; }
  grep -q "$f" "$scratch/bad.out" || { cat "$scratch/bad.out"; fail "the error does not name $f"; }
  echo "     $f: $(grep -m1 "$f" "$scratch/bad.out" | cut -c1-160)"
  mv "$scratch/bad/$f" "$scratch/$(basename "$f")"
done
for f in c0/zz_truncated.jpg c0/zz_truncated.png c1/zz_not_an_image.png; do mv "$scratch/$(basename "$f")" "$scratch/bad/$f"; done
mkdir "$scratch/bad/c3_empty"
run_bad --skip-bad-samples --workers 2 || { cat "$scratch/bad.out"; fail "--skip-bad-samples did not train on"; }
grep -q "skipped 3 bad samples in epoch 1" "$scratch/bad.out" || { cat "$scratch/bad.out"; fail "no count of the skipped samples"; }
grep -q "warning: class folder .*c3_empty" "$scratch/bad.out" || { cat "$scratch/bad.out"; fail "no warning for the empty class"; }
# Labels beyond the model's classes: a validation set with a class the training set lacks.
mkdir -p "$scratch/val4" && cp -r "$scratch/mixed/val/." "$scratch/val4/" && cp -r "$scratch/mixed/val/c2" "$scratch/val4/c9"
"$bin" --model cnn --epochs 1 --batch-size 16 --threads 1 -q --data "$scratch/mixed/train" --resize 32 --crop 28 \
  --val-data "$scratch/val4" > "$scratch/val4.out" 2>&1 && fail "validation labels beyond the model's classes were accepted"
grep -q "class folder 'c9' that its training split does not have" "$scratch/val4.out" ||
  { cat "$scratch/val4.out"; fail "the error does not name the extra class folder"; }
# A validation set lacking a class keeps the training set's label for the others.
mkdir -p "$scratch/val2" && cp -r "$scratch/mixed/val/c0" "$scratch/mixed/val/c2" "$scratch/val2/"
"$bin" --model cnn --epochs 2 --batch-size 16 --lr 0.02 --momentum 0.9 --seed 1 --threads 1 -q --data "$scratch/mixed/train" \
  --resize 32 --crop 28 --val-data "$scratch/val2" --metrics-json "$scratch/val2.json" > "$scratch/val2.out" 2>&1 ||
  { cat "$scratch/val2.out"; fail "validation set with two of the three classes"; }
"$py" -c "import json,sys; a=json.load(open(sys.argv[1]))['val_top1']; print('val set without class c1:', a); assert a > 0.6" \
  "$scratch/val2.json" || fail "a validation set lacking a class is labelled by its own folders"
echo "ok   3: bad files named, skipped with a count, labels beyond the model refused"

# ---- 4. two ranks, resume mid-epoch on the folder ------------------------------------------------
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=("$mpiexec" -np 2 --oversubscribe --bind-to none)
args=(--model cnn --epochs 1 --limit-train 9600 --limit-test 200 --batch-size 32 --seed 7 --threads 1 --workers 1
      --momentum 0.9 --lr 0.02 --log-every 1 --data "imagefolder:$scratch/fm" --resize 30 --crop 28 --random-crop --hflip)
"${mpi[@]}" "$bin" "${args[@]}" --checkpoint-dir "$scratch/ref" --checkpoint-every 10 --keep-checkpoints 2 \
  > "$scratch/ref.out" 2>&1 || { tail -20 "$scratch/ref.out"; fail "uninterrupted 2-rank run"; }
"${mpi[@]}" "$bin" "${args[@]}" --checkpoint-dir "$scratch/int" > "$scratch/int1.out" 2>&1 &
pid=$! waited=0
until grep -q "epoch 1/1 step 20/150" "$scratch/int1.out" 2>/dev/null; do
  sleep 0.05; waited=$((waited + 1))
  if [ $waited -gt 2400 ] || ! kill -0 $pid 2>/dev/null; then break; fi
done
kill -TERM $pid 2>/dev/null
wait $pid
grep -q "stopping on signal 15" "$scratch/int1.out" || { tail -5 "$scratch/int1.out"; fail "no orderly stop on SIGTERM"; }
"${mpi[@]}" "$bin" "${args[@]}" --checkpoint-dir "$scratch/int" --resume > "$scratch/int2.out" 2>&1 ||
  { tail -5 "$scratch/int2.out"; fail "2-rank resume"; }
grep "resuming from" "$scratch/int2.out"
last() { ls -d "$1"/step-* | sort | tail -1; }
"$py" - "$(last "$scratch/ref")" "$(last "$scratch/int")" <<'PY' || fail "resumed run differs"
import sys
from safetensors.numpy import load_file
a, b = sys.argv[1], sys.argv[2]
assert a.rsplit("/", 1)[1] == b.rsplit("/", 1)[1], "different final steps"
for f in ("model.safetensors", "optimizer.safetensors"):
    x, y = load_file(f"{a}/{f}"), load_file(f"{b}/{f}")
    assert x.keys() == y.keys(), f
    for k in x:
        assert x[k].tobytes() == y[k].tobytes(), f"{f}: {k} differs from the uninterrupted run"
PY
echo "ok   4: 2 ranks on the PNG folder with augmentation, resumed mid-epoch: bit-identical to the uninterrupted run"
