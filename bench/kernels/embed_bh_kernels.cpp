// bench/kernels/embed_bh_kernels.cpp — the Barnes-Hut t-SNE iteration (kernels/embed/bh.cuh) beside
// its cpu twins (host/embed/bh.h), on a 2-D embedding of n points in 8 blobs with a tenth of the
// rows duplicated (the equal-code path of the tree):
//   tree       bounding box -> Morton codes -> radix sort -> gather -> Karras -> bottom-up, against
//              build_tree_cpu (codes, order and topology exact; centres of mass and sizes within
//              float rounding);
//   repulsion  the warp-cooperative traversal over the cpu-built tree + the fixed-order Z, checked
//              at theta = 0 (every pair, exact against repulsion_cpu) and timed at theta = 0.5 (Z
//              within 1% of exact; a warp opens a node when any lane must, so it differs from the
//              twin's per-point decisions);
//   attraction the CSR pass (and its KL term) over the joint P of 10-dimensional blobs;
//   update     the gains/momentum step (bitwise as update_cpu);
//   exact Z    the O(n^2) double Z rows and their fixed-order sum.
#include <cmath>

#include "embed/affinity.h"
#include "embed/bh.cuh"
#include "embed/bh.h"
#include "harness.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;
using hmr::embed::Tree;

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

// ---- adapter: the only lines that name launchers ------------------------------------------------
// The device arrays of one tree over n points (sized as embed::Tree).
struct DeviceTree {
  DeviceTree(std::int64_t n, int dims)
      : part(sz(2 * kern::bbox_blocks(n) * dims)),
        box(sz(dims + 1)),
        ys(sz(n * dims)),
        com(sz((n - 1) * dims)),
        bmin(com.size()),
        bmax(com.size()),
        size(sz(n - 1)),
        count(sz(n - 1)),
        code(sz(n)),
        order(sz(n)),
        child(sz(2 * (n - 1))),
        first(sz(n - 1)),
        last(sz(n - 1)),
        parent(sz(2 * n - 1)),
        arrivals(sz(n - 1)) {}
  // The cpu twin's tree, for the passes that read one.
  explicit DeviceTree(const Tree& t) : DeviceTree(t.n, t.dims) {
    ys.upload(t.ys), com.upload(t.com), size.upload(t.size), count.upload(t.count);
    order.upload(t.order), child.upload(t.child), first.upload(t.first), last.upload(t.last);
  }
  Buf<float> part, box, ys, com, bmin, bmax, size, count;
  Buf<std::uint32_t> code;
  Buf<std::int32_t> order, child, first, last, parent;
  Buf<int> arrivals;
};
void build_tree(const Buf<float>& y, std::int64_t n, int dims, DeviceTree& t, hmr::HMR_CUDA_NS::DevicePool& pool) {
  kern::launch_bounding_box(y.get(), n, dims, t.part.get(), t.box.get(), nullptr);
  kern::launch_morton(y.get(), n, dims, t.box.get(), t.code.get(), t.order.get(), nullptr);
  kern::sort_codes(t.code.get(), t.order.get(), n, pool, nullptr);
  kern::launch_gather(y.get(), t.order.get(), n, dims, t.ys.get(), nullptr);
  kern::launch_karras(t.code.get(), n, t.child.get(), t.first.get(), t.last.get(), t.parent.get(), nullptr);
  t.arrivals.fill_bytes(0);
  kern::launch_bottom_up(t.ys.get(), t.child.get(), t.parent.get(), t.code.get(), t.first.get(), t.last.get(),
                         t.box.get(), n, dims, t.arrivals.get(), t.com.get(), t.bmin.get(), t.bmax.get(), t.size.get(),
                         t.count.get(), nullptr);
}
void repulsion(DeviceTree& t, std::int64_t n, int dims, float theta, Buf<float>& rep, Buf<float>& zs,
               Buf<double>& partial, Buf<double>& z) {
  kern::launch_repulsion(t.ys.get(), t.order.get(), t.child.get(), t.first.get(), t.last.get(), t.com.get(),
                         t.size.get(), t.count.get(), n, dims, theta, rep.get(), zs.get(), nullptr);
  kern::launch_sum(zs.get(), n, partial.get(), z.get(), nullptr);
}
struct DeviceCsr {
  explicit DeviceCsr(const hmr::embed::Csr& p) : indptr(p.indptr), indices(p.indices), data(p.data) {}
  Buf<std::int64_t> indptr;
  Buf<std::int32_t> indices;
  Buf<float> data;
};
void attraction(const DeviceCsr& p, const Buf<float>& y, std::int64_t n, int dims, Buf<float>& attr, Buf<float>& rowlog,
                Buf<double>& partial, Buf<double>& plogw) {
  kern::launch_attraction(p.indptr.get(), p.indices.get(), p.data.get(), y.get(), n, dims, attr.get(), rowlog.get(),
                          nullptr);
  kern::launch_sum(rowlog.get(), n, partial.get(), plogw.get(), nullptr);
}
void update(Buf<float>& y, Buf<float>& upd, Buf<float>& gains, const Buf<float>& attr, const Buf<float>& rep,
            const Buf<double>& z, std::int64_t m, float exag, float lr, float momentum, float min_gain) {
  kern::launch_update(y.get(), upd.get(), gains.get(), attr.get(), rep.get(), z.get(), m, exag, lr, momentum, min_gain,
                      nullptr);
}
void exact_z(const Buf<float>& y, std::int64_t n, int dims, Buf<double>& zrow, Buf<double>& partial, Buf<double>& z) {
  kern::launch_exact_z_rows(y.get(), n, dims, zrow.get(), nullptr);
  kern::launch_sum(zrow.get(), n, partial.get(), z.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

constexpr int kDims = 2;

// n points of a 2-D embedding in 8 blobs; the last tenth repeats earlier rows.
hmr::Matrix embedding(std::int64_t n, std::uint64_t seed) {
  auto v = blobs(n, kDims, 8, 2.0f, seed);
  for (std::int64_t i = n - n / 10; i < n; ++i)
    for (int d = 0; d < kDims; ++d) v[sz(i * kDims + d)] = v[sz((i % 97) * kDims + d)];
  return hmr::Matrix(n, kDims, std::move(v));
}

std::vector<double> scalar(double v) { return {v}; }

void bench_tree(const Problem& p, Report& r) {
  const hmr::Matrix y = embedding(p.n, 91);
  r.shape(std::to_string(p.n) + "x" + std::to_string(kDims));
  Tree want;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::embed::build_tree_cpu(y); }));
  Buf<float> dy(y.vec());
  DeviceTree t(p.n, kDims);
  hmr::HMR_CUDA_NS::DevicePool pool;
  r.device_ms(time_device(p.repeat, [&] { build_tree(dy, p.n, kDims, t, pool); }));
  r.check("sorted codes", t.code.host(), want.code, 0, 0);
  r.check("order", t.order.host(), want.order, 0, 0);
  r.check("sorted points", t.ys.host(), want.ys, 0, 0);
  r.check("children", t.child.host(), want.child, 0, 0);
  r.check("first", t.first.host(), want.first, 0, 0);
  r.check("last", t.last.host(), want.last, 0, 0);
  r.check("parents", t.parent.host(), want.parent, 0, 0);
  r.check("centres of mass", t.com.host(), want.com, 1e-6, 1e-6);
  r.check("node sizes", t.size.host(), want.size, 1e-7, 1e-6);
  r.check("counts", t.count.host(), want.count, 0, 0);
}

