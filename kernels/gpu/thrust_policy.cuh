// gpu/thrust_policy.cuh — the one Thrust execution policy of hmr's kernels: algorithms run on the
// caller's stream without a trailing synchronisation (par_nosync), and their temporary storage
// (the sort's double buffers, the scan's partials) comes from the Context's DevicePool instead of
// a cudaMalloc per call. Under the emulator Thrust runs on the host (THRUST_DEVICE_SYSTEM_CPP);
// its temporaries then come from the same pool (emulated device memory is host memory).
#pragma once

#include <cstddef>

#if defined(HMR_EMU)
#include <thrust/execution_policy.h>
#else
#include <thrust/system/cuda/execution_policy.h>
#endif

#include "gpu/pool.h"

namespace hmr::HMR_CUDA_NS {

// Thrust's temporary-allocation interface over a DevicePool (bytes, as char).
class ThrustPoolAllocator {
 public:
  using value_type = char;
  explicit ThrustPoolAllocator(DevicePool& pool) : pool_(&pool) {}
  char* allocate(std::ptrdiff_t n) { return static_cast<char*>(pool_->allocate(static_cast<std::size_t>(n))); }
  void deallocate(char* p, std::size_t) { pool_->deallocate(p); }

 private:
  DevicePool* pool_;
};

// Usage: thrust::sort(thrust_policy(alloc, stream), ...), with `ThrustPoolAllocator alloc(pool);`
// alive for the call (the policy refers to it).
inline auto thrust_policy(ThrustPoolAllocator& alloc, cudaStream_t stream) {
#if defined(HMR_EMU)
  (void)stream;  // the emulator runs everything in order on the host
  return thrust::device(alloc);
#else
  return thrust::cuda::par_nosync(alloc).on(stream);
#endif
}

}  // namespace hmr::HMR_CUDA_NS
