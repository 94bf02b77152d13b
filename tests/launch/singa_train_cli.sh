#!/usr/bin/env bash
# End-to-end checks of singa_train as a user meets it: help, flag errors, data errors,
# determinism for a seed, metrics JSON, benchmark output.
# Usage: singa_train_cli.sh PATH_TO_SINGA_TRAIN SCRATCH_DIR
set -uo pipefail
bin=$1 scratch=$2
rm -rf "$scratch" && mkdir -p "$scratch"
failures=0 passed=0
check() {  # check NAME CONDITION-EXIT-CODE
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failures=$((failures + 1)); echo "FAIL $1"; fi
}
contains() { grep -q -- "$2" "$1"; }

"$bin" --help > "$scratch/help.txt" 2>&1; rc=$?
check "--help exits 0" $rc
for flag in --model --data --epochs --batch-size --lr --momentum --weight-decay --optimizer --seed \
            --threads --device --limit-train --limit-test --metrics-json --benchmark; do
  contains "$scratch/help.txt" "$flag"; check "--help lists $flag" $?
done

# --version: the version, the CPU, the GEMM and the convolution kernels; a user's
# OPENBLAS_CORETYPE is named as theirs; SINGA_CONV=native names the built-in convolution kernels.
"$bin" --version > "$scratch/version.txt" 2>&1; rc=$?
[ $rc -eq 0 ] && contains "$scratch/version.txt" "^singa_train [0-9]" && contains "$scratch/version.txt" "^cpu: .*; gemm: .*; conv: "
check "--version exits 0 with the version, cpu, gemm and conv" $?
cat "$scratch/version.txt"
OPENBLAS_CORETYPE=Prescott "$bin" --version > "$scratch/version.txt" 2>&1; rc=$?
[ $rc -eq 0 ] && contains "$scratch/version.txt" "gemm: OpenBLAS .* Prescott (OPENBLAS_CORETYPE=Prescott, user's)"
check "--version with OPENBLAS_CORETYPE set -> the user's table, named as theirs" $?
SINGA_CONV=native "$bin" --version > "$scratch/version.txt" 2>&1; rc=$?
[ $rc -eq 0 ] && contains "$scratch/version.txt" "; conv: .*im2col + OpenBLAS"
check "--version with SINGA_CONV=native names the built-in convolution kernels" $?
SINGA_CONV=bogus "$bin" --version > "$scratch/version.txt" 2>&1; rc=$?
[ $rc -ne 0 ] && contains "$scratch/version.txt" "SINGA_CONV=dnnl or SINGA_CONV=native"
check "--version with SINGA_CONV=bogus fails naming the choices" $?

"$bin" --no-such-flag > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && contains "$scratch/o.txt" "no-such-flag"; check "unknown flag -> exit 2 naming it" $?
"$bin" --optimizer rmsprop > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && contains "$scratch/o.txt" "rmsprop"; check "bad --optimizer value -> exit 2" $?
"$bin" --epochs -3 > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 2 ]; check "negative --epochs -> exit 2" $?
"$bin" --batch-size 0 > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && contains "$scratch/o.txt" "batch-size: must be a finite number > 0, got 0" && [ "$(wc -c < "$scratch/o.txt")" -lt 200 ]
check "--batch-size 0 -> exit 2, a short message naming the flag" $?
"$bin" --first-bucket-mb -1 > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && contains "$scratch/o.txt" "first-bucket-mb: must be a finite number > 0, got -1"
check "negative --first-bucket-mb -> exit 2" $?
for bad in "--bucket-mb inf" "--first-bucket-mb 1e400" "--lr inf" "--weight-decay nan"; do
  "$bin" $bad > "$scratch/o.txt" 2>&1; rc=$?
  [ $rc -eq 2 ] && contains "$scratch/o.txt" "must be a finite number"; check "$bad -> exit 2" $?
done
"$bin" --lr fast > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && contains "$scratch/o.txt" "'fast' is not a number"; check "non-numeric --lr -> exit 2" $?
"$bin" --device tpu --limit-train 64 > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/o.txt" "tpu"; check "unknown --device -> exit 1 naming it" $?

"$bin" --data "$scratch/none" > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/o.txt" "train-images-idx3-ubyte" && contains "$scratch/o.txt" "apt-get install dataset-fashion-mnist"
check "missing data dir -> files listed and apt-get hint" $?

