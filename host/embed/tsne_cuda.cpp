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

// Device copy of a CSR matrix (pooled: lives for one call).
struct DeviceCsr {
  PooledBuffer<std::int64_t> indptr;
  PooledBuffer<std::int32_t> indices;
  PooledBuffer<float> data;
  DeviceCsr(Context& ctx, const embed::Csr& p)
      : indptr(ctx.to_scratch(p.indptr)), indices(ctx.to_scratch(p.indices)), data(ctx.to_scratch(p.data)) {}
};

// Every buffer one Barnes-Hut gradient needs, taken from the Context's pool once per call (and
// reused by the next call: a t-SNE run does not cudaMalloc).
class BhState {
 public:
  BhState(Context& ctx, std::int64_t n, int dims)
      : ctx_(ctx),
        n_(n),
        dims_(dims),
        y(ctx.scratch<float>(sz(n * dims))),
        ys(ctx.scratch<float>(sz(n * dims))),
        rep(ctx.scratch<float>(sz(n * dims))),
        attr(ctx.scratch<float>(sz(n * dims))),
        box_partial(ctx.scratch<float>(sz(2 * kern::bbox_blocks(n) * dims))),
        box(ctx.scratch<float>(sz(dims + 1))),
        code(ctx.scratch<std::uint32_t>(sz(n))),
        order(ctx.scratch<std::int32_t>(sz(n))),
        child(ctx.scratch<std::int32_t>(sz(2 * (n - 1)))),
        first(ctx.scratch<std::int32_t>(sz(n - 1))),
        last(ctx.scratch<std::int32_t>(sz(n - 1))),
        parent(ctx.scratch<std::int32_t>(sz(2 * n - 1))),
        arrivals(ctx.scratch<int>(sz(n - 1))),
        com(ctx.scratch<float>(sz((n - 1) * dims))),
        bmin(ctx.scratch<float>(sz((n - 1) * dims))),
        bmax(ctx.scratch<float>(sz((n - 1) * dims))),
        size(ctx.scratch<float>(sz(n - 1))),
        count(ctx.scratch<float>(sz(n - 1))),
        zs(ctx.scratch<float>(sz(n))),
        rowlog(ctx.scratch<float>(sz(n))),
        partial(ctx.scratch<double>(sz(kern::sum_blocks(n)))),
        z(ctx.scratch<double>(1)),
        plogw(ctx.scratch<double>(1)) {}

  // rep, attr and z for the embedding in `y`; rowlog sums into plogw when want_log.
  void gradient(const DeviceCsr& p, float theta, bool want_log, cudaStream_t s) {
    kern::launch_bounding_box(y.data(), n_, dims_, box_partial.data(), box.data(), s);
    kern::launch_morton(y.data(), n_, dims_, box.data(), code.data(), order.data(), s);
    kern::sort_codes(code.data(), order.data(), n_, ctx_.pool(), s);
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

  Context& ctx_;
  std::int64_t n_;
  int dims_;
  PooledBuffer<float> y, ys, rep, attr, box_partial, box;
  PooledBuffer<std::uint32_t> code;
  PooledBuffer<std::int32_t> order, child, first, last, parent;
  PooledBuffer<int> arrivals;
  PooledBuffer<float> com, bmin, bmax, size, count, zs, rowlog;
  PooledBuffer<double> partial, z, plogw;
};

double read_scalar(const PooledBuffer<double>& v, cudaStream_t s) { return v.to_host(s)[0]; }

}  // namespace

embed::Knn knn(hmr::Backend& b, hmr::ConstMatrixView x, int k) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  HMR_ASSERT(x.ld == x.cols, "knn expects a contiguous matrix");
  HMR_REQUIRE(k <= kern::kKnnMaxK, "t-SNE kNN on cuda: at most {} neighbours, got {}", kern::kKnnMaxK, k);
  const std::int64_t n = x.rows;
  auto dx = ctx.to_scratch(x.data, sz(n * x.cols));
  auto idx = ctx.scratch<std::int32_t>(sz(n * k));
  auto d2 = ctx.scratch<float>(sz(n * k));
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
  auto d2 = ctx.to_scratch(nn.dist2);
  auto p = ctx.scratch<float>(nn.dist2.size());
  kern::launch_perplexity_search(d2.data(), nn.n, nn.k, perplexity, embed::kPerplexityTol, embed::kPerplexitySteps,
                                 p.data(), s);
  return p.to_host(s);
}

embed::Csr symmetrize(hmr::Backend& b, const embed::Knn& nn, const std::vector<float>& cond_p) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = nn.n, m = 2 * nn.n * nn.k;
  auto idx = ctx.to_scratch(nn.idx);
  auto p = ctx.to_scratch(cond_p);
  auto vals = ctx.scratch<float>(sz(m)), uvals = ctx.scratch<float>(sz(m));
  auto keys = ctx.scratch<std::uint64_t>(sz(m)), ukeys = ctx.scratch<std::uint64_t>(sz(m));
  kern::launch_coo_build(idx.data(), p.data(), n, nn.k, keys.data(), vals.data(), s);
  const std::int64_t u =
      kern::sort_reduce_pairs(keys.data(), vals.data(), m, ukeys.data(), uvals.data(), ctx.pool(), s);
  const double total = kern::sum_floats(uvals.data(), u, ctx.pool(), s);
  HMR_ASSERT(total > 0.0, "symmetrize: the affinities sum to {}", total);
  auto indptr = ctx.scratch<std::int64_t>(sz(n + 1));
  auto indices = ctx.scratch<std::int32_t>(sz(u));
  auto data = ctx.scratch<float>(sz(u));
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
  DeviceCsr dp(ctx, p);
  BhState st(ctx, n, dims);
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
  auto dy = ctx.to_scratch(y.data, sz(n * y.cols));
  auto zrow = ctx.scratch<double>(sz(n)), partial = ctx.scratch<double>(sz(kern::sum_blocks(n))),
       z = ctx.scratch<double>(1);
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
  DeviceCsr dp(ctx, p);
  BhState st(ctx, n, dims);
  st.y.upload(y.data(), y.size(), s);
  auto update = ctx.scratch<float>(sz(m)), gains = ctx.scratch<float>(sz(m));
  auto restart = [&] {
    update.zero(s);
    const std::vector<float> ones(sz(m), 1.0f);
    gains.upload(ones.data(), ones.size(), s);
    ctx.sync();  // `ones` leaves scope
  };
  restart();
  auto step = [&](int, bool report, double exag, double momentum) {
    st.gradient(dp, static_cast<float>(prm.theta), report, s);
    kern::launch_update(st.y.data(), update.data(), gains.data(), st.attr.data(), st.rep.data(), st.z.data(), m,
                        static_cast<float>(exag), static_cast<float>(prm.learning_rate), static_cast<float>(momentum),
                        static_cast<float>(prm.min_gain), s);
    embed::StepKl kl;
    if (report) {
      kl.z = read_scalar(st.z, s);
      kl.plogw = read_scalar(st.plogw, s);
    }
    return kl;
  };
  embed::descend(p, prm, progress, history, restart, step);
  st.y.download(y.data(), y.size(), s);
  ctx.sync();
}

}  // namespace hmr::HMR_CUDA_NS
