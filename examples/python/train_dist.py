#!/usr/bin/env python3
"""Data-parallel training of the tutorial CNN from Python with ``opt.DistOpt``:

    mpirun -np 2 python3 examples/python/train_dist.py            # 2 ranks, global batch 64
    python3 examples/python/train_dist.py                         # 1 process, the same global batch

Every rank draws the same shuffled order and trains on its share of each global batch
(``global_batch / world_size`` images); DistOpt averages the gradients over the ranks, so the
ranks take the steps one process takes with the whole global batch. ``--trainer`` trains through
``singa.Trainer`` instead of the Python loop (the library's loop, data loader and gradient buckets).
Rank 0 evaluates on the test set and prints ``accuracy <x>``; every rank prints a digest of its
parameters (they are equal on every rank). Fashion-MNIST comes from the Debian package
dataset-fashion-mnist (``--data`` names another folder of IDX files).
"""
import argparse
import gzip
import hashlib
import os
import time

import numpy as np

import singa
from singa import autograd, data, device, opt, sonnx, tensor


def read_idx(folder, stem):
    """An IDX file (plain or .gz) as a NumPy array (images [N, 1, rows, cols] uint8, labels [N])."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with (gzip.open(path, "rb") if name.endswith(".gz") else open(path, "rb")) as f:
                raw = f.read()
            magic, n = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
            if magic == 2049:
                return np.frombuffer(raw, np.uint8, n, 8)
            if magic == 2051:
                rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
                return np.frombuffer(raw, np.uint8, n * rows * cols, 16).reshape(n, 1, rows, cols)
            raise ValueError("%s: not an IDX image or label file (magic %d)" % (path, magic))
    raise FileNotFoundError("%s(.gz) not found in %s (install dataset-fashion-mnist or pass --data)" % (stem, folder))


class CNN:
    """The tutorial's CNN: two 5x5 convolutions with max pooling, two fully connected layers."""

    def __init__(self):
        self.conv1 = autograd.Conv2d(1, 20, 5, padding=0)
        self.conv2 = autograd.Conv2d(20, 50, 5, padding=0)
        self.linear1 = autograd.Linear(4 * 4 * 50, 500)
        self.linear2 = autograd.Linear(500, 10)
        self.pooling1 = autograd.MaxPool2d(2, 2, padding=0)
        self.pooling2 = autograd.MaxPool2d(2, 2, padding=0)

    def forward(self, x):
        y = self.pooling1(autograd.relu(self.conv1(x)))
        y = self.pooling2(autograd.relu(self.conv2(y)))
        y = autograd.relu(self.linear1(autograd.flatten(y)))
        return self.linear2(y)


def digest(model):
    h = hashlib.sha256()
    for p in singa.trainer.parameters_of(model):
        h.update(p.numpy().tobytes())
    return h.hexdigest()[:16]


def evaluate(model, x, y, batch=500):
    autograd.training = False
    correct = 0
    with autograd.no_grad():
        for i in range(0, len(x), batch):
            out = model.forward(tensor.from_numpy(x[i:i + batch]))
            correct += int((out.numpy().argmax(axis=1) == y[i:i + batch]).sum())
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("SINGA_DATA_DIR", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--global-batch", type=int, default=64, help="images per step over all ranks")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trainer", action="store_true", help="train through singa.Trainer")
    ap.add_argument("--export", default="", help="rank 0 writes the trained model here as ONNX")
    a = ap.parse_args()

    sgd = opt.DistOpt(opt.SGD(lr=a.lr, momentum=a.momentum))
    rank, world = sgd.global_rank, sgd.world_size
    if a.global_batch % world:
        raise SystemExit("train_dist.py: --global-batch %d is not divisible by the %d ranks" % (a.global_batch, world))
    local = a.global_batch // world
    train_x = read_idx(a.data, "train-images-idx3-ubyte")[:a.limit or None]
    train_y = read_idx(a.data, "train-labels-idx1-ubyte")[:a.limit or None].astype(np.int64)
    test_x = (read_idx(a.data, "t10k-images-idx3-ubyte") / np.float32(255)).astype(np.float32)
    test_y = read_idx(a.data, "t10k-labels-idx1-ubyte")
    tensor.manual_seed(a.seed)
    model = CNN()
    sgd.sync_parameters(model)  # every rank starts from rank 0's initial parameters
    if rank == 0:
        print("rank 0 of %d: global batch %d (%d per rank), %d training images, %s"
              % (world, a.global_batch, local, len(train_x), "singa.Trainer" if a.trainer else "Python loop"),
              flush=True)
    start = time.time()
    if a.trainer:
        trainer = singa.Trainer(model, sgd, epochs=a.epochs, batch_size=local, seed=a.seed, quiet=True)
        trainer.fit(data.from_numpy(train_x, train_y))
    else:
        steps = len(train_x) // a.global_batch
        for epoch in range(a.epochs):
            order = np.random.default_rng(a.seed + epoch).permutation(len(train_x))  # the same on every rank
            autograd.training = True
            for s in range(steps):
                mine = order[s * a.global_batch + rank * local:s * a.global_batch + (rank + 1) * local]
                x = tensor.from_numpy((train_x[mine] / np.float32(255)).astype(np.float32))
                y = tensor.from_numpy(train_y[mine])
                loss = autograd.softmax_cross_entropy(model.forward(x), y)
                sgd(loss)
                if rank == 0 and s % 100 == 0:
                    print("epoch %d step %d/%d loss %.4f" % (epoch + 1, s, steps, loss.numpy()[0]), flush=True)
    seconds = time.time() - start
    print("rank %d parameters %s" % (rank, digest(model)), flush=True)
    if rank == 0:
        print("accuracy %.4f (%.1f s training)" % (evaluate(model, test_x, test_y), seconds), flush=True)
        if a.export:
            autograd.training = False
            x = tensor.from_numpy(test_x[:1])
            onnx_model = sonnx.to_onnx([x], [model.forward(x)])
            with open(a.export, "wb") as f:
                f.write(onnx_model.SerializeToString())
            print("exported %s" % a.export)


if __name__ == "__main__":
    main()
