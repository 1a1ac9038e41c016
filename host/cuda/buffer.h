// cuda/buffer.h — move-only RAII owners for device memory, pinned host memory, streams and events.
// Sizes are in elements. Copies take the stream they are ordered on.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "gpu/check.h"

namespace hmr::HMR_CUDA_NS {

template <class T>
class DeviceBuffer {
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
  std::size_t bytes() const { return n_ * sizeof(T); }
  bool empty() const { return n_ == 0; }

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
  void upload(const T* host, std::size_t n, cudaStream_t s, std::size_t offset = 0) {
    HMR_CUDA_CHECK(cudaMemcpyAsync(p_ + offset, host, n * sizeof(T), cudaMemcpyHostToDevice, s));
  }
  void upload(const std::vector<T>& host, cudaStream_t s) {
    resize(host.size());
    upload(host.data(), host.size(), s);
  }
  void download(T* host, std::size_t n, cudaStream_t s, std::size_t offset = 0) const {
    HMR_CUDA_CHECK(cudaMemcpyAsync(host, p_ + offset, n * sizeof(T), cudaMemcpyDeviceToHost, s));
  }
  // Blocking copy back to the host (synchronises the stream).
  std::vector<T> to_host(cudaStream_t s) const {
    std::vector<T> h(n_);
    if (n_) download(h.data(), n_, s);
    HMR_CUDA_CHECK(cudaStreamSynchronize(s));
    return h;
  }
  void zero(cudaStream_t s) {
    if (n_) HMR_CUDA_CHECK(cudaMemsetAsync(p_, 0, bytes(), s));
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
DeviceBuffer<T> to_device(const std::vector<T>& host, cudaStream_t s) {
  DeviceBuffer<T> d(host.size());
  if (!host.empty()) d.upload(host.data(), host.size(), s);
  return d;
}
template <class T>
DeviceBuffer<T> to_device(const T* host, std::size_t n, cudaStream_t s) {
  DeviceBuffer<T> d(n);
  if (n) d.upload(host, n, s);
  return d;
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

class Stream {
 public:
  Stream() { HMR_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  cudaStream_t get() const { return s_; }
  void sync() const { HMR_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() { HMR_CUDA_CHECK(cudaEventCreate(&e_)); }
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&& o) noexcept {
    std::swap(e_, o.e_);
    return *this;
  }
  cudaEvent_t get() const { return e_; }
  void record(cudaStream_t s) { HMR_CUDA_CHECK(cudaEventRecord(e_, s)); }
  void sync() const { HMR_CUDA_CHECK(cudaEventSynchronize(e_)); }
  // Milliseconds from `start` to this event.
  float since(const Event& start) const {
    float ms = 0;
    HMR_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
    return ms;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

}  // namespace hmr::HMR_CUDA_NS
