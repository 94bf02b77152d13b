"""Helpers shared by the interop scripts that compare singa_train with PyTorch."""
import gzip
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

DATA = "/usr/share/datasets/fashion-mnist"


def load_idx(path):
    """An MNIST IDX file (gzip) as a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def initializers(path):
    """An ONNX file's initializers by name, as numpy arrays."""
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def run(cmd, timeout=600):
    """Runs cmd; exits with a FAIL line naming it and its output's tail when it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout + r.stderr
