// PCA: exact components, explained variance (ratio) and transform against scikit-learn on a tall
// (covariance side) and a wide (Gram side) matrix on every backend; randomized SVD against the
// exact solution; inverse_transform; bad input; the helper kernels against cpu references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cluster/cluster_fixtures.h"
#include "core/error.h"
#include "cuda/blas.h"
#include "cuda/buffer.h"
#include "cuda/select.h"
#include "decomp/eigh_cuda.h"
#include "decomp/pca.cuh"
#include "decomp/pca.h"
#include "decomp/pca_detail.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/emu.h"

namespace {

using hmr::test::cluster_ref;

// Low-rank + noise with a decaying spectrum: [n x d].
hmr::Matrix decaying(std::int64_t n, std::int64_t d, int rank, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  hmr::Matrix a(n, rank), b(rank, d), x(n, d);
  for (auto& v : a.vec()) v = g(rng);
  for (auto& v : b.vec()) v = g(rng);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      double s = 0;
      for (int r = 0; r < rank; ++r) s += a(i, r) * b(r, j) * std::pow(0.7, r);
      x(i, j) = static_cast<float>(s + 0.01 * g(rng) + 3.0);
    }
  return x;
}

void expect_matches_sklearn(hmr::Backend& b, const char* key, const char* file) {
  const auto& ref = cluster_ref()[key];
  const hmr::Matrix x = hmr::test::cluster_matrix(file);
  const int k = ref["k"].get<int>();
  hmr::decomp::PcaOptions opt;
  opt.solver = hmr::decomp::PcaSolver::exact;
  const auto p = hmr::decomp::fit_pca(b, x, k, opt);
  ASSERT_EQ(p.components.rows(), k);
  // svd_flip makes the signs sklearn's; compare directly.
  const auto comp = hmr::test::json_flat(ref["components"]);
  EXPECT_ALLCLOSE(std::span<const float>(p.components.vec()),
                  std::span<const float>(std::vector<float>(comp.begin(), comp.end())), 1e-4, 1e-4);
  EXPECT_ALLCLOSE(std::span<const double>(p.explained_variance),
                  std::span<const double>(hmr::test::json_vec(ref["explained_variance"])), 0.0, 1e-4);
  EXPECT_ALLCLOSE(std::span<const double>(p.explained_variance_ratio),
                  std::span<const double>(hmr::test::json_vec(ref["explained_variance_ratio"])), 0.0, 1e-4);
  EXPECT_ALLCLOSE(std::span<const double>(p.singular_values),
                  std::span<const double>(hmr::test::json_vec(ref["singular_values"])), 0.0, 1e-4);
}

class ConfPca : public hmr::test::BackendTest {};

TEST_P(ConfPca, TallMatrixMatchesScikitLearn) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu",
                                     {"center_columns_kernel", "float_to_double_kernel", "take_top_eigen_kernel"});
  expect_matches_sklearn(backend(), "pca_tall", "pca_tall_x.npy");
  const auto& ref = cluster_ref()["pca_tall"];
  const hmr::Matrix x = hmr::test::cluster_matrix("pca_tall_x.npy");
  hmr::decomp::PcaOptions opt;
  opt.solver = hmr::decomp::PcaSolver::exact;
  const auto p = hmr::decomp::fit_pca(backend(), x, 10, opt);
  const auto mean = hmr::test::json_vec(ref["mean"]);
  EXPECT_ALLCLOSE(p.mean, mean, 1e-5, 1e-6);
  hmr::Matrix first(5, x.cols());
  std::copy_n(x.data(), first.size(), first.data());
  const hmr::Matrix z = hmr::decomp::transform(backend(), p, first);
  const auto zt = hmr::test::json_flat(ref["transform_first5"]);
  EXPECT_ALLCLOSE(z.vec(), zt, 1e-4, 1e-4);
}

TEST_P(ConfPca, WideMatrixUsesTheGramSideAndMatchesScikitLearn) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu", {"center_columns_kernel", "float_to_double_kernel",
                                                                "scale_rows_inv_sqrt_kernel", "take_top_eigen_kernel"});
  expect_matches_sklearn(backend(), "pca_wide", "pca_wide_x.npy");
}

