// cuda/fft.h — batched 1-D real-to-complex FFT (cuFFT on GPUs; FFTW in the emulated build with
// cuFFT's layout: out[b*odist + k], k = 0..n/2, unnormalised forward transform).
#pragma once

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS {

class FftR2C {
 public:
  FftR2C(cudaStream_t stream, int n, int batch, int idist, int odist);
  ~FftR2C();
  FftR2C(const FftR2C&) = delete;
  FftR2C& operator=(const FftR2C&) = delete;
  // in: device [batch][idist] floats; out: device [batch][odist] complex (float2)
  void exec(const float* in, float2* out);
  int n() const { return n_; }
  int batch() const { return batch_; }

 private:
  int n_, batch_, idist_, odist_;
  void* plan_ = nullptr;
};

}  // namespace hmr::HMR_CUDA_NS
