#!/usr/bin/env bash
# Fine-tune an ONNX model on your own images, on 2 ranks, with checkpoints, resume and export.
#
#   examples/finetune_images.sh IMAGE_DIR [MODEL.onnx] [OUT_DIR] [EPOCHS]
#
# IMAGE_DIR holds one folder of .jpg/.jpeg/.png files per class (IMAGE_DIR/<class>/...), or
# IMAGE_DIR/train/<class>/... and IMAGE_DIR/val/<class>/... for a separate validation split.
# MODEL.onnx is any image classifier with one [N, C, H, W] input (default: torchvision's resnet18,
# exported here by Debian's PyTorch with random weights, since nothing is downloaded; give your own
# pretrained export to fine-tune for real). Its final layer is cut and replaced by a new head with
# one output per class; the imported graph trains at --lr and the head at --head-lr.
#
# CROP=224 examples/finetune_images.sh ... feeds 224 x 224 crops (the model's input is resized to
# match; --input-size). Run it again with the same OUT_DIR to continue from the newest checkpoint (after SIGTERM, a
# crash, or to add epochs). The fine-tuned model is written to OUT_DIR/finetuned.onnx.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
images=${1:?usage: finetune_images.sh IMAGE_DIR [MODEL.onnx] [OUT_DIR] [EPOCHS]}
model=${2:-}
out=${3:-finetune_out}
epochs=${4:-3}
crop=${CROP:-64}             # images are cropped to CROP x CROP (224 for a model trained on ImageNet)
resize=$((crop * 9 / 8))     # after resizing the shorter side to 9/8 of it, as ImageNet recipes do
bin=${SINGA_TRAIN:-$root/build/singa_train}
mkdir -p "$out"
if [ -z "$model" ]; then
  model=$out/resnet18.onnx
  if [ ! -f "$model" ]; then
    echo "exporting torchvision's resnet18 (random weights) to $model"
    /usr/bin/python3 - "$model" <<'PY'
import sys, torch, torchvision
m = torchvision.models.resnet18().eval()
torch.onnx.export(m, torch.zeros(1, 3, 64, 64), sys.argv[1], opset_version=13, input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
PY
  fi
fi
# One class per subfolder (of train/ when there is one).
classes_dir=$images
[ -d "$images/train" ] && classes_dir=$images/train
classes=$(find "$classes_dir" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l)
echo "fine-tuning $model on $classes classes from $images"

export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
mpirun -np 2 --oversubscribe --bind-to none "$bin" \
  --onnx "$model" --last-layers -1 --num-classes "$classes" --input-size "$crop" \
  --data "imagefolder:$images" --resize "$resize" --crop "$crop" --random-crop --hflip --normalize imagenet \
  --epochs "$epochs" --batch-size 16 --lr 0.005 --momentum 0.9 --head-lr 0.02 \
  --warmup-epochs 0.5 --lr-schedule cosine --label-smoothing 0.1 --threads 1 \
  --checkpoint-dir "$out/checkpoints" --checkpoint-every 50 --keep-best --resume \
  --metrics-json "$out/metrics.json" --export "$out/finetuned.onnx"
