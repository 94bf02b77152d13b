"""Transformer operators of ONNX opsets 20-24 (Attention, RMSNormalization, RotaryEmbedding, Gelu)
and a small decoder-only transformer, written with onnx.helper and run by onnxruntime as the
reference.

    python transformer_models.py write OUT_DIR
        OUT_DIR/cases/<name>/model.onnx + test_data_set_0/{input,output}_K.pb  (ORT's outputs)
        OUT_DIR/decoder_f32.onnx, OUT_DIR/decoder_f64.onnx  (for the C++ fine-tuning and
        finite-difference tests, tests/onnx/transformer_test.cc)
    python transformer_models.py check SINGA_ONNX OUT_DIR [--atol 1e-4]
        runs every case through `singa_onnx run`, prints the largest |singa - ORT| per case and
        fails when one exceeds atol (or an output's shape or dtype differs).

The decoder: token embedding (Gather), 2 pre-norm layers of RMSNormalization -> Q/K/V MatMuls ->
RotaryEmbedding on Q and K -> causal grouped-query Attention (4 query heads, 2 key/value heads)
-> output MatMul + residual, RMSNormalization -> a Gelu-gated MLP (GeGLU: Gelu(x Wg) * (x Wu) Wd)
+ residual; a final RMSNormalization, the vocabulary projection and SoftmaxCrossEntropyLoss.
Inputs: tokens [B, S], position_ids [B, S], labels [B, S] (int64); outputs: logits, loss.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto as TP, helper, numpy_helper

VOCAB, D_MODEL, Q_HEADS, KV_HEADS, FFN, LAYERS, MAX_POS = 11, 16, 4, 2, 24, 2, 16
HEAD = D_MODEL // Q_HEADS


def make_model(nodes, inputs, outputs, initializers=(), opset=23):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def tensor_info(name, arr):
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), arr.shape)


def single_op(op, feeds, n_outputs=1, opset=23, **attrs):
    """A one-node model whose inputs are `feeds` (name -> array; None leaves an optional out)."""
    names = [n if a is not None else "" for n, a in feeds.items()]
    outs = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op, names, outs, **attrs)
    ins = [tensor_info(n, a) for n, a in feeds.items() if a is not None]
    given = {n: a for n, a in feeds.items() if a is not None}
    # Output types as onnxruntime computes them (the checker wants declared shapes).
    import onnxruntime as ort
    probe = helper.make_model(helper.make_graph([node], "g", ins, [helper.make_tensor_value_info(o, TP.FLOAT, None)
                                                                   for o in outs]),
                              opset_imports=[helper.make_opsetid("", opset)])
    probe.ir_version = 10
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    results = sess.run(None, given)
    return make_model([node], ins, [tensor_info(o, np.asarray(r)) for o, r in zip(outs, results)], opset=opset), given


def rope_cache(max_pos, half, dtype):
    inv = 1.0 / (10000.0 ** (np.arange(half) / half))
    ang = np.arange(max_pos)[:, None] * inv[None, :]
    return np.cos(ang).astype(dtype), np.sin(ang).astype(dtype)


def decoder(dtype, seed=7):
    """The decoder-only transformer at opset 23, float32 or float64."""
    rng = np.random.default_rng(seed)
    tp = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inits, nodes = [], []

    def param(name, shape, scale=0.3, shift=0.0):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale + shift).astype(dtype), name))
        return name

    def const(name, arr):
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name)))
        return name

    cos, sin = rope_cache(MAX_POS, HEAD // 2, dtype)
    const("cos_cache", cos)
    const("sin_cache", sin)
    nodes.append(helper.make_node("Gather", [param("embed", (VOCAB, D_MODEL), 0.5), "tokens"], ["h0"], axis=0))
    h = "h0"
    for l in range(LAYERS):
        p = f"l{l}_"
        nodes += [
            helper.make_node("RMSNormalization", [h, param(p + "norm1", (D_MODEL,), 0.1, 1.0)], [p + "a"],
                             axis=-1, epsilon=1e-5),
            helper.make_node("MatMul", [p + "a", param(p + "wq", (D_MODEL, Q_HEADS * HEAD))], [p + "q"]),
            helper.make_node("MatMul", [p + "a", param(p + "wk", (D_MODEL, KV_HEADS * HEAD))], [p + "k"]),
            helper.make_node("MatMul", [p + "a", param(p + "wv", (D_MODEL, KV_HEADS * HEAD))], [p + "v"]),
            helper.make_node("RotaryEmbedding", [p + "q", "cos_cache", "sin_cache", "position_ids"], [p + "qr"],
                             num_heads=Q_HEADS),
            helper.make_node("RotaryEmbedding", [p + "k", "cos_cache", "sin_cache", "position_ids"], [p + "kr"],
                             num_heads=KV_HEADS),
            helper.make_node("Attention", [p + "qr", p + "kr", p + "v"], [p + "att"], is_causal=1,
                             q_num_heads=Q_HEADS, kv_num_heads=KV_HEADS),
            helper.make_node("MatMul", [p + "att", param(p + "wo", (Q_HEADS * HEAD, D_MODEL))], [p + "o"]),
            helper.make_node("Add", [h, p + "o"], [p + "h1"]),
            helper.make_node("RMSNormalization", [p + "h1", param(p + "norm2", (D_MODEL,), 0.1, 1.0)], [p + "m"]),
            helper.make_node("MatMul", [p + "m", param(p + "wg", (D_MODEL, FFN))], [p + "g"]),
            helper.make_node("Gelu", [p + "g"], [p + "ga"], approximate="none" if l == 0 else "tanh"),
            helper.make_node("MatMul", [p + "m", param(p + "wu", (D_MODEL, FFN))], [p + "u"]),
            helper.make_node("Mul", [p + "ga", p + "u"], [p + "gu"]),
            helper.make_node("MatMul", [p + "gu", param(p + "wd", (FFN, D_MODEL))], [p + "f"]),
            helper.make_node("Add", [p + "h1", p + "f"], [p + "h2"]),
        ]
        h = p + "h2"
    nodes += [
        helper.make_node("RMSNormalization", [h, param("final_norm", (D_MODEL,), 0.1, 1.0)], ["hn"]),
        helper.make_node("MatMul", ["hn", param("unembed", (D_MODEL, VOCAB))], ["logits"]),
        helper.make_node("Reshape", ["logits", const("flat_logits", np.array([-1, VOCAB], np.int64))], ["logits2"]),
        helper.make_node("Reshape", ["labels", const("flat_labels", np.array([-1], np.int64))], ["labels1"]),
        helper.make_node("SoftmaxCrossEntropyLoss", ["logits2", "labels1"], ["loss"], reduction="mean"),
    ]
    ints = lambda n: helper.make_tensor_value_info(n, TP.INT64, ["B", "S"])
    return make_model(nodes, [ints("tokens"), ints("position_ids"), ints("labels")],
                      [helper.make_tensor_value_info("logits", tp, ["B", "S", VOCAB]),
                       helper.make_tensor_value_info("loss", tp, [])], inits)


def decoder_feeds(batch=2, seq=6, seed=3):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, (batch, seq)).astype(np.int64)
    return {"tokens": tokens, "position_ids": np.tile(np.arange(seq, dtype=np.int64), (batch, 1)),
            "labels": np.roll(tokens, -1, axis=1)}


def cases():
    """(name, model, feeds) of the single-operator cases and the decoder."""
    rng = np.random.default_rng(0)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    out = []
    # Attention: 3-D grouped-query, causal + float mask, explicit scale.
    out.append(("attention_3d_gqa_causal_float_mask", *single_op(
        "Attention", {"Q": f(2, 5, 16), "K": f(2, 5, 8), "V": f(2, 5, 12), "attn_mask": f(5, 5)},
        is_causal=1, q_num_heads=4, kv_num_heads=2, scale=0.3)))
    # 4-D with a past cache, a bool mask per batch, softcap, all four outputs.
    mask = rng.random((2, 1, 3, 7)) > 0.3
    mask[..., 0] = True
    for mode in range(4):
        out.append((f"attention_4d_past_bool_mask_mode{mode}", *single_op(
            "Attention", {"Q": f(2, 4, 3, 6), "K": f(2, 2, 3, 6), "V": f(2, 2, 3, 5), "attn_mask": mask,
                          "past_key": f(2, 2, 4, 6), "past_value": f(2, 2, 4, 5)},
            n_outputs=4, qk_matmul_output_mode=mode, softcap=2.5)))
    # 3-D causal with a past cache (bottom-right causal mask), 4-D mask per batch and head.
    out.append(("attention_3d_past_causal", *single_op(
        "Attention", {"Q": f(1, 3, 8), "K": f(1, 3, 8), "V": f(1, 3, 8), "attn_mask": f(1, 2, 3, 5),
                      "past_key": f(1, 2, 2, 4), "past_value": f(1, 2, 2, 4)},
        n_outputs=3, is_causal=1, q_num_heads=2, kv_num_heads=2)))
    # Opset 24: padding lengths per batch.
    out.append(("attention_4d_nonpad_kv_seqlen", *single_op(
        "Attention", {"Q": f(2, 2, 3, 4), "K": f(2, 2, 5, 4), "V": f(2, 2, 5, 4), "attn_mask": None,
                      "past_key": None, "past_value": None, "nonpad_kv_seqlen": np.array([5, 3], np.int64)},
        opset=24)))
    out.append(("rms_normalization_3d", *single_op("RMSNormalization", {"X": f(2, 3, 8), "scale": f(8)},
                                                   epsilon=1e-3)))
    out.append(("rms_normalization_4d_axis1", *single_op("RMSNormalization", {"X": f(2, 3, 4, 5), "scale": f(1, 4, 5)},
                                                         axis=1)))
    cos, sin = rope_cache(12, 3, np.float32)
    pos = rng.integers(0, 12, (2, 5)).astype(np.int64)
    out.append(("rotary_embedding_4d_interleaved", *single_op(
        "RotaryEmbedding", {"X": f(2, 3, 5, 6), "cos_cache": cos, "sin_cache": sin, "position_ids": pos},
        interleaved=1)))
    cos2, sin2 = rope_cache(12, 2, np.float32)
    out.append(("rotary_embedding_3d_partial", *single_op(
        "RotaryEmbedding", {"X": f(2, 5, 12), "cos_cache": cos2, "sin_cache": sin2, "position_ids": pos},
        num_heads=2, rotary_embedding_dim=4)))
    out.append(("rotary_embedding_3d_no_position_ids", *single_op(
        "RotaryEmbedding", {"X": f(2, 5, 12), "cos_cache": f(2, 5, 3), "sin_cache": f(2, 5, 3)}, num_heads=2)))
    for approx in ("none", "tanh"):
        out.append((f"gelu_{approx}", *single_op("Gelu", {"X": f(3, 7) * 3}, opset=20, approximate=approx)))
    feeds = decoder_feeds()
    out.append(("decoder_transformer", decoder(np.float32), feeds))
    return out


def write(out_dir):
    import onnxruntime as ort
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    for name, model, feeds in cases():
        case = os.path.join(out_dir, "cases", name)
        ds = os.path.join(case, "test_data_set_0")
        os.makedirs(ds)
        onnx.save(model, os.path.join(case, "model.onnx"))
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        results = sess.run(None, feeds)
        for i, (k, v) in enumerate(feeds.items()):
            onnx.save_tensor(numpy_helper.from_array(v, k), os.path.join(ds, f"input_{i}.pb"))
        for i, (o, v) in enumerate(zip(model.graph.output, results)):
            onnx.save_tensor(numpy_helper.from_array(np.asarray(v), o.name), os.path.join(ds, f"output_{i}.pb"))
    onnx.save(decoder(np.float32), os.path.join(out_dir, "decoder_f32.onnx"))
    onnx.save(decoder(np.float64), os.path.join(out_dir, "decoder_f64.onnx"))
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}: wrote {len(cases())} cases to {out_dir}")


def check(singa_onnx, out_dir, atol):
    failed, worst = 0, 0.0
    for case in sorted(glob.glob(os.path.join(out_dir, "cases", "*"))):
        ds = os.path.join(case, "test_data_set_0")
        inputs = sorted(glob.glob(os.path.join(ds, "input_*.pb")))
        expected = sorted(glob.glob(os.path.join(ds, "output_*.pb")))
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [singa_onnx, "run", os.path.join(case, "model.onnx"), "--output-dir", tmp]
            for p in inputs:
                cmd += ["--input", p]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            name = os.path.basename(case)
            if r.returncode != 0:
                print(f"{name}: singa_onnx failed: {r.stderr.strip()[:400]}")
                failed += 1
                continue
            diff, why = 0.0, ""
            for i, e in enumerate(expected):
                want = numpy_helper.to_array(onnx.load_tensor(e))
                got = numpy_helper.to_array(onnx.load_tensor(os.path.join(tmp, f"output_{i}.pb")))
                if got.shape != want.shape or got.dtype != want.dtype:
                    why = f"output {i}: got {got.dtype}{list(got.shape)}, ORT {want.dtype}{list(want.shape)}"
                    break
                if want.size:
                    d = np.abs(got.astype(np.float64) - want.astype(np.float64))
                    # Masked scores (qk_matmul_output_mode 2): the ONNX reference writes -inf,
                    # onnxruntime the lowest float; either matches either.
                    masked = lambda a: np.isneginf(a) | (a <= np.finfo(np.float32).min)
                    d = np.where(masked(want) & masked(got), 0.0, d)
                    diff = max(diff, float(np.max(d)))
            ok = not why and diff <= atol
            print(f"{name}: max |singa - onnxruntime| = {diff:.3g}{'' if ok else '  FAIL ' + why}")
            failed += 0 if ok else 1
            worst = max(worst, diff)
    print(f"{failed} failed; largest difference {worst:.3g} (tolerance {atol})")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out")
    c = sub.add_parser("check")
    c.add_argument("singa_onnx")
    c.add_argument("out")
    c.add_argument("--atol", type=float, default=1e-4)
    a = ap.parse_args()
    if a.cmd == "write":
        write(a.out)
        return 0
    return check(a.singa_onnx, a.out, a.atol)


if __name__ == "__main__":
    sys.exit(main())
