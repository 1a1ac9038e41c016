// Standardisation throughput per backend (rows x 40 MFCC-summary columns).
#include <benchmark/benchmark.h>

#include <random>

#include "core/backend.h"
#include "prep/standardize.h"
#include "support/backends.h"

namespace {
void BM_Standardize(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const std::int64_t rows = state.range(0), cols = 40;
  hmr::Matrix x(rows, cols);
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  for (auto& v : x.vec()) v = g(rng);
  for (auto _ : state) {
    auto s = hmr::prep::fit_scaler(*b, x);
    auto y = hmr::prep::apply_scaler(*b, s, x);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * rows);
  state.SetBytesProcessed(state.iterations() * rows * cols * 4);
}
BENCHMARK_CAPTURE(BM_Standardize, cpu, "cpu")->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Standardize, cuda, "cuda")->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
}  // namespace
