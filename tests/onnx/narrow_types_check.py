#!/usr/bin/env python3
"""The narrow storage types (float8 E4M3FN/E4M3FNUZ/E5M2/E5M2FNUZ/E8M0, float4 E2M1, int4, uint4,
int2, uint2) through `singa_onnx run`, checked against ml_dtypes (the float8/int4 library JAX and
the onnx package use) and NumPy formulas, not against singa's own code:

    .venv/bin/python tests/onnx/narrow_types_check.py build/singa_onnx

For each type: every bit pattern read from a file (packed for the 4- and 2-bit ones, with an odd
element count) and Cast to float32 equals ml_dtypes' value; float32 values (every representable
value, the midpoints between neighbours, random values over the range, the type's limits times
1.01 and 1e6, +-inf, NaN, signed zeros, values below the smallest subnormal) Cast to the type with
saturate=0 equal ml_dtypes' conversion (round to nearest even, overflow to inf or NaN), and with
saturate=1 equal ml_dtypes' conversion of the input clipped to +-max; float8e8m0 rounds up, down
and to nearest as NumPy's log2 says; integers wrap to the width; and a Cast to the type written
back to a file (Identity) reads back bit-identical, packed as the onnx package packs it. Crafted files (packed data of the wrong
length, 2^40 declared elements) and attributes (block_size, round_mode) end in a clear error.
"""
import os
import subprocess
import sys
import tempfile

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOATS = {
    "FLOAT8E4M3FN": (TensorProto.FLOAT8E4M3FN, ml_dtypes.float8_e4m3fn),
    "FLOAT8E4M3FNUZ": (TensorProto.FLOAT8E4M3FNUZ, ml_dtypes.float8_e4m3fnuz),
    "FLOAT8E5M2": (TensorProto.FLOAT8E5M2, ml_dtypes.float8_e5m2),
    "FLOAT8E5M2FNUZ": (TensorProto.FLOAT8E5M2FNUZ, ml_dtypes.float8_e5m2fnuz),
    "FLOAT4E2M1": (TensorProto.FLOAT4E2M1, ml_dtypes.float4_e2m1fn),
}
INTS = {
    "INT4": (TensorProto.INT4, ml_dtypes.int4, -8, 7),
    "UINT4": (TensorProto.UINT4, ml_dtypes.uint4, 0, 15),
    "INT2": (TensorProto.INT2, ml_dtypes.int2, -2, 1),
    "UINT2": (TensorProto.UINT2, ml_dtypes.uint2, 0, 3),
}
BITS = {"FLOAT4E2M1": 4, "INT4": 4, "UINT4": 4, "INT2": 2, "UINT2": 2}


