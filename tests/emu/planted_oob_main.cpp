// Planted bugs: a kernel writes one element past an array, which the emulator's exact-size
// allocations let AddressSanitizer report (this program is always built with ASan).
//   (no argument)  past a cudaMalloc'd array        (oob_write_kernel)
//   shared         past a GPU_SHARED per-block array (oob_shared_kernel)
// tests/emu/cuemu_test.cpp runs it and expects ASan to name the kernel.
#include <cstdio>
#include <cstring>

#include "gpu/compat.h"

__global__ void oob_write_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;  // the bug: should be i < n
}

__global__ void oob_shared_kernel(float* out) {
  GPU_SHARED(tile, float[100]);
  const int t = threadIdx.x;
  if (t <= 100) tile[t] = 1.0f;  // the bug: should be t < 100
  __syncthreads();
  if (t < 100) out[t] = tile[t];
}

int main(int argc, char** argv) {
  const bool shared = argc > 1 && std::strcmp(argv[1], "shared") == 0;
  float* d = nullptr;
  const int n = 100;
  if (cudaMalloc(&d, n * sizeof(float)) != cudaSuccess) return 3;
  if (shared)
    GPU_LAUNCH(oob_shared_kernel, 1, 128, 0, nullptr, d);
  else
    GPU_LAUNCH(oob_write_kernel, 1, 128, 0, nullptr, d, n);
  cudaFree(d);
  std::puts("no report: the planted overflow was not caught");
  return 0;
}
