"""Writes the crafted hostile-operator models tests/hostile/inputs/models/op_<name>.onnx.

Each model is a valid ONNX protobuf whose one interesting node carries an attribute or an input
value that once crashed, hung, corrupted memory or exhausted memory in singa's converters and
kernels: out-of-range indices, zero or negative sizes, steps and strides, overflowing pads and
repeats, NaN / inf scales, integer division by zero, malformed einsum equations. Everything is in
initializers or Constant nodes (no graph inputs), so `singa_onnx bench MODEL --warmup 0 --iters 1`
runs it as is; cases_ops.tsv lists what each must report.

    /work/main/.venv/bin/python tests/hostile/gen_ops.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inputs", "models")
I64_MAX = np.iinfo(np.int64).max


def init(name, value, dtype=None):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def save(name, nodes, inits, opset=18, outputs=("y",), domain_opsets=()):
    graph = helper.make_graph(
        nodes, name, [],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs],
        initializer=inits)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in domain_opsets]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="singa-hostile")
    model.ir_version = 8
    path = os.path.join(OUT, "op_%s.onnx" % name)
    data = model.SerializeToString()
    assert len(data) < 10 * 1024, (name, len(data))
    with open(path, "wb") as f:
        f.write(data)


def f32(shape, fill=1.0):
    return np.full(shape, fill, dtype=np.float32)


def node(op, inputs, name, outputs=("y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), name=name, **attrs)


def main():
    os.makedirs(OUT, exist_ok=True)

    # ---- indexing -----------------------------------------------------------------------------
    # indices [3, 2] into data [2, 2] along axis 1: row 2 of the indices writes past the data.
    save("scatter_elements_oob",
         [node("ScatterElements", ["x", "i", "u"], "scatter", axis=1)],
         [init("x", f32([2, 2])), init("i", np.zeros([3, 2]), np.int64), init("u", f32([3, 2]))])
    # Two index tuples into data [4] but one update: the second reads past the updates.
    save("scatternd_updates",
         [node("ScatterND", ["x", "i", "u"], "scatter_nd")],
         [init("x", f32([4])), init("i", [[1], [2]], np.int64), init("u", f32([1]))])
    save("scatter_reduction",
         [node("ScatterElements", ["x", "i", "u"], "scatter", axis=0, reduction="xor")],
         [init("x", f32([2])), init("i", [0], np.int64), init("u", f32([1]))])
    save("gathernd_negative_batch",
         [node("GatherND", ["x", "i"], "gather_nd", batch_dims=-1)],
         [init("x", f32([2, 3])), init("i", [[0], [1]], np.int64)])
    save("gather_index_oob",
         [node("Gather", ["x", "i"], "gather", axis=0)],
         [init("x", f32([3, 2])), init("i", [10], np.int64)])
    save("onehot_negative_depth",
         [node("OneHot", ["i", "d", "v"], "onehot")],
         [init("i", [0, 1], np.int64), init("d", [-5], np.int64), init("v", [0.0, 1.0], np.float32)])
    save("onehot_huge_depth",
         [node("OneHot", ["i", "d", "v"], "onehot")],
         [init("i", [0, 1, 2, 3], np.int64), init("d", [10 ** 15], np.int64), init("v", [0.0, 1.0], np.float32)])
    save("reverse_sequence_length",
         [node("ReverseSequence", ["x", "l"], "reverse", batch_axis=1, time_axis=0)],
         [init("x", f32([2, 2])), init("l", [5, 1], np.int64)])

    # ---- shapes ---------------------------------------------------------------------------------
    save("depth_to_space_zero_block",
         [node("DepthToSpace", ["x"], "d2s", blocksize=0)], [init("x", f32([1, 4, 2, 2]))])
    save("space_to_depth_negative_block",
         [node("SpaceToDepth", ["x"], "s2d", blocksize=-2)], [init("x", f32([1, 1, 4, 4]))])
    save("depth_to_space_mode",
         [node("DepthToSpace", ["x"], "d2s", blocksize=2, mode="XYZ")], [init("x", f32([1, 4, 2, 2]))])
    save("range_zero_delta",
         [node("Range", ["s", "l", "d"], "range")],
         [init("s", 0.0, np.float32), init("l", 10.0, np.float32), init("d", 0.0, np.float32)])
    save("range_huge",
         [node("Range", ["s", "l", "d"], "range")],
         [init("s", 0, np.int64), init("l", I64_MAX, np.int64), init("d", 1, np.int64)])
    save("slice_zero_step",
         [node("Slice", ["x", "s", "e", "a", "st"], "slice")],
         [init("x", f32([4])), init("s", [0], np.int64), init("e", [4], np.int64), init("a", [0], np.int64),
          init("st", [0], np.int64)])
    save("split_overflow",
         [node("Split", ["x", "s"], "split", outputs=("a", "b", "c"), axis=0)],
         [init("x", f32([2])), init("s", [I64_MAX, I64_MAX, 4], np.int64)], outputs=("a", "b", "c"))
    save("tile_overflow",
         [node("Tile", ["x", "r"], "tile")],
         [init("x", f32([2, 2])), init("r", [2 ** 62, 4], np.int64)])
    save("pad_overflow",
         [node("Pad", ["x", "p"], "pad")],
         [init("x", f32([2])), init("p", [I64_MAX, 1], np.int64)])
    save("expand_huge",
         [node("Expand", ["x", "s"], "expand")],
         [init("x", f32([1, 1])), init("s", [2 ** 40, 2 ** 40], np.int64)])
    save("constant_of_shape_huge",
         [node("ConstantOfShape", ["s"], "fill",
               value=helper.make_tensor("v", TensorProto.INT64, [1], [7]))],
         [init("s", [2 ** 40, 2 ** 20], np.int64)])
    save("reshape_overflow",
         [node("Reshape", ["x", "s"], "reshape")],
         [init("x", f32([4])), init("s", [-1, 2 ** 62, 2 ** 62], np.int64)])

    # ---- convolution and pooling ----------------------------------------------------------------
    conv_in = [init("x", f32([1, 2, 4, 4])), init("w", f32([2, 2, 1, 1]))]
    save("conv_group_zero", [node("Conv", ["x", "w"], "conv", group=0)], conv_in)
    save("conv_group_not_dividing",
         [node("Conv", ["x", "w"], "conv", group=2)], [init("x", f32([1, 3, 4, 4])), init("w", f32([2, 1, 1, 1]))])
    save("conv_zero_stride", [node("Conv", ["x", "w"], "conv", strides=[0, 0])], conv_in)
    save("conv_negative_dilation", [node("Conv", ["x", "w"], "conv", dilations=[-1, 1])], conv_in)
    save("conv_pads_overflow", [node("Conv", ["x", "w"], "conv", pads=[0, 0, I64_MAX, 1])], conv_in)
    save("conv_transpose_output_shape",
         [node("ConvTranspose", ["x", "w"], "deconv", output_shape=[-5, -5])], conv_in)
    save("maxpool_zero_kernel",
         [node("MaxPool", ["x"], "pool", kernel_shape=[0, 0])], [init("x", f32([1, 1, 4, 4]))])
    save("avgpool_negative_pads",
         [node("AveragePool", ["x"], "pool", kernel_shape=[2, 2], pads=[-1, 0, 0, 0])], [init("x", f32([1, 1, 4, 4]))])
    save("lrn_zero_size", [node("LRN", ["x"], "lrn", size=0)], [init("x", f32([1, 2, 2, 2]))])

    # ---- math ---------------------------------------------------------------------------------
    save("topk_k_too_large",
         [node("TopK", ["x", "k"], "topk", outputs=("v", "i"))],
         [init("x", f32([4])), init("k", [100], np.int64)], outputs=("v", "i"))
    save("div_int_by_zero",
         [node("Div", ["a", "b"], "div")], [init("a", [1, 2], np.int64), init("b", [0, 1], np.int64)])
    save("mod_int_by_zero",
         [node("Mod", ["a", "b"], "mod")], [init("a", [1, 2], np.int32), init("b", [3, 0], np.int32)])
    save("einsum_double_ellipsis",
         [node("Einsum", ["a"], "einsum", equation="i......->i")], [init("a", f32([2, 2, 2]))])
    save("einsum_repeated_output",
         [node("Einsum", ["a", "b"], "einsum", equation="ij,jk->ii")], [init("a", f32([2, 2])), init("b", f32([2, 2]))])
    # A [1, 200000] float input built in the graph: CumSum's triangular matrix would be 320 GB.
    save("cumsum_huge_axis",
         [node("ConstantOfShape", ["s"], "fill", outputs=("x",),
               value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
          node("CumSum", ["x", "a"], "cumsum")],
         [init("s", [1, 200000], np.int64), init("a", 1, np.int64)])

    # ---- resampling -----------------------------------------------------------------------------
    for label, scale in (("nan", np.nan), ("inf", np.inf), ("huge", 1e30), ("negative", -2.0)):
        save("resize_scale_" + label,
             [node("Resize", ["x", "", "sc"], "resize")],
             [init("x", f32([1, 1, 2, 2])), init("sc", [1.0, 1.0, scale, 1.0], np.float32)])
    save("roialign_batch_index",
         [node("RoiAlign", ["x", "r", "b"], "roialign")],
         [init("x", f32([1, 1, 4, 4])), init("r", [[0, 0, 2, 2]], np.float32), init("b", [5], np.int64)])
    save("roialign_huge_ratio",
         [node("RoiAlign", ["x", "r", "b"], "roialign", sampling_ratio=10 ** 9)],
         [init("x", f32([1, 1, 4, 4])), init("r", [[0, 0, 2, 2]], np.float32), init("b", [0], np.int64)])
    save("roialign_nan_roi",
         [node("RoiAlign", ["x", "r", "b"], "roialign")],
         [init("x", f32([1, 1, 4, 4])), init("r", [[np.nan, 0, 2, 2]], np.float32), init("b", [0], np.int64)])
    save("gridsample_nan_grid",
         [node("GridSample", ["x", "g"], "grid_sample")],
         [init("x", f32([1, 1, 2, 2])), init("g", np.full([1, 1, 1, 2], np.nan, np.float32))])
    save("maxunpool_attribute_sizes",
         [node("MaxUnpool", ["x", "i"], "unpool", kernel_shape=[2], strides=[2, 2])],
         [init("x", f32([1, 1, 2, 2])), init("i", np.zeros([1, 1, 2, 2]), np.int64)])

    # ---- signal processing ----------------------------------------------------------------------
    save("stft_zero_step",
         [node("STFT", ["x", "s"], "stft")], [init("x", f32([1, 8, 1])), init("s", 0, np.int64)], opset=17)
    save("dft_zero_length",
         [node("DFT", ["x", "n"], "dft", axis=1)], [init("x", f32([1, 4, 1])), init("n", 0, np.int64)], opset=17)
    save("mel_zero_rate",
         [node("MelWeightMatrix", ["b", "n", "r", "lo", "hi"], "mel")],
         [init("b", 4, np.int64), init("n", 16, np.int64), init("r", 0, np.int64), init("lo", 0.0, np.float32),
          init("hi", 4000.0, np.float32)], opset=17)
    save("mel_edge_past_nyquist",
         [node("MelWeightMatrix", ["b", "n", "r", "lo", "hi"], "mel")],
         [init("b", 4, np.int64), init("n", 16, np.int64), init("r", 8000, np.int64), init("lo", 0.0, np.float32),
          init("hi", 1e6, np.float32)], opset=17)
    save("hann_negative_size",
         [node("HannWindow", ["n"], "hann")], [init("n", -1, np.int64)], opset=17)

    # ---- losses and recurrences -----------------------------------------------------------------
    save("nll_short_weight",
         [node("NegativeLogLikelihoodLoss", ["x", "t", "w"], "nll")],
         [init("x", f32([2, 3])), init("t", [2, 2], np.int64), init("w", [1.0], np.float32)])
    save("lstm_activations",
         [node("LSTM", ["x", "w", "r"], "lstm", outputs=("y",), hidden_size=1, activations=["Sigmoid"])],
         [init("x", f32([1, 1, 1])), init("w", f32([1, 4, 1])), init("r", f32([1, 4, 1]))])
    save("legacy_broadcast_axis",
         [node("Add", ["a", "b"], "add", broadcast=1, axis=-(10 ** 12))],
         [init("a", f32([2, 2])), init("b", f32([2]))], opset=6)


    # ---- control flow ---------------------------------------------------------------------------
    def vi(name, elem, shape):
        return helper.make_tensor_value_info(name, elem, shape)

    def loop_body(nodes=(), extra_inputs=()):
        return helper.make_graph(
            [helper.make_node("Identity", ["c"], ["c2"]), helper.make_node("Identity", ["v"], ["v2"])] + list(nodes),
            "body", [vi("i", TensorProto.INT64, []), vi("c", TensorProto.BOOL, []), vi("v", TensorProto.FLOAT, [1])]
            + list(extra_inputs),
            [vi("c2", TensorProto.BOOL, []), vi("v2", TensorProto.FLOAT, [1])])

    save("loop_negative_trip_count",
         [node("Loop", ["m", "", "v"], "loop", body=loop_body())], [init("m", -5, np.int64), init("v", f32([1]))])
    save("loop_float_trip_count",
         [node("Loop", ["m", "", "v"], "loop", body=loop_body())], [init("m", 3.0, np.float32), init("v", f32([1]))])
    # Neither a trip count nor a condition: runs until the iteration bound (lowered in cases_ops.tsv).
    save("loop_unbounded",
         [node("Loop", ["", "", "v"], "loop", body=loop_body())], [init("v", f32([1]))])
    save("loop_body_input_count",
         [node("Loop", ["m", "", "v"], "loop",
               body=loop_body(extra_inputs=[vi("stray", TensorProto.FLOAT, [1])]))],
         [init("m", 2, np.int64), init("v", f32([1]))])
    branch = helper.make_graph([helper.make_node("Identity", ["v"], ["o"])], "branch", [vi("p", TensorProto.FLOAT, [1])],
                               [vi("o", TensorProto.FLOAT, [1])])
    save("if_branch_with_inputs",
         [node("If", ["c"], "if", then_branch=branch, else_branch=branch)],
         [init("c", True, np.bool_), init("v", f32([1]))])
    # Subgraphs nested 20 deep (If in If in ...): refused, not recursed into without bound.
    inner = helper.make_graph([helper.make_node("Identity", ["v"], ["o0"])], "g0", [], [vi("o0", TensorProto.FLOAT, [1])])
    for d in range(1, 21):
        leaf = helper.make_graph([helper.make_node("Identity", ["v"], ["e%d" % d])], "e%d" % d, [],
                                 [vi("e%d" % d, TensorProto.FLOAT, [1])])
        inner = helper.make_graph([helper.make_node("If", ["c"], ["o%d" % d], then_branch=inner, else_branch=leaf)],
                                  "g%d" % d, [], [vi("o%d" % d, TensorProto.FLOAT, [1])])
    save("if_nested_too_deep",
         [node("If", ["c"], "if", then_branch=inner, else_branch=inner.node[0].attribute[1].g)],
         [init("c", True, np.bool_), init("v", f32([1]))])


if __name__ == "__main__":
    main()
