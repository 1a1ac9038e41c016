// Cluster stage throughput per backend (cpu vs cuda): K-Means (N = 100k, d = 32, k = 10,
// n_init = 10), exact silhouette (N = 20k, d = 32, k = 10) and PCA (2000 x 5000 -> 32, randomized
// as sklearn's auto picks; and the exact solver); the host-only label metrics (AMI with its
// expected mutual information, clustering accuracy's assignment) at N = 100k, 10 x 12 labels. Inputs are deterministic
// Gaussian mixtures. DBSCAN (N = 20k, d = 16, eps = 7, min_samples = 5: sklearn semantics,
// neighbourhoods on threads vs the tiled kernels); bench/cluster/dbscan_vs_sklearn.py times sklearn.
// bench/cluster/sklearn_compare.py runs scikit-learn on the same kind of data and prints ratios.
#include <benchmark/benchmark.h>

#include <random>

#include "cluster/dbscan.h"
#include "cluster/kmeans.h"
#include "core/backend.h"
#include "decomp/pca.h"
#include "eval/metrics.h"
#include "support/backends.h"

namespace {

hmr::Matrix mixture(std::int64_t n, std::int64_t d, int k, std::vector<std::int32_t>* labels) {
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  hmr::Matrix c(k, d), x(n, d);
  for (auto& v : c.vec()) v = 4.0f * g(rng);
  if (labels) labels->resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const int q = static_cast<int>(rng() % static_cast<unsigned>(k));
    if (labels) (*labels)[static_cast<std::size_t>(i)] = q;
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = c(q, j) + 1.5f * g(rng);
  }
  return x;
}

void BM_KMeans(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const hmr::Matrix x = mixture(state.range(0), 32, 10, nullptr);
  hmr::cluster::KMeansOptions opt;
  opt.k = 10;
  opt.seed = 0;
  double inertia = 0;
  for (auto _ : state) inertia = hmr::cluster::kmeans(*b, x, opt).inertia;
  state.counters["inertia"] = inertia;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_KMeans, cpu, "cpu")->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_KMeans, cuda, "cuda")->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Dbscan(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const hmr::Matrix x = mixture(state.range(0), 16, 10, nullptr);
  hmr::cluster::DbscanOptions opt;
  opt.eps = 7.0;
  opt.min_samples = 5;
  hmr::cluster::DbscanResult r;
  for (auto _ : state) r = hmr::cluster::dbscan(*b, x, opt);
  state.counters["clusters"] = r.n_clusters;
  state.counters["noise"] = static_cast<double>(r.n_noise);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_Dbscan, cpu, "cpu")->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dbscan, cuda, "cuda")->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Silhouette(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  std::vector<std::int32_t> labels;
  const hmr::Matrix x = mixture(state.range(0), 32, 10, &labels);
  double s = 0;
  for (auto _ : state) s = hmr::eval::silhouette(*b, x, labels);
  state.counters["silhouette"] = s;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_Silhouette, cpu, "cpu")->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Silhouette, cuda, "cuda")->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();

// Host only (no backend): the label metrics on the contingency table. Labels as in
// tests/fixtures/gen_metrics.py's formula_1e5 case.
void label_pair(std::int64_t n, std::vector<std::int32_t>& t, std::vector<std::int32_t>& p) {
  t.resize(static_cast<std::size_t>(n));
  p.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    t[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * i + 3 * i) % 10);
    p[static_cast<std::size_t>(i)] =
        static_cast<std::int32_t>(i % 3 == 0 ? t[static_cast<std::size_t>(i)] % 6 : (i / 7) % 12);
  }
}
void BM_AdjustedMutualInfo(benchmark::State& state) {
  std::vector<std::int32_t> t, p;
  label_pair(state.range(0), t, p);
  double v = 0;
  for (auto _ : state) v = hmr::eval::adjusted_mutual_info(t, p);
  state.counters["ami"] = v;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AdjustedMutualInfo)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();
void BM_ClusteringAccuracy(benchmark::State& state) {
  std::vector<std::int32_t> t, p;
  label_pair(state.range(0), t, p);
  double v = 0;
  for (auto _ : state) v = hmr::eval::clustering_accuracy(t, p);
  state.counters["accuracy"] = v;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ClusteringAccuracy)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Pca(benchmark::State& state, const char* device, hmr::decomp::PcaSolver solver) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  // A TF-IDF-like wide matrix: sparse-ish non-negative entries with a few strong directions.
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  hmr::Matrix x(2000, 5000);
  for (auto& v : x.vec()) v = u(rng) < 0.02f ? u(rng) : 0.0f;
  hmr::decomp::PcaOptions opt;
  opt.solver = solver;
  double ratio = 0;
  for (auto _ : state) {
    const auto p = hmr::decomp::fit_pca(*b, x, 32, opt);
    ratio = 0;
    for (double r : p.explained_variance_ratio) ratio += r;
  }
  state.counters["explained_ratio"] = ratio;
}
BENCHMARK_CAPTURE(BM_Pca, cpu_randomized, "cpu", hmr::decomp::PcaSolver::randomized)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Pca, cuda_randomized, "cuda", hmr::decomp::PcaSolver::randomized)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Pca, cpu_exact, "cpu", hmr::decomp::PcaSolver::exact)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Pca, cuda_exact, "cuda", hmr::decomp::PcaSolver::exact)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
