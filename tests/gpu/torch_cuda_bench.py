#!/usr/bin/env python3
"""PyTorch peer for the GPU benchmark: the same training work as singa_train --benchmark, same device.

  cnn       the tutorial CNN (conv 1->20 5x5, ReLU, maxpool 2, conv 20->50 5x5, ReLU, maxpool 2,
            flatten, linear 800->500 no bias, ReLU, linear 500->10 no bias), batch 64, 1x28x28
  resnet18  ResNet-18 (torchvision's architecture, defined below so torchvision is not needed) with
            its 1000-class fc replaced by Linear(512, 10), BatchNorm in training mode, batch 32,
            3x224x224 -- what `singa_train --onnx resnet18.onnx --last-layers -1 --num-classes 10`
            trains from the exported file
Both: SGD lr 0.01, momentum --momentum (default 0.9: pass the same to singa_train), random inputs
and labels, --warmup untimed steps then --steps timed ones; TF32 off for cuBLAS and cuDNN (singa's
CUDA default, unless SINGA_CUDA_ALLOW_TF32=1). GPU timings synchronise around the timed steps.

--export PATH writes the 1000-class ResNet-18 (random weights, eval(), BatchNormalization kept, no
constant folding, opset 13) to ONNX FIRST, before anything that can fail or return early, with the
TorchScript exporter (dynamo=False where torch.onnx.export has that argument: torch >= 2.9 defaults
to the dynamo exporter, which writes opset >= 18 and needs onnxscript); only if that fails, with the
dynamo exporter at opset 18.

Prints "key value" lines (torch_cnn_train_images_per_sec, torch_resnet18_train_images_per_sec, ...).
Exit status: 0; 1 when the export failed (the benchmarks still ran); 2 when --device cuda has no GPU.
Usage: python3 torch_cuda_bench.py [--device cuda|cpu] [--export resnet18.onnx] [--steps N] [--warmup W]
"""
import argparse
import inspect
import os
import sys
import time

import torch
import torch.nn as nn


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(800, 500, bias=False), nn.ReLU(),
        nn.Linear(500, 10, bias=False),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision.models.resnet18's layers, names and forward (its weight init is not copied)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256, 1))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512, 1))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def export_resnet18(path):
    """Writes the 1000-class ResNet-18 to ONNX (what singa_train --onnx imports; it cuts the fc)."""
    torch.manual_seed(0)
    model = ResNet18().eval()
    kwargs = dict(opset_version=13, input_names=["input"], output_names=["output"], do_constant_folding=False,
                  training=torch.onnx.TrainingMode.PRESERVE,
                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    params = inspect.signature(torch.onnx.export).parameters
    if "dynamo" in params:
        kwargs["dynamo"] = False  # torch >= 2.9 would use the dynamo exporter (opset >= 18, onnxscript)
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        dropped = sorted(k for k in kwargs if k not in params)
        if dropped:
            print(f"export: this torch.onnx.export has no {', '.join(dropped)}; left out")
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    tmp = path + ".part"
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            torch.onnx.export(model, (torch.rand(1, 3, 224, 224),), tmp, **kwargs)
    except Exception as e:
        if "dynamo" not in kwargs:
            raise
        # A torch without the TorchScript exporter: the dynamo one (opset 18, needs onnxscript).
        print(f"export with dynamo=False failed ({type(e).__name__}: {e}); trying dynamo=True, opset 18")
        kwargs = dict(opset_version=18, input_names=["input"], output_names=["output"], dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},))
        with torch.no_grad():
            torch.onnx.export(model, (torch.rand(2, 3, 224, 224),), tmp, **kwargs)
    os.replace(tmp, path)
    print(f"exported {path} ({os.path.getsize(path)} bytes, {time.perf_counter() - t0:.1f} s, "
          f"dynamo={kwargs.get('dynamo', 'n/a')})")


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_training(model, shape, classes, steps, warmup, dev, momentum):
    model = model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(*shape, device=dev)
    y = torch.randint(0, classes, (shape[0],), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    sync(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    loss.item()
    sync(dev)
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--export", default="", help="write the ResNet-18 ONNX file here first")
    ap.add_argument("--steps", type=int, default=50, help="timed ResNet-18 steps (the CNN runs 4x as many)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed warm-up steps (the CNN runs 2x as many)")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--models", default="cnn,resnet18")
    args = ap.parse_args()
    print(f"torch_version {torch.__version__}")
    status = 0
    if args.export:
        try:
            export_resnet18(args.export)
        except Exception as e:  # report it, and still measure PyTorch
            print(f"export failed: {type(e).__name__}: {e}")
            status = 1
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if args.device == "cuda" and not torch.cuda.is_available():
        print("torch_cuda unavailable (this PyTorch build has no CUDA or no GPU is visible)")
        return 2
    dev = torch.device(args.device)
    torch.manual_seed(0)
    if dev.type == "cuda":
        print(f"gpu {torch.cuda.get_device_name(0)}")
    else:
        print(f"torch_threads {torch.get_num_threads()}")
    print(f"torch_allow_tf32 matmul {torch.backends.cuda.matmul.allow_tf32} cudnn {torch.backends.cudnn.allow_tf32}"
          f" cudnn_benchmark {torch.backends.cudnn.benchmark}")
    print(f"torch_momentum {args.momentum}")
    models = args.models.split(",")
    if "cnn" in models:
        s = time_training(cnn(), (64, 1, 28, 28), 10, args.steps * 4, args.warmup * 2, dev, args.momentum)
        print(f"torch_cnn_train_images_per_sec {64 / s:.1f}")
        print(f"torch_cnn_ms_per_step {1000 * s:.3f}")
    if "resnet18" in models:
        torch.manual_seed(0)
        r18 = ResNet18()
        r18.fc = nn.Linear(512, 10)
        s = time_training(r18, (32, 3, 224, 224), 10, args.steps, args.warmup, dev, args.momentum)
        print(f"torch_resnet18_train_ms_per_step {1000 * s:.3f}")
        print(f"torch_resnet18_train_images_per_sec {32 / s:.1f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
