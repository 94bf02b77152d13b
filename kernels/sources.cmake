# Kernel sources, listed explicitly. The CPU kernels are part of libsinga; the CUDA ones build the
# CUDA module libsinga_cuda.so when SINGA_CUDA_ENABLED (kernels/cuda/module.cmake).
list(APPEND SINGA_KERNEL_SOURCES
  kernels/cpu/register.cc
  kernels/cpu/copy.cc
  kernels/cpu/elementwise.cc
  kernels/cpu/elementwise_unary.cc
  kernels/cpu/reduce.cc
  kernels/cpu/gemm.cc
  kernels/cpu/shape.cc
  kernels/cpu/conv.cc
  kernels/cpu/conv_packed.cc
  kernels/cpu/conv_dnnl.cc
  kernels/cpu/im2col.cc
  kernels/cpu/pool.cc
  kernels/cpu/batchnorm.cc
  kernels/cpu/softmax.cc
  kernels/cpu/optim.cc
)
# GCC keeps a conditional floating-point operation in a loop as a branch unless it may assume
# that floating-point operations do not trap (clang's default): with -fno-trapping-math loops like
# dx = dy * (x > 0 ? 1 : 0) (ReluGrad) vectorise instead of mispredicting a branch per element.
# Only floating-point exception flags can differ (singa never reads them); values do not.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set_source_files_properties(
    kernels/cpu/elementwise.cc kernels/cpu/elementwise_unary.cc kernels/cpu/reduce.cc kernels/cpu/pool.cc
    kernels/cpu/batchnorm.cc kernels/cpu/softmax.cc kernels/cpu/optim.cc
    PROPERTIES COMPILE_OPTIONS -fno-trapping-math)
  # Its loops also build for AVX2 and AVX-512 on x86-64 (picked at run time, wide_isa.h): no
  # a * b + c contracted to an FMA there, so every build gives the same bits as the baseline one.
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$")
    set_property(SOURCE kernels/cpu/elementwise_unary.cc APPEND PROPERTY COMPILE_OPTIONS -ffp-contract=off)
  endif()
endif()
set(SINGA_CUDA_MODULE_SOURCES
    kernels/cuda/register.cc
    kernels/cuda/cuda_device.cc
    kernels/cuda/copy.cu
    kernels/cuda/elementwise.cu
    kernels/cuda/unary.cu
    kernels/cuda/reduce.cu
    kernels/cuda/gemm.cc
    kernels/cuda/shape.cu
    kernels/cuda/conv.cc
    kernels/cuda/pool.cu
    kernels/cuda/batchnorm.cu
    kernels/cuda/softmax.cu
    kernels/cuda/optim.cu
)
