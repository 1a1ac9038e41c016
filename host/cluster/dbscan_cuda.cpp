// cluster/dbscan_cuda.cpp — the cuda backend's DBSCAN neighbourhoods: x (and the cosine norms) are
// uploaded once, the counts kernel runs, the host scans the counts into CSR offsets (n integers),
// the fill kernel writes the neighbour lists, which come back for sklearn's sequential expansion.
// Device memory: x + 4 bytes per neighbour pair + 12 bytes per row; never n x n.
#include "cluster/dbscan_cuda.h"
#include "cluster/dbscan.cuh"
#include "core/error.h"
#include "core/nvtx.h"
#include "cuda/context.h"

namespace hmr::HMR_CUDA_NS {

void dbscan_neighbourhoods(hmr::Backend& b, hmr::ConstMatrixView x, const std::vector<double>& norms,
                           hmr::cluster::DbscanMetric metric, double eps, std::vector<std::int32_t>& counts,
                           std::vector<std::int64_t>& off, std::vector<std::int32_t>& idx) {
  NvtxRange range("dbscan/neighbourhoods");
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  HMR_ASSERT(x.ld == x.cols, "dbscan (cuda) expects a contiguous matrix");
  const std::int64_t n = x.rows;
  const int d = static_cast<int>(x.cols);
  const auto un = static_cast<std::size_t>(n);
  auto dx = ctx.to_scratch(x.data, un * static_cast<std::size_t>(d));
  auto dn = ctx.scratch<double>(norms.empty() ? 1 : un);
  if (!norms.empty()) dn.upload(norms.data(), un, s);
  const double* np = norms.empty() ? nullptr : dn.data();
  const int m = static_cast<int>(metric);
  auto dc = ctx.scratch<std::int32_t>(un);
  kern::launch_dbscan_counts(dx.data(), n, d, np, m, eps, dc.data(), s);
  counts = dc.to_host(s);
  off.assign(un + 1, 0);
  for (std::size_t i = 0; i < un; ++i) off[i + 1] = off[i] + counts[i];
  const auto total = static_cast<std::size_t>(off.back());
  auto doff = ctx.to_scratch(off.data(), un + 1);
  auto didx = ctx.scratch<std::int32_t>(total == 0 ? 1 : total);
  kern::launch_dbscan_neighbours(dx.data(), n, d, np, m, eps, doff.data(), didx.data(), s);
  idx = didx.to_host(s);
  idx.resize(total);
}

}  // namespace hmr::HMR_CUDA_NS