void bench_repulsion(const Problem& p, Report& r) {
  const hmr::Matrix y = embedding(p.n, 92);
  const Tree tree = hmr::embed::build_tree_cpu(y);
  r.shape(std::to_string(p.n) + "x" + std::to_string(kDims) + " theta 0.5");
  std::vector<float> rep_want, zi_want;
  r.cpu_ms(time_cpu(p.repeat, [&] { hmr::embed::repulsion_cpu(tree, 0.5, rep_want, zi_want); }));
  const double z_want = hmr::embed::repulsion_cpu(tree, 0.0, rep_want, zi_want);
  DeviceTree t(tree);
  Buf<float> rep(sz(p.n * kDims)), zs(sz(p.n));
  Buf<double> partial(sz(kern::sum_blocks(p.n))), z(1);
  r.device_ms(time_device(p.repeat, [&] { repulsion(t, p.n, kDims, 0.5f, rep, zs, partial, z); }));
  // the twin at theta 0.5 decides per point, the kernel per warp: compare Z only, against exact
  r.check("Z at theta 0.5 against exact", z.host(), scalar(z_want), 0, 0.01);
  repulsion(t, p.n, kDims, 0.0f, rep, zs, partial, z);
  r.check("repulsion at theta 0", rep.host(), rep_want, 1e-6, 1e-4);
  const auto zs_sorted = zs.host();
  std::vector<float> zi(zs_sorted.size());  // zs is in sorted order, the twin's in point order
  for (std::size_t q = 0; q < zi.size(); ++q) zi[sz(tree.order[q])] = zs_sorted[q];
  r.check("row Z at theta 0", zi, zi_want, 0, 1e-5);
  r.check("Z at theta 0", z.host(), scalar(z_want), 0, 1e-6);
}

