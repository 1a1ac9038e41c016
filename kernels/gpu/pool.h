// gpu/pool.h — the stream-ordered device memory pool of a cuda Context and its scoped temporaries.
//
// DevicePool caches device blocks by size class (a quarter-octave rounding, at most 25% slack) so
// the hot paths (every K-Means call, every t-SNE run, the thrust sorts) reuse memory instead of
// calling cudaMalloc each time. It is stream-ordered for ONE stream, the Context's: a block given
// back while kernels on that stream still use it is handed out only to work enqueued later on the
// same stream, which runs after them, so no synchronisation is needed (the scheme of a
// single-stream caching allocator). Code that uses a block from another stream must synchronise
// first. Blocks go back to the driver only in release_cached() (and the destructor, after a
// stream synchronisation), or when a cudaMalloc fails and the cache is trimmed to retry.
//
// PooledBuffer<T> is the move-only RAII temporary: `auto t = pool.scratch<float>(n)` (or
// Context::scratch) holds n elements until it goes out of scope.
//
// Under the emulator (HMR_EMU) the checks of cudaMalloc stay meaningful: every block handed out,
// fresh or reused, is filled with 0xFF over the requested bytes (uninitialised floats read as
// NaN, ints as -1), and in AddressSanitizer builds the slack past the requested size and every
// block sitting in the cache are poisoned, so an overrun past n elements or a use after the
// buffer went out of scope is reported as it would be for an exact-size cudaMalloc.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gpu/check.h"

#if defined(HMR_EMU) && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define HMR_POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define HMR_POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define HMR_POOL_POISON(p, n) ((void)(p), (void)(n))
#define HMR_POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace hmr::HMR_CUDA_NS {

// A move-only owner of n elements of device memory that Release gives back (cudaFree for a
// DeviceBuffer, the pool for a PooledBuffer).
template <class T, class Release>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(T* p, std::size_t n, Release release) : p_(p), n_(n), release_(release) {}
  ~DeviceArray() { reset(); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)), release_(o.release_) {}
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
      release_ = o.release_;
    }
    return *this;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }
  bool empty() const { return n_ == 0; }
  // Stream-ordered copies.
  void upload(const T* host, std::size_t n, cudaStream_t s, std::size_t offset = 0) {
    if (n) HMR_CUDA_CHECK(cudaMemcpyAsync(p_ + offset, host, n * sizeof(T), cudaMemcpyHostToDevice, s));
  }
  void download(T* host, std::size_t n, cudaStream_t s, std::size_t offset = 0) const {
    if (n) HMR_CUDA_CHECK(cudaMemcpyAsync(host, p_ + offset, n * sizeof(T), cudaMemcpyDeviceToHost, s));
  }
  // Blocking copy back to the host (synchronises the stream).
  std::vector<T> to_host(cudaStream_t s) const {
    std::vector<T> h(n_);
    download(h.data(), h.size(), s);
    HMR_CUDA_CHECK(cudaStreamSynchronize(s));
    return h;
  }
  void zero(cudaStream_t s) {
    if (n_) HMR_CUDA_CHECK(cudaMemsetAsync(p_, 0, bytes(), s));
  }
  // Gives the memory back now (for a pooled block: stream-ordered); the array is then empty.
  void reset() noexcept {
    if (p_) release_(p_);
    p_ = nullptr;
    n_ = 0;
  }

 protected:
  T* p_ = nullptr;
  std::size_t n_ = 0;
  Release release_{};
};

class DevicePool;
struct PoolRelease {
  DevicePool* pool = nullptr;
  void operator()(void* p) const noexcept;
};
template <class T>
using PooledBuffer = DeviceArray<T, PoolRelease>;

class DevicePool {
 public:
  struct Stats {
    std::size_t mallocs = 0;       // cudaMalloc calls made
    std::size_t reuses = 0;        // requests served from the cache
    std::size_t live_bytes = 0;    // capacity handed out and not yet given back
    std::size_t cached_bytes = 0;  // capacity held for reuse
  };

  explicit DevicePool(cudaStream_t stream = nullptr) : stream_(stream) {}
  ~DevicePool() {
    if (stream_) (void)cudaStreamSynchronize(stream_);
    release_cached();
  }
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  cudaStream_t stream() const { return stream_; }
  void set_stream(cudaStream_t s) { stream_ = s; }

  // A block of at least `bytes` (nullptr for 0), valid for work on stream() until deallocate().
  void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t cap = size_class(bytes);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(m_);
      auto it = free_.find(cap);
      if (it != free_.end()) {
        p = it->second;
        free_.erase(it);
        stats_.cached_bytes -= cap;
        ++stats_.reuses;
      }
    }
    if (p == nullptr) {
      cudaError_t e = cudaMalloc(&p, cap);
      if (e != cudaSuccess) {  // the cache may hold what is missing: give it back and retry once
        (void)cudaGetLastError();
        if (stream_) HMR_CUDA_CHECK(cudaStreamSynchronize(stream_));
        release_cached();
        HMR_CUDA_CHECK(cudaMalloc(&p, cap));
      }
      std::lock_guard<std::mutex> lock(m_);
      ++stats_.mallocs;
    }
    {
      std::lock_guard<std::mutex> lock(m_);
      live_[p] = cap;
      stats_.live_bytes += cap;
    }
    HMR_POOL_UNPOISON(p, bytes);
#if defined(HMR_EMU)
    HMR_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, bytes, stream_));  // re-poison a reused block
#endif
    HMR_POOL_POISON(static_cast<char*>(p) + bytes, cap - bytes);
    return p;
  }

  void deallocate(void* p) noexcept {
    if (p == nullptr) return;
    std::lock_guard<std::mutex> lock(m_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: a programming error, but never from a destructor
    const std::size_t cap = it->second;
    live_.erase(it);
    stats_.live_bytes -= cap;
    stats_.cached_bytes += cap;
    HMR_POOL_POISON(p, cap);
    free_.emplace(cap, p);
  }

  // Frees every cached block. The caller guarantees that no enqueued work still uses them
  // (the destructor and the out-of-memory retry synchronise the stream first).
  void release_cached() noexcept {
    std::multimap<std::size_t, void*> blocks;
    {
      std::lock_guard<std::mutex> lock(m_);
      blocks.swap(free_);
      stats_.cached_bytes = 0;
    }
    for (auto& [cap, p] : blocks) {
      HMR_POOL_UNPOISON(p, cap);
      (void)cudaFree(p);
    }
  }

  template <class T>
  PooledBuffer<T> scratch(std::size_t n) {
    return PooledBuffer<T>(static_cast<T*>(allocate(n * sizeof(T))), n, PoolRelease{this});
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lock(m_);
    return stats_;
  }

  // Capacity class of a request: 512 B minimum, then four classes per power of two.
  static std::size_t size_class(std::size_t bytes) {
    if (bytes <= 512) return 512;
    std::size_t top = 512;
    while (top * 2 <= bytes) top *= 2;
    const std::size_t step = top / 4;
    return (bytes + step - 1) / step * step;
  }

 private:
  cudaStream_t stream_;
  mutable std::mutex m_;
  std::multimap<std::size_t, void*> free_;       // capacity -> cached block
  std::unordered_map<void*, std::size_t> live_;  // handed-out block -> capacity
  Stats stats_;
};

inline void PoolRelease::operator()(void* p) const noexcept {
  if (pool) pool->deallocate(p);
}

}  // namespace hmr::HMR_CUDA_NS