def run(singa, graph_nodes, inputs, in_infos, out_infos):
    """Runs a one-graph model through singa_onnx; returns the output TensorProtos."""
    graph = helper.make_graph(graph_nodes, "g", in_infos, out_infos)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)])
    model.ir_version = 11
    with tempfile.TemporaryDirectory() as d:
        onnx.save(model, os.path.join(d, "model.onnx"))
        args = [singa, "run", os.path.join(d, "model.onnx"), "-o", os.path.join(d, "out")]
        for i, t in enumerate(inputs):
            p = os.path.join(d, f"input_{i}.pb")
            with open(p, "wb") as f:
                f.write(t.SerializeToString())
            args += ["-i", p]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"singa_onnx run failed: {r.stderr.strip()}")
        outs = []
        for i in range(len(out_infos)):
            t = TensorProto()
            with open(os.path.join(d, "out", f"output_{i}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            outs.append(t)
        return outs


def cast_model(singa, x, to, out_elem, **attrs):
    """Cast(x, to) through singa; x a TensorProto."""
    node = helper.make_node("Cast", ["x"], ["y"], to=to, **attrs)
    (out,) = run(singa, [node], [x], [helper.make_tensor_value_info("x", x.data_type, list(x.dims))],
                 [helper.make_tensor_value_info("y", out_elem, list(x.dims))])
    return out


def same(actual, expected):
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    # Equal values with equal signs (signed zeros must match), or both NaN (of any sign).
    ok = ((a == e) & (np.signbit(a) == np.signbit(e))) | (np.isnan(a) & np.isnan(e))
    return bool(ok.all()), np.flatnonzero(~ok)[:5]


def float_inputs(np_type, bits):
    info = ml_dtypes.finfo(np_type)
    mx = float(info.max)
    reps = np.arange(1 << bits, dtype=np.uint8).view(np_type).astype(np.float64)
    finite = np.unique(reps[np.isfinite(reps)])
    mids = (finite[:-1] + finite[1:]) / 2
    rng = np.random.default_rng(0)
    rand = rng.uniform(-mx * 1.2, mx * 1.2, 500)
    tiny = float(info.smallest_subnormal)
    small = rng.uniform(-tiny * 4, tiny * 4, 100)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, mx * 1.01, -mx * 1.01, 1e6, -1e6, 1e-30, -1e-30,
               tiny / 2, -tiny / 2]
    return np.concatenate([finite, mids, rand, small, special]).astype(np.float32)


def check_float(singa, name, failures):
    code, np_type = FLOATS[name]
    bits = BITS.get(name, 8)
    # Decode: every pattern but the last, from a file (packed by the onnx package for float4).
    arr = np.arange(1 << bits, dtype=np.uint8).view(np_type)[:-1]
    x = numpy_helper.from_array(arr, "x")
    expected = arr.astype(np.float32)
    got = numpy_helper.to_array(cast_model(singa, x, TensorProto.FLOAT, TensorProto.FLOAT))
    ok, where = same(got, expected)
    if not ok:
        failures.append(f"{name} -> FLOAT: mismatch at {where}: got {got[where]}, expected {expected[where]}")
    xs = float_inputs(np_type, bits)
    # Encode, saturate=0 and saturate=1 (float4 always saturates).
    mx = float(ml_dtypes.finfo(np_type).max)
    for saturate in (0, 1):
        if bits == 4 and saturate == 0:
            continue
        src = np.clip(xs, -mx, mx) if saturate or bits == 4 else xs
        expected = src.astype(np_type).astype(np.float64)
        if bits == 4:
            expected[np.isnan(xs)] = -0.0  # no NaN in float4e2m1: ONNX's test data writes 0x8
        if "FNUZ" in name:
            expected[expected == 0] = 0.0  # no negative zero
        out = cast_model(singa, numpy_helper.from_array(xs, "x"), code, code,
                         **({} if bits == 4 else {"saturate": saturate}))
        got = numpy_helper.to_array(out).astype(np.float64)
        ok, where = same(got, expected)
        if not ok:
            failures.append(f"FLOAT -> {name} saturate={saturate}: mismatch for inputs {xs[where]}: "
                            f"got {got[where]}, expected {expected[where]}")


def check_e8m0(singa, failures):
    code = TensorProto.FLOAT8E8M0
    patterns = np.arange(255, dtype=np.uint8)
    x = helper.make_tensor("x", code, [255], patterns.tobytes(), raw=True)
    got = numpy_helper.to_array(cast_model(singa, x, TensorProto.FLOAT, TensorProto.FLOAT)).astype(np.float64)
    expected = np.ldexp(1.0, patterns.astype(np.int64) - 127)
    expected = expected.astype(np.float32).astype(np.float64)  # 2^-127 .. 2^127, as float32
    ok, where = same(got, expected)
    if not ok:
        failures.append(f"FLOAT8E8M0 -> FLOAT: mismatch at {where}")
    rng = np.random.default_rng(1)
    xs = np.concatenate([np.ldexp(rng.uniform(1, 2, 300), rng.integers(-100, 100, 300)),
                         np.ldexp(1.0, np.arange(-100, 100)), np.ldexp(1.5, np.arange(-100, 100))]).astype(np.float32)
    xd = xs.astype(np.float64)
    k = np.floor(np.log2(xd))
    exact = np.ldexp(1.0, k.astype(np.int64)) == xd
    for mode in ("up", "down", "nearest"):
        if mode == "up":
            e = np.where(exact, k, k + 1)
        elif mode == "down":
            e = k
        else:
            e = np.where(xd >= 1.5 * np.ldexp(1.0, k.astype(np.int64)), k + 1, k)
        expected = np.ldexp(1.0, e.astype(np.int64))
        out = cast_model(singa, numpy_helper.from_array(xs, "x"), code, code, round_mode=mode)
        got = np.ldexp(1.0, np.frombuffer(out.raw_data, dtype=np.uint8).astype(np.int64) - 127)
        ok, where = same(got, expected)
        if not ok:
            failures.append(f"FLOAT -> FLOAT8E8M0 round_mode={mode}: mismatch for {xs[where]}: got {got[where]}")


def check_int(singa, name, failures):
    code, np_type, lo, hi = INTS[name]
    bits = BITS[name]
    width = hi - lo + 1
    values = np.arange(-40, 41, dtype=np.int32)  # 81 values: odd
    wrapped = ((values - lo) % width) + lo
    out = cast_model(singa, numpy_helper.from_array(values, "x"), code, code)
    got = numpy_helper.to_array(out).astype(np.int64)
    if not np.array_equal(got, wrapped):
        failures.append(f"INT32 -> {name}: got {got[:12]}..., expected {wrapped[:12]}...")
    # The file singa wrote packs as the onnx package packs the same values.
    ref = numpy_helper.from_array(wrapped.astype(np_type), "y")
    if out.raw_data != ref.raw_data:
        failures.append(f"{name}: packed bytes differ from the onnx package's")
    # And back to int32, from the onnx package's file.
    back = numpy_helper.to_array(cast_model(singa, ref, TensorProto.INT32, TensorProto.INT32))
    if not np.array_equal(back, wrapped):
        failures.append(f"{name} -> INT32: got {back[:12]}, expected {wrapped[:12]}")
    floats = np.array([-9.5, -2.7, -0.4, 0.0, 0.6, 1.5, 2.5, 7.9, 15.2, 16.0], dtype=np.float32)
    trunc = np.trunc(floats).astype(np.int64)
    expected = ((trunc - lo) % width) + lo
    got = numpy_helper.to_array(cast_model(singa, numpy_helper.from_array(floats, "x"), code, code)).astype(np.int64)
    if not np.array_equal(got, expected):
        failures.append(f"FLOAT -> {name}: got {got}, expected {expected} (truncated, then wrapped)")


def expect_error(singa, what, nodes, inputs, in_infos, out_infos, text, failures):
    """A crafted file or attribute must end in a one-line error containing `text`."""
    try:
        run(singa, nodes, inputs, in_infos, out_infos)
        failures.append(f"{what}: ran, expected an error containing {text!r}")
    except RuntimeError as e:
        if text not in str(e):
            failures.append(f"{what}: error {str(e)[:200]!r} does not contain {text!r}")


def check_hostile(singa, failures):
    cast = [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)]
    info = [helper.make_tensor_value_info("x", TensorProto.INT4, [5])]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])]
    # 5 int4 values need 3 packed bytes (or 3 int32_data entries).
    short = TensorProto(name="x", data_type=TensorProto.INT4, dims=[5], raw_data=b"\x01\x02")
    expect_error(singa, "int4 raw_data too short", cast, [short], info, out, "needs 3 bytes", failures)
    long = TensorProto(name="x", data_type=TensorProto.INT4, dims=[5], int32_data=[1, 2, 3, 4])
    expect_error(singa, "int4 int32_data too long", cast, [long], info, out, "needs 3 int32_data entries", failures)
    huge = TensorProto(name="x", data_type=TensorProto.INT4, dims=[1 << 40], raw_data=b"\x01")
    expect_error(singa, "int4 of 2^40 elements", cast, [huge],
                 [helper.make_tensor_value_info("x", TensorProto.INT4, [1 << 40])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1 << 40])], "needs", failures)
    # Blocked quantization whose block_size does not give the scale's block count.
    x = numpy_helper.from_array(np.zeros((3, 4), np.float32), "x")
    scale = numpy_helper.from_array(np.ones((3, 2), np.float32), "s")
    q = [helper.make_node("QuantizeLinear", ["x", "s"], ["y"], axis=1, block_size=1 << 40)]
    expect_error(singa, "QuantizeLinear block_size 2^40", q, [x, scale],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
                  helper.make_tensor_value_info("s", TensorProto.FLOAT, [3, 2])],
                 [helper.make_tensor_value_info("y", TensorProto.UINT8, [3, 4])], "block_size", failures)
    cast_bad = [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E8M0, round_mode="sideways")]
    expect_error(singa, "Cast round_mode", cast_bad, [numpy_helper.from_array(np.ones(2, np.float32), "x")],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT8E8M0, [2])], "round_mode 'sideways'", failures)


def main():
    singa = sys.argv[1]
    failures = []
    check_hostile(singa, failures)
    for name in FLOATS:
        check_float(singa, name, failures)
    check_e8m0(singa, failures)
    for name in INTS:
        check_int(singa, name, failures)
    for f in failures:
        print("FAIL", f)
    print(f"narrow types: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
