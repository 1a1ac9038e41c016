// cuda/check.h — status checks for the CUDA libraries (real GPU build only; the emulated build
// implements the library wrappers with CPU libraries and has no such statuses).
#pragma once

#include "gpu/check.h"

#if !defined(HMR_EMU)
#include <cublas_v2.h>
#include <cufft.h>
#include <curand.h>

namespace hmr::HMR_CUDA_NS {
const char* cublas_status_name(cublasStatus_t s);
const char* cufft_result_name(cufftResult r);
const char* curand_status_name(curandStatus_t s);
}  // namespace hmr::HMR_CUDA_NS

#define HMR_CUBLAS_CHECK(expr)                                                                                  \
  do {                                                                                                          \
    const cublasStatus_t hmr_s_ = (expr);                                                                       \
    if (hmr_s_ != CUBLAS_STATUS_SUCCESS)                                                                        \
      ::hmr::HMR_CUDA_NS::throw_cuda_error("cuBLAS", static_cast<int>(hmr_s_),                                  \
                                           ::hmr::HMR_CUDA_NS::cublas_status_name(hmr_s_), "", #expr, __FILE__, \
                                           __LINE__);                                                           \
  } while (0)
#define HMR_CUFFT_CHECK(expr)                                                                                  \
  do {                                                                                                         \
    const cufftResult hmr_r_ = (expr);                                                                         \
    if (hmr_r_ != CUFFT_SUCCESS)                                                                               \
      ::hmr::HMR_CUDA_NS::throw_cuda_error("cuFFT", static_cast<int>(hmr_r_),                                  \
                                           ::hmr::HMR_CUDA_NS::cufft_result_name(hmr_r_), "", #expr, __FILE__, \
                                           __LINE__);                                                          \
  } while (0)
#define HMR_CURAND_CHECK(expr)                                                                                  \
  do {                                                                                                          \
    const curandStatus_t hmr_c_ = (expr);                                                                       \
    if (hmr_c_ != CURAND_STATUS_SUCCESS)                                                                        \
      ::hmr::HMR_CUDA_NS::throw_cuda_error("cuRAND", static_cast<int>(hmr_c_),                                  \
                                           ::hmr::HMR_CUDA_NS::curand_status_name(hmr_c_), "", #expr, __FILE__, \
                                           __LINE__);                                                           \
  } while (0)
#endif
