# Kernel sources, listed explicitly. CPU always; CUDA when SINGA_CUDA_ENABLED (see kernels/cuda).
list(APPEND SINGA_SOURCES
  kernels/cpu/register.cc
  kernels/cpu/copy.cc
  kernels/cpu/elementwise.cc
  kernels/cpu/elementwise_unary.cc
  kernels/cpu/reduce.cc
  kernels/cpu/gemm.cc
  kernels/cpu/shape.cc
  kernels/cpu/conv.cc
  kernels/cpu/conv_packed.cc
  kernels/cpu/im2col.cc
  kernels/cpu/pool.cc
  kernels/cpu/batchnorm.cc
  kernels/cpu/softmax.cc
  kernels/cpu/optim.cc
)
if(SINGA_CUDA_ENABLED)
  list(APPEND SINGA_SOURCES
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
endif()
