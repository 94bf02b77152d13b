#!/usr/bin/env bash
# The one prepared script for a GPU machine (run it first, from the repository root):
#   1. configures and builds the CUDA backend and what the checks need (build-gpu/),
#   2. runs the GPU tests (every CUDA kernel against its CPU kernel, forward and backward),
#   3. trains the tutorial CNN for one epoch with --device cuda, and on the CPU for reference,
#   4. benchmarks singa_train --benchmark --device cuda (tutorial CNN at batch 64; resnet18
#      imported from ONNX at batch 32) against PyTorch on the same GPU when PyTorch has CUDA,
# all within about 8 minutes, and writes a summary to $OUT/gpu-summary.txt (or ./gpu-summary.txt).
# Every step is time-boxed and recorded; a failing step does not stop the later ones, and the
# exit status is non-zero when any step failed.
set -u
cd "$(dirname "$0")/../.."
SUMMARY="${OUT:-.}/gpu-summary.txt"
LOGDIR="${OUT:-.}/gpu-logs"
BUILD="${SINGA_GPU_BUILD:-build-gpu}"
ARCH="${SINGA_CUDA_ARCH:-native}"
JOBS="$(nproc)"
mkdir -p "$LOGDIR"
: > "$SUMMARY"
failures=0
start=$(date +%s)

note() { echo "$*" | tee -a "$SUMMARY"; }
# step NAME TIMEOUT_S CMD... : runs CMD with a time limit, logs to $LOGDIR/NAME.log, records the result.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$LOGDIR/$name.log" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then
    note "[ok]   $name (${dt}s)"
  else
    failures=$((failures + 1))
    note "[FAIL] $name (rc $rc after ${dt}s; log $LOGDIR/$name.log)"
    tail -n 25 "$LOGDIR/$name.log" | sed 's/^/         /' | tee -a "$SUMMARY"
  fi
  return $rc
}

note "singa GPU run, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
note "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n1)"

generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
step configure 120 cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DSINGA_USE_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DSINGA_BUILD_EXAMPLES=OFF
step build 300 cmake --build "$BUILD" -j "$JOBS" --target singa_train gpu_kernels_test gpu_device_test
if [ -x "$BUILD/gpu_kernels_test" ]; then
  step gpu-device-test 60 "$BUILD/gpu_device_test"
  step gpu-kernels-test 120 "$BUILD/gpu_kernels_test"
  grep -E "^\[  (PASSED|FAILED|SKIPPED) \]" "$LOGDIR/gpu-kernels-test.log" | sed 's/^/         /' | tee -a "$SUMMARY"
fi

TRAIN="$BUILD/singa_train"
if [ -x "$TRAIN" ]; then
  step cnn-1-epoch-cuda 120 "$TRAIN" --model cnn --epochs 1 --device cuda --metrics-json "$LOGDIR/cnn_cuda.json"
  grep -E "^final:" "$LOGDIR/cnn-1-epoch-cuda.log" | sed 's/^/         cuda /' | tee -a "$SUMMARY"
  step cnn-1-epoch-cpu 150 "$TRAIN" --model cnn --epochs 1 --device cpu --threads "$JOBS" \
    --metrics-json "$LOGDIR/cnn_cpu.json"
  grep -E "^final:" "$LOGDIR/cnn-1-epoch-cpu.log" | sed 's/^/         cpu  /' | tee -a "$SUMMARY"
  step bench-cnn-cuda 60 "$TRAIN" --model cnn --benchmark --device cuda --batch-size 64 --benchmark-steps 200 \
    --warmup-steps 20
  grep -E "train_images_per_sec|ms_per_step" "$LOGDIR/bench-cnn-cuda.log" | sed 's/^/         singa cnn /' | tee -a "$SUMMARY"
fi

# PyTorch on the same GPU (Debian's torch may be CPU-only: then say so) and the resnet18 export.
R18="$LOGDIR/resnet18_train.onnx"
if step torch-cuda-bench 150 /usr/bin/python3 tests/gpu/torch_cuda_bench.py --export "$R18"; then
  grep -E "^(gpu|torch_)" "$LOGDIR/torch-cuda-bench.log" | sed 's/^/         /' | tee -a "$SUMMARY"
else
  grep -E "unavailable" "$LOGDIR/torch-cuda-bench.log" | sed 's/^/         /' | tee -a "$SUMMARY"
fi
if [ -x "$TRAIN" ] && [ -f "$R18" ]; then
  step bench-resnet18-cuda 120 "$TRAIN" --onnx "$R18" --num-classes 10 --benchmark --device cuda --batch-size 32 \
    --benchmark-steps 30 --warmup-steps 5
  grep -E "train_images_per_sec|ms_per_step" "$LOGDIR/bench-resnet18-cuda.log" | sed 's/^/         singa resnet18 /' \
    | tee -a "$SUMMARY"
fi

note "total $(( $(date +%s) - start ))s, $failures failed step(s)"
[ $failures -eq 0 ]
