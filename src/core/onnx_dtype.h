// Each DType's ONNX TensorProto element-type code (FLOAT = 1 ... INT2 = 26): the one table the
// ops layer (Cast's trace attribute) and the onnx layer (TensorProto reading and writing) share.
// Codes past 16 are written by number: the onnx.proto singa builds against (1.13) lacks them.
#pragma once

#include "singa/core/dtype.h"

namespace singa {

int onnxElementType(DType t);

}  // namespace singa
