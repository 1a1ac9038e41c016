// t-SNE tests: every step against scikit-learn's own numbers (fixtures from
// tests/fixtures/gen_embed.py), the Barnes-Hut tree's invariants on random, clustered and
// duplicate points, each kernel against its cpu twin under the emulator in every thread order,
// the full run on scikit-learn's digits (trustworthiness, KL against sklearn/openTSNE),
// determinism and bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "core/error.h"
#include "cuda/buffer.h"
#include "cuda/select.h"
#include "embed/affinity.h"
#include "embed/bh.cuh"
#include "embed/bh.h"
#include "embed/knn.cuh"
#include "embed/optimize.h"
#include "embed/tsne.h"
#include "io/npy.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/emu.h"
#include "support/npy.h"
#include "support/run.h"

namespace {

using namespace hmr;
using namespace hmr::embed;

std::string fx(const std::string& name) { return test::fixture("embed/" + name); }

template <class T>
std::vector<T> load_vec(const std::string& name) {
  return test::npy_vec<T>(fx(name));
}

Matrix load_matrix(const std::string& name) { return io::read_matrix(fx(name)); }

// Digits pixels are stored as uint8 to keep the fixture small.
Matrix load_digits() {
  const io::NpyArray a = io::read_npy(fx("digits_x.npy"));
  EXPECT_EQ(a.dtype, "u1");
  Matrix m(a.shape[0], a.shape[1]);
  for (std::size_t i = 0; i < m.size(); ++i) m.vec()[i] = static_cast<float>(a.bytes[i]);
  return m;
}

nlohmann::json reference() {
  std::ifstream in(fx("reference.json"));
  return nlohmann::json::parse(in);
}

Csr small_p() {
  Csr p;
  p.indptr = load_vec<std::int64_t>("small_p_indptr.npy");
  p.indices = load_vec<std::int32_t>("small_p_indices.npy");
  p.data = load_vec<float>("small_p_data.npy");
  p.n = static_cast<std::int64_t>(p.indptr.size()) - 1;
  return p;
}

// Gaussian blobs: `clusters` centres spread by `spread`, unit noise.
Matrix blobs(std::int64_t n, std::int64_t d, int clusters, float spread, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> centres(static_cast<std::size_t>(clusters * d));
  for (auto& c : centres) c = spread * g(rng);
  Matrix x(n, d);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % clusters);
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = centres[static_cast<std::size_t>(c * d + j)] + g(rng);
  }
  return x;
}

// A P for an arbitrary point set: kNN + perplexity + symmetrisation on the cpu.
Csr p_for(const Matrix& x, double perplexity) {
  const Knn nn = knn_cpu(x, default_neighbours(x.rows(), perplexity));
  return symmetrize_cpu(nn, conditional_p_cpu(nn, perplexity));
}

double rel_error(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

// ---- affinities on every backend, against scikit-learn -------------------------------------------

class ConfTsneAffinity : public test::BackendTest {};

TEST_P(ConfTsneAffinity, KnnMatchesSklearnExactNeighbours) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu", {"knn_tiled_kernel"});
  const Matrix x = load_matrix("small_x.npy");
  const auto want_idx = load_vec<std::int32_t>("small_knn_idx.npy");
  const auto want_d2 = load_vec<float>("small_knn_d2.npy");
  const Knn nn = knn(backend(), x, 24);
  ASSERT_EQ(nn.idx.size(), want_idx.size());
  EXPECT_EQ(nn.idx, want_idx);
  EXPECT_ALLCLOSE(std::span<const float>(nn.dist2), std::span<const float>(want_d2), 1e-4, 1e-5);
}

TEST_P(ConfTsneAffinity, PerplexitySearchMatchesSklearn) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu", {"perplexity_search_kernel"});
  Knn nn;
  nn.n = 150;
  nn.k = 24;
  nn.idx = load_vec<std::int32_t>("small_knn_idx.npy");
  nn.dist2 = load_vec<float>("small_knn_d2.npy");
  const auto want = load_vec<float>("small_cond_p.npy");
  const auto got = conditional_p(backend(), nn, 8.0);
  // both stop within 1e-5 of the target entropy, so P agrees to about that
  EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want), 2e-5, 1e-3);
  for (std::int64_t i = 0; i < nn.n; ++i) {
    double s = 0.0, h = 0.0;
    for (int r = 0; r < nn.k; ++r) {
      const double p = got[static_cast<std::size_t>(i * nn.k + r)];
      s += p;
      if (p > 0) h -= p * std::log(p);
    }
    EXPECT_NEAR(s, 1.0, 1e-5);
    EXPECT_NEAR(std::exp(h), 8.0, 1e-3) << "row " << i;
  }
}

TEST_P(ConfTsneAffinity, SymmetrizedPMatchesSklearnCsr) {
  hmr::test::ExpectLaunches launched(
      GetParam() == "cuda-emu", {"coo_build_kernel", "run_heads_kernel", "run_reduce_kernel", "csr_finalize_kernel"});
  Knn nn;
  nn.n = 150;
  nn.k = 24;
  nn.idx = load_vec<std::int32_t>("small_knn_idx.npy");
  nn.dist2 = load_vec<float>("small_knn_d2.npy");
  const Csr want = small_p();
  const Csr got = symmetrize(backend(), nn, load_vec<float>("small_cond_p.npy"));
  EXPECT_EQ(got.indptr, want.indptr);
  EXPECT_EQ(got.indices, want.indices);
  EXPECT_ALLCLOSE(std::span<const float>(got.data), std::span<const float>(want.data), 1e-9, 1e-5);
  double s = 0.0;
  for (float v : got.data) s += v;
  EXPECT_NEAR(s, 1.0, 1e-5);
}

