#!/usr/bin/env python3
"""Runs ONNX backend-test case folders through `singa_onnx run`, from the .pb files alone, and
compares what it writes with the expected outputs the way ONNX's backend runner does.

    .venv/bin/python tests/onnx/cli_conformance.py build/singa_onnx /usr/share/libonnx-testdata/data/node
        [--filter SUBSTRING] [--rtol 1e-3] [--atol 1e-7] [--json results.json] [--min-pass-rate R] [-v]
    .venv/bin/python tests/onnx/cli_conformance.py onnxruntime DIR...     (the peer, same comparison)

Independent of singa's own case runner (`singa_onnx test`): every file is read and every
comparison made with the onnx package. Each output is read as the kind the graph declares
(TensorProto, SequenceProto or OptionalProto, with onnx.numpy_helper), so a file of the wrong kind
fails the case. Values match when their dtypes are equal and
|actual - expected| <= atol + rtol * |expected| (NaN matches NaN), item by item for sequences; an
empty optional matches only an empty optional. A case passes when every test_data_set_* does.
With `onnxruntime` in place of the singa_onnx path, the same cases run through onnxruntime's
CPU provider (inputs read from the .pb files as their declared types, default session options),
compared the same way: both engines' figures from one script.
Prints one line per case that does not pass and a summary line:
    node: 866 passed, 66 failed of 932 (92.9%)
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper


def read_value(path, type_proto):
    """The value in `path` as its declared type says: ndarray, list of ndarrays, or None."""
    with open(path, "rb") as f:
        data = f.read()
    kind = type_proto.WhichOneof("value") if type_proto is not None else "tensor_type"
    if kind == "sequence_type":
        msg = onnx.SequenceProto()
        msg.ParseFromString(data)
        return [numpy_helper.to_array(t) for t in msg.tensor_values]
    if kind == "optional_type":
        msg = onnx.OptionalProto()
        msg.ParseFromString(data)
        if msg.HasField("tensor_value"):
            return numpy_helper.to_array(msg.tensor_value)
        if msg.HasField("sequence_value"):
            return [numpy_helper.to_array(t) for t in msg.sequence_value.tensor_values]
        return None
    msg = onnx.TensorProto()
    msg.ParseFromString(data)
    return numpy_helper.to_array(msg)


def differ(actual, expected, rtol, atol):
    """'' when the values match, else a short description."""
    if expected is None or actual is None:
        return "" if expected is None and actual is None else f"got {type(actual).__name__}, expected {type(expected).__name__}"
    if isinstance(expected, list) or isinstance(actual, list):
        if not (isinstance(expected, list) and isinstance(actual, list)) or len(actual) != len(expected):
            return f"got {describe(actual)}, expected {describe(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            d = differ(a, e, rtol, atol)
            if d:
                return f"item {i}: {d}"
        return ""
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype}, expected {expected.dtype}"
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    if expected.dtype == object:
        return "" if np.array_equal(actual, expected) else "strings differ"
    if expected.dtype.kind not in "biufc":  # ml_dtypes (bfloat16, float8, int4): compare the values
        actual, expected = actual.astype(np.float64), expected.astype(np.float64)
    try:
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    except AssertionError as e:
        return " ".join(str(e).split())[:200]
    return ""


def describe(v):
    if isinstance(v, list):
        return f"sequence of {len(v)}"
    return "empty optional" if v is None else f"tensor {v.dtype}{list(v.shape)}"


def numbered(ds, prefix):
    files = glob.glob(os.path.join(ds, prefix + "_*.pb"))
    return sorted(files, key=lambda p: int(p.rsplit("_", 1)[1][:-3]))


def run_case_ort(case, rtol, atol):
    """(status, reason) for onnxruntime: ERROR when it refuses the model or a run."""
    import onnxruntime as ort  # the peer, imported only when asked for
    model_path = os.path.join(case, "model.onnx")
    model = onnx.load(model_path, load_external_data=False)
    init = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init]
    outputs = list(model.graph.output)
    sets = sorted(glob.glob(os.path.join(case, "test_data_set_*")))
    if not sets:
        return "FAIL", "no test_data_set_*"
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    try:
        session = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        return "ERROR", " ".join(str(e).split())[:200]
    for ds in sets:
        feed = {}
        for i, p in enumerate(numbered(ds, "input")):
            if i >= len(inputs):
                return "FAIL", f"{os.path.basename(p)}: the model declares {len(inputs)} inputs"
            feed[inputs[i].name] = read_value(p, inputs[i].type)
        try:
            got = session.run(None, feed)
        except Exception as e:
            return "ERROR", " ".join(str(e).split())[:200]
        for i, exp_path in enumerate(numbered(ds, "output")):
            declared = outputs[i].type if i < len(outputs) else None
            if i >= len(got):
                return "FAIL", f"no output {i}"
            value = got[i]
            if isinstance(value, np.ndarray) or isinstance(value, list) or value is None:
                pass
            else:
                value = np.asarray(value)
            d = differ(value, read_value(exp_path, declared), rtol, atol)
            if d:
                return "FAIL", f"{os.path.basename(ds)} output {i}: {d}"
    return "PASS", ""


def run_case(singa_onnx, case, rtol, atol):
    """(status, reason): PASS, FAIL or ERROR (singa_onnx exited non-zero)."""
    model = onnx.load(os.path.join(case, "model.onnx"), load_external_data=False)
    init = {t.name for t in model.graph.initializer}
    outputs = list(model.graph.output)
    sets = sorted(glob.glob(os.path.join(case, "test_data_set_*")))
    if not sets:
        return "FAIL", "no test_data_set_*"
    for ds in sets:
        inputs = sorted(glob.glob(os.path.join(ds, "input_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
        expected = sorted(glob.glob(os.path.join(ds, "output_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
        with tempfile.TemporaryDirectory() as out:
            cmd = [singa_onnx, "run", os.path.join(case, "model.onnx"), "--output-dir", out]
            for p in inputs:
                cmd += ["--input", p]
            r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
            if r.returncode != 0:
                return "ERROR", " ".join((r.stderr or r.stdout).split())[:200]
            for i, exp_path in enumerate(expected):
                declared = outputs[i].type if i < len(outputs) and outputs[i].name not in init else None
                got_path = os.path.join(out, f"output_{i}.pb")
                if not os.path.exists(got_path):
                    return "FAIL", f"no output_{i}.pb"
                try:
                    got = read_value(got_path, declared)
                except Exception as e:  # a file of another kind than declared
                    return "FAIL", f"output_{i}.pb unreadable as declared: {e}"
                d = differ(got, read_value(exp_path, declared), rtol, atol)
                if d:
                    return "FAIL", f"{os.path.basename(ds)} output {i}: {d}"
    return "PASS", ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("singa_onnx", help="the singa_onnx program, or `onnxruntime` for the peer")
    ap.add_argument("root", nargs="+", help="a case folder, or a folder of case folders")
    ap.add_argument("--filter", default="", help="only cases whose name contains this")
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--atol", type=float, default=1e-7)
    ap.add_argument("--json", help="write per-case results here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print passing cases too")
    ap.add_argument("--min-pass-rate", type=float, default=0.0,
                    help="exit 1 unless this fraction (0..1) of each folder's cases passes")
    args = ap.parse_args()
    results = {}
    below = []
    for root in args.root:
        cases = [root] if os.path.exists(os.path.join(root, "model.onnx")) else sorted(
            d for d in glob.glob(os.path.join(root, "*")) if os.path.exists(os.path.join(d, "model.onnx")))
        cases = [c for c in cases if args.filter in os.path.basename(c)]
        passed = 0
        for c in cases:
            try:
                if args.singa_onnx == "onnxruntime":
                    status, reason = run_case_ort(c, args.rtol, args.atol)
                else:
                    status, reason = run_case(args.singa_onnx, c, args.rtol, args.atol)
            except Exception as e:  # a case the onnx package itself cannot read or compare
                status, reason = "FAIL", f"{type(e).__name__}: {' '.join(str(e).split())[:160]}"
            results[c] = {"status": status, "reason": reason}
            passed += status == "PASS"
            if status != "PASS" or args.verbose:
                print(f"{status:6} {os.path.basename(c)}{': ' + reason if reason else ''}", flush=True)
        label = os.path.basename(os.path.normpath(root))
        pct = 100.0 * passed / len(cases) if cases else 0.0
        print(f"{label}: {passed} passed, {len(cases) - passed} not passed of {len(cases)} ({pct:.1f}%)", flush=True)
        if pct + 1e-9 < 100.0 * args.min_pass_rate:
            below.append(f"{label}: pass rate {pct:.1f}% is below the required {100.0 * args.min_pass_rate:.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    for line in below:
        print("cli_conformance: " + line)
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
