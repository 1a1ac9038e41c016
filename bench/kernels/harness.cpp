// bench/kernels/harness.cpp — the driver of the per-kernel harness (see harness.h): selects benches
// (--list, --kernel NAME, --size N, --repeat R), runs each beside its CPU reference, prints one
// line per bench with the worst element of every comparison, and exits 1 when any result is out
// of tolerance (so the emulated build doubles as a correctness check in ctest).
#include "harness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

namespace hmr::kbench {

std::vector<Bench>& registry() {
  static std::vector<Bench> r;
  return r;
}

bool Report::check_values(const std::string& what, std::span<const double> got, std::span<const double> want,
                          double atol, double rtol) {
  char buf[512];
  if (got.size() != want.size()) {
    std::snprintf(buf, sizeof buf, "%s: FAIL sizes differ (%zu vs %zu)", what.c_str(), got.size(), want.size());
    lines_.emplace_back(buf);
    return ok_ = false;
  }
  // Worst element: the largest excess over its own tolerance when some fail, else the largest |err|.
  std::size_t worst_excess_at = 0, max_err_at = 0, bad = 0;
  double worst_excess = -1e300, max_err = -1;  // NaN counts as the largest error
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]);
    const double excess = std::isnan(err) ? 1e300 : err - (atol + rtol * std::fabs(want[i]));
    if (excess > 0) ++bad;
    if (excess > worst_excess) worst_excess = excess, worst_excess_at = i;
    if (!(err <= max_err)) max_err = std::isnan(err) ? 1e300 : err, max_err_at = i;
  }
  const std::size_t worst = bad ? worst_excess_at : max_err_at;
  if (got.empty()) {
    std::snprintf(buf, sizeof buf, "%s: FAIL nothing to compare", what.c_str());
    lines_.emplace_back(buf);
    return ok_ = false;
  }
  std::snprintf(
      buf, sizeof buf, "%s: %s; worst [%zu] %.9g vs %.9g, |err| %.3g (atol %.1g, rtol %.1g)%s", what.c_str(),
      bad ? "FAIL" : "ok", worst, got[worst], want[worst], std::fabs(got[worst] - want[worst]), atol, rtol,
      bad ? (", " + std::to_string(bad) + " of " + std::to_string(got.size()) + " out of tolerance").c_str() : "");
  lines_.emplace_back(buf);
  if (bad) ok_ = false;
  return bad == 0;
}

static std::uint64_t next(std::uint64_t& s) {
  s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
  return s * 2685821657736338717ull;
}

std::vector<float> uniform(std::size_t n, std::uint64_t seed, float lo, float hi) {
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(static_cast<double>(next(s) >> 11) * 0x1.0p-53);
  return v;
}

std::vector<float> blobs(std::int64_t n, int d, int k, float spread, std::uint64_t seed) {
  const auto centres = uniform(static_cast<std::size_t>(k) * d, seed, -10.0f, 10.0f);
  auto x = uniform(static_cast<std::size_t>(n) * d, seed + 1, -spread, spread);
  for (std::int64_t i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) x[i * d + j] += centres[(i % k) * d + j];
  return x;
}

}  // namespace hmr::kbench

namespace {

using hmr::kbench::Bench;

#if defined(HMR_EMU)
constexpr const char* kDevice = "cuda-emu";
constexpr const char* kDeviceNote = " (emulated, not GPU speed)";
#else
constexpr const char* kDevice = "cuda";
constexpr const char* kDeviceNote = "";
#endif

void usage(const char* argv0) {
  std::printf(
      "usage: %s [--list] [--kernel NAME]... [--size N] [--repeat R]\n"
      "  --list         the benches, the launchers each runs and what --size sets\n"
      "  --kernel NAME  run only this bench (repeatable; default: all)\n"
      "  --size N       the primary dimension of every selected bench (default: per bench, smaller\n"
      "                 under the emulator)\n"
      "  --repeat R     timed launches per bench (default 3)\n"
      "Exit status 1 when a kernel's result is out of tolerance against its CPU reference.\n",
      argv0);
}

}  // namespace

int main(int argc, char** argv) {
  auto benches = hmr::kbench::registry();
  std::sort(benches.begin(), benches.end(),
            [](const Bench& a, const Bench& b) { return std::string_view(a.name) < std::string_view(b.name); });
  std::vector<std::string> only;
  std::int64_t size = 0;
  int repeat = 3;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--list") {
      list = true;
    } else if (a == "--kernel" && has_value) {
      only.emplace_back(argv[++i]);
    } else if (a == "--size" && has_value) {
      size = std::strtoll(argv[++i], nullptr, 10);
    } else if (a == "--repeat" && has_value) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else {
      usage(argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (list) {
    for (const auto& b : benches)
      std::printf("%-22s --size = %s (default %lld; %lld on a device)\n  %s\n", b.name, b.n_means,
                  static_cast<long long>(b.emu_n), static_cast<long long>(b.gpu_n), b.launchers);
    return 0;
  }
  for (const auto& name : only)
    if (std::none_of(benches.begin(), benches.end(), [&](const Bench& b) { return name == b.name; })) {
      std::fprintf(stderr, "unknown kernel bench '%s' (see --list)\n", name.c_str());
      return 2;
    }
#if !defined(HMR_EMU)
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::fprintf(stderr, "no CUDA device answers: run bench_kernels_emu instead\n");
    return 2;
  }
  std::printf("device: %s (CUDA events)\n", prop.name);
#else
  std::printf("device: the CUDA-on-CPU emulator; its times are emulated, not GPU speed\n");
#endif
  int failed = 0;
  for (const auto& b : benches) {
    if (!only.empty() && std::find(only.begin(), only.end(), b.name) == only.end()) continue;
    hmr::kbench::Problem p;
#if defined(HMR_EMU)
    p.n = size > 0 ? size : b.emu_n;
#else
    p.n = size > 0 ? size : b.gpu_n;
#endif
    p.repeat = repeat;
    hmr::kbench::Report r;
    try {
      b.run(p, r);
    } catch (const std::exception& e) {
      r.check_values(std::string("exception: ") + e.what(), {}, {}, 0, 0);
    }
    std::printf("%-22s %-28s cpu %9.3f ms   %s %9.3f ms%s   %s\n", b.name, r.shape().c_str(), r.cpu_ms(), kDevice,
                r.device_ms(), kDeviceNote, r.ok() ? "ok" : "MISMATCH");
    for (const auto& l : r.lines()) std::printf("    %s\n", l.c_str());
    std::fflush(stdout);
    failed += !r.ok();
  }
  if (failed) std::printf("%d kernel bench(es) out of tolerance\n", failed);
  return failed ? 1 : 0;
}
