#!/usr/bin/env python3
"""Training images/s of the tutorial CNN from Python (the singa package, the tutorial's loop:
Tensor from NumPy, forward, softmax_cross_entropy, backward, SGD update) against singa_train
--benchmark with the same settings (batch 64, SGD lr 0.01 without momentum, same threads),
interleaved rounds, best of each; prints both and the ratio (issue 19 asks >= 0.9x).

  PYTHONPATH=build/python .venv/bin/python launch/bench/python_vs_cpp.py [--threads 2] [--rounds 3]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np


def python_rate(steps, warmup, batch):
    from singa import autograd, opt, tensor

    class CNN:
        def __init__(self):
            self.conv1 = autograd.Conv2d(1, 20, 5)
            self.conv2 = autograd.Conv2d(20, 50, 5)
            self.linear1 = autograd.Linear(800, 500, bias=False)
            self.linear2 = autograd.Linear(500, 10, bias=False)
            self.pool = autograd.MaxPool2d(2, 2)

        def forward(self, x):
            y = self.pool(autograd.relu(self.conv1(x)))
            y = self.pool(autograd.relu(self.conv2(y)))
            y = autograd.relu(self.linear1(autograd.flatten(y)))
            return self.linear2(y)

    rng = np.random.default_rng(0)
    xs = rng.random((8, batch, 1, 28, 28), dtype=np.float32)
    ys = rng.integers(0, 10, (8, batch)).astype(np.int64)
    model, sgd = CNN(), opt.SGD(lr=0.01)
    autograd.training = True

    def step(i):
        x = tensor.Tensor(data=xs[i % 8])
        t = tensor.Tensor(data=ys[i % 8])
        loss = autograd.softmax_cross_entropy(model.forward(x), t)
        for p, g in autograd.backward(loss):
            sgd.update(p, g)
        sgd.step()
        return loss

    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    loss.item()
    return steps * batch / (time.perf_counter() - t0)


def cpp_rate(singa_train, steps, warmup, batch, threads):
    out = subprocess.run([singa_train, "--model", "cnn", "--benchmark", "--benchmark-steps", str(steps),
                          "--warmup-steps", str(warmup), "--batch-size", str(batch), "--lr", "0.01",
                          "--momentum", "0", "--threads", str(threads)], capture_output=True, text=True, check=True)
    return float(re.search(r"train_images_per_sec ([0-9.]+)", out.stdout).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--singa-train", default=os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                             "singa_train"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    py, cpp = [], []
    for r in range(a.rounds):
        # The Python side runs in a child so that OMP_NUM_THREADS applies before the library loads.
        out = subprocess.run([sys.executable, __file__, "--child", str(a.steps), str(a.warmup), str(a.batch)],
                             capture_output=True, text=True, check=True, env=dict(os.environ))
        py.append(float(out.stdout.strip().splitlines()[-1]))
        cpp.append(cpp_rate(a.singa_train, a.steps, a.warmup, a.batch, a.threads))
        print("round %d: python %.1f, singa_train %.1f images/s" % (r + 1, py[-1], cpp[-1]))
    print("python_images_per_sec %.1f\nsinga_train_images_per_sec %.1f\nratio %.2f" % (max(py), max(cpp),
                                                                                     max(py) / max(cpp)))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(python_rate(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    else:
        main()