TEST_P(ConfTsneAffinity, ThetaZeroGradientEqualsSklearnExactGradient) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu",
                                     {"repulsion_kernel", "attraction_kernel", "exact_z_rows_kernel"});
  const Csr p = small_p();
  const Matrix y0 = load_matrix("small_y0.npy");
  const auto want = load_vec<double>("small_grad.npy");
  std::vector<float> grad;
  const double z = bh_gradient(backend(), p, y0, 0.0, 1.0, grad);
  EXPECT_ALLCLOSE(grad, want, 1e-7, 1e-4);
  double zx = 0.0;
  exact_gradient(p, y0, 1.0, &zx);
  EXPECT_NEAR(z, zx, 1e-6 * zx);
  // KL at y0 from the attraction pass and the exact Z equals sklearn's _kl_divergence
  double plogw = 0.0;
  std::vector<float> attr;
  attraction_cpu(p, y0, attr, &plogw);
  const double kl = kl_divergence(p, plogw, exact_z(backend(), y0));
  EXPECT_NEAR(kl, reference()["small"]["kl_at_y0"].get<double>(), 1e-5);
}

TEST_P(ConfTsneAffinity, ThetaHalfGradientIsCloseToExact) {
  const Matrix x = blobs(1500, 5, 6, 6.0f, test::test_seed(3));
  const Csr p = p_for(x, 20.0);
  // a spread-out 2-D embedding (the x's first two columns) with clusters, like mid-optimisation
  Matrix y(x.rows(), 2);
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    y(i, 0) = x(i, 0);
    y(i, 1) = x(i, 1);
  }
  double zx = 0.0;
  const auto want = exact_gradient(p, y, 1.0, &zx);
  std::vector<float> grad;
  const double z = bh_gradient(backend(), p, y, 0.5, 1.0, grad);
  EXPECT_NEAR(z, zx, 0.02 * zx);
  EXPECT_LT(rel_error(grad, want), 0.05);
  std::vector<float> g0;
  bh_gradient(backend(), p, y, 0.0, 1.0, g0);
  EXPECT_LT(rel_error(g0, want), 1e-5);
}

HMR_INSTANTIATE_BACKENDS(ConfTsneAffinity);

// ---- the tree ---------------------------------------------------------------------------------------

// Checks the structure: every sorted position is reached exactly once from the root, ranges
// nest, counts add up, centres of mass are the means of their points, the depth is bounded.
void check_tree(const Tree& t, const Matrix& y) {
  const std::int64_t n = t.n, m = n - 1;
  const int D = t.dims;
  std::vector<int> seen(static_cast<std::size_t>(n), 0);
  struct Item {
    std::int32_t node;
    int depth;
  };
  std::vector<Item> stack{{0, 0}};
  int max_depth = 0;
  while (!stack.empty()) {
    const Item it = stack.back();
    stack.pop_back();
    max_depth = std::max(max_depth, it.depth);
    if (it.node < 0) {
      ++seen[static_cast<std::size_t>(~it.node)];
      continue;
    }
    const auto o = static_cast<std::size_t>(it.node);
    const std::int64_t f = t.first[o], l = t.last[o];
    ASSERT_LT(f, l);
    EXPECT_FLOAT_EQ(t.count[o], static_cast<float>(l - f + 1));
    for (int d = 0; d < D; ++d) {
      double s = 0.0;
      for (std::int64_t q = f; q <= l; ++q) s += t.ys[static_cast<std::size_t>(q * D + d)];
      const double mean = s / static_cast<double>(l - f + 1);
      EXPECT_NEAR(t.com[o * D + d], mean, 1e-4 * (1.0 + std::fabs(mean)));
    }
    for (int s = 0; s < 2; ++s) {
      const std::int32_t c = t.child[2 * o + s];
      const std::int64_t cf = c < 0 ? ~c : t.first[static_cast<std::size_t>(c)];
      const std::int64_t cl = c < 0 ? ~c : t.last[static_cast<std::size_t>(c)];
      EXPECT_TRUE(f <= cf && cl <= l);
      EXPECT_EQ(t.parent[static_cast<std::size_t>(c < 0 ? m + ~c : c)], it.node);
      stack.push_back({c, it.depth + 1});
    }
  }
  for (std::int64_t q = 0; q < n; ++q) EXPECT_EQ(seen[static_cast<std::size_t>(q)], 1) << "position " << q;
  EXPECT_LE(max_depth, 65);
  for (std::int64_t q = 0; q < n; ++q)
    for (int d = 0; d < D; ++d)
      EXPECT_EQ(t.ys[static_cast<std::size_t>(q * D + d)], y(t.order[static_cast<std::size_t>(q)], d));
  for (std::int64_t q = 1; q < n; ++q)
    EXPECT_LE(t.code[static_cast<std::size_t>(q - 1)], t.code[static_cast<std::size_t>(q)]);
}

Matrix random_points(std::int64_t n, int dims, std::uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  Matrix y(n, dims);
  for (auto& v : y.vec()) v = g(rng);
  return y;
}

