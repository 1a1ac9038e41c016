// cuda/context.h — the one object that owns the cuda backend's resources: the stream every
// stage's work is ordered on, the cuBLAS handle, cached cuFFT plans, the cuRAND generator and the
// stream-ordered device memory pool (gpu/pool.h) that every hot-path temporary and every Thrust
// temporary comes from. Nothing creates a handle or plan per call, and hot paths do not cudaMalloc:
// `auto t = ctx.scratch<float>(n);` holds pooled memory until t goes out of scope.
// CudaBackend is the hmr::Backend for cuda and cuda-emu; stages reach its Context with context().
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/backend.h"
#include "cuda/buffer.h"

namespace hmr::HMR_CUDA_NS {

class FftR2C;

class Context {
 public:
  explicit Context(int device = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_.get(); }
  const cudaDeviceProp& props() const { return props_; }
  void sync() const { stream_.sync(); }

  void* blas_handle();  // cublasHandle_t bound to stream() (nullptr in the emulated build)
  void* rng();          // curandGenerator_t (Philox4x32-10) bound to stream() (emulated: nullptr)
  // A cached batched real-to-complex plan: `batch` transforms of length n, input rows idist
  // floats apart, output rows odist complex values apart.
  FftR2C& fft_r2c(int n, int batch, int idist, int odist);

  // Scoped temporaries from the pool, ordered on stream(): uninitialised (0xFF under the
  // emulator) or uploaded from the host.
  DevicePool& pool() { return pool_; }
  template <class T>
  PooledBuffer<T> scratch(std::size_t count) {
    return pool_.scratch<T>(count);
  }
  template <class T>
  PooledBuffer<T> to_scratch(const T* host, std::size_t count) {
    PooledBuffer<T> b = pool_.scratch<T>(count);
    b.upload(host, count, stream());
    return b;
  }
  template <class T>
  PooledBuffer<T> to_scratch(const std::vector<T>& host) {
    return to_scratch(host.data(), host.size());
  }

 private:
  int device_;
  cudaDeviceProp props_{};
  Stream stream_;
  void* blas_ = nullptr;
  void* rng_ = nullptr;
  std::map<std::tuple<int, int, int, int>, std::unique_ptr<FftR2C>> fft_plans_;
  DevicePool pool_{stream_.get()};  // after stream_: destroyed (synchronised, freed) before it
};

class CudaBackend final : public hmr::Backend {
 public:
  explicit CudaBackend(int device = 0) : ctx_(device) {}
  hmr::BackendKind kind() const override;
  std::string name() const override;
  std::string description() const override;
  Context& context() { return ctx_; }

 private:
  Context ctx_;
};

// The Context of a cuda backend of this build; an internal error for any other backend.
Context& context(hmr::Backend& b);

}  // namespace hmr::HMR_CUDA_NS
