"""CausalConvWithState and LinearAttention (opset 27) against onnxruntime, on shapes and values
larger than ONNX's own cases: random inputs, grouped-query heads, carried state, every update
rule, float16.

    python seqmodel_ort.py SINGA_ONNX [--keep DIR]

Each case is written with onnx.helper, run by onnxruntime's CPU provider and by
`singa_onnx run` on the same .pb inputs; prints the largest |singa - ORT| per output and exits 1
when an output's dtype or shape differs or a value is outside atol + rtol * |ORT|.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP, helper, numpy_helper

RNG = np.random.default_rng(20261203)
ELEM = {np.float32: TP.FLOAT, np.float16: TP.FLOAT16}


def model(op, inputs, outputs, **attrs):
    """One node of `op`; inputs: (name, array) pairs, an empty name for an absent optional."""
    names = [n for n, _ in inputs]
    while names and not names[-1]:
        names.pop()
    node = helper.make_node(op, names, outputs, **attrs)
    vi = [helper.make_tensor_value_info(n, ELEM[a.dtype.type], a.shape) for n, a in inputs if n]
    out = [helper.make_tensor_value_info(o, ELEM[inputs[0][1].dtype.type], None) for o in outputs]
    m = helper.make_model(helper.make_graph([node], op, vi, out), opset_imports=[helper.make_opsetid("", 27)])
    m.ir_version = 11
    return m


def causal_conv_cases():
    def case(b, c, length, k, dtype, bias, past, act):
        x = RNG.standard_normal((b, c, length)).astype(dtype)
        w = (RNG.standard_normal((c, 1, k)) * 0.5).astype(dtype)
        ins = [("input", x), ("weight", w),
               ("bias" if bias else "", RNG.standard_normal(c).astype(dtype) if bias else None),
               ("past_state" if past else "", RNG.standard_normal((b, c, k - 1)).astype(dtype) if past else None)]
        return model("CausalConvWithState", ins, ["output", "present_state"], activation=act), ins

    yield "conv_bias_past_silu", *case(3, 16, 37, 4, np.float32, True, True, "silu")
    yield "conv_decode_step", *case(2, 8, 1, 4, np.float32, True, True, "none")
    yield "conv_short_no_past", *case(2, 5, 3, 6, np.float32, False, False, "swish")
    yield "conv_fp16_bias_past", *case(2, 12, 20, 3, np.float16, True, True, "silu")


def linear_attention_cases():
    def case(rule, b, t, hq, hkv, dk, dv, dtype, past=True, per_head_decay=False, scalar_beta=False, scale=None):
        q = RNG.standard_normal((b, t, hq * dk)) * 0.5
        k = RNG.standard_normal((b, t, hkv, dk))
        k = (k / np.linalg.norm(k, axis=-1, keepdims=True)).reshape(b, t, hkv * dk)  # L2-normalised keys
        v = RNG.standard_normal((b, t, hkv * dv))
        gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
        decay = -np.abs(RNG.standard_normal((b, t, hkv if per_head_decay else hkv * dk))) * 0.3
        beta = 1 / (1 + np.exp(-RNG.standard_normal((b, t, 1 if scalar_beta else hkv))))
        ins = [("query", q), ("key", k), ("value", v),
               ("past_state" if past else "", RNG.standard_normal((b, hkv, dk, dv)) * 0.3 if past else None),
               ("decay" if gated else "", decay if gated else None), ("beta" if delta else "", beta if delta else None)]
        ins = [(n, a.astype(dtype) if a is not None else None) for n, a in ins]
        attrs = {"q_num_heads": hq, "kv_num_heads": hkv, "update_rule": rule}
        if scale is not None:
            attrs["scale"] = scale
        return model("LinearAttention", ins, ["output", "present_state"], **attrs), ins

    yield "la_gated_delta_gqa_past", *case("gated_delta", 2, 17, 8, 2, 16, 32, np.float32)
    yield "la_delta_mqa_scalar_beta", *case("delta", 2, 9, 4, 1, 8, 8, np.float32, scalar_beta=True, scale=0.3)
    yield "la_gated_per_head_decay", *case("gated", 3, 11, 4, 4, 8, 16, np.float32, per_head_decay=True)
    yield "la_linear_no_past", *case("linear", 1, 13, 2, 2, 8, 8, np.float32, past=False)
    yield "la_decode_step", *case("gated_delta", 2, 1, 4, 2, 16, 16, np.float32)
    yield "la_fp16_gated_delta", *case("gated_delta", 2, 8, 4, 2, 16, 16, np.float16)


def run_case(singa, name, m, ins, root):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    onnx.save(m, os.path.join(d, "model.onnx"))
    feeds = {n: a for n, a in ins if n}
    expected = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    cmd = [singa, "run", os.path.join(d, "model.onnx"), "--output-dir", os.path.join(d, "out")]
    for i, (n, a) in enumerate((n, a) for n, a in ins if n):
        path = os.path.join(d, f"input_{i}.pb")
        onnx.save_tensor(numpy_helper.from_array(a, n), path)
        cmd += ["--input", path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return f"singa_onnx failed: {r.stderr.strip()[-300:]}"
    half = ins[0][1].dtype == np.float16
    rtol, atol = (1e-2, 2e-3) if half else (1e-4, 1e-5)
    notes = []
    for i, want in enumerate(expected):
        got = numpy_helper.to_array(onnx.load_tensor(os.path.join(d, "out", f"output_{i}.pb")))
        if got.dtype != want.dtype or got.shape != want.shape:
            return f"output {i}: got {got.dtype}{list(got.shape)}, ORT {want.dtype}{list(want.shape)}"
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        notes.append(f"output {i} max |diff| {diff.max():.2e}")
        if np.any(diff > atol + rtol * np.abs(want.astype(np.float64))):
            return f"output {i}: max |singa - ORT| {diff.max():.3e} beyond atol {atol} + rtol {rtol}"
    print(f"ok     {name}: " + ", ".join(notes))
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("singa_onnx")
    ap.add_argument("--keep", help="write the cases here (default: a temporary directory)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or tmp
        failed = 0
        for name, m, ins in [*causal_conv_cases(), *linear_attention_cases()]:
            problem = run_case(args.singa_onnx, name, m, ins, root)
            if problem:
                failed += 1
                print(f"FAIL   {name}: {problem}")
    print(f"seqmodel vs onnxruntime: {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
