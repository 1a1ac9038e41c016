// Spectral features throughput, cpu vs cuda: librosa's chroma_stft (with estimate_tuning), rms,
// spectral centroid / bandwidth / rolloff and zero_crossing_rate (the Kaggle GTZAN set), and the
// same plus spectral_contrast, of a batch of 30 s clips already in memory (files/s and ms per clip;
// the STFT is made once per clip for all series; the cpu float64 STFT by default, the float32 one
// as cpu_kaggle_float32_stft). Inputs are synthesised (tones, a glide and noise).
#include <benchmark/benchmark.h>

#include <cmath>
#include <numbers>
#include <random>

#include "audio/spectral.h"
#include "core/backend.h"
#include "support/backends.h"

namespace {

namespace ha = hmr::audio;

constexpr int kSr = 22050;
constexpr int kSeconds = 30;

std::vector<float> music_like(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<float> y(n);
  const double f0 = 110.0 * (1 + seed % 5) * std::pow(2.0, 0.3 * (seed % 3) / 12.0);  // assorted tunings
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / kSr;
    y[i] = static_cast<float>(0.3 * std::sin(2 * std::numbers::pi * f0 * t) +
                              0.2 * std::sin(2 * std::numbers::pi * 1.5 * f0 * t) +
                              0.1 * std::sin(2 * std::numbers::pi * (440.0 * t + 30.0 * t * t))) +
           g(rng);
  }
  return y;
}

const std::vector<std::vector<float>>& clips() {
  static const std::vector<std::vector<float>> c = [] {
    std::vector<std::vector<float>> v;
    for (unsigned i = 0; i < 16; ++i) v.push_back(music_like(static_cast<std::size_t>(kSr) * kSeconds + 300, i));
    return v;
  }();
  return c;
}

void BM_SpectralClips(benchmark::State& state, const char* device, bool contrast, bool f64 = true) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::span<const float>> spans;
  for (std::size_t i = 0; i < n; ++i) spans.emplace_back(clips()[i % clips().size()]);
  ha::SpectralWhat what;
  what.contrast = contrast;
  ha::SpectralParams p;
  p.stft_float64 = f64;
  ha::spectral_frames(*b, spans, p, what);  // warm-up: plans, device buffers
  for (auto _ : state) {
    auto r = ha::spectral_frames(*b, spans, p, what);
    benchmark::DoNotOptimize(r.front().rms.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.counters["files/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ms/clip"] = benchmark::Counter(
      static_cast<double>(n) / 1e3, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_Delta(benchmark::State& state) {
  // 20 MFCCs x 1293 frames (one 30 s clip), delta and delta-delta as the extras
  hmr::Matrix m(20, 1293);
  for (std::size_t i = 0; i < m.size(); ++i) m.vec()[i] = static_cast<float>(std::sin(0.01 * static_cast<double>(i)));
  for (auto _ : state) {
    auto d1 = ha::delta(m, 1), d2 = ha::delta(m, 2);
    benchmark::DoNotOptimize(d1.data());
    benchmark::DoNotOptimize(d2.data());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_SpectralClips, cpu_kaggle, "cpu", false)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SpectralClips, cpu_kaggle_float32_stft, "cpu", false, false)
    ->Arg(16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SpectralClips, cpu_with_contrast, "cpu", true)
    ->Arg(16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SpectralClips, cuda_kaggle, "cuda", false)
    ->Arg(16)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SpectralClips, cuda_with_contrast, "cuda", true)
    ->Arg(16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Delta)->Unit(benchmark::kMicrosecond);

}  // namespace
