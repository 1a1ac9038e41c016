// gpu/check.h — the one family of CUDA check macros, for kernels/ launchers and host/*_cuda.cpp.
//   HMR_CUDA_CHECK(expr)   a runtime API call; throws hmr::Error naming the status, the
//                          expression, the calling function and file:line
//   HMR_LAUNCH(kernel, grid, block, smem, stream, args...)
//                          launches through GPU_LAUNCH and checks the launch; with the
//                          environment variable HMR_SYNC_LAUNCHES=1 it also synchronises and
//                          checks execution, so an asynchronous fault names its kernel.
//   HMR_LAUNCHER_ASSERT(cond, "message")
//                          a launcher's shape check; throws hmr::Error (runtime) naming the
//                          condition, so kernels/ need no host header for it.
// Every library status goes through the same template: a StatusTraits<S> specialisation says
// what success is and how the status is named, and HMR_CHECK_AS(S, expr) checks an expression of
// exactly that type (no conversion from another library's enum). host/cuda/check.h adds the
// cuBLAS/cuFFT/cuRAND/cuSOLVER traits and their HMR_<LIB>_CHECK spellings.
#pragma once

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS {

// The one throw path of every check: "<api> error <code> (<name>: <text>) in `<expr>` in
// <function> at <file>:<line>".
[[noreturn]] void throw_cuda_error(const char* api, int code, const char* name, const char* text, const char* expr,
                                   const char* func, const char* file, int line);
void check_launch(cudaError_t status, const char* kernel, const char* func, const char* file, int line);
[[noreturn]] void throw_launcher_error(const char* cond, const char* message, const char* func, const char* file,
                                       int line);

template <class S>
struct StatusTraits;  // static constexpr const char* api; ok(S); name(S); text(S)

template <>
struct StatusTraits<cudaError_t> {
  static constexpr const char* api = "CUDA";
  static bool ok(cudaError_t e) { return e == cudaSuccess; }
  static const char* name(cudaError_t e) { return cudaGetErrorName(e); }
  static const char* text(cudaError_t e) { return cudaGetErrorString(e); }
};

template <class S>
inline void check_status(S s, const char* expr, const char* func, const char* file, int line) {
  using T = StatusTraits<S>;
  if (!T::ok(s)) throw_cuda_error(T::api, static_cast<int>(s), T::name(s), T::text(s), expr, func, file, line);
}

}  // namespace hmr::HMR_CUDA_NS

#define HMR_CHECK_AS(Status, expr) ::hmr::HMR_CUDA_NS::check_status<Status>((expr), #expr, __func__, __FILE__, __LINE__)
#define HMR_CUDA_CHECK(expr) HMR_CHECK_AS(cudaError_t, expr)
#define HMR_LAUNCHER_ASSERT(cond, message)                                                               \
  do {                                                                                                   \
    if (!(cond)) ::hmr::HMR_CUDA_NS::throw_launcher_error(#cond, message, __func__, __FILE__, __LINE__); \
  } while (0)
#define HMR_LAUNCH(kernel, grid, block, smem, stream, ...)                                                          \
  ::hmr::HMR_CUDA_NS::check_launch(GPU_LAUNCH(kernel, grid, block, smem, stream, ##__VA_ARGS__), #kernel, __func__, \
                                   __FILE__, __LINE__)
