// bench/kernels/embed_kernels.cpp — the exact k-nearest-neighbour kernel of t-SNE
// (kernels/embed/knn.cuh) beside its cpu twin (embed::knn_cpu): n points of 50 dimensions (t-SNE's
// usual PCA input), k = 90 (perplexity 30).
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
// -------------------------------------------------------------------------------------------------

constexpr int kD = 50, kNeighbours = 90;

void bench_knn(const Problem& p, Report& r) {
  const hmr::Matrix x(p.n, kD, blobs(p.n, kD, 10, 3.0f, 51));
  const int k = static_cast<int>(std::min<std::int64_t>(kNeighbours, p.n - 1));
  r.shape(std::to_string(p.n) + "x" + std::to_string(kD) + " k=" + std::to_string(k));
  hmr::embed::Knn want;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::embed::knn_cpu(x, k); }));
  Buf<float> dx(x.vec()), d2(static_cast<std::size_t>(p.n) * k);
  Buf<std::int32_t> idx(d2.size());
  r.device_ms(time_device(p.repeat, [&] { knn(dx, p.n, kD, k, idx, d2); }));
  r.check("neighbours", idx.host(), want.idx, 0, 0);
  r.check("squared distances", d2.host(), want.dist2, 1e-4, 1e-5);
}

HMR_KERNEL_BENCH({"knn_tiled", "launch_knn_tiled", "points (x 50 features, k = 90)", 1000, 100000, &bench_knn});

}  // namespace
