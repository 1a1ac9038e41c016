// bench/kernels/harness.h — a per-kernel harness in the spirit of llm.c's dev/cuda: each kernel
// launcher of kernels/**/*.cuh runs beside its CPU reference on one realistic input, the results are
// compared element-wise (|got - want| <= atol + rtol |want|, the worst element printed) and both
// sides are timed. The same sources build twice: against the emulator (HMR_EMU, hmr::cuda_emu; the
// device time is then the emulator's wall time, printed as "emulated, not GPU speed") and, where
// nvcc exists, against the CUDA runtime (hmr::cuda_gpu; CUDA events on the device).
//
// A stage file (bench/kernels/<stage>_kernels.cpp) keeps the lines that name launchers in one
// small adapter block at its top, so a change of launcher signatures is fixed there only, and
// registers its benches with HMR_KERNEL_BENCH.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "gpu/check.h"

namespace hmr::kbench {

namespace dev = ::hmr::HMR_CUDA_NS;

// What one bench run is asked to do: n is the kernel's primary dimension (rows, points, frames:
// each bench says which in --list), repeat the number of timed launches.
struct Problem {
  std::int64_t n = 0;
  int repeat = 3;
  std::uint64_t seed = 1;
};

// Outcome of one bench: validation verdicts and timings, printed by the driver.
class Report {
 public:
  // Compares got with want element-wise; prints the worst element and records a failure.
  template <class G, class W>
  bool check(const std::string& what, const std::vector<G>& got, const std::vector<W>& want, double atol, double rtol) {
    std::vector<double> g(got.begin(), got.end()), w(want.begin(), want.end());
    return check_values(what, g, w, atol, rtol);
  }
  bool check_values(const std::string& what, std::span<const double> got, std::span<const double> want, double atol,
                    double rtol);
  void device_ms(double ms) { device_ms_ = ms; }
  void cpu_ms(double ms) { cpu_ms_ = ms; }
  void shape(std::string s) { shape_ = std::move(s); }

  bool ok() const { return ok_; }
  double device_ms() const { return device_ms_; }
  double cpu_ms() const { return cpu_ms_; }
  const std::string& shape() const { return shape_; }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  bool ok_ = true;
  double device_ms_ = -1, cpu_ms_ = -1;
  std::string shape_;
  std::vector<std::string> lines_;
};

struct Bench {
  const char* name;       // --kernel NAME
  const char* launchers;  // the launchers it exercises
  const char* n_means;    // what --size sets
  std::int64_t emu_n;     // default size under the emulator (all benches together: well under a minute)
  std::int64_t gpu_n;     // default size on a device (a realistic input)
  void (*run)(const Problem&, Report&);
};

std::vector<Bench>& registry();
struct Registrar {
  explicit Registrar(Bench b) { registry().push_back(b); }
};

// Device memory for one buffer, move-only (the harness keeps its own so it depends on the launchers
// only, not on the host library's allocator).
template <class T>
class Buf {
 public:
  explicit Buf(std::size_t n) : n_(n) {
    if (n_) HMR_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n_ * sizeof(T)));
  }
  explicit Buf(const std::vector<T>& h) : Buf(h.size()) { upload(h); }
  Buf(Buf&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() {
    if (p_) cudaFree(p_);
  }
  T* get() { return p_; }
  const T* get() const { return p_; }
  std::size_t size() const { return n_; }
  void upload(const std::vector<T>& h) {
    if (n_) HMR_CUDA_CHECK(cudaMemcpy(p_, h.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  void fill_bytes(int byte) {
    if (n_) HMR_CUDA_CHECK(cudaMemset(p_, byte, n_ * sizeof(T)));
  }
  std::vector<T> host() const {
    std::vector<T> h(n_);
    if (n_) HMR_CUDA_CHECK(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// Milliseconds per call of `launch` (one untimed warm-up call, then `repeat` between two events).
// `reset` runs before every call, outside the timed region when repeat is 1, and restores inputs a
// launch overwrites in place.
template <class L, class R>
double time_device(int repeat, L&& launch, R&& reset) {
  reset();
  launch();
  HMR_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  HMR_CUDA_CHECK(cudaEventCreate(&a));
  HMR_CUDA_CHECK(cudaEventCreate(&b));
  float total = 0;
  for (int r = 0; r < repeat; ++r) {
    reset();
    HMR_CUDA_CHECK(cudaEventRecord(a, nullptr));
    launch();
    HMR_CUDA_CHECK(cudaEventRecord(b, nullptr));
    HMR_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    HMR_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    total += ms;
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return total / repeat;
}
template <class L>
double time_device(int repeat, L&& launch) {
  return time_device(repeat, launch, [] {});
}

// Milliseconds per call of the CPU reference (best of `repeat`, at least one call).
template <class F>
double time_cpu(int repeat, F&& f) {
  double best = 1e300;
  for (int r = 0; r < (repeat > 0 ? repeat : 1); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    best = ms < best ? ms : best;
  }
  return best;
}

// Seeded inputs (xorshift64*, so every build and platform draws the same numbers).
std::vector<float> uniform(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f);
// n rows of d features around k well-separated centres, row-major.
std::vector<float> blobs(std::int64_t n, int d, int k, float spread, std::uint64_t seed);

}  // namespace hmr::kbench

#define HMR_KBENCH_CAT2(a, b) a##b
#define HMR_KBENCH_CAT(a, b) HMR_KBENCH_CAT2(a, b)
// HMR_KERNEL_BENCH({"name", "launch_a, launch_b", "rows", emu_n, gpu_n, &run});
#define HMR_KERNEL_BENCH(...) \
  static const ::hmr::kbench::Registrar HMR_KBENCH_CAT(hmr_kbench_, __LINE__)(::hmr::kbench::Bench __VA_ARGS__)