TEST(TsneTree, RandomPointsIn2DAnd3D) {
  const auto seed = test::test_seed(11);
  check_tree(build_tree_cpu(random_points(2000, 2, seed)), random_points(2000, 2, seed));
  check_tree(build_tree_cpu(random_points(1500, 3, seed)), random_points(1500, 3, seed));
}

TEST(TsneTree, ClusteredPointsWithWideRange) {
  Matrix y = random_points(1200, 2, test::test_seed(12), 1e-3f);
  for (std::int64_t i = 0; i < 100; ++i) y(i, 0) += 1e4f;  // a far cluster squeezes the rest into few cells
  check_tree(build_tree_cpu(y), y);
}

TEST(TsneTree, DuplicateAndIdenticalPointsGiveAFiniteTree) {
  Matrix y = random_points(600, 2, test::test_seed(13));
  for (std::int64_t i = 300; i < 600; ++i) {  // every point of the second half duplicates one of the first
    y(i, 0) = y(i % 7, 0);
    y(i, 1) = y(i % 7, 1);
  }
  check_tree(build_tree_cpu(y), y);
  const Matrix same(777, 2, 0.25f);
  const Tree t = build_tree_cpu(same);
  check_tree(t, same);
  // all identical: every pair has w = 1, no force
  std::vector<float> rep, zi;
  const double z = repulsion_cpu(t, 0.5, rep, zi);
  EXPECT_DOUBLE_EQ(z, 777.0 * 776.0);
  for (float v : rep) EXPECT_EQ(v, 0.0f);
}

TEST(TsneUpdate, StepFollowsSklearnGainsAndMomentum) {
  std::vector<float> y{1.0f, 2.0f, 3.0f}, upd{0.5f, -0.5f, 0.0f}, gains{1.0f, 1.0f, 0.011f};
  const std::vector<float> attr{1.0f, 1.0f, -2.0f}, rep{2.0f, -4.0f, 0.0f};
  update_cpu(y, upd, gains, attr, rep, 2.0, 3.0, 10.0, 0.5, 0.01);
  // g = 3 * attr - rep / 2 = {2, 5, -6}; u * g: {+, -, 0} -> gains {0.8, 1.2, max(0.0088, 0.01)}
  EXPECT_FLOAT_EQ(gains[0], 0.8f);
  EXPECT_FLOAT_EQ(gains[1], 1.2f);
  EXPECT_FLOAT_EQ(gains[2], 0.01f);
  EXPECT_FLOAT_EQ(upd[0], 0.25f - 10.0f * 0.8f * 2.0f);
  EXPECT_FLOAT_EQ(upd[1], -0.25f - 10.0f * 1.2f * 5.0f);
  EXPECT_FLOAT_EQ(upd[2], 0.0f + 10.0f * 0.01f * 6.0f);
  EXPECT_FLOAT_EQ(y[0], 1.0f + upd[0]);
}

// ---- kernels vs cpu twins under the emulator --------------------------------------------------------

TEST(EmuTsne, KnnKernelMatchesCpuTwin) {
  hmr::test::ExpectLaunches launched{"knn_tiled_kernel"};
  using namespace hmr::cuda_emu;
  Matrix x = blobs(300, 37, 4, 3.0f, test::test_seed(21));
  for (std::int64_t c = 0; c < x.cols(); ++c) x(17, c) = x(5, c);  // an exact duplicate: ties by index
  const Knn want = knn_cpu(x, 20);
  std::vector<std::int32_t> idx;
  const auto d2 = test::in_all_orders([&] {
    DeviceBuffer<float> dx = to_device(x.data(), x.size(), nullptr);
    DeviceBuffer<std::int32_t> di(300 * 20);
    DeviceBuffer<float> dd(300 * 20);
    kern::launch_knn_tiled(dx.data(), 300, 37, 20, di.data(), dd.data(), nullptr);
    idx = di.to_host(nullptr);
    return dd.to_host(nullptr);
  });
  EXPECT_EQ(idx, want.idx);
  EXPECT_ALLCLOSE(std::span<const float>(d2), std::span<const float>(want.dist2), 1e-5, 1e-5);
  EXPECT_EQ(idx[5 * 20], 17);
  EXPECT_EQ(d2[5 * 20], 0.0f);
}

TEST(EmuTsne, PerplexityAndSymmetrizeKernelsMatchCpuTwins) {
  hmr::test::ExpectLaunches launched{"perplexity_search_kernel", "coo_build_kernel", "run_heads_kernel",
                                     "run_reduce_kernel", "csr_finalize_kernel"};
  using namespace hmr::cuda_emu;
  const Matrix x = blobs(200, 6, 3, 4.0f, test::test_seed(22));
  const Knn nn = knn_cpu(x, 30);
  const auto want_p = conditional_p_cpu(nn, 10.0);
  const auto got_p = test::in_all_orders([&] {
    DeviceBuffer<float> d2 = to_device(nn.dist2, nullptr), p(nn.dist2.size());
    kern::launch_perplexity_search(d2.data(), 200, 30, 10.0, kPerplexityTol, kPerplexitySteps, p.data(), nullptr);
    return p.to_host(nullptr);
  });
  EXPECT_ALLCLOSE(std::span<const float>(got_p), std::span<const float>(want_p), 1e-7, 1e-5);
  auto b = make_backend("cuda-emu");
  const Csr want = symmetrize_cpu(nn, want_p), got = symmetrize(*b, nn, want_p);
  EXPECT_EQ(got.indptr, want.indptr);
  EXPECT_EQ(got.indices, want.indices);
  EXPECT_ALLCLOSE(std::span<const float>(got.data), std::span<const float>(want.data), 1e-10, 1e-6);
}

