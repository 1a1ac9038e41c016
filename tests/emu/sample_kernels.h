// emu/sample_kernels.h — the two reductions every CUDA programmer writes, shared by the emulator's
// self-tests (tests/emu/cuemu_test.cpp: known answers in every thread order, and a planted race)
// and its cost bench (bench/emu/cuemu_bench.cpp: what a barrier and a shuffle cost emulated).
//   block_sum_kernel: one float per block = sum of its blockDim.x (<= 256, a power of two) inputs,
//     a shared-memory tree; <false> leaves out the barrier after the loads, the planted race.
//   warp_sum_kernel: out[i / 32] = sum of the 32 inputs of each warp, by shuffles.
#pragma once

#include "gpu/compat.h"

template <bool kBarrierAfterLoad = true>
__global__ void block_sum_kernel(const float* in, float* out, int n) {
  GPU_SHARED(s, float[256]);
  const int t = threadIdx.x;
  const int i = blockIdx.x * blockDim.x + t;
  s[t] = i < n ? in[i] : 0.0f;
  if constexpr (kBarrierAfterLoad) __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

__global__ inline void warp_sum_kernel(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? in[i] : 0.0f;
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  if ((threadIdx.x & 31) == 0) out[i / 32] = v;
}
