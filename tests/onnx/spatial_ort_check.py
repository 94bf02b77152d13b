#!/usr/bin/env python3
"""Runs the spatial operators (LpPool, CenterCropPad, Col2Im, AffineGrid, TensorScatter, DeformConv,
Pad 'wrap', DFT-20, Resize antialias) through `singa_onnx run` and through
onnxruntime on the same random inputs, with attribute combinations the ONNX node cases leave out
(LpPool ceil_mode and SAME_LOWER with strides, Col2Im strides with a remainder, DeformConv groups,
strides and dilations, IRFFT with an odd dft_length, antialiasing at several scales, ...).
Left out where the engines disagree with the ONNX reference or each other: AffineGrid align_corners
on a dim of size 1, Pad 'wrap' with negative pads, and SpaceToDepth CRD (an opset onnxruntime
does not have yet).

    .venv/bin/python tests/onnx/spatial_ort_check.py build/singa_onnx [--atol 1e-4] [-v]

Prints one line per case that differs and a summary; exits 1 when any case differs.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def case(op, inputs, attrs, opset, consts=()):
    """A one-node model: `inputs` are graph inputs (name, array), `consts` initializers."""
    names = [n for n, _ in inputs] + [n for n, _ in consts]
    node = helper.make_node(op, names, ["y"], **attrs)
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                    for n, v in inputs]
    graph = helper.make_graph([node], op, graph_inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(v, n) for n, v in consts])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model, inputs


def cases():
    i64 = lambda *v: np.array(v, np.int64)
    out = {}
    out["lppool_2d_ceil_strides_pads"] = case("LpPool", [("x", randn(2, 3, 9, 8))],
                                              dict(kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 0, 1], p=3,
                                                   ceil_mode=1), 22)
    out["lppool_1d_same_lower_stride"] = case("LpPool", [("x", randn(1, 2, 11))],
                                              dict(kernel_shape=[4], strides=[3], auto_pad="SAME_LOWER", p=2), 22)
    out["lppool_3d_dilations"] = case("LpPool", [("x", randn(1, 2, 6, 5, 7))],
                                      dict(kernel_shape=[2, 2, 3], dilations=[2, 1, 2], p=1), 22)
    out["center_crop_pad_mixed"] = case("CenterCropPad", [("x", randn(5, 8, 3))], dict(axes=[-2, 0]), 18,
                                        [("s", i64(3, 8))])
    out["col2im_strides_remainder"] = case("Col2Im", [("x", randn(2, 3 * 6, 3 * 3))],
                                           dict(strides=[2, 3], pads=[1, 0, 0, 1], dilations=[2, 1]), 18,
                                           [("i", i64(7, 8)), ("b", i64(2, 3))])
    out["col2im_3d"] = case("Col2Im", [("x", randn(1, 2 * 8, 2 * 3 * 2))], {}, 18,
                            [("i", i64(3, 4, 3)), ("b", i64(2, 2, 2))])
    for align in (0, 1):
        out[f"affine_grid_2d_align{align}"] = case("AffineGrid", [("t", randn(2, 2, 3))], dict(align_corners=align), 20,
                                                   [("s", i64(2, 3, 4, 7))])
        out[f"affine_grid_3d_align{align}"] = case("AffineGrid", [("t", randn(2, 3, 4))], dict(align_corners=align), 20,
                                                   [("s", i64(2, 1, 3, 2, 5))])
    out["tensorscatter_circular_axis1"] = case("TensorScatter", [("c", randn(3, 5, 2, 4)), ("u", randn(3, 3, 2, 4))],
                                               dict(mode="circular", axis=1), 24, [("w", i64(4, 0, 2))])
    out["tensorscatter_linear_no_indices"] = case("TensorScatter", [("c", randn(2, 2, 6, 3)), ("u", randn(2, 2, 4, 3))],
                                                  {}, 24)
    out["deform_conv_groups_strides"] = case(
        "DeformConv", [("x", randn(2, 4, 7, 6)), ("w", randn(6, 2, 3, 2)), ("o", randn(2, 2 * 6 * 2, 2, 3) * 1.5),
                       ("b", randn(6)), ("m", rng.uniform(0, 1, (2, 2 * 6, 2, 3)).astype(np.float32))],
        dict(group=2, offset_group=2, strides=[2, 2], dilations=[2, 1], pads=[1, 0, 0, 1]), 22)
    out["pad_wrap_wide_and_crop"] = case("Pad", [("x", randn(2, 3, 4))], dict(mode="wrap"), 19,
                                         [("p", i64(0, 7, 1, 0, 2, 5))])
    out["dft20_irfft_odd_length"] = case("DFT", [("x", randn(2, 4, 3, 2))], dict(inverse=1, onesided=1), 20,
                                         [("n", np.array(7, np.int64)), ("a", np.array(-3, np.int64))])
    out["dft20_rfft_padded"] = case("DFT", [("x", randn(2, 5, 3, 1))], dict(onesided=1), 20,
                                    [("n", np.array(8, np.int64)), ("a", np.array(1, np.int64))])
    out["dft20_inverse_default_axis"] = case("DFT", [("x", randn(2, 5, 6, 2))], dict(inverse=1), 20)
    for mode in ("linear", "cubic"):
        for scale in (0.6, 0.3):
            out[f"resize_antialias_{mode}_{scale}"] = case(
                "Resize", [("x", randn(1, 2, 10, 13))], dict(mode=mode, antialias=1), 19,
                [("r", np.zeros(0, np.float32)), ("s", np.array([1, 1, scale, 1.0 - scale / 2], np.float32))])
        out[f"resize_antialias_{mode}_sizes"] = case(
            "Resize", [("x", randn(1, 1, 9, 12))], dict(mode=mode, antialias=1), 19,
            [("r", np.zeros(0, np.float32)), ("s", np.zeros(0, np.float32)), ("z", np.array([1, 1, 4, 5], np.int64))])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("singa_onnx")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("-v", action="store_true", help="print every case")
    a = ap.parse_args()
    failed = 0
    all_cases = cases()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, inputs) in all_cases.items():
            path = os.path.join(tmp, name + ".onnx")
            onnx.save(model, path)
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            want = session.run(None, {n: v for n, v in inputs})[0]
            cmd = [a.singa_onnx, "run", path, "--output-dir", os.path.join(tmp, name)]
            for n, v in inputs:
                p = os.path.join(tmp, f"{name}_{n}.pb")
                with open(p, "wb") as f:
                    f.write(numpy_helper.from_array(v, n).SerializeToString())
                cmd += ["--input", p]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                print(f"{name}: singa_onnx failed: {r.stderr.strip()[:400]}")
                failed += 1
                continue
            got = numpy_helper.to_array(onnx.load_tensor(os.path.join(tmp, name, "output_0.pb")))
            if got.shape != want.shape:
                print(f"{name}: shape {got.shape}, onnxruntime {want.shape}")
                failed += 1
                continue
            diff = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
            bad = diff > a.atol * max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
            if bad or a.v:
                print(f"{name}: max |singa - onnxruntime| = {diff:.3g} (max |onnxruntime| "
                      f"{float(np.max(np.abs(want))) if want.size else 0.0:.3g}){'  FAIL' if bad else ''}")
            failed += bad
    print(f"spatial ops vs onnxruntime: {len(all_cases) - failed} of {len(all_cases)} cases match")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
