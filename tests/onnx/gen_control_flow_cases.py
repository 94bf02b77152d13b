"""Writes control-flow test cases (If, Loop, Scan, SequenceMap) in the layout of ONNX's node test
data (model.onnx + test_data_set_N/input_K.pb, output_K.pb), with the expected outputs computed
by onnxruntime: an independent reference for what ONNX's own cases leave out (subgraphs reading
outer-scope values and initializers, nesting, early loop exit, Scan axes and directions, opset 8
sequence lengths in reverse, SequenceMap with a tensor input). `singa_onnx test OUT_DIR` runs them.

Usage: python gen_control_flow_cases.py OUT_DIR
"""
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64
B = TensorProto.BOOL


def serialise(value, type_proto, name):
    if type_proto.HasField("sequence_type"):
        return numpy_helper.from_list(list(value), name).SerializeToString()
    return numpy_helper.from_array(np.asarray(value), name).SerializeToString()


def save_case(out, name, model, datasets):
    onnx.checker.check_model(model, full_check=True)
    d = os.path.join(out, name)
    os.makedirs(d)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inits = {i.name for i in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in inits]
    for k, inputs in enumerate(datasets):
        ds = os.path.join(d, "test_data_set_%d" % k)
        os.makedirs(ds)
        feeds = {vi.name: v for vi, v in zip(graph_inputs, inputs)}
        outputs = sess.run(None, feeds)
        for j, (vi, v) in enumerate(zip(graph_inputs, inputs)):
            with open(os.path.join(ds, "input_%d.pb" % j), "wb") as f:
                f.write(serialise(v, vi.type, vi.name))
        for j, (vi, v) in enumerate(zip(model.graph.output, outputs)):
            with open(os.path.join(ds, "output_%d.pb" % j), "wb") as f:
                f.write(serialise(v, vi.type, vi.name))


def model_of(graph, opset):
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def arr(shape, seed, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def if_outer_scope():
    # then: x * w (w an initializer of the main graph); else: a nested If (depth 2) on x's sum.
    inner_then = helper.make_graph([helper.make_node("Relu", ["x"], ["r"])], "inner_then", [], [vi("r", F, [3, 4])])
    inner_else = helper.make_graph([helper.make_node("Sub", ["x", "b"], ["s"])], "inner_else", [], [vi("s", F, [3, 4])])
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["t"]), helper.make_node("Neg", ["t"], ["t2"])],
                               "then", [], [vi("t", F, [3, 4]), vi("t2", F, [3, 4])])
    else_g = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["sx"], keepdims=0),
         helper.make_node("Greater", ["sx", "zero"], ["pos"]),
         helper.make_node("If", ["pos"], ["e"], then_branch=inner_then, else_branch=inner_else),
         helper.make_node("Identity", ["x"], ["e2"])],
        "else", [], [vi("e", F, [3, 4]), vi("e2", F, [3, 4])])
    g = helper.make_graph(
        [helper.make_node("If", ["c"], ["y", "z"], then_branch=then_g, else_branch=else_g)], "if_outer_scope",
        [vi("c", B, []), vi("x", F, [3, 4])], [vi("y", F, [3, 4]), vi("z", F, [3, 4])],
        [numpy_helper.from_array(arr([4], 1), "w"), numpy_helper.from_array(arr([3, 4], 2), "b"),
         numpy_helper.from_array(np.array(0, np.float32), "zero")])
    x = arr([3, 4], 3)
    return model_of(g, 13), [[np.array(True), x], [np.array(False), x], [np.array(False), -np.abs(x)]]


def loop_while_scan():
    # acc += x * i until sum(acc) >= limit (outer), or M iterations; two scan outputs.
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("Add", ["acc", "xi"], ["acc2"]),
         helper.make_node("ReduceSum", ["acc2"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "limit"], ["go"]),
         helper.make_node("Identity", ["fi"], ["fi_out"])],
        "body", [vi("i", I64, []), vi("c", B, []), vi("acc", F, [2, 3])],
        [vi("go", B, []), vi("acc2", F, [2, 3]), vi("acc2", F, [2, 3]), vi("fi_out", F, [])])
    # acc2 is both the carried value and the first scan output (allowed: outputs may repeat).
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", "cond", "acc0"], ["acc_final", "accs", "steps"], body=body)], "loop_while_scan",
        [vi("M", I64, []), vi("cond", B, []), vi("x", F, [2, 3]), vi("acc0", F, [2, 3])],
        [vi("acc_final", F, [2, 3]), vi("accs", F, [None, 2, 3]), vi("steps", F, [None])],
        [numpy_helper.from_array(np.array(20.0, np.float32), "limit")])
    x = np.abs(arr([2, 3], 4))
    acc0 = arr([2, 3], 5)
    return model_of(g, 13), [[np.array(10, np.int64), np.array(True), x, acc0],
                             [np.array(2, np.int64), np.array(True), x, acc0],
                             [np.array(4, np.int64), np.array(False), x, acc0]]


