"""Randomised cases for the bitwise, BitCast, CumProd, Mod (fmod=0 on floats), LpNormalization,
GroupNormalization, Mish, Swish and SwiGLU converters, with expected outputs computed here in
NumPy from the ONNX definitions (an independent reference, written for this test), in the layout
of ONNX's node test data; then cli_conformance.py runs them through `singa_onnx run` and every
case must pass. They reach what ONNX's own cases leave out: every integer width for the bitwise
ops, broadcasting both ways, float16 and bit patterns with the sign bit set for BitCast, CumProd
over the middle axis of a 3-D tensor in float64 and int64, several group counts.

Usage: python extra_ops_cases.py SINGA_ONNX OUT_DIR
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

RNG = np.random.default_rng(20261203)


def save_case(out, name, op, opset, inputs, outputs, attrs=None, input_names=None):
    """One node `op` reading graph inputs `inputs` (name -> array) and writing `outputs`."""
    names = input_names or list(inputs)
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(inputs[n].dtype),
                                                  list(inputs[n].shape)) for n in names]
    graph_outputs = [helper.make_tensor_value_info("y%d" % k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
                     for k, v in enumerate(outputs)]
    node = helper.make_node(op, names, ["y%d" % k for k in range(len(outputs))], **(attrs or {}))
    graph = helper.make_graph([node], name, graph_inputs, graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    d = os.path.join(out, name)
    ds = os.path.join(d, "test_data_set_0")
    os.makedirs(ds)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    for k, n in enumerate(names):
        with open(os.path.join(ds, "input_%d.pb" % k), "wb") as f:
            f.write(numpy_helper.from_array(inputs[n], n).SerializeToString())
    for k, v in enumerate(outputs):
        with open(os.path.join(ds, "output_%d.pb" % k), "wb") as f:
            f.write(numpy_helper.from_array(v, "y%d" % k).SerializeToString())


def random_ints(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def bitwise_cases(out):
    shapes = [((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((1,), (2, 2))]
    ops = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor}
    for dtype in [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]:
        for k, (sa, sb) in enumerate(shapes):
            a, b = random_ints(dtype, sa), random_ints(dtype, sb)
            for op, f in ops.items():
                save_case(out, "%s_%s_%d" % (op.lower(), np.dtype(dtype).name, k), op, 18, {"a": a, "b": b}, [f(a, b)])
        x = random_ints(dtype, (3, 4))
        save_case(out, "bitwisenot_%s" % np.dtype(dtype).name, "BitwiseNot", 18, {"x": x}, [np.invert(x)])


def bitcast_cases(out):
    pairs = [(np.float32, np.int32), (np.float32, np.uint32), (np.int32, np.float32), (np.float64, np.int64),
             (np.uint64, np.float64), (np.int16, np.uint16), (np.float16, np.uint16), (np.uint16, np.float16),
             (np.int8, np.uint8), (np.uint8, np.int8)]
    for src, dst in pairs:
        if np.issubdtype(src, np.floating):
            x = (RNG.standard_normal((2, 3)) * 100).astype(src)
        else:
            x = random_ints(src, (2, 3))
        if np.issubdtype(dst, np.floating):  # a NaN pattern need not survive the float round trip
            bits = x.view(dst)
            x = np.where(np.isnan(bits), np.zeros_like(bits), bits).view(src)
        save_case(out, "bitcast_%s_to_%s" % (np.dtype(src).name, np.dtype(dst).name), "BitCast", 26, {"x": x},
                  [x.view(dst)], {"to": helper.np_dtype_to_tensor_dtype(np.dtype(dst))})


def cumprod_ref(x, axis, exclusive, reverse):
    v = np.flip(x, axis) if reverse else x
    if exclusive:
        ones = np.ones_like(np.take(v, [0], axis=axis))
        v = np.concatenate([ones, np.take(v, range(v.shape[axis] - 1), axis=axis)], axis=axis)
    y = np.cumprod(v, axis=axis, dtype=x.dtype)
    return np.flip(y, axis) if reverse else y


def cumprod_cases(out):
    for dtype in [np.float32, np.float64, np.int32, np.int64]:
        if np.issubdtype(dtype, np.floating):
            x = RNG.uniform(0.5, 1.5, (2, 5, 3)).astype(dtype)
        else:
            x = RNG.integers(-3, 4, (2, 5, 3)).astype(dtype)
        for axis in (1, -1, 0):
            for exclusive in (0, 1):
                for reverse in (0, 1):
                    name = "cumprod_%s_axis%d_ex%d_rev%d" % (np.dtype(dtype).name, axis, exclusive, reverse)
                    save_case(out, name, "CumProd", 26, {"x": x, "axis": np.array(axis, dtype=np.int64)},
                              [cumprod_ref(x, axis, exclusive, reverse)],
                              {"exclusive": exclusive, "reverse": reverse})


def mod_cases(out):
    for dtype in [np.float32, np.float64]:
        a = RNG.uniform(-10, 10, (4, 5)).astype(dtype)
        b = RNG.choice([-1, 1], (5,)) * RNG.uniform(0.5, 3, (5,))
        b = b.astype(dtype)
        save_case(out, "mod_fmod0_%s" % np.dtype(dtype).name, "Mod", 13, {"a": a, "b": b}, [np.mod(a, b)], {"fmod": 0})


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def float_cases(out):
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    x[1, 2, :] = 0  # a zero row along the last axis: output 0 there
    for p in (1, 2):
        for axis in (0, 1, -1):
            norm = np.sum(np.abs(x) ** p, axis=axis, keepdims=True) ** (1.0 / p)
            y = np.where(norm == 0, 0, x / np.where(norm == 0, 1, norm)).astype(np.float32)
            save_case(out, "lpnorm_p%d_axis%d" % (p, axis), "LpNormalization", 22, {"x": x}, [y], {"p": p, "axis": axis})
    x64 = x.astype(np.float64) * 4
    save_case(out, "mish_float64", "Mish", 22, {"x": x64}, [x64 * np.tanh(np.log1p(np.exp(x64)))])
    for alpha in (1.0, 0.25, 2.0):
        save_case(out, "swish_alpha%g" % alpha, "Swish", 24, {"x": x}, [(x * sigmoid(alpha * x)).astype(np.float32)],
                  {"alpha": alpha})
        b = RNG.standard_normal(x.shape).astype(np.float32)
        save_case(out, "swiglu_alpha%g" % alpha, "SwiGLU", 28, {"a": x, "b": b},
                  [(x * sigmoid(alpha * x) * b).astype(np.float32)], {"alpha": alpha})


def group_norm_cases(out):
    n, c, h, w = 2, 6, 3, 2
    x = RNG.standard_normal((n, c, h, w)).astype(np.float32) * 3 + 1
    for groups in (1, 2, 3, 6):
        for opset in (18, 21):
            per = groups if opset == 18 else c
            scale = RNG.uniform(0.5, 1.5, (per,)).astype(np.float32)
            bias = RNG.standard_normal((per,)).astype(np.float32)
            xs = x.reshape(n, groups, -1).astype(np.float64)
            mean = xs.mean(axis=2, keepdims=True)
            var = ((xs - mean) ** 2).mean(axis=2, keepdims=True)
            normed = ((xs - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
            s = np.repeat(scale, c // groups) if opset == 18 else scale
            bb = np.repeat(bias, c // groups) if opset == 18 else bias
            y = (normed * s.reshape(1, c, 1, 1) + bb.reshape(1, c, 1, 1)).astype(np.float32)
            save_case(out, "groupnorm_g%d_opset%d" % (groups, opset), "GroupNormalization", opset,
                      {"x": x, "scale": scale, "bias": bias}, [y], {"num_groups": groups})


def main():
    singa_onnx, out = sys.argv[1], sys.argv[2]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for make in (bitwise_cases, bitcast_cases, cumprod_cases, mod_cases, float_cases, group_norm_cases):
        make(out)
    runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_conformance.py")
    return subprocess.call([sys.executable, runner, singa_onnx, out, "--min-pass-rate", "1"])


if __name__ == "__main__":
    sys.exit(main())