// The tree kernels, launch by launch, against build_tree_cpu.
std::vector<float> tree_on_device(const Matrix& y, Tree* out = nullptr) {
  using namespace hmr::cuda_emu;
  const std::int64_t n = y.rows();
  const int D = static_cast<int>(y.cols());
  DeviceBuffer<float> dy = to_device(y.data(), y.size(), nullptr), part(2 * kern::bbox_blocks(n) * D), box(D + 1),
                      ys(n * D), com((n - 1) * D), bmin((n - 1) * D), bmax((n - 1) * D), size(n - 1), count(n - 1);
  DeviceBuffer<std::uint32_t> code(n);
  DeviceBuffer<std::int32_t> order(n), child(2 * (n - 1)), first(n - 1), last(n - 1), parent(2 * n - 1);
  DeviceBuffer<int> arrivals(n - 1);
  kern::launch_bounding_box(dy.data(), n, D, part.data(), box.data(), nullptr);
  kern::launch_morton(dy.data(), n, D, box.data(), code.data(), order.data(), nullptr);
  DevicePool pool;
  kern::sort_codes(code.data(), order.data(), n, pool, nullptr);
  kern::launch_gather(dy.data(), order.data(), n, D, ys.data(), nullptr);
  kern::launch_karras(code.data(), n, child.data(), first.data(), last.data(), parent.data(), nullptr);
  arrivals.zero(nullptr);
  kern::launch_bottom_up(ys.data(), child.data(), parent.data(), code.data(), first.data(), last.data(), box.data(), n,
                         D, arrivals.data(), com.data(), bmin.data(), bmax.data(), size.data(), count.data(), nullptr);
  if (out) {
    out->n = n;
    out->dims = D;
    out->code = code.to_host(nullptr);
    out->order = order.to_host(nullptr);
    out->ys = ys.to_host(nullptr);
    out->child = child.to_host(nullptr);
    out->first = first.to_host(nullptr);
    out->last = last.to_host(nullptr);
    out->parent = parent.to_host(nullptr);
    out->com = com.to_host(nullptr);
    out->bmin = bmin.to_host(nullptr);
    out->bmax = bmax.to_host(nullptr);
    out->size = size.to_host(nullptr);
    out->count = count.to_host(nullptr);
  }
  auto v = com.to_host(nullptr);
  const auto s = size.to_host(nullptr);
  v.insert(v.end(), s.begin(), s.end());
  return v;
}

void expect_same_tree(const Matrix& y) {
  const Tree want = build_tree_cpu(y);
  Tree got;
  test::in_all_orders([&] { return tree_on_device(y, &got); });
  EXPECT_EQ(got.code, want.code);
  EXPECT_EQ(got.order, want.order);
  EXPECT_EQ(got.child, want.child);
  EXPECT_EQ(got.first, want.first);
  EXPECT_EQ(got.last, want.last);
  EXPECT_EQ(got.parent, want.parent);
  EXPECT_ALLCLOSE(std::span<const float>(got.com), std::span<const float>(want.com), 1e-6, 1e-6);
  EXPECT_ALLCLOSE(std::span<const float>(got.size), std::span<const float>(want.size), 1e-7, 1e-6);
  EXPECT_ALLCLOSE(std::span<const float>(got.count), std::span<const float>(want.count), 0.0, 0.0);
  check_tree(got, y);
}

TEST(EmuTsne, TreeKernelsMatchCpuTwinOnRandomClusteredAndDuplicatePoints) {
  hmr::test::ExpectLaunches launched{"bbox_partial_kernel", "bbox_final_kernel", "morton_kernel",
                                     "gather_kernel",       "karras_kernel",     "bottom_up_kernel"};
  expect_same_tree(random_points(700, 2, test::test_seed(31)));
  expect_same_tree(random_points(400, 3, test::test_seed(32)));
  Matrix c = random_points(500, 2, test::test_seed(33), 1e-3f);
  for (std::int64_t i = 0; i < 50; ++i) c(i, 1) -= 300.0f;
  expect_same_tree(c);
  Matrix d = random_points(300, 2, test::test_seed(34));
  for (std::int64_t i = 100; i < 300; ++i) {
    d(i, 0) = d(i % 3, 0);
    d(i, 1) = d(i % 3, 1);
  }
  expect_same_tree(d);
  expect_same_tree(Matrix(129, 2, -3.5f));
}

