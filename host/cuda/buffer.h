// cuda/buffer.h — move-only RAII owners for device memory, pinned host memory, streams and events.
// Sizes are in elements. Copies take the stream they are ordered on. DeviceBuffer owns one
// cudaMalloc for as long as it lives (resident data: weights, a cached plan's tables); hot-path
// temporaries come from the Context's pool instead (Context::scratch, gpu/pool.h).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "gpu/check.h"
#include "gpu/pool.h"

namespace hmr::HMR_CUDA_NS {

struct CudaFree {
  void operator()(void* p) const noexcept { (void)cudaFree(p); }  // no throw from a destructor path
};

template <class T>
class DeviceBuffer : public DeviceArray<T, CudaFree> {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) { allocate(n); }

  // Reallocates (contents lost) unless the size already matches.
  void resize(std::size_t n) {
    if (n != this->n_) {
      this->reset();
      allocate(n);
    }
  }
  using DeviceArray<T, CudaFree>::upload;
  void upload(const std::vector<T>& host, cudaStream_t s) {
    resize(host.size());
    this->upload(host.data(), host.size(), s);
  }

 private:
  void allocate(std::size_t n) {
    if (n) HMR_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&this->p_), n * sizeof(T)));
    this->n_ = n;
  }
};

template <class T>
DeviceBuffer<T> to_device(const T* host, std::size_t n, cudaStream_t s) {
  DeviceBuffer<T> d(n);
  d.upload(host, n, s);
  return d;
}
template <class T>
DeviceBuffer<T> to_device(const std::vector<T>& host, cudaStream_t s) {
  return to_device(host.data(), host.size(), s);
}

// Page-locked host memory: the source and target of asynchronous copies.
template <class T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t n) : n_(n) {
    if (n) HMR_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&p_), n * sizeof(T)));
  }
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  PinnedBuffer(PinnedBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  T& operator[](std::size_t i) { return p_[i]; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// A move-only owner of a runtime handle (stream, event) destroyed by Destroy.
template <class H, cudaError_t (*Destroy)(H)>
class UniqueHandle {
 public:
  UniqueHandle() = default;
  ~UniqueHandle() {
    if (h_) Destroy(h_);
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  UniqueHandle(UniqueHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UniqueHandle& operator=(UniqueHandle&& o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  H get() const { return h_; }

 protected:
  H h_ = nullptr;
};

class Stream : public UniqueHandle<cudaStream_t, cudaStreamDestroy> {
 public:
  Stream() { HMR_CUDA_CHECK(cudaStreamCreateWithFlags(&h_, cudaStreamNonBlocking)); }
  void sync() const { HMR_CUDA_CHECK(cudaStreamSynchronize(h_)); }
};

class Event : public UniqueHandle<cudaEvent_t, cudaEventDestroy> {
 public:
  Event() { HMR_CUDA_CHECK(cudaEventCreate(&h_)); }
  void record(cudaStream_t s) { HMR_CUDA_CHECK(cudaEventRecord(h_, s)); }
  void sync() const { HMR_CUDA_CHECK(cudaEventSynchronize(h_)); }
  // Milliseconds from `start` to this event.
  float since(const Event& start) const {
    float ms = 0;
    HMR_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), h_));
    return ms;
  }
};

}  // namespace hmr::HMR_CUDA_NS
