# The onnx layer: ONNX import (converters, executor) and export. Its public API hands out
# onnx::ModelProto, so ONNX's protobuf library is a public dependency (explicit list).
singa_add_layer(NAME singa_onnxio
  AREAS onnx=src/onnx
  SOURCES
    src/onnx/export.cc
    src/onnx/export_rewrites.cc
    src/onnx/tensor_proto.cc
    src/onnx/value_file.cc
    src/onnx/model_io.cc
    src/onnx/import.cc
    src/onnx/executor.cc
    src/onnx/converter.cc
    src/onnx/converters_elementwise.cc
    src/onnx/converters_math.cc
    src/onnx/converters_nn.cc
    src/onnx/converters_shape.cc
    src/onnx/converters_reduce.cc
    src/onnx/converters_index.cc
    src/onnx/converters_loss.cc
    src/onnx/converters_resize.cc
    src/onnx/converters_quant.cc
    src/onnx/converters_signal.cc
    src/onnx/converters_misc.cc
    src/onnx/converters_rnn.cc
    src/onnx/converters_sample.cc
    src/onnx/converters_training.cc
    src/onnx/converters_attention.cc
    src/onnx/converters_bitwise.cc
    src/onnx/converters_extra_math.cc
    src/onnx/converters_spatial.cc
    src/onnx/converters_seqmodel.cc
    src/onnx/converters_sequence.cc
    src/onnx/converters_control.cc
    src/onnx/converters_text.cc
    src/onnx/converters_ml.cc
    src/onnx/converters_ml_tree.cc
    src/onnx/converters_ml_svm.cc
    src/onnx/converters_image.cc
    src/onnx/converters_string.cc
    src/onnx/converters_string_regex.cc
    src/onnx/string_tensor.cc
    src/onnx/backend_test.cc
    # internal header (not installed)
    src/onnx/converters_ml.h
    src/onnx/export_rewrites.h
    src/onnx/subgraph.h
    src/onnx/string_tensor.h
  HEADERS
    src/onnx/tensor_proto.h
    src/onnx/value_file.h
    src/onnx/export.h
    src/onnx/model_io.h
    src/onnx/import.h
    src/onnx/backend_test.h
  PUBLIC singa_nn onnx_proto protobuf::libprotobuf
  PRIVATE onnx singa_image
)