TEST(EmuTsne, RepulsionAttractionAndUpdateKernelsMatchCpuTwins) {
  hmr::test::ExpectLaunches launched{"repulsion_kernel", "attraction_kernel", "sum_partial_kernel", "sum_final_kernel",
                                     "update_kernel"};
  using namespace hmr::cuda_emu;
  const Matrix x = blobs(500, 4, 5, 5.0f, test::test_seed(41));
  const Csr p = p_for(x, 15.0);
  Matrix y(500, 2);
  for (std::int64_t i = 0; i < 500; ++i) {
    y(i, 0) = x(i, 0);
    y(i, 1) = x(i, 1);
  }
  double zx = 0.0;
  const auto exact = exact_gradient(p, y, 4.0, &zx);
  for (const double theta : {0.0, 0.5}) {
    std::vector<float> rep_want, zi;
    const double z_want = repulsion_cpu(build_tree_cpu(y), theta, rep_want, zi);
    std::vector<float> attr_want;
    double plogw_want = 0.0;
    attraction_cpu(p, y, attr_want, &plogw_want);
    double z_got = 0.0, plogw_got = 0.0;
    std::vector<float> attr_got;
    const auto rep_got = test::in_all_orders([&] {
      Tree t;
      tree_on_device(y, &t);
      DeviceBuffer<float> ys = to_device(t.ys, nullptr), com = to_device(t.com, nullptr),
                          size = to_device(t.size, nullptr), count = to_device(t.count, nullptr), rep(1000), zs(500),
                          dy = to_device(y.vec(), nullptr), attr(1000), rowlog(500);
      DeviceBuffer<std::int32_t> order = to_device(t.order, nullptr), child = to_device(t.child, nullptr),
                                 first = to_device(t.first, nullptr), last = to_device(t.last, nullptr);
      DeviceBuffer<std::int64_t> indptr = to_device(p.indptr, nullptr);
      DeviceBuffer<std::int32_t> indices = to_device(p.indices, nullptr);
      DeviceBuffer<float> pv = to_device(p.data, nullptr);
      DeviceBuffer<double> part(kern::sum_blocks(500)), z(1), plogw(1);
      kern::launch_repulsion(ys.data(), order.data(), child.data(), first.data(), last.data(), com.data(), size.data(),
                             count.data(), 500, 2, static_cast<float>(theta), rep.data(), zs.data(), nullptr);
      kern::launch_sum(zs.data(), 500, part.data(), z.data(), nullptr);
      kern::launch_attraction(indptr.data(), indices.data(), pv.data(), dy.data(), 500, 2, attr.data(), rowlog.data(),
                              nullptr);
      kern::launch_sum(rowlog.data(), 500, part.data(), plogw.data(), nullptr);
      z_got = z.to_host(nullptr)[0];
      plogw_got = plogw.to_host(nullptr)[0];
      attr_got = attr.to_host(nullptr);
      return rep.to_host(nullptr);
    });
    EXPECT_ALLCLOSE(attr_got, std::vector<double>(attr_want.begin(), attr_want.end()), 1e-9, 1e-5);
    EXPECT_NEAR(plogw_got, plogw_want, 1e-6 * std::fabs(plogw_want));
    std::vector<float> g(1000);
    for (std::size_t e = 0; e < g.size(); ++e) g[e] = 4.0f * attr_got[e] - rep_got[e] * static_cast<float>(1.0 / z_got);
    if (theta == 0.0) {
      EXPECT_NEAR(z_got, zx, 1e-6 * zx);
      EXPECT_ALLCLOSE(std::span<const float>(rep_got), std::span<const float>(rep_want), 1e-6, 1e-4);
      EXPECT_LT(rel_error(g, exact), 1e-5);
    } else {
      // the warp opens a node when any lane must, so the kernel is at least as exact as the twin
      EXPECT_NEAR(z_got, z_want, 0.01 * z_want);
      EXPECT_LT(rel_error(g, exact), 0.05);
    }
  }
  // update: bitwise equal to the cpu twin
  std::vector<float> yv(1000), upd(1000), gains(1000), attr(1000), rep(1000);
  std::mt19937 rng(5);
  std::normal_distribution<float> gd;
  for (std::size_t e = 0; e < 1000; ++e) {
    yv[e] = gd(rng);
    upd[e] = gd(rng);
    gains[e] = 0.5f + 0.1f * gd(rng);
    attr[e] = gd(rng);
    rep[e] = gd(rng);
  }
  auto y_cpu = yv, u_cpu = upd, g_cpu = gains;
  update_cpu(y_cpu, u_cpu, g_cpu, attr, rep, 123.0, 12.0, 150.0, 0.5, 0.01);
  const auto got = test::in_all_orders([&] {
    DeviceBuffer<float> dy = to_device(yv, nullptr), du = to_device(upd, nullptr), dg = to_device(gains, nullptr),
                        da = to_device(attr, nullptr), dr = to_device(rep, nullptr);
    const std::vector<double> zz{123.0};
    DeviceBuffer<double> dz = to_device(zz, nullptr);
    kern::launch_update(dy.data(), du.data(), dg.data(), da.data(), dr.data(), dz.data(), 1000, 12.0f, 150.0f, 0.5f,
                        0.01f, nullptr);
    auto out = dy.to_host(nullptr);
    const auto u2 = du.to_host(nullptr), g2 = dg.to_host(nullptr);
    out.insert(out.end(), u2.begin(), u2.end());
    out.insert(out.end(), g2.begin(), g2.end());
    return out;
  });
  std::vector<float> want = y_cpu;
  want.insert(want.end(), u_cpu.begin(), u_cpu.end());
  want.insert(want.end(), g_cpu.begin(), g_cpu.end());
  EXPECT_TRUE(test::bitwise_equal(got, want));
}

