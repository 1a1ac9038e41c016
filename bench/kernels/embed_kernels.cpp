// bench/kernels/embed_kernels.cpp — t-SNE's input affinities (kernels/embed/knn.cuh) beside their cpu
// twins (embed::knn_cpu, conditional_p_cpu, symmetrize_cpu): the exact k nearest neighbours of n
// points of 50 dimensions (t-SNE's usual PCA input), k = 90 (perplexity 30); the perplexity
// bisection over those [n x k] distances; and the symmetrised joint P (COO keys, Thrust sort and
// reduce-by-key, fixed-order total, CSR offsets) from the conditional P.
#include "embed/affinity.h"
#include "embed/knn.cuh"
#include "harness.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;

// ---- adapter: the only lines that name launchers ------------------------------------------------
void knn(const Buf<float>& x, std::int64_t n, std::int64_t d, int k, Buf<std::int32_t>& idx, Buf<float>& d2) {
  kern::launch_knn_tiled(x.get(), n, d, k, idx.get(), d2.get(), nullptr);
}
void perplexity(const Buf<float>& d2, std::int64_t n, int k, double perp, Buf<float>& p) {
  kern::launch_perplexity_search(d2.get(), n, k, perp, hmr::embed::kPerplexityTol, hmr::embed::kPerplexitySteps,
                                 p.get(), nullptr);
}
// Work arrays of one symmetrisation: 2 n k COO pairs, the unique ones, and the CSR result.
struct SymWork {
  SymWork(std::int64_t n, int k)
      : keys(static_cast<std::size_t>(2 * n * k)),
        ukeys(keys.size()),
        vals(keys.size()),
        uvals(keys.size()),
        indptr(static_cast<std::size_t>(n + 1)),
        indices(keys.size()),
        data(keys.size()) {}
  Buf<std::uint64_t> keys, ukeys;
  Buf<float> vals, uvals;
  Buf<std::int64_t> indptr;
  Buf<std::int32_t> indices;
  Buf<float> data;
  std::int64_t unique = 0;
};
void symmetrize(const Buf<std::int32_t>& idx, const Buf<float>& p, std::int64_t n, int k, SymWork& w,
                hmr::HMR_CUDA_NS::DevicePool& pool) {
  kern::launch_coo_build(idx.get(), p.get(), n, k, w.keys.get(), w.vals.get(), nullptr);
  w.unique =
      kern::sort_reduce_pairs(w.keys.get(), w.vals.get(), 2 * n * k, w.ukeys.get(), w.uvals.get(), pool, nullptr);
  const double total = kern::sum_floats(w.uvals.get(), w.unique, pool, nullptr);
  kern::launch_csr_finalize(w.ukeys.get(), w.uvals.get(), w.unique, n, static_cast<float>(1.0 / total), w.indptr.get(),
                            w.indices.get(), w.data.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

constexpr int kD = 50, kNeighbours = 90;
constexpr double kPerplexity = 30.0;

int neighbours(std::int64_t n) { return static_cast<int>(std::min<std::int64_t>(kNeighbours, n - 1)); }

void bench_knn(const Problem& p, Report& r) {
  const hmr::Matrix x(p.n, kD, blobs(p.n, kD, 10, 3.0f, 51));
  const int k = neighbours(p.n);
  r.shape(std::to_string(p.n) + "x" + std::to_string(kD) + " k=" + std::to_string(k));
  hmr::embed::Knn want;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::embed::knn_cpu(x, k); }));
  Buf<float> dx(x.vec()), d2(static_cast<std::size_t>(p.n) * k);
  Buf<std::int32_t> idx(d2.size());
  r.device_ms(time_device(p.repeat, [&] { knn(dx, p.n, kD, k, idx, d2); }));
  r.check("neighbours", idx.host(), want.idx, 0, 0);
  r.check("squared distances", d2.host(), want.dist2, 1e-4, 1e-5);
}

// The neighbour lists of n blob points in 10 dimensions (the input of the two benches below).
hmr::embed::Knn blob_neighbours(std::int64_t n, std::uint64_t seed) {
  return hmr::embed::knn_cpu(hmr::Matrix(n, 10, blobs(n, 10, 8, 3.0f, seed)), neighbours(n));
}

void bench_perplexity(const Problem& p, Report& r) {
  const auto nn = blob_neighbours(p.n, 52);
  r.shape(std::to_string(p.n) + " rows k=" + std::to_string(nn.k));
  std::vector<float> want;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::embed::conditional_p_cpu(nn, kPerplexity); }));
  Buf<float> d2(nn.dist2), got(nn.dist2.size());
  r.device_ms(time_device(p.repeat, [&] { perplexity(d2, p.n, nn.k, kPerplexity, got); }));
  r.check("conditional P", got.host(), want, 1e-7, 1e-5);
}

void bench_symmetrize(const Problem& p, Report& r) {
  const auto nn = blob_neighbours(p.n, 53);
  const auto cond = hmr::embed::conditional_p_cpu(nn, kPerplexity);
  r.shape(std::to_string(p.n) + " rows k=" + std::to_string(nn.k));
  hmr::embed::Csr want;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::embed::symmetrize_cpu(nn, cond); }));
  Buf<std::int32_t> idx(nn.idx);
  Buf<float> dp(cond);
  SymWork w(p.n, nn.k);
  hmr::HMR_CUDA_NS::DevicePool pool;
  r.device_ms(time_device(p.repeat, [&] { symmetrize(idx, dp, p.n, nn.k, w, pool); }));
  const auto u = static_cast<std::size_t>(w.unique);
  auto indices = w.indices.host();
  auto data = w.data.host();
  indices.resize(std::min(u, indices.size()));
  data.resize(indices.size());
  r.check("indptr", w.indptr.host(), want.indptr, 0, 0);
  r.check("indices", indices, want.indices, 0, 0);
  r.check("joint P", data, want.data, 1e-10, 1e-6);
}

HMR_KERNEL_BENCH({"knn_tiled", "launch_knn_tiled", "points (x 50 features, k = 90)", 1000, 100000, &bench_knn});
HMR_KERNEL_BENCH({"tsne_perplexity", "launch_perplexity_search", "points (k = 90 neighbours, perplexity 30)", 2000,
                  50000, &bench_perplexity});
HMR_KERNEL_BENCH({"tsne_symmetrize", "launch_coo_build, sort_reduce_pairs, sum_floats, launch_csr_finalize",
                  "points (k = 90 neighbours)", 2000, 50000, &bench_symmetrize});

}  // namespace
