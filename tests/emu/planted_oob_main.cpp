// A planted bug: a kernel writes one element past a cudaMalloc'd array. Built with
// AddressSanitizer; tests/emu/cuemu_test.cpp runs it and expects ASan to name the kernel.
#include <cstdio>

#include "gpu/compat.h"

__global__ void oob_write_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;  // the bug: should be i < n
}

int main() {
  float* d = nullptr;
  const int n = 100;
  if (cudaMalloc(&d, n * sizeof(float)) != cudaSuccess) return 3;
  GPU_LAUNCH(oob_write_kernel, 1, 128, 0, nullptr, d, n);
  cudaFree(d);
  std::puts("no report: the planted overflow was not caught");
  return 0;
}