// The KL data term sum_j p_ij ln(1 + d_ij^2) of the cpu attraction pass (2-D: AVX2 lanes with
// their own logarithm) against double log1p, one row of 8 neighbours (the vector lanes only) at
// squared distances from 1e-6 to 1e6, so every mantissa range of 1 + d^2 is met.
TEST(Tsne, AttractionKlTermMatchesDoubleLog1p) {
  const std::uint64_t seed = test::test_seed(11);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> lg(-6.0, 6.0), ang(0.0, 6.283185307179586);
  Csr p;
  p.n = 9;
  p.indptr = {0, 8, 8, 8, 8, 8, 8, 8, 8, 8};
  p.indices = {1, 2, 3, 4, 5, 6, 7, 8};
  p.data.assign(8, 1.0f);
  double worst = 0.0;
  for (int trial = 0; trial < 2000; ++trial) {
    Matrix y(9, 2);
    y(0, 0) = 0.5f;
    y(0, 1) = -0.25f;
    for (int j = 1; j < 9; ++j) {
      const double r = std::sqrt(std::pow(10.0, lg(rng))), a = ang(rng);
      y(j, 0) = static_cast<float>(0.5 + r * std::cos(a));
      y(j, 1) = static_cast<float>(-0.25 + r * std::sin(a));
    }
    double want = 0.0;
    for (int j = 1; j < 9; ++j) {
      const double dx = static_cast<double>(y(0, 0)) - y(j, 0), dy = static_cast<double>(y(0, 1)) - y(j, 1);
      want += std::log1p(dx * dx + dy * dy);
    }
    double got = 0.0;
    std::vector<float> attr;
    attraction_cpu(p, y, attr, &got);
    // float: d^2 and 1 + d^2 rounded (6e-8 each in the log), 8 terms summed in float
    const double err = std::fabs(got - want) / (4e-7 + 4e-7 * std::fabs(want));
    if (err > worst) worst = err;
    ASSERT_LE(err, 1.0) << "seed " << seed << " trial " << trial << ": " << got << " vs " << want;
  }
  std::cout << "worst |got - want| / (4e-7 + 4e-7 |want|) = " << worst << " (seed " << seed << ")\n";
}

// The cuda kernel sums whole rows; the cpu sums each pair once (2-D: AVX2 lanes, 3-D: scalar),
// in double on both, so they agree to round-off. 301 rows: a ragged AVX2 tail.
TEST(EmuTsne, ExactZKernelMatchesCpu) {
  hmr::test::ExpectLaunches launched{"exact_z_rows_kernel", "sum_partial_kernel", "sum_final_kernel"};
  auto b = make_backend("cuda-emu");
  for (int dims : {2, 3}) {
    const Matrix y = random_points(301, dims, test::test_seed(42), 3.0f);
    EXPECT_NEAR(exact_z(*b, y), exact_z_cpu(y), 1e-9 * exact_z_cpu(y)) << dims << "-D";
  }
}

// ---- whole runs ------------------------------------------------------------------------------------

class ConfTsne : public test::BackendTest {
 protected:
  // Four blobs with 40 rows repeated (duplicates must not break the perplexity search or the tree).
  static Matrix duplicated_blobs() {
    Matrix x = blobs(240, 10, 4, 6.0f, test::test_seed(51));
    for (std::int64_t i = 200; i < 240; ++i)
      for (std::int64_t c = 0; c < 10; ++c) x(i, c) = x(i - 200, c);
    return x;
  }
  // A short run: enough iterations for a stable KL, few enough for the emulator.
  static TsneOptions short_run() {
    TsneOptions o;
    o.perplexity = 15;
    o.iters = 120;
    o.exag_iters = 50;
    o.init = TsneInit::random;
    o.seed = 7;
    return o;
  }
};

TEST_P(ConfTsne, SameSeedGivesTheSameEmbeddingAndDuplicatesWork) {
  hmr::test::ExpectLaunches launched(
      GetParam() == "cuda-emu",
      {"knn_tiled_kernel", "perplexity_search_kernel", "coo_build_kernel", "run_heads_kernel", "run_reduce_kernel",
       "csr_finalize_kernel", "bbox_partial_kernel", "bbox_final_kernel", "morton_kernel", "gather_kernel",
       "karras_kernel", "bottom_up_kernel", "repulsion_kernel", "sum_partial_kernel", "sum_final_kernel",
       "attraction_kernel", "update_kernel", "exact_z_rows_kernel"});
  const Matrix x = duplicated_blobs();
  const TsneOptions o = short_run();
  const TsneResult a = tsne(backend(), x, o), b = tsne(backend(), x, o);
  EXPECT_TRUE(test::bitwise_equal(a.y.vec(), b.y.vec()));
  EXPECT_TRUE(all_finite(a.y.view()));
  EXPECT_TRUE(a.kl_exact);
  EXPECT_GT(a.kl, 0.0);
  EXPECT_GT(trustworthiness(x, a.y, 5), 0.9);
}

TEST_P(ConfTsne, KlMatchesTheCpuBackend) {
  HMR_SKIP_CPU_INSTANCE(
      "ConfTsneAffinity (neighbours, perplexities, P and gradients against scikit-learn) and "
      "SameSeedGivesTheSameEmbeddingAndDuplicatesWork");
  const Matrix x = duplicated_blobs();
  const TsneOptions o = short_run();
  const TsneResult got = tsne(backend(), x, o), want = tsne(cpu(), x, o);
  // The twins sum in different orders, so the points drift apart; the KL they reach must agree.
  EXPECT_NEAR(got.kl, want.kl, 0.05 * want.kl);
}

