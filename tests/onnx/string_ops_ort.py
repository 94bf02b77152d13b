#!/usr/bin/env python3
"""String-tensor models run by `singa_onnx run` and by onnxruntime on the same inputs; the outputs
must be equal (strings exactly, numbers to 1e-6, NaN matching NaN).

    .venv/bin/python tests/onnx/string_ops_ort.py build/singa_onnx

Numbers cast to STRING are compared as the values they denote: onnxruntime prints "%.8g", singa
the shortest text that reads back to the same value (what ONNX's reference and its node cases use).
Covers what the ONNX node cases leave out: Cast to STRING of float32/float64/int64 values
(including NaN, infinities, large and tiny magnitudes), Cast from STRING of scientific notation,
"INF"/"-inf"/"NaN" and padded text, StringNormalizer case-insensitive LOWER, StringSplit on
whitespace with maxsplit, StringConcat and Equal with broadcasting, RegexFullMatch with groups and
bounded repetition, the layout operators on strings, ai.onnx.ml LabelEncoder, a STRING initializer and a Constant of
strings. Exits 1 when any model differs.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

S = TensorProto.STRING


def model(nodes, inputs, outputs, inits=(), opset=20, ml=None):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs], list(inits))
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", ml)] if ml else [])
    return helper.make_model(g, opset_imports=opsets, ir_version=9)


def strings(values, shape=None):
    a = np.array(values, dtype=object)
    return a.reshape(shape) if shape is not None else a


CASES = [
    ("cast_float_to_string",
     model([helper.make_node("Cast", ["x"], ["y"], to=S)], [("x", TensorProto.FLOAT, [7])], [("y", S, [7])]),
     [np.array([0.1, -2.5, 1e20, 3.0e-7, np.inf, -np.inf, 123456.78], dtype=np.float32)]),
    ("cast_double_int_to_string",
     model([helper.make_node("Cast", ["x"], ["y"], to=S), helper.make_node("Cast", ["n"], ["z"], to=S)],
           [("x", TensorProto.DOUBLE, [4]), ("n", TensorProto.INT64, [3])], [("y", S, [4]), ("z", S, [3])]),
     [np.array([0.1, 1.0 / 3.0, -1e-300, 2.0**60], dtype=np.float64), np.array([-7, 0, 2**62], dtype=np.int64)]),
    ("cast_string_to_float",
     model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)], [("x", S, [8])],
           [("y", TensorProto.FLOAT, [8])]),
     [strings(["3.14", "1e-5", "1E8", "-INF", "inf", "+INF", "NaN", "-0.0"])]),
    ("cast_string_to_int_double",
     model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64),
            helper.make_node("Cast", ["x"], ["z"], to=TensorProto.DOUBLE)], [("x", S, [3])],
           [("y", TensorProto.INT64, [3]), ("z", TensorProto.DOUBLE, [3])]),
     [strings(["1000", "-42", "7"])]),
    ("strnormalizer_insensitive_lower",
     model([helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="LOWER", is_case_sensitive=0,
                             stopwords=["the", "A"], locale="C")], [("x", S, [1, 5])], [("y", S, None)], opset=10),
     [strings(["The", "Quick", "a", "Brown", "THE"], (1, 5))]),
    ("string_split_whitespace_maxsplit",
     model([helper.make_node("StringSplit", ["x"], ["y", "n"], maxsplit=1)], [("x", S, [3])],
           [("y", S, None), ("n", TensorProto.INT64, None)]),
     [strings(["  a b  c ", "single", "x y z"])]),
    ("string_split_delimiter",
     model([helper.make_node("StringSplit", ["x"], ["y", "n"], delimiter="::")], [("x", S, [2, 2])],
           [("y", S, None), ("n", TensorProto.INT64, None)]),
     [strings(["a::b", "::", "no", "1::2::3"], (2, 2))]),
    ("concat_equal_broadcast",
     model([helper.make_node("StringConcat", ["x", "suffix"], ["c"]), helper.make_node("Equal", ["c", "want"], ["e"])],
           [("x", S, [2, 3]), ("want", S, [3])], [("c", S, [2, 3]), ("e", TensorProto.BOOL, [2, 3])],
           inits=[helper.make_tensor("suffix", S, [1], [b"_s"])]),
     [strings(["a", "b", "c", "d", "e", "f"], (2, 3)), strings(["a_s", "x", "f_s"])]),
    ("regex_full_match",
     model([helper.make_node("RegexFullMatch", ["x"], ["y"], pattern=r"(ab|cd){1,3}[0-9]+\.?x*")], [("x", S, [5])],
           [("y", TensorProto.BOOL, [5])]),
     [strings(["ab12", "abcdab9.xx", "abababab1", "cd", "ab1.x.y"])]),
    ("layout_ops",
     model([helper.make_node("Reshape", ["x", "shape"], ["r"]),
            helper.make_node("Gather", ["r", "idx"], ["g"], axis=1),
            helper.make_node("Unsqueeze", ["g", "ax"], ["u"]),
            helper.make_node("Squeeze", ["u", "ax"], ["q"]),
            helper.make_node("Concat", ["q", "k"], ["c"], axis=0),
            helper.make_node("Identity", ["c"], ["y"])],
           [("x", S, [6])], [("y", S, None)],
           inits=[numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "shape"),
                  numpy_helper.from_array(np.array([2, 0], dtype=np.int64), "idx"),
                  numpy_helper.from_array(np.array([0], dtype=np.int64), "ax")]
           + [helper.make_tensor("k", S, [1, 2], [b"k0", b"k1"])], opset=13),
     [strings(["a", "b", "c", "d", "e", "f"])]),
    ("label_encoder_strings",
     model([helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", keys_strings=["a", "b"],
                             values_floats=[1.5, -2.0], default_float=0.25),
            helper.make_node("LabelEncoder", ["n"], ["z"], domain="ai.onnx.ml", keys_int64s=[3, 1],
                             values_strings=["three", "one"], default_string="?")],
           [("x", S, [2, 2]), ("n", TensorProto.INT64, [4])], [("y", TensorProto.FLOAT, [2, 2]), ("z", S, [4])],
           ml=2),
     [strings(["a", "b", "c", "a"], (2, 2)), np.array([1, 2, 3, 3], dtype=np.int64)]),
    ("constant_strings",
     model([helper.make_node("Constant", [], ["k"], value_strings=["x", "y"]),
            helper.make_node("StringConcat", ["k", "x"], ["y"])], [("x", S, [2])], [("y", S, [2])]),
     [strings(["1", "2"])]),
]


def run_singa(binary, path, inputs, tmp):
    files = []
    for i, a in enumerate(inputs):
        f = os.path.join(tmp, f"input_{i}.pb")
        with open(f, "wb") as out:
            out.write(numpy_helper.from_array(a).SerializeToString())
        files.append(f)
    outdir = os.path.join(tmp, "out")
    os.makedirs(outdir, exist_ok=True)
    cmd = [binary, "run", path, "-o", outdir] + sum((["-i", f] for f in files), [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip() or r.stdout.strip())
    outs = []
    for i in range(len(onnx.load(path).graph.output)):
        t = TensorProto()
        with open(os.path.join(outdir, f"output_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        outs.append(numpy_helper.to_array(t))
    return outs


def same(a, b, numeric_text):
    if numeric_text:  # numbers printed as text: the same value (onnxruntime prints "%.8g", singa the shortest)
        return a.dtype == b.dtype == object and a.shape == b.shape and np.allclose(
            a.astype(np.float64), b.astype(np.float64), rtol=1e-7, atol=0, equal_nan=True)
    if a.dtype == object or b.dtype == object:
        return a.dtype == b.dtype and a.shape == b.shape and all(x == y for x, y in zip(a.ravel(), b.ravel()))
    return a.dtype == b.dtype and a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=0, equal_nan=True)


def main():
    binary = sys.argv[1]
    failed = 0
    for name, m, inputs in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.onnx")
            onnx.save(m, path)
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            want = sess.run(None, {i.name: a for i, a in zip(sess.get_inputs(), inputs)})
            want = [np.asarray(w) for w in want]
            try:
                got = run_singa(binary, path, inputs, tmp)
            except RuntimeError as e:
                print(f"FAIL {name}: singa_onnx: {e}")
                failed += 1
                continue
            bad = [i for i, (g, w) in enumerate(zip(got, want)) if not same(g, w, name.startswith("cast_") and name.endswith("to_string"))]
            if bad:
                failed += 1
                for i in bad:
                    print(f"FAIL {name} output {i}: singa {got[i].dtype}{got[i].shape} {got[i].ravel()[:8].tolist()}"
                          f" onnxruntime {want[i].dtype}{want[i].shape} {want[i].ravel()[:8].tolist()}")
            else:
                print(f"ok   {name}")
    print(f"{len(CASES) - failed} of {len(CASES)} string models match onnxruntime")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
