#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job —
# train the tutorial CNN on Fashion-MNIST, export it to ONNX, re-import the ONNX file and
# evaluate it, then fine-tune the imported model for one more epoch.
#   launch/quickstart.sh            (BUILD_DIR, default build, and OUT_DIR, default out, may be set)
#   launch/quickstart.sh --installed  the same job with singa_train and singa_onnx from PATH (an
#                                     installed singa, e.g. in the Docker image): no setup, no build
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case ${1:-} in
  "") cd "$root"
      build_dir=${BUILD_DIR:-build}
      launch/setup.sh
      cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
      cmake --build "$build_dir" -j "$(nproc)"
      train=$build_dir/singa_train onnx=$build_dir/singa_onnx ;;
  --installed)
      if ! train=$(command -v singa_train) || ! onnx=$(command -v singa_onnx); then
        echo "quickstart.sh: --installed needs singa_train and singa_onnx on PATH (cmake --install)" >&2
        exit 1
      fi ;;
  *) echo "quickstart.sh: unknown option '$1' (use --installed or nothing)" >&2; exit 2 ;;
esac
out=${OUT_DIR:-out}
mkdir -p "$out"
echo "== 1. train the tutorial CNN (1 epoch, SGD momentum 0.9) and export it"
"$train" --model cnn --epochs 1 --batch-size 64 --lr 0.01 --momentum 0.9 --seed 0 \
  --export "$out/cnn.onnx" --metrics-json "$out/train.json"
echo "== 2. the exported model, as ONNX sees it"
"$onnx" info "$out/cnn.onnx"
echo "== 3. re-import it and evaluate (no training)"
"$train" --onnx "$out/cnn.onnx" --epochs 0
echo "== 4. fine-tune the imported model one more epoch and export it again"
"$train" --onnx "$out/cnn.onnx" --epochs 1 --lr 0.005 --momentum 0.9 --export "$out/cnn_finetuned.onnx"