TEST_P(ConfTsne, AllIdenticalInputDoesNotHang) {
  const Matrix x(60, 4, 1.5f);
  TsneOptions o;
  o.perplexity = 5;
  o.iters = 60;
  o.exag_iters = 20;
  const TsneResult r = tsne(backend(), x, o);
  EXPECT_TRUE(all_finite(r.y.view()));
}

TEST_P(ConfTsne, RejectsBadInput) {
  TsneOptions o;
  o.perplexity = 2;
  EXPECT_THROW(tsne(backend(), blobs(3, 4, 1, 1.0f, 1), o), Error);  // N < 4
  o.perplexity = 10;
  EXPECT_THROW(tsne(backend(), blobs(10, 4, 1, 1.0f, 1), o), Error);  // perplexity >= N
  Matrix bad = blobs(50, 4, 1, 1.0f, 1);
  bad(7, 2) = NAN;
  o.perplexity = 5;
  EXPECT_THROW(tsne(backend(), bad, o), Error);
  o.dims = 4;
  EXPECT_THROW(tsne(backend(), blobs(50, 4, 1, 1.0f, 1), o), Error);
  o.dims = 2;
  o.theta = -1;
  EXPECT_THROW(tsne(backend(), blobs(50, 4, 1, 1.0f, 1), o), Error);
}

HMR_INSTANTIATE_BACKENDS(ConfTsne);

TEST(TsneInitTest, PcaInitHasStd1e4AndFollowsTheMainAxis) {
  Matrix x = blobs(400, 5, 1, 0.0f, test::test_seed(61));
  for (std::int64_t i = 0; i < 400; ++i) x(i, 3) *= 20.0f;  // the dominant axis
  TsneOptions o;
  const Matrix y = initial_embedding(x, o);
  double m = 0, v = 0, corr = 0, vx = 0;
  for (std::int64_t i = 0; i < 400; ++i) m += y(i, 0);
  m /= 400;
  for (std::int64_t i = 0; i < 400; ++i) {
    v += (y(i, 0) - m) * (y(i, 0) - m);
    corr += (y(i, 0) - m) * x(i, 3);
    vx += x(i, 3) * x(i, 3);
  }
  EXPECT_NEAR(std::sqrt(v / 400), 1e-4, 1e-9);
  EXPECT_GT(std::fabs(corr) / std::sqrt(v * vx), 0.99);
}

TEST(TsneTrustworthiness, MatchesDefinitionOnTrivialCases) {
  const Matrix x = blobs(100, 3, 1, 0.0f, 4);
  EXPECT_NEAR(trustworthiness(x, x, 5), 1.0, 1e-12);
  Matrix r = random_points(100, 3, 99);
  EXPECT_LT(trustworthiness(x, r, 5), 0.8);
}

// Full default run on scikit-learn's digits on the cpu backend.
// The whole default run on digits takes ~40 s of CPU on the 2-core machine: labelled slow (ctest
// -L slow), not part of the quick e2e set; its assertions are the acceptance criteria.
TEST(SlowTsne, DigitsEndToEndMatchesSklearnAndOpenTsneQuality) {
  const Matrix x = load_digits();
  const auto ref = reference()["digits"];
  auto b = make_cpu_backend();
  TsneOptions o;  // defaults: perplexity 30, theta 0.5, 1000 iterations, PCA init
  const TsneResult r = tsne(*b, x, o);
  ASSERT_TRUE(r.kl_exact);
  EXPECT_EQ(r.neighbours, 90);
  const double tw = trustworthiness(x, r.y, 5);
  const double kl_sk = ref["sklearn_kl_exact"].get<double>(), kl_ot = ref["opentsne_kl_exact"].get<double>();
  std::printf("digits: KL %.4f (sklearn %.4f, openTSNE %.4f), trustworthiness %.4f (sklearn %.4f), %.1f s\n", r.kl,
              kl_sk, kl_ot, tw, ref["sklearn_trustworthiness5"].get<double>(), r.seconds);
  EXPECT_GE(tw, 0.98);
  EXPECT_LE(r.kl, 1.05 * std::min(kl_sk, kl_ot));
  EXPECT_GE(r.kl, 0.8 * kl_sk);  // far below the references would mean a wrong KL
}

// ---- the hmr tsne command end to end --------------------------------------------------------

using hmr::test::run_hmr;

std::uintmax_t file_size_or_0(const std::filesystem::path& p) {
  std::error_code ec;
  const auto s = std::filesystem::file_size(p, ec);
  return ec ? 0 : s;
}

