// cuda/check_cuda.cpp — error reporting for the check macros (built once per cuda namespace).
#include "cuda/check.h"

#include <cstdlib>

#include "core/error.h"

namespace hmr::HMR_CUDA_NS {

void throw_cuda_error(const char* api, int code, const char* name, const char* text, const char* expr, const char* file,
                      int line) {
  throw Error(ErrorKind::runtime, fmt::format("{} error {} ({}{}{}) in `{}` at {}:{}", api, code, name,
                                              *text ? ": " : "", text, expr, file, line));
}

void check_launch(cudaError_t status, const char* kernel, const char* file, int line) {
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear, so later calls do not report this launch again
    throw_cuda_error("CUDA launch", static_cast<int>(status), cudaGetErrorName(status), cudaGetErrorString(status),
                     kernel, file, line);
  }
  static const bool sync_each = [] {
    const char* v = std::getenv("HMR_SYNC_LAUNCHES");
    return v && *v && *v != '0';
  }();
  if (sync_each) {
    const cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess)
      throw_cuda_error("CUDA execution", static_cast<int>(e), cudaGetErrorName(e), cudaGetErrorString(e), kernel, file,
                       line);
  }
}

#if !defined(HMR_EMU)
const char* cublas_status_name(cublasStatus_t s) { return cublasGetStatusName(s); }
const char* cufft_result_name(cufftResult r) {
  switch (r) {
    case CUFFT_INVALID_PLAN:
      return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED:
      return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_VALUE:
      return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR:
      return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED:
      return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED:
      return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE:
      return "CUFFT_INVALID_SIZE";
    default:
      return "CUFFT_ERROR";
  }
}
const char* curand_status_name(curandStatus_t s) {
  switch (s) {
    case CURAND_STATUS_NOT_INITIALIZED:
      return "CURAND_STATUS_NOT_INITIALIZED";
    case CURAND_STATUS_ALLOCATION_FAILED:
      return "CURAND_STATUS_ALLOCATION_FAILED";
    case CURAND_STATUS_LENGTH_NOT_MULTIPLE:
      return "CURAND_STATUS_LENGTH_NOT_MULTIPLE";
    case CURAND_STATUS_LAUNCH_FAILURE:
      return "CURAND_STATUS_LAUNCH_FAILURE";
    default:
      return "CURAND_STATUS_ERROR";
  }
}
#endif

}  // namespace hmr::HMR_CUDA_NS
