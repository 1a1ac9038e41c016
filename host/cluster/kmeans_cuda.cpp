// cluster/kmeans_cuda.cpp — the cuda backend's Lloyd runs: x is uploaded once, each run's
// k-means++ centres (drawn on the host in sklearn's order) are uploaded, and iterations are
// enqueued in growing batches; the device decides convergence (kern::KMeansStatus) and the host
// reads four integers between batches, never per iteration.
#include <algorithm>

#include "cluster/kmeans.cuh"
#include "cluster/kmeans_cuda.h"
#include "cluster/kmeans_lloyd.h"
#include "core/error.h"
#include "core/nvtx.h"
#include "cuda/context.h"

namespace hmr::HMR_CUDA_NS {

std::vector<cluster::LloydRun> kmeans_lloyd_runs(hmr::Backend& b, hmr::ConstMatrixView xc,
                                                 const std::vector<hmr::Matrix>& inits, int max_iter, double tol) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  HMR_ASSERT(xc.ld == xc.cols, "kmeans (cuda) expects a contiguous matrix");
  const std::int64_t n = xc.rows;
  const int d = static_cast<int>(xc.cols);
  std::vector<cluster::LloydRun> runs;
  if (inits.empty()) return runs;
  const int k = static_cast<int>(inits[0].rows());
  const int chunks = kern::kmeans_chunks(n);
  const auto kd = static_cast<std::size_t>(k) * static_cast<std::size_t>(d);
  auto dx = ctx.to_scratch(xc.data, static_cast<std::size_t>(n) * static_cast<std::size_t>(d));
  const auto un = static_cast<std::size_t>(n), uk = static_cast<std::size_t>(k), uc = static_cast<std::size_t>(chunks);
  auto centers = ctx.scratch<float>(kd), dist = ctx.scratch<float>(un);
  auto labels = ctx.scratch<std::int32_t>(un);
  auto psum = ctx.scratch<double>(uc * kd), sums = ctx.scratch<double>(kd), ipart = ctx.scratch<double>(uc),
       inert = ctx.scratch<double>(1);
  auto pcount = ctx.scratch<long long>(uc * uk), counts = ctx.scratch<long long>(uk);
  auto status = ctx.scratch<int>(kern::kStatusSize), empty = ctx.scratch<int>(uk);
  PinnedBuffer<int> hstatus(kern::kStatusSize);

  for (const auto& init : inits) {
    NvtxRange range("kmeans/lloyd");
    HMR_ASSERT(init.rows() == k && init.cols() == d, "kmeans (cuda): init shape {} x {}", init.rows(), init.cols());
    centers.upload(init.data(), kd, s);
    status.zero(s);
    HMR_CUDA_CHECK(cudaMemsetAsync(labels.data(), 0xFF, labels.bytes(), s));  // -1: every label "changes" first
    int enqueued = 0, batch = 2;
    for (;;) {
      const int todo = std::min(batch, max_iter - enqueued);
      for (int t = 0; t < todo; ++t) {
        kern::launch_kmeans_assign(dx.data(), n, d, centers.data(), k, labels.data(), dist.data(), status.data(), s);
        kern::launch_kmeans_update_partial(dx.data(), n, d, labels.data(), k, psum.data(), pcount.data(), status.data(),
                                           s);
        kern::launch_kmeans_update_finalize(psum.data(), pcount.data(), chunks, dx.data(), n, d, labels.data(),
                                            dist.data(), k, centers.data(), sums.data(), counts.data(), empty.data(),
                                            tol, max_iter, status.data(), s);
      }
      enqueued += todo;
      status.download(hstatus.data(), kern::kStatusSize, s);
      ctx.sync();
      if (hstatus[kern::kDone] != 0 || enqueued >= max_iter) break;
      batch = std::min(batch * 2, 32);
    }
    cluster::LloydRun run;
    run.n_iter = hstatus[kern::kIter];
    run.strict = hstatus[kern::kStrict] != 0;
    // Without strict convergence the labels belong to the previous centres: one more E-step.
    if (!run.strict) kern::launch_kmeans_assign(dx.data(), n, d, centers.data(), k, labels.data(), nullptr, nullptr, s);
    kern::launch_kmeans_inertia_partial(dx.data(), n, d, centers.data(), labels.data(), ipart.data(), s);
    kern::launch_sum_partials(ipart.data(), chunks, inert.data(), s);
    run.labels = labels.to_host(s);
    run.centers = hmr::Matrix(k, d, centers.to_host(s));
    run.inertia = inert.to_host(s)[0];
    runs.push_back(std::move(run));
  }
  return runs;
}

std::vector<std::int32_t> kmeans_predict(hmr::Backend& b, hmr::ConstMatrixView centers, hmr::ConstMatrixView x) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  HMR_ASSERT(x.ld == x.cols && centers.ld == centers.cols, "kmeans predict (cuda) expects contiguous matrices");
  auto dx = ctx.to_scratch(x.data, static_cast<std::size_t>(x.rows * x.cols));
  auto dc = ctx.to_scratch(centers.data, static_cast<std::size_t>(centers.rows * centers.cols));
  auto labels = ctx.scratch<std::int32_t>(static_cast<std::size_t>(x.rows));
  kern::launch_kmeans_assign(dx.data(), x.rows, static_cast<int>(x.cols), dc.data(), static_cast<int>(centers.rows),
                             labels.data(), nullptr, nullptr, s);
  return labels.to_host(s);
}

}  // namespace hmr::HMR_CUDA_NS
