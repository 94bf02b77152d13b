# The ops layer: the op functions with their backward rules, the tape that records them and runs
# backward (src/autograd), the kernel registry and the kernels (kernels/sources.cmake). Ops record
# their own backward rules and backward() runs ops, so the tape and the ops are one layer.
set(SINGA_KERNEL_SOURCES)
include(kernels/sources.cmake)
singa_add_layer(NAME singa_ops
  AREAS ops=src/ops autograd=src/autograd kernels=kernels
  SOURCES
    src/autograd/engine.cc
    src/autograd/trace.cc
    src/ops/registry.cc
    src/ops/op_util.cc
    src/ops/elementwise.cc
    src/ops/operators.cc
    src/ops/reduce.cc
    src/ops/linalg.cc
    src/ops/shape_ops.cc
    src/ops/nn_conv.cc
    src/ops/nn_norm.cc
    src/ops/nn_loss.cc
    src/ops/tensor_methods.cc
    ${SINGA_KERNEL_SOURCES}
  HEADERS
    src/autograd/node.h
    src/autograd/trace.h
    src/ops/ops.h
    src/ops/kernel_params.h
    src/ops/op_list.h
    src/ops/registry.h
  PUBLIC singa_core
  PRIVATE ${BLAS_LIBRARIES}
)
target_include_directories(singa_ops PRIVATE ${OPENBLAS_INCLUDE_DIR})
if(SINGA_DNNL_ENABLED)
  # Only conv_dnnl.cc sees oneDNN (the other sources compile the same with and without it).
  set_source_files_properties(kernels/cpu/conv_dnnl.cc PROPERTIES
    COMPILE_DEFINITIONS SINGA_USE_DNNL INCLUDE_DIRECTORIES ${SINGA_DNNL_INCLUDE_DIR})
  target_link_libraries(singa_ops PRIVATE ${SINGA_DNNL_LIBRARY})
endif()
