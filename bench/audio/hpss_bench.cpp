// HPSS and tempo throughput, cpu vs cuda: librosa effects.hpss statistics (the Kaggle harmony /
// perceptr columns), beat_track's tempo and the onset envelope alone, on 30 s clips already in
// memory (files/s). Inputs are synthesised: tones with a vibrato plus clicks at 100-140 bpm over
// noise. The librosa side of the comparison is bench/audio/hpss_tempo_parity.py.
#include <benchmark/benchmark.h>

#include <cmath>
#include <numbers>
#include <random>

#include "audio/hpss.h"
#include "audio/tempo.h"
#include "core/backend.h"
#include "support/backends.h"

namespace {

namespace ha = hmr::audio;

constexpr int kSr = 22050;
constexpr int kSeconds = 30;

std::vector<float> tones_and_clicks(unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.02f);
  const std::size_t n = static_cast<std::size_t>(kSr) * kSeconds + 300;
  const double bpm = 100.0 + 10.0 * (seed % 5);
  const auto beat = static_cast<std::size_t>(60.0 * kSr / bpm);
  std::vector<float> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / kSr;
    const double click = 0.8 * std::exp(-static_cast<double>(i % beat) / 60.0) *
                         std::sin(2 * std::numbers::pi * 1000.0 * static_cast<double>(i % beat) / kSr);
    y[i] = static_cast<float>(
               0.3 * std::sin(2 * std::numbers::pi *
                              (220.0 * (1 + seed % 3) * t + 2.0 * std::sin(2 * std::numbers::pi * 5.0 * t))) +
               click) +
           g(rng);
  }
  return y;
}

std::vector<std::span<const float>> clips(std::size_t n) {
  static std::vector<std::vector<float>> store;
  while (store.size() < n) store.push_back(tones_and_clicks(static_cast<unsigned>(store.size())));
  return {store.begin(), store.begin() + static_cast<std::ptrdiff_t>(n)};
}

void rates(benchmark::State& state, std::size_t n) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.counters["files/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// One stage over n clips per iteration (n = the benchmark's argument), reported as files/s.
template <class Stage>
void run_stage(benchmark::State& state, const char* device, Stage&& stage) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto c = clips(n);
  for (auto _ : state) benchmark::DoNotOptimize(stage(*b, c));
  rates(state, n);
}

void BM_HpssStats(benchmark::State& state, const char* device) {
  run_stage(state, device, [](auto& b, const auto& c) { return ha::hpss_stats(b, c); });
}

void BM_BeatTempo(benchmark::State& state, const char* device) {
  run_stage(state, device, [](auto& b, const auto& c) { return ha::beat_tempo(b, c); });
}

void BM_OnsetStrength(benchmark::State& state, const char* device) {
  run_stage(state, device, [](auto& b, const auto& c) { return ha::onset_strength(b, c); });
}

}  // namespace

BENCHMARK_CAPTURE(BM_HpssStats, cpu, "cpu")->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_HpssStats, cuda, "cuda")->Arg(8)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_BeatTempo, cpu, "cpu")->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_BeatTempo, cuda, "cuda")->Arg(8)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_OnsetStrength, cpu, "cpu")->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_OnsetStrength, cuda, "cuda")->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
