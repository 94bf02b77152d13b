#!/usr/bin/python3
"""PyTorch peer for the GPU benchmark, same work as singa_train --benchmark on the same GPU:

  cnn       the tutorial CNN (conv 1->20 5x5, ReLU, maxpool 2, conv 20->50 5x5, ReLU, maxpool 2,
            flatten, linear 800->500 no bias, ReLU, linear 500->10 no bias), SGD lr 0.01, batch 64,
            28x28 inputs: training images/s
  resnet18  torchvision resnet18 (10 classes), SGD, batch 32, 224x224 inputs: training ms/step;
            with --export PATH also writes the model to ONNX (BatchNormalization kept, opset 13)
            for singa_train --onnx to train the same network

Prints "key value" lines. Timings synchronise the GPU around the timed steps (cuda.synchronize).
Usage: /usr/bin/python3 torch_cuda_bench.py [--steps N] [--warmup W] [--export resnet18.onnx]
"""
import argparse
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


def time_training(model, shape, classes, steps, warmup, dev):
    model = model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
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
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    loss.item()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--export", default="")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_cuda unavailable (this PyTorch build has no CUDA or no GPU is visible)")
        return 2
    dev = torch.device("cuda")
    torch.manual_seed(0)
    print(f"torch_version {torch.__version__}")
    print(f"gpu {torch.cuda.get_device_name(0)}")
    print(f"torch_allow_tf32 {torch.backends.cuda.matmul.allow_tf32}")
    s = time_training(cnn(), (64, 1, 28, 28), 10, args.steps * 4, args.warmup, dev)
    print(f"torch_cnn_train_images_per_sec {64 / s:.1f}")
    print(f"torch_cnn_ms_per_step {1000 * s:.3f}")
    try:
        import torchvision
    except ImportError:
        print("torch_resnet18 unavailable (no torchvision)")
        return 0
    r18 = torchvision.models.resnet18(weights=None, num_classes=10)
    if args.export:
        r18.eval()
        torch.onnx.export(r18, torch.rand(1, 3, 224, 224), args.export, opset_version=13, input_names=["input"],
                          output_names=["output"], do_constant_folding=False,
                          training=torch.onnx.TrainingMode.PRESERVE,
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        print(f"exported {args.export}")
    s = time_training(r18, (32, 3, 224, 224), 10, args.steps, args.warmup, dev)
    print(f"torch_resnet18_train_ms_per_step {1000 * s:.3f}")
    print(f"torch_resnet18_train_images_per_sec {32 / s:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