def loop_body_condition_without_input():
    # A trip count and no condition input: the body's condition (v < 3) still ends the loop early.
    body = helper.make_graph(
        [helper.make_node("Add", ["v", "one"], ["v2"]), helper.make_node("ReduceSum", ["v2"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "three"], ["go"])],
        "body", [vi("i", I64, []), vi("c", B, []), vi("v", F, [1])], [vi("go", B, []), vi("v2", F, [1])])
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "v0"], ["v_final"], body=body)], "loop_body_condition_without_input",
        [vi("M", I64, []), vi("v0", F, [1])], [vi("v_final", F, [1])],
        [numpy_helper.from_array(np.array([1.0], np.float32), "one"),
         numpy_helper.from_array(np.array(3.0, np.float32), "three")])
    return model_of(g, 13), [[np.array(10, np.int64), np.zeros([1], np.float32)],
                             [np.array(2, np.int64), np.zeros([1], np.float32)]]


def loop_nested():
    # Outer Loop over M; its body runs an inner Loop whose trip count is the outer iteration number,
    # and an If on the parity of the iteration; all read the main graph's x.
    inner_body = helper.make_graph(
        [helper.make_node("Mul", ["v", "x"], ["v2"]), helper.make_node("Identity", ["c"], ["c2"])],
        "inner_body", [vi("j", I64, []), vi("c", B, []), vi("v", F, [3])], [vi("c2", B, []), vi("v2", F, [3])])
    then_g = helper.make_graph([helper.make_node("Add", ["w", "x"], ["o"])], "then", [], [vi("o", F, [3])])
    else_g = helper.make_graph([helper.make_node("Sub", ["w", "x"], ["o2"])], "else", [], [vi("o2", F, [3])])
    body = helper.make_graph(
        [helper.make_node("Loop", ["i", "", "v"], ["w"], body=inner_body),
         helper.make_node("Mod", ["i", "two"], ["par"]),
         helper.make_node("Equal", ["par", "zero"], ["even"]),
         helper.make_node("If", ["even"], ["w2"], then_branch=then_g, else_branch=else_g),
         helper.make_node("Identity", ["c"], ["c2"])],
        "body", [vi("i", I64, []), vi("c", B, []), vi("v", F, [3])], [vi("c2", B, []), vi("w2", F, [3])])
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "v0"], ["v_final"], body=body)], "loop_nested",
        [vi("M", I64, []), vi("x", F, [3]), vi("v0", F, [3])], [vi("v_final", F, [3])],
        [numpy_helper.from_array(np.array(2, np.int64), "two"), numpy_helper.from_array(np.array(0, np.int64), "zero")])
    return model_of(g, 13), [[np.array(4, np.int64), np.array([0.9, -1.1, 0.5], np.float32), arr([3], 6)],
                             [np.array(0, np.int64), np.array([0.9, -1.1, 0.5], np.float32), arr([3], 6)]]


