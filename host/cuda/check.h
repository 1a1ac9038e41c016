// cuda/check.h — status traits of the CUDA libraries for the check template of gpu/check.h (real
// GPU build only; the emulated build implements the library wrappers with CPU libraries and has
// no such statuses). HMR_CUBLAS_CHECK(expr) etc. accept only their own library's status type.
#pragma once

#include "gpu/check.h"

#if !defined(HMR_EMU)
#include <cublas_v2.h>
#include <cufft.h>
#include <curand.h>
#include <cusolverDn.h>

namespace hmr::HMR_CUDA_NS {

const char* cufft_result_name(cufftResult r);
const char* curand_status_name(curandStatus_t s);
const char* cusolver_status_name(cusolverStatus_t s);

// A library status with no message text of its own: only the name is reported.
template <class S, S Success, const char* (*Name)(S)>
struct LibraryStatus {
  static bool ok(S s) { return s == Success; }
  static const char* name(S s) { return Name(s); }
  static const char* text(S) { return ""; }
};
#define HMR_LIBRARY_STATUS(S, success, name_fn, api_name)       \
  template <>                                                   \
  struct StatusTraits<S> : LibraryStatus<S, success, name_fn> { \
    static constexpr const char* api = api_name;                \
  }
HMR_LIBRARY_STATUS(cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasGetStatusName, "cuBLAS");
HMR_LIBRARY_STATUS(cufftResult, CUFFT_SUCCESS, cufft_result_name, "cuFFT");
HMR_LIBRARY_STATUS(curandStatus_t, CURAND_STATUS_SUCCESS, curand_status_name, "cuRAND");
HMR_LIBRARY_STATUS(cusolverStatus_t, CUSOLVER_STATUS_SUCCESS, cusolver_status_name, "cuSOLVER");
#undef HMR_LIBRARY_STATUS

}  // namespace hmr::HMR_CUDA_NS

#define HMR_CUBLAS_CHECK(expr) HMR_CHECK_AS(cublasStatus_t, expr)
#define HMR_CUFFT_CHECK(expr) HMR_CHECK_AS(cufftResult, expr)
#define HMR_CURAND_CHECK(expr) HMR_CHECK_AS(curandStatus_t, expr)
#define HMR_CUSOLVER_CHECK(expr) HMR_CHECK_AS(cusolverStatus_t, expr)
#endif