TEST_P(ConfPca, RandomizedMatchesExactOnADecayingSpectrum) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu",
                                     {"center_columns_kernel", "gram_double_kernel", "cholqr_weights_kernel",
                                      "scale_rows_inv_sqrt_kernel", "take_top_eigen_kernel"});
  const auto seed = hmr::test::test_seed(31);
  const hmr::Matrix x = decaying(120, 700, 12, seed);  // wide: max(n, d) > 500 -> auto picks randomized
  hmr::decomp::PcaOptions ro;
  ro.seed = seed;
  const auto r = hmr::decomp::fit_pca(backend(), x, 5, ro);
  EXPECT_EQ(r.solver_used, hmr::decomp::PcaSolver::randomized);
  hmr::decomp::PcaOptions eo;
  eo.solver = hmr::decomp::PcaSolver::exact;
  const auto e = hmr::decomp::fit_pca(cpu(), x, 5, eo);
  EXPECT_ALLCLOSE(std::span<const double>(r.explained_variance), std::span<const double>(e.explained_variance), 0.0,
                  1e-4);
  EXPECT_ALLCLOSE(std::span<const float>(r.components.vec()), std::span<const float>(e.components.vec()), 1e-3, 0.0);
  // Orthonormal rows.
  for (int a = 0; a < 5; ++a)
    for (int b = 0; b < 5; ++b) {
      double s = 0;
      for (std::int64_t c = 0; c < x.cols(); ++c) s += r.components(a, c) * r.components(b, c);
      EXPECT_NEAR(s, a == b ? 1.0 : 0.0, 1e-4) << a << "," << b;
    }
}

TEST_P(ConfPca, FullRankInverseTransformReconstructs) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu", {"fill_rows_kernel"});
  const hmr::Matrix x = decaying(40, 9, 9, 2);
  hmr::decomp::Pca p;
  const hmr::Matrix z = hmr::decomp::fit_transform(backend(), x, 9, &p);
  const hmr::Matrix back = hmr::decomp::inverse_transform(backend(), p, z);
  EXPECT_ALLCLOSE(std::span<const float>(back.vec()), std::span<const float>(x.vec()), 1e-4, 1e-4);
  double ratio = 0;
  for (double v : p.explained_variance_ratio) ratio += v;
  EXPECT_NEAR(ratio, 1.0, 1e-5);
}

TEST_P(ConfPca, RejectsBadInput) {
  hmr::Matrix x = decaying(10, 4, 2, 3);
  EXPECT_THROW(hmr::decomp::fit_pca(backend(), x, 0), hmr::Error);
  EXPECT_THROW(hmr::decomp::fit_pca(backend(), x, 5), hmr::Error);
  EXPECT_THROW(hmr::decomp::fit_pca(backend(), hmr::Matrix(), 1), hmr::Error);
  EXPECT_THROW(hmr::decomp::fit_pca(backend(), hmr::Matrix(1, 4), 1), hmr::Error);
  const auto p = hmr::decomp::fit_pca(backend(), x, 2);
  EXPECT_THROW(hmr::decomp::transform(backend(), p, hmr::Matrix(3, 5)), hmr::Error);
  x(2, 2) = NAN;
  EXPECT_THROW(hmr::decomp::fit_pca(backend(), x, 2), hmr::Error);
  EXPECT_THROW(hmr::decomp::parse_pca_solver("arpack"), hmr::Error);
}

HMR_INSTANTIATE_BACKENDS(ConfPca);

TEST(Pca, SolverChoiceFollowsScikitLearnAuto) {
  using hmr::decomp::PcaSolver;
  using hmr::decomp::detail::resolve_solver;
  EXPECT_EQ(resolve_solver(PcaSolver::automatic, 2000, 5000, 32), PcaSolver::randomized);
  EXPECT_EQ(resolve_solver(PcaSolver::automatic, 300, 40, 10), PcaSolver::exact);
  EXPECT_EQ(resolve_solver(PcaSolver::automatic, 2000, 600, 500), PcaSolver::exact);
  EXPECT_EQ(hmr::decomp::detail::auto_power_iterations(2000, 5000, 32), 7);
  EXPECT_EQ(hmr::decomp::detail::auto_power_iterations(100, 5000, 32), 4);
}

TEST(Pca, SvdFlipMakesTheLargestEntryPositive) {
  hmr::Matrix v(2, 3, std::vector<float>{0.1f, -0.9f, 0.3f, 0.5f, 0.2f, -0.5f});
  hmr::decomp::detail::svd_flip_rows(v);
  EXPECT_EQ(v(0, 1), 0.9f);
  EXPECT_EQ(v(0, 0), -0.1f);
  EXPECT_EQ(v(1, 0), 0.5f);  // ties: the first largest decides
}

// ---- kernels ---------------------------------------------------------------------------------