TEST(E2eTsne, CommandWritesEmbeddingAndPlotAndRejectsBadInput) {
  if (!std::filesystem::exists(::hmr::test::binary_dir() + "/apps/hmr"))
    GTEST_SKIP() << "the hmr program is not built in " << ::hmr::test::binary_dir();
  const auto dir = std::filesystem::temp_directory_path() / ("hmr_tsne_e2e_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // 240 points in 6-D, 3 separated clusters; labels and their names for the plot.
  const Matrix x = blobs(240, 6, 3, 12.0f, 5);
  std::vector<std::int32_t> labels(240);
  for (int i = 0; i < 240; ++i) labels[static_cast<std::size_t>(i)] = i % 3;  // blobs() puts row i in cluster i % 3
  io::write_npy(dir / "x.npy", x);
  io::write_npy(dir / "labels.npy", labels);
  {
    std::ofstream names(dir / "names.txt");
    names << "alpha\nbeta\ngamma\n";
  }
  const std::string y = (dir / "y.npy").string(), png = (dir / "plot.png").string();
  auto r = run_hmr("--device cpu --seed 3 tsne --input " + (dir / "x.npy").string() + " --out " + y +
                   " --perplexity 10 --iters 300 --plot " + png + " --labels " + (dir / "labels.npy").string() +
                   " --label-names " + (dir / "names.txt").string() +
                   " --title e2e --legend-title cluster --plot-width 600 --plot-height 500 --dpi 192");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("KL divergence"), std::string::npos) << r.output;
  const Matrix emb = io::read_matrix(y);
  ASSERT_EQ(emb.rows(), 240);
  ASSERT_EQ(emb.cols(), 2);
  double spread = 0.0;
  for (float v : emb.vec()) {
    ASSERT_TRUE(std::isfinite(v));
    spread = std::max(spread, static_cast<double>(std::fabs(v)));
  }
  EXPECT_GT(spread, 1.0) << "the embedding did not expand from the 1e-4 initialisation";
  // Separated clusters stay separated: every point's nearest embedded neighbour shares its label.
  int wrong = 0;
  for (int i = 0; i < 240; ++i) {
    int best = -1;
    double bd = 1e300;
    for (int j = 0; j < 240; ++j) {
      if (j == i) continue;
      const double dx = emb(i, 0) - emb(j, 0), dy = emb(i, 1) - emb(j, 1);
      if (dx * dx + dy * dy < bd) {
        bd = dx * dx + dy * dy;
        best = j;
      }
    }
    wrong += labels[static_cast<std::size_t>(best)] != labels[static_cast<std::size_t>(i)];
  }
  EXPECT_EQ(wrong, 0);
  // The plot: a PNG (signature) and an SVG next to it naming the labels.
  ASSERT_GT(file_size_or_0(png), 1000u);
  {
    std::ifstream f(png, std::ios::binary);
    char sig[8] = {};
    f.read(sig, 8);
    EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  }
  const auto svg = dir / "plot.svg";
  ASSERT_GT(file_size_or_0(svg), 1000u);
  {
    std::ifstream f(svg);
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("<svg"), std::string::npos);
    EXPECT_NE(text.find("width=\"600px\" height=\"500px\""), std::string::npos);
    for (const char* t : {">alpha (80)</text>", ">cluster</text>", ">t-SNE 1</text>", ">e2e</text>"})
      EXPECT_NE(text.find(t), std::string::npos) << t;
  }
  {
    // --dpi 192: twice the pixels of the 600 x 500 px figure (PNG IHDR width and height)
    std::ifstream f(png, std::ios::binary);
    unsigned char h[24] = {};
    f.read(reinterpret_cast<char*>(h), 24);
    EXPECT_EQ((h[16] << 24) | (h[17] << 16) | (h[18] << 8) | h[19], 1200);
    EXPECT_EQ((h[20] << 24) | (h[21] << 16) | (h[22] << 8) | h[23], 1000);
  }
  // Same seed -> the same embedding file.
  const std::string y2 = (dir / "y2.npy").string();
  r = run_hmr("--device cpu --seed 3 tsne --input " + (dir / "x.npy").string() + " --out " + y2 +
              " --perplexity 10 --iters 300");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(io::read_matrix(y2).vec(), emb.vec());

  // Bad input: exit code 2 with one error line, no output written.
  const auto expect_bad = [&](const std::string& args, const std::string& what) {
    const auto b = run_hmr("--device cpu tsne " + args);
    EXPECT_EQ(b.code, 2) << what << ": " << b.output;
    EXPECT_FALSE(b.output.empty()) << what;
  };
  Matrix tiny(3, 4, 1.0f);  // N < 4
  io::write_npy(dir / "tiny.npy", tiny);
  Matrix nan = x;
  nan(7, 2) = std::nanf("");
  io::write_npy(dir / "nan.npy", nan);
  const std::string bad_out = (dir / "bad.npy").string();
  expect_bad("--input " + (dir / "tiny.npy").string() + " --out " + bad_out, "N < 4");
  expect_bad("--input " + (dir / "nan.npy").string() + " --out " + bad_out, "NaN");
  expect_bad("--input " + (dir / "x.npy").string() + " --out " + bad_out + " --perplexity 300", "perplexity >= N");
  expect_bad("--input " + (dir / "missing.npy").string() + " --out " + bad_out, "missing file");
  io::write_npy(dir / "short_labels.npy", std::vector<std::int32_t>(100, 0));
  expect_bad("--input " + (dir / "x.npy").string() + " --out " + bad_out + " --plot " + png + " --labels " +
                 (dir / "short_labels.npy").string(),
             "labels of another length");
  expect_bad("--input " + (dir / "x.npy").string() + " --out " + bad_out + " --plot " + png + " --dpi 5", "dpi 5");
  expect_bad("--input " + (dir / "x.npy").string() + " --out " + bad_out + " --plot " + png + " --plot-width 20000" +
                 " --dpi 1200",
             "a PNG 250000 pixels wide");
  EXPECT_FALSE(std::filesystem::exists(bad_out));
  std::filesystem::remove_all(dir);
}

}  // namespace
