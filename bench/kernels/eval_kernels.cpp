// bench/kernels/eval_kernels.cpp — the silhouette tile kernels (kernels/eval/silhouette.cuh) beside
// their cpu twin (eval::detail::silhouette_sums_cpu): one tile of 256 rows against all n points of
// 8 clusters in 32 dimensions (the device path walks the rows tile by tile in the same way).
#include <algorithm>

#include "eval/silhouette.cuh"
#include "eval/silhouette_detail.h"
#include "harness.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;

// ---- adapter: the only lines that name launchers ------------------------------------------------
void tile_sums(const Buf<float>& x, std::int64_t n, int d, std::int64_t row0, int rows, Buf<double>& tile,
               const Buf<std::int64_t>& offsets, int k, Buf<double>& sums) {
  kern::launch_silhouette_dist_tile(x.get(), n, d, row0, rows, tile.get(), nullptr);
  kern::launch_silhouette_cluster_sums(tile.get(), rows, n, offsets.get(), k, sums.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

constexpr int kD = 32, kK = 8, kTileRows = 256;

void bench_silhouette(const Problem& p, Report& r) {
  const hmr::Matrix x(p.n, kD, blobs(p.n, kD, kK, 4.0f, 31));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(p.n));
  for (std::int64_t i = 0; i < p.n; ++i) labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % kK);
  const auto s = hmr::eval::detail::sort_by_cluster(x, labels);
  const int rows = static_cast<int>(std::min<std::int64_t>(kTileRows, p.n));
  const std::int64_t row0 = (p.n - rows) / 2;
  r.shape(std::to_string(p.n) + "x" + std::to_string(kD) + " tile " + std::to_string(rows));
  std::vector<double> want(static_cast<std::size_t>(rows) * s.k);
  r.cpu_ms(time_cpu(p.repeat, [&] { hmr::eval::detail::silhouette_sums_cpu(s, row0, rows, want.data()); }));
  Buf<float> dx(s.x.vec());
  Buf<std::int64_t> off(s.offsets);
  Buf<double> tile(static_cast<std::size_t>(rows) * p.n), sums(want.size());
  r.device_ms(time_device(p.repeat, [&] { tile_sums(dx, p.n, kD, row0, rows, tile, off, s.k, sums); }));
  r.check("cluster sums", sums.host(), want, 1e-9, 1e-9);
}

HMR_KERNEL_BENCH({"silhouette_tile", "launch_silhouette_dist_tile, launch_silhouette_cluster_sums",
                  "points (x 32 features, 8 clusters; one 256-row tile)", 20000, 1000000, &bench_silhouette});

}  // namespace
