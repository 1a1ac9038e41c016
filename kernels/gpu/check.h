// gpu/check.h — the one family of CUDA check macros, for kernels/ launchers and host/*_cuda.cpp.
//   HMR_CUDA_CHECK(expr)   a runtime API call; throws hmr::Error naming expression and file:line
//   HMR_LAUNCH(kernel, grid, block, smem, stream, args...)
//                          launches through GPU_LAUNCH and checks the launch; with the
//                          environment variable HMR_SYNC_LAUNCHES=1 it also synchronises and
//                          checks execution, so an asynchronous fault names its kernel.
// cuBLAS/cuFFT/cuRAND statuses are checked by HMR_CUBLAS_CHECK etc. in host/cuda/check.h.
#pragma once

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS {
[[noreturn]] void throw_cuda_error(const char* api, int code, const char* name, const char* text, const char* expr,
                                   const char* file, int line);
void check_launch(cudaError_t status, const char* kernel, const char* file, int line);

inline void check_cuda(cudaError_t e, const char* expr, const char* file, int line) {
  if (e != cudaSuccess)
    throw_cuda_error("CUDA", static_cast<int>(e), cudaGetErrorName(e), cudaGetErrorString(e), expr, file, line);
}
}  // namespace hmr::HMR_CUDA_NS

#define HMR_CUDA_CHECK(expr) ::hmr::HMR_CUDA_NS::check_cuda((expr), #expr, __FILE__, __LINE__)
#define HMR_LAUNCH(kernel, grid, block, smem, stream, ...)                                                          \
  ::hmr::HMR_CUDA_NS::check_launch(GPU_LAUNCH(kernel, grid, block, smem, stream, ##__VA_ARGS__), #kernel, __FILE__, \
                                   __LINE__)