TEST(EmuPca, GramDoubleMatchesCpuAcrossOrders) {
  hmr::test::ExpectLaunches launched{"gram_double_kernel"};
  using namespace hmr::cuda_emu;
  const hmr::Matrix y = decaying(300, 7, 7, 4);
  std::vector<double> want(49, 0.0);
  for (int a = 0; a < 7; ++a)
    for (int b = 0; b < 7; ++b)
      for (int t = 0; t < 300; ++t) want[static_cast<std::size_t>(a * 7 + b)] += static_cast<double>(y(t, a)) * y(t, b);
  const auto got = hmr::test::in_all_orders([&] {
    DeviceBuffer<float> dy = to_device(y.vec(), nullptr);
    DeviceBuffer<double> g(49);
    kern::launch_gram_double(dy.data(), 300, 7, 7, 1, g.data(), nullptr);
    return g.to_host(nullptr);
  });
  EXPECT_ALLCLOSE(std::span<const double>(got), std::span<const double>(want), 1e-9, 1e-12);
}

TEST(EmuPca, CholeskyQrWeightsOrthonormalise) {
  hmr::test::ExpectLaunches launched{"gram_double_kernel", "cholqr_weights_kernel"};
  using namespace hmr::cuda_emu;
  auto emu = hmr::make_backend("cuda-emu");
  Context& ctx = context(*emu);
  const hmr::Matrix y = decaying(200, 6, 6, 6);
  DeviceBuffer<float> dy = to_device(y.vec(), nullptr), W(36), q(200 * 6);
  DeviceBuffer<double> g(36), w(6);
  kern::launch_gram_double(dy.data(), 200, 6, 6, 1, g.data(), nullptr);
  solver::syevd(ctx, 6, g.data(), w.data());
  const auto evals = w.to_host(nullptr);
  for (int i = 1; i < 6; ++i) EXPECT_LE(evals[static_cast<std::size_t>(i - 1)], evals[static_cast<std::size_t>(i)]);
  kern::launch_cholqr_weights(g.data(), w.data(), 6, W.data(), nullptr);
  blas::gemm_rm(ctx, false, false, 200, 6, 6, 1.0f, dy.data(), 6, W.data(), 6, 0.0f, q.data(), 6);
  const auto hq = q.to_host(nullptr);
  for (int a = 0; a < 6; ++a)
    for (int b = 0; b < 6; ++b) {
      double s = 0;
      for (int t = 0; t < 200; ++t)
        s += static_cast<double>(hq[static_cast<std::size_t>(t * 6 + a)]) * hq[static_cast<std::size_t>(t * 6 + b)];
      EXPECT_NEAR(s, a == b ? 1.0 : 0.0, 1e-3) << a << "," << b;
    }
}

TEST(EmuPca, CenterAndTopEigenKernels) {
  hmr::test::ExpectLaunches launched{"center_columns_kernel", "take_top_eigen_kernel"};
  using namespace hmr::cuda_emu;
  const hmr::Matrix x = decaying(50, 4, 2, 8);
  std::vector<double> mean(4, 0.0);
  for (int i = 0; i < 50; ++i)
    for (int c = 0; c < 4; ++c) mean[static_cast<std::size_t>(c)] += x(i, c) / 50.0;
  const auto got = hmr::test::in_all_orders([&] {
    DeviceBuffer<float> dx = to_device(x.vec(), nullptr), out(200);
    DeviceBuffer<double> dm = to_device(mean, nullptr);
    kern::launch_center_columns(dx.data(), 50, 4, dm.data(), out.data(), nullptr);
    return out.to_host(nullptr);
  });
  for (int i = 0; i < 50; ++i)
    for (int c = 0; c < 4; ++c)
      EXPECT_EQ(got[static_cast<std::size_t>(i * 4 + c)],
                x(i, c) - static_cast<float>(mean[static_cast<std::size_t>(c)]));
  // 3 x 3 eigenvectors (column-major) and ascending values -> top 2 rows, descending.
  const std::vector<double> vecs{1, 0, 0, 0, 1, 0, 0, 0, 1}, w{-1e-9, 2, 5};
  DeviceBuffer<double> dv = to_device(vecs, nullptr), dw = to_device(w, nullptr), vals(2);
  DeviceBuffer<float> out(6);
  kern::launch_take_top_eigen(dv.data(), dw.data(), 3, 2, out.data(), vals.data(), nullptr);
  EXPECT_EQ(out.to_host(nullptr), (std::vector<float>{0, 0, 1, 0, 1, 0}));
  EXPECT_EQ(vals.to_host(nullptr), (std::vector<double>{5, 2}));
}

}  // namespace
