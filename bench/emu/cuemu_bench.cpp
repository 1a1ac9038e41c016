// Cost of the CUDA-on-CPU emulator itself (host/emu): launch overhead, barrier-free threads,
// a 2^20-element block reduction with 9 barriers per thread, and the warp-shuffle variant. These
// bound how large emulated kernel tests can be; they say nothing about GPU speed.
#include <benchmark/benchmark.h>

#include <vector>

#include "emu/sample_kernels.h"
#include "gpu/compat.h"

namespace {

__global__ void empty_kernel(int* p) { (void)p; }

__global__ void axpy_kernel(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += 2.0f * x[i];
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
  for (auto _ : state) GPU_LAUNCH(block_sum_kernel<>, (1 << 20) / 256, 256, 0, nullptr, b.x, b.y, b.n);
  state.SetItemsProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_SharedReduction)->Unit(benchmark::kMillisecond);

void BM_WarpShuffleReduction(benchmark::State& state) {
  Buffers b(1 << 20);
  for (auto _ : state) GPU_LAUNCH(warp_sum_kernel, (1 << 20) / 256, 256, 0, nullptr, b.x, b.y, b.n);
  state.SetItemsProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_WarpShuffleReduction)->Unit(benchmark::kMillisecond);

}  // namespace
