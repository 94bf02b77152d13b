#!/usr/bin/env python3
"""Crafted ONNX models for the importer's and the executor's checks (tests/hostile/cases_models.tsv),
and valid seed models for the execution fuzzer (tests/fuzz/corpus/onnx_exec).

    .venv/bin/python tests/hostile/gen_models.py            # writes both folders
    .venv/bin/python tests/hostile/gen_models.py --chain N OUT.onnx
                                                            # a reversed N-node chain with a cycle

Each crafted model attacks one mechanism: size arithmetic that wraps (ConstantOfShape, Expand, Pad,
Tile, Reshape of an empty tensor), sizes that are representable but absurd, external data that
leaves the model's directory, the node ordering, nesting, the opset field and value producers.
The files are small and committed; run.sh makes links, FIFOs and large chains at run time.
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "inputs", "models")
SEEDS = os.path.join(HERE, "..", "fuzz", "corpus", "onnx_exec")


def model(nodes, inputs=(), outputs=("y",), inits=(), opset=13, name="g", out_type=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes, name, list(inputs), [helper.make_tensor_value_info(o, out_type, None) for o in outputs],
        initializer=list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="singa-hostile")
    m.ir_version = 8
    return m


def i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def f32(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.float32), name)


def vin(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def save(m, path):
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def external_model(location, offset=None, length=None):
    """An Identity over an initializer whose data lies in an external file `location`."""
    t = TensorProto()
    t.name, t.data_type = "w", TensorProto.FLOAT
    t.dims.append(4)
    t.data_location = TensorProto.EXTERNAL
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", str(offset)))
    if length is not None:
        entries.append(("length", str(length)))
    for k, v in entries:
        e = t.external_data.add()
        e.key, e.value = k, v
    return model([helper.make_node("Identity", ["w"], ["y"], name="id")], inits=[t])


def nested_if(depth):
    """An If whose then-branch holds an If whose then-branch ... `depth` levels deep."""
    leaf = helper.make_graph([helper.make_node("Identity", ["c"], ["y0"], name="leaf")], "leaf", [],
                             [helper.make_tensor_value_info("y0", TensorProto.BOOL, None)])
    inner = leaf
    for level in range(depth):
        node = helper.make_node("If", ["c"], ["y%d" % (level + 1)], name="if%d" % level,
                                then_branch=inner, else_branch=leaf)
        inner = helper.make_graph([node], "level%d" % level, [],
                                  [helper.make_tensor_value_info("y%d" % (level + 1), TensorProto.BOOL, None)])
    outer = inner.node[0]
    outer.output[0] = "y"
    return model([outer], inputs=[vin("c", [], TensorProto.BOOL)], out_type=TensorProto.BOOL)


def chain(n):
    """n Identity nodes listed last-first; the first reads the last one's output (a cycle), so the
    importer must order all n nodes before it can say so."""
    nodes = [helper.make_node("Identity", ["v%d" % (i - 1) if i else "v%d" % (n - 1)], ["v%d" % i], name="n%d" % i)
             for i in range(n)]
    nodes.reverse()
    nodes.append(helper.make_node("Identity", ["v%d" % (n - 1)], ["y"], name="out"))
    return model(nodes)


def crafted():
    big = 1 << 32
    out = {}
    out["imp_constantofshape_wraps"] = model(
        [helper.make_node("ConstantOfShape", ["s"], ["y"], name="fill")], inits=[i64("s", [big, big])])
    out["imp_constantofshape_16tib"] = model(
        [helper.make_node("ConstantOfShape", ["s"], ["y"], name="fill")], inits=[i64("s", [1 << 21, 1 << 21])])
    out["imp_expand_wraps"] = model(
        [helper.make_node("Expand", ["x", "s"], ["y"], name="expand")],
        inits=[f32("x", [1.0]), i64("s", [big, big, 1])])
    out["imp_expand_huge"] = model(
        [helper.make_node("Expand", ["x", "s"], ["y"], name="expand")],
        inits=[f32("x", [1.0]), i64("s", [1 << 20, 1 << 20, 1 << 4])])
    out["imp_pad_wraps"] = model(
        [helper.make_node("Pad", ["x", "p"], ["y"], name="pad")],
        inits=[f32("x", [[1.0]]), i64("p", [0, 0, (1 << 63) - 1, 0])])
    out["imp_pad_huge"] = model(
        [helper.make_node("Pad", ["x", "p"], ["y"], name="pad")],
        inits=[f32("x", [[1.0]]), i64("p", [1 << 20, 1 << 20, 0, 0])])
    out["imp_tile_wraps"] = model(
        [helper.make_node("Tile", ["x", "r"], ["y"], name="tile")],
        inits=[f32("x", [[1.0, 2.0]]), i64("r", [big, big])])
    out["imp_tile_huge"] = model(
        [helper.make_node("Tile", ["x", "r"], ["y"], name="tile")],
        inits=[f32("x", [[1.0, 2.0]]), i64("r", [1 << 20, 1 << 20])])
    out["imp_reshape_empty_wraps"] = model(
        [helper.make_node("Reshape", ["x", "s"], ["r"], name="reshape"),
         helper.make_node("Transpose", ["r"], ["y"], name="transpose")],
        inits=[numpy_helper.from_array(np.zeros([0], np.float32), "x"), i64("s", [big, big])])
    out["imp_input_dims_huge"] = model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], inputs=[vin("x", [1 << 31, 1 << 31])])
    out["imp_image_input_huge"] = model(
        [helper.make_node("Flatten", ["x"], ["y"], name="flat")], inputs=[vin("x", [1, 1, 1 << 31, 1 << 31])])
    out["imp_small"] = model([helper.make_node("Relu", ["x"], ["y"], name="relu")], inputs=[vin("x", ["N", 4])])
    # A sequence input, for crafted SequenceProto files (singa_onnx run reads them as declared).
    out["imp_sequence_length"] = model([helper.make_node("SequenceLength", ["s"], ["y"], name="len")],
                                       inputs=[helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, None)],
                                       out_type=TensorProto.INT64)
    out["imp_ext_data"] = external_model("w.bin")
    out["imp_ext_parent"] = external_model("../w.bin")
    out["imp_ext_absolute"] = external_model("/etc/hostname")
    out["imp_ext_length_huge"] = external_model("w.bin", 0, 1 << 40)
    out["imp_ext_offset_past_end"] = external_model("w.bin", 1 << 40)
    out["imp_nested_subgraphs"] = nested_if(24)
    m = model([helper.make_node("Relu", ["x"], ["y"], name="relu")], inputs=[vin("x", [2])])
    m.opset_import[0].version = 1 << 40
    out["imp_opset_2pow40"] = m
    m = model([helper.make_node("Relu", ["x"], ["y"], name="relu")], inputs=[vin("x", [2])])
    m.opset_import[0].version = -3
    out["imp_opset_negative"] = m
    out["imp_two_producers"] = model(
        [helper.make_node("Relu", ["x"], ["y"], name="first"), helper.make_node("Neg", ["x"], ["y"], name="second")],
        inputs=[vin("x", [2])])
    out["imp_writes_initializer"] = model(
        [helper.make_node("Relu", ["x"], ["w"], name="overwrite"), helper.make_node("Add", ["x", "w"], ["y"], name="add")],
        inputs=[vin("x", [2])], inits=[f32("w", [1.0, 2.0])])
    out["imp_self_loop"] = model(
        [helper.make_node("Add", ["x", "y"], ["y"], name="loop")], inputs=[vin("x", [2])])
    out["imp_cycle"] = model(
        [helper.make_node("Relu", ["b"], ["a"], name="ra"), helper.make_node("Relu", ["a"], ["b"], name="rb"),
         helper.make_node("Identity", ["a"], ["y"], name="out")])
    out["imp_reads_nothing"] = model(
        [helper.make_node("Relu", ["ghost"], ["y"], name="relu")], inputs=[vin("x", [2])])
    out["imp_chain_cycle"] = chain(2000)
    return out


def seeds():
    """Small valid models over many operators: where the execution fuzzer's mutations start."""
    x4 = [vin("x", [1, 2, 4, 4])]
    out = {}
    out["conv_relu_pool"] = model(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1]),
         helper.make_node("Relu", ["c"], ["r"], name="relu"),
         helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Flatten", ["p"], ["f"], name="flat"),
         helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)],
        inputs=x4, inits=[f32("w", np.ones([3, 2, 3, 3]) * 0.1), f32("b", [0.0, 0.1, 0.2]),
                          f32("fw", np.ones([5, 12]) * 0.1), f32("fb", np.zeros(5))])
    out["batchnorm"] = model(
        [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")],
        inputs=x4, inits=[f32("s", [1, 1]), f32("b", [0, 0]), f32("m", [0, 0]), f32("v", [1, 1])])
    out["gather"] = model([helper.make_node("Gather", ["d", "i"], ["y"], name="gather", axis=0)],
                          inits=[f32("d", np.arange(12).reshape(4, 3)), i64("i", [[0, 1], [2, 3]])])
    out["gather_elements"] = model([helper.make_node("GatherElements", ["d", "i"], ["y"], name="ge", axis=1)],
                                   inits=[f32("d", np.arange(6).reshape(2, 3)), i64("i", [[0, 2], [1, 0]])])
    out["gather_nd"] = model([helper.make_node("GatherND", ["d", "i"], ["y"], name="gnd", batch_dims=0)],
                             inits=[f32("d", np.arange(8).reshape(2, 2, 2)), i64("i", [[0, 1], [1, 0]])])
    out["scatter_elements"] = model(
        [helper.make_node("ScatterElements", ["d", "i", "u"], ["y"], name="se", axis=1)],
        inits=[f32("d", np.zeros([3, 3])), i64("i", [[1, 0, 2], [0, 2, 1]]), f32("u", np.ones([2, 3]))])
    out["scatter_nd"] = model([helper.make_node("ScatterND", ["d", "i", "u"], ["y"], name="snd")],
                              inits=[f32("d", np.zeros(8)), i64("i", [[4], [3], [1], [7]]), f32("u", [9, 10, 11, 12])])
    out["pad"] = model([helper.make_node("Pad", ["x", "p"], ["y"], name="pad", mode="reflect")],
                       inputs=[vin("x", [3, 2])], inits=[i64("p", [0, 1, 0, 1])])
    out["tile_expand"] = model([helper.make_node("Tile", ["x", "r"], ["t"], name="tile"),
                                helper.make_node("Expand", ["t", "s"], ["y"], name="expand")],
                               inputs=[vin("x", [2, 1])], inits=[i64("r", [1, 2]), i64("s", [2, 2, 2])])
    out["reshape_transpose"] = model([helper.make_node("Reshape", ["x", "s"], ["r"], name="reshape"),
                                      helper.make_node("Transpose", ["r"], ["y"], name="tr", perm=[1, 0])],
                                     inputs=[vin("x", [2, 3])], inits=[i64("s", [3, -1])])
    out["slice"] = model([helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"], name="slice")],
                         inputs=[vin("x", [4, 4])], inits=[i64("st", [0, 3]), i64("en", [4, 0]), i64("ax", [0, 1]),
                                                           i64("sp", [2, -1])])
    out["range_cos"] = model([helper.make_node("Range", ["a", "b", "d"], ["r"], name="range"),
                              helper.make_node("ConstantOfShape", ["s"], ["c"], name="cos",
                                               value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
                              helper.make_node("Add", ["r", "c"], ["y"], name="add")],
                             inits=[f32("a", 0.0), f32("b", 5.0), f32("d", 1.0), i64("s", [5])])
    out["depth_to_space"] = model([helper.make_node("DepthToSpace", ["x"], ["d"], name="d2s", blocksize=2),
                                   helper.make_node("SpaceToDepth", ["d"], ["y"], name="s2d", blocksize=2)],
                                  inputs=[vin("x", [1, 4, 2, 2])])
    out["topk_split_concat"] = model(
        [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk", axis=1),
         helper.make_node("Split", ["v"], ["a", "b"], name="split", axis=1),
         helper.make_node("Concat", ["b", "a"], ["y"], name="concat", axis=1)],
        inputs=[vin("x", [2, 5])], inits=[i64("k", [4])])
    out["resize"] = model([helper.make_node("Resize", ["x", "", "sc"], ["y"], name="resize", mode="linear")],
                          inputs=x4, inits=[f32("sc", [1, 1, 2, 2])])
    out["onehot"] = model([helper.make_node("OneHot", ["i", "d", "v"], ["y"], name="onehot", axis=-1)],
                          inits=[i64("i", [0, 2, 1]), i64("d", [4]), f32("v", [0, 1])])
    out["cumsum_reduce"] = model([helper.make_node("CumSum", ["x", "a"], ["c"], name="cumsum"),
                                  helper.make_node("ReduceSum", ["c", "ax"], ["y"], name="rsum", keepdims=0)],
                                 inputs=[vin("x", [3, 4])], inits=[i64("a", 1), i64("ax", [0])])
    out["conv_transpose"] = model(
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="convt", strides=[2, 2], group=2)],
        inputs=x4, inits=[f32("w", np.ones([2, 1, 3, 3]) * 0.1)])
    out["avgpool_lrn"] = model([helper.make_node("AveragePool", ["x"], ["a"], name="avg", kernel_shape=[3, 3],
                                                 pads=[1, 1, 1, 1], count_include_pad=1),
                                helper.make_node("LRN", ["a"], ["y"], name="lrn", size=3)], inputs=x4)
    out["einsum"] = model([helper.make_node("Einsum", ["a", "b"], ["y"], name="einsum", equation="ij,jk->ik")],
                          inputs=[vin("a", [2, 3]), vin("b", [3, 2])])
    out["where_compress"] = model([helper.make_node("Greater", ["x", "z"], ["m"], name="gt"),
                                   helper.make_node("Where", ["m", "x", "z"], ["w"], name="where"),
                                   helper.make_node("Compress", ["w", "c"], ["y"], name="compress", axis=0)],
                                  inputs=[vin("x", [3])], inits=[f32("z", [0.0]),
                                                                 numpy_helper.from_array(np.array([1, 0, 1], bool), "c")])
    out["mod_div_int"] = model([helper.make_node("Mod", ["a", "b"], ["m"], name="mod"),
                                helper.make_node("Div", ["m", "b"], ["y"], name="div")],
                               inputs=[vin("a", [3], TensorProto.INT64)], inits=[i64("b", [2, 3, 5])],
                               out_type=TensorProto.INT64)
    out["squeeze_unsqueeze"] = model([helper.make_node("Unsqueeze", ["x", "a"], ["u"], name="unsq"),
                                      helper.make_node("Squeeze", ["u", "a"], ["y"], name="sq")],
                                     inputs=[vin("x", [2, 3])], inits=[i64("a", [0])])
    out["layernorm_softmax"] = model(
        [helper.make_node("LayerNormalization", ["x", "s", "b"], ["l"], name="ln", axis=-1, epsilon=1e-5),
         helper.make_node("Softmax", ["l"], ["y"], name="softmax", axis=-1)],
        inputs=[vin("x", [2, 4])], inits=[f32("s", np.ones(4)), f32("b", np.zeros(4))], opset=17)
    out["lstm"] = model([helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="lstm", hidden_size=2)],
                        inputs=[vin("x", [2, 1, 3])], inits=[f32("w", np.ones([1, 8, 3]) * 0.1),
                                                             f32("r", np.ones([1, 8, 2]) * 0.1)])
    out["grid_sample"] = model([helper.make_node("GridSample", ["x", "g"], ["y"], name="gs")],
                               inputs=[vin("x", [1, 1, 3, 3])], inits=[f32("g", np.zeros([1, 2, 2, 2]))], opset=16)
    out["trilu_eyelike"] = model([helper.make_node("Trilu", ["x", "k"], ["t"], name="trilu"),
                                  helper.make_node("EyeLike", ["t"], ["e"], name="eye", k=1),
                                  helper.make_node("Add", ["t", "e"], ["y"], name="add")],
                                 inputs=[vin("x", [3, 3])], inits=[i64("k", 0)], opset=14)
    out["nms"] = model([helper.make_node("NonMaxSuppression", ["b", "s", "m"], ["y"], name="nms")],
                       inits=[f32("b", [[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 5, 1, 6]]]), f32("s", [[[0.9, 0.8, 0.7]]]),
                              i64("m", [2])], out_type=TensorProto.INT64)
    return out


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--chain":
        save(chain(int(sys.argv[2])), sys.argv[3])
        return
    os.makedirs(MODELS, exist_ok=True)
    os.makedirs(SEEDS, exist_ok=True)
    for name, m in crafted().items():
        save(m, os.path.join(MODELS, name + ".onnx"))
    for name, m in seeds().items():
        save(m, os.path.join(SEEDS, name + ".onnx"))
    print("wrote %d crafted models to %s and %d seeds to %s" % (len(crafted()), MODELS, len(seeds()), SEEDS))


if __name__ == "__main__":
    main()
