"""singa_train --export, end to end: the built-in CNN trained briefly, the exported model
re-trained with --onnx, and a transfer-learned model (--last-layers -1 --num-classes 10) are each
exported; every file must pass onnx.checker (full_check) and give, in onnxruntime, the outputs
singa computes for the same input (rtol/atol 1e-5); and re-importing the exported CNN must
reproduce the trained model's test accuracy exactly (the export is the trained model).

Usage: python singa_train_export.py --singa-train PATH --singa-onnx PATH --out DIR
"""
import argparse
import json
import os
import sys

import numpy as np
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_export  # noqa: E402
from interop_util import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--singa-train", required=True)
    ap.add_argument("--singa-onnx", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    common = ["--epochs", "1", "--limit-train", "1280", "--limit-test", "500", "--momentum", "0.9", "-q"]
    cnn = os.path.join(args.out, "cnn", "model_op17.onnx")
    m = os.path.join(args.out, "cnn.json")
    run([args.singa_train, "--model", "cnn", *common, "--export", cnn, "--metrics-json", m])
    trained_acc = json.load(open(m))["test_accuracy"]
    run([args.singa_train, "--model", "cnn", *common, "--export", os.path.join(args.out, "cnn13", "model_op13.onnx"),
         "--opset", "13"])
    run([args.singa_train, "--onnx", cnn, *common, "--export", os.path.join(args.out, "finetuned", "model_op17.onnx")])
    run([args.singa_train, "--onnx", cnn, "--last-layers", "-1", "--num-classes", "10", *common,
         "--export", os.path.join(args.out, "transfer", "model_op17.onnx")])

    # Re-import: the exported CNN evaluates to the trained model's accuracy, exactly.
    m2 = os.path.join(args.out, "reimport.json")
    run([args.singa_train, "--onnx", cnn, "--epochs", "0", "--limit-test", "500", "-q", "--metrics-json", m2])
    reimport_acc = json.load(open(m2))["test_accuracy"]
    failures = []
    if reimport_acc != trained_acc:
        failures.append(f"re-imported CNN accuracy {reimport_acc} != trained {trained_acc}")
    else:
        print(f"ok   re-imported CNN evaluates to the trained accuracy {trained_acc:.4f}")

    rng = np.random.default_rng(0)
    x = rng.random((5, 1, 28, 28), dtype=np.float32)
    for case in ("cnn", "cnn13", "finetuned", "transfer"):
        d = os.path.join(args.out, case)
        (model,) = [f for f in os.listdir(d) if f.endswith(".onnx")]
        path = os.path.join(d, model)
        with open(os.path.join(d, "input_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(x, "input").SerializeToString())
        run([args.singa_onnx, "run", path, "--input", os.path.join(d, "input_0.pb"), "--output-dir", d])
        outputs = check_export.numbered(d, "output")
        errs = check_export.check_model(path, [x], outputs)
        print(("ok  " if not errs else "FAIL") + f" {case}: checker + onnxruntime vs singa")
        failures += errs
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
