"""Checks the models that interop_export_fixtures exported: each must pass the ONNX checker with
full_check (strict shape inference) and give, under onnxruntime, the engine's own outputs.

Usage: python check_export.py FIXTURE_DIR [--singa-onnx PATH]
FIXTURE_DIR/<model>/model_op<N>.onnx, input_<i>.pb, output_<i>.pb (written by the engine).
With --singa-onnx, each model is also imported back (`singa_onnx run`) and must reproduce the
engine's outputs within the same tolerance (the export -> import round trip).
Floats must agree within rtol 1e-5 and atol 1e-5; other dtypes exactly. Models whose graph
input and outputs all lead with the symbolic "batch" dim are also run on the first rows of the
batch, which must give the first rows of the engine's outputs (the batch is not baked in).
"""
import argparse
import glob
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

RTOL = 1e-5
ATOL = 1e-5


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def numbered(folder, prefix):
    paths = sorted(glob.glob(os.path.join(folder, prefix + "_*.pb")),
                   key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0]))
    return [load_pb(p) for p in paths]


def compare(label, got, want):
    """Returns a list of failure strings."""
    if got.shape != want.shape:
        return [f"{label}: shape {got.shape} != engine {want.shape}"]
    if got.dtype != want.dtype:
        return [f"{label}: dtype {got.dtype} != engine {want.dtype}"]
    if np.issubdtype(want.dtype, np.floating):
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        bound = ATOL + RTOL * np.abs(want.astype(np.float64))
        if not np.all(diff <= bound) or np.isnan(got).any() != np.isnan(want).any():
            i = np.unravel_index(np.argmax(diff - bound), diff.shape)
            at = tuple(int(j) for j in i)
            return [f"{label}: max |diff| {diff.max():.3g} (at {at}: ort {float(got[i]):.8g} engine {float(want[i]):.8g}) "
                    f"exceeds atol {ATOL} + rtol {RTOL}"]
        return []
    if not np.array_equal(got, want):
        return [f"{label}: {np.count_nonzero(got != want)} of {want.size} values differ"]
    return []


def leads_with_batch(values):
    for v in values:
        dims = v.type.tensor_type.shape.dim
        if not dims or dims[0].dim_param != "batch":
            return False
    return True


def check_model(path, inputs, outputs):
    failures = []
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 - report any checker failure
        return [f"{path}: onnx.checker (full_check) failed: {e}"]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    if len(names) != len(inputs):
        return [f"{path}: {len(names)} graph inputs but {len(inputs)} input files"]
    got = sess.run(None, dict(zip(names, inputs)))
    if len(got) != len(outputs):
        return [f"{path}: {len(got)} outputs but {len(outputs)} output files"]
    for k, (g, w) in enumerate(zip(got, outputs)):
        failures += compare(f"{os.path.basename(path)} output {k}", g, w)
    batch = inputs[0].shape[0] if inputs and inputs[0].ndim > 0 else 0
    if batch > 2 and len(inputs) == 1 and leads_with_batch(model.graph.input) and leads_with_batch(model.graph.output):
        part = sess.run(None, {names[0]: inputs[0][: batch // 2]})
        for k, (g, w) in enumerate(zip(part, outputs)):
            failures += compare(f"{os.path.basename(path)} output {k} at batch {batch // 2}", g, w[: batch // 2])
    return failures


def check_reimport(singa_onnx, path, case, outputs):
    out_dir = path[: -len(".onnx")] + "_singa_out"
    cmd = [singa_onnx, "run", path, "--output-dir", out_dir]
    for p in sorted(glob.glob(os.path.join(case, "input_*.pb"))):
        cmd += ["--input", p]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return [f"{path}: singa_onnx run exited {r.returncode}: {(r.stderr or r.stdout).strip()[-600:]}"]
    got = numbered(out_dir, "output")
    if len(got) != len(outputs):
        return [f"{path}: singa_onnx wrote {len(got)} outputs, the engine {len(outputs)}"]
    failures = []
    for k, (g, w) in enumerate(zip(got, outputs)):
        failures += compare(f"{os.path.basename(path)} re-imported output {k}", g, w)
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fixture_dir")
    ap.add_argument("--singa-onnx", help="also re-import each model with this singa_onnx and compare")
    args = ap.parse_args()
    root = args.fixture_dir
    cases = sorted(d for d in glob.glob(os.path.join(root, "*")) if os.path.isdir(d))
    if not cases:
        print(f"no exported models under {root}: run interop_export_fixtures {root} first")
        return 1
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    failures, checked = [], 0
    for case in cases:
        inputs, outputs = numbered(case, "input"), numbered(case, "output")
        models = sorted(glob.glob(os.path.join(case, "model_op*.onnx")))
        if not models:
            failures.append(f"{case}: no model_op*.onnx")
        for path in models:
            f = check_model(path, inputs, outputs)
            if args.singa_onnx:
                f += check_reimport(args.singa_onnx, path, case, outputs)
            checked += 1
            status = "OK" if not f else "FAILED"
            print(f"{os.path.basename(case):12s} {os.path.basename(path):16s} {status}")
            failures += f
    for f in failures:
        print("  " + f)
    print(f"{checked} models checked, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