# Imported-model flags.
"$bin" --last-layers -1 --num-classes 10 --limit-train 64 > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/o.txt" "add --onnx MODEL"; check "--last-layers without --onnx -> exit 1 with the fix" $?
"$bin" --onnx "$scratch/missing.onnx" > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && contains "$scratch/o.txt" "missing.onnx"; check "missing --onnx file -> exit 2 naming it" $?
head -c 300 "$bin" > "$scratch/garbage.onnx"
"$bin" --onnx "$scratch/garbage.onnx" --limit-train 64 --limit-test 64 > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/o.txt" "garbage.onnx"; check "non-ONNX --onnx file -> exit 1 naming it" $?
"$bin" --model cnn --epochs 0 --limit-test 64 --export "$scratch/m.onnx" -q > "$scratch/o.txt" 2>&1 &&
  "$bin" --onnx "$scratch/m.onnx" --last-layers -1 --limit-test 64 > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/o.txt" "add --num-classes"; check "--last-layers without --num-classes -> exit 1 with the fix" $?
"$bin" --model cnn --epochs 1 --limit-train 64 --export /proc/none/m.onnx > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/o.txt" "/proc/none" && ! contains "$scratch/o.txt" "epoch 1"
check "unwritable --export fails before training" $?

# A truncated copy of the real training images.
mkdir -p "$scratch/trunc"
src=/usr/share/datasets/fashion-mnist
for f in train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do cp "$src/$f.gz" "$scratch/trunc/"; done
zcat "$src/train-images-idx3-ubyte.gz" | head -c 100000 > "$scratch/trunc/train-images-idx3-ubyte"
"$bin" --data "mnist:$scratch/trunc" > "$scratch/o.txt" 2>&1; rc=$?
[ $rc -eq 1 ] && contains "$scratch/o.txt" "train-images-idx3-ubyte"; check "truncated IDX -> exit 1 naming the file" $?
cat "$scratch/o.txt" | head -3

# Determinism: same seed and threads -> identical losses, bit for bit.
common=(--model cnn --epochs 1 --limit-train 6400 --limit-test 500 --seed 3 --threads 2 --momentum 0.9 --lr 0.02 --log-every 5)
"$bin" "${common[@]}" --metrics-json "$scratch/a.json" > "$scratch/a.out" 2> "$scratch/a.err"; ra=$?
"$bin" "${common[@]}" --metrics-json "$scratch/b.json" > "$scratch/b.out" 2> "$scratch/b.err"; rb=$?
[ $ra -eq 0 ] && [ $rb -eq 0 ]; check "short training runs succeed" $?
contains "$scratch/a.err" "^singa_train: model cnn .*; cpu: .*; gemm: .*; conv: "
check "the start line names the cpu, gemm and conv kernels" $?
losses() { cat "$1.out" "$1.err" | grep -oE "loss [0-9.]+( \(last [0-9.]+\))?"; }
[ "$(losses "$scratch/a" | wc -l)" -ge 20 ] && cmp -s <(losses "$scratch/a") <(losses "$scratch/b")
check "same seed -> identical printed losses (every 5 steps)" $?
/usr/bin/python3 - "$scratch/a.json" "$scratch/b.json" <<'PY'; check "same seed -> identical final_train_loss in JSON" $?
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if a["final_train_loss"] == b["final_train_loss"] else 1)
PY
"$bin" "${common[@]}" --seed 4 > "$scratch/c.out" 2>/dev/null
! cmp -s "$scratch/a.out" "$scratch/c.out"; check "different seed -> different losses" $?

# Metrics JSON keys and a sane accuracy after a short run.
/usr/bin/python3 - "$scratch/a.json" <<'PY'; check "metrics JSON has the required keys and accuracy > 0.5" $?
import json, sys
m = json.load(open(sys.argv[1]))
need = ["test_accuracy", "final_train_loss", "train_images_per_sec", "epochs", "world_size"]
missing = [k for k in need if k not in m]
print("metrics:", {k: m.get(k) for k in need}, "missing:", missing)
sys.exit(0 if not missing and m["test_accuracy"] > 0.5 and m["world_size"] == 1 and m["epochs"] == 1 else 1)
PY

"$bin" --model cnn --benchmark --benchmark-steps 5 --warmup-steps 1 --limit-train 1024 \
  --metrics-json "$scratch/bench.json" > "$scratch/bench.txt" 2>&1
contains "$scratch/bench.txt" "train_images_per_sec" && contains "$scratch/bench.txt" "peak_rss_mib"
check "--benchmark prints images/s and peak memory" $?
/usr/bin/python3 - "$scratch/bench.json" <<'PY'; check "--benchmark metrics JSON names the cpu, gemm and conv kernels" $?
import json, sys
m = json.load(open(sys.argv[1]))
print("cpu:", m.get("cpu"), "gemm:", m.get("gemm"), "conv:", m.get("conv"))
sys.exit(0 if m.get("cpu") and str(m.get("gemm", "")).startswith("OpenBLAS") and m.get("conv") else 1)
PY

echo "$passed passed, $failures failed"
[ $failures -eq 0 ]
