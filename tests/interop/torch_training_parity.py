"""singa trains exactly like PyTorch: the tutorial CNN with singa's initial weights (exported to
ONNX before training) and the data in file order is trained for 40 steps of plain SGD both by
`singa_train --no-shuffle` and by PyTorch (Debian's torch, the same CNN as
../shared/anchors/torch_cnn.py). Every logged step loss, the final parameters (exported after
training) and the test accuracy must agree within float32 round-off.

Usage: python torch_training_parity.py --singa-train PATH --out DIR
"""
import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np

from interop_util import DATA, initializers, load_idx

STEPS, BATCH = 40, 64
NAMES = {"0.weight": "conv1.weight", "0.bias": "conv1.bias", "3.weight": "conv2.weight",
         "3.bias": "conv2.bias", "7.weight": "fc1.weight", "9.weight": "fc2.weight"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--singa-train", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        import torch
        import torch.nn as nn
        torch.zeros(1).numpy()
    except Exception as e:  # noqa: BLE001
        print(f"SKIPPED: PyTorch is not usable here ({e}); run launch/setup.sh --tests")
        return 77
    os.makedirs(args.out, exist_ok=True)
    init, final = os.path.join(args.out, "init.onnx"), os.path.join(args.out, "final.onnx")
    common = [args.singa_train, "--model", "cnn", "--seed", "5", "--lr", "0.01", "--threads", "1",
              "--limit-test", "1000", "--no-shuffle", "--log-every", "1"]
    subprocess.run(common + ["--epochs", "0", "--export", init, "-q"], check=True, capture_output=True)
    r = subprocess.run(common + ["--epochs", "1", "--limit-train", str(STEPS * BATCH), "--export", final,
                                 "--metrics-json", os.path.join(args.out, "m.json")],
                       check=True, capture_output=True, text=True)
    singa_losses = [float(x) for x in re.findall(r"\(last ([0-9.]+)\)", r.stdout + r.stderr)]
    singa_acc = json.load(open(os.path.join(args.out, "m.json")))["test_accuracy"]

    torch.set_num_threads(1)
    model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5), nn.ReLU(),
                          nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(800, 500, bias=False), nn.ReLU(),
                          nn.Linear(500, 10, bias=False))
    w0 = initializers(init)
    model.load_state_dict({k: torch.from_numpy(w0[v].copy()) for k, v in NAMES.items()})
    x = torch.from_numpy(load_idx(f"{DATA}/train-images-idx3-ubyte.gz")[: STEPS * BATCH].astype(np.float32) / 255.0)
    y = torch.from_numpy(load_idx(f"{DATA}/train-labels-idx1-ubyte.gz")[: STEPS * BATCH].astype(np.int64))
    x = x.unsqueeze(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    lossf = nn.CrossEntropyLoss()
    torch_losses = []
    for i in range(STEPS):
        opt.zero_grad()
        loss = lossf(model(x[i * BATCH:(i + 1) * BATCH]), y[i * BATCH:(i + 1) * BATCH])
        loss.backward()
        opt.step()
        torch_losses.append(loss.item())
    xt = torch.from_numpy(load_idx(f"{DATA}/t10k-images-idx3-ubyte.gz")[:1000].astype(np.float32) / 255.0).unsqueeze(1)
    yt = torch.from_numpy(load_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz")[:1000].astype(np.int64))
    model.eval()
    with torch.no_grad():
        torch_acc = (model(xt).argmax(1) == yt).float().mean().item()

    failures = []
    if len(singa_losses) != STEPS:
        failures.append(f"singa_train logged {len(singa_losses)} step losses, expected {STEPS}")
    else:
        # singa logs 4 decimals: allow that rounding plus float32 drift.
        worst = max(abs(a - b) for a, b in zip(singa_losses, torch_losses))
        print(f"step losses: max |singa - torch| = {worst:.2e} over {STEPS} steps "
              f"(first {singa_losses[0]:.4f}/{torch_losses[0]:.4f}, last {singa_losses[-1]:.4f}/{torch_losses[-1]:.4f})")
        if worst > 2e-4:
            failures.append(f"step losses differ by up to {worst:.2e}")
    w1 = initializers(final)
    state = model.state_dict()
    for k, v in NAMES.items():
        got, want = w1[v], state[k].numpy()
        err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-12)
        print(f"{v}: max relative difference after training {err:.2e}")
        if err > 1e-4:
            failures.append(f"{v} differs from PyTorch's by {err:.2e} (relative to its largest value)")
    print(f"test accuracy on 1000 images: singa {singa_acc:.4f}, torch {torch_acc:.4f}")
    if abs(singa_acc - torch_acc) > 0.0015:
        failures.append(f"test accuracy {singa_acc} vs PyTorch {torch_acc}")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
