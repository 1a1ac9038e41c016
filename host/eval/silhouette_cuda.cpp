// eval/silhouette_cuda.cpp — the cuda backend's silhouette sums: upload the cluster-grouped data
// once, then for each tile of rows compute the distance tile and its per-cluster segment sums.
// The tile holds at most ~32M doubles (256 MB), never n x n for large n.
#include <algorithm>

#include "core/error.h"
#include "cuda/context.h"
#include "eval/silhouette.cuh"
#include "eval/silhouette_cuda.h"
#include "eval/silhouette_detail.h"

namespace hmr::HMR_CUDA_NS {

std::vector<double> silhouette_sums(hmr::Backend& b, const eval::detail::SortedData& s) {
  Context& ctx = context(b);
  cudaStream_t st = ctx.stream();
  const std::int64_t n = s.x.rows();
  const int d = static_cast<int>(s.x.cols()), k = s.k;
  auto dx = ctx.to_scratch(s.x.vec());
  auto off = ctx.to_scratch(s.offsets);
  const std::int64_t tile_rows = std::max<std::int64_t>(1, std::min<std::int64_t>(n, (32LL << 20) / n));
  auto tile = ctx.scratch<double>(static_cast<std::size_t>(tile_rows) * static_cast<std::size_t>(n));
  auto sums = ctx.scratch<double>(static_cast<std::size_t>(n) * static_cast<std::size_t>(k));
  for (std::int64_t r0 = 0; r0 < n; r0 += tile_rows) {
    const int rows = static_cast<int>(std::min(tile_rows, n - r0));
    kern::launch_silhouette_dist_tile(dx.data(), n, d, r0, rows, tile.data(), st);
    kern::launch_silhouette_cluster_sums(tile.data(), rows, n, off.data(), k, sums.data() + r0 * k, st);
  }
  return sums.to_host(st);
}

}  // namespace hmr::HMR_CUDA_NS
