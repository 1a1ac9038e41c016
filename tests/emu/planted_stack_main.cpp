// A planted bug: a kernel whose locals need more than a fiber's stack (CUEMU_STACK_KB, 64 KiB by
// default). The emulator must say so instead of dying silently; cuemu_test.cpp runs this program.
#include <cstdio>

#include "gpu/compat.h"

__global__ void big_frame_kernel(float* out) {
  volatile float scratch[64 * 1024];  // 256 KiB of locals
  for (int i = 0; i < 64 * 1024; i += 1024) scratch[i] = static_cast<float>(i);
  out[threadIdx.x] = scratch[1024];
}

int main() {
  float* d = nullptr;
  if (cudaMalloc(&d, 32 * sizeof(float)) != cudaSuccess) return 3;
  GPU_LAUNCH(big_frame_kernel, 1, 32, 0, nullptr, d);
  std::puts("no report: the stack overflow was not caught");
  return 0;
}
