// cuBLAS and cuDNN for the files that call them (gemm.cc, conv.cc, cuda_device.cc), with the
// status-to-exception macros. Kept out of cuda_device.h so .cu kernel files compile faster.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include "singa/kernels/cuda/cuda_device.h"

#define SINGA_CUBLAS_CHECK(expr)                                                                    \
  do {                                                                                              \
    const cublasStatus_t singa_cublas_st_ = (expr);                                                 \
    if (singa_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                  \
      SINGA_THROW(Error, "cuBLAS error " << static_cast<int>(singa_cublas_st_) << " ("             \
                                          << cublasGetStatusString(singa_cublas_st_) << ") in " #expr \
                                          << " at " << __FILE__ << ":" << __LINE__);                \
  } while (0)

#define SINGA_CUDNN_CHECK(expr)                                                                     \
  do {                                                                                              \
    const cudnnStatus_t singa_cudnn_st_ = (expr);                                                   \
    if (singa_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                                    \
      SINGA_THROW(Error, "cuDNN error '" << cudnnGetErrorString(singa_cudnn_st_) << "' in " #expr " at " \
                                          << __FILE__ << ":" << __LINE__);                          \
  } while (0)
