// cuda/fft.h — batched 1-D real-to-complex FFT and its complex-to-real inverse (cuFFT on GPUs;
// FFTW in the emulated build with cuFFT's layout: out[b*odist + k], k = 0..n/2, unnormalised
// transforms in both directions).
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

// The inverse: `batch` real rows of n points (odist floats apart) from n/2 + 1 complex values each
// (idist apart), unnormalised (a round trip scales by n). The input is overwritten (cuFFT C2R).
class FftC2R {
 public:
  FftC2R(cudaStream_t stream, int n, int batch, int idist, int odist);
  ~FftC2R();
  FftC2R(const FftC2R&) = delete;
  FftC2R& operator=(const FftC2R&) = delete;
  void exec(float2* in, float* out);
  int n() const { return n_; }
  int batch() const { return batch_; }

 private:
  int n_, batch_, idist_, odist_;
  void* plan_ = nullptr;
};

}  // namespace hmr::HMR_CUDA_NS
