# The core layer: Tensor, Shape, DType, Device, memory, errors, threads, the CPU's features and OpenBLAS's kernel table, file reading and durable writing, the safetensors format (explicit list).
singa_add_layer(NAME singa_core
  AREAS core=src/core
  SOURCES
    src/core/dtype.cc
    src/core/shape.cc
    src/core/memory_limit.cc
    src/core/file_read.cc
    src/core/durable_io.cc
    src/core/json_guard.cc
    src/core/safetensors.cc
    src/core/device.cc
    src/core/tensor.cc
    src/core/rng.cc
    src/core/parallel.cc
    src/core/cpu_features.cc
    src/core/blas_coretype.cc
  HEADERS
    src/core/error.h
    src/core/dtype.h
    src/core/half_convert.h
    src/core/narrow_types.h
    src/core/onnx_dtype.h
    src/core/shape.h
    src/core/memory_limit.h
    src/core/file_read.h
    src/core/durable_io.h
    src/core/json_guard.h
    src/core/safetensors.h
    src/core/device.h
    src/core/tensor.h
    src/core/autograd_meta.h
    src/core/attrs.h
    src/core/rng.h
    src/core/parallel.h
    src/core/cpu_features.h
    src/core/blas_coretype.h
  PUBLIC OpenMP::OpenMP_CXX Threads::Threads
  PRIVATE ZLIB::ZLIB nlohmann_json::nlohmann_json ${CMAKE_DL_LIBS}
)
if(SINGA_USE_MPI)
  target_compile_definitions(singa_core PUBLIC SINGA_USE_MPI)
endif()
if(SINGA_CUDA_ENABLED)
  target_compile_definitions(singa_core PUBLIC SINGA_USE_CUDA)
endif()
# The CUDA module must come from the same build as the library (device.cc checks it).
set_source_files_properties(src/core/device.cc PROPERTIES COMPILE_DEFINITIONS "SINGA_BUILD_ID=\"${SINGA_BUILD_ID}\"")