def scan9_axes_directions():
    # state h: h = tanh(h * u + a_t + b_t); a scanned along axis 1 in reverse, b along axis 0;
    # scan outputs stacked at axis 1, reversed.
    body = helper.make_graph(
        [helper.make_node("Mul", ["h", "u"], ["hu"]), helper.make_node("Add", ["hu", "a"], ["s1"]),
         helper.make_node("Add", ["s1", "b"], ["s2"]), helper.make_node("Tanh", ["s2"], ["h2"]),
         helper.make_node("Identity", ["h2"], ["y"])],
        "body", [vi("h", F, [2]), vi("a", F, [2]), vi("b", F, [2])], [vi("h2", F, [2]), vi("y", F, [2])])
    g = helper.make_graph(
        [helper.make_node("Scan", ["h0", "A", "Bs"], ["h_final", "ys"], body=body, num_scan_inputs=2,
                          scan_input_axes=[1, 0], scan_input_directions=[1, 0], scan_output_axes=[1],
                          scan_output_directions=[1])],
        "scan9_axes_directions", [vi("h0", F, [2]), vi("A", F, [2, 5]), vi("Bs", F, [5, 2])],
        [vi("h_final", F, [2]), vi("ys", F, [2, 5])], [numpy_helper.from_array(arr([2], 7), "u")])
    return model_of(g, 16), [[arr([2], 8), arr([2, 5], 9), arr([5, 2], 10)]]


def scan8_batch():
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "x"], ["s2"]), helper.make_node("Mul", ["s2", "k"], ["y"])],
        "body", [vi("s", F, [2]), vi("x", F, [2])], [vi("s2", F, [2]), vi("y", F, [2])])
    g = helper.make_graph(
        [helper.make_node("Scan", ["", "s0", "X"], ["s_final", "Y"], body=body, num_scan_inputs=1, directions=[1])],
        "scan8_batch", [vi("s0", F, [3, 2]), vi("X", F, [3, 4, 2])], [vi("s_final", F, [3, 2]), vi("Y", F, [3, 4, 2])],
        [numpy_helper.from_array(np.array(0.5, np.float32), "k")])
    return model_of(g, 8), [[arr([3, 2], 11), arr([3, 4, 2], 12)]]


def scan8_sequence_lens():
    # Batch items of 4, 2 and 3 steps, scanned in reverse: each reverses its own steps; outputs
    # past an item's length are zeros.
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "x"], ["s2"]), helper.make_node("Mul", ["s2", "s2"], ["y"])],
        "body", [vi("s", F, [2]), vi("x", F, [2])], [vi("s2", F, [2]), vi("y", F, [2])])
    g = helper.make_graph(
        [helper.make_node("Scan", ["L", "s0", "X"], ["s_final", "Y"], body=body, num_scan_inputs=1, directions=[1])],
        "scan8_sequence_lens", [vi("L", I64, [3]), vi("s0", F, [3, 2]), vi("X", F, [3, 4, 2])],
        [vi("s_final", F, [3, 2]), vi("Y", F, [3, 4, 2])])
    return model_of(g, 8), [[np.array([4, 2, 3], np.int64), arr([3, 2], 19), arr([3, 4, 2], 20)]]


def sequence_map_mixed():
    # SequenceMap over a sequence, with a second sequence and a tensor, reading an initializer.
    seq_f = helper.make_tensor_sequence_value_info
    body = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["ab"]), helper.make_node("Mul", ["ab", "t"], ["abt"]),
         helper.make_node("Add", ["abt", "bias"], ["out"]),
         helper.make_node("ReduceSum", ["out"], ["total"], keepdims=0)],
        "body", [vi("a", F, [None]), vi("b", F, [None]), vi("t", F, [1])], [vi("out", F, [None]), vi("total", F, [])])
    g = helper.make_graph(
        [helper.make_node("SequenceMap", ["S", "S2", "T"], ["O", "Totals"], body=body)], "sequence_map_mixed",
        [seq_f("S", F, [None]), seq_f("S2", F, [None]), vi("T", F, [1])], [seq_f("O", F, [None]), seq_f("Totals", F, [])],
        [numpy_helper.from_array(np.array([0.25], np.float32), "bias")])
    s = [arr([2], 13), arr([3], 14), arr([1], 15)]
    s2 = [arr([2], 16), arr([3], 17), arr([1], 18)]
    return model_of(g, 17), [[s, s2, np.array([2.0], np.float32)]]


def main():
    out = sys.argv[1]
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    cases = [if_outer_scope, loop_while_scan, loop_body_condition_without_input, loop_nested, scan9_axes_directions,
             scan8_batch, scan8_sequence_lens, sequence_map_mixed]
    for make in cases:
        model, datasets = make()
        save_case(out, "test_cf_" + make.__name__, model, datasets)
    print("wrote %d control-flow cases with onnxruntime %s outputs to %s" % (len(cases), ort.__version__, out))


if __name__ == "__main__":
    main()
