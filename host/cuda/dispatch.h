// cuda/dispatch.h — how host code reaches the cuda backend's two builds. Every kernels/*.cu and
// host/*_cuda.cpp is compiled twice, into namespace hmr::cuda_emu (g++ + emulator) and, where
// nvcc exists, hmr::cuda_gpu (real CUDA). Stage code declares an entry point once with
// HMR_DECLARE_CUDA and calls the right twin with HMR_CUDA_CALL(backend, fn(args)).
#pragma once

#include "core/backend.h"
#include "core/error.h"

#if defined(HMR_HAVE_GPU)
#define HMR_DECLARE_CUDA(...) \
  namespace hmr::cuda_emu {   \
  __VA_ARGS__;                \
  }                           \
  namespace hmr::cuda_gpu {   \
  __VA_ARGS__;                \
  }
#define HMR_CUDA_CALL(backend, ...) \
  ((backend).kind() == ::hmr::BackendKind::cuda_gpu ? ::hmr::cuda_gpu::__VA_ARGS__ : ::hmr::cuda_emu::__VA_ARGS__)
#else
#define HMR_DECLARE_CUDA(...) \
  namespace hmr::cuda_emu {   \
  __VA_ARGS__;                \
  }
#define HMR_CUDA_CALL(backend, ...) (::hmr::cuda_emu::__VA_ARGS__)
#endif
