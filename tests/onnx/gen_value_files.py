#!/usr/bin/env python3
"""Value files written by the onnx package, the independent reference for tests/onnx/value_file_test.cc
(readValueFile / writeValueFile): SequenceProto, OptionalProto and MapProto files as ONNX's backend
test data holds them, and what onnx.numpy_helper writes for the values the test writes.

    .venv/bin/python tests/onnx/gen_value_files.py      # rewrites tests/onnx/value_files/*.pb

The values are small and fixed; the test repeats them in C++.
"""
import os

import numpy as np
from onnx import OptionalProto, SequenceProto, TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "value_files")

A = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
B = np.array([-1.5, 0.25], dtype=np.float32)
C = np.array([7, 8, 9], dtype=np.int64)


def save(name, message):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(message.SerializeToString())


def main():
    os.makedirs(OUT, exist_ok=True)
    save("tensor.pb", numpy_helper.from_array(A, "x"))
    # Sequences: raw_data items (numpy_helper), typed-field items (helper.make_tensor), empty.
    save("seq_float.pb", numpy_helper.from_list([A, B], "s"))
    save("seq_typed_fields.pb", helper.make_sequence("s", SequenceProto.TENSOR, [
        helper.make_tensor("", TensorProto.FLOAT, [2, 3], A.flatten().tolist()),
        helper.make_tensor("", TensorProto.FLOAT, [2], B.tolist())]))
    save("seq_empty.pb", helper.make_sequence("e", SequenceProto.TENSOR, []))
    save("seq_mixed_dtypes.pb", numpy_helper.from_list([A, C], "m"))
    save("seq_nested.pb", helper.make_sequence("n", SequenceProto.SEQUENCE, [numpy_helper.from_list([A])]))
    # Optionals: of a tensor, of a sequence, empty, and of an optional (unsupported).
    save("opt_tensor.pb", numpy_helper.from_optional(C, "o"))
    save("opt_seq.pb", numpy_helper.from_optional([A, B], "o"))
    save("opt_none.pb", numpy_helper.from_optional(None, "o"))
    save("opt_of_opt.pb", helper.make_optional("oo", OptionalProto.OPTIONAL, numpy_helper.from_optional(C)))
    # A map (the engine has none).
    save("map.pb", helper.make_map("m", TensorProto.INT64, [1, 2], numpy_helper.from_list([A, B])))
    # What writeValueFile must write, byte for byte, for output 'y'.
    save("want_seq.pb", numpy_helper.from_list([A, B], "y"))
    save("want_opt_seq.pb", numpy_helper.from_optional([A, B], "y"))
    save("want_opt_tensor.pb", numpy_helper.from_optional(C, "y"))
    save("want_opt_none.pb", numpy_helper.from_optional(None, "y"))
    save("want_tensor.pb", numpy_helper.from_array(A, "y"))


if __name__ == "__main__":
    main()
