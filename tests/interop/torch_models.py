"""PyTorch-exported models must import into singa and give PyTorch's outputs.

Usage: python torch_models.py --export-script PATH/export_models.py --singa-onnx PATH/singa_onnx
                              --out DIR [--atol 1e-4]

Runs the anchor export script (it writes DIR/<name>_op<N>.onnx from Debian's torch, plus a fixed
input <name>_in.bin and PyTorch's output <name>_torch_out.bin as raw little-endian float32), turns
each input into a TensorProto file shaped like the model's graph input, runs
`singa_onnx run MODEL --input input_0.pb --output-dir OUT`, and compares singa's output_0.pb with
PyTorch's output within an absolute tolerance (1e-4). Exits 77 (ctest: skipped) when the export
script is missing or the PyTorch interpreter cannot run it (torch, torchvision, onnx and a numpy
that torch can use: Debian's torch 1.13 needs numpy < 2).
"""
import argparse
import glob
import os
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper


# Fails unless torch, torchvision and onnx import and torch can hand tensors to numpy.
PROBE = "import torch, torchvision, onnx, onnx.checker; torch.zeros(1).numpy()"


def graph_input_shape(model):
    init = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name not in init:
            return vi.name, [d.dim_value for d in vi.type.tensor_type.shape.dim]
    raise ValueError("model has no graph input")


def read_output(folder):
    pbs = sorted(glob.glob(os.path.join(folder, "*.pb")))
    want = os.path.join(folder, "output_0.pb")
    path = want if os.path.exists(want) else (pbs[0] if len(pbs) == 1 else None)
    if path is None:
        raise FileNotFoundError(f"singa_onnx wrote no output_0.pb in {folder} (found {pbs})")
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export-script", required=True)
    ap.add_argument("--singa-onnx", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--torch-python", default=sys.executable,
                    help="interpreter with Debian's torch/torchvision and onnx (default: this one)")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--scale-rtol", type=float, default=1e-3,
                    help="also require max|diff| <= this * max|torch output| (random-weight "
                         "mobilenet_v2 outputs are ~1e-9, where an absolute bound alone tests nothing)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per singa_onnx run")
    args = ap.parse_args()
    if not os.path.exists(args.export_script):
        print(f"SKIPPED: PyTorch export script {args.export_script} not found "
              f"(configure with -DSINGA_TORCH_EXPORT_SCRIPT=PATH/export_models.py)")
        return 77
    probe = subprocess.run([args.torch_python, "-c", PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"SKIPPED: {args.torch_python} cannot run the PyTorch export: "
              f"{(probe.stderr.strip().splitlines() or ['?'])[-1]}\n"
              "It needs Debian's python3-torch/python3-torchvision, onnx, and a numpy torch 1.13 can use "
              "(numpy < 2: `pip install 'numpy<2'` in the venv); run launch/setup.sh --tests")
        return 77
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    r = subprocess.run([args.torch_python, args.export_script, args.out], capture_output=True, text=True)
    print(r.stdout, end="")
    if r.returncode != 0:
        print(r.stderr)
        print(f"FAILED: {args.export_script} exited with {r.returncode}")
        return 1
    print(f"(PyTorch export took {time.time() - t0:.0f}s)")

    failures, checked = [], 0
    for model_path in sorted(glob.glob(os.path.join(args.out, "*_op*.onnx"))):
        stem = os.path.basename(model_path)[: -len(".onnx")]
        name = stem.rsplit("_op", 1)[0]
        in_bin = os.path.join(args.out, f"{name}_in.bin")
        ref_bin = os.path.join(args.out, f"{name}_torch_out.bin")
        model = onnx.load(model_path)
        input_name, shape = graph_input_shape(model)
        work = os.path.join(args.out, stem + "_singa")
        os.makedirs(work, exist_ok=True)
        # resnet18_bn (BatchNormalization kept) has its own weights and no saved output: it is
        # only checked to import and run.
        have_ref = os.path.exists(in_bin) and os.path.exists(ref_bin)
        if have_ref:
            x = np.fromfile(in_bin, dtype="<f4").reshape(shape)
        else:
            x = np.random.default_rng(0).random(shape, dtype=np.float32)
        with open(os.path.join(work, "input_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(x, input_name).SerializeToString())
        out_dir = os.path.join(work, "out")
        cmd = [args.singa_onnx, "run", model_path, "--input", os.path.join(work, "input_0.pb"),
               "--output-dir", out_dir]
        checked += 1
        t1 = time.time()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            failures.append(f"{stem}: singa_onnx run timed out after {args.timeout:.0f}s")
            print(f"{stem:22s} FAILED (timeout)")
            continue
        if r.returncode != 0:
            failures.append(f"{stem}: singa_onnx run exited {r.returncode}: {(r.stderr or r.stdout).strip()[-800:]}")
            print(f"{stem:22s} FAILED (singa_onnx run)")
            continue
        try:
            got = read_output(out_dir)
        except Exception as e:  # noqa: BLE001
            failures.append(f"{stem}: {e}")
            print(f"{stem:22s} FAILED (no output)")
            continue
        if not have_ref:
            print(f"{stem:22s} OK (ran, output {got.shape}, {time.time() - t1:.1f}s; no PyTorch reference)")
            continue
        ref = np.fromfile(ref_bin, dtype="<f4")
        if got.size != ref.size:
            failures.append(f"{stem}: singa output has {got.size} values ({got.shape}), PyTorch {ref.size}")
            print(f"{stem:22s} FAILED (size)")
            continue
        diff = np.abs(got.astype(np.float64).ravel() - ref.astype(np.float64))
        scale = float(np.abs(ref).max())
        ok = bool(np.all(diff <= args.atol)) and diff.max() <= args.scale_rtol * scale
        print(f"{stem:22s} {'OK' if ok else 'FAILED'} max |singa - torch| = {diff.max():.2e} "
              f"(max |torch| {scale:.2e}, {time.time() - t1:.1f}s)")
        if not ok:
            failures.append(f"{stem}: max |singa - torch| {diff.max():.3g}: over {args.atol} for "
                            f"{np.count_nonzero(diff > args.atol)} of {diff.size} values, or over "
                            f"{args.scale_rtol} x max|torch| = {args.scale_rtol * scale:.3g}")
    if checked == 0:
        failures.append(f"no *_op*.onnx models under {args.out}")
    for f in failures:
        print("  " + f)
    print(f"{checked} PyTorch models run through singa_onnx, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
