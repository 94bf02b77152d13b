"""Writes the ONNX backend *node* test cases of the installed onnx package (PyPI wheel) as test
data folders (model.onnx + test_data_set_N/input_K.pb, output_K.pb), the layout of
onnx/backend/test/data/node, which recent wheels no longer ship pre-generated. Cases whose
values are not plain tensors (sequences, maps, optionals) are written with the matching
onnx.numpy_helper serialiser so `singa_onnx test` can report them as unsupported.

Usage: python gen_node_data.py OUT_DIR     (prints the onnx version and the case count)
"""
import os
import shutil
import sys

import onnx
from onnx import TensorProto, numpy_helper
from onnx.backend.test.case import node as node_cases


def serialise(value, type_proto, name):
    if type_proto.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if type_proto.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    if type_proto.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, name).SerializeToString()


def main():
    out = sys.argv[1]
    cases = node_cases.collect_testcases(None)
    if os.path.exists(out):
        shutil.rmtree(out)
    written = 0
    for case in cases:
        d = os.path.join(out, case.name)
        os.makedirs(d)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        graph = case.model.graph
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(d, f"test_data_set_{i}")
            os.makedirs(ds)
            for j, v in enumerate(inputs):
                with open(os.path.join(ds, f"input_{j}.pb"), "wb") as f:
                    f.write(serialise(v, graph.input[j].type, graph.input[j].name))
            for j, v in enumerate(outputs):
                with open(os.path.join(ds, f"output_{j}.pb"), "wb") as f:
                    f.write(serialise(v, graph.output[j].type, graph.output[j].name))
        written += 1
    print(f"onnx {onnx.__version__}: wrote {written} node test cases to {out}")


if __name__ == "__main__":
    main()
