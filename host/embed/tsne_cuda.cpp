// embed/tsne_cuda.cpp — the cuda backend's t-SNE: affinities (tiled kNN, perplexity search,
// Thrust symmetrisation) and the optimisation loop with every array resident on the device.
// One iteration: bounding box -> Morton codes -> sort -> gather -> Karras tree -> bottom-up
// centres of mass -> repulsion -> fixed-order Z -> attraction -> update; the host only waits
// when the progress callback needs a KL value (every kl_every iterations).
#include <cmath>

#include "core/error.h"
#include "cuda/context.h"
#include "embed/affinity.h"
#include "embed/bh.cuh"
#include "embed/bh.h"
#include "embed/knn.cuh"
#include "embed/optimize.h"
#include "embed/tsne_cuda.h"

namespace hmr::HMR_CUDA_NS {

namespace {

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

// Device copy of a CSR matrix.
struct DeviceCsr {
  DeviceBuffer<std::int64_t> indptr;
  DeviceBuffer<std::int32_t> indices;
  DeviceBuffer<float> data;
  DeviceCsr(const embed::Csr& p, cudaStream_t s)
      : indptr(to_device(p.indptr, s)), indices(to_device(p.indices, s)), data(to_device(p.data, s)) {}
};

// Every buffer one Barnes-Hut gradient needs, allocated once.
class BhState {
 public:
  BhState(std::int64_t n, int dims)
      : n_(n),
        dims_(dims),
        y(sz(n * dims)),
        ys(sz(n * dims)),
        rep(sz(n * dims)),
        attr(sz(n * dims)),
        box_partial(sz(2 * kern::bbox_blocks(n) * dims)),
        box(sz(dims + 1)),
        code(sz(n)),
        order(sz(n)),
        child(sz(2 * (n - 1))),
        first(sz(n - 1)),
        last(sz(n - 1)),
        parent(sz(2 * n - 1)),
        arrivals(sz(n - 1)),
        com(sz((n - 1) * dims)),
        bmin(sz((n - 1) * dims)),
        bmax(sz((n - 1) * dims)),
        size(sz(n - 1)),
        count(sz(n - 1)),
        zs(sz(n)),
        rowlog(sz(n)),
        partial(sz(kern::sum_blocks(n))),
        z(1),
        plogw(1) {}

  // rep, attr and z for the embedding in `y`; rowlog sums into plogw when want_log.
  void gradient(const DeviceCsr& p, float theta, bool want_log, cudaStream_t s) {
    kern::launch_bounding_box(y.data(), n_, dims_, box_partial.data(), box.data(), s);
    kern::launch_morton(y.data(), n_, dims_, box.data(), code.data(), order.data(), s);
    kern::sort_codes(code.data(), order.data(), n_, s);
    kern::launch_gather(y.data(), order.data(), n_, dims_, ys.data(), s);
    kern::launch_karras(code.data(), n_, child.data(), first.data(), last.data(), parent.data(), s);
    arrivals.zero(s);
    kern::launch_bottom_up(ys.data(), child.data(), parent.data(), code.data(), first.data(), last.data(), box.data(),
                           n_, dims_, arrivals.data(), com.data(), bmin.data(), bmax.data(), size.data(), count.data(),
                           s);
    kern::launch_repulsion(ys.data(), order.data(), child.data(), first.data(), last.data(), com.data(), size.data(),
                           count.data(), n_, dims_, theta, rep.data(), zs.data(), s);
    kern::launch_sum(zs.data(), n_, partial.data(), z.data(), s);
    kern::launch_attraction(p.indptr.data(), p.indices.data(), p.data.data(), y.data(), n_, dims_, attr.data(),
                            want_log ? rowlog.data() : nullptr, s);
    if (want_log) kern::launch_sum(rowlog.data(), n_, partial.data(), plogw.data(), s);
  }

  std::int64_t n_;
  int dims_;
  DeviceBuffer<float> y, ys, rep, attr, box_partial, box;
  DeviceBuffer<std::uint32_t> code;
  DeviceBuffer<std::int32_t> order, child, first, last, parent;
  DeviceBuffer<int> arrivals;
  DeviceBuffer<float> com, bmin, bmax, size, count, zs, rowlog;
  DeviceBuffer<double> partial, z, plogw;
};

double read_scalar(const DeviceBuffer<double>& v, cudaStream_t s) { return v.to_host(s)[0]; }

}  // namespace

embed::Knn knn(hmr::Backend& b, hmr::ConstMatrixView x, int k) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  HMR_ASSERT(x.ld == x.cols, "knn expects a contiguous matrix");
  HMR_REQUIRE(k <= kern::kKnnMaxK, "t-SNE kNN on cuda: at most {} neighbours, got {}", kern::kKnnMaxK, k);
  const std::int64_t n = x.rows;
  DeviceBuffer<float> dx = to_device(x.data, sz(n * x.cols), s);
  DeviceBuffer<std::int32_t> idx(sz(n * k));
  DeviceBuffer<float> d2(sz(n * k));
  kern::launch_knn_tiled(dx.data(), n, x.cols, k, idx.data(), d2.data(), s);
  embed::Knn out;
  out.n = n;
  out.k = k;
  out.idx = idx.to_host(s);
  out.dist2 = d2.to_host(s);
  return out;
}

