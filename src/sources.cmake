# Library sources under src/, listed explicitly (no GLOB). Each area appends its own files.
list(APPEND SINGA_SOURCES
  src/core/dtype.cc
  src/core/shape.cc
  src/core/device.cc
  src/core/tensor.cc
  src/core/rng.cc
  src/core/parallel.cc
  src/autograd/engine.cc
  src/autograd/trace.cc
  src/ops/registry.cc
  src/ops/op_util.cc
  src/ops/elementwise.cc
  src/ops/reduce.cc
  src/ops/linalg.cc
  src/ops/shape_ops.cc
  src/ops/nn_conv.cc
  src/ops/nn_norm.cc
  src/ops/nn_loss.cc
)
list(APPEND SINGA_PUBLIC_HEADERS
  src/singa/singa.h
  src/core/error.h
  src/core/dtype.h
  src/core/shape.h
  src/core/device.h
  src/core/tensor.h
  src/core/attrs.h
  src/core/rng.h
  src/core/parallel.h
  src/autograd/node.h
  src/autograd/trace.h
  src/ops/ops.h
  src/ops/registry.h
)
include(src/nn/sources.cmake)
include(src/optim/sources.cmake)
include(src/data/sources.cmake)
