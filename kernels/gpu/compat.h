// gpu/compat.h — the one header every kernels/*.cu and host/*_cuda.cpp includes for CUDA.
//
// The same kernel text is compiled two ways:
//   * HMR_EMU defined (g++ -x c++): the CUDA-on-CPU emulator host/emu/cuemu.h provides
//     threadIdx, __syncthreads, warp collectives, atomics and the runtime API;
//   * otherwise: the real CUDA runtime (<cuda_runtime.h>); under nvcc, launches use <<<>>>.
// Kernels launch ONLY through GPU_LAUNCH (or HMR_LAUNCH in kernels/gpu/check.h, which also checks
// the result): this is the single place in hmr that spells the triple-chevron syntax, and a test
// greps the tree for any other.
//
// Shared memory spellings that work in both builds:
//   GPU_DYNAMIC_SHARED(float, buf);      // float* buf = the launch's dynamic shared memory
//   GPU_SHARED(tile, float[32][33]);     // per-block static array (poison-filled under cuemu)
// `__shared__` also works; GPU_SHARED is preferred for arrays because the emulator then gives
// AddressSanitizer an exact-size heap object per block and poison-fills it.
#pragma once

#include <cstddef>
#include <utility>

#if defined(HMR_EMU)
#include "cuemu.h"
#else
#include <cuda_runtime.h>
#endif

#ifndef HMR_CUDA_NS
#error "HMR_CUDA_NS must be defined (cuda_emu or cuda_gpu) by the build"
#endif

namespace gpu {
template <class T>
using id_t = T;

// Ceil division for grid sizes.
constexpr unsigned div_up(std::size_t n, std::size_t d) { return static_cast<unsigned>((n + d - 1) / d); }

#if defined(HMR_EMU)
using cuemu::launch;
#elif defined(__CUDACC__)
// The only triple-chevron launch in hmr. Returns the launch status (configuration errors).
template <class... P, class... A>
cudaError_t launch(const char* /*name*/, void (*kernel)(P...), dim3 grid, dim3 block, std::size_t smem,
                   cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  kernel<<<grid, block, smem, stream>>>(std::forward<A>(args)...);
  return cudaPeekAtLastError();
}
#endif
}  // namespace gpu

// GPU_LAUNCH(kernel, grid, block, smem_bytes, stream, args...) -> cudaError_t
#define GPU_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::gpu::launch(#kernel, kernel, grid, block, smem, stream, ##__VA_ARGS__)

#if defined(HMR_EMU)
#define GPU_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::cuemu::dynamic_shared())
#define GPU_SHARED(name, ...)                                \
  static thread_local char name##_cuemu_tag;                 \
  auto& name = *reinterpret_cast<::gpu::id_t<__VA_ARGS__>*>( \
      ::cuemu::block_shared(&name##_cuemu_tag, sizeof(::gpu::id_t<__VA_ARGS__>)))
#else
#define GPU_DYNAMIC_SHARED(T, name)                           \
  extern __shared__ __align__(16) unsigned char name##_raw[]; \
  T* name = reinterpret_cast<T*>(name##_raw)
#define GPU_SHARED(name, ...) __shared__ ::gpu::id_t<__VA_ARGS__> name
#endif