std::vector<float> conditional_p(hmr::Backend& b, const embed::Knn& nn, double perplexity) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  DeviceBuffer<float> d2 = to_device(nn.dist2, s), p(nn.dist2.size());
  kern::launch_perplexity_search(d2.data(), nn.n, nn.k, perplexity, embed::kPerplexityTol, embed::kPerplexitySteps,
                                 p.data(), s);
  return p.to_host(s);
}

embed::Csr symmetrize(hmr::Backend& b, const embed::Knn& nn, const std::vector<float>& cond_p) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = nn.n, m = 2 * nn.n * nn.k;
  DeviceBuffer<std::int32_t> idx = to_device(nn.idx, s);
  DeviceBuffer<float> p = to_device(cond_p, s), vals(sz(m)), uvals(sz(m));
  DeviceBuffer<std::uint64_t> keys(sz(m)), ukeys(sz(m));
  kern::launch_coo_build(idx.data(), p.data(), n, nn.k, keys.data(), vals.data(), s);
  const std::int64_t u = kern::sort_reduce_pairs(keys.data(), vals.data(), m, ukeys.data(), uvals.data(), s);
  const double total = kern::sum_floats(uvals.data(), u, s);
  HMR_ASSERT(total > 0.0, "symmetrize: the affinities sum to {}", total);
  DeviceBuffer<std::int64_t> indptr(sz(n + 1));
  DeviceBuffer<std::int32_t> indices(sz(u));
  DeviceBuffer<float> data(sz(u));
  kern::launch_csr_finalize(ukeys.data(), uvals.data(), u, n, static_cast<float>(1.0 / total), indptr.data(),
                            indices.data(), data.data(), s);
  embed::Csr out;
  out.n = n;
  out.indptr = indptr.to_host(s);
  out.indices = indices.to_host(s);
  out.data = data.to_host(s);
  return out;
}

double bh_gradient(hmr::Backend& b, const embed::Csr& p, hmr::ConstMatrixView y, double theta, double exag,
                   std::vector<float>& grad) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = y.rows;
  const int dims = static_cast<int>(y.cols);
  DeviceCsr dp(p, s);
  BhState st(n, dims);
  st.y.upload(y.data, sz(n * dims), s);
  st.gradient(dp, static_cast<float>(theta), false, s);
  const double z = read_scalar(st.z, s);
  const std::vector<float> rep = st.rep.to_host(s), attr = st.attr.to_host(s);
  grad.resize(attr.size());
  const float inv_z = static_cast<float>(1.0 / z), ex = static_cast<float>(exag);
  for (std::size_t e = 0; e < attr.size(); ++e) grad[e] = ex * attr[e] - rep[e] * inv_z;
  return z;
}

double exact_z(hmr::Backend& b, hmr::ConstMatrixView y) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = y.rows;
  HMR_ASSERT(y.ld == y.cols && (y.cols == 2 || y.cols == 3), "exact_z expects a contiguous 2-D or 3-D embedding");
  DeviceBuffer<float> dy = to_device(y.data, sz(n * y.cols), s);
  DeviceBuffer<double> zrow(sz(n)), partial(sz(kern::sum_blocks(n))), z(1);
  kern::launch_exact_z_rows(dy.data(), n, static_cast<int>(y.cols), zrow.data(), s);
  kern::launch_sum(zrow.data(), n, partial.data(), z.data(), s);
  return read_scalar(z, s);
}

void tsne_optimize(hmr::Backend& b, const embed::Csr& p, hmr::Matrix& y, const embed::OptimizeParams& prm,
                   const embed::TsneProgress& progress, std::vector<std::pair<int, double>>& history) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = y.rows();
  const int dims = static_cast<int>(y.cols());
  const std::int64_t m = n * dims;
  DeviceCsr dp(p, s);
  BhState st(n, dims);
  st.y.upload(y.data(), y.size(), s);
  DeviceBuffer<float> update(sz(m)), gains(sz(m));
  const double plogp = embed::p_log_p(p);
  auto restart = [&] {
    update.zero(s);
    const std::vector<float> ones(sz(m), 1.0f);
    gains.upload(ones.data(), ones.size(), s);
    ctx.sync();  // `ones` leaves scope
  };
  restart();
  for (int it = 0; it < prm.iters; ++it) {
    const bool exaggerated = it < prm.exag_iters;
    if (it == prm.exag_iters && it > 0) restart();
    const bool report = prm.kl_every > 0 && ((it + 1) % prm.kl_every == 0 || it + 1 == prm.iters);
    st.gradient(dp, static_cast<float>(prm.theta), report, s);
    kern::launch_update(st.y.data(), update.data(), gains.data(), st.attr.data(), st.rep.data(), st.z.data(), m,
                        static_cast<float>(exaggerated ? prm.early_exag : 1.0), static_cast<float>(prm.learning_rate),
                        static_cast<float>(exaggerated ? prm.momentum : prm.final_momentum),
                        static_cast<float>(prm.min_gain), s);
    if (report) {
      const double z = read_scalar(st.z, s), plogw = read_scalar(st.plogw, s);
      const double kl = plogp + plogw + std::log(z);
      HMR_ASSERT(std::isfinite(kl), "t-SNE diverged at iteration {} (KL {})", it + 1, kl);
      history.emplace_back(it + 1, kl);
      if (progress) progress(it + 1, kl);
    }
  }
  st.y.download(y.data(), y.size(), s);
  ctx.sync();
}

}  // namespace hmr::HMR_CUDA_NS
