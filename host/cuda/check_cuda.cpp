// cuda/check_cuda.cpp — the throw path of the check macros (built once per cuda namespace) and the
// names of the library statuses that have no name function of their own.
#include "cuda/check.h"

#include <cstdlib>

#include "core/error.h"

namespace hmr::HMR_CUDA_NS {

void throw_cuda_error(const char* api, int code, const char* name, const char* text, const char* expr, const char* func,
                      const char* file, int line) {
  throw Error(ErrorKind::runtime, fmt::format("{} error {} ({}{}{}) in `{}` in {} at {}:{}", api, code, name,
                                              *text ? ": " : "", text, expr, func, file, line));
}

void throw_launcher_error(const char* cond, const char* message, const char* func, const char* file, int line) {
  throw Error(ErrorKind::runtime, fmt::format("{} (`{}` failed) in {} at {}:{}", message, cond, func, file, line));
}

void check_launch(cudaError_t status, const char* kernel, const char* func, const char* file, int line) {
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear, so later calls do not report this launch again
    throw_cuda_error("CUDA launch", static_cast<int>(status), cudaGetErrorName(status), cudaGetErrorString(status),
                     kernel, func, file, line);
  }
  static const bool sync_each = [] {
    const char* v = std::getenv("HMR_SYNC_LAUNCHES");
    return v && *v && *v != '0';
  }();
  if (sync_each) {
    const cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess)
      throw_cuda_error("CUDA execution", static_cast<int>(e), cudaGetErrorName(e), cudaGetErrorString(e), kernel, func,
                       file, line);
  }
}

#if !defined(HMR_EMU)
#define HMR_STATUS_NAME(s) \
  case s:                  \
    return #s
const char* cufft_result_name(cufftResult r) {
  switch (r) {
    HMR_STATUS_NAME(CUFFT_INVALID_PLAN);
    HMR_STATUS_NAME(CUFFT_ALLOC_FAILED);
    HMR_STATUS_NAME(CUFFT_INVALID_VALUE);
    HMR_STATUS_NAME(CUFFT_INTERNAL_ERROR);
    HMR_STATUS_NAME(CUFFT_EXEC_FAILED);
    HMR_STATUS_NAME(CUFFT_SETUP_FAILED);
    HMR_STATUS_NAME(CUFFT_INVALID_SIZE);
    default:
      return "CUFFT_ERROR";
  }
}
const char* curand_status_name(curandStatus_t s) {
  switch (s) {
    HMR_STATUS_NAME(CURAND_STATUS_NOT_INITIALIZED);
    HMR_STATUS_NAME(CURAND_STATUS_ALLOCATION_FAILED);
    HMR_STATUS_NAME(CURAND_STATUS_LENGTH_NOT_MULTIPLE);
    HMR_STATUS_NAME(CURAND_STATUS_LAUNCH_FAILURE);
    default:
      return "CURAND_STATUS_ERROR";
  }
}
const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    HMR_STATUS_NAME(CUSOLVER_STATUS_NOT_INITIALIZED);
    HMR_STATUS_NAME(CUSOLVER_STATUS_ALLOC_FAILED);
    HMR_STATUS_NAME(CUSOLVER_STATUS_INVALID_VALUE);
    HMR_STATUS_NAME(CUSOLVER_STATUS_EXECUTION_FAILED);
    HMR_STATUS_NAME(CUSOLVER_STATUS_INTERNAL_ERROR);
    default:
      return "CUSOLVER_STATUS_ERROR";
  }
}
#undef HMR_STATUS_NAME
#endif

}  // namespace hmr::HMR_CUDA_NS
