"""The ai.onnx.ml operators, TfIdfVectorizer and ImageDecoder through `singa_onnx run`, checked
against independent references on models written with onnx.helper.

    python ml_ops_ort.py SINGA_ONNX [--atol 1e-5] [-v]

References: onnxruntime (CPU provider) for the ai.onnx.ml operators and TfIdfVectorizer; Pillow
for ImageDecoder (the image is encoded with Pillow and the expected pixels are Pillow's decode,
compared exactly for PNG and within 2 levels for JPEG, where decoders may round differently).
Hostile models (bad attributes, string inputs, cyclic trees, unsupported image formats) must be
refused with a clear error: exit code 1 (not a crash) and a message naming the problem.
Exits 1 when any case fails.
"""
import argparse
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto as TP, helper, numpy_helper

ML = "ai.onnx.ml"


def model_of(node, inputs, outputs, ml_opset=3, opset=17):
    graph = helper.make_graph([node], "g", inputs, outputs)
    imports = [helper.make_opsetid("", opset), helper.make_opsetid(ML, ml_opset)]
    m = helper.make_model(graph, opset_imports=imports)
    m.ir_version = 10
    return m


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def run_singa(singa_onnx, model, feeds):
    """(returncode, outputs or None, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        onnx.save(model, path)
        cmd = [singa_onnx, "run", path, "--output-dir", os.path.join(tmp, "out")]
        for i, (name, arr) in enumerate(feeds.items()):
            p = os.path.join(tmp, f"input_{i}.pb")
            with open(p, "wb") as f:
                f.write(numpy_helper.from_array(arr, name).SerializeToString())
            cmd += ["--input", p]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            return r.returncode, None, r.stderr
        outs = []
        for i in range(len(model.graph.output)):
            outs.append(numpy_helper.to_array(onnx.load_tensor(os.path.join(tmp, "out", f"output_{i}.pb"))))
        return 0, outs, r.stderr


def run_ort(model, feeds):
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


RNG = np.random.default_rng(7)
X = RNG.standard_normal((5, 4)).astype(np.float32)


def ml(op, inputs, outputs, **attrs):
    return helper.make_node(op, [i.name for i in inputs], [o.name for o in outputs], domain=ML, **attrs)


def ort_cases():
    """(name, model, feeds) compared with onnxruntime."""
    xi = vi("X", TP.FLOAT, [5, 4])
    y = vi("Y", TP.FLOAT, None)
    cases = []
    add = lambda name, node, ins, outs, feeds, **kw: cases.append((name, model_of(node, ins, outs, **kw), feeds))
    add("binarizer", ml("Binarizer", [xi], [y], threshold=0.3), [xi], [y], {"X": X})
    idx = vi("I", TP.INT64, [3])
    add("array_feature_extractor", ml("ArrayFeatureExtractor", [xi, idx], [y]), [xi, idx], [y],
        {"X": X, "I": np.array([3, 0, 3], np.int64)})
    add("scaler", ml("Scaler", [xi], [y], offset=[0.5, -1.0, 0.0, 2.0], scale=[2.0, 0.5, 1.5, -1.0]), [xi], [y], {"X": X})
    add("scaler_scalar", ml("Scaler", [xi], [y], offset=[0.25], scale=[3.0]), [xi], [y], {"X": X})
    for norm in ("MAX", "L1", "L2"):
        add(f"normalizer_{norm}", ml("Normalizer", [xi], [y], norm=norm), [xi], [y], {"X": X})
    xn = X.copy()
    xn[1, 2] = np.nan
    xn[3, 0] = np.nan
    add("imputer_nan", ml("Imputer", [xi], [y], imputed_value_floats=[9.0, 8.0, 7.0, 6.0], replaced_value_float=np.nan),
        [xi], [y], {"X": xn})
    xint = vi("X", TP.INT64, [2, 3])
    yint = vi("Y", TP.INT64, None)
    add("imputer_int", ml("Imputer", [xint], [yint], imputed_value_int64s=[100], replaced_value_int64=0),
        [xint], [yint], {"X": np.array([[0, 1, 2], [3, 0, 0]], np.int64)})
    for post in ("NONE", "LOGISTIC", "SOFTMAX"):
        add(f"linear_regressor_{post}",
            ml("LinearRegressor", [xi], [y], coefficients=list(RNG.standard_normal(8)), intercepts=[0.5, -0.25],
               targets=2, post_transform=post), [xi], [y], {"X": X})
    lab = vi("L", TP.INT64, None)
    for post in ("NONE", "SOFTMAX", "LOGISTIC"):
        add(f"linear_classifier_{post}",
            ml("LinearClassifier", [xi], [lab, y], coefficients=list(RNG.standard_normal(12)), intercepts=[0.1, 0.2, -0.3],
               classlabels_ints=[3, 5, 7], post_transform=post), [xi], [lab, y], {"X": X})
    add("linear_classifier_binary",
        ml("LinearClassifier", [xi], [lab, y], coefficients=list(RNG.standard_normal(4)), intercepts=[0.1],
           classlabels_ints=[0, 1]), [xi], [lab, y], {"X": X})
    add("linear_classifier_binary_logistic",
        ml("LinearClassifier", [xi], [lab, y], coefficients=list(RNG.standard_normal(4)), intercepts=[0.1],
           classlabels_ints=[0, 1], post_transform="LOGISTIC"), [xi], [lab, y], {"X": X})
    xc = vi("X", TP.INT64, [2, 3])
    add("one_hot_encoder", ml("OneHotEncoder", [xc], [y], cats_int64s=[1, 4, 6, 9], zeros=1), [xc], [y],
        {"X": np.array([[1, 4, 5], [9, 6, 1]], np.int64)})
    a, b = vi("A", TP.FLOAT, [2, 3]), vi("B", TP.FLOAT, [2, 2])
    add("feature_vectorizer", ml("FeatureVectorizer", [a, b], [y], inputdimensions=[3, 2]), [a, b], [y],
        {"A": X[:2, :3].copy(), "B": X[2:4, :2].copy()})
    xk = vi("X", TP.INT64, [6])
    add("label_encoder_int_float",
        ml("LabelEncoder", [xk], [y], keys_int64s=[1, 2, 3], values_floats=[0.5, 1.5, 2.5], default_float=-7.0),
        [xk], [y], {"X": np.array([1, 2, 3, 4, 2, 0], np.int64)}, ml_opset=2)
    add("label_encoder_int_int",
        ml("LabelEncoder", [xk], [yint], keys_int64s=[1, 2, 3], values_int64s=[10, 20, 30], default_int64=-5),
        [xk], [yint], {"X": np.array([1, 2, 3, 4, 2, 0], np.int64)}, ml_opset=2)
    xf = vi("X", TP.FLOAT, [4])
    add("label_encoder_tensor_float_int",
        ml("LabelEncoder", [xf], [yint],
           keys_tensor=numpy_helper.from_array(np.array([0.5, 1.5, np.nan], np.float32), "k"),
           values_tensor=numpy_helper.from_array(np.array([1, 2, 3], np.int64), "v"),
           default_tensor=numpy_helper.from_array(np.array([-1], np.int64), "d")),
        [xf], [yint], {"X": np.array([1.5, np.nan, 0.5, 9.0], np.float32)}, ml_opset=4)
    # A two-tree regressor (opset 3): tree 0 splits on feature 1, tree 1 on features 0 and 3.
    reg = dict(nodes_treeids=[0, 0, 0, 1, 1, 1, 1, 1], nodes_nodeids=[0, 1, 2, 0, 1, 2, 3, 4],
               nodes_featureids=[1, 0, 0, 0, 3, 0, 0, 0],
               nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_GT", "BRANCH_LT", "LEAF", "LEAF", "LEAF"],
               nodes_values=[0.1, 0, 0, -0.2, 0.3, 0, 0, 0], nodes_truenodeids=[1, 0, 0, 1, 3, 0, 0, 0],
               nodes_falsenodeids=[2, 0, 0, 2, 4, 0, 0, 0],
               target_treeids=[0, 0, 0, 1, 1, 1], target_nodeids=[1, 2, 2, 2, 3, 4], target_ids=[0, 0, 1, 1, 0, 1],
               target_weights=[1.0, 2.0, 0.5, -1.0, 3.0, 4.0], n_targets=2)
    for agg in ("SUM", "AVERAGE", "MIN", "MAX"):
        add(f"tree_ensemble_regressor_{agg}",
            ml("TreeEnsembleRegressor", [xi], [y], aggregate_function=agg, base_values=[0.25, -0.5], **reg),
            [xi], [y], {"X": X})
    add("tree_ensemble_regressor_logistic",
        ml("TreeEnsembleRegressor", [xi], [y], post_transform="LOGISTIC", **reg), [xi], [y], {"X": X})
    # Classifiers on the same trees: 3 classes, and a binary model whose leaves weigh class 1 only.
    cls = {k.replace("target_", "class_"): v for k, v in reg.items() if k != "n_targets"}
    for post in ("NONE", "SOFTMAX", "LOGISTIC"):
        c3 = dict(cls, class_ids=[0, 2, 1, 1, 0, 2])
        add(f"tree_ensemble_classifier_{post}",
            ml("TreeEnsembleClassifier", [xi], [lab, y], classlabels_int64s=[4, 5, 6], post_transform=post,
               base_values=[0.1, 0.0, -0.1], **c3), [xi], [lab, y], {"X": X})
    for name, weights in (("probabilities", [0.2, 0.9, 0.6, 0.1, 0.7, 0.4]), ("signed", [1.0, -2.0, 0.5, -1.0, 3.0, -4.0])):
        for post, cid in (("NONE", 0), ("LOGISTIC", 0), ("NONE", 1), ("LOGISTIC", 1)):
            c2 = dict(cls, class_ids=[cid] * 6, class_weights=weights)
            add(f"tree_ensemble_classifier_binary_{name}_{post}_class{cid}",
                ml("TreeEnsembleClassifier", [xi], [lab, y], classlabels_int64s=[0, 1], post_transform=post, **c2),
                [xi], [lab, y], {"X": X})
    # Support vector machines: every kernel; a 3-class and a 2-class one-vs-one classifier.
    sv = RNG.standard_normal((6, 4)).round(2)
    for kernel in ("LINEAR", "POLY", "RBF", "SIGMOID"):
        params = [0.3, 0.5, 2.0]
        add(f"svm_regressor_{kernel}",
            ml("SVMRegressor", [xi], [y], kernel_type=kernel, kernel_params=params, n_supports=6,
               support_vectors=list(sv.ravel()), coefficients=list(RNG.standard_normal(6).round(2)), rho=[0.2]),
            [xi], [y], {"X": X})
        add(f"svm_classifier3_{kernel}",
            ml("SVMClassifier", [xi], [lab, y], kernel_type=kernel, kernel_params=params, classlabels_ints=[1, 2, 3],
               vectors_per_class=[2, 3, 1], support_vectors=list(sv.ravel()),
               coefficients=list(RNG.standard_normal(12).round(2)), rho=[0.1, -0.2, 0.3]),
            [xi], [lab, y], {"X": X})
        add(f"svm_classifier2_{kernel}",
            ml("SVMClassifier", [xi], [lab, y], kernel_type=kernel, kernel_params=params, classlabels_ints=[0, 1],
               vectors_per_class=[4, 2], support_vectors=list(sv.ravel()),
               coefficients=list(RNG.standard_normal(6).round(2)), rho=[0.1]),
            [xi], [lab, y], {"X": X})
    for kernel in ("RBF", "LINEAR"):
        add(f"svm_classifier3_probabilities_{kernel}",
            ml("SVMClassifier", [xi], [lab, y], kernel_type=kernel, kernel_params=[0.3, 0.5, 2.0], classlabels_ints=[1, 2, 3],
               vectors_per_class=[2, 3, 1], support_vectors=list(sv.ravel()),
               coefficients=list(RNG.standard_normal(12).round(2)), rho=[0.1, -0.2, 0.3],
               prob_a=[-1.5, -0.8, -2.0], prob_b=[0.1, -0.2, 0.05]), [xi], [lab, y], {"X": X})
        add(f"svm_classifier2_probabilities_{kernel}",
            ml("SVMClassifier", [xi], [lab, y], kernel_type=kernel, kernel_params=[0.3, 0.5, 2.0], classlabels_ints=[0, 1],
               vectors_per_class=[4, 2], support_vectors=list(sv.ravel()),
               coefficients=list(RNG.standard_normal(6).round(2)), rho=[0.1], prob_a=[-1.2], prob_b=[0.3]),
            [xi], [lab, y], {"X": X})
    add("svm_regressor_linear_one_class",
        ml("SVMRegressor", [xi], [y], kernel_type="LINEAR", kernel_params=[0.0, 0.0, 0.0], n_supports=0, coefficients=[0.5, -1.0, 0.25, 2.0], rho=[0.1], one_class=1),
        [xi], [y], {"X": X})
    # TfIdfVectorizer in every mode, with weights and a non-identity ngram_indexes.
    tok = vi("T", TP.INT64, [2, 7])
    toks = np.array([[1, 2, 3, 2, 3, 4, 1], [4, 4, 2, 3, 1, 2, 3]], np.int64)
    for mode in ("TF", "IDF", "TFIDF"):
        node = helper.make_node("TfIdfVectorizer", ["T"], ["Y"], mode=mode, min_gram_length=1, max_gram_length=3,
                                max_skip_count=2, ngram_counts=[0, 3, 7], ngram_indexes=[4, 0, 2, 1, 5, 6],
                                pool_int64s=[1, 2, 4, 2, 3, 3, 4, 1, 2, 3],
                                weights=[0.5, 1.5, 2.0, 0.25, 3.0, 4.0])
        cases.append((f"tfidf_{mode}", model_of(node, [tok], [y]), {"T": toks}))
    return cases


def hostile_cases():
    """(name, model, feeds, text the error must contain)."""
    xi = vi("X", TP.FLOAT, [5, 4])
    y = vi("Y", TP.FLOAT, None)
    tok = vi("T", TP.INT64, [6])
    toks = {"T": np.array([1, 2, 3, 4, 5, 6], np.int64)}
    cases = []
    add = lambda name, node, ins, outs, feeds, text, **kw: cases.append((name, model_of(node, ins, outs, **kw), feeds, text))
    add("tfidf_bad_mode", helper.make_node("TfIdfVectorizer", ["T"], ["Y"], mode="BM25", min_gram_length=1,
                                           max_gram_length=1, ngram_counts=[0], ngram_indexes=[0], pool_int64s=[1]),
        [tok], [y], toks, "mode must be TF, IDF or TFIDF")
    add("tfidf_strings", helper.make_node("TfIdfVectorizer", ["T"], ["Y"], mode="TF", min_gram_length=1,
                                          max_gram_length=1, ngram_counts=[0], ngram_indexes=[0], pool_strings=["a"]),
        [tok], [y], toks, "pool_strings")
    add("tfidf_ragged_pool", helper.make_node("TfIdfVectorizer", ["T"], ["Y"], mode="TF", min_gram_length=1,
                                              max_gram_length=2, ngram_counts=[0, 1], ngram_indexes=[0, 1],
                                              pool_int64s=[1, 2, 3, 4]),
        [tok], [y], toks, "whole number of 2-grams")
    add("tfidf_huge_index", helper.make_node("TfIdfVectorizer", ["T"], ["Y"], mode="TF", min_gram_length=1,
                                             max_gram_length=1, ngram_counts=[0], ngram_indexes=[1 << 50],
                                             pool_int64s=[1]),
        [tok], [y], toks, "TfIdfVectorizer output")
    add("scaler_bad_scale", ml("Scaler", [xi], [y], scale=[1.0, 2.0]), [xi], [y], {"X": X}, "one per column")
    add("normalizer_bad_norm", ml("Normalizer", [xi], [y], norm="L3"), [xi], [y], {"X": X}, "norm must be")
    add("label_encoder_strings", ml("LabelEncoder", [xi], [y], keys_strings=["a"], values_floats=[1.0]),
        [xi], [y], {"X": X}, "string tensors", ml_opset=2)
    add("linear_regressor_coefficients", ml("LinearRegressor", [xi], [y], coefficients=[1.0, 2.0], targets=1),
        [xi], [y], {"X": X}, "coefficients has 2 values")
    add("svm_bad_kernel", ml("SVMRegressor", [xi], [y], kernel_type="CUBIC", n_supports=0, coefficients=[1.0] * 4,
                             rho=[0.0]), [xi], [y], {"X": X}, "kernel_type must be")
    add("svm_support_vectors", ml("SVMRegressor", [xi], [y], n_supports=3, coefficients=[1.0] * 3,
                                  support_vectors=[1.0] * 5, rho=[0.0]), [xi], [y], {"X": X}, "support_vectors needs")
    add("svm_probabilities", ml("SVMClassifier", [xi], [vi("L", TP.INT64, None), y], classlabels_ints=[0, 1, 2],
                                vectors_per_class=[1, 1, 1], support_vectors=[1.0] * 12, coefficients=[1.0] * 6,
                                rho=[0.0] * 3, prob_a=[1.0], prob_b=[0.0]), [xi], [vi("L", TP.INT64, None), y], {"X": X},
        "prob_a and prob_b need one value per pair")
    # Node 0 (the root) -> node 1 -> node 2 -> node 1 ...: every split is taken (x <= 100).
    cyc = dict(nodes_treeids=[0, 0, 0, 0], nodes_nodeids=[0, 1, 2, 3], nodes_featureids=[0, 0, 0, 0],
               nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ", "BRANCH_LEQ", "LEAF"], nodes_values=[100.0] * 4,
               nodes_truenodeids=[1, 2, 1, 0], nodes_falsenodeids=[3, 2, 1, 0], target_treeids=[0],
               target_nodeids=[3], target_ids=[0], target_weights=[1.0], n_targets=1)
    add("tree_cycle", ml("TreeEnsembleRegressor", [xi], [y], **cyc), [xi], [y], {"X": X}, "cycle")
    bad_feature = dict(cyc, nodes_featureids=[99, 0, 0, 0], nodes_truenodeids=[3, 3, 3, 0])
    add("tree_bad_feature", ml("TreeEnsembleRegressor", [xi], [y], **bad_feature), [xi], [y], {"X": X},
        "feature id 99")
    # ZipMap's sequence of maps has no engine type: refused before anything runs, naming both.
    zmap = helper.make_value_info("Z", helper.make_sequence_type_proto(
        helper.make_map_type_proto(TP.INT64, helper.make_tensor_type_proto(TP.FLOAT, []))))
    zipmap = model_of(ml("LinearClassifier", [xi], [vi("L", TP.INT64, None), vi("P", TP.FLOAT, None)],
                         coefficients=[1.0] * 8, classlabels_ints=[0, 1]), [xi], [vi("L", TP.INT64, None), zmap])
    zipmap.graph.node.append(helper.make_node("ZipMap", ["P"], ["Z"], domain=ML, classlabels_int64s=[0, 1]))
    cases.append(("zipmap", zipmap, {"X": X}, "ZipMap 'ZipMap#1' [domain ai.onnx.ml] (opset 3): operator not supported"))
    cases.append(("zipmap_output", zipmap, {"X": X}, "maps and sparse tensors are not supported"))
    enc = vi("E", TP.UINT8, [None])
    img = vi("Y", TP.UINT8, None)
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buf, format="BMP")
    truncated = np.frombuffer(buf.getvalue()[:1000], np.uint8).copy()
    cases.append(("image_decoder_truncated_bmp", model_of(helper.make_node("ImageDecoder", ["E"], ["Y"]), [enc], [img], opset=20),
                  {"E": truncated}, "BMP pixel data is truncated"))
    huge = bytearray(buf.getvalue())
    huge[18:26] = (1 << 30).to_bytes(4, "little") + (1 << 30).to_bytes(4, "little")
    cases.append(("image_decoder_huge_bmp", model_of(helper.make_node("ImageDecoder", ["E"], ["Y"]), [enc], [img], opset=20),
                  {"E": np.frombuffer(bytes(huge), np.uint8).copy()}, "exceed"))
    webp = np.frombuffer(b"RIFF\0\0\0\0WEBPVP8 " + bytes(40), np.uint8).copy()
    cases.append(("image_decoder_webp", model_of(helper.make_node("ImageDecoder", ["E"], ["Y"]), [enc], [img], opset=20),
                  {"E": webp}, "WebP images are not supported"))
    junk = np.frombuffer(bytes(range(64)), np.uint8).copy()
    cases.append(("image_decoder_junk", model_of(helper.make_node("ImageDecoder", ["E"], ["Y"]), [enc], [img], opset=20),
                  {"E": junk}, "ImageDecoder"))
    return cases


def image_cases():
    """(name, model, feeds, expected, tolerance) with Pillow as the reference."""
    from PIL import Image
    rng = np.random.default_rng(3)
    # A smooth colour image (JPEG decoders agree closely on smooth content).
    yy, xx = np.mgrid[0:24, 0:32]
    rgb = np.stack([xx * 7, yy * 9, (xx + yy) * 4], -1).astype(np.uint8)
    rgb[5:9, 10:20] = rng.integers(0, 256, (4, 10, 3), dtype=np.uint8)
    cases = []
    gray = rgb[..., 1].copy()
    encodings = [("PNG", rgb, 0), ("JPEG", rgb, 2), ("BMP", rgb, 0), ("PPM", rgb, 0), ("TIFF", rgb, 0),
                 ("BMP", gray, 0), ("PPM", gray, 0), ("TIFF", gray, 0)]
    for fmt, pixels, tol in encodings:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format=fmt)
        data = np.frombuffer(buf.getvalue(), np.uint8).copy()
        decoded = Image.open(io.BytesIO(buf.getvalue()))
        for pf in ("RGB", "BGR", "Grayscale"):
            if pf == "Grayscale":
                want = np.array(decoded.convert("L"))[..., None]
            else:
                want = np.array(decoded.convert("RGB"))
                if pf == "BGR":
                    want = want[..., ::-1]
            node = helper.make_node("ImageDecoder", ["E"], ["Y"], pixel_format=pf)
            m = model_of(node, [vi("E", TP.UINT8, [None])], [vi("Y", TP.UINT8, None)], opset=20)
            cases.append((f"image_decoder_{fmt.lower()}{pixels.ndim}d_{pf}", m, {"E": data}, np.ascontiguousarray(want), tol))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("singa_onnx")
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    failed = 0

    def report(name, ok, why=""):
        nonlocal failed
        failed += 0 if ok else 1
        if args.v or not ok:
            print(f"{name}: {'ok' if ok else 'FAIL ' + why}")

    for name, model, feeds in ort_cases():
        want = run_ort(model, feeds)
        rc, got, err = run_singa(args.singa_onnx, model, feeds)
        if rc != 0:
            report(name, False, err.strip()[:300])
            continue
        why = ""
        for i, (g, w) in enumerate(zip(got, want)):
            w = np.asarray(w)
            if g.dtype != w.dtype or g.shape != w.shape:
                why = f"output {i}: got {g.dtype}{list(g.shape)}, ORT {w.dtype}{list(w.shape)}"
            elif not np.allclose(g.astype(np.float64), w.astype(np.float64), atol=args.atol, rtol=1e-5, equal_nan=True):
                why = f"output {i}: max diff {np.nanmax(np.abs(g.astype(np.float64) - w)):.3g}\n got {g}\n ORT {w}"
            if why:
                break
        report(name, not why, why)
    for name, model, feeds, want, tol in image_cases():
        rc, got, err = run_singa(args.singa_onnx, model, feeds)
        if rc != 0:
            report(name, False, err.strip()[:300])
            continue
        g = got[0]
        if g.dtype != want.dtype or g.shape != want.shape:
            report(name, False, f"got {g.dtype}{list(g.shape)}, Pillow {want.dtype}{list(want.shape)}")
            continue
        diff = int(np.max(np.abs(g.astype(np.int64) - want.astype(np.int64)))) if want.size else 0
        report(name, diff <= tol, f"max |singa - Pillow| = {diff} > {tol}")
        if args.v:
            print(f"  max |singa - Pillow| = {diff}")
    for name, model, feeds, text in hostile_cases():
        rc, _, err = run_singa(args.singa_onnx, model, feeds)
        report(name, rc == 1 and text in err, f"rc {rc}, stderr: {err.strip()[:300]}")
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
