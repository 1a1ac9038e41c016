// t-SNE per backend on synthetic 50-D data (10 Gaussian clusters, the tsne-cuda paper's kind of
// benchmark): BM_TsneIterations times 50 optimisation iterations on a fixed P (items/s =
// iterations/s); BM_TsneFull times the whole default run (kNN, affinities, 1000 iterations,
// exact KL where N <= 10k). cuda rows are skipped where no device answers.
#include <benchmark/benchmark.h>

#include <random>

#include "core/backend.h"
#include "embed/affinity.h"
#include "embed/optimize.h"
#include "embed/tsne.h"
#include "support/backends.h"

namespace {

hmr::Matrix clusters50(std::int64_t n) {
  std::mt19937_64 rng(2024);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> centres(10 * 50);
  for (auto& c : centres) c = 4.0f * g(rng);
  hmr::Matrix x(n, 50);
  for (std::int64_t i = 0; i < n; ++i)
    for (int c = 0; c < 50; ++c) x(i, c) = centres[static_cast<std::size_t>((i % 10) * 50 + c)] + g(rng);
  return x;
}

void BM_TsneIterations(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const hmr::Matrix x = clusters50(state.range(0));
  const hmr::embed::Knn nn = hmr::embed::knn(*b, x, 90);
  const hmr::embed::Csr p = hmr::embed::symmetrize(*b, nn, hmr::embed::conditional_p(*b, nn, 30.0));
  hmr::embed::TsneOptions o;
  const hmr::Matrix y0 = hmr::embed::initial_embedding(x, o);
  hmr::embed::OptimizeParams prm;
  prm.iters = 50;
  prm.exag_iters = 0;  // the (more expensive) expanded phase
  prm.kl_every = 0;
  // start from a spread-out embedding: 250 exaggerated iterations first (not timed)
  hmr::Matrix warm = y0;
  {
    hmr::embed::OptimizeParams pre = prm;
    pre.iters = pre.exag_iters = 250;
    pre.learning_rate = prm.learning_rate = std::max(x.rows() / 12.0, 200.0);
    std::vector<std::pair<int, double>> h;
    hmr::embed::optimize(*b, p, warm, pre, {}, h);
  }
  for (auto _ : state) {
    hmr::Matrix y = warm;
    std::vector<std::pair<int, double>> h;
    hmr::embed::optimize(*b, p, y, prm, {}, h);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * prm.iters);
}

void BM_TsneFull(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const hmr::Matrix x = clusters50(state.range(0));
  double kl = 0.0;
  for (auto _ : state) {
    const auto r = hmr::embed::tsne(*b, x, {});
    kl = r.kl;
    for (const auto& [name, secs] : r.timings.items()) state.counters[name] = secs;
  }
  state.counters["kl"] = kl;
}

BENCHMARK_CAPTURE(BM_TsneIterations, cpu, "cpu")->Arg(10000)->Arg(70000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_CAPTURE(BM_TsneIterations, cuda, "cuda")
    ->Arg(10000)
    ->Arg(70000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK_CAPTURE(BM_TsneFull, cpu, "cpu")->Arg(10000)->Arg(70000)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK_CAPTURE(BM_TsneFull, cuda, "cuda")->Arg(10000)->Arg(70000)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
