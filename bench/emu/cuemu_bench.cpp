// Cost of the CUDA-on-CPU emulator itself (tests/emu/cuemu): launch overhead, barrier-free threads,
// a 2^20-element block reduction with 9 barriers per thread, and the warp-shuffle variant. These
// bound how large emulated kernel tests can be; they say nothing about GPU speed.
#include <benchmark/benchmark.h>

#include <vector>

#include "gpu/compat.h"

namespace {

__global__ void empty_kernel(int* p) { (void)p; }

__global__ void axpy_kernel(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += 2.0f * x[i];
}

__global__ void shared_reduce_kernel(const float* in, float* out, int n) {
  GPU_SHARED(s, float[256]);
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  s[t] = i < n ? in[i] : 0.0f;
  __syncthreads();
  for (int stride = 128; stride > 0; stride /= 2) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

__global__ void warp_reduce_kernel(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? in[i] : 0.0f;
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  if ((threadIdx.x & 31) == 0) out[i / 32] = v;
}

struct Buffers {
  float *x = nullptr, *y = nullptr;
  int n;
  explicit Buffers(int count) : n(count) {
    cudaMalloc(&x, n * sizeof(float));
    cudaMalloc(&y, n * sizeof(float));
    cudaMemset(x, 0, n * sizeof(float));
    cudaMemset(y, 0, n * sizeof(float));
  }
  ~Buffers() {
    cudaFree(x);
    cudaFree(y);
  }
};

void BM_EmptyLaunch(benchmark::State& state) {
  int* p = nullptr;
  cudaMalloc(&p, sizeof(int));
  for (auto _ : state) GPU_LAUNCH(empty_kernel, 1, 1, 0, nullptr, p);
  cudaFree(p);
}
BENCHMARK(BM_EmptyLaunch);

void BM_BarrierFreeThreads(benchmark::State& state) {
  Buffers b(1 << 20);
  for (auto _ : state) GPU_LAUNCH(axpy_kernel, (1 << 20) / 256, 256, 0, nullptr, b.x, b.y, b.n);
  state.SetItemsProcessed(state.iterations() * (1 << 20));  // items = CUDA threads
}
BENCHMARK(BM_BarrierFreeThreads)->Unit(benchmark::kMillisecond);

void BM_SharedReduction(benchmark::State& state) {
  Buffers b(1 << 20);
  for (auto _ : state) GPU_LAUNCH(shared_reduce_kernel, (1 << 20) / 256, 256, 0, nullptr, b.x, b.y, b.n);
  state.SetItemsProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_SharedReduction)->Unit(benchmark::kMillisecond);

void BM_WarpShuffleReduction(benchmark::State& state) {
  Buffers b(1 << 20);
  for (auto _ : state) GPU_LAUNCH(warp_reduce_kernel, (1 << 20) / 256, 256, 0, nullptr, b.x, b.y, b.n);
  state.SetItemsProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_WarpShuffleReduction)->Unit(benchmark::kMillisecond);

}  // namespace
