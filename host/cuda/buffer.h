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

template <class T>
class DeviceBuffer : public DeviceArrayOps<DeviceBuffer<T>, T> {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) { allocate(n); }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }

  // Reallocates (contents lost) unless the size already matches.
  void resize(std::size_t n) {
    if (n != n_) {
      reset();
      allocate(n);
    }
  }
  void reset() {
    if (p_) cudaFree(p_);  // no throw from a destructor path
    p_ = nullptr;
    n_ = 0;
  }
  using DeviceArrayOps<DeviceBuffer<T>, T>::upload;
  void upload(const std::vector<T>& host, cudaStream_t s) {
    resize(host.size());
    this->upload(host.data(), host.size(), s);
  }

 private:
  void allocate(std::size_t n) {
    if (n) HMR_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)));
    n_ = n;
  }
  T* p_ = nullptr;
  std::size_t n_ = 0;
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
