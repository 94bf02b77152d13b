#!/usr/bin/env python3
"""Inference latency of `singa_onnx bench` against onnxruntime on the same ONNX model, same
input shape and the same number of threads, in one run (interleaved rounds, median of each).

  .venv/bin/python launch/bench/onnx_vs_ort.py MODEL.onnx[:BATCH] ... [--threads 2] [--rounds 3]
  e.g. .venv/bin/python launch/bench/onnx_vs_ort.py resnet18_op13.onnx:1 cnn_op13.onnx:64

Models from PyTorch come from ../shared/anchors/export_models.py (`/usr/bin/python3
export_models.py DIR`). Prints per model: singa and onnxruntime median latency, and the ratio.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ort_latency(path, batch, threads, iters, warmup):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in sess.get_inputs():
        shape = [batch if (k == 0) else (d if isinstance(d, int) else 1) for k, d in enumerate(i.shape)]
        feeds[i.name] = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def singa_latency(singa_onnx, path, batch, threads, iters, warmup):
    r = subprocess.run([singa_onnx, "bench", path, "--batch", str(batch), "--threads", str(threads),
                        "--iters", str(iters), "--warmup", str(warmup)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"singa_onnx bench failed on {path}:\n{r.stdout}{r.stderr}")
    return float(re.search(r"median ([0-9.]+)", r.stdout).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="MODEL.onnx or MODEL.onnx:BATCH (default batch 1)")
    ap.add_argument("--singa-onnx", default=os.path.join(ROOT, "build", "singa_onnx"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, {args.threads} threads, "
          f"{args.rounds} interleaved rounds of {args.iters} runs")
    for spec in args.models:
        path, _, b = spec.partition(":")
        batch = int(b) if b else 1
        s, o = [], []
        for _ in range(args.rounds):
            s.append(singa_latency(args.singa_onnx, path, batch, args.threads, args.iters, 3))
            o.append(ort_latency(path, batch, args.threads, args.iters, 3))
        sm, om = statistics.median(s), statistics.median(o)
        print(f"{os.path.basename(path)} batch {batch}: singa {sm:.2f} ms, onnxruntime {om:.2f} ms, "
              f"ratio singa/ort {sm / om:.2f}")


if __name__ == "__main__":
    main()
