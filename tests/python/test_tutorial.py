"""SINGA's ONNX tutorial (examples/python/onnx_tutorial.py: the tutorial's code, with local
Fashion-MNIST IDX files and the CPU device) end to end against the package, and its first stage
against the C++ trainer at the same settings (singa_train: SGD lr 0.001 without momentum, batch
64, one epoch in file order, seed 0): accuracies within 0.5 points."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIMIT = 12800  # training images per stage (the test set is whole)


def _stages(text):
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^stage (\w+) accuracy ([0-9.]+)$", text, re.M)}


def test_tutorial_flow_end_to_end_and_against_the_cpp_trainer(tmp_path):
    singa_train = os.environ.get("SINGA_TRAIN")
    data = os.environ.get("SINGA_DATA_DIR", "/usr/share/datasets/fashion-mnist")
    if not os.path.isdir(data):
        pytest.skip("no Fashion-MNIST at %s (install dataset-fashion-mnist)" % data)
    env = dict(os.environ, SINGA_TUTORIAL_LIMIT=str(LIMIT), SINGA_TUTORIAL_DIR=str(tmp_path), OMP_NUM_THREADS="2")
    run = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", "onnx_tutorial.py")], env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    acc = _stages(run.stdout)
    assert set(acc) == {"trained", "imported", "retrained", "transfer"}, run.stdout[-2000:]
    assert os.path.isfile(tmp_path / "mnist.onnx")
    # The imported model is the trained one: the same predictions.
    assert acc["imported"] == acc["trained"]
    # Re-training (lr 0.01) improves on the first epoch (lr 0.001); transfer learning learns.
    assert acc["retrained"] > acc["trained"] + 0.05
    assert acc["transfer"] > 0.2  # chance is 0.1
    if not singa_train:
        pytest.skip("SINGA_TRAIN (the singa_train binary) not given: no C++ comparison")
    cpp = subprocess.run([singa_train, "--model", "cnn", "--lr", "0.001", "--momentum", "0", "--batch-size", "64",
                          "--epochs", "1", "--no-shuffle", "--seed", "0", "--limit-train", str(LIMIT),
                          "--data", data, "--threads", "2", "-q"], capture_output=True, text=True, timeout=600)
    assert cpp.returncode == 0, cpp.stderr
    m = re.search(r"final: test accuracy ([0-9.]+)%", cpp.stdout)
    assert m, cpp.stdout
    cpp_acc = float(m.group(1)) / 100
    # The tutorial's test() leaves out the last partial batch (9984 of 10000 images).
    assert abs(acc["trained"] - cpp_acc) <= 0.005, "python %.4f vs C++ %.4f" % (acc["trained"], cpp_acc)