void bench_attraction(const Problem& p, Report& r) {
  const hmr::Matrix x(p.n, 10, blobs(p.n, 10, 8, 3.0f, 93));
  const auto nn = hmr::embed::knn_cpu(x, static_cast<int>(std::min<std::int64_t>(45, p.n - 1)));
  const hmr::embed::Csr P = hmr::embed::symmetrize_cpu(nn, hmr::embed::conditional_p_cpu(nn, 15.0));
  const hmr::Matrix y = embedding(p.n, 94);
  r.shape(std::to_string(p.n) + "x" + std::to_string(kDims) + " nnz=" + std::to_string(P.nnz()));
  std::vector<float> want;
  double plogw_want = 0.0;
  r.cpu_ms(time_cpu(p.repeat, [&] { hmr::embed::attraction_cpu(P, y, want, &plogw_want); }));
  const DeviceCsr dp(P);
  Buf<float> dy(y.vec()), attr(want.size()), rowlog(sz(p.n));
  Buf<double> partial(sz(kern::sum_blocks(p.n))), plogw(1);
  r.device_ms(time_device(p.repeat, [&] { attraction(dp, dy, p.n, kDims, attr, rowlog, partial, plogw); }));
  r.check("attraction", attr.host(), want, 1e-9, 1e-5);
  r.check("sum p log(1 + d^2)", plogw.host(), scalar(plogw_want), 0, 1e-6);
}

void bench_update(const Problem& p, Report& r) {
  const std::int64_t m = p.n * kDims;
  const auto y0 = uniform(sz(m), 95, -5.0f, 5.0f), u0 = uniform(sz(m), 96), g0 = uniform(sz(m), 97, 0.01f, 2.0f),
             attr = uniform(sz(m), 98), rep = uniform(sz(m), 99);
  constexpr double kZ = 123.0, kExag = 12.0, kLr = 150.0, kMomentum = 0.5, kMinGain = 0.01;
  r.shape(std::to_string(p.n) + "x" + std::to_string(kDims));
  std::vector<float> y, u, g;
  r.cpu_ms(time_cpu(p.repeat, [&] {
    y = y0, u = u0, g = g0;
    hmr::embed::update_cpu(y, u, g, attr, rep, kZ, kExag, kLr, kMomentum, kMinGain);
  }));
  Buf<float> dy(y0), du(u0), dg(g0), da(attr), dr(rep);
  const Buf<double> dz(scalar(kZ));
  // the step works in place: restore its inputs before every call
  r.device_ms(time_device(
      p.repeat, [&] { update(dy, du, dg, da, dr, dz, m, kExag, kLr, kMomentum, kMinGain); },
      [&] {
        dy.upload(y0);
        du.upload(u0);
        dg.upload(g0);
      }));
  r.check("embedding", dy.host(), y, 0, 0);
  r.check("updates", du.host(), u, 0, 0);
  r.check("gains", dg.host(), g, 0, 0);
}

void bench_exact_z(const Problem& p, Report& r) {
  const hmr::Matrix y = embedding(p.n, 100);
  r.shape(std::to_string(p.n) + "x" + std::to_string(kDims));
  double want = 0.0;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::embed::exact_z_cpu(y); }));
  Buf<float> dy(y.vec());
  Buf<double> zrow(sz(p.n)), partial(sz(kern::sum_blocks(p.n))), z(1);
  r.device_ms(time_device(p.repeat, [&] { exact_z(dy, p.n, kDims, zrow, partial, z); }));
  std::vector<double> rows(sz(p.n), 0.0);  // the contract, row by row
  for (std::int64_t i = 0; i < p.n; ++i)
    for (std::int64_t j = 0; j < p.n; ++j) {
      if (j == i) continue;
      const double dx = static_cast<double>(y(i, 0)) - y(j, 0), dd = static_cast<double>(y(i, 1)) - y(j, 1);
      rows[sz(i)] += 1.0 / (1.0 + dx * dx + dd * dd);
    }
  r.check("row sums", zrow.host(), rows, 0, 1e-12);
  r.check("Z", z.host(), scalar(want), 0, 1e-9);
}

HMR_KERNEL_BENCH({"bh_tree",
                  "launch_bounding_box, launch_morton, sort_codes, launch_gather, launch_karras, launch_bottom_up",
                  "points (2-D, a tenth duplicated)", 20000, 1000000, &bench_tree});
HMR_KERNEL_BENCH({"bh_repulsion", "launch_repulsion, launch_sum", "points (2-D; checked at theta 0: O(n^2))", 2000,
                  20000, &bench_repulsion});
HMR_KERNEL_BENCH({"bh_attraction", "launch_attraction, launch_sum", "points (2-D, joint P of 45 neighbours)", 2000,
                  50000, &bench_attraction});
HMR_KERNEL_BENCH({"bh_update", "launch_update", "points (2-D)", 100000, 4000000, &bench_update});
HMR_KERNEL_BENCH({"tsne_exact_z", "launch_exact_z_rows, launch_sum", "points (2-D; O(n^2))", 2000, 20000,
                  &bench_exact_z});

}  // namespace
